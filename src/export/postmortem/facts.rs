//! The facts of a post-mortem, computed once from the transcripts into a serializable [`Facts`]:
//! runs, milestones, step attempts, retries, notes and the timeline. Rendering is elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Serialize, Serializer};

use super::text::{cell, ms_between, truncate};
use super::timeline::{TimelineRow, timeline};
use super::{CELL_MAX, QUOTED_LINES};
use crate::transcript::{Event, Mode, RunOutcome, StepStatus, Summary, Transcript};

/// The version of the JSON document ([`Facts`]); bumped when a field changes meaning or goes.
pub const FACTS_VERSION: u32 = 1;

/// Everything the post-mortem draft states, from one or more transcripts. Transcripts are
/// numbered from 1 in the order given (`T1`, `T2`, …); every fact cites its transcript and line
/// (`seq`). Times are RFC 3339 UTC with milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// [`FACTS_VERSION`].
    pub version: u32,
    /// Earliest first line of any transcript.
    #[serde(serialize_with = "ser_ts_opt")]
    pub started: Option<Timestamp>,
    /// Latest last line of any transcript.
    #[serde(serialize_with = "ser_ts_opt")]
    pub ended: Option<Timestamp>,
    /// From `started` to `ended`.
    pub duration_ms: Option<u64>,
    /// Everyone who ran, answered, noted or marked something (not `rb`).
    pub operators: Vec<String>,
    /// The hosts the runs were on.
    pub hosts: Vec<String>,
    /// One per transcript.
    pub runs: Vec<RunFact>,
    /// The first time each milestone was marked, in time order.
    pub milestones: Vec<MilestoneFact>,
    /// Until the first `mitigated` milestone.
    pub time_to_mitigate: Option<Interval>,
    /// Until the first `resolved` milestone.
    pub time_to_resolve: Option<Interval>,
    /// The events of every transcript merged by time (output, prompts and captures left out).
    pub timeline: Vec<TimelineRow>,
    /// The operators' notes, the starting hypotheses of the root cause.
    pub notes: Vec<NoteFact>,
    /// Every finished step attempt, transcript by transcript.
    pub attempts: Vec<AttemptFact>,
    /// Every automatic retry.
    pub retries: Vec<RetryFact>,
    /// Output lost while a transcript was unwritable.
    pub output_dropped: Vec<DroppedFact>,
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
    #[serde(serialize_with = "ser_ts_opt")]
    pub started: Option<Timestamp>,
    #[serde(serialize_with = "ser_ts_opt")]
    pub ended: Option<Timestamp>,
    /// `None` when there is no `run_finished` (rb was killed, or the run is still going).
    pub outcome: Option<RunOutcome>,
    /// The operator and everyone else who answered, noted or marked something in this run.
    #[serde(skip)]
    pub(super) people: BTreeSet<String>,
}

impl RunFact {
    /// The runbook's name, with the mode when not live: `disk-full (check mode)`.
    pub(super) fn label(&self) -> String {
        match self.mode {
            Some(m) if m != Mode::Live => {
                format!("{} ({} mode)", self.runbook, super::text::mode_name(m))
            }
            _ => self.runbook.clone(),
        }
    }
}

/// A milestone's first mark.
#[derive(Debug, Clone, Serialize)]
pub struct MilestoneFact {
    pub name: String,
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
}

/// A time to mitigate or resolve.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    pub ms: u64,
    /// `detection` (from the `detected` milestone) or `start` (of the first run).
    pub from: &'static str,
}

/// An operator's note.
#[derive(Debug, Clone, Serialize)]
pub struct NoteFact {
    #[serde(serialize_with = "ser_ts")]
    pub at: Timestamp,
    pub by: String,
    pub text: String,
    pub transcript: usize,
    pub seq: u64,
}

/// One finished step attempt, assembled from its events; `seq` is its `step_finished` line.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AttemptFact {
    pub transcript: usize,
    pub seq: u64,
    pub step: String,
    pub title: Option<String>,
    pub kind: String,
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

