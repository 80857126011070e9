//! Command steps: confirmation (including typed), running with automatic retries, the failure
//! prompt (retry, skip, rollback, abort).

use std::time::Duration as StdDuration;

use super::operator::{AskError, Choice, Tone};
use super::process::{Limits, Ran};
use super::runner::ProcessEnd;
use super::{Executor, Flow, Mode, RunOutcome, Stop, fmt_duration, ms};
use crate::render::TemplateKind;
use crate::runbook::{Backoff, CommandStep, Step};
use crate::transcript::event::{Event, StepStatus};

/// How a step's attempts ended.
pub(super) enum Attempted {
    /// It succeeded (on hosts: everywhere but on the hosts listed, as many as were tolerated).
    Succeeded(Ran, Vec<String>),
    /// It is over another way (skipped, rolled back), recorded already.
    Over,
}

/// What to do after an attempt that did not succeed.
enum Next {
    /// Run the command again.
    Again,
    /// The step is over (skipped, rolled back).
    Done,
}

/// The automatic retry schedule of a step.
struct Schedule {
    attempts: u32,
    delay: StdDuration,
    exponential: bool,
}

impl Schedule {
    fn of(c: &CommandStep) -> Schedule {
        Schedule {
            attempts: c.retry.as_ref().map_or(1, |r| r.attempts),
            delay: c
                .retry
                .as_ref()
                .and_then(|r| r.delay)
                .map_or(StdDuration::from_secs(1), |d| d.get()),
            exponential: c
                .retry
                .as_ref()
                .is_some_and(|r| r.backoff == Backoff::Exponential),
        }
    }
}

