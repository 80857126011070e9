//! A run killed with SIGKILL in the middle of a step leaves a valid transcript, and `rb resume`
//! finishes it from the interrupted step, in the same transcript.

mod common;

use common::binary::Sandbox;
use common::{checked_transcript, read_pid, wait_for_file};

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
    run: echo last saw {{ value }} > last.out
    read_only: true
";

/// `k.yaml` run with `--yes` and SIGKILLed while its `long` step runs (no chance to clean up or to
/// finish the transcript); returns the sandbox and the pid of that step's shell, still running.
fn killed_mid_step() -> (Sandbox, i32) {
    killed_mid_step_of(RUNBOOK)
}

/// `book` (holding RUNBOOK's `long` step) run and SIGKILLed during `long`, as [`killed_mid_step`].
fn killed_mid_step_of(book: &str) -> (Sandbox, i32) {
    let d = Sandbox::new();
    d.write("k.yaml", book);
    let mut child = d
        .rb()
        .args(["run", "k.yaml", "--yes", "--transcript", "t.jsonl"])
        .spawn();
    wait_for_file(&d.path("long-started"));
    wait_for_file(&d.path("long.pid"));
    child.kill().unwrap();
    child.wait().unwrap();
    let pid = read_pid(&d.path("long.pid"));
    (d, pid)
}

