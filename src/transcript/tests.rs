//! Tests of the transcript files as a whole: writing, reading, verifying, and the recorder's
//! failure policy. Writers in other processes and on a full disk: `tests/transcript_writers.rs`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::schema::validate_file;
use super::*;
use crate::redact::Redactor;

const SECRET: &str = "hunter2-very-secret";

fn run_started() -> Event {
    Event::RunStarted {
        schema_version: SCHEMA_VERSION,
        run_id: "0123456789abcdef0123456789abcdef".into(),
        runbook: "disk-full".into(),
        source: "runbooks/disk-full.yaml".into(),
        sha256: "ab".repeat(32),
        mode: Mode::Live,
        params: BTreeMap::from([
            ("host".into(), "db1".into()),
            ("token".into(), "***".into()),
        ]),
        operator: "ana".into(),
        host: "laptop".into(),
        rb_version: "0.1.0".into(),
        started_at: "2026-11-24T23:05:01.042Z".into(),
        targets: vec!["web-1".into(), "web-2".into()],
    }
}

/// One event of every kind.
fn every_event() -> Vec<Event> {
    vec![
        run_started(),
        Event::StepStarted {
            step: "check".into(),
            index: 0,
            kind: crate::domain::StepKind::Command,
            title: Some("Check the disk".into()),
            command: Some("df -h /".into()),
            attempt: 1,
            read_only: false,
        },
        Event::StepSpawned {
            step: "check".into(),
            attempt: 1,
            pid: 4242,
            pgid: 4242,
        },
        Event::output("check", Stream::Stdout, b"/dev/sda1 99%\n"),
        Event::output("check", Stream::Stderr, b"\xff\xfe binary"),
        Event::Captured {
            step: "check".into(),
            name: "usage".into(),
            value: "99".into(),
            host: None,
        },
        Event::StepFinished {
            step: "check".into(),
            status: StepStatus::Failed,
            exit_code: Some(1),
            duration_ms: 20,
            reason: Some("exit code 1".into()),
        },
        Event::HostFinished {
            step: "check".into(),
            host: "web-2".into(),
            status: crate::domain::HostStatus::NotRun,
            exit_code: None,
            duration_ms: 0,
            reason: Some("the rollout stopped after batch 1 of 2".into()),
        },
        Event::Retry {
            step: "check".into(),
            attempt: 2,
            delay_ms: 1000,
            reason: "exit code 1".into(),
        },
        Event::Prompt {
            step: Some("clean".into()),
            question: "Delete old logs?".into(),
            choices: vec![
                crate::domain::Choice::Run,
                crate::domain::Choice::Abort,
                crate::domain::Choice::Skip,
            ],
        },
        Event::Decision {
            step: Some("clean".into()),
            by: "ana".into(),
            choice: crate::domain::Choice::Run,
            text: None,
        },
        Event::Message {
            step: "tell".into(),
            text: "Tell #ops".into(),
        },
        Event::Manual {
            step: "page".into(),
            done: false,
            note: Some("no answer".into()),
        },
        Event::Note {
            by: "bo".into(),
            text: "cache suspected".into(),
            step: None,
            kind: crate::transcript::NoteKind::Hypothesis,
        },
        Event::Milestone {
            name: crate::domain::Milestone::Mitigated,
            by: "rb".into(),
            step: Some("clean".into()),
            at: Some("2026-11-24T23:01:00.000Z".into()),
        },
        Event::OutputDropped {
            step: Some("clean".into()),
            bytes: 10,
            events: 2,
        },
        Event::Interrupted {
            step: None,
            what: "SIGINT".into(),
        },
        Event::run_finished(crate::domain::RunOutcome::Interrupted, 1234),
    ]
}

fn note(by: &str, n: usize) -> Event {
    Event::Note {
        by: by.into(),
        text: n.to_string(),
        step: None,
        kind: crate::transcript::NoteKind::Plain,
    }
}

