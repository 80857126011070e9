//! The timeline of a post-mortem, as a commander would keep it: milestones, decisions that
//! matter, one row per step result (attempts folded) and per watch, notes and messages, merged
//! by time over every transcript, each citing its transcript and lines. Key presses such as
//! `details`, prompts, output and captures are not rows; the JSON keeps them elsewhere.
//! [`within_budget`] picks what the Markdown shows when there are too many rows.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::human_duration;
use super::model::*;
use super::steps::is_breach_note;
use super::text::{Words, mode_name, ms_between};
use crate::domain::{Choice, DeliveryStatus, MessagePurpose, StepKind};
use crate::transcript::{Event, Line, NoteKind};

/// The timeline: `rows` (the rows of every transcript's lines, as [`event_row`] made them, in
/// transcript and line order) with a row per step, watch and milestone, merged by time (ties in
/// transcript, then line order).
pub(super) fn timeline(mut rows: Vec<TimelineRow>, f: &Facts) -> Vec<TimelineRow> {
    rows.extend(
        f.steps
            .iter()
            .filter(|s| s.kind != StepKind::Watch)
            .map(step_row),
    );
    rows.extend(f.watches.iter().map(watch_row));
    rows.extend(f.messages.iter().map(message_row));
    for m in &f.milestones {
        // The first mark of each milestone is a row at the time it happened.
        let mut what = Words::default().t(format!("{} ", capitalized(m.name.as_str())));
        if m.backdated() {
            what = what.t(format!("(marked at {}) ", super::text::fmt_ts(m.marked_at)));
        }
        rows.push(row(
            m.at,
            m.by.to_string(),
            what,
            RowKind::Milestone,
            None,
            m.transcript,
            m.seq,
            0,
        ));
    }
    rows.sort_by_key(|r| (r.at, r.transcript, r.seq));
    rows
}

