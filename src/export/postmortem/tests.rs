//! Tests of the post-mortem: hand-built transcripts, their facts, and snapshots of the draft.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;

use super::*;
use crate::domain::{Actor, Choice, DeliveryStatus, MessagePurpose, Milestone};
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
        targets: Vec::new(),
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
    Event::run_finished(outcome, duration_ms)
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
        .find(|r| r["kind"] == "milestone")
        .unwrap();
    assert_eq!(milestone["what"], "Detected");
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

fn second_run() -> (PathBuf, Transcript) {
    transcript(
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
    )
}

#[test]
fn postmortem_of_two_transcripts_merged_by_time() {
    let second = second_run();
    insta::assert_snapshot!(postmortem_markdown(&[disk_full_run(), second]));
}

fn kind_note(by: &str, kind: NoteKind, text: &str) -> Event {
    Event::Note {
        by: by.into(),
        text: text.into(),
        step: None,
        kind,
    }
}

fn watch_check(check: u32) -> Event {
    Event::StepStarted {
        step: "usage".into(),
        index: 3,
        kind: crate::domain::StepKind::Watch,
        title: Some("Disk usage of /var".into()),
        command: Some("df --output=pcent /var | tail -1".into()),
        attempt: check,
        read_only: true,
    }
}

/// The 20 checks of the story's watch, 10 s apart from 30 s on, a breach at the third.
fn watch_of_20_checks() -> Vec<(i64, Event)> {
    let mut ev = Vec::new();
    let values = [
        "97%", "96%", "97%", "91%", "88%", "85%", "81%", "79%", "77%", "75%", "74%", "72%", "71%",
        "70%", "70%", "69%", "69%", "68%", "68%", "68%",
    ];
    for (i, v) in values.iter().enumerate() {
        let t = 30 + 10 * i as i64;
        ev.push((t, watch_check(i as u32 + 1)));
        ev.push((
            t,
            Event::output("usage", Stream::Stdout, format!("{v}\n").as_bytes()),
        ));
        if i == 2 {
            ev.push((
                t,
                Event::Note {
                    by: Actor::Rb,
                    text: "watch breach: `value < 90` does not hold, latest: 97%".into(),
                    step: Some("usage".into()),
                    kind: NoteKind::Plain,
                },
            ));
        }
    }
    ev
}

/// A run with everything a commander's draft shows: a detection backdated 10 minutes, a step
/// retried after a failure, notes of each kind (and one by rb), a `details` key press, a
/// message, and a 20-sample watch with a breach.
pub(crate) fn story_run() -> (PathBuf, Transcript) {
    let mut ev: Vec<(i64, Event)> = vec![
        (0, run_started("disk-full", "ana", "3")),
        (5, {
            let mut m = milestone(Milestone::Detected, "ana", None);
            if let Event::Milestone { at, .. } = &mut m {
                *at = Some("2026-11-24T02:50:00.000Z".into());
            }
            m
        }),
        (10, started("check", 0, "command", Some("df -h /var"), 1)),
        (
            11,
            finished("check", StepStatus::Succeeded, Some(0), 900, None),
        ),
        (12, decision("rotate", "ana", Choice::Show, None)),
        (
            13,
            started(
                "rotate",
                1,
                "command",
                Some("logrotate -f /etc/logrotate.conf"),
                1,
            ),
        ),
        (
            14,
            Event::output("rotate", Stream::Stderr, b"error: permission denied\n"),
        ),
        (
            15,
            finished(
                "rotate",
                StepStatus::Failed,
                Some(1),
                2000,
                Some("exit code 1"),
            ),
        ),
        (
            15,
            Event::Retry {
                step: "rotate".into(),
                attempt: 2,
                delay_ms: 5000,
                reason: "exit code 1".into(),
            },
        ),
        (
            20,
            started(
                "rotate",
                1,
                "command",
                Some("logrotate -f /etc/logrotate.conf"),
                2,
            ),
        ),
        (
            22,
            finished("rotate", StepStatus::Succeeded, Some(0), 2000, None),
        ),
        (
            23,
            kind_note(
                "ana",
                NoteKind::Hypothesis,
                "debug logging left on by the 02:00 deploy",
            ),
        ),
        (
            24,
            kind_note("bo", NoteKind::Action, "alert on /var at 80%, not 95%"),
        ),
        (
            25,
            kind_note(
                "ana",
                NoteKind::Comms,
                "told #support: uploads fail, fix under way",
            ),
        ),
        (26, note("ana", "the disk graph flattened")),
        (
            27,
            kind_note("rb", NoteKind::Hypothesis, "run resumed at step `tell`"),
        ),
        (
            28,
            Event::Message {
                step: "tell".into(),
                text: "Post in #ops: /var | cleaned, watching usage".into(),
            },
        ),
        (29, finished("tell", StepStatus::Succeeded, None, 0, None)),
    ];
    ev.extend(watch_of_20_checks());
    ev.push((
        221,
        finished(
            "usage",
            StepStatus::Succeeded,
            Some(0),
            191_000,
            Some("held for 2 min 0 s"),
        ),
    ));
    ev.push((221, milestone(Milestone::Mitigated, "rb", Some("usage"))));
    ev.push((240, milestone(Milestone::Resolved, "ana", None)));
    ev.push((241, run_finished(RunOutcome::Finished, 241_000)));
    transcript(
        "/var/lib/rb/20261124T030000Z-disk-full-33333333.jsonl",
        "2026-11-24T03:00:00Z",
        ev,
    )
}