/// The events of `t` as the recorder was given them: without the count and hash the writer puts
/// in `run_finished` (checked by `verify`).
fn as_recorded(t: &Transcript) -> Vec<Event> {
    t.events()
        .map(|e| match e {
            Event::RunFinished {
                outcome,
                duration_ms,
                ..
            } => Event::run_finished(*outcome, *duration_ms),
            other => other.clone(),
        })
        .collect()
}

fn new_transcript(dir: &Path) -> (PathBuf, TranscriptWriter) {
    let path = dir.join("state/rb/transcripts/run.jsonl");
    let mut w = TranscriptWriter::create(&path).unwrap();
    w.append(&run_started()).unwrap();
    (path, w)
}

fn problems() -> (Arc<Mutex<Vec<String>>>, ProblemSink) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (
        seen,
        Box::new(move |m: &str| sink.lock().unwrap().push(m.to_owned())),
    )
}

#[test]
fn every_event_round_trips_with_a_valid_chain_schema_and_modes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/run.jsonl");
    let mut w = TranscriptWriter::create(&path).unwrap();
    for e in every_event() {
        w.append(&e).unwrap();
    }
    drop(w);
    let t = read(&path).unwrap();
    assert!(!t.torn_tail);
    assert_eq!(as_recorded(&t), every_event());
    assert_eq!(
        t.lines.iter().map(|l| l.seq).collect::<Vec<_>>(),
        (1..=every_event().len() as u64).collect::<Vec<_>>()
    );
    assert_eq!(t.lines[0].prev, line::GENESIS_PREV);
    assert_eq!(t.run_id(), Some("0123456789abcdef0123456789abcdef"));
    assert_eq!(t.captured()["usage"], "99");
    assert!(t.run_finished().is_some());
    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.lines, every_event().len() as u64);
    assert_eq!(validate_file(&path).unwrap(), every_event().len());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("a/b")), 0o700);
    assert_eq!(mode(&dir.path().join("a")), 0o700);
}

#[test]
fn create_refuses_an_existing_file_and_the_first_event_must_be_run_started() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.jsonl");
    let mut w = TranscriptWriter::create(&path).unwrap();
    let err = w.append(&note("ana", 1)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    let err = TranscriptWriter::create(&path).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
}

#[test]
fn a_torn_last_line_is_tolerated_and_cut_off_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = new_transcript(dir.path());
    for n in 0..9 {
        w.append(&note("ana", n)).unwrap();
    }
    drop(w);
    // Cut the last line in the middle, as a writer killed mid-`write` would.
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 10).unwrap();
    let t = read(&path).unwrap();
    assert!(t.torn_tail);
    assert_eq!(t.lines.len(), 9);
    let report = verify(&path).unwrap();
    assert!(
        report.is_ok() && report.torn_tail && report.lines == 9,
        "{report:?}"
    );

    // Appending cuts the torn line off and continues the chain from line 9.
    let mut w = TranscriptWriter::open_append(&path, Repair::OwnTail).unwrap();
    assert!(w.repaired_bytes() > 0);
    assert_eq!(w.seq(), 9);
    w.append(&note("bo", 99)).unwrap();
    let t = read(&path).unwrap();
    assert!(!t.torn_tail);
    assert_eq!(t.lines.len(), 10);
    assert_eq!(t.lines[9].seq, 10);
    assert!(verify(&path).unwrap().is_ok());
}

