//! Signals sent to rb itself (here: to this test process) while a step runs, while it sleeps and
//! while nothing runs. One test in its own binary, its scenarios in sequence: a signal raised here
//! reaches the whole process, so no other test may run beside it.

mod common;

use std::time::{Duration, Instant};

use common::{bash, live_members, numbers_after};
use nix::sys::signal::{Signal, raise};
use rb::exec::runner::{Interrupt, Outcome, ProcessEnd, ProcessRunner, Runner};

/// Runs `script`; when the step prints a line starting with `tag`, raises `signal` in this
/// process. Returns the outcome and the numbers printed after the tag.
fn run_and_raise(
    runner: &mut ProcessRunner,
    script: &str,
    triggers: &[(&str, Signal)],
) -> (Outcome, Vec<i32>) {
    let mut seen = Vec::new();
    let mut fired = vec![false; triggers.len()];
    let mut numbers = Vec::new();
    let outcome = runner
        .run(&bash(script), &mut |_, bytes| {
            seen.extend_from_slice(bytes);
            for (i, (tag, signal)) in triggers.iter().enumerate() {
                if !fired[i]
                    && let Some(n) = numbers_after(&seen, tag)
                {
                    fired[i] = true;
                    if numbers.is_empty() {
                        numbers = n;
                    }
                    raise(*signal).unwrap();
                }
            }
        })
        .unwrap();
    assert!(fired.iter().all(|f| *f), "the step never printed every tag");
    (outcome, numbers)
}

#[test]
fn signals_to_rb_end_the_step_group_and_are_reported() {
    let mut r = ProcessRunner::new()
        .unwrap()
        .with_grace(Duration::from_millis(300));

    // Ctrl-C while a step runs: forwarded to the group. The grandchild ignores SIGINT (and says
    // so only once it does), so the group ends only through the escalation to SIGTERM after the
    // grace period.
    let (outcome, n) = run_and_raise(
        &mut r,
        r#"(trap '' INT; echo "ready $$"; exec sleep 1000) & wait"#,
        &[("ready", Signal::SIGINT)],
    );
    assert_eq!(outcome.ended, ProcessEnd::Interrupted);
    assert!(
        outcome.duration >= Duration::from_millis(300),
        "{:?}",
        outcome.duration
    );
    assert_eq!(r.last_interrupt(), Some(Interrupt::CtrlC));
    assert_eq!(
        live_members(n[0]),
        vec![],
        "the step's group survived Ctrl-C"
    );
    eprintln!(
        "Ctrl-C (INT ignored by a grandchild): {:?}",
        outcome.duration
    );
    // The signal was consumed by the step: nothing left pending.
    assert!(!r.interrupted_since_last_check());

    // A second Ctrl-C kills at once, without waiting out a long grace period.
    let mut slow = ProcessRunner::new()
        .unwrap()
        .with_grace(Duration::from_secs(60));
    let started = Instant::now();
    let (outcome, n) = run_and_raise(
        &mut slow,
        r#"trap 'echo "got-int $$"' INT; echo "ready $$"; while :; do sleep 1; done"#,
        &[("ready", Signal::SIGINT), ("got-int", Signal::SIGINT)],
    );
    assert_eq!(outcome.ended, ProcessEnd::Interrupted);
    assert_eq!(live_members(n[0]), vec![]);
    eprintln!(
        "second Ctrl-C: step ended {:?} after it started",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(slow);
    // Signals reach every runner of the process: `r`, idle meanwhile, kept them pending (the two
    // coalesced into one report).
    assert!(r.interrupted_since_last_check());
    assert!(!r.interrupted_since_last_check());

    // SIGTERM to rb (and SIGHUP: the terminal closed) is handled like a first Ctrl-C.
    for (signal, kind) in [
        (Signal::SIGTERM, Interrupt::Terminate),
        (Signal::SIGHUP, Interrupt::Hangup),
    ] {
        let (outcome, n) = run_and_raise(
            &mut r,
            r#"sleep 1000 & echo "ready $$"; wait"#,
            &[("ready", signal)],
        );
        assert_eq!(outcome.ended, ProcessEnd::Interrupted, "{signal}");
        assert_eq!(r.last_interrupt(), Some(kind));
        assert_eq!(live_members(n[0]), vec![], "{signal}: the group survived");
    }

    // Ctrl-C while no step runs (e.g. at a prompt) does not kill rb and is reported once.
    raise(Signal::SIGINT).unwrap();
    assert!(r.interrupted_since_last_check());
    assert!(!r.interrupted_since_last_check());

    // An unreported interrupt stops the next step before it starts.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    raise(Signal::SIGINT).unwrap();
    let outcome = r
        .run(
            &bash(&format!("touch '{}'", marker.display())),
            &mut |_, _| {},
        )
        .unwrap();
    assert_eq!(outcome.ended, ProcessEnd::Interrupted);
    assert!(!marker.exists(), "the step ran despite a pending Ctrl-C");
    assert!(!r.interrupted_since_last_check());

    // A sleep between retries or watch checks ends at once.
    raise(Signal::SIGHUP).unwrap();
    let started = Instant::now();
    assert!(!r.sleep(Duration::from_secs(60)));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(r.last_interrupt(), Some(Interrupt::Hangup));

    // And the runner still works normally afterwards.
    let (outcome, _) = run_and_raise(&mut r, "echo done 0", &[]);
    assert_eq!(outcome.ended, ProcessEnd::Exited(0));
}
