//! Watch steps: re-run a check every `every` until `until` has held for `for`, with breaches
//! shown at once and a total time budget.

use std::time::{Duration as StdDuration, Instant};

use minijinja::Value;

use super::operator::{Choice, Tone};
use super::process::Limits;
use super::runner::ProcessEnd;
use super::{Executor, Flow, Mode, RunOutcome, Stop, fmt_duration};
use crate::render::TemplateKind;
use crate::runbook::check::WATCH_VARIABLES;
use crate::runbook::{Step, WatchStep};
use crate::transcript::event::{Event, StepStatus};

/// A watch's rendered check and its timing.
struct Plan {
    command: String,
    until: String,
    every: StdDuration,
    hold: StdDuration,
    limit: StdDuration,
    /// The watch's own `timeout`, also the bound of one check.
    check_timeout: Option<StdDuration>,
}

/// A watch's time budget: wall time since it started, less the time spent at prompts.
struct Window {
    started: Instant,
    paused: StdDuration,
}

impl Window {
    fn start() -> Window {
        Window {
            started: Instant::now(),
            paused: StdDuration::ZERO,
        }
    }

    fn elapsed(&self) -> StdDuration {
        self.started.elapsed().saturating_sub(self.paused)
    }
}

/// What one check found.
struct Sample {
    holds: bool,
    code: i32,
    /// The trimmed output, redacted and cut to 60 characters for display.
    latest: String,
}

/// What the loop does after a check.
enum After {
    /// Check again after `every`.
    Continue,
    /// The step is over.
    Done,
}