#[test]
fn garbage_after_a_crash_at_the_very_end_is_a_torn_tail_but_in_the_middle_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = new_transcript(dir.path());
    w.append(&note("ana", 1)).unwrap();
    drop(w);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"\0\0\0\0\n");
    std::fs::write(&path, &bytes).unwrap();
    let t = read(&path).unwrap();
    assert!(t.torn_tail);
    assert_eq!(t.lines.len(), 2);
    assert!(verify(&path).unwrap().is_ok());

    bytes.extend_from_slice(b"{}\n");
    std::fs::write(&path, &bytes).unwrap();
    let err = read(&path).unwrap_err();
    assert!(err.to_string().contains(":3: invalid JSON"), "{err}");
    let report = verify(&path).unwrap();
    let problem = report.problem.unwrap();
    assert_eq!(
        (problem.line, problem.kind),
        (3, ChainProblemKind::Unreadable)
    );
}

#[test]
fn verify_names_the_first_edited_or_missing_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = new_transcript(dir.path());
    for n in 0..5 {
        w.append(&note("ana", n)).unwrap();
    }
    drop(w);
    let original = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();

    // An edit to line 3 breaks line 4's `prev`.
    let edited = original.replace(r#""text":"1""#, r#""text":"X""#);
    std::fs::write(&path, edited).unwrap();
    let p = verify(&path).unwrap().problem.unwrap();
    assert_eq!((p.line, p.kind), (4, ChainProblemKind::BadPrev), "{p}");

    // A removed line 3 shows as a `seq` gap at line 3.
    let mut removed = lines.clone();
    removed.remove(2);
    std::fs::write(&path, removed.join("\n") + "\n").unwrap();
    let p = verify(&path).unwrap().problem.unwrap();
    assert_eq!((p.line, p.kind), (3, ChainProblemKind::BadSeq), "{p}");

    // A first line that is not `run_started`.
    std::fs::write(&path, lines[1..].join("\n") + "\n").unwrap();
    let p = verify(&path).unwrap().problem.unwrap();
    assert_eq!(
        (p.line, p.kind),
        (1, ChainProblemKind::NotRunStarted),
        "{p}"
    );
}

#[test]
fn the_recorder_redacts_every_free_text_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.jsonl");
    let (seen, sink) = problems();
    let mut r = Recorder::create(&path, Redactor::new([SECRET.to_string()]), sink);
    let mut first = run_started();
    if let Event::RunStarted { params, .. } = &mut first {
        params.insert("token".into(), SECRET.into());
    }
    r.record(first);
    let leak = format!("token={SECRET}");
    r.record(Event::StepStarted {
        step: "s".into(),
        index: 0,
        kind: crate::domain::StepKind::Command,
        title: None,
        command: Some(format!("curl -u {SECRET}")),
        attempt: 1,
        read_only: false,
    });
    r.record(Event::output("s", Stream::Stdout, leak.as_bytes()));
    r.record(Event::output(
        "s",
        Stream::Stdout,
        format!("\u{0}\u{ff}{SECRET}").as_bytes(),
    ));
    r.record(Event::Captured {
        step: "s".into(),
        name: "t".into(),
        value: SECRET.into(),
        host: None,
    });
    r.record(Event::Message {
        step: "m".into(),
        text: leak.clone(),
    });
    r.record(Event::Note {
        by: "ana".into(),
        text: leak.clone(),
        step: None,
        kind: crate::transcript::NoteKind::Plain,
    });
    r.record(Event::Decision {
        step: None,
        by: "ana".into(),
        choice: crate::domain::Choice::Run,
        text: Some(leak.clone()),
    });
    r.record(Event::Note {
        by: "ana".into(),
        text: crate::redact::base64_encode(SECRET.as_bytes()),
        step: None,
        kind: crate::transcript::NoteKind::Plain,
    });
    let closed = r.close();
    assert!(closed.unwritten.is_empty());
    assert!(seen.lock().unwrap().is_empty());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains(&crate::redact::base64_encode(SECRET.as_bytes())));
    assert_eq!(text.matches("***").count(), 9, "{text}");
    assert!(verify(&path).unwrap().is_ok());
}

