//! The typed transcript events: what one line of a transcript says, without its envelope.
//!
//! The event names and field names are the public, persisted format (schema version
//! [`SCHEMA_VERSION`]); changing what is written bumps the version. [`Event`] is internally tagged
//! (`"event": "step_finished"`) with unknown fields rejected; the envelope (`seq`, `ts`, `prev`) is
//! added and removed by [`crate::transcript::line`], never by `serde(flatten)`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::domain::{
    Actor, Choice, DeliveryStatus, HostStatus, MessagePurpose, Milestone, Mode, RunOutcome,
    StepKind, StepStatus,
};
use crate::redact::{Redactor, base64_decode, base64_encode};

/// The version of the transcript format written by this rb. Version 2 added `kind` to `note` and
/// `at` to `milestone`, version 3 `events` and `last_hash` to `run_finished` (an older reader
/// rejects unknown fields); older transcripts are newer ones without them, so this rb reads all.
pub const SCHEMA_VERSION: u32 = 3;

/// What a note is, for the post-mortem: a plain note goes to the timeline only; a hypothesis to
/// the root cause; an action to the action items; comms to the messaging section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoteKind {
    #[default]
    Plain,
    Hypothesis,
    Action,
    Comms,
}

impl NoteKind {
    /// True for a plain note (the field is then left out of the line).
    pub fn is_plain(&self) -> bool {
        *self == NoteKind::Plain
    }

    /// The word written in the transcript.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::Plain => "plain",
            NoteKind::Hypothesis => "hypothesis",
            NoteKind::Action => "action",
            NoteKind::Comms => "comms",
        }
    }
}

impl std::fmt::Display for NoteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The length of the longest prefix of `bytes` that does not end inside a UTF-8 character: a
/// caller building `output` events keeps `bytes[n..]` (at most 3 bytes) for the next chunk, so a
/// character split between two reads still gives `text` rather than `bytes_b64`.
pub fn utf8_complete_len(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        // `error_len() == None` means the input ended in the middle of a character.
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => {
            // Invalid bytes somewhere: only an incomplete character at the very end is held.
            let tail_start = bytes.len().saturating_sub(3);
            (tail_start..bytes.len())
                .find(|&i| {
                    std::str::from_utf8(&bytes[i..])
                        .is_err_and(|e| e.valid_up_to() == 0 && e.error_len().is_none())
                })
                .unwrap_or(bytes.len())
        }
    }
}

