//! Tests of the post-mortem: hand-built transcripts, their facts, and snapshots of the draft.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;

use super::*;
use crate::domain::{Choice, Milestone};
use crate::transcript::{Event, Line, Mode, NoteKind, RunOutcome, StepStatus, Stream, line};

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

pub(crate) fn milestone(name: Milestone, by: &str, step: Option<&str>) -> Event {
    Event::Milestone {
        name,
        by: by.into(),
        step: step.map(Into::into),
        at: None,
    }
}

pub(crate) fn note(by: &str, text: &str) -> Event {
    Event::Note {
        by: by.into(),
        text: text.into(),
        step: None,
        kind: NoteKind::Plain,
    }
}

pub(crate) fn decision(step: &str, by: &str, choice: Choice, text: Option<&str>) -> Event {
    Event::Decision {
        step: Some(step.into()),
        by: by.into(),
        choice,
        text: text.map(Into::into),
    }
}

pub(crate) fn run_finished(outcome: RunOutcome, duration_ms: u64) -> Event {
    Event::RunFinished {
        outcome,
        duration_ms,
    }
}

pub(crate) fn disk_full_run() -> (PathBuf, Transcript) {
    const ROTATE: Option<&str> = Some("logrotate -f /etc/logrotate.conf");
    let df = b"Filesystem Size Used Avail Use%\n/dev/sda1 100G 99G 1G 99% /var\n";
    let denied = b"error: skipping /var/log/app.log\nerror: permission denied\n";
    let hypothesis = "app logs grew 40 GB since the 22:00 deploy: debug logging left on?";
    let prompt = Event::Prompt {
        step: Some("vacuum".into()),
        question: "Vacuum the journal?".into(),
        choices: vec![Choice::Run, Choice::Skip],
    };
    let message = Event::Message {
        step: "tell".into(),
        text: "Post in #ops: /var is back under 80%".into(),
    };
    let retry = Event::Retry {
        step: "rotate".into(),
        attempt: 2,
        delay_ms: 5000,
        reason: "exit code 1".into(),
    };
    use StepStatus::{Failed, Skipped, Succeeded};
    let skipped = Some("skipped by the operator");
    transcript(
        "/var/lib/rb/20261124T230000Z-disk-full-11111111.jsonl",
        "2026-11-24T23:00:00Z",
        vec![
            (0, run_started("disk-full", "ana", "1")),
            (0, milestone(Milestone::Detected, "ana", None)),
            (1, started("check", 0, "command", Some("df -h /var"), 1)),
            (1, Event::output("check", Stream::Stdout, df)),
            (2, finished("check", Succeeded, Some(0), 800, None)),
            (3, started("rotate", 1, "command", ROTATE, 1)),
            (4, Event::output("rotate", Stream::Stderr, denied)),
            (
                5,
                finished("rotate", Failed, Some(1), 2100, Some("exit code 1")),
            ),
            (5, retry),
            (10, started("rotate", 1, "command", ROTATE, 2)),
            (12, finished("rotate", Succeeded, Some(0), 1900, None)),
            (13, note("ana", hypothesis)),
            (14, prompt),
            (20, decision("vacuum", "ana", Choice::Skip, None)),
            (20, finished("vacuum", Skipped, None, 0, skipped)),
            (21, message),
            (21, milestone(Milestone::Mitigated, "rb", Some("rotate"))),
            (25, run_finished(RunOutcome::Finished, 25_000)),
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
            (101, milestone(Milestone::Resolved, "bo", None)),
            (102, run_finished(RunOutcome::Failed, 102_000)),
        ],
    );
    insta::assert_snapshot!(postmortem_markdown(&[disk_full_run(), second]));
}