#[test]
fn postmortem_of_a_run_with_a_watch_a_retry_notes_of_each_kind_a_backdated_detection_and_a_message()
{
    let md = postmortem_markdown(&[story_run()]);
    insta::assert_snapshot!(md);
}

#[test]
fn the_story_is_told_from_the_facts() {
    let f = facts(&[story_run()]);
    // Detection was backdated 10 minutes: the incident starts then, and times count from it.
    assert_eq!(f.started, Some("2026-11-24T02:50:00Z".parse().unwrap()));
    assert_eq!(f.duration_ms, Some(841_000));
    assert_eq!(f.time_to_mitigate.as_ref().unwrap().ms, 821_000);
    assert_eq!(f.status, "resolved");
    // One row per step; the watch's 20 checks and its breach are one row; `details` is no row.
    let rows: Vec<String> = f.timeline.iter().map(|r| r.what.plain()).collect();
    assert_eq!(
        rows.iter().filter(|r| r.contains("rotate")).count(),
        1,
        "{rows:#?}"
    );
    assert!(rows.iter().all(|r| !r.contains("details")), "{rows:#?}");
    let watch = &f.watches[0];
    assert_eq!(watch.samples.len(), 20);
    assert_eq!(watch.breaches.len(), 1);
    assert!(watch.numeric());
    assert!(rows.contains(&"Watch usage (Disk usage of /var): 20 checks, value 97% then 68%, 1 breach; succeeded: held for 2 min 0 s".to_string()), "{rows:#?}");
    // rb's own note never poses as a hypothesis.
    let hypotheses: Vec<&str> = f
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::Hypothesis)
        .map(|n| n.text.as_str())
        .collect();
    assert_eq!(hypotheses, ["debug logging left on by the 02:00 deploy"]);
    // The JSON is plain data: no Markdown escapes or code spans.
    let json = serde_json::to_string(&f).unwrap();
    assert!(json.contains("Post in #ops: /var | cleaned"), "{json}");
    assert!(!json.contains(r#"\\|"#), "{json}");
    let md = render_markdown(&f);
    assert!(
        md.contains("/var \\| cleaned"),
        "the Markdown escapes the pipe in a table"
    );
}

/// A long incident: 20,000 checks of a watch (every other one a breach), 10,000 steps, 10,000
/// notes and 10,000 `details` key presses: 100,000 events.
fn huge_run() -> (PathBuf, Transcript) {
    let mut ev: Vec<(i64, Event)> = vec![(0, run_started("disk-full", "ana", "4"))];
    ev.push((1, milestone(Milestone::Detected, "ana", None)));
    let mut t = 2;
    for i in 0..10_000 {
        let step = format!("step-{i}");
        ev.push((t, started(&step, i, "command", Some("true"), 1)));
        ev.push((t, Event::output(&step, Stream::Stdout, b"ok\n")));
        ev.push((t, finished(&step, StepStatus::Succeeded, Some(0), 10, None)));
        ev.push((t, decision(&step, "ana", Choice::Show, None)));
        ev.push((t, note("ana", &format!("looked at {step}"))));
        t += 1;
    }
    ev.push((t, milestone(Milestone::Mitigated, "ana", None)));
    for i in 0..20_000u32 {
        ev.push((t, watch_check(i + 1)));
        ev.push((
            t,
            Event::output(
                "usage",
                Stream::Stdout,
                format!("{}%\n", 50 + i % 40).as_bytes(),
            ),
        ));
        if i % 2 == 0 {
            let text = "watch breach: `value < 60` does not hold, latest: 80%".to_string();
            ev.push((
                t,
                Event::Note {
                    by: Actor::Rb,
                    text,
                    step: Some("usage".into()),
                    kind: NoteKind::Plain,
                },
            ));
        }
        t += 2;
    }
    ev.push((
        t,
        finished(
            "usage",
            StepStatus::Failed,
            None,
            20_000_000,
            Some("did not hold"),
        ),
    ));
    ev.push((t, milestone(Milestone::Resolved, "ana", None)));
    ev.push((t + 1, run_finished(RunOutcome::Finished, 1_000)));
    transcript("/tmp/huge.jsonl", "2026-11-24T03:00:00Z", ev)
}

#[test]
fn the_timeline_keeps_its_row_budget_for_a_100000_event_transcript() {
    let huge = huge_run();
    assert!(huge.1.lines.len() >= 100_000, "{}", huge.1.lines.len());
    let f = facts(&[huge]);
    let md = render_markdown(&f);
    let timeline = md
        .split("## Timeline")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let rows: Vec<&str> = timeline
        .lines()
        .filter(|l| l.starts_with("| "))
        .skip(1)
        .collect();
    assert!(
        rows.len() <= ROW_BUDGET,
        "{} rows:\n{}",
        rows.len(),
        rows.join("\n")
    );
    assert!(
        rows.len() >= ROW_BUDGET - 5,
        "the budget is used: {}",
        rows.len()
    );
    // What matters is never left out: milestones, the failed watch, the start and the end.
    for must in [
        "**Detected**",
        "**Mitigated**",
        "**Resolved**",
        "Watch `usage`",
        "Run ended",
        "Started runbook",
    ] {
        assert!(timeline.contains(must), "{must} missing:\n{timeline}");
    }
    assert!(
        timeline.contains("more rows (routine steps and notes)"),
        "{timeline}"
    );
    // The whole draft stays short; the JSON keeps every row.
    assert!(md.lines().count() < 400, "{} lines", md.lines().count());
    assert!(f.timeline.len() > 10_000);
    assert_eq!(f.watches[0].samples.len(), 20_000);
    // The chart of 20,000 values shows at most 60 points.
    let chart = md
        .split("xychart-beta")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let line = chart
        .lines()
        .find(|l| l.trim_start().starts_with("line ["))
        .unwrap();
    assert_eq!(line.matches(',').count() + 1, 60);
    // A failed watch is no success, whatever `run_finished` says.
    assert!(
        f.runs[0]
            .honest_outcome()
            .starts_with("finished, but watch usage failed"),
        "{}",
        f.runs[0].honest_outcome()
    );
}

/// Renders every Mermaid block of `md` with mermaid-cli and Chromium; the error when one fails.
fn render_mermaid(md: &str) -> Result<usize, String> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("pm.md");
    std::fs::write(&input, md).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mermaid/render.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(&input)
        .arg(dir.path().join("out.md"))
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let svgs = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    Ok(svgs)
}

