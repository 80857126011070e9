//! The real terminal: `rb run` in a pseudo-terminal, prompts answered with keys, as a person
//! at 3 AM would. Each test checks what happened on the system, not only what was printed.

mod common;

use std::time::Duration;

use common::binary::Sandbox;
use common::pty::Pty;
use common::{alive, checked_transcript, read_pid};

/// Starts `rb run t.yaml ARGS --transcript transcript.jsonl` in a PTY, in a sandbox holding the
/// runbook.
fn start(runbook: &str, args: &[&str]) -> (Sandbox, Pty) {
    let d = Sandbox::with_runbook(runbook);
    let args = [
        &["run", "t.yaml"],
        args,
        &["--transcript", "transcript.jsonl"],
    ]
    .concat();
    let p = d.pty(&args);
    (d, p)
}

/// Waits for rb to exit and returns its exit code; the transcript the run left must verify and
/// match the published schema.
fn finish(d: &Sandbox, mut p: Pty) -> i32 {
    let code = p.exit_code();
    checked_transcript(&d.path("transcript.jsonl"));
    code
}

fn changing_step(body: &str) -> String {
    format!(
        "version: 1\nname: t\ntitle: PTY test\nsteps:\n  - id: change\n    title: Make a change\n{body}\n  - id: after\n    run: touch after\n    read_only: true\n"
    )
}

#[test]
fn run_key_runs_the_step() {
    let (d, mut p) = start(&changing_step("    run: touch made"), &[]);
    p.expect("Run this command?");
    p.key("r");
    p.expect("ok");
    assert_eq!(finish(&d, p), 0);
    assert!(d.path("made").exists() && d.path("after").exists());
}

#[test]
fn skip_key_skips_only_that_step() {
    let (d, mut p) = start(&changing_step("    run: touch made"), &[]);
    p.expect("Run this command?");
    p.key("s");
    assert_eq!(finish(&d, p), 0);
    assert!(!d.path("made").exists(), "a skipped step must not run");
    assert!(d.path("after").exists());
}

#[test]
fn abort_key_stops_the_run_with_exit_1() {
    let (d, mut p) = start(&changing_step("    run: touch made"), &[]);
    p.expect("Run this command?");
    p.key("a");
    p.expect("aborted");
    assert_eq!(finish(&d, p), 1);
    assert!(!d.path("made").exists() && !d.path("after").exists());
}

#[test]
fn retry_after_failure_runs_again() {
    // Fails the first time (and leaves a flag), succeeds the second.
    let (d, mut p) = start(
        &changing_step("    run: if [ -e flag ]; then touch made; else touch flag; exit 4; fi"),
        &[],
    );
    p.expect("Run this command?");
    p.key("r");
    p.expect("exited with status 4");
    p.expect("What now?");
    p.key("t");
    p.expect("ok");
    assert_eq!(finish(&d, p), 0);
    assert!(d.path("made").exists());
}

