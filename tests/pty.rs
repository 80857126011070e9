//! The real terminal: `rb run` in a pseudo-terminal, prompts answered with keys, as a person
//! at 3 AM would. Each test checks what happened on the system, not only what was printed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use expectrl::{Eof, Expect, Session};

struct Pty {
    session: expectrl::session::OsSession,
    dir: tempfile::TempDir,
}

/// Starts `rb run runbook.yaml ARGS` in a PTY, in a temp dir holding the runbook.
fn start(runbook: &str, args: &[&str]) -> Pty {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.yaml"), runbook).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rb"));
    cmd.current_dir(dir.path())
        .arg("run")
        .arg("t.yaml")
        .args(args)
        .arg("--transcript")
        .arg(dir.path().join("transcript.jsonl"))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("USER", "alice");
    let mut session = Session::spawn(cmd).expect("spawn rb in a pty");
    session.set_expect_timeout(Some(Duration::from_secs(20)));
    Pty { session, dir }
}

impl Pty {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn expect(&mut self, text: &str) {
        if let Err(e) = self.session.expect(text) {
            panic!("did not see {text:?}: {e}");
        }
    }

    fn key(&mut self, k: &str) {
        self.session.send(k).unwrap();
    }

    /// Waits for rb to exit and returns its exit code.
    fn exit_code(&mut self) -> i32 {
        let _ = self.session.expect(Eof);
        match self.session.get_process().wait().unwrap() {
            expectrl::process::unix::WaitStatus::Exited(_, code) => {
                // Every transcript a run leaves must verify and match the published schema.
                let t = self.path("transcript.jsonl");
                rb::transcript::schema::validate_file(&t).unwrap_or_else(|e| panic!("{e}"));
                assert!(rb::transcript::verify(&t).unwrap().problem.is_none());
                code
            }
            other => panic!("rb did not exit normally: {other:?}"),
        }
    }

    fn transcript(&self) -> String {
        std::fs::read_to_string(self.path("transcript.jsonl")).unwrap_or_default()
    }
}

fn changing_step(body: &str) -> String {
    format!(
        "version: 1\nname: t\ntitle: PTY test\nsteps:\n  - id: change\n    title: Make a change\n{body}\n  - id: after\n    run: touch after\n    read_only: true\n"
    )
}

#[test]
fn run_key_runs_the_step() {
    let mut p = start(&changing_step("    run: touch made"), &[]);
    p.expect("Run this command?");
    p.key("r");
    p.expect("ok");
    let dir = p.dir.path().to_path_buf();
    assert_eq!(p.exit_code(), 0);
    assert!(dir.join("made").exists() && dir.join("after").exists());
}

#[test]
fn skip_key_skips_only_that_step() {
    let mut p = start(&changing_step("    run: touch made"), &[]);
    p.expect("Run this command?");
    p.key("s");
    let dir = p.dir.path().to_path_buf();
    assert_eq!(p.exit_code(), 0);
    assert!(!dir.join("made").exists(), "a skipped step must not run");
    assert!(dir.join("after").exists());
}

#[test]
fn abort_key_stops_the_run_with_exit_1() {
    let mut p = start(&changing_step("    run: touch made"), &[]);
    p.expect("Run this command?");
    p.key("a");
    p.expect("aborted");
    let dir = p.dir.path().to_path_buf();
    assert_eq!(p.exit_code(), 1);
    assert!(!dir.join("made").exists() && !dir.join("after").exists());
}

#[test]
fn retry_after_failure_runs_again() {
    // Fails the first time (and leaves a flag), succeeds the second.
    let mut p = start(
        &changing_step("    run: if [ -e flag ]; then touch made; else touch flag; exit 4; fi"),
        &[],
    );
    p.expect("Run this command?");
    p.key("r");
    p.expect("exited with status 4");
    p.expect("What now?");
    p.key("t");
    p.expect("ok");
    let dir = p.dir.path().to_path_buf();
    assert_eq!(p.exit_code(), 0);
    assert!(dir.join("made").exists());
}

#[test]
fn rollback_after_failure_runs_the_undo() {
    let mut p = start(
        &changing_step(
            "    run: touch half-done; exit 1\n    rollback: rm half-done; touch rolled-back",
        ),
        &[],
    );
    p.expect("Run this command?");
    p.key("r");
    p.expect("What now?");
    p.key("b");
    p.expect("Continue with the next step, or abort?");
    p.key("c");
    let dir = p.dir.path().to_path_buf();
    assert_eq!(p.exit_code(), 0);
    assert!(dir.join("rolled-back").exists() && !dir.join("half-done").exists());
}

