//! Steps for people: `message` (text for the incident channel) and `manual` (instructions the
//! operator carries out and records as done or skipped).

use std::time::{Duration as StdDuration, Instant};

use super::operator::{Choice, Tone};
use super::{Executor, Flow, Mode};
use crate::render::TemplateKind;
use crate::runbook::Step;
use crate::transcript::event::{Event, StepStatus};

impl Executor<'_> {
    pub(super) fn message_step(&mut self, step: &Step, src: &str) -> Flow<()> {
        let text = match self.render(TemplateKind::Text, src) {
            Ok(t) => self.redactor.redact_str(&t),
            Err(e) => return self.render_failed(step, "text", &e),
        };
        self.say(Tone::Message, text.trim_end());
        if self.preview() {
            self.say(
                Tone::Info,
                if self.channel.is_some() {
                    "(a live run offers to post this to the incident channel)"
                } else {
                    "(copy this into the incident channel)"
                },
            );
        }
        self.rec(Event::Message {
            step: step.id.clone(),
            text: text.clone(),
        });
        if self.posts() && !self.post_step_message(step, text.trim_end())? {
            self.finish(
                step,
                StepStatus::Skipped,
                None,
                StdDuration::ZERO,
                Some("not posted: skipped by the operator"),
            );
            return Ok(());
        }
        self.finish(step, StepStatus::Succeeded, None, StdDuration::ZERO, None);
        self.milestone(step);
        Ok(())
    }

    pub(super) fn manual_step(&mut self, step: &Step, src: &str) -> Flow<()> {
        let text = match self.render(TemplateKind::Text, src) {
            Ok(t) => t,
            Err(e) => return self.render_failed(step, "instructions", &e),
        };
        self.say(Tone::Instructions, text.trim_end());
        if self.opts.mode != Mode::Live {
            self.say(Tone::Info, "would wait for the operator to do this by hand");
            return Ok(());
        }
        if self.opts.yes {
            self.say(
                Tone::Warning,
                "unattended run (--yes): nobody can do this by hand; recorded as not done",
            );
            self.auto(
                step,
                Choice::Skip,
                "unattended run: a manual step cannot be done by --yes",
            );
            self.rec(Event::Manual {
                step: step.id.clone(),
                done: false,
                note: Some("unattended run".into()),
            });
            self.finish(
                step,
                StepStatus::Skipped,
                None,
                StdDuration::ZERO,
                Some("manual step in an unattended run"),
            );
            return Ok(());
        }
        let started = Instant::now();
        loop {
            match self.ask(
                step,
                "Done?",
                &[Choice::Done, Choice::Skip, Choice::Note, Choice::Abort],
            )? {
                Choice::Note => self.note(step)?,
                Choice::Done => {
                    self.rec(Event::Manual {
                        step: step.id.clone(),
                        done: true,
                        note: None,
                    });
                    self.finish(step, StepStatus::Succeeded, None, started.elapsed(), None);
                    self.milestone(step);
                    return Ok(());
                }
                Choice::Skip => {
                    self.rec(Event::Manual {
                        step: step.id.clone(),
                        done: false,
                        note: None,
                    });
                    self.finish(
                        step,
                        StepStatus::Skipped,
                        None,
                        started.elapsed(),
                        Some("skipped by the operator"),
                    );
                    return Ok(());
                }
                _ => return self.aborted(step),
            }
        }
    }
}