#[test]
fn rollback_after_failure_runs_the_undo() {
    let (d, mut p) = start(
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
    assert_eq!(finish(&d, p), 0);
    assert!(d.path("rolled-back").exists() && !d.path("half-done").exists());
}

#[test]
fn note_key_records_a_note_then_runs() {
    let (d, mut p) = start(&changing_step("    run: touch made"), &[]);
    p.expect("Run this command?");
    p.key("n");
    p.expect("Note:");
    p.key("disk filled by the batch job\r");
    p.expect("note recorded");
    p.expect("Run this command?");
    p.key("r");
    p.expect("ok");
    assert_eq!(finish(&d, p), 0);
    let t = std::fs::read_to_string(d.path("transcript.jsonl")).unwrap();
    assert!(
        t.contains("\"event\":\"note\"") && t.contains("disk filled by the batch job"),
        "{t}"
    );
}

#[test]
fn typed_confirmation_wants_the_word() {
    let rb = "version: 1\nname: t\ntitle: T\nparams:\n  db: {default: orders}\nsteps:\n  - id: drop\n    run: touch dropped\n    confirm: {typed: '{{ db }}'}\n";
    let (d, mut p) = start(rb, &[]);
    p.expect("Run this command?");
    p.key("r");
    p.expect("Type `orders` to confirm:");
    p.key("orders\r");
    p.expect("ok");
    assert_eq!(finish(&d, p), 0);
    assert!(d.path("dropped").exists());
}

#[test]
fn ctrl_c_during_a_step_ends_its_process_group_and_asks() {
    let rb = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: long\n    run: sleep 1000 & echo $! > child.pid; printf 'sta%s\\n' rted; wait\n    read_only: true\n  - id: next\n    run: touch next\n    read_only: true\n";
    let (d, mut p) = start(rb, &[]);
    p.expect("started");
    let child = read_pid(&d.path("child.pid"));
    assert!(alive(child));
    p.key("\x03");
    p.expect("Abort the whole run, skip this step, or retry it?");
    assert!(!alive(child), "the step's background process must be gone");
    p.key("a");
    assert_eq!(finish(&d, p), 130);
    assert!(!d.path("next").exists());
}

#[test]
fn ctrl_c_then_skip_continues_with_the_next_step() {
    let rb = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: long\n    run: printf 'sta%s\\n' rted; sleep 1000\n    read_only: true\n  - id: next\n    run: touch next\n    read_only: true\n";
    let (d, mut p) = start(rb, &[]);
    p.expect("started");
    p.key("\x03");
    p.expect("skip this step");
    p.key("s");
    assert_eq!(finish(&d, p), 0);
    assert!(d.path("next").exists());
}

#[test]
fn ctrl_c_at_a_prompt_interrupts_the_run() {
    let (d, mut p) = start(&changing_step("    run: touch made"), &[]);
    p.expect("Run this command?");
    p.key("\x03");
    assert_eq!(finish(&d, p), 130);
    assert!(!d.path("made").exists());
}

#[test]
fn a_second_ctrl_c_kills_the_step_at_once_and_ends_the_run() {
    // The step ignores SIGINT, so the first Ctrl-C alone would wait out the grace period.
    let rb = "version: 1\nname: t\ntitle: T\nsteps:\n  - id: stubborn\n    run: trap '' INT; printf 'sta%s\\n' rted; sleep 1000 & echo $! > child.pid; wait\n    read_only: true\n  - id: next\n    run: touch next\n    read_only: true\n";
    let (d, mut p) = start(rb, &[]);
    p.expect("started");
    common::wait_for_file(&d.path("child.pid"));
    let child = read_pid(&d.path("child.pid"));
    let begun = std::time::Instant::now();
    p.key("\x03");
    std::thread::sleep(Duration::from_millis(300));
    p.key("\x03");
    p.expect("a second Ctrl-C killed the step's process group");
    assert!(
        begun.elapsed() < Duration::from_secs(4),
        "the second Ctrl-C must not wait for the 5 s grace period"
    );
    assert_eq!(finish(&d, p), 130);
    assert!(!alive(child));
    assert!(!d.path("next").exists());
}

/// Issue 9 #7: the terminal goes away mid-step (an ssh drop: the PTY's master is closed). rb gets
/// SIGHUP, prompts nobody, ends the step's process group, records the hang-up as such, exits 130,
/// and the run is resumable.
#[test]
fn closing_the_terminal_mid_step_interrupts_the_run_and_leaves_it_resumable() {
    let d = Sandbox::new();
    d.write(
        "t.yaml",
        "version: 1\nname: t\ntitle: T\nsteps:\n  - id: long\n    run: if [ -e second ]; then touch resumed; else echo $$ > long.pid; touch second; sleep 1000; fi\n  - id: after\n    run: touch after\n    read_only: true\n",
    );
    // Python's pty.fork gives rb a real controlling terminal (setsid + TIOCSCTTY); the script
    // answers "run", waits for the step, closes the master and reports rb's exit code.
    let script = r#"
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "run", "t.yaml", "--transcript", "t.jsonl"])
buf, t0 = b"", time.time()
while b"Run this" not in buf and time.time() - t0 < 20:
    buf += os.read(fd, 1024)
os.write(fd, b"r")
# `second` is touched after long.pid: once it exists, a resume finishes the step at once.
while not os.path.exists("second") and time.time() - t0 < 20:
    time.sleep(0.02)
os.close(fd)
for _ in range(300):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print(os.waitstatus_to_exitcode(status))
        sys.exit(0)
    time.sleep(0.1)
os.kill(pid, 9)
print("still running after the terminal closed")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, env!("CARGO_BIN_EXE_rb")])
        .current_dir(d.root())
        .env("XDG_STATE_HOME", d.state_dir())
        .env("NO_COLOR", "1")
        .output()
        .expect("python3 runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "130",
        "{out:?}"
    );
    let step_pid = read_pid(&d.path("long.pid"));
    assert!(!alive(step_pid), "the step's process group was ended");
    let t = checked_transcript(&d.path("t.jsonl"));
    assert!(t.events().any(|e| matches!(e,
        rb::transcript::Event::Interrupted { what, .. } if what.contains("SIGHUP"))));
    assert!(matches!(
        t.run_finished().map(|l| &l.event),
        Some(rb::transcript::Event::RunFinished {
            outcome: rb::transcript::RunOutcome::Interrupted,
            ..
        })
    ));
    assert!(
        !t.events().any(|e| matches!(e, rb::transcript::Event::Prompt { .. }
            if t.events().filter(|e| matches!(e, rb::transcript::Event::Prompt { .. })).count() > 1)),
        "no prompt after the hang-up"
    );
    let out = d.run(&["resume", "t.jsonl", "--yes"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(d.path("resumed").exists() && d.path("after").exists());
}
