//! Watch steps: re-run a check every `every` until `until` has held for `for`, with breaches
//! shown at once and a total time budget.

use std::time::{Duration as StdDuration, Instant};

use minijinja::Value;

use super::operator::{Choice, Tone};
use super::runner::ProcessEnd;
use super::{Executor, Flow, Mode, RunOutcome, Stop, fmt_duration};
use crate::render::{Context, TemplateKind};
use crate::runbook::Step;
use crate::runbook::check::WATCH_VARIABLES;
use crate::transcript::event::{Event, StepStatus};

impl Executor<'_> {
    pub(super) fn watch_step(&mut self, step: &Step) -> Flow<()> {
        let src = step.run.clone().unwrap_or_default();
        let command = match self.render(TemplateKind::Shell, &src) {
            Ok(c) => c,
            Err(e) => return self.render_failed(step, "run", &e),
        };
        let every = self
            .duration(&step.every)
            .unwrap_or(StdDuration::from_secs(10));
        let hold = self
            .duration(&step.hold_for)
            .unwrap_or(StdDuration::from_secs(60));
        let limit = self
            .duration(&step.timeout)
            .unwrap_or(hold.saturating_mul(2).max(hold + every));
        let until = step.until.clone().unwrap_or_default();
        self.say(Tone::Command, &command);
        self.say(
            Tone::Info,
            &format!(
                "until `{until}` holds for {} (checked every {}, gives up after {})",
                fmt_duration(hold),
                fmt_duration(every),
                fmt_duration(limit)
            ),
        );
        if self.opts.mode == Mode::DryRun {
            self.finish(
                step,
                StepStatus::Skipped,
                None,
                StdDuration::ZERO,
                Some("dry run"),
            );
            return Ok(());
        }
        let started = Instant::now();
        let mut held_since: Option<Instant> = None;
        let mut check_no = 0u32;
        loop {
            check_no += 1;
            let (ended, _, stdout) = self.execute(step, &command, check_no, true)?;
            if ended == ProcessEnd::Interrupted {
                return self.watch_interrupted(step, started);
            }
            let output = String::from_utf8_lossy(&stdout).trim().to_string();
            let code = match ended {
                ProcessEnd::Exited(c) => c,
                _ => -1,
            };
            let mut extra = Context::new();
            extra.insert(WATCH_VARIABLES[0].into(), Value::from(output.clone()));
            extra.insert(WATCH_VARIABLES[1].into(), Value::from(code));
            let mut ctx = self.context();
            ctx.extend(extra);
            let holds = code == 0 && matches!(self.renderer.eval_condition(&until, &ctx), Ok(true));
            let shown = self.redactor.redact_str(&output);
            let latest: String = shown.chars().take(60).collect();
            if holds {
                let since = *held_since.get_or_insert_with(Instant::now);
                let held = since.elapsed();
                self.say(
                    Tone::Progress,
                    &format!(
                        "holding {} of {}, latest: {latest}",
                        fmt_duration(held),
                        fmt_duration(hold)
                    ),
                );
                if held >= hold || self.opts.mode == Mode::Check {
                    if self.opts.mode == Mode::Check {
                        self.say(
                            Tone::Info,
                            "check mode: one check done; a live run keeps watching",
                        );
                        self.finish(
                            step,
                            StepStatus::Skipped,
                            Some(0),
                            started.elapsed(),
                            Some("check mode: one check only"),
                        );
                        return Ok(());
                    }
                    self.finish(
                        step,
                        StepStatus::Succeeded,
                        Some(0),
                        started.elapsed(),
                        Some(&format!("held for {}", fmt_duration(held))),
                    );
                    self.say(Tone::Success, &format!("held for {}", fmt_duration(held)));
                    self.milestone(step);
                    return Ok(());
                }
            } else {
                held_since = None;
                let what = if code == 0 {
                    format!("`{until}` does not hold, latest: {latest}")
                } else {
                    format!("the check failed (exit {code})")
                };
                self.say(Tone::Warning, &format!("breach: {what}"));
                let by = self.by();
                self.rec(Event::Note {
                    by,
                    text: format!("watch breach: {what}"),
                    step: Some(step.id.clone()),
                    kind: crate::transcript::NoteKind::Plain,
                });
                if self.opts.mode == Mode::Check {
                    self.finish(
                        step,
                        StepStatus::Skipped,
                        Some(code),
                        started.elapsed(),
                        Some("check mode: one check only"),
                    );
                    return Ok(());
                }
                if !self.opts.yes {
                    match self.ask(
                        step,
                        "Breach. Keep watching, skip the watch, or abort?",
                        &[Choice::Continue, Choice::Skip, Choice::Note, Choice::Abort],
                    )? {
                        Choice::Continue => {}
                        Choice::Note => self.note(step)?,
                        Choice::Skip => {
                            self.finish(
                                step,
                                StepStatus::Skipped,
                                None,
                                started.elapsed(),
                                Some("skipped by the operator after a breach"),
                            );
                            return Ok(());
                        }
                        _ => return self.aborted(step),
                    }
                }
            }
            if started.elapsed() + every > limit {
                let reason = format!(
                    "`{until}` did not hold for {} within {}",
                    fmt_duration(hold),
                    fmt_duration(limit)
                );
                self.finish(
                    step,
                    StepStatus::Failed,
                    None,
                    started.elapsed(),
                    Some(&reason),
                );
                self.say(Tone::Failure, &reason);
                if self.opts.yes {
                    return Err(Stop::Outcome(RunOutcome::Failed));
                }
                return match self.ask(
                    step,
                    "The watch failed. Skip it, or abort?",
                    &[Choice::Skip, Choice::Abort],
                )? {
                    Choice::Skip => self.skipped_after_failure(step),
                    _ => Err(Stop::Outcome(RunOutcome::Failed)),
                };
            }
            if !self.runner.sleep(every) {
                return self.watch_interrupted(step, started);
            }
        }
    }
    /// Ctrl-C (or a signal) during a watch, whether in a check or between two: recorded, then the
    /// operator chooses between ending the run and skipping the watch.
    fn watch_interrupted(&mut self, step: &Step, started: Instant) -> Flow<()> {
        self.rec(Event::Interrupted {
            step: Some(step.id.clone()),
            what: "Ctrl-C during a watch".into(),
        });
        self.finish(
            step,
            StepStatus::Interrupted,
            None,
            started.elapsed(),
            Some("interrupted"),
        );
        if self.opts.yes {
            return Err(Stop::Outcome(RunOutcome::Interrupted));
        }
        match self.ask(
            step,
            "Watch interrupted. Abort the run, or skip the watch?",
            &[Choice::Abort, Choice::Skip],
        )? {
            Choice::Skip => {
                self.finish(
                    step,
                    StepStatus::Skipped,
                    None,
                    started.elapsed(),
                    Some("skipped by the operator after an interruption"),
                );
                Ok(())
            }
            _ => Err(Stop::Outcome(RunOutcome::Interrupted)),
        }
    }
}
