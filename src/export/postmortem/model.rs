//! The facts of a post-mortem as data: every type `rb postmortem --format json` prints, and the
//! Markdown is drawn from. The builder (`facts.rs`), the step and watch folding (`steps.rs`) and
//! the timeline (`timeline.rs`) fill them; nothing here computes.

use std::collections::BTreeSet;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Serialize, Serializer};

use super::text::{Words, mode_name};
use crate::domain::{Actor, Choice, DeliveryStatus, MessagePurpose, Milestone, StepKind};
use crate::transcript::{Mode, NoteKind, RunOutcome, StepStatus};

/// The version of the JSON document ([`Facts`]); bumped when a field changes meaning or goes.
/// Version 2: steps folded, watches, notes with kinds, messages, decisions, warnings, milestones
/// with who and when marked, one definition of `duration_ms`. Version 3: messages are updates and
/// resolutions too, each with its delivery (`purpose`, `status`, `delivery` in words,
/// `delivered_at`, `http_status`, `attempts`, `error`, `first_seq`); `step` may be `null`.
pub const FACTS_VERSION: u32 = 3;

/// Everything the post-mortem draft states, from one or more transcripts. Transcripts are
/// numbered from 1 in the order given (`T1`, `T2`, …); every fact cites its transcript and line
/// (`seq`). Times are RFC 3339 UTC with milliseconds. Text is plain (no Markdown).
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// [`FACTS_VERSION`].
    pub version: u32,
    /// What a reader must know before trusting the draft: transcripts that fail verification,
    /// torn lines, milestones out of order.
    pub warnings: Vec<String>,
    /// `resolved`, `mitigated` or `unresolved`, from the milestones.
    pub status: &'static str,
    /// The first event of the incident: the earliest line of any transcript, or a milestone
    /// backdated before it.
    #[serde(serialize_with = "ser_ts_opt")]
    pub started: Option<Timestamp>,
    /// The last event of the incident (the latest line of any transcript).
    #[serde(serialize_with = "ser_ts_opt")]
    pub ended: Option<Timestamp>,
    /// From `started` to `ended`: the one definition of a duration here (a run's is from its
    /// first line to its last).
    pub duration_ms: Option<u64>,
    /// Everyone who ran, answered, noted or marked something (not rb itself).
    pub operators: Vec<String>,
    /// The hosts the runs were on.
    pub hosts: Vec<String>,
    /// One per transcript.
    pub runs: Vec<RunFact>,
    /// The first time each milestone was reached, in time order.
    pub milestones: Vec<MilestoneFact>,
    /// Until the first `mitigated` milestone.
    pub time_to_mitigate: Option<Interval>,
    /// Until the first `resolved` milestone.
    pub time_to_resolve: Option<Interval>,
    /// What a commander would keep, in time order: milestones, decisions that matter, one row
    /// per step result and per watch, notes, messages (the Markdown shows at most a budget).
    pub timeline: Vec<TimelineRow>,
    /// Each step of each run once, its attempts folded.
    pub steps: Vec<StepFact>,
    /// Each watch of each run, every check's value.
    pub watches: Vec<WatchFact>,
    /// Every note, with its kind.
    pub notes: Vec<NoteFact>,
    /// The messages for the incident channel (message steps, updates, the resolution) and
    /// what became of each.
    pub messages: Vec<MessageFact>,
    /// Every answer at a prompt (key presses such as `details` included).
    pub decisions: Vec<DecisionFact>,
    /// Every finished step attempt, transcript by transcript.
    pub attempts: Vec<AttemptFact>,
    /// Every automatic retry.
    pub retries: Vec<RetryFact>,
    /// Output lost while a transcript was unwritable.
    pub output_dropped: Vec<DroppedFact>,
    /// Each step's result on each remote host (runs with `--host`/`--hosts`), the last
    /// attempt's, in the order the steps and hosts first appear.
    pub host_results: Vec<HostResultFact>,
    /// The evidence: each transcript's path, hash and size.
    pub transcripts: Vec<TranscriptFact>,
}

/// One run (one transcript).
#[derive(Debug, Clone, Serialize)]
pub struct RunFact {
    /// 1-based transcript number (`T<n>`).
    pub transcript: usize,
    /// The runbook's name (`?` when the first line is not `run_started`).
    pub runbook: String,
    /// `live`, `check` or `dry_run`.
    pub mode: Option<Mode>,
    pub run_id: Option<String>,
    /// Who started the run.
    pub operator: String,
    pub host: String,
    /// The first and last line.
    #[serde(serialize_with = "ser_ts_opt")]
    pub started: Option<Timestamp>,
    #[serde(serialize_with = "ser_ts_opt")]
    pub ended: Option<Timestamp>,
    /// From the first line to the last.
    pub duration_ms: Option<u64>,
    /// `None` when there is no `run_finished` (rb was killed, or the run is still going).
    pub outcome: Option<RunOutcome>,
    /// What the outcome alone does not say: steps that failed, watches that failed or were
    /// skipped (the fix was not verified).
    pub caveats: Vec<String>,
    /// The operator and everyone else who answered, noted or marked something in this run.
    #[serde(skip)]
    pub(super) people: BTreeSet<String>,
}

