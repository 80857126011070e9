//! The executor on hosts, with a fake runner that reaches named hosts: canary batches and the
//! question between them, `max_fail`, retries where an attempt failed, `on: local`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::super::operator::{Choice, ScriptedOperator};
use super::super::runner::{CommandSpec, Outcome, ProcessEnd, Runner, Stream};
use super::super::tests::{bind_defaults, doc};
use super::super::{Executor, Mode, Options, RunOutcome};
use crate::domain::HostStatus;
use crate::transcript::event::Event;

/// Hosts `h1..hN`; a host in `failing` exits 1 (each time, or `fail_times` times).
#[derive(Default)]
struct Fleet {
    failing: BTreeSet<String>,
    fail_times: BTreeMap<String, u32>,
    /// Each `run_on` call's hosts, and each local run.
    calls: Vec<Vec<String>>,
    /// Each host's command, in the order run.
    commands: Vec<String>,
    local: usize,
}

fn outcome(ended: ProcessEnd) -> Outcome {
    Outcome {
        ended,
        duration: Duration::from_millis(3),
        left_background: false,
        forced: false,
        left_running: Vec::new(),
    }
}

impl Runner for Fleet {
    fn run(
        &mut self,
        _: &CommandSpec,
        _: &mut dyn FnMut(Stream, &[u8]),
    ) -> std::io::Result<Outcome> {
        self.local += 1;
        Ok(outcome(ProcessEnd::Exited(0)))
    }
    fn sleep(&mut self, _: Duration) -> bool {
        true
    }
    fn run_on(
        &mut self,
        hosts: &[String],
        specs: &[CommandSpec],
        on_output: &mut dyn FnMut(usize, Stream, &[u8]),
    ) -> Vec<std::io::Result<Outcome>> {
        self.calls.push(hosts.to_vec());
        self.commands.extend(
            specs
                .iter()
                .map(|s| s.argv.last().cloned().unwrap_or_default()),
        );
        hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                on_output(i, Stream::Stdout, format!("out-{h}\n").as_bytes());
                let left = self.fail_times.get_mut(h);
                let fails = match left {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        true
                    }
                    Some(_) => false,
                    None => self.failing.contains(h),
                };
                Ok(outcome(ProcessEnd::Exited(if fails { 1 } else { 0 })))
            })
            .collect()
    }
}

struct Ran {
    outcome: RunOutcome,
    fleet: Fleet,
    events: Vec<Event>,
    op: ScriptedOperator,
}

fn run(yaml: &str, yes: bool, answers: Vec<Choice>, hosts: usize, mut fleet: Fleet) -> Ran {
    let d = doc(yaml);
    let (params, problems) = bind_defaults(&d);
    assert!(problems.is_empty(), "{problems:?}");
    let mut op = ScriptedOperator::new(answers);
    let opts = Options {
        mode: Mode::Live,
        yes,
        yes_typed: false,
        from: None,
        update_every: None,
    };
    let mut events = Vec::new();
    let names = (1..=hosts).map(|i| format!("h{i}")).collect();
    let outcome = Executor::new(&d, &params, opts, &mut op, &mut fleet, &mut events)
        .with_hosts(names)
        .run();
    Ran {
        outcome,
        fleet,
        events,
        op,
    }
}

impl Ran {
    /// `(step, host, status)` of every `host_finished`, in order.
    fn hosts(&self) -> Vec<(String, String, HostStatus)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::HostFinished {
                    step, host, status, ..
                } => Some((step.clone(), host.clone(), *status)),
                _ => None,
            })
            .collect()
    }
}

fn h(step: &str, host: &str, status: HostStatus) -> (String, String, HostStatus) {
    (step.into(), host.into(), status)
}

const ROLL: &str = "version: 1\nname: t\ntitle: t\nsteps:\n  - id: roll\n    serial: [1, 100%]\n    run: deploy\n  - id: after\n    run: check\n    read_only: true\n";

#[test]
fn the_operator_is_asked_between_batches_and_an_abort_leaves_the_rest_not_run() {
    let r = run(
        ROLL,
        false,
        vec![Choice::Run, Choice::Abort],
        3,
        Fleet::default(),
    );
    assert_eq!(r.outcome, RunOutcome::Aborted);
    assert_eq!(r.fleet.calls, vec![vec!["h1".to_string()]]);
    assert_eq!(
        r.op.asked.last().map(|(q, c)| (q.as_str(), c.clone())),
        Some((
            "Continue with batch 2 of 2 (h2, h3)?",
            vec![Choice::Continue, Choice::Abort]
        ))
    );
    assert_eq!(
        r.hosts(),
        vec![
            h("roll", "h1", HostStatus::Succeeded),
            h("roll", "h2", HostStatus::NotRun),
            h("roll", "h3", HostStatus::NotRun),
        ]
    );

    let r = run(
        ROLL,
        false,
        vec![Choice::Run, Choice::Continue],
        3,
        Fleet::default(),
    );
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert_eq!(
        r.fleet.calls,
        vec![
            vec!["h1".to_string()],
            vec!["h2".to_string(), "h3".to_string()],
            vec!["h1".to_string(), "h2".to_string(), "h3".to_string()],
        ]
    );
    // Several hosts: each line says whose it is.
    let out = String::from_utf8_lossy(&r.op.output).into_owned();
    assert!(out.contains("[h2] out-h2\n"), "{out}");
}