#[allow(clippy::too_many_arguments)]
fn row(
    at: Timestamp,
    who: String,
    what: Words,
    kind: RowKind,
    step: Option<&str>,
    transcript: usize,
    seq: u64,
    rank: u8,
) -> TimelineRow {
    TimelineRow {
        at,
        who,
        what,
        kind,
        step: step.map(str::to_owned),
        transcript,
        first_seq: seq,
        seq,
        rank,
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

/// The row of line `l` of transcript `n`, if it is a row by itself (`operator` started the run,
/// at `run_start`).
pub(super) fn event_row(
    l: &Line,
    n: usize,
    operator: &str,
    run_start: Option<Timestamp>,
) -> Option<TimelineRow> {
    let rb = || "rb".to_string();
    let r = |who, what, kind, step: Option<&str>, rank| {
        row(l.ts, who, what, kind, step, n, l.seq, rank)
    };
    Some(match &l.event {
        Event::RunStarted {
            runbook,
            host,
            mode,
            ..
        } => r(
            operator.to_string(),
            Words::default()
                .t("Started runbook ")
                .c(runbook)
                .t(format!(" on {host} ({})", mode_name(*mode))),
            RowKind::RunStarted,
            None,
            0,
        ),
        Event::Decision {
            step,
            by,
            choice,
            text,
        } if matters(*choice) => {
            let mut what = Words::default().t("Chose ").c(choice.as_str());
            if let Some(s) = step {
                what = what.t(" at ").c(s);
            }
            if let Some(t) = text {
                what = what.t(format!(": {t}"));
            }
            r(by.to_string(), what, RowKind::Decision, step.as_deref(), 1)
        }
        Event::Note { .. } if is_breach_note(&l.event) => return None,
        Event::Note {
            by,
            text,
            step,
            kind,
        } => {
            let kind = if by.is_rb() { NoteKind::Plain } else { *kind };
            let label = match kind {
                NoteKind::Plain => "Note",
                NoteKind::Hypothesis => "Hypothesis",
                NoteKind::Action => "Action",
                NoteKind::Comms => "Comms",
            };
            let rank = if kind.is_plain() { 2 } else { 1 };
            r(
                by.to_string(),
                Words::default().t(format!("{label}: {text}")),
                RowKind::Note,
                step.as_deref(),
                rank,
            )
        }
        Event::Interrupted { step, what } => r(
            rb(),
            Words::default().t(format!("Interrupted ({what})")),
            RowKind::Interrupted,
            step.as_deref(),
            0,
        ),
        Event::OutputDropped { step, bytes, .. } => {
            let mut what = Words::default().t(format!("{bytes} bytes of output"));
            if let Some(s) = step {
                what = what.t(" of ").c(s);
            }
            what = what.t(" dropped (transcript unwritable)");
            r(rb(), what, RowKind::OutputDropped, step.as_deref(), 1)
        }
        Event::RunFinished { outcome, .. } => {
            let lasted = run_start.map_or(String::new(), |s| {
                format!(" (the run lasted {})", human_duration(ms_between(s, l.ts)))
            });
            r(
                rb(),
                Words::default().t(format!("Run ended: {outcome}{lasted}")),
                RowKind::RunFinished,
                None,
                0,
            )
        }
        _ => return None,
    })
}

/// Decisions worth a row: a skip, an abort, a retry, a rollback, a typed confirmation. A plain
/// `run`, `details`, `note`, `done` or `continue` is a key press.
fn matters(choice: Choice) -> bool {
    matches!(
        choice,
        Choice::Skip
            | Choice::Abort
            | Choice::Retry
            | Choice::Rollback
            | Choice::Confirmed
            | Choice::Mistyped
    )
}

/// The row of a step's result, at its last attempt's end.
fn step_row(s: &StepFact) -> TimelineRow {
    let label = if s.kind == StepKind::Manual {
        "Manual step "
    } else {
        "Step "
    };
    let mut what = Words::default().t(label).c(&s.step);
    if let Some(t) = &s.title {
        what = what.t(format!(" ({t})"));
    }
    what = what.t(format!(
        " {} in {}",
        s.result(),
        human_duration(s.duration_ms)
    ));
    if let Some(r) = s
        .reason
        .as_ref()
        .filter(|r| s.exit_code.is_none_or(|c| **r != format!("exit code {c}")))
    {
        what = what.t(format!(": {r}"));
    } else if let Some(c) = s.exit_code.filter(|c| *c != 0) {
        what = what.t(format!(", exit code {c}"));
    }
    let rank = if s.went_wrong() || s.attempts > 1 {
        1
    } else {
        2
    };
    TimelineRow {
        at: s.ended.or(s.started).unwrap_or_default(),
        who: "rb".into(),
        what,
        kind: RowKind::Step,
        step: Some(s.step.clone()),
        transcript: s.transcript,
        first_seq: s.first_seq,
        seq: s.seq,
        rank,
    }
}

/// The row of a watch: how many checks, the first and last value, breaches, the result.
fn watch_row(w: &WatchFact) -> TimelineRow {
    let mut what = Words::default().t("Watch ").c(&w.step);
    if let Some(t) = &w.title {
        what = what.t(format!(" ({t})"));
    }
    let checks = w.samples.len();
    what = what.t(format!(
        ": {checks} check{}",
        if checks == 1 { "" } else { "s" }
    ));
    if let (Some(first), Some(last)) = (w.samples.first(), w.samples.last()) {
        what = what.t(", value ").c(&first.value);
        if checks > 1 {
            what = what.t(" then ").c(&last.value);
        }
    }
    if !w.breaches.is_empty() {
        what = what.t(format!(
            ", {} breach{}",
            w.breaches.len(),
            if w.breaches.len() == 1 { "" } else { "es" }
        ));
    }
    let status = w
        .status
        .map_or("did not finish", crate::transcript::StepStatus::phrase);
    what = what.t(format!("; {status}"));
    if let Some(r) = &w.reason {
        what = what.t(format!(": {r}"));
    }
    TimelineRow {
        at: w
            .ended
            .or(w.samples.last().map(|s| s.at))
            .unwrap_or_default(),
        who: "rb".into(),
        what,
        kind: RowKind::Watch,
        step: Some(w.step.clone()),
        transcript: w.transcript,
        first_seq: w.samples.first().map_or(w.seq, |s| s.seq),
        seq: w.seq,
        rank: if super::model::is_success(w.status) {
            1
        } else {
            0
        },
    }
}

/// The row of a message for the incident channel, at its text's line, with its delivery.
fn message_row(m: &MessageFact) -> TimelineRow {
    let mut what = match (m.purpose, &m.step) {
        (MessagePurpose::Step, Some(s)) => Words::default().t("Message ").c(s),
        (MessagePurpose::Update, _) => Words::default().t("Update"),
        _ => Words::default().t("Resolution message"),
    };
    what = what.t(format!(": {} — {}", m.text, m.delivery));
    TimelineRow {
        at: m.at,
        who: "rb".into(),
        what,
        kind: RowKind::Message,
        step: m.step.clone(),
        transcript: m.transcript,
        first_seq: m.first_seq,
        seq: m.seq,
        // A message that did not reach the channel matters as much as a step that failed.
        rank: if m.status == Some(DeliveryStatus::Failed) {
            0
        } else {
            1
        },
    }
}

/// What the Markdown timeline shows: a row, or a run of rows left out.
pub(super) enum Shown<'a> {
    Row(&'a TimelineRow),
    LeftOut(usize),
}

/// At most `budget` entries: every row when they fit; otherwise the most important rows (lowest
/// rank, then earliest) with each run of rows left out counted in one entry.
pub(super) fn within_budget(rows: &[TimelineRow], budget: usize) -> Vec<Shown<'_>> {
    if rows.len() <= budget {
        return rows.iter().map(Shown::Row).collect();
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| (rows[i].rank, i));
    // Keeping k rows leaves at most k + 1 gaps: find the largest k that fits with its gaps.
    let mut keep = budget / 2;
    for k in (budget / 2..budget).rev() {
        let kept: BTreeSet<usize> = order[..k].iter().copied().collect();
        if k + gaps(&kept, rows.len()) <= budget {
            keep = k;
            break;
        }
    }
    let kept: BTreeSet<usize> = order[..keep].iter().copied().collect();
    let mut shown = Vec::new();
    let mut left_out = 0;
    for (i, r) in rows.iter().enumerate() {
        if kept.contains(&i) {
            if left_out > 0 {
                shown.push(Shown::LeftOut(left_out));
                left_out = 0;
            }
            shown.push(Shown::Row(r));
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        shown.push(Shown::LeftOut(left_out));
    }
    shown
}

/// How many runs of consecutive rows are not in `kept`.
fn gaps(kept: &BTreeSet<usize>, len: usize) -> usize {
    let mut gaps = 0;
    let mut prev: Option<usize> = None;
    for &i in kept {
        if i > prev.map_or(0, |p| p + 1) {
            gaps += 1;
        }
        prev = Some(i);
    }
    if prev.map_or(len > 0, |p| p + 1 < len) {
        gaps += 1;
    }
    gaps
}
