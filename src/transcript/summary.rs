//! One summary of a transcript: what ran, when, by whom, and how it ended. `rb transcripts`, the
//! post-mortem and `rb resume` all read a transcript's headline facts from here, so they agree.

use std::collections::BTreeSet;
use std::path::PathBuf;

use jiff::Timestamp;

use super::event::Event;
use super::reader::Transcript;
use crate::domain::{Mode, RunOutcome};

/// The headline facts of one transcript. Fields from `run_started` are `None` when the first line
/// is not `run_started` (a damaged file).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Where the transcript was read from.
    pub path: PathBuf,
    pub runbook: Option<String>,
    /// Where the runbook was loaded from (`<built-in>/NAME.yaml` for a built-in one).
    pub source: Option<String>,
    /// Hex SHA-256 of the runbook file the run used.
    pub runbook_sha256: Option<String>,
    pub mode: Option<Mode>,
    pub run_id: Option<String>,
    /// Who started the run.
    pub operator: Option<String>,
    pub host: Option<String>,
    /// When the run started: `started_at` of `run_started`, else the first line's time.
    pub started: Option<Timestamp>,
    /// The time of the first and the last line.
    pub first_event: Option<Timestamp>,
    pub last_event: Option<Timestamp>,
    /// From `run_finished`; `None` while the run is in progress or after rb was killed.
    pub outcome: Option<RunOutcome>,
    /// From `run_finished`; for a run that did not finish, from the first line to the last (the
    /// run lasted at least this long).
    pub duration_ms: Option<u64>,
    /// The operator who started the run and everyone who answered, noted or marked something in
    /// it (never rb itself), sorted.
    pub operators: BTreeSet<String>,
    /// Complete lines read.
    pub lines: usize,
    /// True when the file ended with a torn line (left out).
    pub torn_tail: bool,
}

impl Summary {
    /// The summary of `t`.
    pub fn of(t: &Transcript) -> Summary {
        let mut s = Summary {
            path: t.path.clone(),
            runbook: None,
            source: None,
            runbook_sha256: None,
            mode: None,
            run_id: None,
            operator: None,
            host: None,
            started: None,
            first_event: t.lines.first().map(|l| l.ts),
            last_event: t.lines.last().map(|l| l.ts),
            outcome: None,
            duration_ms: None,
            operators: BTreeSet::new(),
            lines: t.lines.len(),
            torn_tail: t.torn_tail,
        };
        if let Some(Event::RunStarted {
            runbook,
            source,
            sha256,
            mode,
            run_id,
            operator,
            host,
            started_at,
            ..
        }) = t.run_started().map(|l| &l.event)
        {
            s.runbook = Some(runbook.clone());
            s.source = Some(source.clone());
            s.runbook_sha256 = Some(sha256.clone());
            s.mode = Some(*mode);
            s.run_id = Some(run_id.clone());
            s.operator = Some(operator.clone());
            s.host = Some(host.clone());
            s.started = started_at.parse().ok();
            s.operators.insert(operator.clone());
        }
        s.started = s.started.or(s.first_event);
        for e in t.events() {
            if let Event::Decision { by, .. } | Event::Note { by, .. } | Event::Milestone { by, .. } =
                e
                && !by.is_rb()
            {
                s.operators.insert(by.to_string());
            }
        }
        match t.run_finished().map(|l| &l.event) {
            Some(Event::RunFinished {
                outcome,
                duration_ms,
                ..
            }) => {
                s.outcome = Some(*outcome);
                s.duration_ms = Some(*duration_ms);
            }
            _ => s.duration_ms = s.span_ms(),
        }
        s
    }

    /// True when the run ended normally (there is a `run_finished`), whatever its outcome.
    pub fn finished(&self) -> bool {
        self.outcome.is_some()
    }

    /// True for a run that started but has no `run_finished`: rb is still running it, or rb was
    /// killed (what `rb resume` and `rb note` look for).
    pub fn in_progress_or_interrupted(&self) -> bool {
        self.runbook.is_some() && !self.finished()
    }

