//! The per-host part of `rb resume` for a run on remote hosts: the hosts named again must be the
//! run's (`run_started`'s `targets`), and each step that did not finish continues only on the
//! hosts where it did not (`host_finished`), with each host's captures, and without the hosts
//! that left the run after a failure `max_fail` tolerated.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::StepStatus;
use crate::exit::UserError;
use crate::remote::Targets;
use crate::transcript::{Event, Transcript};

/// Where each unfinished step already finished, and who left the run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HostProgress {
    /// Step id → the hosts where its last result is done (succeeded, skipped, rolled back).
    pub done_on: BTreeMap<String, BTreeSet<String>>,
    /// Hosts out of the rest of the run, with why.
    pub left: BTreeMap<String, String>,
}

/// The hosts `run_started` recorded (empty for a run that stayed here).
pub fn recorded_targets(t: &Transcript) -> Vec<String> {
    match t.run_started().map(|l| &l.event) {
        Some(Event::RunStarted { targets, .. }) => targets.clone(),
        _ => Vec::new(),
    }
}

/// Checks that the hosts given to `rb resume` are the run's: the same names (in any order),
/// or none for a run that stayed here. `on_hosts` says the transcript has rb's note of a run on
/// hosts (an rb too old to record `targets` wrote it).
pub fn check_targets(
    recorded: &[String],
    on_hosts: bool,
    given: Option<&Targets>,
    shown: &str,
) -> Result<(), UserError> {
    let given_names: BTreeSet<&str> = given
        .map(|t| t.hosts.iter().map(|h| h.name.as_str()).collect())
        .unwrap_or_default();
    let wanted: BTreeSet<&str> = recorded.iter().map(String::as_str).collect();
    if recorded.is_empty() && on_hosts {
        return Err(UserError::usage(format!(
            "`{shown}` is a run on remote hosts recorded without their names: rb cannot resume it (its steps would run here)"
        ))
        .hint("run the remaining steps with `rb run NAME --from STEP --host ...`"));
    }
    if given_names == wanted {
        return Ok(());
    }
    let list = recorded.join(",");
    Err(if recorded.is_empty() {
        UserError::usage(format!(
            "the run in `{shown}` ran its steps here: it continues here, not on hosts"
        ))
        .hint("leave out --host, --hosts and --inventory")
    } else if given.is_none() {
        UserError::usage(format!(
            "the run in `{shown}` ran on the hosts {list}: name them again to continue it there"
        ))
        .hint(format!(
            "`rb resume {shown} --hosts {list}` (with the same --inventory, if the run used one)"
        ))
    } else {
        let given: Vec<&str> = given_names.into_iter().collect();
        UserError::usage(format!(
            "the run in `{shown}` ran on {list}, not on {}: it continues on the same hosts",
            given.join(",")
        ))
        .hint(format!("`rb resume {shown} --hosts {list}`"))
    })
}

/// Each host's progress on the steps not done (`done`: the steps finished overall).
pub fn progress(t: &Transcript, done: &BTreeSet<String>) -> HostProgress {
    let mut last: BTreeMap<(String, String), crate::domain::HostStatus> = BTreeMap::new();
    let mut step_status: BTreeMap<String, StepStatus> = BTreeMap::new();
    for e in t.events() {
        match e {
            Event::HostFinished {
                step, host, status, ..
            } => {
                last.insert((step.clone(), host.clone()), *status);
            }
            Event::StepFinished { step, status, .. } => {
                step_status.insert(step.clone(), *status);
            }
            _ => {}
        }
    }
    let mut p = HostProgress::default();
    for ((step, host), status) in last {
        if done.contains(&step) {
            // A step that succeeded although this host failed it: max_fail let the host go.
            if step_status.get(&step) == Some(&StepStatus::Succeeded) && !status.is_done() {
                p.left.insert(
                    host,
                    format!("left the run after failing step `{step}` (max_fail)"),
                );
            }
        } else if status.is_done() {
            p.done_on.entry(step).or_default().insert(host);
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HostStatus;

    fn transcript(events: Vec<Event>) -> Transcript {
        let lines = events
            .into_iter()
            .enumerate()
            .map(|(i, event)| crate::transcript::Line {
                seq: i as u64 + 1,
                ts: "2026-11-25T00:00:00Z".parse().unwrap(),
                prev: crate::transcript::line::GENESIS_PREV.into(),
                event,
            })
            .collect();
        Transcript {
            path: "t.jsonl".into(),
            lines,
            torn_tail: false,
            sha256: String::new(),
        }
    }

    fn host(step: &str, host: &str, status: HostStatus) -> Event {
        Event::HostFinished {
            step: step.into(),
            host: host.into(),
            status,
            exit_code: None,
            duration_ms: 1,
            reason: None,
        }
    }

    fn step(step: &str, status: StepStatus) -> Event {
        Event::StepFinished {
            step: step.into(),
            status,
            exit_code: None,
            duration_ms: 1,
            reason: None,
        }
    }

    #[test]
    fn unfinished_steps_keep_where_they_finished_and_tolerated_failures_leave() {
        let t = transcript(vec![
            // `roll` succeeded with h3 failing (max_fail): h3 left the run.
            host("roll", "h1", HostStatus::Succeeded),
            host("roll", "h3", HostStatus::Failed),
            step("roll", StepStatus::Succeeded),
            // `skip` was skipped by the operator after h2 failed: h2 stays.
            host("skip", "h2", HostStatus::Failed),
            step("skip", StepStatus::Skipped),
            // `fix` failed on h2, then h1 is done and h2 failed again; h4 was never reached.
            host("fix", "h1", HostStatus::Succeeded),
            host("fix", "h2", HostStatus::Failed),
            host("fix", "h4", HostStatus::NotRun),
            step("fix", StepStatus::Failed),
        ]);
        let done = BTreeSet::from(["roll".to_string(), "skip".to_string()]);
        let p = progress(&t, &done);
        assert_eq!(
            p.done_on,
            BTreeMap::from([("fix".to_string(), BTreeSet::from(["h1".to_string()]))])
        );
        assert_eq!(p.left.keys().collect::<Vec<_>>(), ["h3"]);
    }

    #[test]
    fn the_hosts_named_again_must_be_the_runs() {
        let t = |names: &[&str]| Targets {
            hosts: names
                .iter()
                .map(|n| crate::remote::Host::ssh(n).unwrap())
                .collect(),
            ssh_config: None,
            forks: 1,
        };
        let rec = vec!["a".to_string(), "b".to_string()];
        assert!(check_targets(&rec, true, Some(&t(&["b", "a"])), "x").is_ok());
        assert!(check_targets(&rec, true, Some(&t(&["a"])), "x").is_err());
        assert!(check_targets(&rec, true, None, "x").is_err());
        assert!(check_targets(&[], false, None, "x").is_ok());
        assert!(check_targets(&[], false, Some(&t(&["a"])), "x").is_err());
        // An older rb's run on hosts, without their names: refused.
        assert!(check_targets(&[], true, None, "x").is_err());
    }
}