impl AttemptFact {
    pub(super) fn label(&self) -> String {
        match &self.title {
            Some(t) => format!("`{}` ({})", self.step, cell(t)),
            None => format!("`{}`", self.step),
        }
    }

    /// True for steps that ran a command able to change the system (the resolution).
    pub(super) fn changed_the_system(&self) -> bool {
        self.command.is_some() && !self.read_only && self.kind == "command"
    }
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
}

pub(super) fn ser_ts<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::transcript::line::format_ts(*ts))
}

fn ser_ts_opt<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => ser_ts(ts, s),
        None => s.serialize_none(),
    }
}

/// The facts of the post-mortem for these transcripts.
pub fn facts(transcripts: &[(PathBuf, Transcript)]) -> Facts {
    let runs: Vec<RunFact> = transcripts
        .iter()
        .enumerate()
        .map(|(i, (_, t))| run_fact(i + 1, t))
        .collect();
    let attempts: Vec<AttemptFact> = transcripts
        .iter()
        .enumerate()
        .flat_map(|(i, (_, t))| attempts(i + 1, t))
        .collect();
    let started = runs.iter().filter_map(|r| r.started).min();
    let ended = runs.iter().filter_map(|r| r.ended).max();
    let operators: BTreeSet<&String> = runs.iter().flat_map(|r| r.people.iter()).collect();
    let hosts: BTreeSet<&String> = runs.iter().map(|r| &r.host).collect();
    let milestones = milestones(transcripts);
    let (time_to_mitigate, time_to_resolve) = intervals(&milestones, started);
    let (notes, retries, output_dropped) = side_facts(transcripts);
    Facts {
        version: FACTS_VERSION,
        started,
        ended,
        duration_ms: started.zip(ended).map(|(s, e)| ms_between(s, e)),
        operators: operators.into_iter().cloned().collect(),
        hosts: hosts.into_iter().cloned().collect(),
        timeline: timeline(transcripts, &runs, &attempts),
        runs,
        milestones,
        time_to_mitigate,
        time_to_resolve,
        notes,
        attempts,
        retries,
        output_dropped,
        transcripts: transcript_facts(transcripts),
    }
}

/// Times to mitigate and to resolve: from `detected` when marked, else from `started`.
fn intervals(
    milestones: &[MilestoneFact],
    started: Option<Timestamp>,
) -> (Option<Interval>, Option<Interval>) {
    let detected = milestones
        .iter()
        .find(|m| m.name == "detected")
        .map(|m| m.at);
    let interval = |name: &str| {
        let origin = detected.or(started)?;
        let at = milestones.iter().find(|m| m.name == name)?.at;
        Some(Interval {
            ms: ms_between(origin, at),
            from: if detected.is_some() {
                "detection"
            } else {
                "start"
            },
        })
    };
    (interval("mitigated"), interval("resolved"))
}

/// Notes, retries and dropped output of every transcript, in transcript order.
fn side_facts(
    transcripts: &[(PathBuf, Transcript)],
) -> (Vec<NoteFact>, Vec<RetryFact>, Vec<DroppedFact>) {
    let mut notes = Vec::new();
    let mut retries = Vec::new();
    let mut output_dropped = Vec::new();
    for (i, (_, t)) in transcripts.iter().enumerate() {
        let n = i + 1;
        for line in &t.lines {
            match &line.event {
                Event::Note { by, text, .. } => notes.push(NoteFact {
                    at: line.ts,
                    by: by.to_string(),
                    text: text.clone(),
                    transcript: n,
                    seq: line.seq,
                }),
                Event::Retry {
                    step,
                    attempt,
                    delay_ms,
                    reason,
                } => retries.push(RetryFact {
                    transcript: n,
                    seq: line.seq,
                    step: step.clone(),
                    attempt: *attempt,
                    delay_ms: *delay_ms,
                    reason: reason.clone(),
                }),
                Event::OutputDropped { step, bytes, .. } => output_dropped.push(DroppedFact {
                    transcript: n,
                    seq: line.seq,
                    step: step.clone(),
                    bytes: *bytes,
                }),
                _ => {}
            }
        }
    }
    (notes, retries, output_dropped)
}