impl Executor<'_> {
    pub(super) fn command_step(&mut self, step: &Step, c: &CommandStep) -> Flow<()> {
        let command = match self.render(TemplateKind::Shell, &c.run) {
            Ok(cmd) => cmd,
            Err(e) => return self.render_failed(step, "run", &e),
        };
        self.say(Tone::Command, &command);
        let runs_now = match self.opts.mode {
            Mode::DryRun => false,
            Mode::Check => c.read_only,
            Mode::Live => true,
        };
        if !runs_now {
            self.preview_details(step, c);
            return Ok(());
        }
        let hosts = self.targets(step);
        self.record_left(step);
        if !self.hosts.is_empty() && step.on == crate::runbook::On::Target && hosts.is_empty() {
            if self.resume.done_on.contains_key(&step.id) {
                // Every host finished it before the interruption; only the step's end is new.
                let why = "done on every host before the run was interrupted";
                self.finish(
                    step,
                    StepStatus::Succeeded,
                    Some(0),
                    StdDuration::ZERO,
                    Some(why),
                );
                self.say(Tone::Success, why);
                return Ok(());
            }
            self.skip(step, "no host is left in the run");
            return Ok(());
        }
        self.host_commands = match self.host_renders(&c.run, &command, &hosts) {
            Ok(own) => own,
            Err(e) => return self.render_failed(step, "run", &e),
        };
        self.say_host_commands(step);
        if step.changes_system() && !self.confirm(step, c)? {
            self.host_commands.clear();
            return Ok(());
        }
        if !hosts.is_empty() {
            let done = self.command_on_hosts(step, c, &command, hosts);
            self.host_commands.clear();
            return done;
        }
        if let Attempted::Succeeded(ran, _) = self.attempts(step, c, &command, 0)? {
            self.succeeded(step, c, &ran, None);
        }
        Ok(())
    }

    fn limits(&self, c: &CommandStep) -> Limits {
        Limits {
            timeout: c.timeout.as_ref().and_then(|t| self.duration(t)),
            interactive: c.interactive,
        }
    }

    fn rendered_rollback(&self, c: &CommandStep) -> Option<String> {
        let rb = c.rollback.as_ref()?;
        Some(
            self.render(TemplateKind::Shell, rb)
                .unwrap_or_else(|e| format!("(cannot render: {e})")),
        )
    }

    /// The operator asked for details at the confirmation prompt.
    fn describe(&mut self, step: &Step, c: &CommandStep) {
        let mut lines = Vec::new();
        if let Some(d) = &step.description {
            lines.push(d.trim().to_string());
        }
        if let Some(t) = self.limits(c).timeout {
            lines.push(format!("timeout: {}", fmt_duration(t)));
        }
        if let Some(r) = &c.retry {
            let delay = r.delay.map_or("1s".to_string(), |d| d.to_string());
            let how = if r.backoff == Backoff::Exponential {
                "exponential"
            } else {
                "fixed"
            };
            lines.push(format!(
                "retry: {} attempts, {how} delay from {delay}",
                r.attempts
            ));
        }
        if let Some(r) = self.rendered_rollback(c) {
            lines.push(format!("rollback: {r}"));
        }
        if let Some(cap) = &c.capture {
            lines.push(format!("captures stdout as `{cap}`"));
        }
        let env: Vec<String> = self
            .params
            .env_for(&self.doc.runbook, &c.run)
            .into_iter()
            .map(|(k, _)| format!("${k}"))
            .collect();
        if !env.is_empty() {
            lines.push(format!("secrets in the environment: {}", env.join(", ")));
        }
        if lines.is_empty() {
            lines.push("no further details".into());
        }
        self.say(Tone::Info, &lines.join("\n"));
    }

    /// In dry-run/check: what would happen around the command.
    fn preview_details(&mut self, step: &Step, c: &CommandStep) {
        let mut parts = Vec::new();
        if step.changes_system() {
            parts.push(match &c.confirm {
                Some(conf) => format!(
                    "would ask for typed confirmation (`{}`)",
                    self.render(TemplateKind::Text, &conf.typed)
                        .unwrap_or_else(|_| conf.typed.clone())
                ),
                None => "would ask for confirmation".into(),
            });
        } else {
            parts.push("would run without asking (read-only)".into());
        }
        if let Some(cap) = &c.capture {
            parts.push(format!("captures `{cap}`"));
        }
        if let Some(t) = self.limits(c).timeout {
            parts.push(format!("timeout {}", fmt_duration(t)));
        }
        if let Some(r) = &c.retry {
            parts.push(format!("up to {} attempts", r.attempts));
        }
        if let Some(r) = self.rendered_rollback(c) {
            parts.push(format!("rollback: {r}"));
        }
        self.say(Tone::Info, &parts.join("; "));
        let reason = match self.opts.mode {
            Mode::DryRun => "dry run",
            _ => "check mode: changes are previewed, not run",
        };
        self.skip(step, reason);
    }

    /// Asks before a change. Returns false when the step is skipped.
    fn confirm(&mut self, step: &Step, c: &CommandStep) -> Flow<bool> {
        loop {
            let choice = if self.opts.yes {
                self.auto(step, Choice::Run, "--yes");
                Choice::Run
            } else {
                self.ask(
                    step,
                    "Run this command?",
                    &[
                        Choice::Run,
                        Choice::Skip,
                        Choice::Abort,
                        Choice::Note,
                        Choice::Show,
                    ],
                )?
            };
            match choice {
                Choice::Run => {}
                Choice::Skip => {
                    self.skip(step, "skipped by the operator");
                    return Ok(false);
                }
                Choice::Note => {
                    self.note(step)?;
                    continue;
                }
                Choice::Show => {
                    self.describe(step, c);
                    continue;
                }
                _ => {
                    self.aborted(step)?;
                }
            }
            let Some(confirm) = &c.confirm else {
                return Ok(true);
            };
            let word = match self.render(TemplateKind::Text, &confirm.typed) {
                Ok(w) => w,
                Err(e) => {
                    self.render_failed(step, "confirm.typed", &e)?;
                    return Ok(false);
                }
            };
            if let Some(confirmed) = self.typed_confirmation(step, &word)? {
                return Ok(confirmed);
            }
        }
    }

    /// The typed word: `Some(true)` to run, `None` to ask again (mistyped).
    fn typed_confirmation(&mut self, step: &Step, word: &str) -> Flow<Option<bool>> {
        if self.opts.yes_typed {
            self.auto(
                step,
                Choice::Run,
                &format!("--yes-typed stands for typing `{word}`"),
            );
            return Ok(Some(true));
        }
        if self.opts.yes {
            let msg = format!(
                "step `{}` needs the operator to type `{word}`; --yes does not give that (add --yes-typed to allow it unattended)",
                step.id
            );
            self.say(Tone::Failure, &msg);
            self.finish(
                step,
                StepStatus::Declined,
                None,
                StdDuration::ZERO,
                Some(&msg),
            );
            return Err(Stop::Outcome(RunOutcome::Aborted));
        }
        let question = format!("Type `{word}` to confirm");
        self.rec(Event::Prompt {
            step: Some(step.id.clone()),
            question: question.clone(),
            choices: vec![],
        });
        match self.op.text(&question, false) {
            Ok(typed) => {
                let choice = if typed.trim() == word {
                    Choice::Confirmed
                } else {
                    Choice::Mistyped
                };
                let by = self.operator();
                self.rec(Event::Decision {
                    step: Some(step.id.clone()),
                    by,
                    choice,
                    text: None,
                });
                if choice == Choice::Confirmed {
                    return Ok(Some(true));
                }
                self.say(Tone::Warning, "that is not the word; the step did not run");
                Ok(None)
            }
            Err(AskError::Interrupted) => Err(Stop::Outcome(RunOutcome::Interrupted)),
            Err(AskError::Unavailable(why)) => {
                self.rec(Event::Interrupted {
                    step: Some(step.id.clone()),
                    what: format!("the terminal went away at a prompt: {why}"),
                });
                self.say(Tone::Failure, &format!("cannot ask the operator: {why}"));
                Err(Stop::Outcome(RunOutcome::Interrupted))
            }
        }
    }

    /// Runs the command, with automatic retries, then asks what to do about a failure. On
    /// hosts, a retry runs only where the attempt failed, and up to `tolerate` hosts may still
    /// have failed after the last automatic attempt without failing the step.
    pub(super) fn attempts(
        &mut self,
        step: &Step,
        c: &CommandStep,
        command: &str,
        tolerate: usize,
    ) -> Flow<Attempted> {
        let mut schedule = Schedule::of(c);
        let mut attempt: u32 = 1;
        let mut hosts: Vec<super::hosts::HostRan> = Vec::new();
        loop {
            let mut ran =
                self.execute(step, command, attempt, self.limits(c), c.capture.is_some())?;
            self.record_hosts(step, &ran.per_host, crate::domain::HostStatus::Succeeded);
            self.retry_where_failed(&ran.per_host);
            // Each host's latest attempt.
            for r in std::mem::take(&mut ran.per_host) {
                hosts.retain(|h| h.host != r.host);
                hosts.push(r);
            }
            let failed: Vec<String> = hosts
                .iter()
                .filter(|h| !h.ok())
                .map(|h| h.host.clone())
                .collect();
            let tolerated = !hosts.is_empty()
                && ran.ended != ProcessEnd::Interrupted
                && attempt >= schedule.attempts
                && failed.len() <= tolerate;
            if ran.ended == ProcessEnd::Exited(0) || tolerated {
                ran.ended = ProcessEnd::Exited(0);
                ran.per_host = hosts;
                return Ok(Attempted::Succeeded(ran, failed));
            }
            let next = if ran.ended == ProcessEnd::Interrupted {
                self.after_interrupt(step, &ran)?
            } else {
                self.after_failure(step, c, &ran, attempt, &mut schedule)?
            };
            match next {
                Next::Again => attempt += 1,
                Next::Done => return Ok(Attempted::Over),
            }
        }
    }

    /// The step succeeded (on hosts, `reason` says which failures were tolerated).
    pub(super) fn succeeded(
        &mut self,
        step: &Step,
        c: &CommandStep,
        ran: &Ran,
        reason: Option<&str>,
    ) {
        if let Some(cap) = &c.capture {
            let value = if ran.per_host.is_empty() {
                String::from_utf8_lossy(&ran.stdout).trim().to_string()
            } else {
                self.capture_on_hosts(step, cap, &ran.per_host)
            };
            self.rec(Event::Captured {
                step: step.id.clone(),
                name: cap.clone(),
                value: self.redactor.redact_str(&value),
                host: None,
            });
            self.unknown.remove(cap);
            self.captures.insert(cap.clone(), value);
        }
        self.finish(step, StepStatus::Succeeded, Some(0), ran.took, reason);
        self.say(Tone::Success, &format!("ok ({})", fmt_duration(ran.took)));
        self.milestone(step);
    }

    /// A signal during the step: recorded as what it was; after the operator's own Ctrl-C they
    /// choose abort, skip or retry; SIGTERM, a lost terminal or an unattended run stop the run.
    fn after_interrupt(&mut self, step: &Step, ran: &Ran) -> Flow<Next> {
        let signal = self.runner.last_interrupt();
        let reason = format!("interrupted by {}", signal.describe());
        self.finish(step, StepStatus::Interrupted, None, ran.took, Some(&reason));
        self.say(Tone::Failure, &format!("failed: {reason}"));
        self.rec(Event::Interrupted {
            step: Some(step.id.clone()),
            what: format!("{} during the step", signal.describe()),
        });
        if self.opts.yes || !signal.asks() {
            self.say(
                Tone::Warning,
                "the run stops here; `rb resume` continues it",
            );
            return Err(Stop::Outcome(RunOutcome::Interrupted));
        }
        match self.ask(
            step,
            "Interrupted. Abort the whole run, skip this step, or retry it?",
            &[Choice::Abort, Choice::Skip, Choice::Retry],
        )? {
            Choice::Skip => self.skipped_after_failure(step).map(|()| Next::Done),
            Choice::Retry => Ok(Next::Again),
            _ => Err(Stop::Outcome(RunOutcome::Interrupted)),
        }
    }

    /// A failed attempt: retried automatically while the schedule allows, then the operator
    /// chooses (an unattended run stops).
    fn after_failure(
        &mut self,
        step: &Step,
        c: &CommandStep,
        ran: &Ran,
        attempt: u32,
        schedule: &mut Schedule,
    ) -> Flow<Next> {
        let (status, exit, reason) = match ran.ended {
            ProcessEnd::Exited(code) => (StepStatus::Failed, Some(code), ran.ended.to_string()),
            ProcessEnd::TimedOut => (
                StepStatus::TimedOut,
                None,
                format!("timed out after {}", fmt_duration(ran.took)),
            ),
            _ => (StepStatus::Failed, None, ran.ended.to_string()),
        };
        self.finish(step, status, exit, ran.took, Some(&reason));
        self.say(Tone::Failure, &format!("failed: {reason}"));
        if attempt < schedule.attempts {
            self.retry_after(step, attempt, schedule, reason)?;
            return Ok(Next::Again);
        }
        if self.opts.yes {
            self.say(
                Tone::Failure,
                "unattended run (--yes): a failed step stops the run",
            );
            self.auto(
                step,
                Choice::Abort,
                "unattended run: a failed step stops the run",
            );
            return Err(Stop::Outcome(RunOutcome::Failed));
        }
        let mut choices = vec![Choice::Retry, Choice::Skip];
        if c.rollback.is_some() {
            choices.push(Choice::Rollback);
        }
        choices.extend([Choice::Note, Choice::Abort]);
        loop {
            match self.ask(step, "The step failed. What now?", &choices)? {
                Choice::Retry => return Ok(Next::Again),
                Choice::Skip => return self.skipped_after_failure(step).map(|()| Next::Done),
                Choice::Rollback => return self.rollback(step, c).map(|()| Next::Done),
                Choice::Note => self.note(step)?,
                _ => return Err(Stop::Outcome(RunOutcome::Failed)),
            }
        }
    }

    /// Records an automatic retry and waits its delay.
    fn retry_after(
        &mut self,
        step: &Step,
        attempt: u32,
        schedule: &mut Schedule,
        reason: String,
    ) -> Flow<()> {
        let delay = schedule.delay;
        self.rec(Event::Retry {
            step: step.id.clone(),
            attempt: attempt + 1,
            delay_ms: ms(delay),
            reason,
        });
        self.say(
            Tone::Info,
            &format!(
                "retrying in {} (attempt {} of {})",
                fmt_duration(delay),
                attempt + 1,
                schedule.attempts
            ),
        );
        if !self.runner.sleep(delay) {
            self.rec(Event::Interrupted {
                step: Some(step.id.clone()),
                what: format!(
                    "{} while waiting to retry",
                    self.runner.last_interrupt().describe()
                ),
            });
            return Err(Stop::Outcome(RunOutcome::Interrupted));
        }
        if schedule.exponential {
            schedule.delay = delay.saturating_mul(2);
        }
        Ok(())
    }

    pub(super) fn skipped_after_failure(&mut self, step: &Step) -> Flow<()> {
        self.skip(step, "skipped by the operator after a failure");
        Ok(())
    }

    fn rollback(&mut self, step: &Step, c: &CommandStep) -> Flow<()> {
        let src = c.rollback.as_deref().unwrap_or_default();
        let command = match self.render(TemplateKind::Shell, src) {
            Ok(cmd) => cmd,
            Err(e) => return self.render_failed(step, "rollback", &e),
        };
        self.say(Tone::Command, &format!("rollback: {command}"));
        let hosts = self.on_hosts.clone();
        self.host_commands = match self.host_renders(src, &command, &hosts) {
            Ok(own) => own,
            Err(e) => return self.render_failed(step, "rollback", &e),
        };
        self.say_host_commands(step);
        let ran = self.execute(step, &command, 0, self.limits(c), false)?;
        self.record_hosts(step, &ran.per_host, crate::domain::HostStatus::RolledBack);
        if ran.ended == ProcessEnd::Exited(0) {
            self.forget_capture(step);
            self.finish(
                step,
                StepStatus::RolledBack,
                Some(0),
                ran.took,
                Some("rolled back after a failure"),
            );
            self.say(Tone::Success, "rolled back");
            return match self.ask(
                step,
                "Rolled back. Continue with the next step, or abort?",
                &[Choice::Continue, Choice::Abort],
            )? {
                Choice::Continue => Ok(()),
                _ => Err(Stop::Outcome(RunOutcome::Aborted)),
            };
        }
        let code = match ran.ended {
            ProcessEnd::Exited(c) => Some(c),
            _ => None,
        };
        self.finish(
            step,
            StepStatus::Failed,
            code,
            ran.took,
            Some("the rollback failed"),
        );
        self.say(Tone::Failure, "the rollback failed");
        let question = "The rollback failed. Skip the step, or abort?";
        self.skip_or_end(
            step,
            question,
            &[Choice::Skip, Choice::Abort],
            RunOutcome::Failed,
        )?;
        self.skipped_after_failure(step)
    }
}
