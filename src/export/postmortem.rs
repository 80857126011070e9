//! The post-mortem draft: a blameless post-mortem in Markdown, facts filled in from one or more
//! transcripts, judgement left to people.
//!
//! Sections follow the Google SRE book's example post-mortem and PagerDuty's template: title,
//! summary, impact, timeline, root cause, resolution, what went well, what went wrong, runbook
//! feedback, action items, lessons learned, supporting information. The timeline merges the events
//! of every transcript by time; each row cites its evidence as `T<n>#<seq>` (transcript n of the
//! supporting information, line `seq`). Output is summarised (line counts, the last lines of a
//! failed step), never pasted whole. Text meant to be written by people is in _italics_.
//!
//! The facts are computed once, by [`facts`], into a serializable [`Facts`]; the Markdown draft
//! ([`render_markdown`]) and `rb postmortem --format json` are two renderings of the same value.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Serialize, Serializer};

use super::human_duration;
use crate::transcript::{Event, Line, Mode, RunOutcome, StepStatus, Transcript};

/// Steps slower than this are listed under runbook feedback.
const SLOW_STEP_MS: u64 = 60_000;
/// How many trailing output lines of a failed step are quoted.
const QUOTED_LINES: usize = 3;
/// Longest text kept in a table cell.
const CELL_MAX: usize = 160;

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
    people: BTreeSet<String>,
}

impl RunFact {
    /// The runbook's name, with the mode when not live: `disk-full (check mode)`.
    fn label(&self) -> String {
        match self.mode {
            Some(m) if m != Mode::Live => format!("{} ({} mode)", self.runbook, mode_name(m)),
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
    fn label(&self) -> String {
        match &self.title {
            Some(t) => format!("`{}` ({})", self.step, cell(t)),
            None => format!("`{}`", self.step),
        }
    }

    /// True for steps that ran a command able to change the system (the resolution).
    fn changed_the_system(&self) -> bool {
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

fn ser_ts<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::transcript::line::format_ts(*ts))
}

fn ser_ts_opt<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => ser_ts(ts, s),
        None => s.serialize_none(),
    }
}

