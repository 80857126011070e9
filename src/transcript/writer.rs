//! Appending lines to a transcript file durably, safely against other appenders.
//!
//! The contract (see issue 4 and `DESIGN.md`):
//! - one `write` call per complete line (`O_APPEND`), so a killed rb leaves at most one torn line
//!   at the end, never a line mixed with another;
//! - every line is written (to the kernel) before [`TranscriptWriter::append`] returns, so a
//!   killed rb loses nothing; what waits is only the fsync, which matters for a power loss;
//! - events after which rb starts a process, waits for a person or stops (`run_started`,
//!   `step_started`, `prompt`, `retry`, `interrupted`, `run_finished`, notes, milestones...) are
//!   fsynced before `append` returns, and that fsync covers every line before them;
//! - the events that rb follows at once with one of those ([`waits_for_next_sync`]: output, a
//!   step's pid (a SIGKILL loses no written line, and a power cut ends the process anyway), a
//!   step's end, a decision, a capture, a message) are group-committed: fsynced with the next
//!   event that is, or when the last fsync is older than [`GROUP_COMMIT_INTERVAL`] or more than
//!   [`GROUP_COMMIT_BYTES`] are unsynced, or by [`TranscriptWriter::sync`] (and on drop). So one
//!   fsync makes a step's end and the next step's start durable, and a step's `step_started` is
//!   still on disk before its process exists;
//! - the file is created `0600` (its directories `0700`) and the directory is fsynced after;
//! - "read the last line, append the next" happens under an exclusive lock (`flock`) on the file,
//!   and the tail is re-read whenever the file's length is not what this writer left, so several
//!   writers (the running rb, `rb note` from another terminal) keep `seq` and `prev` consistent;
//! - a torn last line (a writer killed mid-`write`, a failed write) is cut off under the lock
//!   before appending, and counted ([`TranscriptWriter::repaired_bytes`]).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::event::Event;
use super::line::{self, GENESIS_PREV};

/// Output lines are fsynced at least this often while output flows.
pub const GROUP_COMMIT_INTERVAL: Duration = Duration::from_millis(200);
/// Output lines are fsynced once this many bytes are unsynced.
pub const GROUP_COMMIT_BYTES: u64 = 64 * 1024;

/// Whether opening a transcript may cut off a torn last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// The run's own transcript (`rb resume`, a recorder reopening its file): a torn last line is
    /// what rb itself was writing when it was killed, and is cut off.
    OwnTail,
    /// Someone else's record (`rb note --to`, `rb mark --to`): rb changes nothing it did not
    /// write, and refuses a file whose last line is torn.
    Never,
}

/// An open transcript, positioned after its last complete line.
#[derive(Debug)]
pub struct TranscriptWriter {
    file: File,
    path: PathBuf,
    /// `seq` of the last line in the file (0 when empty).
    seq: u64,
    /// Hash of the last line (what the next line's `prev` is).
    prev: String,
    /// The file's length after this writer's last write or read of the tail.
    len: u64,
    /// Bytes written since the last fsync.
    unsynced: u64,
    last_sync: Instant,
    /// Bytes of torn lines cut off so far.
    repaired: u64,
    /// Whether a torn last line may be cut off.
    repair: Repair,
}