#[test]
fn the_recorder_switches_to_a_fallback_when_the_path_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    // The "directory" is a regular file: every attempt fails with ENOTDIR, even as root.
    std::fs::write(dir.path().join("blocked"), "").unwrap();
    let path = dir.path().join("blocked/run.jsonl");
    let fallback = dir.path().join("fallback");
    let (seen, sink) = problems();
    let mut r = Recorder::create(&path, Redactor::default(), sink)
        .with_fallback_dirs(vec![dir.path().join("blocked/too"), fallback.clone()]);
    let events = every_event();
    for e in events.clone() {
        r.record(e);
    }
    let closed = r.close();
    assert!(closed.unwritten.is_empty());
    assert_eq!(closed.path, fallback.join("run.jsonl"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    assert!(seen[0].starts_with(&format!("cannot write the transcript {}", path.display())));
    assert!(seen[1].contains(&format!(
        "writing the transcript to {}",
        closed.path.display()
    )));
    assert!(
        seen[2].contains("is written again (3 events"),
        "{}",
        seen[2]
    );
    let t = read(&closed.path).unwrap();
    assert_eq!(as_recorded(&t), events);
    assert!(verify(&closed.path).unwrap().is_ok());
}

#[test]
fn the_recorder_writes_its_backlog_in_order_when_the_problem_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("dir");
    std::fs::write(&blocker, "").unwrap();
    let path = blocker.join("run.jsonl");
    let (seen, sink) = problems();
    let mut r = Recorder::create(&path, Redactor::default(), sink).with_fallback_dirs(vec![]);
    r.record(run_started());
    r.record(note("ana", 1));
    assert!(r.is_failing());
    assert_eq!(r.queued(), 2);
    std::fs::remove_file(&blocker).unwrap();
    r.record(note("ana", 2));
    assert!(!r.is_failing());
    assert_eq!(r.queued(), 0);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let t = read(&path).unwrap();
    assert_eq!(t.lines.len(), 3);
    // The queued events keep the time they happened.
    assert!(t.lines[0].ts <= t.lines[2].ts);
    assert!(verify(&path).unwrap().is_ok());
}

#[test]
fn with_nowhere_to_write_control_events_are_kept_and_dropped_output_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "").unwrap();
    let path = dir.path().join("f/run.jsonl");
    let (seen, sink) = problems();
    let mut r = Recorder::create(&path, Redactor::default(), sink)
        .with_fallback_dirs(vec![dir.path().join("f/x")]);
    r.record(run_started());
    let chunk = vec![b'o'; 1024 * 1024];
    for _ in 0..12 {
        r.record(Event::output("big", Stream::Stdout, &chunk));
    }
    r.record(note("ana", 1));
    r.record(Event::output("big", Stream::Stdout, &chunk));
    let closed = r.close();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen[0].starts_with("cannot write the transcript"),
        "{seen:#?}"
    );
    assert!(
        seen.iter().any(|m| m.starts_with("no fallback location")),
        "{seen:#?}"
    );
    let names: Vec<&str> = closed.unwritten.iter().map(Event::name).collect();
    assert_eq!(names[0], "run_started");
    assert_eq!(names.iter().filter(|n| **n == "output").count(), 8);
    assert_eq!(
        &names[9..],
        ["output_dropped", "note", "output_dropped"],
        "{names:?}"
    );
    assert!(matches!(
        closed.unwritten[9],
        Event::OutputDropped {
            bytes: 4_194_304,
            events: 4,
            ..
        }
    ));
}

#[test]
fn file_names_sort_by_utc_start_and_run_ids_are_128_bit_hex() {
    let start: jiff::Timestamp = "2026-11-24T23:05:01.999+02:00".parse().unwrap();
    assert_eq!(
        file_name(start, "disk-full", "3f9a1c2e77aa00bb"),
        "20261124T210501Z-disk-full-3f9a1c2e.jsonl"
    );
    assert_eq!(
        file_name(start, "a/b c", "12"),
        "20261124T210501Z-a_b_c-12.jsonl"
    );
    let id = new_run_id().unwrap();
    assert_eq!(id.len(), 32);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_ne!(id, new_run_id().unwrap());
    assert!(default_dir().ends_with("rb/transcripts"));
}

