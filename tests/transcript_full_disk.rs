//! A disk-full runbook must be usable on a full disk: when the transcript cannot be written,
//! rb says so at once, finishes the run, and keeps every event (in a fallback file it names).
//! Needs root for `mount -t tmpfs`; the test fails (never skips) without it.

use std::path::Path;
use std::process::{Command, Stdio};

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_transcript_disk_is_reported_and_the_run_completes_with_every_event_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let full = d.join("full");
    std::fs::create_dir(&full).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&full)
        .status()
        .unwrap();
    assert!(
        st.success(),
        "mounting a tmpfs failed: this test needs root (the test command runs as root)"
    );
    let _mount = Mount(full.clone());
    // Fill it to the last byte.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", full.join("filler").display()))
        .stderr(Stdio::null())
        .status();

    std::fs::write(
        d.join("t.yaml"),
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: one\n    run: seq 1 500\n    read_only: true\n  - id: two\n    run: touch two-ran\n    read_only: true\n",
    )
    .unwrap();
    let fallback = d.join("fallback");
    std::fs::create_dir(&fallback).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rb"))
        .current_dir(d)
        .args(["run", "t.yaml", "--yes", "--transcript"])
        .arg(full.join("t.jsonl"))
        .env("TMPDIR", &fallback)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the run must complete: {stderr}"
    );
    assert!(d.join("two-ran").exists());
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
    let t = rb::transcript::read(kept).unwrap();
    assert!(rb::transcript::verify(kept).unwrap().problem.is_none());
    rb::transcript::schema::validate_file(kept).unwrap();
    let finished: Vec<_> = t
        .events()
        .filter(|e| matches!(e, rb::transcript::Event::StepFinished { .. }))
        .collect();
    assert_eq!(finished.len(), 2, "every step's end is kept");
    assert!(t.run_finished().is_some());
    let text = std::fs::read_to_string(kept).unwrap();
    assert!(text.contains("500\\n"), "the step's output is kept");
}