/// Which output stream of a step's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One event of a run. See the README for what each means to a reader of the transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The first line of every transcript: what ran, where, by whom, with what.
    RunStarted {
        /// Transcript format version ([`SCHEMA_VERSION`]).
        schema_version: u32,
        /// Random 128-bit id in lower-case hex (32 characters).
        run_id: String,
        /// The runbook's name.
        runbook: String,
        /// Where the runbook was loaded from (an absolute path, or `<built-in>/NAME.yaml`).
        source: String,
        /// Hex SHA-256 of the runbook file's bytes; `rb resume` refuses a changed file.
        sha256: String,
        /// `live`, `check` or `dry_run`.
        mode: Mode,
        /// The bound params, with the values of secret params replaced by `***`.
        params: BTreeMap<String, String>,
        /// Who ran it (`$USER` or `--operator`).
        operator: String,
        /// The host name.
        host: String,
        /// The version of rb that wrote this transcript.
        rb_version: String,
        /// When the run started (RFC 3339, UTC, milliseconds).
        started_at: String,
        /// The remote hosts command steps run on (`--host`, `--hosts`, `--inventory`), by name;
        /// left out for a run where everything runs on `host`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        targets: Vec<String>,
    },
    /// A step is about to start (written before its process is spawned).
    StepStarted {
        /// The step's id.
        step: String,
        /// Its 0-based position in the runbook.
        index: usize,
        /// The kind of step (`command`, `message`, `manual`, `watch`).
        kind: StepKind,
        /// The step's title, when it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// The rendered command, secrets masked, when the step runs one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// 1 for the first attempt, then 2, 3, … on retries.
        attempt: u32,
        /// True when the runbook marks the step as changing nothing (`read_only: true`, or a watch).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        read_only: bool,
    },
    /// A step's process exists (written right after the spawn, so after `step_started`, which
    /// must be on disk before it): its pid and process group, so that `rb resume` after a killed
    /// rb can name and end an attempt still running. An aid, not the guard: the pid may be reused
    /// once the attempt ends, so resume acts only on processes that carry the run's id (see
    /// `exec/process.rs`). Absent when the step runs on a remote host.
    StepSpawned {
        /// The step's id.
        step: String,
        /// The attempt, as in `step_started` (0 for a rollback).
        attempt: u32,
        /// The pid of the step's first process.
        pid: u32,
        /// Its process group (rb starts every step in a group of its own).
        pgid: u32,
    },
    /// rb asked the operator something.
    Prompt {
        /// The step the question is about, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// The question as shown.
        question: String,
        /// The answers offered.
        choices: Vec<Choice>,
    },
    /// The answer to a prompt, or a decision taken for the operator (`--yes`, a timeout).
    Decision {
        /// The step the decision is about, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// Who decided: the operator's name, or `rb` for an automatic decision.
        by: Actor,
        /// The choice taken (one of the prompt's choices).
        choice: Choice,
        /// Free text typed with the answer, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// A chunk of a step's output, already redacted. Exactly one of `text` (when the chunk is
    /// valid UTF-8) and `bytes_b64` (standard base64 of the raw bytes otherwise) is set, so the
    /// output is kept losslessly.
    Output {
        /// The step that printed it.
        step: String,
        /// `stdout` or `stderr`.
        stream: Stream,
        /// The chunk, when it is valid UTF-8.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Base64 of the chunk's bytes, when it is not valid UTF-8.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes_b64: Option<String>,
    },
    /// Output that could not be kept while the transcript was unwritable (see
    /// [`crate::transcript::Recorder`]); written in place of the dropped `output` events.
    OutputDropped {
        /// The step whose output was dropped, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// How many bytes of output were dropped.
        bytes: u64,
        /// How many `output` events they made.
        events: u64,
    },
    /// A value captured from a step's output into a variable (needed by `rb resume`).
    Captured {
        /// The step that captured it.
        step: String,
        /// The variable's name.
        name: String,
        /// The value (secrets masked).
        value: String,
        /// The remote host it was captured on. A capture on several hosts is one line per host,
        /// then one without `host`: the value steps that run here see (the first host's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
    /// A failed step is about to be tried again.
    Retry {
        /// The step.
        step: String,
        /// The attempt about to start (2 for the first retry).
        attempt: u32,
        /// How long rb waits before it.
        delay_ms: u64,
        /// Why the previous attempt failed.
        reason: String,
    },
    /// An attempt at a step ended.
    StepFinished {
        /// The step.
        step: String,
        /// How it ended.
        status: StepStatus,
        /// The process's exit code, when a process ran and exited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// How long the attempt took.
        duration_ms: u64,
        /// Why it ended so, in words (the failed check, the signal, the skip condition, …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// How an attempt at a step ended on one remote host (one line per host, after the
    /// attempt's processes ended and before its `step_finished`, whose status is the worst
    /// host's), or that the step was not run there.
    HostFinished {
        /// The step.
        step: String,
        /// The host's name, as in `run_started`'s `targets`.
        host: String,
        /// `succeeded`, `failed`, `timed_out`, `interrupted`, `skipped`, `rolled_back`, or
        /// `not_run` (a canary rollout stopped before the host's batch, or the run ended first).
        status: HostStatus,
        /// The exit code there, when the step's process ran and exited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// How long the attempt took there.
        duration_ms: u64,
        /// Why it ended so, in words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A message step's rendered text.
    Message {
        /// The step.
        step: String,
        /// The text as shown to the operator.
        text: String,
    },
    /// What became of a message meant for the incident channel: a `message` step's text, a
    /// periodic update or the resolution, posted to the webhook or not.
    MessagePosted {
        /// The step it belongs to (the message step, or the step running when an update was due).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// Why it was sent: `step`, `update` or `resolution`.
        purpose: MessagePurpose,
        /// `posted`, `failed` (the text was shown for copy-paste), `copied` (the operator pastes
        /// it by hand) or `skipped`.
        status: DeliveryStatus,
        /// The last HTTP status the webhook answered, if it answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        http_status: Option<u16>,
        /// Requests sent (0 when nothing was sent).
        attempts: u32,
        /// Why the post failed, in words (never the webhook's address).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// The text, for updates and the resolution (a message step's text is in its `message`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// A manual step was done or skipped by the operator.
    Manual {
        /// The step.
        step: String,
        /// True when the operator said it is done; false when skipped.
        done: bool,
        /// What the operator typed with the answer, if anything.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A note from an operator (`rb note`, or at a step prompt).
    Note {
        /// Who wrote it (an operator, or `rb` for rb's own notes).
        by: Actor,
        /// The note.
        text: String,
        /// The step running when it was written, if known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// What the note is for the post-mortem (`hypothesis`, `action`, `comms`); left out for a
        /// plain note. Since schema version 2.
        #[serde(default, skip_serializing_if = "NoteKind::is_plain")]
        kind: NoteKind,
    },
    /// A key moment of the incident (`detected`, `mitigated`, `resolved`, …).
    Milestone {
        /// The milestone's name.
        name: Milestone,
        /// Who marked it (an operator, or `rb` for a step's `marks:`).
        by: Actor,
        /// The step that marked it, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// When it happened (RFC 3339, UTC), when that was before this line was written
        /// (`rb mark --at`). Since schema version 2.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    /// rb was interrupted (a signal, a lost terminal).
    Interrupted {
        /// The step running at the time, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// What happened (`SIGINT`, `SIGTERM`, `SIGHUP`, …).
        what: String,
    },
    /// The last line of a run that ended normally.
    RunFinished {
        /// How the run ended.
        outcome: RunOutcome,
        /// How long the whole run took.
        duration_ms: u64,
        /// Lines in the transcript before this one (its `seq` minus one). Set by the writer.
        /// Since schema version 3.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        events: Option<u64>,
        /// Hex SHA-256 of the line before this one (its `prev`). Set by the writer. Since
        /// schema version 3.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_hash: Option<String>,
    },
}

impl Event {
    /// The event's name as written in the `event` field (`step_finished`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::StepStarted { .. } => "step_started",
            Event::StepSpawned { .. } => "step_spawned",
            Event::Prompt { .. } => "prompt",
            Event::Decision { .. } => "decision",
            Event::Output { .. } => "output",
            Event::OutputDropped { .. } => "output_dropped",
            Event::Captured { .. } => "captured",
            Event::Retry { .. } => "retry",
            Event::StepFinished { .. } => "step_finished",
            Event::HostFinished { .. } => "host_finished",
            Event::Message { .. } => "message",
            Event::MessagePosted { .. } => "message_posted",
            Event::Manual { .. } => "manual",
            Event::Note { .. } => "note",
            Event::Milestone { .. } => "milestone",
            Event::Interrupted { .. } => "interrupted",
            Event::RunFinished { .. } => "run_finished",
        }
    }

    /// A `run_finished` event; the writer fills in `events` and `last_hash` as it writes it.
    pub fn run_finished(outcome: RunOutcome, duration_ms: u64) -> Event {
        Event::RunFinished {
            outcome,
            duration_ms,
            events: None,
            last_hash: None,
        }
    }

    /// An `output` event for a chunk of bytes: `text` when they are valid UTF-8, `bytes_b64`
    /// otherwise. (A caller that wants text for a chunk ending inside a UTF-8 character should
    /// carry the incomplete character over to the next chunk.)
    pub fn output(step: impl Into<String>, stream: Stream, bytes: &[u8]) -> Event {
        let (text, bytes_b64) = match std::str::from_utf8(bytes) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (None, Some(base64_encode(bytes))),
        };
        Event::Output {
            step: step.into(),
            stream,
            text,
            bytes_b64,
        }
    }

    /// The raw bytes of an `output` event (`None` for other events or undecodable base64).
    pub fn output_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Event::Output {
                text: Some(text), ..
            } => Some(text.as_bytes().to_vec()),
            Event::Output {
                bytes_b64: Some(b64),
                ..
            } => base64_decode(b64),
            _ => None,
        }
    }

    /// True for `output` events, which may be group-committed; every other event is a control
    /// event and is fsynced before the writer returns.
    pub fn is_output(&self) -> bool {
        matches!(self, Event::Output { .. })
    }

    /// The step this event belongs to, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::StepStarted { step, .. }
            | Event::StepSpawned { step, .. }
            | Event::Output { step, .. }
            | Event::Captured { step, .. }
            | Event::Retry { step, .. }
            | Event::StepFinished { step, .. }
            | Event::HostFinished { step, .. }
            | Event::Message { step, .. }
            | Event::Manual { step, .. } => Some(step),
            Event::Prompt { step, .. }
            | Event::Decision { step, .. }
            | Event::OutputDropped { step, .. }
            | Event::Note { step, .. }
            | Event::Milestone { step, .. }
            | Event::Interrupted { step, .. }
            | Event::MessagePosted { step, .. } => step.as_deref(),
            Event::RunStarted { .. } | Event::RunFinished { .. } => None,
        }
    }

    /// Masks secrets in every free-text field (commands, output, messages, notes, answers,
    /// captured values, reasons, param values). Names and ids are left alone.
    pub fn redact(&mut self, r: &Redactor) {
        if r.is_empty() {
            return;
        }
        let s = |v: &mut String| *v = r.redact_str(v);
        let o = |v: &mut Option<String>| {
            if let Some(v) = v {
                *v = r.redact_str(v);
            }
        };
        match self {
            Event::RunStarted { params, .. } => params.values_mut().for_each(s),
            Event::StepStarted { title, command, .. } => {
                o(title);
                o(command);
            }
            Event::Prompt { question, .. } => s(question),
            Event::Decision { text, .. } => o(text),
            Event::Output {
                text, bytes_b64, ..
            } => {
                o(text);
                if let Some(b64) = bytes_b64
                    && let Some(raw) = base64_decode(b64)
                {
                    *b64 = base64_encode(&r.redact_bytes(&raw));
                }
            }
            Event::Captured { value, .. } => s(value),
            Event::Retry { reason, .. } => s(reason),
            Event::StepFinished { reason, .. } | Event::HostFinished { reason, .. } => o(reason),
            Event::Message { text, .. } | Event::Note { text, .. } => s(text),
            Event::Manual { note, .. } => o(note),
            Event::MessagePosted { error, text, .. } => {
                o(error);
                o(text);
            }
            Event::Interrupted { what, .. } => s(what),
            Event::OutputDropped { .. }
            | Event::StepSpawned { .. }
            | Event::Milestone { .. }
            | Event::RunFinished { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_internally_tagged_in_snake_case() {
        let e = Event::StepFinished {
            step: "drain".into(),
            status: StepStatus::TimedOut,
            exit_code: None,
            duration_ms: 1500,
            reason: Some("timeout 1s".into()),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"event":"step_finished","step":"drain","status":"timed_out","duration_ms":1500,"reason":"timeout 1s"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
        assert_eq!(e.name(), "step_finished");
    }

    #[test]
    fn plain_notes_and_milestones_are_written_as_in_version_1() {
        let v1_note = r#"{"event":"note","by":"ana","text":"t"}"#;
        let e: Event = serde_json::from_str(v1_note).unwrap();
        assert!(matches!(&e, Event::Note { kind, .. } if kind.is_plain()));
        assert_eq!(serde_json::to_string(&e).unwrap(), v1_note);
        let v1_mark = r#"{"event":"milestone","name":"detected","by":"ana"}"#;
        let e: Event = serde_json::from_str(v1_mark).unwrap();
        assert_eq!(serde_json::to_string(&e).unwrap(), v1_mark);
        let v2 = r#"{"event":"note","by":"ana","text":"t","kind":"hypothesis"}"#;
        let e: Event = serde_json::from_str(v2).unwrap();
        assert!(matches!(
            &e,
            Event::Note {
                kind: NoteKind::Hypothesis,
                ..
            }
        ));
        assert_eq!(serde_json::to_string(&e).unwrap(), v2);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<Event>(r#"{"event":"note","by":"a","text":"t","x":1}"#)
            .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn utf8_complete_len_holds_back_only_a_split_character() {
        let e_acute = "é".as_bytes(); // 2 bytes
        assert_eq!(utf8_complete_len(b"abc"), 3);
        assert_eq!(utf8_complete_len(&[b'a', e_acute[0]]), 1);
        assert_eq!(utf8_complete_len(&[0xff, b'a', e_acute[0]]), 2);
        assert_eq!(utf8_complete_len(&[b'a', 0xff]), 2);
        let euro = "€".as_bytes(); // 3 bytes
        assert_eq!(utf8_complete_len(&euro[..2]), 0);
    }

    #[test]
    fn output_keeps_non_utf8_bytes_losslessly() {
        let e = Event::output("s", Stream::Stderr, b"ok \xff\xfe");
        assert!(matches!(
            &e,
            Event::Output {
                text: None,
                bytes_b64: Some(_),
                ..
            }
        ));
        assert_eq!(e.output_bytes().unwrap(), b"ok \xff\xfe");
        let t = Event::output("s", Stream::Stdout, "héllo".as_bytes());
        assert!(matches!(&t, Event::Output { text: Some(x), bytes_b64: None, .. } if x == "héllo"));
    }

    #[test]
    fn redact_masks_free_text_fields_including_binary_output() {
        let r = Redactor::new(["topsecret".to_string()]);
        let mut e = Event::output("s", Stream::Stdout, b"\xff topsecret");
        e.redact(&r);
        assert_eq!(e.output_bytes().unwrap(), b"\xff ***");
        let mut e = Event::StepStarted {
            step: "topsecret-step-names-are-kept".into(),
            index: 0,
            kind: StepKind::Command,
            title: None,
            command: Some("curl -H 'X: topsecret'".into()),
            attempt: 1,
            read_only: false,
        };
        e.redact(&r);
        assert!(
            matches!(&e, Event::StepStarted { command: Some(c), .. } if c == "curl -H 'X: ***'")
        );
    }
}
