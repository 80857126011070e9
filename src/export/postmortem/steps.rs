//! Steps in a post-mortem: every attempt as recorded ([`AttemptFact`]), each step once with its
//! attempts folded ([`StepFact`]), and each watch with the value of every check ([`WatchFact`]).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use super::facts::{ser_ts, ser_ts_opt};
use super::text::truncate;
use super::{CELL_MAX, QUOTED_LINES};
use crate::domain::StepKind;
use crate::transcript::{Event, Line, StepStatus, Stream};

/// How rb's watch writes a breach note (`src/exec/watch.rs`): such notes belong to the watch.
const BREACH_PREFIX: &str = "watch breach: ";
/// Longest watch value kept.
const VALUE_MAX: usize = 60;

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

/// Every finished step attempt, folded line by line, transcript after transcript. A watch's
/// checks are one attempt (each check is a `step_started` with the check's number as `attempt`).
#[derive(Default)]
pub(super) struct AttemptScan {
    pub done: Vec<AttemptFact>,
    /// The attempts of the current transcript that have not finished yet.
    open: BTreeMap<String, AttemptFact>,
}

impl AttemptScan {
    /// A new transcript begins: attempts left open in the last one never finished.
    pub fn next_transcript(&mut self) {
        self.open.clear();
    }

    /// Line `l` of transcript `transcript` (1-based).
    pub fn line(&mut self, transcript: usize, l: &Line) {
        match &l.event {
            Event::StepStarted { step, .. } => {
                let is_check = self
                    .open
                    .get(step)
                    .is_some_and(|a| a.kind == StepKind::Watch);
                if !is_check {
                    self.open.insert(step.clone(), started(transcript, l));
                }
            }
            Event::Output {
                step,
                text,
                bytes_b64,
                ..
            } => {
                let Some(a) = self.open.get_mut(step) else {
                    return;
                };
                match (text, bytes_b64) {
                    (Some(text), _) => count_output(a, text),
                    (None, Some(_)) => {
                        if let Some(bytes) = l.event.output_bytes() {
                            count_output(a, &String::from_utf8_lossy(&bytes));
                        }
                    }
                    (None, None) => {}
                }
            }
            Event::StepFinished { step, .. } => {
                let a = self.open.remove(step).unwrap_or_else(|| AttemptFact {
                    transcript,
                    step: step.clone(),
                    ..AttemptFact::default()
                });
                self.done.push(finished(a, l));
            }
            _ => {}
        }
    }
}

fn started(transcript: usize, l: &Line) -> AttemptFact {
    let Event::StepStarted {
        step,
        kind,
        title,
        command,
        read_only,
        ..
    } = &l.event
    else {
        return AttemptFact::default();
    };
    AttemptFact {
        transcript,
        step: step.clone(),
        title: title.clone(),
        kind: *kind,
        command: command.clone(),
        read_only: *read_only,
        seq: l.seq,
        started_seq: Some(l.seq),
        started: Some(l.ts),
        ..AttemptFact::default()
    }
}

fn finished(mut a: AttemptFact, l: &Line) -> AttemptFact {
    if let Event::StepFinished {
        status,
        exit_code,
        duration_ms,
        reason,
        ..
    } = &l.event
    {
        a.status = Some(*status);
        a.exit_code = *exit_code;
        a.duration_ms = *duration_ms;
        a.reason = reason.clone();
    }
    a.seq = l.seq;
    a.ended = Some(l.ts);
    a
}

/// Counts the non-blank lines of an output chunk and keeps the last few.
fn count_output(a: &mut AttemptFact, text: &str) {
    let lines: Vec<&str> = text.lines().filter(|s| !s.trim().is_empty()).collect();
    a.output_lines += lines.len();
    // Only the last few can be kept: truncate no more than those.
    for line in &lines[lines.len().saturating_sub(QUOTED_LINES)..] {
        a.last_lines.push(truncate(line, CELL_MAX));
        if a.last_lines.len() > QUOTED_LINES {
            a.last_lines.remove(0);
        }
    }
}

/// Each step of each run once, in the order of its first attempt.
pub(super) fn steps(attempts: &[AttemptFact]) -> Vec<StepFact> {
    let mut steps: Vec<StepFact> = Vec::new();
    let mut index: BTreeMap<(usize, &str), usize> = BTreeMap::new();
    for a in attempts {
        let i = *index
            .entry((a.transcript, a.step.as_str()))
            .or_insert_with(|| {
                steps.push(first_attempt(a));
                steps.len() - 1
            });
        fold(&mut steps[i], a);
    }
    steps
}