/// The post-mortem draft for these transcripts (one incident; several runs, operators or hosts).
pub fn postmortem_markdown(transcripts: &[(PathBuf, Transcript)]) -> String {
    render_markdown(&facts(transcripts))
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
    let milestones: Vec<MilestoneFact> = milestones(transcripts)
        .into_iter()
        .map(|(name, at)| MilestoneFact { name, at })
        .collect();
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
    let time_to_mitigate = interval("mitigated");
    let time_to_resolve = interval("resolved");

    let mut timeline: Vec<TimelineRow> = Vec::new();
    let mut notes = Vec::new();
    let mut retries = Vec::new();
    let mut output_dropped = Vec::new();
    for (i, (_, t)) in transcripts.iter().enumerate() {
        let n = i + 1;
        for line in &t.lines {
            if let Some((who, what)) = timeline_entry(line, &runs[i].operator, &attempts, n) {
                timeline.push(TimelineRow {
                    at: line.ts,
                    who,
                    what,
                    event: line.event.name(),
                    milestone: matches!(line.event, Event::Milestone { .. }),
                    transcript: n,
                    seq: line.seq,
                });
            }
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
    timeline.sort_by_key(|r| (r.at, r.transcript, r.seq));
    let transcripts = transcripts
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
        .collect();
    Facts {
        version: FACTS_VERSION,
        started,
        ended,
        duration_ms: started.zip(ended).map(|(s, e)| ms_between(s, e)),
        operators: operators.into_iter().cloned().collect(),
        hosts: hosts.into_iter().cloned().collect(),
        runs,
        milestones,
        time_to_mitigate,
        time_to_resolve,
        timeline,
        notes,
        attempts,
        retries,
        output_dropped,
        transcripts,
    }
}

/// The Markdown draft of `f`.
pub fn render_markdown(f: &Facts) -> String {
    let mut out = String::new();
    let labels: BTreeSet<String> = f.runs.iter().map(RunFact::label).collect();
    let _ = writeln!(
        out,
        "# Post-mortem: {}{}\n",
        join(labels.iter()),
        f.started
            .map_or(String::new(), |s| format!(" ({})", s.strftime("%Y-%m-%d")))
    );
    out.push_str(
        "_Draft generated by rb from the run transcripts. Blameless: it describes what the \
         systems did and what people decided with what they knew, not whose fault it was. \
         Sections in italics are for people to write._\n\n",
    );

    // Summary.
    out.push_str("## Summary\n\n| | |\n|---|---|\n");
    let row = |out: &mut String, k: &str, v: String| {
        let _ = writeln!(out, "| {k} | {v} |");
    };
    row(
        &mut out,
        "Runbook",
        join(labels.iter().map(|r| format!("`{r}`"))),
    );
    row(
        &mut out,
        "Started (UTC)",
        f.started.map_or("unknown".into(), fmt_ts),
    );
    row(
        &mut out,
        "Ended (UTC)",
        f.ended.map_or("unknown".into(), fmt_ts),
    );
    if let Some(ms) = f.duration_ms {
        row(&mut out, "Duration", human_duration(ms));
    }
    row(
        &mut out,
        "Outcome",
        join(f.runs.iter().map(|r| {
            format!(
                "T{}: {}",
                r.transcript,
                match r.outcome {
                    Some(RunOutcome::Finished) => "finished",
                    Some(RunOutcome::Failed) => "failed",
                    Some(RunOutcome::Aborted) => "aborted",
                    Some(RunOutcome::Interrupted) => "interrupted",
                    None => "did not finish (no `run_finished`)",
                }
            )
        })),
    );
    row(&mut out, "Operators", join(&f.operators));
    row(&mut out, "Hosts", join(&f.hosts));
    for m in &f.milestones {
        row(&mut out, &format!("Marked {}", m.name), fmt_ts(m.at));
    }
    for (interval, label) in [
        (&f.time_to_mitigate, "Time to mitigate"),
        (&f.time_to_resolve, "Time to resolve"),
    ] {
        if let Some(i) = interval {
            let from = if i.from == "detection" {
                "from detection"
            } else {
                "from the start of the first run"
            };
            row(
                &mut out,
                label,
                format!("{} ({from})", human_duration(i.ms)),
            );
        }
    }
    out.push_str("\n_One paragraph: what happened, how it was noticed, how it was mitigated._\n\n");

    out.push_str(
        "## Impact\n\n_Who and what was affected, how badly and for how long (users, \
                  requests, revenue, data). Give numbers._\n\n",
    );

    // Timeline.
    out.push_str(
        "## Timeline\n\nAll times UTC. Evidence `T<n>#<seq>` is line `seq` of transcript \
                  `n` (see supporting information). Milestones are in bold.\n\n",
    );
    out.push_str("| Time | Who | What | Evidence |\n|---|---|---|---|\n");
    for r in &f.timeline {
        let what = if r.milestone {
            format!("**{}**", r.what)
        } else {
            r.what.clone()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | T{}#{} |",
            fmt_ts(r.at),
            cell(&r.who),
            what,
            r.transcript,
            r.seq
        );
    }
    out.push('\n');

    // Root cause.
    out.push_str(
        "## Root cause\n\n_The chain of causes, found by asking why until it reaches \
                  something that can be changed._\n\n",
    );
    if !f.notes.is_empty() {
        out.push_str("Starting hypotheses, from the operators' notes during the incident:\n\n");
        for n in &f.notes {
            let _ = writeln!(
                out,
                "- {} ({}, {}, T{}#{})",
                cell(&n.text),
                n.by,
                fmt_ts(n.at),
                n.transcript,
                n.seq
            );
        }
        out.push('\n');
    }

    // Resolution.
    out.push_str("## Resolution\n\nThe steps that changed the system, and their results:\n\n");
    let changes: Vec<&AttemptFact> = f
        .attempts
        .iter()
        .filter(|a| a.changed_the_system())
        .collect();
    if changes.is_empty() {
        out.push_str("- none recorded\n");
    }
    for a in changes {
        let _ = writeln!(
            out,
            "- {}: {} — `{}` (T{}#{})",
            a.label(),
            describe_status(a),
            cell(a.command.as_deref().unwrap_or_default()),
            a.transcript,
            a.seq
        );
    }
    out.push('\n');

    // What went well / wrong.
    out.push_str("## What went well\n\n");
    let ok = f
        .attempts
        .iter()
        .filter(|a| a.status == Some(StepStatus::Succeeded))
        .count();
    let _ = writeln!(
        out,
        "- {ok} of {} step attempts succeeded.",
        f.attempts.len()
    );
    for m in &f.milestones {
        let _ = writeln!(out, "- Marked **{}** at {}.", m.name, fmt_ts(m.at));
    }
    out.push_str("- _What else helped (alerting, tooling, people, luck)._\n\n");

    out.push_str("## What went wrong\n\n");
    let mut wrong = 0;
    for a in &f.attempts {
        let Some(status) = a.status else { continue };
        if status == StepStatus::Succeeded {
            continue;
        }
        wrong += 1;
        let _ = writeln!(
            out,
            "- {}: {} (T{}#{})",
            a.label(),
            describe_status(a),
            a.transcript,
            a.seq
        );
        if matches!(status, StepStatus::Failed | StepStatus::TimedOut) && !a.last_lines.is_empty() {
            let _ = writeln!(
                out,
                "  Last {} of {} output {}:\n\n  ```text",
                a.last_lines.len(),
                a.output_lines,
                if a.output_lines == 1 { "line" } else { "lines" }
            );
            for l in &a.last_lines {
                let _ = writeln!(out, "  {l}");
            }
            out.push_str("  ```\n");
        }
    }
    // Retries and dropped output, in transcript order as they were recorded.
    let mut later: Vec<(usize, u64, String)> = Vec::new();
    for r in &f.retries {
        later.push((
            r.transcript,
            r.seq,
            format!(
                "- `{}` was retried (attempt {}, after {}): {} (T{}#{})",
                r.step,
                r.attempt,
                human_duration(r.delay_ms),
                cell(&r.reason),
                r.transcript,
                r.seq
            ),
        ));
    }
    for d in &f.output_dropped {
        later.push((
            d.transcript,
            d.seq,
            format!(
                "- The transcript could not be written; {} bytes of output{} were lost (T{}#{})",
                d.bytes,
                d.step
                    .as_ref()
                    .map_or(String::new(), |s| format!(" of `{s}`")),
                d.transcript,
                d.seq
            ),
        ));
    }
    later.sort_by_key(|(t, seq, _)| (*t, *seq));
    for (_, _, text) in &later {
        wrong += 1;
        let _ = writeln!(out, "{text}");
    }
    if wrong == 0 {
        out.push_str("- No step failed, was retried, skipped or rolled back.\n");
    }
    out.push_str("- _What else made things worse or slower._\n\n");

    // Runbook feedback.
    out.push_str("## Runbook feedback\n\n");
    let mut feedback = 0;
    for a in &f.attempts {
        let why = match a.status {
            Some(StepStatus::Failed) => Some("failed".to_owned()),
            Some(StepStatus::TimedOut) => Some("timed out".to_owned()),
            Some(StepStatus::Declined) => Some("was declined by the operator".to_owned()),
            _ if a.duration_ms > SLOW_STEP_MS => {
                Some(format!("was slow ({})", human_duration(a.duration_ms)))
            }
            _ => None,
        };
        if let Some(why) = why {
            feedback += 1;
            let _ = writeln!(
                out,
                "- {} {why}: _is the step right, safe and clear?_ (T{}#{})",
                a.label(),
                a.transcript,
                a.seq
            );
        }
    }
    if feedback == 0 {
        out.push_str("- No step failed, was declined or was slow.\n");
    }
    out.push('\n');

    // Action items.
    out.push_str(
        "## Action items\n\n| Action | Type | Owner | Due | Ticket |\n|---|---|---|---|---|\n",
    );
    for a in f.attempts.iter().filter(|a| {
        matches!(
            a.status,
            Some(StepStatus::Failed | StepStatus::TimedOut | StepStatus::Declined)
        )
    }) {
        let _ = writeln!(
            out,
            "| Find out why step `{}` {} and fix the cause or the runbook | investigate | | | |",
            a.step,
            match a.status {
                Some(StepStatus::Declined) => "was declined",
                Some(StepStatus::TimedOut) => "timed out",
                _ => "failed",
            }
        );
    }
    out.push_str("| _Prevent a recurrence_ | prevent | | | |\n| _Detect it sooner_ | detect | | | |\n| _Mitigate faster_ | mitigate | | | |\n\n");

    out.push_str(
        "## Lessons learned\n\n_What this incident taught us, beyond its action items._\n\n",
    );

    // Supporting information.
    out.push_str("## Supporting information\n\n| | Transcript | SHA-256 | Run id | Lines |\n|---|---|---|---|---|\n");
    for t in &f.transcripts {
        let _ = writeln!(
            out,
            "| T{} | `{}` | `{}` | `{}` | {}{} |",
            t.transcript,
            t.path.display(),
            t.sha256,
            t.run_id.as_deref().unwrap_or("?"),
            t.lines,
            if t.torn_tail { " (torn last line)" } else { "" }
        );
    }
    out
}

/// What the summary needs from one transcript (`n` is its 1-based number).
fn run_fact(n: usize, t: &Transcript) -> RunFact {
    let mut facts = RunFact {
        transcript: n,
        runbook: "?".into(),
        mode: None,
        run_id: t.run_id().map(str::to_owned),
        operator: "?".into(),
        host: "?".into(),
        people: BTreeSet::new(),
        started: t.lines.first().map(|l| l.ts),
        ended: t.lines.last().map(|l| l.ts),
        outcome: None,
    };
    for l in &t.lines {
        match &l.event {
            Event::RunStarted {
                runbook,
                operator,
                host,
                mode,
                ..
            } => {
                facts.runbook = runbook.clone();
                facts.operator = operator.clone();
                facts.host = host.clone();
                facts.people.insert(operator.clone());
                facts.mode = Some(*mode);
            }
            Event::Decision { by, .. } | Event::Note { by, .. } | Event::Milestone { by, .. }
                if !by.is_rb() =>
            {
                facts.people.insert(by.to_string());
            }
            Event::RunFinished { outcome, .. } => facts.outcome = Some(*outcome),
            _ => {}
        }
    }
    facts
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
                    let text = String::from_utf8_lossy(&bytes);
                    for line in text.lines().filter(|s| !s.trim().is_empty()) {
                        a.output_lines += 1;
                        a.last_lines.push(truncate(line, CELL_MAX));
                        if a.last_lines.len() > QUOTED_LINES {
                            a.last_lines.remove(0);
                        }
                    }
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

fn describe_status(a: &AttemptFact) -> String {
    let status = match a.status {
        Some(StepStatus::Succeeded) => "succeeded",
        Some(StepStatus::Failed) => "failed",
        Some(StepStatus::Skipped) => "skipped",
        Some(StepStatus::TimedOut) => "timed out",
        Some(StepStatus::Interrupted) => "interrupted",
        Some(StepStatus::RolledBack) => "rolled back",
        Some(StepStatus::Declined) => "declined",
        None => "did not finish",
    };
    let mut s = format!("{status} in {}", human_duration(a.duration_ms));
    if let Some(code) = a.exit_code {
        let _ = write!(s, ", exit code {code}");
    }
    if let Some(r) = &a.reason
        && a.exit_code.is_none_or(|c| *r != format!("exit code {c}"))
    {
        let _ = write!(s, ": {}", cell(r));
    }
    s
}

/// The (who, what) of a timeline row, or `None` for events left out (output, prompts, captures).
/// `transcript` is the 1-based transcript number. Milestones are not made bold here: the row's
/// `milestone` flag says so and the renderer does it.
fn timeline_entry(
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
            (rb(), what)
        }
        Event::StepFinished { step, .. } => {
            let a = attempts
                .iter()
                .find(|a| a.transcript == transcript && a.seq == line.seq)?;
            let mut what = format!("Step `{step}` {}", describe_status(a));
            if a.output_lines > 0 {
                let lines = if a.output_lines == 1 { "line" } else { "lines" };
                let _ = write!(what, " ({} {lines} of output)", a.output_lines);
            }
            (rb(), what)
        }
        Event::Retry {
            step,
            attempt,
            delay_ms,
            ..
        } => (
            rb(),
            format!(
                "Retrying `{step}` (attempt {attempt}) in {}",
                human_duration(*delay_ms)
            ),
        ),
        Event::Decision {
            step,
            by,
            choice,
            text,
            ..
        } => (
            by.to_string(),
            format!(
                "Answered `{choice}`{}{}",
                step.as_ref()
                    .map_or(String::new(), |s| format!(" at `{s}`")),
                text.as_ref()
                    .map_or(String::new(), |t| format!(": {}", cell(t)))
            ),
        ),
        Event::Message { step, text } => (rb(), format!("Message `{step}`: {}", cell(text))),
        Event::MessagePosted {
            purpose, status, ..
        } => (rb(), format!("Channel message ({purpose}): {status}")),
        Event::Manual { step, done, note } => (
            operator.to_owned(),
            format!(
                "Manual step `{step}` {}{}",
                if *done { "done" } else { "skipped" },
                note.as_ref()
                    .map_or(String::new(), |n| format!(": {}", cell(n)))
            ),
        ),
        Event::Note { by, text, .. } => (by.to_string(), format!("Note: {}", cell(text))),
        Event::Milestone { name, by, .. } => (by.to_string(), format!("Marked {name}")),
        Event::Interrupted { what, .. } => (rb(), format!("Interrupted ({})", cell(what))),
        Event::OutputDropped { step, bytes, .. } => (
            rb(),
            format!(
                "{bytes} bytes of output{} dropped (transcript unwritable)",
                step.as_ref()
                    .map_or(String::new(), |s| format!(" of `{s}`"))
            ),
        ),
        Event::RunFinished {
            outcome,
            duration_ms,
        } => (
            rb(),
            format!(
                "Run ended: {outcome} after {}",
                human_duration(*duration_ms)
            ),
        ),
        Event::Prompt { .. } | Event::Output { .. } | Event::Captured { .. } => return None,
    })
}