#[test]
fn note_key_records_a_note_then_runs() {
    let mut p = start(&changing_step("    run: touch made"), &[]);
    p.expect("Run this command?");
    p.key("n");
    p.expect("Note:");
    p.key("disk filled by the batch job\r");
    p.expect("note recorded");
    p.expect("Run this command?");
    p.key("r");
    p.expect("ok");
    let transcript_path = p.path("transcript.jsonl");
    assert_eq!(p.exit_code(), 0);
    let t = std::fs::read_to_string(transcript_path).unwrap();
    assert!(
        t.contains("\"event\":\"note\"") && t.contains("disk filled by the batch job"),
        "{t}"
    );
}

#[test]
fn typed_confirmation_wants_the_word() {
    let rb = "version: 1\nname: t\ntitle: T\nparams:\n  db: {default: orders}\nsteps:\n  - id: drop\n    run: touch dropped\n    confirm: {typed: '{{ db }}'}\n";
    let mut p = start(rb, &[]);
    p.expect("Run this command?");
    p.key("r");
    p.expect("Type `orders` to confirm:");
    p.key("orders\r");
    p.expect("ok");
    let dir = p.dir.path().to_path_buf();
    assert_eq!(p.exit_code(), 0);
    assert!(dir.join("dropped").exists());
}

/// Whether any live process has `pid` (zombies count as gone).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn ctrl_c_during_a_step_ends_its_process_group_and_asks() {
    let rb = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: long\n    run: sleep 1000 & echo $! > child.pid; printf 'sta%s\\n' rted; wait\n    read_only: true\n  - id: next\n    run: touch next\n    read_only: true\n";
    let mut p = start(rb, &[]);
    p.expect("started");
    let child = read_pid(&p.path("child.pid"));
    assert!(alive(child));
    p.key("\x03");
    p.expect("Abort the whole run, skip this step, or retry it?");
    assert!(!alive(child), "the step's background process must be gone");
    p.key("a");
    let dir = p.dir.path().to_path_buf();
    let t = p.transcript();
    assert_eq!(p.exit_code(), 130);
    assert!(!dir.join("next").exists());
    let _ = t;
}

#[test]
fn ctrl_c_then_skip_continues_with_the_next_step() {
    let rb = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: long\n    run: printf 'sta%s\\n' rted; sleep 1000\n    read_only: true\n  - id: next\n    run: touch next\n    read_only: true\n";
    let mut p = start(rb, &[]);
    p.expect("started");
    p.key("\x03");
    p.expect("skip this step");
    p.key("s");
    let dir = p.dir.path().to_path_buf();
    assert_eq!(p.exit_code(), 0);
    assert!(dir.join("next").exists());
}

#[test]
fn ctrl_c_at_a_prompt_interrupts_the_run() {
    let mut p = start(&changing_step("    run: touch made"), &[]);
    p.expect("Run this command?");
    p.key("\x03");
    let dir = p.dir.path().to_path_buf();
    assert_eq!(p.exit_code(), 130);
    assert!(!dir.join("made").exists());
}

#[test]
fn a_second_ctrl_c_kills_the_step_at_once_and_ends_the_run() {
    // The step ignores SIGINT, so the first Ctrl-C alone would wait out the grace period.
    let rb = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: stubborn\n    run: trap '' INT; printf 'sta%s\\n' rted; sleep 1000 & echo $! > child.pid; wait\n    read_only: true\n  - id: next\n    run: touch next\n    read_only: true\n";
    let mut p = start(rb, &[]);
    p.expect("started");
    common::wait_for_file(&p.path("child.pid"));
    let child = read_pid(&p.path("child.pid"));
    let begun = std::time::Instant::now();
    p.key("\x03");
    std::thread::sleep(Duration::from_millis(300));
    p.key("\x03");
    p.expect("a second Ctrl-C killed the step's process group");
    assert!(
        begun.elapsed() < Duration::from_secs(4),
        "the second Ctrl-C must not wait for the 5 s grace period"
    );
    let dir = p.dir.path().to_path_buf();
    assert_eq!(p.exit_code(), 130);
    assert!(!alive(child));
    assert!(!dir.join("next").exists());
}