fn first_attempt(a: &AttemptFact) -> StepFact {
    StepFact {
        transcript: a.transcript,
        step: a.step.clone(),
        title: a.title.clone(),
        kind: a.kind,
        command: a.command.clone(),
        read_only: a.read_only,
        attempts: 0,
        statuses: Vec::new(),
        status: None,
        exit_code: None,
        reason: None,
        duration_ms: 0,
        started: a.started.or(a.ended),
        ended: None,
        first_seq: a.started_seq.unwrap_or(a.seq),
        seq: a.seq,
        failures: Vec::new(),
        output_lines: 0,
        last_lines: Vec::new(),
    }
}

fn fold(s: &mut StepFact, a: &AttemptFact) {
    s.attempts += 1;
    s.statuses.extend(a.status);
    s.status = a.status;
    s.exit_code = a.exit_code;
    s.reason = a.reason.clone();
    s.duration_ms += a.duration_ms;
    s.ended = a.ended;
    s.seq = a.seq;
    if a.command.is_some() {
        s.command = a.command.clone();
        s.kind = a.kind;
        s.read_only = a.read_only;
    }
    if s.title.is_none() {
        s.title = a.title.clone();
    }
    // Keep the output of the last failed attempt: the one worth quoting.
    let failed = matches!(a.status, Some(StepStatus::Failed | StepStatus::TimedOut));
    if let Some(r) = a
        .reason
        .as_ref()
        .filter(|r| failed && !s.failures.contains(r))
    {
        s.failures.push(r.clone());
    }
    if failed || s.last_lines.is_empty() {
        s.output_lines = a.output_lines;
        s.last_lines = a.last_lines.clone();
    }
}

/// Every watch, folded line by line, transcript after transcript, with each check's stdout as
/// its value.
#[derive(Default)]
pub(super) struct WatchScan {
    watches: Vec<WatchFact>,
    /// The current transcript's watches, by step id.
    open: BTreeMap<String, usize>,
}

impl WatchScan {
    pub fn next_transcript(&mut self) {
        self.open.clear();
    }

    /// Line `l` of transcript `transcript` (1-based).
    pub fn line(&mut self, transcript: usize, l: &Line) {
        let Event::StepStarted {
            step,
            kind: StepKind::Watch,
            title,
            command,
            ..
        } = &l.event
        else {
            if let Some(i) = l.event.step().and_then(|s| self.open.get(s)) {
                watch_event(&mut self.watches[*i], l);
            }
            return;
        };
        let watches = &mut self.watches;
        let i = *self.open.entry(step.clone()).or_insert_with(|| {
            watches.push(WatchFact {
                transcript,
                step: step.clone(),
                title: title.clone(),
                command: command.clone(),
                samples: Vec::new(),
                breaches: Vec::new(),
                status: None,
                reason: None,
                ended: None,
                seq: l.seq,
            });
            watches.len() - 1
        });
        watches[i].samples.push(Sample {
            at: l.ts,
            seq: l.seq,
            value: String::new(),
            number: None,
        });
    }

    /// Every watch, each value trimmed and read as a number when it is one.
    pub fn finish(mut self) -> Vec<WatchFact> {
        for w in &mut self.watches {
            for s in &mut w.samples {
                s.value = truncate(s.value.trim(), VALUE_MAX);
                s.number = number(&s.value);
            }
        }
        self.watches
    }
}

/// An event of an open watch: a check's stdout, a breach, the end.
fn watch_event(w: &mut WatchFact, l: &Line) {
    match &l.event {
        Event::Output {
            stream: Stream::Stdout,
            ..
        } => {
            if let (Some(s), Some(bytes)) = (w.samples.last_mut(), l.event.output_bytes())
                && s.value.len() < 4 * VALUE_MAX
            {
                s.value.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        Event::Note { by, text, .. } if by.is_rb() => {
            if let Some(what) = text.strip_prefix(BREACH_PREFIX) {
                w.breaches.push(what.to_string());
            }
        }
        Event::StepFinished { status, reason, .. } => {
            w.status = Some(*status);
            w.reason = reason.clone();
            w.ended = Some(l.ts);
            w.seq = l.seq;
        }
        _ => {}
    }
}

/// A watch value as a number: `87`, `-1.5`, `87%`, `87 %`.
fn number(value: &str) -> Option<f64> {
    let v = value.trim().trim_end_matches('%').trim();
    v.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// True for a note rb wrote about a watch breach (folded into the watch's row).
pub(super) fn is_breach_note(e: &Event) -> bool {
    matches!(e, Event::Note { by, text, step: Some(_), .. } if by.is_rb() && text.starts_with(BREACH_PREFIX))
}
