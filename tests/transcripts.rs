//! The transcript-facing commands through the real binary: `rb postmortem` on real runs,
//! `rb note` and `rb mark` (also racing a running rb), `rb transcripts` (list and verify),
//! `rb export --cast`. Each test has its own `XDG_STATE_HOME`, and every transcript a test
//! produces is checked against the published schema.

mod common;

use std::path::Path;
use std::time::Duration;

use common::binary::{Rb, Sandbox};
use common::{checked_transcript, wait_exit, wait_for};
use rb::transcript::Event;

/// Every line of the transcript at `path` matches the published schema and the chain holds;
/// returns its events.
fn schema_checked(path: &Path) -> Vec<Event> {
    checked_transcript(path)
        .lines
        .into_iter()
        .map(|l| l.event)
        .collect()
}

/// A runbook with a failure, an automatic retry that succeeds (flag file), a step skipped by
/// `when:`, a message and a `marks: mitigated`. Each step prints at most one line per stream,
/// in one write, so the transcript's line numbers do not depend on how output is chunked.
const INCIDENT: &str = r#"version: 1
name: cache-down
title: The cache is down
steps:
  - id: look
    title: Look at the cache
    run: echo cache has 0 keys
    read_only: true
  - id: flush
    run: if [ -e flag ]; then echo flushed; else touch flag; echo connection refused >&2; exit 3; fi
    retry: {attempts: 2, delay: 100ms}
    marks: mitigated
  - id: warm
    run: echo warming
    when: "false"
  - id: tell
    kind: message
    text: "Post in #ops: the cache is back"
  - id: verify
    run: echo 12 keys, expected 1000; exit 4
"#;

const RESTART: &str = r#"version: 1
name: restart-app
title: Restart the app
steps:
  - id: restart
    run: echo restarted
"#;

/// Replaces what changes from run to run (times, durations, hashes, ids, host).
fn filters() -> Vec<(String, String)> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    vec![
        (
            r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?Z?".into(),
            "[TIME]".into(),
        ),
        (r"\(\d{4}-\d{2}-\d{2}\)".into(), "([DATE])".into()),
        (
            r"\d+ h \d+ min|\d+ min \d+ s|\d+\.\d s|\d+ ms".into(),
            "[DURATION]".into(),
        ),
        (r"\b[0-9a-f]{64}\b".into(), "[SHA256]".into()),
        (r"\b[0-9a-f]{32}\b".into(), "[RUN_ID]".into()),
        (format!(r"\b{}\b", regex::escape(&host)), "[HOST]".into()),
    ]
}