impl TranscriptWriter {
    /// Creates a new, empty transcript (failing if `path` exists), its directories with mode 0700
    /// and the file with mode 0600, and fsyncs the directory so the file survives a crash. The
    /// first event appended must be [`Event::RunStarted`].
    pub fn create(path: &Path) -> io::Result<Self> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        // `create_new` also refuses a symlink planted at `path`, dangling or not.
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        File::open(&dir)?.sync_all()?;
        Ok(Self::new(file, path, Repair::OwnTail))
    }

    /// Opens an existing transcript to append to it (`rb resume`, `rb note`): reads its last
    /// complete line to continue `seq` and `prev`; a torn last line is cut off or refused, as
    /// `repair` says. A symlink or anything but a regular file is refused.
    pub fn open_append(path: &Path, repair: Repair) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(nix::libc::ELOOP) {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} is a symbolic link; rb writes only to the file itself",
                            path.display()
                        ),
                    )
                } else {
                    e
                }
            })?;
        if !file.metadata()?.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ));
        }
        let mut w = Self::new(file, path, repair);
        w.file.lock()?;
        let loaded = w.load_tail();
        w.file.unlock()?;
        loaded?;
        Ok(w)
    }

    fn new(file: File, path: &Path, repair: Repair) -> Self {
        TranscriptWriter {
            file,
            path: path.to_path_buf(),
            seq: 0,
            prev: GENESIS_PREV.to_owned(),
            len: 0,
            unsynced: 0,
            last_sync: Instant::now(),
            repaired: 0,
            repair,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `seq` of the last line written or seen (0 for an empty file).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Bytes of torn last lines this writer cut off before appending.
    pub fn repaired_bytes(&self) -> u64 {
        self.repaired
    }

    /// Bytes written but not fsynced yet (see the module docs for when they are).
    pub fn unsynced_bytes(&self) -> u64 {
        self.unsynced
    }

    /// Appends `event` stamped with the current time.
    pub fn append(&mut self, event: &Event) -> io::Result<()> {
        self.append_at(event, Timestamp::now())
    }

    /// Appends `event` stamped `ts` (the time it happened, which may be earlier than now when it
    /// was kept in memory while the disk was full). On error nothing of the line stays in the file
    /// (a partial write is cut off) and the event can be appended again.
    pub fn append_at(&mut self, event: &Event, ts: Timestamp) -> io::Result<()> {
        self.file.lock()?;
        let result = self.append_locked(event, ts);
        let unlocked = self.file.unlock();
        result.and(unlocked)
    }

    fn append_locked(&mut self, event: &Event, ts: Timestamp) -> io::Result<()> {
        if self.file.metadata()?.len() != self.len {
            // Another process appended, or a write of ours failed half-way.
            self.load_tail()?;
        }
        if self.seq == 0 && !matches!(event, Event::RunStarted { .. }) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the first event of a transcript must be `run_started`, not `{}`",
                    event.name()
                ),
            ));
        }
        let text = line::encode(self.seq + 1, ts, &self.prev, event);
        let mut bytes = text.into_bytes();
        let hash = line::sha256_hex(&bytes);
        bytes.push(b'\n');
        let start = self.len;
        let written = (&self.file).write_all(&bytes).and_then(|()| {
            self.unsynced += bytes.len() as u64;
            let due = self.unsynced >= GROUP_COMMIT_BYTES
                || self.last_sync.elapsed() >= GROUP_COMMIT_INTERVAL;
            if !waits_for_next_sync(event) || due {
                self.sync()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            // Leave no torn line behind; if even this fails, the next append cuts it off.
            let _ = self.file.set_len(start);
            return Err(e);
        }
        self.len = start + bytes.len() as u64;
        self.seq += 1;
        self.prev = hash;
        Ok(())
    }

    /// Fsyncs what was written (call it when output goes quiet and at the end of a run).
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced > 0 {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Reads the last complete line to set `seq`, `prev` and `len`; cuts off a torn tail.
    /// Called with the lock held.
    fn load_tail(&mut self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        let (complete, last) = read_tail(&self.file, len)?;
        if complete < len && self.repair == Repair::Never {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} ends with an incomplete line ({} bytes) that rb did not write here; it changes nothing (check it with `rb transcripts verify`)",
                    self.path.display(),
                    len - complete
                ),
            ));
        }
        if complete < len {
            self.file.set_len(complete)?;
            self.file.sync_data()?;
            self.repaired += len - complete;
        }
        match last {
            None => {
                self.seq = 0;
                self.prev = GENESIS_PREV.to_owned();
            }
            Some(bytes) => {
                let text = std::str::from_utf8(&bytes).map_err(|_| invalid(&self.path))?;
                let line = line::decode(text).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "cannot append to {}: its last line is not a transcript line: {e}",
                            self.path.display()
                        ),
                    )
                })?;
                self.seq = line.seq;
                self.prev = line::sha256_hex(&bytes);
            }
        }
        self.len = complete;
        Ok(())
    }
}

impl Drop for TranscriptWriter {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

/// Events whose fsync may wait for the next event that needs one (see the module docs): rb
/// records each of these and goes straight on to record the next, without starting a process or
/// waiting for anyone in between.
pub fn waits_for_next_sync(event: &Event) -> bool {
    matches!(
        event,
        Event::Output { .. }
            | Event::OutputDropped { .. }
            | Event::StepSpawned { .. }
            | Event::StepFinished { .. }
            | Event::Decision { .. }
            | Event::Captured { .. }
            | Event::Message { .. }
    )
}

fn invalid(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "cannot append to {}: its last line is not UTF-8",
            path.display()
        ),
    )
}

/// The length of the file up to its last newline, and the last complete line (without the
/// newline), read backwards from the end in blocks.
pub(crate) fn read_tail(file: &File, len: u64) -> io::Result<(u64, Option<Vec<u8>>)> {
    const BLOCK: u64 = 64 * 1024;
    let mut buf: Vec<u8> = Vec::new();
    let mut read = 0u64;
    loop {
        let step = BLOCK.min(len - read);
        if step == 0 {
            // Reached the start of the file.
            return Ok(match buf.iter().rposition(|&b| b == b'\n') {
                None => (0, None),
                Some(nl) => (nl as u64 + 1, Some(buf[..nl].to_vec())),
            });
        }
        let mut block = vec![0u8; step as usize];
        file.read_exact_at(&mut block, len - read - step)?;
        block.extend_from_slice(&buf);
        buf = block;
        read += step;
        if let Some(nl) = buf.iter().rposition(|&b| b == b'\n') {
            let complete = len - read + nl as u64 + 1;
            if let Some(before) = buf[..nl].iter().rposition(|&b| b == b'\n') {
                return Ok((complete, Some(buf[before + 1..nl].to_vec())));
            }
            if read == len {
                return Ok((complete, Some(buf[..nl].to_vec())));
            }
        }
    }
}
