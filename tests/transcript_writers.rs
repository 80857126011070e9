//! Transcript writers in other processes and on a full disk: appenders in threads and processes
//! lose no line, a writer killed with SIGKILL leaves only whole valid lines, and the recorder
//! moves a transcript whose disk fills up. The other processes are this binary's own helpers
//! (`harness = false`, see Cargo.toml), never tests. The full-disk test needs root for
//! `mount -t tmpfs`; it fails (never skips) without it.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Tmpfs;
use common::helpers::{self, trial};
use rb::redact::Redactor;
use rb::transcript::schema::validate_file;
use rb::transcript::{Event, Recorder, Stream, TranscriptWriter, read, verify};

fn main() -> ExitCode {
    helpers::main(
        vec![
            trial(
                "concurrent_appenders_in_threads_and_processes_lose_no_line",
                concurrent_appenders_in_threads_and_processes_lose_no_line,
            ),
            trial(
                "a_writer_killed_with_sigkill_leaves_only_complete_valid_lines",
                a_writer_killed_with_sigkill_leaves_only_complete_valid_lines,
            ),
            trial(
                "on_a_full_disk_the_recorder_reports_it_and_moves_the_whole_transcript_to_a_fallback",
                on_a_full_disk_the_recorder_reports_it_and_moves_the_whole_transcript_to_a_fallback,
            ),
        ],
        &[("append", append), ("write-forever", write_forever)],
    )
}

/// Helper `append PATH N BY`: appends N notes by BY to the transcript at PATH, then exits.
fn append(args: &[String]) {
    let [path, n, by] = args else {
        panic!("usage: append PATH N BY");
    };
    let mut w = TranscriptWriter::open_append(Path::new(path), rb::transcript::Repair::OwnTail)
        .expect("open");
    for i in 0..n.parse().expect("a count") {
        w.append(&note(by, i)).expect("append");
    }
}

/// Helper `write-forever PATH`: creates that transcript and appends output events until killed.
fn write_forever(args: &[String]) {
    let [path] = args else {
        panic!("usage: write-forever PATH");
    };
    let mut w = TranscriptWriter::create(Path::new(path)).expect("create");
    w.append(&run_started()).expect("append");
    // Bounded, in case the parent test dies without killing it.
    for i in 0..1_000_000 {
        let text = format!("line {i} {}\n", "x".repeat(i % 300));
        w.append(&Event::output("fill", Stream::Stdout, text.as_bytes()))
            .expect("append");
        if i % 50 == 0 {
            w.append(&note("child", i)).expect("append");
        }
    }
}

/// Starts helper `name` of this binary with its output thrown away.
fn spawn_helper(name: &str, args: &[&str]) -> Child {
    helpers::helper(name, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the helper starts")
}

/// The first event of a transcript, as the published JSON.
fn run_started() -> Event {
    serde_json::from_value(serde_json::json!({
        "event": "run_started", "schema_version": rb::transcript::SCHEMA_VERSION,
        "run_id": "0123456789abcdef0123456789abcdef", "runbook": "disk-full",
        "source": "runbooks/disk-full.yaml", "sha256": "ab".repeat(32), "mode": "live",
        "params": {"host": "db1"}, "operator": "ana", "host": "laptop", "rb_version": "0.1.0",
        "started_at": "2026-11-24T23:05:01.042Z",
    }))
    .expect("a run_started event")
}

fn note(by: &str, n: usize) -> Event {
    Event::Note {
        by: by.into(),
        text: n.to_string(),
        step: None,
        kind: rb::transcript::NoteKind::Plain,
    }
}

fn concurrent_appenders_in_threads_and_processes_lose_no_line() {
    const N: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.jsonl");
    let mut main_writer = TranscriptWriter::create(&path).unwrap();
    main_writer.append(&run_started()).unwrap();
    let p = path.to_str().unwrap().to_owned();
    let n = N.to_string();
    let processes: Vec<_> = ["proc-a", "proc-b"]
        .iter()
        .map(|by| spawn_helper("append", &[&p, &n, by]))
        .collect();
    let threads: Vec<_> = ["thread-a", "thread-b"]
        .iter()
        .map(|by| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut w =
                    TranscriptWriter::open_append(&path, rb::transcript::Repair::OwnTail).unwrap();
                for i in 0..N {
                    w.append(&note(by, i)).unwrap();
                }
            })
        })
        .collect();
    // The first writer (the running rb) keeps appending meanwhile.
    for i in 0..N {
        main_writer.append(&note("main", i)).unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    for mut p in processes {
        assert!(p.wait().unwrap().success());
    }
    main_writer.append(&note("main", N)).unwrap();

    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report:?}");
    let t = read(&path).unwrap();
    assert_eq!(t.lines.len(), 1 + 5 * N + 1);
    let seen: BTreeSet<(String, String)> = t
        .events()
        .filter_map(|e| match e {
            Event::Note { by, text, .. } => Some((by.to_string(), text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(seen.len(), 5 * N + 1, "every note is there exactly once");
}

fn a_writer_killed_with_sigkill_leaves_only_complete_valid_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.jsonl");
    /// Kills the child even when an assertion fails first.
    struct KillOnDrop(Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut proc = KillOnDrop(spawn_helper("write-forever", &[path.to_str().unwrap()]));
    // Wait until it is well into writing (readiness by content, not by a fixed sleep).
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read(&path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) < 500 {
        assert!(Instant::now() < deadline, "the child never wrote");
        std::thread::sleep(Duration::from_millis(5));
    }
    proc.0.kill().unwrap(); // SIGKILL
    proc.0.wait().unwrap();
    let t = read(&path).unwrap();
    assert!(t.lines.len() >= 500);
    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.lines as usize, t.lines.len());
    validate_file(&path).unwrap_or_else(|e| {
        // A torn tail is allowed; every complete line must validate.
        assert!(t.torn_tail, "{e}");
        0
    });
}

fn on_a_full_disk_the_recorder_reports_it_and_moves_the_whole_transcript_to_a_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let small = Tmpfs::mount(&dir.path().join("small"), "64k");
    let path = small.0.join("transcripts/run.jsonl");
    let fallback = dir.path().join("fallback");
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    let mut r = Recorder::create(
        &path,
        Redactor::default(),
        Box::new(move |m: &str| sink.lock().unwrap().push(m.to_owned())),
    )
    .with_fallback_dirs(vec![fallback.clone()]);
    r.record(run_started());
    let chunk = "y".repeat(4000);
    let mut recorded = vec![run_started()];
    for i in 0..40 {
        let e = Event::output("fill", Stream::Stdout, chunk.as_bytes());
        r.record(e.clone());
        recorded.push(e);
        let n = note("ana", i);
        r.record(n.clone());
        recorded.push(n);
    }
    let closed = r.close();
    drop(small);
    assert!(closed.unwritten.is_empty());
    assert_eq!(closed.path, fallback.join("run.jsonl"));
    let seen = seen.lock().unwrap().clone();
    assert!(seen[0].contains("No space left on device"), "{seen:#?}");
    assert!(seen[1].starts_with(&format!(
        "writing the transcript to {} instead (copied the",
        closed.path.display()
    )));
    let t = read(&closed.path).unwrap();
    assert_eq!(t.events().cloned().collect::<Vec<_>>(), recorded);
    assert!(verify(&closed.path).unwrap().is_ok());
    validate_file(&closed.path).unwrap();
}