#[test]
fn one_fsync_covers_a_step_s_end_and_the_next_start_which_is_synced_before_append_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, mut w) = new_transcript(tmp.path());
    assert_eq!(w.unsynced_bytes(), 0, "run_started is synced");
    let events = every_event();
    let mut waited = std::collections::BTreeSet::new();
    for e in &events {
        w.append(e).unwrap();
        if writer::waits_for_next_sync(e) {
            waited.insert(e.name());
        } else {
            // Everything before it is on disk too: the fsync covers the whole file.
            assert_eq!(w.unsynced_bytes(), 0, "`{}` must be synced", e.name());
        }
    }
    // What rb records and then goes straight on from; never a step's start, a prompt or the end.
    let expected = std::collections::BTreeSet::from([
        "captured",
        "decision",
        "message",
        "output",
        "output_dropped",
        "step_finished",
        "step_spawned",
    ]);
    assert_eq!(waited, expected);
    let end = events.iter().find(|e| e.name() == "step_finished").unwrap();
    w.append(end).unwrap();
    assert!(
        w.unsynced_bytes() > 0,
        "a step's end waits for the next sync"
    );
    let start = events.iter().find(|e| e.name() == "step_started").unwrap();
    w.append(start).unwrap();
    assert_eq!(w.unsynced_bytes(), 0);
}

/// Issue 9 #5: a fallback never deletes or writes into a file already at its path (someone
/// else's, in a shared `$TMPDIR`): it takes the next free name beside it.
#[test]
fn a_fallback_never_touches_an_existing_file_of_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocked"), "").unwrap();
    let path = dir.path().join("blocked/run.jsonl");
    let fallback = dir.path().join("fallback");
    std::fs::create_dir(&fallback).unwrap();
    std::fs::write(fallback.join("run.jsonl"), "not ours\n").unwrap();
    let (_, sink) = problems();
    let mut r = Recorder::create(&path, Redactor::default(), sink)
        .with_fallback_dirs(vec![fallback.clone()]);
    let events = every_event();
    for e in events.clone() {
        r.record(e);
    }
    let closed = r.close();
    assert!(closed.unwritten.is_empty());
    assert_eq!(
        std::fs::read_to_string(fallback.join("run.jsonl")).unwrap(),
        "not ours\n"
    );
    assert_eq!(closed.path, fallback.join("run.jsonl.2"));
    let t = read(&closed.path).unwrap();
    assert_eq!(as_recorded(&t), events);
}

/// `scan` says what `read` and `verify` say, in one pass: the lines, the file's hash, a torn
/// tail, and the first break in the chain.
#[test]
fn scan_agrees_with_read_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = new_transcript(dir.path());
    for n in 0..5 {
        w.append(&note("ana", n)).unwrap();
    }
    drop(w);
    let check = |path: &std::path::Path| {
        let mut seen = Vec::new();
        let s = super::scan(path, true, |l| seen.push(l)).unwrap();
        let t = read(path).unwrap();
        let v = verify(path).unwrap();
        assert_eq!(seen, t.lines);
        assert_eq!(
            (s.lines, s.torn_tail, &s.sha256),
            (t.lines.len(), t.torn_tail, &t.sha256)
        );
        assert_eq!(s.problem, v.problem);
        s
    };
    assert_eq!(check(&path).problem, None);
    let original = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        original.replace(r#""text":"1""#, r#""text":"X""#) + "{\"seq",
    )
    .unwrap();
    let s = check(&path);
    assert!(s.torn_tail);
    assert_eq!(
        s.problem.map(|p| (p.line, p.kind)),
        Some((4, ChainProblemKind::BadPrev))
    );
}

