//! The validation corpus, through the real binary.
//!
//! Every file in `tests/corpus/invalid/` holds one problem (its name says which). For each, the
//! whole stderr of `rb validate FILE` and its exit code are a snapshot, so the diagnostic, its
//! line and column and its snippet are all pinned. Every run must exit 2, must not panic and must
//! end within a wall-clock bound (a hang fails instead of blocking the suite). Files that would be
//! too large to commit (the 20 MB runbook) are generated here. Every file in
//! `tests/corpus/valid/` must be accepted.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::binary::{Out, Rb};

/// A run of `rb` that did not finish within this is a hang.
const TIMEOUT: Duration = Duration::from_secs(10);

fn corpus(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind)
}

/// Runs `rb args…` in `dir`; a run longer than [`TIMEOUT`] fails. The harness measures its peak
/// memory with `wait4` (the kernel's own account, no extra tool needed).
fn run_rb(dir: &Path, args: &[&str]) -> Out {
    Rb::in_dir(dir).args(args).timeout(TIMEOUT).output()
}

/// The checks every run on an invalid file must pass, then the text to snapshot.
fn invalid_run(dir: &Path, file: &str) -> Out {
    let run = run_rb(dir, &["validate", file]);
    assert!(
        !run.stderr.contains("panicked"),
        "rb panicked on {file}:\n{}",
        run.stderr
    );
    assert_eq!(
        run.code,
        Some(2),
        "rb validate {file} must exit 2; stderr:\n{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "human diagnostics go to stderr only");
    run
}

#[test]
fn invalid_corpus_snapshots() {
    let count = std::fs::read_dir(corpus("invalid"))
        .expect("the invalid corpus exists")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count();
    assert!(count >= 30, "the invalid corpus has only {count} files");
    insta::glob!("corpus/invalid/*.yaml", |path| {
        let file = path.file_name().and_then(|n| n.to_str()).expect("a name");
        let run = invalid_run(path.parent().expect("a folder"), file);
        insta::assert_snapshot!(format!(
            "exit code: {}\n--- stderr\n{}",
            run.code.unwrap_or(-1),
            run.stderr
        ));
    });
}

#[test]
fn summary_counts_every_diagnostic() {
    // Every problem of a file is reported, each with a headline naming the file, and the
    // closing summary counts them all.
    for entry in std::fs::read_dir(corpus("invalid")).expect("corpus") {
        let path = entry.expect("entry").path();
        let file = path.file_name().and_then(|n| n.to_str()).expect("name");
        let run = invalid_run(&corpus("invalid"), file);
        let headlines = run
            .stderr
            .lines()
            .filter(|l| l.starts_with(&format!("{file}:")))
            .count();
        assert!(headlines >= 1, "{file}: no diagnostic names the file");
        assert!(
            run.stderr.ends_with(&format!(
                "1 of 1 runbook(s) invalid, {headlines} problem(s)\n"
            )),
            "{file}: the summary must count every diagnostic:\n{}",
            run.stderr
        );
    }
}

#[test]
fn alias_bomb_is_refused_with_bounded_memory() {
    let run = invalid_run(&corpus("invalid"), "alias-bomb.yaml");
    assert!(
        run.stderr.contains("error[too-many-nodes]"),
        "{}",
        run.stderr
    );
    eprintln!("alias bomb: peak {} KiB", run.peak_kib);
    // Expanded, the bomb is 10^10 nodes; the refusal must come long before. A debug build of rb
    // validating a small runbook peaks around 10 MiB.
    assert!(
        run.peak_kib < 64 * 1024,
        "rb used {} KiB on the alias bomb",
        run.peak_kib
    );
}

#[test]
fn a_20_mb_file_is_refused_quickly_without_reading_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.yaml");
    // Written in pieces: the peak memory `wait4` reports for the child includes what this
    // process held when it forked, so this test must not hold 20 MB itself.
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    out.write_all(b"version: 1\nname: huge\ntitle: Huge\nsteps:\n")
        .expect("write");
    let step = b"  - id: usage\n    run: df -h /\n    read_only: true\n";
    for _ in 0..(20 * 1024 * 1024 / step.len() + 1) {
        out.write_all(step).expect("write");
    }
    out.into_inner().expect("flush").sync_all().expect("sync");
    assert!(std::fs::metadata(&path).expect("stat").len() >= 20 * 1024 * 1024);
    let run = invalid_run(dir.path(), "huge.yaml");
    eprintln!("20 MB file: peak {} KiB in {:?}", run.peak_kib, run.elapsed);
    insta::assert_snapshot!(run.stderr, @r"
    huge.yaml: error[file-too-large]: the file is larger than 1048576 bytes, the limit for a runbook
      = hint: split it into several runbooks; a runbook this large is not reviewable
    1 of 1 runbook(s) invalid, 1 problem(s)
    ");
    // Only 1 MiB + 1 byte is read: rb peaks near 10 MiB here, where reading the whole file
    // would take it past 30 MiB.
    assert!(
        run.peak_kib < 20 * 1024,
        "rb used {} KiB on a 20 MB file",
        run.peak_kib
    );
    assert!(
        run.elapsed < Duration::from_secs(3),
        "refusing a 20 MB file took {:?}",
        run.elapsed
    );
}

#[test]
fn valid_corpus_is_accepted() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus("valid")).expect("corpus") {
        let path = entry.expect("entry").path();
        let file = path.file_name().and_then(|n| n.to_str()).expect("name");
        let run = run_rb(&corpus("valid"), &["validate", file]);
        assert_eq!(
            (run.code, run.stderr.as_str()),
            (Some(0), "1 runbook(s) valid\n"),
            "{file} must be valid"
        );
        n += 1;
    }
    assert!(n >= 5, "the valid corpus has only {n} files");
    // And all at once, as a folder.
    let run = run_rb(&corpus("valid"), &["validate", "."]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stderr, format!("{n} runbook(s) valid\n"));
}

#[test]
fn valid_corpus_uses_every_feature_of_the_format() {
    // The valid corpus is the proof that rb accepts the whole format; keep it complete.
    let mut all = String::new();
    for entry in std::fs::read_dir(corpus("valid")).expect("corpus") {
        all += &std::fs::read_to_string(entry.expect("entry").path()).expect("read");
    }
    for needle in [
        "type: integer",
        "type: boolean",
        "type: enum",
        "type: duration",
        "pattern:",
        "min:",
        "max:",
        "secret: true",
        "env:",
        "choices:",
        "requires:",
        "shell: sh",
        "tags:",
        "summary:",
        "kind: command",
        "kind: message",
        "kind: manual",
        "kind: watch",
        "retry:",
        "backoff: exponential",
        "rollback:",
        "confirm: { typed:",
        "interactive: true",
        "when:",
        "capture:",
        "until:",
        "every: \"{{",
        "for: \"{{",
        "timeout: \"{{",
        "marks: detected",
        "marks: acknowledged",
        "marks: mitigated",
        "marks: resolved",
        "read_only: true",
        "|raw",
        "&url",
        "*url",
    ] {
        assert!(all.contains(needle), "no valid runbook uses `{needle}`");
    }
}

#[test]
fn third_party_schema_validators_agree() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/third_party_schema.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env(
            "RB_TOOLS_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("tools"),
        )
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "tests/third_party_schema.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
