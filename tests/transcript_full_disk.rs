//! A disk-full runbook must be usable on a full disk: when the transcript cannot be written,
//! rb says so at once, finishes the run, and keeps every event (in a fallback file it names).
//! Needs root for `mount -t tmpfs`; the test fails (never skips) without it.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::binary::Sandbox;
use common::{Tmpfs, checked_transcript};

#[test]
fn a_full_transcript_disk_is_reported_and_the_run_completes_with_every_event_kept() {
    let d = Sandbox::new();
    let full = d.path("full");
    let _mount = Tmpfs::mount(&full, "64k");
    // Fill it to the last byte.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", full.join("filler").display()))
        .stderr(Stdio::null())
        .status();

    d.write(
        "t.yaml",
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: one\n    run: seq 1 500\n    read_only: true\n  - id: two\n    run: touch two-ran\n    read_only: true\n",
    );
    let fallback = d.path("fallback");
    std::fs::create_dir(&fallback).unwrap();
    let out = d
        .rb()
        .args(["run", "t.yaml", "--yes", "--transcript"])
        .arg(full.join("t.jsonl"))
        .env("TMPDIR", &fallback)
        .output();
    let stderr = out.stderr;
    assert_eq!(out.code, Some(0), "the run must complete: {stderr}");
    assert!(d.path("two-ran").exists());
    assert!(
        stderr.contains("No space left on device"),
        "the problem must be reported: {stderr}"
    );
    let last = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("transcript: "))
        .expect("rb names the transcript at the end");
    let kept = Path::new(last);
    assert!(
        kept.starts_with(&fallback),
        "expected the fallback under $TMPDIR, got {last}"
    );
    let t = checked_transcript(kept);
    let finished: Vec<_> = t
        .events()
        .filter(|e| matches!(e, rb::transcript::Event::StepFinished { .. }))
        .collect();
    assert_eq!(finished.len(), 2, "every step's end is kept");
    assert!(t.run_finished().is_some());
    let text = std::fs::read_to_string(kept).unwrap();
    assert!(text.contains("500\\n"), "the step's output is kept");
}