impl RunFact {
    /// The runbook's name, with the mode when not live: `disk-full (check mode)`.
    pub(super) fn label(&self) -> String {
        match self.mode {
            Some(m) if m != Mode::Live => format!("{} ({} mode)", self.runbook, mode_name(m)),
            _ => self.runbook.clone(),
        }
    }

    /// The outcome with its caveats: `finished, but watch verify failed and was skipped`.
    pub fn honest_outcome(&self) -> String {
        let outcome = self.outcome.map_or_else(
            || "did not finish (no run_finished)".to_string(),
            |o| o.to_string(),
        );
        match self.outcome {
            _ if self.caveats.is_empty() => outcome,
            Some(RunOutcome::Finished) => format!("{outcome}, but {}", self.caveats.join("; ")),
            _ => format!("{outcome}: {}", self.caveats.join("; ")),
        }
    }
}

/// A milestone's first mark.
#[derive(Debug, Clone, Serialize)]
pub struct MilestoneFact {
    pub name: Milestone,
    /// When it happened (the mark's `at` when backdated, else when it was marked).
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    /// When it was marked.
    #[serde(serialize_with = "ser_ts")]
    pub marked_at: Timestamp,
    pub by: Actor,
    pub transcript: usize,
    pub seq: u64,
}

impl MilestoneFact {
    /// True when marked later than it happened (`rb mark --at`).
    pub fn backdated(&self) -> bool {
        self.at < self.marked_at
    }
}

/// A time to mitigate or resolve.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    pub ms: u64,
    /// `detection` (from the `detected` milestone) or `start` (of the first run).
    pub from: &'static str,
}

/// A note.
#[derive(Debug, Clone, Serialize)]
pub struct NoteFact {
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    pub by: Actor,
    /// `plain`, `hypothesis`, `action` or `comms`; rb's own notes are always `plain`.
    pub kind: NoteKind,
    pub text: String,
    pub step: Option<String>,
    pub transcript: usize,
    pub seq: u64,
}

/// A message for the incident channel: a message step's text, a periodic update or the
/// resolution, and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageFact {
    /// When rb showed it (a message step) or recorded its delivery (an update, the resolution).
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    /// `step`, `update` or `resolution`.
    pub purpose: MessagePurpose,
    /// The message step, or the step running when an update was due.
    pub step: Option<String>,
    pub text: String,
    /// `posted`, `failed` (shown for copy-paste), `copied` (pasted by hand) or `skipped`; `None`
    /// when no delivery was recorded (no webhook, or not a live run: shown for copy-paste).
    pub status: Option<DeliveryStatus>,
    /// What became of it, in words.
    pub delivery: String,
    /// When the delivery was recorded.
    #[serde(serialize_with = "ser_ts_opt")]
    pub delivered_at: Option<Timestamp>,
    /// The webhook's last HTTP status, requests sent, and why the post failed.
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub error: Option<String>,
    pub transcript: usize,
    /// The first line (the message step's text) and the last (its delivery).
    pub first_seq: u64,
    pub seq: u64,
}

impl MessageFact {
    /// A message as it was first seen at line `seq` of transcript `transcript`: nothing known yet
    /// of its delivery.
    pub fn new(
        at: Timestamp,
        purpose: MessagePurpose,
        step: Option<String>,
        text: String,
        transcript: usize,
        seq: u64,
    ) -> MessageFact {
        MessageFact {
            at,
            purpose,
            step,
            text,
            status: None,
            delivery: String::new(),
            delivered_at: None,
            http_status: None,
            attempts: 0,
            error: None,
            transcript,
            first_seq: seq,
            seq,
        }
    }

    /// True when rb sent it to a webhook (posted, or tried to).
    pub fn sent(&self) -> bool {
        self.attempts > 0
    }

    /// Records its delivery (line `seq` at `at`) and says it in words.
    pub(super) fn delivered(&mut self, at: Timestamp, seq: u64, d: Delivery<'_>) {
        self.status = Some(d.status);
        self.delivered_at = Some(at);
        self.http_status = d.http_status;
        self.attempts = d.attempts;
        self.error = d.error.cloned();
        self.seq = seq;
        self.delivery = self.words();
    }

