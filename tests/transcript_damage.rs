//! A transcript deleted, truncated or replaced while `rb run` runs: rb says so at once, writes
//! the whole run so far to `NAME.recovered-N.jsonl` beside it, continues there, and names that
//! file at the end. Each test runs the real binary on a runbook whose first step waits on a fifo,
//! damages the file while it waits, then lets it go on.

mod common;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::binary::{Out, Sandbox};
use common::{checked_transcript, wait_for};
use rb::transcript::Event;

const WAITS: &str = r#"version: 1
name: waits
title: Waits for the test
steps:
  - id: wait
    run: echo waiting; read -r line < fifo; echo "got $line"
    read_only: true
  - id: after
    run: echo after
    read_only: true
"#;

/// Runs `waits` with its transcript at `t.jsonl`; once its first step waits, calls `damage` with
/// the transcript's path, then releases the step. Returns rb's output and the old path.
fn run_damaging(damage: impl FnOnce(&Path)) -> (Sandbox, Out, PathBuf) {
    let d = Sandbox::new();
    d.write("waits.yaml", WAITS);
    nix::unistd::mkfifo(&d.path("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let path = d.path("t.jsonl");
    let rb = d
        .rb()
        .args(["run", "waits.yaml", "--yes", "--transcript", "t.jsonl"])
        .timeout(Duration::from_secs(60));
    let run = std::thread::spawn(move || rb.output());
    // The output line, not the command in `step_started`: the step is waiting on the fifo.
    wait_for(&path, |t| t.contains(r#""text":"waiting\n""#));
    damage(&path);
    release(&d.path("fifo"));
    let out = run.join().expect("rb's output");
    (d, out, path)
}

/// Writes a line to the fifo the step reads; gives up after 20 s (rb died: nobody reads).
fn release(fifo: &Path) {
    let start = Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(fifo)
        {
            Ok(mut f) => return f.write_all(b"go\n").unwrap(),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENXIO) => {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "the step never read the fifo"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{}: {e}", fifo.display()),
        }
    }
}

/// The run ended well (run_started, step_started, step_spawned and the first output were written
/// before the damage), rb said what happened and where the run went, that file holds the whole
/// run and verifies, and the end of the run names it. Returns the recovered file's path.
fn check_recovered(d: &Sandbox, out: &Out, what: &str) -> PathBuf {
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // As given on the command line (`--transcript t.jsonl`).
    let said = format!("rb: transcript: the transcript t.jsonl {what}");
    assert!(out.stderr.contains(&said), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "while rb was running; rb wrote the whole run so far (4 lines) to t.recovered-1.jsonl and continues there"
        ),
        "{}",
        out.stderr
    );
    let new = d.path("t.recovered-1.jsonl");
    let t = checked_transcript(&new);
    let outputs: String = t
        .events()
        .filter_map(|e| match e {
            Event::Output { text: Some(t), .. } => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        outputs, "waiting\ngot go\nafter\n",
        "every event of the run"
    );
    assert!(matches!(t.lines[0].event, Event::RunStarted { .. }));
    assert!(matches!(
        t.lines.last().map(|l| &l.event),
        Some(Event::RunFinished { .. })
    ));
    let verify = d.run(&["transcripts", "verify", "t.recovered-1.jsonl"]);
    assert_eq!(verify.code, Some(0), "{}", verify.stdout);
    // The end of the run names the new file, never the old one.
    assert!(
        out.stderr.ends_with("transcript: t.recovered-1.jsonl\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains("next: rb postmortem t.recovered-1.jsonl"),
        "{}",
        out.stdout
    );
    new
}

#[test]
fn a_transcript_deleted_mid_run_is_written_whole_to_a_recovered_file() {
    let (d, out, path) = run_damaging(|p| std::fs::remove_file(p).unwrap());
    check_recovered(&d, &out, "was deleted");
    assert!(!path.exists(), "rb wrote at the deleted path again");
}

#[test]
fn a_transcript_truncated_mid_run_is_written_whole_to_a_recovered_file() {
    let mut cut = 0;
    let (d, out, path) = run_damaging(|p| {
        let len = std::fs::metadata(p).unwrap().len();
        cut = len / 2; // in the middle of a line
        std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .unwrap()
            .set_len(cut)
            .unwrap();
    });
    check_recovered(&d, &out, "was truncated (from");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        cut,
        "rb does not repair a file it no longer trusts"
    );
}

#[test]
fn a_transcript_replaced_mid_run_is_left_alone_and_the_run_moves() {
    const OTHER: &str = "not a transcript\n";
    let (d, out, path) = run_damaging(|p| {
        let other = p.with_file_name("other");
        std::fs::write(&other, OTHER).unwrap();
        std::fs::rename(&other, p).unwrap();
    });
    check_recovered(&d, &out, "was replaced by another file");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), OTHER);
}

/// Reads all of `r` in a thread (so a full pipe never blocks rb).
fn drain(mut r: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

#[test]
fn the_recovered_file_holds_the_run_lock_and_is_what_rb_resume_continues() {
    let d = Sandbox::new();
    d.write(
        "waits.yaml",
        "version: 1\nname: waits\ntitle: Waits\nsteps:\n  - id: wait\n    run: if [ -e done ]; then echo resumed; else echo waiting; read -r line < fifo; echo \"got $line\"; read -r line < fifo; fi\n    read_only: true\n  - id: after\n    run: echo after\n    read_only: true\n",
    );
    nix::unistd::mkfifo(&d.path("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let mut cmd = d
        .rb()
        .args(["run", "waits.yaml", "--yes", "--transcript", "t.jsonl"])
        .command();
    let mut rb = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (out, err) = (
        drain(rb.stdout.take().unwrap()),
        drain(rb.stderr.take().unwrap()),
    );
    wait_for(&d.path("t.jsonl"), |t| t.contains(r#""text":"waiting\n""#));
    std::fs::remove_file(d.path("t.jsonl")).unwrap();
    release(&d.path("fifo"));
    let recovered = d.path("t.recovered-1.jsonl");
    wait_for(&recovered, |t| t.contains(r#""text":"got go\n""#));

    // The run is live in its new file: resuming it beside rb is refused.
    let out_resume = d.run(&["resume", "t.recovered-1.jsonl", "--yes"]);
    assert_eq!(out_resume.code, Some(2), "{}", out_resume.stderr);
    assert!(
        out_resume.stderr.contains("is still going"),
        "{}",
        out_resume.stderr
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(rb.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(common::wait_exit(&mut rb), 130);
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        out.contains("next: rb resume t.recovered-1.jsonl   (continues where the run stopped)"),
        "{out}\n{err}"
    );
    assert!(err.ends_with("transcript: t.recovered-1.jsonl\n"), "{err}");

    d.write("done", "");
    let resumed = d.run(&["resume", "t.recovered-1.jsonl", "--yes"]);
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    let t = checked_transcript(&recovered);
    assert!(
        t.events()
            .any(|e| matches!(e, Event::Output { text: Some(t), .. } if t == "resumed\n"))
    );
    let verify = d.run(&["transcripts", "verify", "t.recovered-1.jsonl"]);
    assert!(verify.stdout.contains("complete"), "{}", verify.stdout);
    assert!(!d.path("t.jsonl").exists());
}
