//! Steps on remote hosts, as the executor sees them: which hosts a step runs on (`on:`, and the
//! hosts still in the run), each host's result recorded (`host_finished`) and shown, and canary
//! rollouts (`serial:` batches with a question between them, `max_fail:`). Hosts are names
//! here; how they are reached belongs to the runner (`crate::remote`).

use std::io;
use std::time::Duration as StdDuration;

use super::command::Attempted;
use super::operator::{Choice, Tone};
use super::runner::{Outcome, ProcessEnd};
use std::collections::BTreeMap;

use minijinja::Value;

use super::{Executor, Flow, When, fmt_duration, ms};
use crate::domain::HostStatus;
use crate::render::{Context, TemplateKind};
use crate::runbook::{CommandStep, On, Step, StepBody};
use crate::transcript::event::Event;

/// What one host did in one attempt.
#[derive(Debug)]
pub(super) struct HostRan {
    pub host: String,
    /// How the process ended there, or why it could not run.
    pub ended: Result<ProcessEnd, String>,
    pub took: StdDuration,
    /// Its raw stdout, bounded, when the step keeps it.
    pub stdout: Vec<u8>,
}

impl HostRan {
    pub fn ok(&self) -> bool {
        self.ended == Ok(ProcessEnd::Exited(0))
    }
}

/// How bad an end is: a step on several hosts ends as its worst host.
fn badness(e: &ProcessEnd) -> u8 {
    match e {
        ProcessEnd::Exited(0) => 0,
        ProcessEnd::Exited(_) => 1,
        ProcessEnd::Signaled(_) => 2,
        ProcessEnd::TimedOut => 3,
        ProcessEnd::Interrupted => 4,
    }
}

/// The hosts' outcomes as one (the worst end, the longest time) and each host's.
pub(super) fn fold(
    hosts: &[String],
    results: Vec<io::Result<Outcome>>,
    stdout: &mut Vec<Vec<u8>>,
) -> (Outcome, Vec<HostRan>) {
    let stdout = std::mem::take(stdout);
    let mut all = Outcome {
        ended: ProcessEnd::Exited(0),
        duration: StdDuration::ZERO,
        left_background: false,
        forced: false,
        left_running: Vec::new(),
    };
    let mut each = Vec::new();
    for ((host, r), stdout) in hosts.iter().zip(results).zip(stdout) {
        let (ended, took) = match r {
            Ok(o) => {
                all.left_background |= o.left_background;
                all.forced |= o.forced;
                all.left_running.extend(
                    o.left_running
                        .into_iter()
                        .map(|(pid, cmd)| (pid, format!("{cmd}, on {host}"))),
                );
                (Ok(o.ended), o.duration)
            }
            // The host could not run it (the client would not start): as a start failure here.
            Err(e) => (Err(e.to_string()), StdDuration::ZERO),
        };
        let end = ended.clone().unwrap_or(ProcessEnd::Exited(127));
        if badness(&end) > badness(&all.ended) {
            all.ended = end;
        }
        all.duration = all.duration.max(took);
        each.push(HostRan {
            host: host.clone(),
            ended,
            took,
            stdout,
        });
    }
    (all, each)
}

/// A host's record: its status, exit code and why, from how its process ended.
fn host_status(r: &HostRan, ok: HostStatus) -> (HostStatus, Option<i32>, Option<String>) {
    match &r.ended {
        Ok(ProcessEnd::Exited(0)) => (ok, Some(0), None),
        Ok(e @ ProcessEnd::Exited(c)) => (HostStatus::Failed, Some(*c), Some(e.to_string())),
        Ok(ProcessEnd::TimedOut) => (
            HostStatus::TimedOut,
            None,
            Some(format!("timed out after {}", fmt_duration(r.took))),
        ),
        Ok(ProcessEnd::Interrupted) => (HostStatus::Interrupted, None, Some("interrupted".into())),
        Ok(e) => (HostStatus::Failed, None, Some(e.to_string())),
        Err(why) => (
            HostStatus::Failed,
            None,
            Some(format!("could not run: {why}")),
        ),
    }
}

/// What a canary rollout does after a batch.
enum Between {
    Continue,
    Abort,
}