    pub(super) fn words(&self) -> String {
        let http = self
            .http_status
            .map_or(String::new(), |c| format!(", HTTP {c}"));
        let tries = match self.attempts {
            1 => "1 attempt".to_string(),
            n => format!("{n} attempts"),
        };
        let at = self.delivered_at.map_or(String::new(), super::text::fmt_ts);
        match self.status {
            None => "shown for copy-paste".into(),
            Some(DeliveryStatus::Posted) => format!("posted at {at} ({tries}{http})"),
            Some(DeliveryStatus::Failed) => format!(
                "not posted: {} ({tries}{http}); shown for copy-paste",
                self.error.as_deref().unwrap_or("no answer")
            ),
            Some(DeliveryStatus::Copied) => {
                "shown for copy-paste: the operator posts it by hand".into()
            }
            Some(DeliveryStatus::Skipped) => "skipped by the operator: not sent".into(),
        }
    }
}

/// The fields of a `message_posted` event.
pub(super) struct Delivery<'a> {
    pub(super) status: DeliveryStatus,
    pub(super) http_status: Option<u16>,
    pub(super) attempts: u32,
    pub(super) error: Option<&'a String>,
}

/// An answer at a prompt.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionFact {
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    pub by: Actor,
    pub choice: Choice,
    pub step: Option<String>,
    pub text: Option<String>,
    pub transcript: usize,
    pub seq: u64,
}

/// An automatic retry.
#[derive(Debug, Clone, Serialize)]
pub struct RetryFact {
    pub transcript: usize,
    pub seq: u64,
    pub step: String,
    /// The attempt about to start.
    pub attempt: u32,
    pub delay_ms: u64,
    pub reason: String,
}

/// Output lost while a transcript was unwritable.
#[derive(Debug, Clone, Serialize)]
pub struct DroppedFact {
    pub transcript: usize,
    pub seq: u64,
    pub step: Option<String>,
    pub bytes: u64,
}

/// A transcript cited as evidence.
#[derive(Debug, Clone, Serialize)]
pub struct TranscriptFact {
    pub transcript: usize,
    pub path: PathBuf,
    pub sha256: String,
    pub run_id: Option<String>,
    /// Complete lines read.
    pub lines: usize,
    /// True when the file ended with a torn line (left out).
    pub torn_tail: bool,
    /// True once checked as `rb transcripts verify` does (see [`Facts::verification`]).
    pub verified: bool,
    /// Why the check failed, when it did.
    pub problem: Option<String>,
}

pub(super) fn ser_ts<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::transcript::line::format_ts(*ts))
}

pub(super) fn ser_ts_opt<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => ser_ts(ts, s),
        None => s.serialize_none(),
    }
}

impl Facts {
    /// Records the result of checking transcript `n` (1-based) as `rb transcripts verify` does,
    /// and warns at the top of the draft when it failed.
    pub fn verification(&mut self, n: usize, result: Result<(), String>) {
        let Some(t) = self.transcripts.iter_mut().find(|t| t.transcript == n) else {
            return;
        };
        t.verified = result.is_ok();
        if let Err(why) = result {
            t.problem = Some(why.clone());
            self.warnings.insert(
                0,
                format!(
                    "T{n} ({}) fails verification ({why}): it may have been edited or damaged, so \
                     check its facts against other records.",
                    t.path.display()
                ),
            );
        }
    }
}

/// True for a step status that says the step did what it was for.
pub(super) fn is_success(status: Option<StepStatus>) -> bool {
    status == Some(StepStatus::Succeeded)
}

/// How a step last ended on one remote host (its last `host_finished` line).
#[derive(Debug, Clone, Serialize)]
pub struct HostResultFact {
    pub transcript: usize,
    pub step: String,
    pub host: String,
    pub status: crate::domain::HostStatus,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub seq: u64,
}

/// One finished step attempt, assembled from its events; `seq` is its `step_finished` line.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AttemptFact {
    pub transcript: usize,
    pub seq: u64,
    /// The `step_started` line (the first check's, for a watch).
    pub started_seq: Option<u64>,
    #[serde(serialize_with = "ser_ts_opt")]
    pub started: Option<Timestamp>,
    #[serde(serialize_with = "ser_ts_opt")]
    pub ended: Option<Timestamp>,
    pub step: String,
    pub title: Option<String>,
    pub kind: StepKind,
    /// The rendered command (secrets masked), when the step ran one.
    pub command: Option<String>,
    /// The runbook says the step changes nothing.
    pub read_only: bool,
    pub status: Option<StepStatus>,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub reason: Option<String>,
    /// Non-blank output lines.
    pub output_lines: usize,
    /// The last few of them.
    pub last_lines: Vec<String>,
}