#[test]
fn the_mermaid_charts_render_with_mermaid_cli() {
    let md = postmortem_markdown(&[story_run(), second_run()]);
    let blocks = md.matches("```mermaid").count();
    assert_eq!(blocks, 2, "a gantt chart and the watch's chart");
    assert_eq!(render_mermaid(&md), Ok(blocks));
    // The renderer does catch a broken chart.
    let broken = "```mermaid\nxychart-beta\n    line [1, 2,, oops\n```\n";
    assert!(render_mermaid(broken).is_err());
}

fn posted(
    step: Option<&str>,
    purpose: MessagePurpose,
    status: DeliveryStatus,
    http: Option<u16>,
    attempts: u32,
    error: Option<&str>,
    text: Option<&str>,
) -> Event {
    Event::MessagePosted {
        step: step.map(Into::into),
        purpose,
        status,
        http_status: http,
        attempts,
        error: error.map(Into::into),
        text: text.map(Into::into),
    }
}

/// A live run with a webhook: a message step posted, another copied by hand, an update that
/// failed and one skipped, and the resolution posted.
fn webhook_run() -> (PathBuf, Transcript) {
    use DeliveryStatus::{Copied, Failed, Posted, Skipped};
    use MessagePurpose::{Resolution, Step, Update};
    let message = |step: &str, text: &str| Event::Message {
        step: step.into(),
        text: text.into(),
    };
    let update = "Update on \"Disk full\": 5m in. Now at step 2 of 3: vacuum.";
    transcript(
        "/var/lib/rb/webhook.jsonl",
        "2026-11-24T23:00:00Z",
        vec![
            (0, run_started("disk-full", "ana", "7")),
            (1, started("tell", 0, "message", None, 1)),
            (1, message("tell", "Investigating /var on db1")),
            (
                2,
                posted(Some("tell"), Step, Posted, Some(200), 1, None, None),
            ),
            (2, finished("tell", StepStatus::Succeeded, None, 0, None)),
            (
                300,
                posted(
                    Some("vacuum"),
                    Update,
                    Failed,
                    Some(503),
                    3,
                    Some("HTTP 503 Service Unavailable"),
                    Some(update),
                ),
            ),
            (
                600,
                posted(Some("vacuum"), Update, Skipped, None, 0, None, Some(update)),
            ),
            (610, started("all-clear", 2, "message", None, 1)),
            (610, message("all-clear", "/var is back under 80%")),
            (
                615,
                posted(Some("all-clear"), Step, Copied, None, 0, None, None),
            ),
            (
                615,
                finished("all-clear", StepStatus::Succeeded, None, 0, None),
            ),
            (620, milestone(Milestone::Resolved, "ana", None)),
            (
                621,
                posted(
                    None,
                    Resolution,
                    Posted,
                    Some(204),
                    2,
                    None,
                    Some("Resolved: \"Disk full\". 10m from the start of the run to resolution."),
                ),
            ),
            (622, run_finished(RunOutcome::Finished, 622_000)),
        ],
    )
}

