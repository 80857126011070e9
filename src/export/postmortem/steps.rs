//! Steps in a post-mortem: every attempt as recorded ([`AttemptFact`]), each step once with its
//! attempts folded ([`StepFact`]), and each watch with the value of every check ([`WatchFact`]).

use std::collections::BTreeMap;

use super::model::*;
use super::text::truncate;
use super::{CELL_MAX, QUOTED_LINES};
use crate::domain::StepKind;
use crate::transcript::{Event, Line, StepStatus, Stream};

/// How rb's watch writes a breach note (`src/exec/watch.rs`): such notes belong to the watch.
const BREACH_PREFIX: &str = "watch breach: ";
/// Longest watch value kept.
const VALUE_MAX: usize = 60;

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