#[test]
fn run_finished_is_written_with_the_count_and_hash_of_what_came_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = new_transcript(dir.path());
    w.append(&note("ana", 1)).unwrap();
    // Another appender's line counts too: the writer fills the fields in as it writes.
    let mut other = TranscriptWriter::open_append(&path, Repair::Never).unwrap();
    other.append(&note("bo", 2)).unwrap();
    w.append(&Event::run_finished(RunOutcome::Finished, 5))
        .unwrap();
    drop(w);
    let text = std::fs::read_to_string(&path).unwrap();
    let third = text.lines().nth(2).unwrap();
    let t = read(&path).unwrap();
    assert_eq!(
        t.lines[3].event,
        Event::RunFinished {
            outcome: RunOutcome::Finished,
            duration_ms: 5,
            events: Some(3),
            last_hash: Some(line::sha256_hex(third.as_bytes())),
        }
    );
    let report = verify(&path).unwrap();
    assert_eq!((report.problem, report.ending), (None, Ending::Complete));
    validate_file(&path).unwrap();
}

/// A transcript of `run_started`, a note and `run_finished` with these fields (an empty
/// `last_hash` is the right one), chained right. Version 2 without the fields, as it was written.
fn finished_with(dir: &Path, events: Option<u64>, last_hash: Option<String>) -> PathBuf {
    let path = dir.join("f.jsonl");
    let ts = jiff::Timestamp::now();
    let mut start = run_started();
    if let (Event::RunStarted { schema_version, .. }, None) = (&mut start, events) {
        *schema_version = 2;
    }
    let first = line::encode(1, ts, line::GENESIS_PREV, &start);
    let second = line::encode(2, ts, &line::sha256_hex(first.as_bytes()), &note("ana", 1));
    let hash = line::sha256_hex(second.as_bytes());
    let last_hash = last_hash.map(|h| if h.is_empty() { hash.clone() } else { h });
    let finished = Event::RunFinished {
        outcome: RunOutcome::Finished,
        duration_ms: 5,
        events,
        last_hash,
    };
    let third = line::encode(3, ts, &hash, &finished);
    std::fs::write(&path, format!("{first}\n{second}\n{third}\n")).unwrap();
    path
}

#[test]
fn verify_checks_the_count_and_hash_of_run_finished_and_says_how_the_record_ends() {
    let dir = tempfile::tempdir().unwrap();
    let right = finished_with(dir.path(), Some(2), Some(String::new()));
    assert_eq!(verify(&right).unwrap().ending, Ending::Complete);

    let miscounted = finished_with(dir.path(), Some(7), Some(String::new()));
    for problem in [
        verify(&miscounted).unwrap().problem,
        scan(&miscounted, false, |_| {}).unwrap().problem,
    ] {
        let p = problem.expect("a miscounted run_finished is a finding");
        assert_eq!((p.line, p.kind), (3, ChainProblemKind::BadRunFinished));
        assert!(
            p.detail.contains("counts 7 events before it, but 2 lines"),
            "{p}"
        );
    }

    let rehashed = finished_with(dir.path(), Some(2), Some("ab".repeat(32)));
    let p = verify(&rehashed).unwrap().problem.unwrap();
    assert_eq!((p.line, p.kind), (3, ChainProblemKind::BadRunFinished));
    assert!(p.detail.contains("hashes to"), "{p}");

    // Written by version 2: intact, finished, nothing to compare.
    let older = finished_with(dir.path(), None, None);
    let report = verify(&older).unwrap();
    assert_eq!(
        (report.problem, report.ending),
        (None, Ending::FinishedUncounted)
    );

    // Without its last line, the same record is unfinished.
    let text = std::fs::read_to_string(&right).unwrap();
    let cut: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&right, cut.join("\n") + "\n").unwrap();
    let report = verify(&right).unwrap();
    assert_eq!((report.problem, report.ending), (None, Ending::Unfinished));
}
