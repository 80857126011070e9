//! The timeline of a post-mortem: the events of every transcript merged by time, each in words
//! with who did it, citing its transcript and line.

use std::fmt::Write as _;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use super::facts::{AttemptFact, RunFact, ser_ts};
use super::human_duration;
use super::text::{cell, describe_status, mode_name};
use crate::transcript::{Event, Line, Transcript};

/// One row of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineRow {
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    /// An operator, or `rb`.
    pub who: String,
    /// The event, in words (Markdown code spans for names and commands).
    pub what: String,
    /// The transcript event's name (`step_finished`, …).
    pub event: &'static str,
    /// True for milestones (shown in bold).
    pub milestone: bool,
    pub transcript: usize,
    pub seq: u64,
}

/// The rows of every transcript, merged by time (ties in transcript, then line order).
pub(super) fn timeline(
    transcripts: &[(PathBuf, Transcript)],
    runs: &[RunFact],
    attempts: &[AttemptFact],
) -> Vec<TimelineRow> {
    let mut rows = Vec::new();
    for (i, (_, t)) in transcripts.iter().enumerate() {
        let n = i + 1;
        for line in &t.lines {
            if let Some((who, what)) = entry(line, &runs[i].operator, attempts, n) {
                rows.push(TimelineRow {
                    at: line.ts,
                    who,
                    what,
                    event: line.event.name(),
                    milestone: matches!(line.event, Event::Milestone { .. }),
                    transcript: n,
                    seq: line.seq,
                });
            }
        }
    }
    rows.sort_by_key(|r| (r.at, r.transcript, r.seq));
    rows
}

/// The (who, what) of a timeline row, or `None` for events left out (output, prompts, captures).
/// `transcript` is the 1-based transcript number. Milestones are not made bold here: the row's
/// `milestone` flag says so and the renderer does it.
fn entry(
    line: &Line,
    operator: &str,
    attempts: &[AttemptFact],
    transcript: usize,
) -> Option<(String, String)> {
    let rb = || "rb".to_owned();
    Some(match &line.event {
        Event::RunStarted {
            runbook,
            host,
            mode,
            ..
        } => (
            operator.to_owned(),
            format!(
                "Started runbook `{runbook}` on {host} ({})",
                mode_name(*mode)
            ),
        ),
        Event::StepFinished { step, .. } => {
            let a = attempts
                .iter()
                .find(|a| a.transcript == transcript && a.seq == line.seq)?;
            (rb(), step_finished(step, a))
        }
        Event::Decision { by, .. } | Event::Note { by, .. } | Event::Milestone { by, .. } => {
            (by.to_string(), said(&line.event))
        }
        Event::Manual { step, done, note } => (
            operator.to_owned(),
            format!(
                "Manual step `{step}` {}{}",
                if *done { "done" } else { "skipped" },
                note.as_ref()
                    .map_or(String::new(), |n| format!(": {}", cell(n)))
            ),
        ),
        Event::Prompt { .. } | Event::Output { .. } | Event::Captured { .. } => return None,
        other => (rb(), by_rb(other)),
    })
}

/// What a step's end says: its status, and how much it printed.
fn step_finished(step: &str, a: &AttemptFact) -> String {
    let mut what = format!("Step `{step}` {}", describe_status(a));
    if a.output_lines > 0 {
        let lines = if a.output_lines == 1 { "line" } else { "lines" };
        let _ = write!(what, " ({} {lines} of output)", a.output_lines);
    }
    what
}

/// Decisions, notes and milestones, in words (who did it is the row's `who`).
fn said(event: &Event) -> String {
    match event {
        Event::Decision {
            step, choice, text, ..
        } => format!(
            "Answered `{choice}`{}{}",
            step.as_ref()
                .map_or(String::new(), |s| format!(" at `{s}`")),
            text.as_ref()
                .map_or(String::new(), |t| format!(": {}", cell(t)))
        ),
        Event::Note { text, .. } => format!("Note: {}", cell(text)),
        Event::Milestone { name, .. } => format!("Marked {name}"),
        _ => String::new(),
    }
}

/// Events rb itself writes, in words.
fn by_rb(event: &Event) -> String {
    match event {
        Event::StepStarted {
            step,
            title,
            command,
            attempt,
            ..
        } => {
            let mut what = format!("Step `{step}`");
            if let Some(t) = title {
                let _ = write!(what, " ({})", cell(t));
            }
            what.push_str(" started");
            if *attempt > 1 {
                let _ = write!(what, " (attempt {attempt})");
            }
            if let Some(c) = command {
                let _ = write!(what, ": `{}`", cell(c));
            }
            what
        }
        Event::Retry {
            step,
            attempt,
            delay_ms,
            ..
        } => format!(
            "Retrying `{step}` (attempt {attempt}) in {}",
            human_duration(*delay_ms)
        ),
        Event::Message { step, text } => format!("Message `{step}`: {}", cell(text)),
        Event::Interrupted { what, .. } => format!("Interrupted ({})", cell(what)),
        Event::OutputDropped { step, bytes, .. } => format!(
            "{bytes} bytes of output{} dropped (transcript unwritable)",
            step.as_ref()
                .map_or(String::new(), |s| format!(" of `{s}`"))
        ),
        Event::RunFinished {
            outcome,
            duration_ms,
        } => format!(
            "Run ended: {outcome} after {}",
            human_duration(*duration_ms)
        ),
        _ => String::new(),
    }
}