#[test]
fn messages_show_what_became_of_each_updates_and_the_resolution_included() {
    let f = facts(&[webhook_run()]);
    #[allow(clippy::type_complexity)]
    let m: Vec<(
        MessagePurpose,
        Option<&str>,
        Option<DeliveryStatus>,
        u64,
        u64,
    )> = f
        .messages
        .iter()
        .map(|m| (m.purpose, m.step.as_deref(), m.status, m.first_seq, m.seq))
        .collect();
    assert_eq!(
        m,
        [
            (
                MessagePurpose::Step,
                Some("tell"),
                Some(DeliveryStatus::Posted),
                3,
                4
            ),
            (
                MessagePurpose::Update,
                Some("vacuum"),
                Some(DeliveryStatus::Failed),
                6,
                6
            ),
            (
                MessagePurpose::Update,
                Some("vacuum"),
                Some(DeliveryStatus::Skipped),
                7,
                7
            ),
            (
                MessagePurpose::Step,
                Some("all-clear"),
                Some(DeliveryStatus::Copied),
                9,
                10
            ),
            (
                MessagePurpose::Resolution,
                None,
                Some(DeliveryStatus::Posted),
                13,
                13
            ),
        ]
    );
    assert_eq!(
        f.messages[0].delivery,
        "posted at 2026-11-24 23:00:02 (1 attempt, HTTP 200)"
    );
    assert!(
        f.messages[1]
            .delivery
            .contains("HTTP 503 Service Unavailable (3 attempts")
    );
    assert!(f.messages[4].text.starts_with("Resolved:"));
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(json["messages"][1]["status"], "failed");
    assert_eq!(json["messages"][1]["http_status"], 503);
    let rows: Vec<String> = f
        .timeline
        .iter()
        .filter(|r| r.kind == RowKind::Message)
        .map(|r| r.what.plain())
        .collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(
        rows[4].starts_with("Resolution message: Resolved:"),
        "{rows:?}"
    );
    let md = render_markdown(&f);
    assert!(!md.contains("no message went to a webhook"), "{md}");
    insta::assert_snapshot!(md);
}

#[test]
fn a_run_without_a_webhook_says_its_messages_were_shown_for_copy_paste() {
    let md = postmortem_markdown(&[disk_full_run()]);
    assert!(md.contains("T1: no message went to a webhook"), "{md}");
    assert!(md.contains("Post in #ops: /var is back under 80% — shown for copy-paste ("));
}