    /// From the first line to the last, in milliseconds.
    pub fn span_ms(&self) -> Option<u64> {
        let (a, b) = self.first_event.zip(self.last_event)?;
        u64::try_from(b.as_millisecond() - a.as_millisecond()).ok()
    }

    /// The outcome in words, for people: `failed`, or `in progress / interrupted`.
    pub fn outcome_phrase(&self) -> String {
        outcome_phrase(self.outcome)
    }
}

/// An outcome in words, `None` being a run without `run_finished` (see [`Summary::outcome`]).
pub fn outcome_phrase(outcome: Option<RunOutcome>) -> String {
    match outcome {
        Some(o) => o.to_string(),
        None => "in progress / interrupted".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Actor, Milestone};
    use crate::transcript::Line;

    fn line(seq: u64, secs: i64, event: Event) -> Line {
        Line {
            seq,
            ts: "2026-11-24T23:00:00Z".parse::<Timestamp>().unwrap()
                + jiff::SignedDuration::from_secs(secs),
            prev: crate::transcript::line::GENESIS_PREV.into(),
            event,
        }
    }

    fn started() -> Event {
        Event::RunStarted {
            schema_version: 1,
            run_id: "1".repeat(32),
            runbook: "disk-full".into(),
            source: "runbooks/disk-full.yaml".into(),
            sha256: "a".repeat(64),
            mode: Mode::Live,
            params: Default::default(),
            operator: "ana".into(),
            host: "db1".into(),
            rb_version: "0.1.0".into(),
            started_at: "2026-11-24T22:59:59.000Z".into(),
            targets: Vec::new(),
        }
    }

    fn transcript(lines: Vec<Line>) -> Transcript {
        Transcript {
            path: "t.jsonl".into(),
            lines,
            torn_tail: false,
            sha256: String::new(),
        }
    }

    #[test]
    fn a_finished_run_takes_its_duration_from_run_finished() {
        let t = transcript(vec![
            line(1, 0, started()),
            line(
                2,
                5,
                Event::Milestone {
                    name: Milestone::Resolved,
                    by: Actor::operator("bo"),
                    step: None,
                    at: None,
                },
            ),
            line(3, 9, Event::run_finished(RunOutcome::Failed, 10_000)),
        ]);
        let s = Summary::of(&t);
        assert!(s.finished());
        assert!(!s.in_progress_or_interrupted());
        assert_eq!(s.outcome, Some(RunOutcome::Failed));
        assert_eq!(s.duration_ms, Some(10_000));
        assert_eq!(s.span_ms(), Some(9_000));
        assert_eq!(
            s.started,
            Some("2026-11-24T22:59:59Z".parse().unwrap()),
            "`started_at` wins over the first line's time"
        );
        let ops: Vec<&str> = s.operators.iter().map(String::as_str).collect();
        assert_eq!(ops, ["ana", "bo"]);
        assert_eq!(s.outcome_phrase(), "failed");
    }

    #[test]
    fn an_unfinished_run_lasts_up_to_its_last_line_and_rb_is_no_operator() {
        let t = transcript(vec![
            line(1, 0, started()),
            line(
                2,
                7,
                Event::Note {
                    by: Actor::Rb,
                    text: "run resumed".into(),
                    step: None,
                    kind: crate::transcript::NoteKind::Plain,
                },
            ),
        ]);
        let s = Summary::of(&t);
        assert!(!s.finished());
        assert!(s.in_progress_or_interrupted());
        assert_eq!(s.duration_ms, Some(7_000));
        assert_eq!(s.outcome_phrase(), "in progress / interrupted");
        assert_eq!(s.operators.len(), 1);
        assert_eq!(s.runbook.as_deref(), Some("disk-full"));
        assert_eq!(s.source.as_deref(), Some("runbooks/disk-full.yaml"));
    }

    #[test]
    fn a_file_without_run_started_has_no_run_facts() {
        let t = transcript(vec![line(
            1,
            0,
            Event::Interrupted {
                step: None,
                what: "SIGINT".into(),
            },
        )]);
        let s = Summary::of(&t);
        assert_eq!(s.runbook, None);
        assert!(!s.in_progress_or_interrupted());
        assert_eq!(s.started, s.first_event);
    }
}