/// Milestones of all transcripts, first time each name was marked, in time order.
fn milestones(transcripts: &[(PathBuf, Transcript)]) -> Vec<(String, Timestamp)> {
    let mut first: BTreeMap<String, Timestamp> = BTreeMap::new();
    for (_, t) in transcripts {
        for l in &t.lines {
            if let Event::Milestone { name, .. } = &l.event {
                first
                    .entry(name.to_string())
                    .and_modify(|ts| *ts = (*ts).min(l.ts))
                    .or_insert(l.ts);
            }
        }
    }
    let mut v: Vec<_> = first.into_iter().collect();
    v.sort_by_key(|(_, ts)| *ts);
    v
}

fn mode_name(mode: crate::transcript::Mode) -> &'static str {
    match mode {
        crate::transcript::Mode::Live => "live",
        crate::transcript::Mode::Check => "check",
        crate::transcript::Mode::DryRun => "dry run",
    }
}

fn fmt_ts(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

fn ms_between(a: Timestamp, b: Timestamp) -> u64 {
    u64::try_from(b.as_millisecond() - a.as_millisecond()).unwrap_or(0)
}

fn join<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    if v.is_empty() {
        "unknown".into()
    } else {
        v.join(", ")
    }
}

/// Text made safe for one table cell: one line, no pipes or backticks, bounded length.
fn cell(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&one_line.replace('|', "\\|").replace('`', "'"), CELL_MAX)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::transcript::{Mode, Stream, line};

    /// A hand-built transcript: events at `start + offset seconds`, chained as the writer would.
    pub(crate) fn transcript(
        path: &str,
        start: &str,
        events: Vec<(i64, Event)>,
    ) -> (PathBuf, Transcript) {
        let start: Timestamp = start.parse().unwrap();
        let lines = events
            .into_iter()
            .enumerate()
            .map(|(i, (secs, event))| Line {
                seq: i as u64 + 1,
                ts: start + jiff::SignedDuration::from_secs(secs),
                prev: line::GENESIS_PREV.into(),
                event,
            })
            .collect();
        (
            PathBuf::from(path),
            Transcript {
                path: PathBuf::from(path),
                lines,
                torn_tail: false,
                sha256: "5".repeat(64),
            },
        )
    }

    fn run_started(runbook: &str, operator: &str, id: &str) -> Event {
        Event::RunStarted {
            schema_version: 1,
            run_id: id.repeat(32),
            runbook: runbook.into(),
            source: format!("runbooks/{runbook}.yaml"),
            sha256: "a".repeat(64),
            mode: Mode::Live,
            params: BTreeMap::new(),
            operator: operator.into(),
            host: "db1".into(),
            rb_version: "0.1.0".into(),
            started_at: "2026-11-24T23:00:00.000Z".into(),
        }
    }

    fn started(step: &str, index: usize, kind: &str, command: Option<&str>, attempt: u32) -> Event {
        Event::StepStarted {
            step: step.into(),
            index,
            kind: kind.parse().unwrap(),
            title: None,
            command: command.map(Into::into),
            attempt,
            // The fixtures' diagnosis step is called `check`: it changes nothing.
            read_only: step == "check",
        }
    }

    fn finished(
        step: &str,
        status: StepStatus,
        code: Option<i32>,
        ms: u64,
        reason: Option<&str>,
    ) -> Event {
        Event::StepFinished {
            step: step.into(),
            status,
            exit_code: code,
            duration_ms: ms,
            reason: reason.map(Into::into),
        }
    }

    pub(crate) fn disk_full_run() -> (PathBuf, Transcript) {
        transcript(
            "/var/lib/rb/20261124T230000Z-disk-full-11111111.jsonl",
            "2026-11-24T23:00:00Z",
            vec![
                (0, run_started("disk-full", "ana", "1")),
                (
                    0,
                    Event::Milestone {
                        name: crate::domain::Milestone::Detected,
                        by: "ana".into(),
                        step: None,
                    },
                ),
                (1, started("check", 0, "command", Some("df -h /var"), 1)),
                (
                    1,
                    Event::output(
                        "check",
                        Stream::Stdout,
                        b"Filesystem Size Used Avail Use%\n/dev/sda1 100G 99G 1G 99% /var\n",
                    ),
                ),
                (
                    2,
                    finished("check", StepStatus::Succeeded, Some(0), 800, None),
                ),
                (
                    3,
                    started(
                        "rotate",
                        1,
                        "command",
                        Some("logrotate -f /etc/logrotate.conf"),
                        1,
                    ),
                ),
                (
                    4,
                    Event::output(
                        "rotate",
                        Stream::Stderr,
                        b"error: skipping /var/log/app.log\nerror: permission denied\n",
                    ),
                ),
                (
                    5,
                    finished(
                        "rotate",
                        StepStatus::Failed,
                        Some(1),
                        2100,
                        Some("exit code 1"),
                    ),
                ),
                (
                    5,
                    Event::Retry {
                        step: "rotate".into(),
                        attempt: 2,
                        delay_ms: 5000,
                        reason: "exit code 1".into(),
                    },
                ),
                (
                    10,
                    started(
                        "rotate",
                        1,
                        "command",
                        Some("logrotate -f /etc/logrotate.conf"),
                        2,
                    ),
                ),
                (
                    12,
                    finished("rotate", StepStatus::Succeeded, Some(0), 1900, None),
                ),
                (
                    13,
                    Event::Note {
                        by: "ana".into(),
                        text: "app logs grew 40 GB since the 22:00 deploy: debug logging left on?"
                            .into(),
                        step: None,
                    },
                ),
                (
                    14,
                    Event::Prompt {
                        step: Some("vacuum".into()),
                        question: "Vacuum the journal?".into(),
                        choices: vec![crate::domain::Choice::Run, crate::domain::Choice::Skip],
                    },
                ),
                (
                    20,
                    Event::Decision {
                        step: Some("vacuum".into()),
                        by: "ana".into(),
                        choice: crate::domain::Choice::Skip,
                        text: None,
                    },
                ),
                (
                    20,
                    finished(
                        "vacuum",
                        StepStatus::Skipped,
                        None,
                        0,
                        Some("skipped by the operator"),
                    ),
                ),
                (
                    21,
                    Event::Message {
                        step: "tell".into(),
                        text: "Post in #ops: /var is back under 80%".into(),
                    },
                ),
                (
                    21,
                    Event::Milestone {
                        name: crate::domain::Milestone::Mitigated,
                        by: "rb".into(),
                        step: Some("rotate".into()),
                    },
                ),
                (
                    25,
                    Event::RunFinished {
                        outcome: RunOutcome::Finished,
                        duration_ms: 25_000,
                    },
                ),
            ],
        )
    }

    #[test]
    fn postmortem_of_a_run_with_a_failure_retry_skip_note_and_message() {
        insta::assert_snapshot!(postmortem_markdown(&[disk_full_run()]));
    }

    #[test]
    fn json_facts_are_the_facts_of_the_markdown() {
        let f = facts(&[disk_full_run()]);
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["version"], FACTS_VERSION);
        assert_eq!(v["started"], "2026-11-24T23:00:00.000Z");
        assert_eq!(v["duration_ms"], 25_000);
        assert_eq!(v["runs"][0]["outcome"], "finished");
        assert_eq!(v["runs"][0]["mode"], "live");
        assert_eq!(v["time_to_mitigate"]["ms"], 21_000);
        assert_eq!(v["time_to_mitigate"]["from"], "detection");
        assert_eq!(v["operators"], serde_json::json!(["ana"]));
        let milestone = v["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["milestone"] == true)
            .unwrap();
        assert_eq!(milestone["what"], "Marked detected");
        assert_eq!(milestone["seq"], 2);
        assert_eq!(v["retries"][0]["step"], "rotate");
        assert_eq!(v["attempts"][1]["status"], "failed");
        assert_eq!(
            v["attempts"][1]["last_lines"][1],
            "error: permission denied"
        );
        assert_eq!(v["notes"][0]["by"], "ana");
        // The Markdown is a rendering of the same value.
        assert_eq!(render_markdown(&f), postmortem_markdown(&[disk_full_run()]));
    }

    #[test]
    fn postmortem_of_two_transcripts_merged_by_time() {
        let second = transcript(
            "/home/bo/.local/state/rb/transcripts/20261124T230700Z-restart-app-22222222.jsonl",
            "2026-11-24T23:00:07Z",
            vec![
                (0, run_started("restart-app", "bo", "2")),
                (
                    1,
                    started("restart", 0, "command", Some("systemctl restart app"), 1),
                ),
                (
                    100,
                    finished(
                        "restart",
                        StepStatus::TimedOut,
                        None,
                        99_000,
                        Some("timeout 90s"),
                    ),
                ),
                (
                    101,
                    Event::Milestone {
                        name: crate::domain::Milestone::Resolved,
                        by: "bo".into(),
                        step: None,
                    },
                ),
                (
                    102,
                    Event::RunFinished {
                        outcome: RunOutcome::Failed,
                        duration_ms: 102_000,
                    },
                ),
            ],
        );
        insta::assert_snapshot!(postmortem_markdown(&[disk_full_run(), second]));
    }
}
