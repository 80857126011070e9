//! The transcript: a durable, hash-chained JSON Lines record of one run.
//!
//! This module owns the persisted format and everything that touches the file: the typed events
//! ([`event`]), the line envelope ([`line`]), durable appending ([`writer`]), surviving write
//! failures ([`recorder`]), reading and verifying ([`reader`]), a
//! transcript's headline facts ([`summary`]), the published JSON Schema
//! ([`schema`]) and where transcripts live ([`default_dir`], [`file_name`]). It does not decide
//! *what* to record: the executor does, through [`Recorder::record`].
//!
//! On disk, one JSON object per line, envelope first:
//! ```text
//! {"seq":1,"ts":"2026-11-24T23:05:01.042Z","prev":"000…000","event":"run_started","schema_version":1,…}
//! {"seq":2,"ts":"2026-11-24T23:05:01.050Z","prev":"<sha256 of line 1>","event":"step_started",…}
//! ```

pub mod event;
pub mod line;
pub mod lock;
pub mod reader;
pub mod recorder;
pub mod recover;
pub mod schema;
pub mod summary;
pub mod writer;

use std::io::{self, Read};
use std::path::PathBuf;

pub use crate::domain::{Actor, Choice, Milestone, Mode, RunOutcome, StepKind, StepStatus};
pub use event::{Event, NoteKind, SCHEMA_VERSION, Stream, utf8_complete_len};
pub use line::Line;
pub use lock::{LockError, RunLock};
pub use reader::{
    ChainProblem, ChainProblemKind, Ending, Scanned, Transcript, VerifyReport, read, scan, verify,
    verify_bytes,
};
pub use recorder::{Closed, ProblemSink, Recorder};
pub use recover::{Damage, Recovery};
pub use summary::Summary;
pub use writer::{Repair, TranscriptWriter};

/// Where transcripts go by default: `$XDG_STATE_HOME/rb/transcripts`, or
/// `~/.local/state/rb/transcripts` when `XDG_STATE_HOME` is unset or not absolute (as the XDG
/// spec says to ignore relative values).
pub fn default_dir() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".local/state")
        });
    state.join("rb").join("transcripts")
}

/// The transcript file name for a run: `<UTC start>-<runbook>-<first 8 of run id>.jsonl`, for
/// example `20261124T230501Z-disk-full-3f9a1c2e.jsonl`. Names sort by start time. Characters
/// other than ASCII letters, digits, `-`, `_` and `.` in the runbook name become `_`.
pub fn file_name(start: jiff::Timestamp, runbook: &str, run_id: &str) -> String {
    let when = start.strftime("%Y%m%dT%H%M%SZ");
    let name: String = runbook
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let short: String = run_id.chars().take(8).collect();
    format!("{when}-{name}-{short}.jsonl")
}

/// A new run id: 128 random bits from `/dev/urandom`, as 32 lower-case hex digits.
pub fn new_run_id() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests;