#[test]
fn a_failure_in_a_batch_stops_the_rollout_unless_max_fail_allows_it() {
    let fleet = || Fleet {
        failing: BTreeSet::from(["h3".to_string()]),
        ..Fleet::default()
    };
    let r = run(ROLL, true, vec![], 4, fleet());
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert_eq!(
        r.hosts(),
        vec![
            h("roll", "h1", HostStatus::Succeeded),
            h("roll", "h2", HostStatus::Succeeded),
            h("roll", "h3", HostStatus::Failed),
            h("roll", "h4", HostStatus::Succeeded),
        ]
    );
    let tolerant = ROLL.replace("serial: [1, 100%]", "serial: [1, 100%]\n    max_fail: 25%");
    let r = run(&tolerant, true, vec![], 4, fleet());
    assert_eq!(r.outcome, RunOutcome::Finished);
    // The host that failed leaves the run: the next step runs without it.
    assert_eq!(r.fleet.calls.last().unwrap(), &["h1", "h2", "h4"]);
    assert!(r.hosts().contains(&h("after", "h3", HostStatus::Skipped)));
    // A first batch that fails: no other host runs the step.
    let first = Fleet {
        failing: BTreeSet::from(["h1".to_string()]),
        ..Fleet::default()
    };
    let r = run(ROLL, true, vec![], 3, first);
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert_eq!(r.fleet.calls, vec![vec!["h1".to_string()]]);
    assert_eq!(
        r.hosts(),
        vec![
            h("roll", "h1", HostStatus::Failed),
            h("roll", "h2", HostStatus::NotRun),
            h("roll", "h3", HostStatus::NotRun),
        ]
    );
}

#[test]
fn a_retry_runs_only_where_the_attempt_failed() {
    let yaml = "version: 1\nname: t\ntitle: t\nsteps:\n  - id: s\n    run: x\n    read_only: true\n    retry: {attempts: 2, delay: 1ms}\n";
    let fleet = Fleet {
        fail_times: BTreeMap::from([("h2".to_string(), 1)]),
        ..Fleet::default()
    };
    let r = run(yaml, true, vec![], 3, fleet);
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert_eq!(
        r.fleet.calls,
        vec![
            vec!["h1".to_string(), "h2".to_string(), "h3".to_string()],
            vec!["h2".to_string()]
        ]
    );
}

#[test]
fn on_local_runs_here_and_message_steps_stay_here() {
    let yaml = "version: 1\nname: t\ntitle: t\non: local\nsteps:\n  - id: a\n    run: x\n    read_only: true\n  - id: b\n    on: target\n    run: y\n    read_only: true\n  - id: m\n    kind: message\n    text: hi\n";
    let r = run(yaml, true, vec![], 2, Fleet::default());
    assert_eq!(r.outcome, RunOutcome::Finished);
    assert_eq!(r.fleet.local, 1);
    assert_eq!(
        r.fleet.calls,
        vec![vec!["h1".to_string(), "h2".to_string()]]
    );
    let said: Vec<&str> = r.op.said.iter().map(|(_, s)| s.as_str()).collect();
    assert!(said.contains(&"on: this machine (on: local)"), "{said:?}");
    assert!(said.contains(&"on: h1, h2"), "{said:?}");
}

#[test]
fn captures_are_kept_per_host_and_when_is_decided_on_each() {
    let yaml = "version: 1\nname: t\ntitle: t\nsteps:\n  - id: look\n    run: x\n    read_only: true\n    capture: v\n  - id: act\n    when: v == 'out-h2'\n    run: act\n    read_only: true\n  - id: all\n    run: use {{ v }}\n    read_only: true\n  - id: none\n    when: v == 'nowhere'\n    run: never\n    read_only: true\n";
    let r = run(yaml, true, vec![], 3, Fleet::default());
    assert_eq!(r.outcome, RunOutcome::Finished);
    let all = vec!["h1".to_string(), "h2".to_string(), "h3".to_string()];
    assert_eq!(
        r.fleet.calls,
        vec![all.clone(), vec!["h2".to_string()], all]
    );
    let acts: Vec<_> = r
        .hosts()
        .into_iter()
        .filter(|(s, _, _)| s == "act")
        .collect();
    assert_eq!(
        acts,
        vec![
            h("act", "h1", HostStatus::Skipped),
            h("act", "h3", HostStatus::Skipped),
            h("act", "h2", HostStatus::Succeeded),
        ]
    );
    // Each host's command is rendered with its own capture.
    assert_eq!(
        &r.fleet.commands[4..],
        ["use out-h1", "use out-h2", "use out-h3"]
    );
    let captured: Vec<(Option<String>, String)> = r
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Captured { host, value, .. } => Some((host.clone(), value.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        captured,
        vec![
            (Some("h1".into()), "out-h1".into()),
            (Some("h2".into()), "out-h2".into()),
            (Some("h3".into()), "out-h3".into()),
            (None, "out-h1".into()),
        ]
    );
    // A `when:` false on every host skips the step.
    assert!(r.events.iter().any(|e| matches!(e,
        Event::StepFinished { step, reason: Some(why), .. }
            if step == "none" && why.ends_with("is false on every host"))));
}