#[test]
fn postmortem_of_a_real_run_with_a_failure_retry_skip_message_note_and_milestones() {
    let d = Sandbox::new();
    d.write("cache-down.yaml", INCIDENT);
    let out = d.run(&[
        "run",
        "cache-down.yaml",
        "--yes",
        "--transcript",
        "a.jsonl",
        "--operator",
        "ana",
    ]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let out = d.run(&[
        "note",
        "--to",
        "a.jsonl",
        "keys were evicted after the deploy?",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "note appended to a.jsonl\n");
    let out = d.run(&[
        "mark",
        "resolved",
        "--to",
        "a.jsonl",
        "--operator",
        "bo",
        "--note",
        "cache refilled by traffic",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "marked resolved in a.jsonl\n");

    let events = schema_checked(&d.path("a.jsonl"));
    let tail = &events[events.len() - 3..];
    assert!(
        matches!(&tail[0], Event::Note { by, .. } if *by == "ana".into()),
        "{tail:?}"
    );
    assert!(
        matches!(&tail[1], Event::Milestone { name, by, .. } if *name == rb::domain::Milestone::Resolved && *by == "bo".into()),
        "{tail:?}"
    );
    assert!(matches!(&tail[2], Event::Note { text, .. } if text == "cache refilled by traffic"));

    let out = d.run(&["postmortem", "a.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let md = out.stdout;
    let owned = filters();
    let filters: Vec<(&str, &str)> = owned
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({filters => filters}, {
        insta::assert_snapshot!(md);
    });

    // `-o FILE` writes the same text; `--format json` states the same facts.
    let out = d.run(&["postmortem", "a.jsonl", "-o", "pm.md"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(d.path("pm.md")).unwrap(), md);
    let out = d.run(&["postmortem", "a.jsonl", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["runs"][0]["outcome"], "failed");
    assert_eq!(v["retries"][0]["step"], "flush");
    let names: Vec<&str> = v["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mitigated", "resolved"]);
    assert_eq!(v["time_to_resolve"]["from"], "start");
    assert_eq!(v["notes"].as_array().unwrap().len(), 2);
}

#[test]
fn postmortem_of_two_real_runs_merged_by_time() {
    let d = Sandbox::new();
    d.write("cache-down.yaml", INCIDENT);
    d.write("restart-app.yaml", RESTART);
    let out = d.run(&["run", "cache-down.yaml", "--yes", "--transcript", "a.jsonl"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let out = d.run(&[
        "run",
        "restart-app.yaml",
        "--yes",
        "--transcript",
        "b.jsonl",
        "--operator",
        "bo",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = d.run(&["mark", "resolved", "--to", "b.jsonl", "--operator", "bo"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    schema_checked(&d.path("a.jsonl"));
    schema_checked(&d.path("b.jsonl"));

    let out = d.run(&["postmortem", "a.jsonl", "b.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let md = out.stdout;
    // Both runs are in one timeline, in time order: all of the first run, then the second.
    let a = md.find("Started runbook `cache-down`").unwrap();
    let b = md.find("Started runbook `restart-app`").unwrap();
    assert!(a < b);
    let owned = filters();
    let filters: Vec<(&str, &str)> = owned
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({filters => filters}, {
        insta::assert_snapshot!(md);
    });
}

#[test]
fn notes_from_two_processes_racing_a_running_rb_are_all_kept_once() {
    let d = Sandbox::new();
    d.write(
        "long.yaml",
        "version: 1\nname: long\ntitle: Long\nsteps:\n  - id: count\n    run: for i in $(seq 1 200); do echo line $i; sleep 0.02; done\n    read_only: true\n",
    );
    let p = d.path("p.jsonl");
    let mut run = d
        .rb()
        .args(["run", "long.yaml", "--yes", "--transcript", "p.jsonl"])
        .spawn();
    wait_for(&p, |t| t.contains("\"step_started\""));
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|who| {
            let cwd = d.root().to_path_buf();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let out = Rb::in_dir(&cwd)
                        .args(["note", "--to", "p.jsonl", "--operator", who])
                        .arg(format!("note {i} from {who}"))
                        .output();
                    assert_eq!(out.code, Some(0), "{}", out.stderr);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(wait_exit(&mut run), 0);

    let out = d.run(&["transcripts", "verify", "p.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(out.stdout.contains("p.jsonl: OK ("), "{}", out.stdout);

    let events = schema_checked(&p);
    for who in ["a", "b"] {
        for i in 0..50 {
            let want = format!("note {i} from {who}");
            let n = events
                .iter()
                .filter(|e| matches!(e, Event::Note { text, by, .. } if *text == want && by.to_string() == who))
                .count();
            assert_eq!(n, 1, "`{want}` is in the transcript {n} times");
        }
    }
    let output: String = events
        .iter()
        .filter_map(|e| match e {
            Event::Output { text: Some(t), .. } => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let expected: String = (1..=200).map(|i| format!("line {i}\n")).collect();
    assert_eq!(output, expected, "every output line once, in order");
    // The notes really raced the run: some landed between the step's start and its end.
    let started = events
        .iter()
        .position(|e| matches!(e, Event::StepStarted { .. }))
        .unwrap();
    let finished = events
        .iter()
        .position(|e| matches!(e, Event::StepFinished { .. }))
        .unwrap();
    assert!(
        events[started..finished]
            .iter()
            .any(|e| matches!(e, Event::Note { .. })),
        "no note was appended while the step ran"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::RunFinished { .. }))
    );
}

#[test]
fn transcripts_lists_runs_including_one_killed_mid_step() {
    let d = Sandbox::new();
    d.write("restart-app.yaml", RESTART);
    d.write(
        "slow.yaml",
        "version: 1\nname: slow\ntitle: Slow\nsteps:\n  - id: wait\n    run: echo waiting; sleep 3\n    read_only: true\n",
    );
    let out = d.run(&["run", "restart-app.yaml", "--yes"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // The killed run starts later, so it is listed first.
    std::thread::sleep(Duration::from_millis(1100));
    let mut killed = d.rb().args(["run", "slow.yaml", "--yes"]).spawn();
    let slow = d.wait_for_default_transcript("-slow-");
    wait_for(&slow, |t| t.contains("waiting"));
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    // A file that is not a transcript is listed as unreadable, never fails the listing.
    std::fs::write(d.state_dir().join("junk.jsonl"), "not json\n{\"seq\":\n").unwrap();

    let out = d.run(&["transcripts"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let listing = out.stdout;
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[0].starts_with("START (UTC)"), "{listing}");
    let slow_row = lines.iter().position(|l| l.contains(" slow ")).unwrap();
    let restart_row = lines
        .iter()
        .position(|l| l.contains("restart-app"))
        .unwrap();
    assert!(slow_row < restart_row, "newest first:\n{listing}");
    assert!(
        lines[slow_row].contains("in progress / interrupted"),
        "{listing}"
    );
    assert!(
        lines[restart_row].contains("finished") && lines[restart_row].contains("ana"),
        "{listing}"
    );
    assert!(listing.contains("unreadable"), "{listing}");

    let out = d.run(&["transcripts", "list", "--format", "json", "--limit", "2"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let slow_json = rows.iter().find(|r| r["runbook"] == "slow").unwrap();
    assert_eq!(slow_json["finished"], false);
    assert_eq!(slow_json["outcome"], serde_json::Value::Null);

    // Every complete line of the killed run's transcript parses and matches the schema.
    let events = schema_checked(&slow);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::RunFinished { .. }))
    );
    for p in d.default_transcripts() {
        if !p.ends_with("junk.jsonl") {
            schema_checked(&p);
        }
    }
    let out = d.run(&["transcripts", "verify", slow.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
}

#[test]
fn verify_flags_an_edited_line_warns_on_a_torn_tail_and_exits_2_for_a_missing_file() {
    let d = finished_run();
    let good = std::fs::read_to_string(d.path("good.jsonl")).unwrap();
    schema_checked(&d.path("good.jsonl"));

    // Change the output of the step by hand: the next line's `prev` no longer matches.
    let edited_line = good
        .lines()
        .position(|l| l.contains("\"restarted\\n\""))
        .unwrap();
    d.write(
        "edited.jsonl",
        &good.replacen("\"restarted\\n\"", "\"not restarted\\n\"", 1),
    );
    let out = d.run(&["transcripts", "verify", "good.jsonl", "edited.jsonl"]);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    let report = out.stdout;
    let lines = good.lines().count();
    assert!(
        report.contains(&format!(
            "good.jsonl: OK ({lines} lines), complete: it ends with `run_finished`, whose count ({}) and hash match the lines before it",
            lines - 1
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!("edited.jsonl: BAD at line {}:", edited_line + 2)),
        "{report}"
    );

    // A line that keeps the chain but breaks the schema is found too: the last line's `ts`
    // without milliseconds still parses (nothing follows it to break a `prev`), but the schema
    // wants exactly three fractional digits.
    let last = good.lines().last().unwrap();
    let re = regex::Regex::new(r#""ts":"([^"]+)\.\d{3}Z""#).unwrap();
    let bad_last = re.replace(last, r#""ts":"${1}Z""#).into_owned();
    assert_ne!(bad_last, last);
    d.write("schema.jsonl", &good.replacen(last, &bad_last, 1));
    let out = d.run(&["transcripts", "verify", "schema.jsonl"]);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    let report = out.stdout;
    assert!(
        report.contains(&format!(
            "schema.jsonl: BAD at line {lines}: does not match the transcript schema"
        )),
        "{report}"
    );

    // The last line is not covered by the chain (nothing follows it), but `run_finished` counts
    // the lines before it: a changed count is a finding.
    let recount = good.replacen(
        &format!("\"events\":{}", lines - 1),
        &format!("\"events\":{}", lines + 4),
        1,
    );
    assert_ne!(recount, good);
    d.write("recount.jsonl", &recount);
    let out = d.run(&["transcripts", "verify", "recount.jsonl"]);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "recount.jsonl: BAD at line {lines}: `run_finished` counts {} events before it, but {} lines come before it",
            lines + 4,
            lines - 1
        )),
        "{}",
        out.stdout
    );

    // Without `run_finished`, the record is intact but unfinished.
    let cut: String = good
        .lines()
        .take(lines - 1)
        .map(|l| format!("{l}\n"))
        .collect();
    d.write("cut.jsonl", &cut);
    let out = d.run(&["transcripts", "verify", "cut.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "cut.jsonl: OK ({} lines), unfinished: it does not end with `run_finished`",
            lines - 1
        )),
        "{}",
        out.stdout
    );

    // A torn last line is a warning, not a failure.
    d.write("torn.jsonl", &format!("{good}{{\"seq\":9,\"ts\""));
    let out = d.run(&["transcripts", "verify", "torn.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    assert!(
        out.stdout.contains("warning: the last line is torn"),
        "{}",
        out.stdout
    );
    // And the post-mortem still reads it.
    let out = d.run(&["postmortem", "torn.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("torn line"), "{}", out.stderr);

    // An unreadable path is a usage error.
    let out = d.run(&["transcripts", "verify", "good.jsonl", "missing.jsonl"]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("cannot read `missing.jsonl`"));
}

#[test]
fn note_without_to_finds_the_run_in_progress() {
    let d = Sandbox::new();
    d.write("restart-app.yaml", RESTART);
    d.write(
        "slow.yaml",
        "version: 1\nname: slow\ntitle: Slow\nsteps:\n  - id: wait\n    run: echo waiting; sleep 2\n    read_only: true\n",
    );
    // With no run at all, rb says what to do.
    let out = d.run(&["note", "too early"]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("--to PATH"), "{}", out.stderr);
    // A finished run is not "in progress".
    let out = d.run(&["run", "restart-app.yaml", "--yes"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = d.run(&["mark", "detected"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);

    let mut run = d.rb().args(["run", "slow.yaml", "--yes"]).spawn();
    let slow = d.wait_for_default_transcript("-slow-");
    wait_for(&slow, |t| t.contains("\"step_started\""));
    let out = d.run(&["note", "disk filling at 1 GB/min"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, format!("note appended to {}\n", slow.display()));
    assert_eq!(wait_exit(&mut run), 0);

    let events = schema_checked(&slow);
    let note = events
        .iter()
        .position(|e| matches!(e, Event::Note { text, by, .. } if text == "disk filling at 1 GB/min" && *by == "ana".into()))
        .expect("the note is in the run's transcript");
    let finished = events
        .iter()
        .position(|e| matches!(e, Event::RunFinished { .. }))
        .unwrap();
    assert!(
        note < finished,
        "the note was added while the run was going"
    );
    let out = d.run(&["transcripts", "verify", slow.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
}

#[test]
fn export_cast_is_asciicast_v2() {
    let d = Sandbox::new();
    d.write("cache-down.yaml", INCIDENT);
    let out = d.run(&["run", "cache-down.yaml", "--yes", "--transcript", "a.jsonl"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    schema_checked(&d.path("a.jsonl"));
    let out = d.run(&["export", "--cast", "a.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let cast = out.stdout;
    let mut lines = cast.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert!(header["width"].as_u64().unwrap() > 0 && header["height"].as_u64().unwrap() > 0);
    let mut last = 0.0;
    let mut all = String::new();
    for l in lines {
        let e: serde_json::Value = serde_json::from_str(l).unwrap();
        let e = e.as_array().unwrap();
        assert_eq!(e.len(), 3, "{l}");
        let t = e[0].as_f64().unwrap();
        assert!(t >= last, "times never go back");
        last = t;
        assert_eq!(e[1], "o");
        all.push_str(e[2].as_str().unwrap());
    }
    assert!(all.contains("cache has 0 keys\r\n"), "{all}");
    assert!(all.contains("connection refused\r\n"), "{all}");

    let out = d.run(&["export", "--cast", "a.jsonl", "-o", "a.cast"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(d.path("a.cast")).unwrap(), cast);
    // The cast is the default (and only) format: `--cast` may be left out.
    let out = d.run(&["export", "a.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, cast);
}

#[test]
fn note_kinds_and_a_backdated_detection_reach_the_postmortem_and_an_edited_transcript_is_named() {
    let d = Sandbox::new();
    d.write("restart-app.yaml", RESTART);
    let out = d.run(&[
        "run",
        "restart-app.yaml",
        "--yes",
        "--transcript",
        "a.jsonl",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for (flag, words) in [
        ("--hypothesis", "the deploy at 02:00 leaked connections"),
        ("--action", "alert on pool usage"),
        ("--comms", "told #support"),
    ] {
        let out = d.run(&["note", flag, "--to", "a.jsonl", words]);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    let out = d.run(&["note", "--hypothesis", "--action", "--to", "a.jsonl", "x"]);
    assert_eq!(out.code, Some(2), "one kind at most");
    let out = d.run(&[
        "mark",
        "detected",
        "--at",
        "2020-01-02T03:04:05Z",
        "--to",
        "a.jsonl",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = d.run(&["mark", "detected", "--at", "tomorrow", "--to", "a.jsonl"]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("--at tomorrow"), "{}", out.stderr);
    schema_checked(&d.path("a.jsonl"));

    let out = d.run(&["postmortem", "a.jsonl", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let kinds: Vec<&str> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["hypothesis", "action", "comms"]);
    assert_eq!(v["milestones"][0]["at"], "2020-01-02T03:04:05.000Z");
    assert_eq!(
        v["started"], "2020-01-02T03:04:05.000Z",
        "the incident starts at detection"
    );
    assert_eq!(v["transcripts"][0]["verified"], true);
    let md = d.run(&["postmortem", "a.jsonl"]).stdout;
    assert!(
        md.contains("- the deploy at 02:00 leaked connections ("),
        "{md}"
    );
    assert!(md.contains("| alert on pool usage (noted by"), "{md}");
    assert!(md.contains("- told #support ("), "{md}");
    assert!(!md.contains("Warning"), "{md}");

    // An edited line breaks the chain: the draft is still made, and says so first.
    let edited = std::fs::read_to_string(d.path("a.jsonl"))
        .unwrap()
        .replace("echo restarted", "echo restartes");
    d.write("a.jsonl", &edited);
    let out = d.run(&["postmortem", "a.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let md = out.stdout;
    let first_section = md.split("## Summary").next().unwrap();
    assert!(
        first_section.contains("> **Warning:** T1 (a.jsonl) fails verification (line "),
        "{md}"
    );
    assert!(out.stderr.contains("fails verification"), "{}", out.stderr);
}

/// Issue 9 #6: `verify` wants a first line that starts a run of a known schema version: an empty
/// file, a file whose only line is garbage, a complete garbage last line and an unknown version
/// all fail; only an unterminated last line is a torn tail.
#[test]
fn verify_refuses_empty_garbage_and_unknown_versions() {
    let d = Sandbox::new();
    d.write(
        "t.yaml",
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: a\n    run: 'true'\n    read_only: true\n",
    );
    let out = d.run(&["run", "t.yaml", "--yes", "--transcript", "good.jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let good = std::fs::read_to_string(d.path("good.jsonl")).unwrap();
    d.write("empty.jsonl", "");
    d.write("garbage.jsonl", "hello world\n");
    d.write("garbage-last.jsonl", &format!("{good}not a line at all\n"));
    d.write(
        "future.jsonl",
        &good.replacen(
            &format!("\"schema_version\":{}", rb::transcript::SCHEMA_VERSION),
            "\"schema_version\":99",
            1,
        ),
    );
    for bad in [
        "empty.jsonl",
        "garbage.jsonl",
        "garbage-last.jsonl",
        "future.jsonl",
    ] {
        let out = d.run(&["transcripts", "verify", bad]);
        assert_eq!(out.code, Some(1), "{bad}: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("BAD"), "{bad}: {}", out.stdout);
    }
    d.write("torn.jsonl", &format!("{good}{{\"seq\": 9, \"half"));
    let out = d.run(&["transcripts", "verify", "torn.jsonl"]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
}

/// `ssh-keygen` (OpenSSH's client, installed by `tests/hosts/prereqs.sh` as `test.sh` runs it; a
/// missing one fails the test) makes an ed25519 key `NAME` for `IDENTITY` in `dir`; returns the
/// allowed-signers line for it.
fn ssh_key(dir: &Path, name: &str, identity: &str) -> String {
    let key = dir.join(name);
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", identity, "-f"])
        .arg(&key)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ssh-keygen runs (openssh-client: tests/hosts/prereqs.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    format!("{identity} namespaces=\"rb-transcript\" {}", public.trim())
}

/// A sandbox holding a finished run's transcript `good.jsonl`.
fn finished_run() -> Sandbox {
    let d = Sandbox::new();
    d.write("restart-app.yaml", RESTART);
    let out = d.run(&[
        "run",
        "restart-app.yaml",
        "--yes",
        "--transcript",
        "good.jsonl",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    d
}

#[test]
fn a_signed_transcript_verifies_and_an_edit_the_chain_cannot_see_breaks_the_signature() {
    let d = finished_run();
    let allowed = ssh_key(d.root(), "key", "ana@example.com");
    d.write("allowed", &format!("{allowed}\n"));
    let out = d.run(&["transcripts", "sign", "good.jsonl", "--key", "key"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "signed good.jsonl with key: good.jsonl.sig\n");
    assert!(
        std::fs::read_to_string(d.path("good.jsonl.sig"))
            .unwrap()
            .starts_with("-----BEGIN SSH SIGNATURE-----")
    );
    let verify = |file: &str, signer: &str| {
        d.run(&[
            "transcripts",
            "verify",
            file,
            "--signer",
            signer,
            "--allowed-signers",
            "allowed",
        ])
    };
    let out = verify("good.jsonl", "ana@example.com");
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("good.jsonl: signed by ana@example.com (ED25519 key SHA256:"),
        "{}",
        out.stdout
    );

    // Someone else's identity: the signature is not theirs.
    let out = verify("good.jsonl", "bo@example.com");
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out.stdout.contains("good.jsonl: BAD signature: `good.jsonl.sig` is not a valid signature of this file by bo@example.com"), "{}", out.stdout);

    // One byte of the last line: nothing follows it, so the chain still holds; the signature
    // does not.
    let good = std::fs::read_to_string(d.path("good.jsonl")).unwrap();
    let at = good.rfind("\"duration_ms\":").unwrap() + "\"duration_ms\":".len();
    let mut edited = good.into_bytes();
    edited[at] = if edited[at] == b'9' { b'8' } else { b'9' };
    std::fs::write(d.path("good.jsonl"), &edited).unwrap();
    let out = verify("good.jsonl", "ana@example.com");
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out.stdout.contains("good.jsonl: OK ("), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("good.jsonl: BAD signature: `good.jsonl.sig` is not a valid signature"),
        "{}",
        out.stdout
    );

    // No signature at all.
    std::fs::copy(d.path("good.jsonl"), d.path("copy.jsonl")).unwrap();
    let out = verify("copy.jsonl", "ana@example.com");
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stdout.contains("copy.jsonl: BAD signature: there is no `copy.jsonl.sig` (sign it with `rb transcripts sign copy.jsonl`)"),
        "{}",
        out.stdout
    );
    // A missing allowed-signers file is a usage error naming it.
    let out = d.run(&[
        "transcripts",
        "verify",
        "good.jsonl",
        "--signer",
        "ana@example.com",
        "--allowed-signers",
        "nope",
    ]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot read the allowed signers `nope`"),
        "{}",
        out.stderr
    );
}

#[test]
fn sign_refuses_a_broken_chain_an_unfinished_run_and_an_existing_signature() {
    let d = finished_run();
    ssh_key(d.root(), "key", "ana@example.com");
    let good = std::fs::read_to_string(d.path("good.jsonl")).unwrap();

    d.write(
        "edited.jsonl",
        &good.replacen("\"restarted\\n\"", "\"not restarted\\n\"", 1),
    );
    let out = d.run(&["transcripts", "sign", "edited.jsonl", "--key", "key"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("not signing `edited.jsonl`: it does not verify: BAD at line"),
        "{}",
        out.stderr
    );
    assert!(!d.path("edited.jsonl.sig").exists());

    let lines: Vec<&str> = good.lines().collect();
    d.write("cut.jsonl", &(lines[..lines.len() - 1].join("\n") + "\n"));
    let out = d.run(&["transcripts", "sign", "cut.jsonl", "--key", "key"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("the run is unfinished"),
        "{}",
        out.stderr
    );
    assert!(!d.path("cut.jsonl.sig").exists());
    let out = d.run(&[
        "transcripts",
        "sign",
        "cut.jsonl",
        "--key",
        "key",
        "--unfinished",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    let out = d.run(&["transcripts", "sign", "good.jsonl", "--key", "key"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let first = std::fs::read(d.path("good.jsonl.sig")).unwrap();
    let out = d.run(&["transcripts", "sign", "good.jsonl", "--key", "key"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("`good.jsonl.sig` already exists"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read(d.path("good.jsonl.sig")).unwrap(),
        first,
        "left as it was"
    );
    let out = d.run(&[
        "transcripts",
        "sign",
        "good.jsonl",
        "--key",
        "key",
        "--force",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    let out = d.run(&["transcripts", "sign", "good.jsonl", "--key", "no-such-key"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("the key `no-such-key` does not exist"),
        "{}",
        out.stderr
    );
}

#[test]
fn sign_and_verify_use_the_key_and_allowed_signers_in_home_by_default() {
    let d = finished_run();
    let home = d.path("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let out = d
        .rb()
        .env("HOME", &home)
        .args(["transcripts", "sign", "good.jsonl"])
        .output();
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("no SSH key to sign with: none of"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(".ssh/id_ed25519`"), "{}", out.stderr);

    let allowed = ssh_key(&home.join(".ssh"), "id_ed25519", "ana@example.com");
    std::fs::write(home.join(".ssh/allowed_signers"), format!("{allowed}\n")).unwrap();
    let out = d
        .rb()
        .env("HOME", &home)
        .args(["transcripts", "sign", "good.jsonl"])
        .output();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains(".ssh/id_ed25519: good.jsonl.sig"),
        "{}",
        out.stdout
    );
    let out = d
        .rb()
        .env("HOME", &home)
        .args([
            "transcripts",
            "verify",
            "good.jsonl",
            "--signer",
            "ana@example.com",
        ])
        .output();
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("good.jsonl: signed by ana@example.com"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_key_held_only_by_ssh_agent_signs_through_its_pub_file() {
    let d = finished_run();
    let allowed = ssh_key(d.root(), "key", "ana@example.com");
    d.write("allowed", &format!("{allowed}\n"));
    let sock = d.path("agent.sock");
    /// Ends the agent this test started, however the test ends.
    struct Agent(std::process::Child);
    impl Drop for Agent {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = Agent(
        std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client) starts"),
    );
    let start = std::time::Instant::now();
    while !sock.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "ssh-agent never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = std::process::Command::new("ssh-add")
        .arg(d.path("key"))
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    // Only the agent holds the private key now.
    std::fs::remove_file(d.path("key")).unwrap();
    let out = d
        .rb()
        .env("SSH_AUTH_SOCK", &sock)
        .args(["transcripts", "sign", "good.jsonl", "--key", "key.pub"])
        .output();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = d.run(&[
        "transcripts",
        "verify",
        "good.jsonl",
        "--signer",
        "ana@example.com",
        "--allowed-signers",
        "allowed",
    ]);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);
    // Without the agent, the `.pub` file alone cannot sign: ssh-keygen's refusal is shown.
    let out = d
        .rb()
        .env_remove("SSH_AUTH_SOCK")
        .args([
            "transcripts",
            "sign",
            "good.jsonl",
            "--key",
            "key.pub",
            "--force",
        ])
        .output();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("`ssh-keygen -Y sign -f key.pub` failed: "),
        "{}",
        out.stderr
    );
}
