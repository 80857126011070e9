//! A run killed with SIGKILL in the middle of a step leaves a valid transcript, and `rb resume`
//! finishes it from the interrupted step, in the same transcript.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

const RUNBOOK: &str = "version: 1
name: k
title: Killed mid-step
steps:
  - id: first
    run: echo once >> first.log; echo captured-value
    read_only: true
    capture: value
  - id: long
    # The first time it hangs (rb is killed meanwhile); when resumed it finishes.
    run: if [ -e long-started ]; then touch long-done; else echo $$ > long.pid; touch long-started; sleep 1000; fi
    read_only: true
  - id: last
    run: echo \"last saw {{ value }}\" > last.out
    read_only: true
";

fn rb(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rb"));
    c.current_dir(dir).env("NO_COLOR", "1").stdin(Stdio::null());
    c
}

#[test]
fn sigkill_mid_step_then_resume_finishes_from_the_interrupted_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("k.yaml"), RUNBOOK).unwrap();
    let mut child = rb(d)
        .args(["run", "k.yaml", "--yes", "--transcript", "t.jsonl"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for_file(&d.join("long-started"));
    common::wait_for_file(&d.join("long.pid"));
    child.kill().unwrap(); // SIGKILL: no chance to clean up or to finish the transcript
    child.wait().unwrap();
    // The step's shell outlives rb (its own process group); end it as an operator would.
    let pid: i32 = std::fs::read_to_string(d.join("long.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );

    // Every complete line parses, the chain holds, no run_finished yet.
    let t = rb::transcript::read(&d.join("t.jsonl")).unwrap();
    assert!(t.run_finished().is_none());
    assert!(
        t.events().any(
            |e| matches!(e, rb::transcript::Event::StepStarted { step, .. } if step == "long")
        )
    );
    assert!(
        rb::transcript::verify(&d.join("t.jsonl"))
            .unwrap()
            .problem
            .is_none()
    );
    rb::transcript::schema::validate_file(&d.join("t.jsonl")).unwrap();

    let out = rb(d).args(["resume", "t.jsonl", "--yes"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Resuming `k`") && stdout.contains("at step 2 of 3"),
        "{stdout}"
    );
    // `first` did not run again; `long` and `last` ran, with the capture from before the kill.
    assert_eq!(
        std::fs::read_to_string(d.join("first.log")).unwrap(),
        "once\n"
    );
    assert!(d.join("long-done").exists());
    assert_eq!(
        std::fs::read_to_string(d.join("last.out")).unwrap(),
        "last saw captured-value\n"
    );

    let t = rb::transcript::read(&d.join("t.jsonl")).unwrap();
    assert!(matches!(
        t.run_finished().map(|l| &l.event),
        Some(rb::transcript::Event::RunFinished {
            outcome: rb::transcript::RunOutcome::Finished,
            ..
        })
    ));
    assert!(
        rb::transcript::verify(&d.join("t.jsonl"))
            .unwrap()
            .problem
            .is_none()
    );
    rb::transcript::schema::validate_file(&d.join("t.jsonl")).unwrap();
    assert_eq!(
        t.events()
            .filter(|e| matches!(e, rb::transcript::Event::RunStarted { .. }))
            .count(),
        1
    );

    // A finished run has nothing to resume.
    let again = rb(d).args(["resume", "t.jsonl", "--yes"]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn resume_refuses_a_changed_runbook_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rbk = "version: 1\nname: k\ntitle: K\nsteps:\n  - id: a\n    run: 'false'\n    read_only: true\n  - id: b\n    run: touch b-ran\n    read_only: true\n";
    std::fs::write(d.join("k.yaml"), rbk).unwrap();
    let out = rb(d)
        .args(["run", "k.yaml", "--yes", "--transcript", "t.jsonl"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the first step fails the unattended run"
    );
    std::fs::write(d.join("k.yaml"), rbk.replace("'false'", "'true'")).unwrap();
    let out = rb(d).args(["resume", "t.jsonl", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("changed since the run started"));
    assert!(!d.join("b-ran").exists());
    let out = rb(d)
        .args(["resume", "t.jsonl", "--yes", "--force"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(d.join("b-ran").exists());
    let t = std::fs::read_to_string(d.join("t.jsonl")).unwrap();
    assert!(t.contains("--force: the runbook changed"));
}