impl Executor<'_> {
    pub(super) fn watch_step(&mut self, step: &Step, w: &WatchStep) -> Flow<()> {
        let command = match self.render(TemplateKind::Shell, &w.run) {
            Ok(c) => c,
            Err(e) => return self.render_failed(step, "run", &e),
        };
        let every = self
            .duration(&w.every)
            .unwrap_or(crate::runbook::DEFAULT_EVERY);
        let hold = self
            .duration(&w.hold_for)
            .unwrap_or(StdDuration::from_secs(60));
        let check_timeout = w.timeout.as_ref().and_then(|t| self.duration(t));
        let limit = check_timeout.unwrap_or(hold.saturating_mul(2).max(hold + every));
        let plan = Plan {
            command,
            until: w.until.clone(),
            every,
            hold,
            limit,
            check_timeout,
        };
        self.say(Tone::Command, &plan.command);
        self.say(
            Tone::Info,
            &format!(
                "until `{}` holds for {} (checked every {}, gives up after {})",
                plan.until,
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
        // On hosts, each check runs on all of them; its output is their lines, labelled.
        self.on_hosts = self.targets(step);
        self.host_commands = match self.host_renders(&w.run, &plan.command, &self.on_hosts) {
            Ok(own) => own,
            Err(e) => return self.render_failed(step, "run", &e),
        };
        self.say_host_commands(step);
        let done = self.watch_loop(step, &plan);
        self.on_hosts.clear();
        self.host_commands.clear();
        done
    }

    fn watch_loop(&mut self, step: &Step, plan: &Plan) -> Flow<()> {
        let limits = Limits {
            timeout: plan.check_timeout,
            interactive: false,
        };
        let mut check_no = 0u32;
        'watch: loop {
            let mut window = Window::start();
            let mut held_since: Option<Instant> = None;
            loop {
                check_no += 1;
                let ran = self.execute(step, &plan.command, check_no, limits, true)?;
                if ran.ended == ProcessEnd::Interrupted {
                    return self.watch_interrupted(step, window.started);
                }
                let sample = self.sample(plan, &ran.ended, &ran.stdout);
                let after = if sample.holds {
                    let since = *held_since.get_or_insert_with(Instant::now);
                    self.holding(step, plan, &sample, since, window.started)
                } else {
                    // A breach starts the hold window again; the time the operator spends
                    // deciding is not the watch's.
                    held_since = None;
                    let asked = Instant::now();
                    let after = self.breach(step, plan, &sample, window.started)?;
                    window.paused += asked.elapsed();
                    after
                };
                if let After::Done = after {
                    return Ok(());
                }
                if window.elapsed() + plan.every > plan.limit {
                    if self.watch_failed(step, plan, window.started)? {
                        continue 'watch;
                    }
                    return Ok(());
                }
                if !self.runner.sleep(plan.every) {
                    return self.watch_interrupted(step, window.started);
                }
                let asked = Instant::now();
                self.update_if_due(Some(step))?;
                window.paused += asked.elapsed();
            }
        }
    }

    /// Evaluates `until` on one check's result.
    fn sample(&self, plan: &Plan, ended: &ProcessEnd, stdout: &[u8]) -> Sample {
        let output = String::from_utf8_lossy(stdout).trim().to_string();
        let code = match ended {
            ProcessEnd::Exited(c) => *c,
            _ => -1,
        };
        let mut ctx = self.context();
        ctx.insert(WATCH_VARIABLES[0].into(), Value::from(output.clone()));
        ctx.insert(WATCH_VARIABLES[1].into(), Value::from(code));
        let holds =
            code == 0 && matches!(self.renderer.eval_condition(&plan.until, &ctx), Ok(true));
        let shown = self.redactor.redact_str(&output);
        Sample {
            holds,
            code,
            latest: shown.chars().take(60).collect(),
        }
    }

    /// The condition holds: done once it has held long enough (or after one check in --check).
    fn holding(
        &mut self,
        step: &Step,
        plan: &Plan,
        sample: &Sample,
        since: Instant,
        started: Instant,
    ) -> After {
        let held = since.elapsed();
        self.say(
            Tone::Progress,
            &format!(
                "holding {} of {}, latest: {}",
                fmt_duration(held),
                fmt_duration(plan.hold),
                sample.latest
            ),
        );
        if self.opts.mode == Mode::Check {
            self.say(
                Tone::Info,
                "check mode: one check done; a live run keeps watching",
            );
            self.check_mode_done(step, Some(0), started);
            return After::Done;
        }
        if held < plan.hold {
            return After::Continue;
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
        After::Done
    }

    fn check_mode_done(&mut self, step: &Step, code: Option<i32>, started: Instant) {
        self.finish(
            step,
            StepStatus::Skipped,
            code,
            started.elapsed(),
            Some("check mode: one check only"),
        );
    }

    /// The condition does not hold: recorded, then the operator decides (unattended: go on).
    fn breach(
        &mut self,
        step: &Step,
        plan: &Plan,
        sample: &Sample,
        started: Instant,
    ) -> Flow<After> {
        let what = if sample.code == 0 {
            format!("`{}` does not hold, latest: {}", plan.until, sample.latest)
        } else {
            format!("the check failed (exit {})", sample.code)
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
            self.check_mode_done(step, Some(sample.code), started);
            return Ok(After::Done);
        }
        if self.opts.yes {
            return Ok(After::Continue);
        }
        match self.ask(
            step,
            "Breach. Keep watching, skip the watch, or abort?",
            &[Choice::Continue, Choice::Skip, Choice::Note, Choice::Abort],
        )? {
            Choice::Continue => Ok(After::Continue),
            Choice::Note => self.note(step).map(|()| After::Continue),
            Choice::Skip => {
                self.finish(
                    step,
                    StepStatus::Skipped,
                    None,
                    started.elapsed(),
                    Some("skipped by the operator after a breach"),
                );
                Ok(After::Done)
            }
            _ => self.aborted(step).map(|()| After::Done),
        }
    }

    /// The budget ran out before the condition held long enough. Returns true when the operator
    /// chooses to watch again (a fresh window); an unattended run stops.
    fn watch_failed(&mut self, step: &Step, plan: &Plan, started: Instant) -> Flow<bool> {
        let reason = format!(
            "`{}` did not hold for {} within {}",
            plan.until,
            fmt_duration(plan.hold),
            fmt_duration(plan.limit)
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
        match self.ask(
            step,
            "The watch failed. Watch again (retry), skip it, or abort?",
            &[Choice::Retry, Choice::Skip, Choice::Abort],
        )? {
            Choice::Retry => Ok(true),
            Choice::Skip => self.skipped_after_failure(step).map(|()| false),
            _ => Err(Stop::Outcome(RunOutcome::Failed)),
        }
    }

    /// Ctrl-C (or a signal) during a watch, whether in a check or between two: recorded, then the
    /// operator chooses between ending the run and skipping the watch.
    fn watch_interrupted(&mut self, step: &Step, started: Instant) -> Flow<()> {
        let signal = self.runner.last_interrupt();
        self.rec(Event::Interrupted {
            step: Some(step.id.clone()),
            what: format!("{} during a watch", signal.describe()),
        });
        self.finish(
            step,
            StepStatus::Interrupted,
            None,
            started.elapsed(),
            Some("interrupted"),
        );
        if !signal.asks() {
            return Err(Stop::Outcome(RunOutcome::Interrupted));
        }
        let question = "Watch interrupted. Abort the run, or skip the watch?";
        let choices = [Choice::Abort, Choice::Skip];
        self.skip_or_end(step, question, &choices, RunOutcome::Interrupted)?;
        self.finish(
            step,
            StepStatus::Skipped,
            None,
            started.elapsed(),
            Some("skipped by the operator after an interruption"),
        );
        Ok(())
    }
}