/// A step of one run, its attempts folded: the result is the last attempt's.
#[derive(Debug, Clone, Serialize)]
pub struct StepFact {
    pub transcript: usize,
    pub step: String,
    pub title: Option<String>,
    pub kind: StepKind,
    pub command: Option<String>,
    pub read_only: bool,
    /// How many attempts finished (a step skipped after it failed counts both).
    pub attempts: usize,
    /// Each attempt's status, in order.
    pub statuses: Vec<StepStatus>,
    /// The last attempt's.
    pub status: Option<StepStatus>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    /// All attempts together.
    pub duration_ms: u64,
    #[serde(serialize_with = "ser_ts_opt")]
    pub started: Option<Timestamp>,
    #[serde(serialize_with = "ser_ts_opt")]
    pub ended: Option<Timestamp>,
    /// The first line of the first attempt and the last line of the last.
    pub first_seq: u64,
    pub seq: u64,
    /// Why earlier attempts failed (each reason once).
    pub failures: Vec<String>,
    /// The output of the last failed attempt (or of the last one), for quoting.
    pub output_lines: usize,
    pub last_lines: Vec<String>,
}

impl StepFact {
    /// The result in words: `succeeded on attempt 2 of 2`, `failed, then skipped`.
    pub fn result(&self) -> String {
        let last = self.status.map_or("did not finish", StepStatus::phrase);
        let failed_before = self.statuses[..self.statuses.len().saturating_sub(1)]
            .iter()
            .any(|s| !s.is_done());
        match self.status {
            Some(StepStatus::Succeeded) if self.attempts > 1 => {
                format!(
                    "succeeded on attempt {} of {}",
                    self.attempts, self.attempts
                )
            }
            Some(StepStatus::Skipped) if failed_before => "failed, then was skipped".into(),
            _ if self.attempts > 1 => format!("{last} after {} attempts", self.attempts),
            _ => last.to_string(),
        }
    }

    /// True when the step changed the system (a command not marked read-only that succeeded).
    pub fn changed_the_system(&self) -> bool {
        self.kind == StepKind::Command
            && self.command.is_some()
            && !self.read_only
            && self.status == Some(StepStatus::Succeeded)
    }

    /// True when the step did not do what it was for: it failed, timed out, was declined or
    /// interrupted, failed before it was skipped, or is a watch that did not hold.
    pub fn went_wrong(&self) -> bool {
        match self.status {
            Some(StepStatus::Succeeded | StepStatus::RolledBack) | None => false,
            Some(StepStatus::Skipped) => {
                self.kind == StepKind::Watch || self.statuses.iter().any(|s| !s.is_done())
            }
            Some(_) => true,
        }
    }

    /// What a run's outcome alone does not say about this step, if anything.
    pub fn caveat(&self) -> Option<String> {
        if !self.went_wrong() {
            return None;
        }
        let what = if self.kind == StepKind::Watch {
            "watch"
        } else {
            "step"
        };
        let mut s = format!("{what} {} {}", self.step, self.result());
        if self.kind == StepKind::Watch {
            s.push_str(" (the fix was not verified)");
        }
        Some(s)
    }
}

/// One check of a watch.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    pub seq: u64,
    /// What the check printed on stdout, trimmed.
    pub value: String,
    /// The value as a number, when it is one (`87`, `87.5`, `87%`).
    pub number: Option<f64>,
}

/// A watch step of one run: every check, and the breaches rb noted.
#[derive(Debug, Clone, Serialize)]
pub struct WatchFact {
    pub transcript: usize,
    pub step: String,
    pub title: Option<String>,
    pub command: Option<String>,
    pub samples: Vec<Sample>,
    /// rb's breach notes (`until` did not hold, or the check failed).
    pub breaches: Vec<String>,
    pub status: Option<StepStatus>,
    pub reason: Option<String>,
    #[serde(serialize_with = "ser_ts_opt")]
    pub ended: Option<Timestamp>,
    pub seq: u64,
}

impl WatchFact {
    /// True when every value is a number (and there is one): the value can be drawn.
    pub fn numeric(&self) -> bool {
        !self.samples.is_empty() && self.samples.iter().all(|s| s.number.is_some())
    }
}

/// What a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    RunStarted,
    Milestone,
    Decision,
    Step,
    Watch,
    Note,
    Message,
    Interrupted,
    OutputDropped,
    RunFinished,
}

/// One row of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    /// An operator, or `rb`.
    pub who: String,
    /// What happened, in plain words.
    pub what: Words,
    pub kind: RowKind,
    pub step: Option<String>,
    pub transcript: usize,
    /// The evidence: lines `first_seq` to `seq` of the transcript (one line when equal).
    pub first_seq: u64,
    pub seq: u64,
    /// 0 (always shown) to 2 (first left out when the timeline is over its budget).
    pub rank: u8,
}