impl Executor<'_> {
    /// The hosts a step runs on: none when it runs here (no hosts, `on: local`, or a message or
    /// manual step), else the run's hosts still in it.
    pub(super) fn targets(&self, step: &Step) -> Vec<String> {
        if self.hosts.is_empty() || step.on == On::Local {
            return Vec::new();
        }
        self.hosts
            .iter()
            .filter(|h| !self.left.contains_key(*h))
            .filter(|h| !self.when_skipped.iter().any(|(s, _)| s == *h))
            .filter(|h| {
                // `rb resume`: where the step finished before the interruption, it is done.
                !self
                    .resume
                    .done_on
                    .get(&step.id)
                    .is_some_and(|done| done.contains(*h))
            })
            .cloned()
            .collect()
    }

    /// The templates' values on `host`: the run's, with the host's own captures over them.
    fn host_context(&self, host: &str) -> Context {
        let mut ctx = self.context();
        for (name, v) in self.host_captures.get(host).into_iter().flatten() {
            ctx.insert(name.clone(), Value::from(v.clone()));
        }
        ctx
    }

    /// The step's `when:`, decided on each of its hosts when captures differ between them: it
    /// runs where it holds (the others are kept in `when_skipped`), and is skipped when it holds
    /// nowhere.
    pub(super) fn decide_when_on_hosts(&mut self, step: &Step) -> When {
        self.when_skipped.clear();
        let hosts = self.targets(step);
        if hosts.is_empty() || step.when.is_none() || self.host_captures.is_empty() {
            return self.decide_when(step, &Context::new());
        }
        let mut runs = false;
        let mut skipped = Vec::new();
        for h in hosts {
            match self.decide_when(step, &self.host_context(&h)) {
                When::Run => runs = true,
                When::Skip(why) => skipped.push((h, why)),
                unknown @ When::Unknown(_) => return unknown,
            }
        }
        if !runs {
            let why = skipped.first().map(|(_, w)| w.clone()).unwrap_or_default();
            return When::Skip(format!("{why} on every host"));
        }
        self.when_skipped = skipped;
        When::Run
    }

    /// `src` rendered on each of `hosts` whose own captures make it differ from `shown`.
    pub(super) fn host_renders(
        &self,
        src: &str,
        shown: &str,
        hosts: &[String],
    ) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for h in hosts {
            if self.host_captures.get(h).is_none_or(BTreeMap::is_empty) {
                continue;
            }
            let text = self
                .renderer
                .render(TemplateKind::Shell, src, &self.host_context(h))
                .map_err(|e| format!("on {h}: {}", e.message))?;
            if text != shown {
                out.insert(h.clone(), text);
            }
        }
        Ok(out)
    }

    /// Shows and records the command of each host where it differs from the one shown.
    pub(super) fn say_host_commands(&mut self, step: &Step) {
        let own: Vec<(String, String)> = self
            .host_commands
            .iter()
            .map(|(h, c)| (h.clone(), c.clone()))
            .collect();
        for (h, c) in own {
            let text = format!("on {h} (its own captures): {c}");
            self.say(Tone::Command, &text);
            let by = self.by();
            let text = self.redactor.redact_str(&text);
            self.rec(Event::Note {
                by,
                text,
                step: Some(step.id.clone()),
                kind: crate::transcript::NoteKind::Plain,
            });
        }
    }

    /// A capture on hosts: each host's value kept (and recorded) for that host; steps that run
    /// here see the first host's. Returns that value.
    pub(super) fn capture_on_hosts(&mut self, step: &Step, cap: &str, each: &[HostRan]) -> String {
        let mut first = None;
        for r in each.iter().filter(|r| r.ok()) {
            let value = String::from_utf8_lossy(&r.stdout).trim().to_string();
            self.rec(Event::Captured {
                step: step.id.clone(),
                name: cap.to_string(),
                value: self.redactor.redact_str(&value),
                host: Some(r.host.clone()),
            });
            self.host_captures
                .entry(r.host.clone())
                .or_default()
                .insert(cap.to_string(), value.clone());
            first.get_or_insert(value);
        }
        first.unwrap_or_default()
    }

    /// Says where a command or watch step runs, when the run has hosts.
    pub(super) fn say_where(&mut self, step: &Step) {
        if self.hosts.is_empty() || !matches!(step.body, StepBody::Command(_) | StepBody::Watch(_))
        {
            return;
        }
        let text = match step.on {
            On::Local => "on: this machine (on: local)".to_string(),
            On::Target => {
                let mut t = format!("on: {}", self.targets(step).join(", "));
                if let Some(StepBody::Command(c)) = Some(&step.body)
                    && let Some(serial) = &c.serial
                {
                    t += &format!(" in batches of {serial}");
                    if let Some(m) = c.max_fail {
                        t += &format!(", up to {m} may fail");
                    }
                }
                t
            }
        };
        self.say(Tone::Info, &text);
    }

    /// Records (`host_finished`) and shows each host's result of an attempt; a host that
    /// succeeded is recorded with `ok` (`succeeded`, or `rolled_back` for a rollback).
    pub(super) fn record_hosts(&mut self, step: &Step, each: &[HostRan], ok: HostStatus) {
        if each.is_empty() {
            return;
        }
        let mut shown = Vec::new();
        for r in each {
            let (status, exit_code, reason) = host_status(r, ok);
            shown.push(match &reason {
                Some(why) if status != ok => format!("{}: {} ({why})", r.host, status.phrase()),
                _ => format!("{}: {} ({})", r.host, status.phrase(), fmt_duration(r.took)),
            });
            self.rec(Event::HostFinished {
                step: step.id.clone(),
                host: r.host.clone(),
                status,
                exit_code,
                duration_ms: ms(r.took),
                reason,
            });
        }
        if self.hosts.len() > 1 {
            self.say(Tone::Info, &format!("per host: {}", shown.join("; ")));
        }
    }

    /// Records hosts the step will not run on, and why.
    pub(super) fn record_not_run(
        &mut self,
        step: &Step,
        hosts: &[String],
        status: HostStatus,
        why: &str,
    ) {
        for h in hosts {
            self.rec(Event::HostFinished {
                step: step.id.clone(),
                host: h.clone(),
                status,
                exit_code: None,
                duration_ms: 0,
                reason: Some(why.to_string()),
            });
        }
    }

    /// Hosts the step skips: those that left the run after a tolerated failure, and those where
    /// its `when:` is false (their capture is then empty there). Recorded as skipped.
    pub(super) fn record_left(&mut self, step: &Step) {
        if self.hosts.is_empty() || step.on == On::Local {
            return;
        }
        let mut left: Vec<(String, String)> = self
            .left
            .iter()
            .map(|(h, w)| (h.clone(), w.clone()))
            .collect();
        for (h, why) in self.when_skipped.clone() {
            if let Some(cap) = step.capture() {
                self.host_captures
                    .entry(h.clone())
                    .or_default()
                    .insert(cap.to_string(), String::new());
            }
            self.say(Tone::Info, &format!("skipped on {h}: {why}"));
            left.push((h, format!("{why} on this host")));
        }
        for (host, why) in left {
            self.record_not_run(step, &[host], HostStatus::Skipped, &why);
        }
    }

    /// A command step on hosts: batch by batch (one batch without `serial`), each with its
    /// retries; a batch with more failed hosts than `max_fail` allows fails the step (the
    /// operator decides, as for any failed step), and hosts of later batches are recorded as
    /// not run. Failures `max_fail` tolerates take those hosts out of the rest of the run.
    pub(super) fn command_on_hosts(
        &mut self,
        step: &Step,
        c: &CommandStep,
        command: &str,
        hosts: Vec<String>,
    ) -> Flow<()> {
        let batches = match &c.serial {
            Some(s) => s.batches(&hosts),
            None => vec![hosts.clone()],
        };
        let allowed = c.max_fail.map_or(0, |m| m.allowed(hosts.len()));
        let mut failed: Vec<String> = Vec::new();
        let mut last = None;
        for (b, batch) in batches.iter().enumerate() {
            let later: Vec<String> = batches[b + 1..].concat();
            self.on_hosts = batch.clone();
            let attempted = self.attempts(step, c, command, allowed - failed.len());
            self.on_hosts.clear();
            match attempted {
                Err(stop) => {
                    self.record_not_run(
                        step,
                        &later,
                        HostStatus::NotRun,
                        "the run stopped before this host's batch",
                    );
                    return Err(stop);
                }
                Ok(Attempted::Over) => {
                    self.record_not_run(
                        step,
                        &later,
                        HostStatus::NotRun,
                        "the step ended before this host's batch",
                    );
                    return Ok(());
                }
                Ok(Attempted::Succeeded(ran, tolerated)) => {
                    failed.extend(tolerated);
                    last = Some(ran);
                }
            }
            if later.is_empty() {
                break;
            }
            if let Between::Abort = self.between_batches(step, b, &batches, &failed)? {
                self.record_not_run(
                    step,
                    &later,
                    HostStatus::NotRun,
                    "the operator stopped the rollout",
                );
                return self.aborted(step);
            }
        }
        let Some(ran) = last else {
            return Ok(());
        };
        let reason = (!failed.is_empty()).then(|| {
            format!(
                "failed on {} ({} allowed by max_fail); they leave the run",
                failed.join(", "),
                allowed
            )
        });
        for h in &failed {
            self.left.insert(
                h.clone(),
                format!("left the run after failing step `{}` (max_fail)", step.id),
            );
        }
        if let Some(r) = &reason {
            self.say(Tone::Warning, r);
        }
        self.succeeded(step, c, &ran, reason.as_deref());
        Ok(())
    }

    /// After batch `b`: the results so far, then continue or abort (asked; `--yes` continues,
    /// since the batch was within `max_fail`).
    fn between_batches(
        &mut self,
        step: &Step,
        b: usize,
        batches: &[Vec<String>],
        failed: &[String],
    ) -> Flow<Between> {
        let next = &batches[b + 1];
        let mut done = format!("batch {} of {} done", b + 1, batches.len());
        if !failed.is_empty() {
            done += &format!(" (failed so far, within max_fail: {})", failed.join(", "));
        }
        self.say(Tone::Info, &done);
        let question = format!(
            "Continue with batch {} of {} ({})?",
            b + 2,
            batches.len(),
            next.join(", ")
        );
        if self.opts.yes {
            self.say(Tone::Info, &format!("{question} yes (--yes)"));
            self.auto(step, Choice::Continue, "--yes: the batch succeeded");
            return Ok(Between::Continue);
        }
        match self.ask(step, &question, &[Choice::Continue, Choice::Abort])? {
            Choice::Continue => Ok(Between::Continue),
            _ => Ok(Between::Abort),
        }
    }

    /// The next attempt goes only where this one did not succeed.
    pub(super) fn retry_where_failed(&mut self, each: &[HostRan]) {
        if !each.is_empty() {
            self.on_hosts = each
                .iter()
                .filter(|r| !r.ok())
                .map(|r| r.host.clone())
                .collect();
        }
    }
}

#[cfg(test)]
#[path = "hosts_tests.rs"]
mod tests;