/// Ends the step's process group, as an operator would (it outlives a killed rb).
fn end_group(pid: i32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
fn sigkill_mid_step_then_resume_finishes_from_the_interrupted_step() {
    let (d, pid) = killed_mid_step();
    // The step's shell outlives rb (its own process group); end it as an operator would.
    end_group(pid);

    // Every line parses and matches the schema, the chain holds, no run_finished yet.
    let t = checked_transcript(&d.path("t.jsonl"));
    assert!(t.run_finished().is_none());
    assert!(
        t.events().any(
            |e| matches!(e, rb::transcript::Event::StepStarted { step, .. } if step == "long")
        )
    );

    let out = d.run(&["resume", "t.jsonl", "--yes"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let stdout = out.stdout;
    assert!(
        stdout.contains("Resuming `k`") && stdout.contains("at step 2 of 3"),
        "{stdout}"
    );
    // `first` did not run again; `long` and `last` ran, with the capture from before the kill.
    assert_eq!(
        std::fs::read_to_string(d.path("first.log")).unwrap(),
        "once\n"
    );
    assert!(d.path("long-done").exists());
    assert_eq!(
        std::fs::read_to_string(d.path("last.out")).unwrap(),
        "last saw captured-value\n"
    );

    let t = checked_transcript(&d.path("t.jsonl"));
    assert!(matches!(
        t.run_finished().map(|l| &l.event),
        Some(rb::transcript::Event::RunFinished {
            outcome: rb::transcript::RunOutcome::Finished,
            ..
        })
    ));
    assert_eq!(
        t.events()
            .filter(|e| matches!(e, rb::transcript::Event::RunStarted { .. }))
            .count(),
        1
    );

    // A finished run has nothing to resume.
    let again = d.run(&["resume", "t.jsonl", "--yes"]);
    assert_eq!(again.code, Some(2));
}

#[test]
fn resume_refuses_a_changed_runbook_unless_forced() {
    let d = Sandbox::new();
    let rbk = "version: 1\nname: k\ntitle: K\nsteps:\n  - id: a\n    run: 'false'\n    read_only: true\n  - id: b\n    run: touch b-ran\n    read_only: true\n";
    d.write("k.yaml", rbk);
    let out = d.run(&["run", "k.yaml", "--yes", "--transcript", "t.jsonl"]);
    assert_eq!(out.code, Some(1), "the first step fails the unattended run");
    d.write("k.yaml", &rbk.replace("'false'", "'true'"));
    let out = d.run(&["resume", "t.jsonl", "--yes"]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("changed since the run started"));
    assert!(!d.path("b-ran").exists());
    let out = d.run(&["resume", "t.jsonl", "--yes", "--force"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(d.path("b-ran").exists());
    let t = std::fs::read_to_string(d.path("t.jsonl")).unwrap();
    assert!(t.contains("--force: the runbook changed"));
}

/// Issue 9 #2: a step inserted at the top, then `rb resume --force`: the steps that finished are
/// matched by id and never run again; the new step and the unfinished ones run; rb lists what
/// changed before it continues.
#[test]
fn resume_force_after_a_step_was_inserted_runs_no_finished_step_twice() {
    let (d, pid) = killed_mid_step();
    end_group(pid);
    let inserted = RUNBOOK.replace(
        "steps:\n",
        "steps:\n  - id: inserted\n    run: echo new >> inserted.log\n    read_only: true\n",
    );
    d.write("k.yaml", &inserted);
    let out = d.run(&["resume", "t.jsonl", "--yes"]);
    assert_eq!(out.code, Some(2), "a changed runbook needs --force");
    let out = d.run(&["resume", "t.jsonl", "--yes", "--force"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(said.contains("added: inserted"), "{said}");
    assert_eq!(
        std::fs::read_to_string(d.path("first.log")).unwrap(),
        "once\n",
        "`first` finished before the kill and must not run again"
    );
    assert_eq!(
        std::fs::read_to_string(d.path("inserted.log")).unwrap(),
        "new\n"
    );
    assert!(d.path("long-done").exists());
    assert_eq!(
        std::fs::read_to_string(d.path("last.out")).unwrap(),
        "last saw captured-value\n"
    );
    checked_transcript(&d.path("t.jsonl"));
}

/// Issue 9 #1: `rb resume` while the run writing the transcript is still alive, or a second
/// resume beside a first, is refused with the live process named; nothing runs twice.
#[test]
fn resume_while_the_run_is_alive_is_refused_naming_the_process() {
    let d = Sandbox::new();
    d.write("k.yaml", RUNBOOK);
    let mut child = d
        .rb()
        .args(["run", "k.yaml", "--yes", "--transcript", "t.jsonl"])
        .spawn();
    wait_for_file(&d.path("long-started"));
    let out = d.run(&["resume", "t.jsonl", "--yes"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("still going") && out.stderr.contains(&format!("pid {}", child.id())),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(d.path("first.log")).unwrap(),
        "once\n",
        "nothing ran again"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let pid = read_pid(&d.path("long.pid"));
    end_group(pid);
    // The dead run's lock went with it: the run can be continued now.
    let out = d.run(&["resume", "t.jsonl", "--yes"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(d.path("first.log")).unwrap(),
        "once\n"
    );
    assert!(
        !d.path("t.jsonl.lock").exists(),
        "the lock file goes with the run"
    );
}

/// Issue 9 #1: after rb is SIGKILLed, the interrupted step's processes keep running (their own
/// group); `rb resume` finds them (every step's processes carry the run's id) and refuses to start
/// the step again beside them, naming them. Once they are gone, it continues.
#[test]
fn resume_refuses_while_an_attempt_of_the_killed_run_still_runs() {
    let (d, pid) = killed_mid_step();
    let out = d.run(&["resume", "t.jsonl", "--yes"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("still running")
            && out.stderr.contains("step `long` (attempt 1)")
            && out.stderr.contains(&format!("pid {pid}"))
            && out.stderr.contains("--running wait")
            && out.stderr.contains("--running end")
            && out.stderr.contains("--running mark-done"),
        "{}",
        out.stderr
    );
    assert!(
        !d.path("long-done").exists(),
        "the step did not start again"
    );
    assert!(common::alive(pid), "an unattended resume touches nothing");
    end_group(pid);
    common::wait_for(&d.path("t.jsonl"), |_| !common::alive(pid));
    let out = d.run(&["resume", "t.jsonl", "--yes"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(d.path("long-done").exists());
}

/// Issue 9: the transcript names the process of each attempt. `step_started` is on disk before
/// the process exists, so its pid and group follow in `step_spawned`, right after the spawn;
/// after a SIGKILLed rb they are there for the attempt still running.
#[test]
fn step_spawned_records_the_pid_and_group_of_the_attempt_after_its_start() {
    let (d, pid) = killed_mid_step();
    let t = checked_transcript(&d.path("t.jsonl"));
    let names: Vec<(&str, Option<&str>)> = t.events().map(|e| (e.name(), e.step())).collect();
    let started = names
        .iter()
        .position(|n| *n == ("step_started", Some("long")))
        .expect("long started");
    let spawned = names
        .iter()
        .position(|n| *n == ("step_spawned", Some("long")))
        .expect("long's spawn recorded");
    assert!(started < spawned, "{names:?}");
    let recorded = t.events().find_map(|e| match e {
        rb::transcript::Event::StepSpawned {
            step,
            attempt,
            pid,
            pgid,
        } if step == "long" => Some((*attempt, *pid, *pgid)),
        _ => None,
    });
    // The step's shell is the process rb started, and the leader of its own group.
    assert_eq!(recorded, Some((1, pid as u32, pid as u32)));
    end_group(pid);
}

/// The transcript's events about step `long` from the first `decision` on (what resume recorded).
fn settled_events(t: &rb::transcript::Transcript) -> Vec<rb::transcript::Event> {
    t.events()
        .skip_while(|e| !matches!(e, rb::transcript::Event::Decision { .. }))
        .cloned()
        .collect()
}

/// Issue 9: `--running end` ends the attempt the killed rb left running (its group and the
/// processes carrying the run's id: none survives), records that rb ended it, and only then runs
/// the step again.
#[test]
fn resume_running_end_ends_the_attempt_then_runs_the_step_again() {
    use rb::transcript::{Event, StepStatus};
    let (d, pid) = killed_mid_step();
    let id = common::run_id(&checked_transcript(&d.path("t.jsonl")));
    assert!(common::run_processes(&id).contains(&pid));
    let out = d.run(&["resume", "t.jsonl", "--yes", "--running", "end"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!common::alive(pid), "the attempt's shell was ended");
    assert!(
        common::run_processes(&id).is_empty(),
        "no process of the run is left"
    );
    assert!(d.path("long-done").exists(), "the step ran again, after");
    let t = checked_transcript(&d.path("t.jsonl"));
    let after = settled_events(&t);
    assert!(
        matches!(&after[0], Event::Decision { step: Some(s), by, choice: rb::domain::Choice::End, text: Some(x) }
            if s == "long" && by.to_string() == "ana" && x == "--running end"),
        "{after:?}"
    );
    assert!(
        matches!(&after[1], Event::Note { text, .. } if text.contains("rb resume ended step `long`") && text.contains(&format!("pid {pid}"))),
        "{after:?}"
    );
    assert!(
        matches!(&after[2], Event::StepFinished { step, status: StepStatus::Interrupted, .. } if step == "long"),
        "{after:?}"
    );
    assert!(
        after[3..]
            .iter()
            .any(|e| matches!(e, Event::StepStarted { step, .. } if step == "long")),
        "{after:?}"
    );
}

/// Issue 9: `--running mark-done` counts the step finished by the operator's word (a decision
/// by them, the step's end), never runs it again, and leaves its processes alone, listed.
#[test]
fn resume_running_mark_done_counts_the_step_done_and_leaves_its_processes() {
    use rb::transcript::{Event, StepStatus};
    let (d, pid) = killed_mid_step();
    let out = d.run(&["resume", "t.jsonl", "--yes", "--running", "mark-done"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("marked done by hand") && said.contains(&format!("pid {pid}")),
        "{said}"
    );
    assert!(common::alive(pid), "its processes are left alone");
    assert!(!d.path("long-done").exists(), "the step did not run again");
    assert_eq!(
        std::fs::read_to_string(d.path("last.out")).unwrap(),
        "last saw captured-value\n",
        "the run went on after it"
    );
    let t = checked_transcript(&d.path("t.jsonl"));
    let after = settled_events(&t);
    assert!(
        matches!(&after[0], Event::Decision { step: Some(s), by, choice: rb::domain::Choice::Done, .. }
            if s == "long" && by.to_string() == "ana"),
        "{after:?}"
    );
    assert!(
        matches!(&after[1], Event::StepFinished { step, status: StepStatus::Succeeded, reason: Some(r), .. }
            if step == "long" && r.contains("marked done by hand by ana") && r.contains(&format!("pid {pid}"))),
        "{after:?}"
    );
    assert!(
        !after[2..]
            .iter()
            .any(|e| matches!(e, Event::StepStarted { step, .. } if step == "long")),
        "{after:?}"
    );
    end_group(pid);
}

/// Issue 9: `--running wait` starts nothing while the attempt runs; once its processes are gone
/// the step runs again (its result was not seen) and the run finishes.
#[test]
fn resume_running_wait_waits_for_the_attempt_to_end_then_runs_the_step() {
    let (d, pid) = killed_mid_step();
    let log = std::fs::File::create(d.path("resume.out")).unwrap();
    let mut cmd = d
        .rb()
        .args(["resume", "t.jsonl", "--yes", "--running", "wait"])
        .command();
    cmd.stdout(log.try_clone().unwrap()).stderr(log);
    let mut resume = cmd.spawn().unwrap();
    common::wait_for(&d.path("resume.out"), |t| {
        t.contains("waiting for step `long`")
    });
    assert!(resume.try_wait().unwrap().is_none(), "it waits");
    assert!(
        !d.path("long-done").exists(),
        "nothing starts beside the attempt"
    );
    end_group(pid);
    assert_eq!(common::wait_exit(&mut resume), 0);
    assert!(d.path("long-done").exists());
    let t = checked_transcript(&d.path("t.jsonl"));
    assert!(
        t.events()
            .any(|e| matches!(e, rb::transcript::Event::Note { text, .. }
        if text.contains("ended on its own") && text.contains("result is unknown")))
    );
}

/// Issue 9, on a terminal: rb names the attempt and asks; Ctrl-C while waiting stops the wait
/// and resumes nothing (the attempt untouched); asked again, `k` ends it and the run finishes.
#[test]
fn resume_on_a_terminal_asks_what_to_do_with_the_attempt_still_running() {
    let (d, pid) = killed_mid_step();
    let mut p = d.pty(&["resume", "t.jsonl"]);
    // The terminal wraps the long line anywhere: compare without the white space.
    let shown: String = p.expect_before("[w]ait").split_whitespace().collect();
    assert!(
        shown.contains(&format!("pid{pid}(bash")) && shown.contains("(sleep1000)"),
        "{shown}"
    );
    p.key("w");
    p.expect("Ctrl-C stops waiting");
    p.key("\x03");
    p.expect("stopped waiting: nothing was resumed");
    assert_eq!(p.exit_code(), 130);
    assert!(common::alive(pid) && !d.path("long-done").exists());

    let mut p = d.pty(&["resume", "t.jsonl"]);
    p.expect("[y] done");
    p.key("k");
    p.expect("rb resume ended step `long`");
    p.expect("Run finished");
    assert_eq!(p.exit_code(), 0);
    assert!(!common::alive(pid) && d.path("long-done").exists());
    checked_transcript(&d.path("t.jsonl"));
}

/// Marking the last step done by hand leaves nothing to run: the run is recorded as finished.
#[test]
fn resume_running_mark_done_on_the_last_step_finishes_the_run() {
    let d = Sandbox::new();
    d.write(
        "one.yaml",
        "version: 1\nname: one\ntitle: One\nsteps:\n  - id: only\n    run: echo $$ > only.pid; sleep 1000\n    read_only: true\n",
    );
    let mut child = d
        .rb()
        .args(["run", "one.yaml", "--yes", "--transcript", "t.jsonl"])
        .spawn();
    wait_for_file(&d.path("only.pid"));
    child.kill().unwrap();
    child.wait().unwrap();
    let pid = read_pid(&d.path("only.pid"));
    let out = d.run(&["resume", "t.jsonl", "--yes", "--running", "mark-done"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("no step is left to run"),
        "{}",
        out.stdout
    );
    let t = checked_transcript(&d.path("t.jsonl"));
    assert!(matches!(
        t.run_finished().map(|l| &l.event),
        Some(rb::transcript::Event::RunFinished {
            outcome: rb::transcript::RunOutcome::Finished,
            ..
        })
    ));
    assert!(common::alive(pid), "left running, as asked");
    end_group(pid);
}

/// `RUNBOOK` with a first step that starts a daemon on purpose (in its own group, listed when
/// the step ends), killed like `killed_mid_step`; returns the sandbox, the pid of `long`'s shell
/// and the daemon's pid.
fn killed_mid_step_with_a_daemon() -> (Sandbox, i32, i32) {
    let book = RUNBOOK.replace(
        "steps:\n",
        "steps:\n  - id: daemon\n    run: sleep 1000 >/dev/null 2>&1 & echo $! > daemon.pid\n    read_only: true\n",
    );
    let (d, pid) = killed_mid_step_of(&book);
    let daemon = read_pid(&d.path("daemon.pid"));
    (d, pid, daemon)
}

/// What a finished step left running on purpose is not the interrupted attempt: `--running end`
/// ends the attempt only, and the daemon alone does not stop a resume.
#[test]
fn resume_ends_the_attempt_but_never_a_daemon_a_finished_step_left() {
    let (d, pid, daemon) = killed_mid_step_with_a_daemon();
    let out = d.run(&["resume", "t.jsonl", "--yes"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("not touched") && out.stderr.contains(&format!("pid {daemon}")),
        "{}",
        out.stderr
    );
    let out = d.run(&["resume", "t.jsonl", "--yes", "--running", "end"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!common::alive(pid), "the attempt was ended");
    assert!(common::alive(daemon), "the daemon was not");
    assert!(d.path("long-done").exists());
    end_process(daemon);

    let (d, pid, daemon) = killed_mid_step_with_a_daemon();
    end_group(pid);
    common::wait_for(&d.path("t.jsonl"), |_| !common::alive(pid));
    let out = d.run(&["resume", "t.jsonl", "--yes"]);
    assert_eq!(out.code, Some(0), "only the daemon runs: {}", out.stderr);
    assert!(common::alive(daemon));
    end_process(daemon);
}

/// Ends one process (a daemon is in its step's group, not the leader of one).
fn end_process(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}