fn transcript_facts(transcripts: &[(PathBuf, Transcript)]) -> Vec<TranscriptFact> {
    transcripts
        .iter()
        .enumerate()
        .map(|(i, (path, t))| TranscriptFact {
            transcript: i + 1,
            path: path.clone(),
            sha256: t.sha256.clone(),
            run_id: t.run_id().map(str::to_owned),
            lines: t.lines.len(),
            torn_tail: t.torn_tail,
        })
        .collect()
}

/// What the summary needs from one transcript (`n` is its 1-based number).
fn run_fact(n: usize, t: &Transcript) -> RunFact {
    let s = Summary::of(t);
    let unknown = || "?".to_string();
    RunFact {
        transcript: n,
        runbook: s.runbook.unwrap_or_else(unknown),
        mode: s.mode,
        run_id: s.run_id,
        operator: s.operator.unwrap_or_else(unknown),
        host: s.host.unwrap_or_else(unknown),
        people: s.operators,
        started: s.first_event,
        ended: s.last_event,
        outcome: s.outcome,
    }
}

/// Every finished step attempt of transcript `n` (1-based), in order.
fn attempts(transcript: usize, t: &Transcript) -> Vec<AttemptFact> {
    let mut done: Vec<AttemptFact> = Vec::new();
    let mut open: BTreeMap<String, AttemptFact> = BTreeMap::new();
    for l in &t.lines {
        match &l.event {
            Event::StepStarted {
                step,
                kind,
                title,
                command,
                read_only,
                ..
            } => {
                open.insert(
                    step.clone(),
                    AttemptFact {
                        transcript,
                        step: step.clone(),
                        title: title.clone(),
                        kind: kind.to_string(),
                        command: command.clone(),
                        read_only: *read_only,
                        seq: l.seq,
                        ..AttemptFact::default()
                    },
                );
            }
            Event::Output { step, .. } => {
                if let (Some(a), Some(bytes)) = (open.get_mut(step), l.event.output_bytes()) {
                    count_output(a, &bytes);
                }
            }
            Event::StepFinished {
                step,
                status,
                exit_code,
                duration_ms,
                reason,
            } => {
                let mut a = open.remove(step).unwrap_or_else(|| AttemptFact {
                    transcript,
                    step: step.clone(),
                    ..AttemptFact::default()
                });
                a.status = Some(*status);
                a.exit_code = *exit_code;
                a.duration_ms = *duration_ms;
                a.reason = reason.clone();
                a.seq = l.seq;
                done.push(a);
            }
            _ => {}
        }
    }
    done
}

/// Counts the non-blank lines of an output chunk and keeps the last few.
fn count_output(a: &mut AttemptFact, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines().filter(|s| !s.trim().is_empty()) {
        a.output_lines += 1;
        a.last_lines.push(truncate(line, CELL_MAX));
        if a.last_lines.len() > QUOTED_LINES {
            a.last_lines.remove(0);
        }
    }
}

/// Milestones of all transcripts, first time each name was marked, in time order.
fn milestones(transcripts: &[(PathBuf, Transcript)]) -> Vec<MilestoneFact> {
    let mut first: BTreeMap<String, Timestamp> = BTreeMap::new();
    for (_, t) in transcripts {
        for l in &t.lines {
            if let Event::Milestone { name, at, .. } = &l.event {
                // A backdated mark (`rb mark --at`) counts from when it happened.
                let when = at.as_deref().and_then(|a| a.parse().ok()).unwrap_or(l.ts);
                first
                    .entry(name.to_string())
                    .and_modify(|ts| *ts = (*ts).min(when))
                    .or_insert(when);
            }
        }
    }
    let mut v: Vec<_> = first
        .into_iter()
        .map(|(name, at)| MilestoneFact { name, at })
        .collect();
    v.sort_by_key(|m| m.at);
    v
}
