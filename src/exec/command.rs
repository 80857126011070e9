//! Command steps: confirmation (including typed), running with automatic retries, the failure
//! prompt (retry, skip, rollback, abort), and streaming a process's redacted output to the
//! operator and the journal.

use std::time::Duration as StdDuration;

use super::operator::{AskError, Choice, Tone};
use super::runner::{CommandSpec, ProcessEnd, Stream};
use super::{
    CAPTURE_LIMIT, Executor, Flow, Mode, RECORD_LIMIT, RunOutcome, Stop, fmt_duration, ms,
};
use crate::render::TemplateKind;
use crate::runbook::{Backoff, Step};
use crate::transcript::event::{Event, StepStatus};

impl Executor<'_> {
    fn describe(&mut self, step: &Step) {
        let mut lines = Vec::new();
        if let Some(d) = &step.description {
            lines.push(d.trim().to_string());
        }
        if let Some(t) = self.duration(&step.timeout) {
            lines.push(format!("timeout: {}", fmt_duration(t)));
        }
        if let Some(r) = &step.retry {
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
        if let Some(rb) = &step.rollback {
            let r = self
                .render(TemplateKind::Shell, rb)
                .unwrap_or_else(|e| format!("(cannot render: {e})"));
            lines.push(format!("rollback: {r}"));
        }
        if let Some(cap) = &step.capture {
            lines.push(format!("captures stdout as `{cap}`"));
        }
        let env: Vec<String> = self
            .params
            .env(&self.doc.runbook)
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

    pub(super) fn command_step(&mut self, step: &Step) -> Flow<()> {
        let src = step.run.clone().unwrap_or_default();
        let command = match self.render(TemplateKind::Shell, &src) {
            Ok(c) => c,
            Err(e) => return self.render_failed(step, "run", &e),
        };
        self.say(Tone::Command, &command);
        let runs_now = match self.opts.mode {
            Mode::DryRun => false,
            Mode::Check => step.read_only,
            Mode::Live => true,
        };
        if !runs_now {
            self.preview_details(step);
            self.forget_capture(step);
            return Ok(());
        }
        if step.changes_system() && !self.confirm(step)? {
            return Ok(());
        }
        self.attempts(step, &command)
    }

    /// In dry-run/check: what would happen around the command.
    fn preview_details(&mut self, step: &Step) {
        let mut parts = Vec::new();
        if step.changes_system() {
            parts.push(match &step.confirm {
                Some(c) => format!(
                    "would ask for typed confirmation (`{}`)",
                    self.render(TemplateKind::Text, &c.typed)
                        .unwrap_or_else(|_| c.typed.clone())
                ),
                None => "would ask for confirmation".into(),
            });
        } else {
            parts.push("would run without asking (read-only)".into());
        }
        if let Some(cap) = &step.capture {
            parts.push(format!("captures `{cap}`"));
        }
        if let Some(t) = self.duration(&step.timeout) {
            parts.push(format!("timeout {}", fmt_duration(t)));
        }
        if let Some(r) = &step.retry {
            parts.push(format!("up to {} attempts", r.attempts));
        }
        if let Some(rb) = &step.rollback {
            let r = self
                .render(TemplateKind::Shell, rb)
                .unwrap_or_else(|e| format!("(cannot render: {e})"));
            parts.push(format!("rollback: {r}"));
        }
        self.say(Tone::Info, &parts.join("; "));
        self.finish(
            step,
            StepStatus::Skipped,
            None,
            StdDuration::ZERO,
            Some(match self.opts.mode {
                Mode::DryRun => "dry run",
                _ => "check mode: changes are previewed, not run",
            }),
        );
    }

    /// Asks before a change. Returns false when the step is skipped.
    fn confirm(&mut self, step: &Step) -> Flow<bool> {
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
                    self.forget_capture(step);
                    self.finish(
                        step,
                        StepStatus::Skipped,
                        None,
                        StdDuration::ZERO,
                        Some("skipped by the operator"),
                    );
                    return Ok(false);
                }
                Choice::Note => {
                    self.note(step)?;
                    continue;
                }
                Choice::Show => {
                    self.describe(step);
                    continue;
                }
                _ => {
                    self.aborted(step)?;
                }
            }
            let Some(confirm) = &step.confirm else {
                return Ok(true);
            };
            let word = match self.render(TemplateKind::Text, &confirm.typed) {
                Ok(w) => w,
                Err(e) => {
                    self.render_failed(step, "confirm.typed", &e)?;
                    return Ok(false);
                }
            };
            if self.opts.yes_typed {
                self.auto(
                    step,
                    Choice::Run,
                    &format!("--yes-typed stands for typing `{word}`"),
                );
                return Ok(true);
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
            self.rec(Event::Prompt {
                step: Some(step.id.clone()),
                question: format!("Type `{word}` to confirm"),
                choices: vec![],
            });
            match self.op.text(&format!("Type `{word}` to confirm"), false) {
                Ok(typed) if typed.trim() == word => {
                    let by = self.operator();
                    self.rec(Event::Decision {
                        step: Some(step.id.clone()),
                        by,
                        choice: Choice::Confirmed,
                        text: None,
                    });
                    return Ok(true);
                }
                Ok(_) => {
                    let by = self.operator();
                    self.rec(Event::Decision {
                        step: Some(step.id.clone()),
                        by,
                        choice: Choice::Mistyped,
                        text: None,
                    });
                    self.say(Tone::Warning, "that is not the word; the step did not run");
                }
                Err(AskError::Interrupted) => return Err(Stop::Outcome(RunOutcome::Interrupted)),
                Err(AskError::Unavailable(why)) => {
                    self.say(Tone::Failure, &format!("cannot ask the operator: {why}"));
                    return Err(Stop::Outcome(RunOutcome::Aborted));
                }
            }
        }
    }

    /// Runs the command, with automatic retries, then asks what to do about a failure.
    fn attempts(&mut self, step: &Step, command: &str) -> Flow<()> {
        let auto_attempts = step.retry.as_ref().map_or(1, |r| r.attempts);
        let mut delay = step
            .retry
            .as_ref()
            .and_then(|r| r.delay)
            .map_or(StdDuration::from_secs(1), |d| d.get());
        let mut attempt: u32 = 1;
        loop {
            let (ended, took, stdout) =
                self.execute(step, command, attempt, step.capture.is_some())?;
            let (status, exit, reason) = match ended {
                ProcessEnd::Exited(0) => {
                    if let Some(cap) = &step.capture {
                        let value = String::from_utf8_lossy(&stdout).trim().to_string();
                        self.rec(Event::Captured {
                            step: step.id.clone(),
                            name: cap.clone(),
                            value: self.redactor.redact_str(&value),
                        });
                        self.unknown.remove(cap);
                        self.captures.insert(cap.clone(), value);
                    }
                    self.finish(step, StepStatus::Succeeded, Some(0), took, None);
                    self.say(Tone::Success, &format!("ok ({})", fmt_duration(took)));
                    self.milestone(step);
                    return Ok(());
                }
                ProcessEnd::Exited(code) => (
                    StepStatus::Failed,
                    Some(code),
                    format!("exited with status {code}"),
                ),
                ProcessEnd::Signaled(sig) => {
                    (StepStatus::Failed, None, format!("killed by signal {sig}"))
                }
                ProcessEnd::TimedOut => (
                    StepStatus::TimedOut,
                    None,
                    format!("timed out after {}", fmt_duration(took)),
                ),
                ProcessEnd::Interrupted => (
                    StepStatus::Interrupted,
                    None,
                    "interrupted by Ctrl-C".to_string(),
                ),
            };
            self.finish(step, status, exit, took, Some(&reason));
            self.say(Tone::Failure, &format!("failed: {reason}"));
            if ended == ProcessEnd::Interrupted {
                self.rec(Event::Interrupted {
                    step: Some(step.id.clone()),
                    what: "Ctrl-C during the step".into(),
                });
                if self.opts.yes {
                    return Err(Stop::Outcome(RunOutcome::Interrupted));
                }
                match self.ask(
                    step,
                    "Interrupted. Abort the whole run, skip this step, or retry it?",
                    &[Choice::Abort, Choice::Skip, Choice::Retry],
                )? {
                    Choice::Skip => return self.skipped_after_failure(step),
                    Choice::Retry => {
                        attempt += 1;
                        continue;
                    }
                    _ => return Err(Stop::Outcome(RunOutcome::Interrupted)),
                }
            }
            if attempt < auto_attempts {
                self.rec(Event::Retry {
                    step: step.id.clone(),
                    attempt: attempt + 1,
                    delay_ms: ms(delay),
                    reason: reason.clone(),
                });
                self.say(
                    Tone::Info,
                    &format!(
                        "retrying in {} (attempt {} of {auto_attempts})",
                        fmt_duration(delay),
                        attempt + 1
                    ),
                );
                if !self.runner.sleep(delay) {
                    self.rec(Event::Interrupted {
                        step: Some(step.id.clone()),
                        what: "Ctrl-C while waiting to retry".into(),
                    });
                    return Err(Stop::Outcome(RunOutcome::Interrupted));
                }
                if step
                    .retry
                    .as_ref()
                    .is_some_and(|r| r.backoff == Backoff::Exponential)
                {
                    delay = delay.saturating_mul(2);
                }
                attempt += 1;
                continue;
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
            if step.rollback.is_some() {
                choices.push(Choice::Rollback);
            }
            choices.push(Choice::Note);
            choices.push(Choice::Abort);
            loop {
                match self.ask(step, "The step failed. What now?", &choices)? {
                    Choice::Retry => break,
                    Choice::Skip => return self.skipped_after_failure(step),
                    Choice::Rollback => return self.rollback(step),
                    Choice::Note => self.note(step)?,
                    _ => return Err(Stop::Outcome(RunOutcome::Failed)),
                }
            }
            attempt += 1;
        }
    }

    pub(super) fn skipped_after_failure(&mut self, step: &Step) -> Flow<()> {
        self.forget_capture(step);
        self.finish(
            step,
            StepStatus::Skipped,
            None,
            StdDuration::ZERO,
            Some("skipped by the operator after a failure"),
        );
        Ok(())
    }

    fn rollback(&mut self, step: &Step) -> Flow<()> {
        let src = step.rollback.clone().unwrap_or_default();
        let command = match self.render(TemplateKind::Shell, &src) {
            Ok(c) => c,
            Err(e) => return self.render_failed(step, "rollback", &e),
        };
        self.say(Tone::Command, &format!("rollback: {command}"));
        let (ended, took, _) = self.execute(step, &command, 0, false)?;
        if ended == ProcessEnd::Exited(0) {
            self.forget_capture(step);
            self.finish(
                step,
                StepStatus::RolledBack,
                Some(0),
                took,
                Some("rolled back after a failure"),
            );
            self.say(Tone::Success, "rolled back");
            match self.ask(
                step,
                "Rolled back. Continue with the next step, or abort?",
                &[Choice::Continue, Choice::Abort],
            )? {
                Choice::Continue => Ok(()),
                _ => Err(Stop::Outcome(RunOutcome::Aborted)),
            }
        } else {
            let code = if let ProcessEnd::Exited(c) = ended {
                Some(c)
            } else {
                None
            };
            self.finish(
                step,
                StepStatus::Failed,
                code,
                took,
                Some("the rollback failed"),
            );
            self.say(Tone::Failure, "the rollback failed");
            match self.ask(
                step,
                "The rollback failed. Skip the step, or abort?",
                &[Choice::Skip, Choice::Abort],
            )? {
                Choice::Skip => self.skipped_after_failure(step),
                _ => Err(Stop::Outcome(RunOutcome::Failed)),
            }
        }
    }

    /// Runs one process for `step`, streaming redacted output to the operator and the journal.
    /// Returns how it ended, how long it took, and (when `keep_stdout`) its raw stdout, bounded.
    pub(super) fn execute(
        &mut self,
        step: &Step,
        command: &str,
        attempt: u32,
        keep_stdout: bool,
    ) -> Flow<(ProcessEnd, StdDuration, Vec<u8>)> {
        let rb = &self.doc.runbook;
        let shown = self.redactor.redact_str(command);
        if attempt > 0 {
            self.rec(Event::StepStarted {
                step: step.id.clone(),
                index: rb.steps.iter().position(|s| s.id == step.id).unwrap_or(0),
                kind: step.kind,
                title: step.title.clone(),
                command: Some(shown),
                attempt,
                read_only: !step.changes_system(),
            });
        }
        let mut argv: Vec<String> = rb
            .shell
            .unwrap_or_default()
            .argv()
            .iter()
            .map(|s| s.to_string())
            .collect();
        argv.push(command.to_string());
        let spec = CommandSpec {
            argv,
            env: self.params.env(rb),
            timeout: self.duration(&step.timeout),
            interactive: step.interactive,
            cwd: None,
        };
        let mut out_red = self.redactor.stream();
        let mut err_red = self.redactor.stream();
        let mut stdout = Vec::new();
        let mut recorded = 0usize;
        let mut dropped = 0usize;
        let id = step.id.clone();
        let op = &mut *self.op;
        let journal = &mut *self.journal;
        let mut emit = |stream: Stream, bytes: &[u8], recorded: &mut usize, dropped: &mut usize| {
            if bytes.is_empty() {
                return;
            }
            op.output(stream, bytes);
            if *recorded < RECORD_LIMIT {
                *recorded += bytes.len();
                journal.record(Event::output(id.as_str(), stream, bytes));
            } else {
                *dropped += bytes.len();
            }
        };
        let result = self.runner.run(&spec, &mut |stream, chunk| {
            if keep_stdout && stream == Stream::Stdout && stdout.len() < CAPTURE_LIMIT {
                let room = CAPTURE_LIMIT - stdout.len();
                stdout.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            let safe = match stream {
                Stream::Stdout => out_red.push(chunk),
                Stream::Stderr => err_red.push(chunk),
            };
            emit(stream, &safe, &mut recorded, &mut dropped);
        });
        let rest = out_red.finish();
        emit(Stream::Stdout, &rest, &mut recorded, &mut dropped);
        let rest = err_red.finish();
        emit(Stream::Stderr, &rest, &mut recorded, &mut dropped);
        if dropped > 0 {
            let by = self.by();
            self.rec(Event::Note { by, text: format!("{dropped} bytes of output were shown but not recorded (limit {RECORD_LIMIT} bytes per step)"), step: Some(step.id.clone()), kind: crate::transcript::NoteKind::Plain });
        }
        match result {
            Ok(outcome) if outcome.forced => {
                let msg = "a second Ctrl-C killed the step's process group; the run stops here";
                self.finish(
                    step,
                    StepStatus::Interrupted,
                    None,
                    outcome.duration,
                    Some(msg),
                );
                self.rec(Event::Interrupted {
                    step: Some(step.id.clone()),
                    what: "second Ctrl-C during the step".into(),
                });
                self.say(Tone::Warning, msg);
                Err(Stop::Outcome(RunOutcome::Interrupted))
            }
            Ok(outcome) => {
                if outcome.left_background {
                    self.say(Tone::Warning, "the command left a background process holding its output; rb did not wait for it");
                }
                Ok((outcome.ended, outcome.duration, stdout))
            }
            Err(e) => {
                let msg = format!("cannot start the command: {e}");
                self.say(Tone::Failure, &msg);
                Ok((ProcessEnd::Exited(127), StdDuration::ZERO, stdout))
            }
        }
    }
}
