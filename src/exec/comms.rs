//! The incident channel during a run: posting a message step's text, reminding the operator when
//! an update is due (with a prefilled one to post or edit), the resolution message, and the
//! summary at the end. A post that fails never fails the run: its text is shown for copy-paste.

use std::time::{Duration as StdDuration, Instant};

use super::channel::{Delivery, DeliveryStatus};
use super::operator::{AskError, Choice, Tone};
use super::{Executor, Flow, Mode, RunOutcome, Stop, fmt_duration};
use crate::domain::{MessagePurpose, Milestone, StepStatus};
use crate::runbook::Step;
use crate::transcript::event::Event;

/// A message for the channel: why, about which step, and its text.
pub(super) struct Outgoing<'s> {
    pub purpose: MessagePurpose,
    pub step: Option<&'s str>,
    pub text: String,
}

impl Executor<'_> {
    /// Whether messages go to a webhook in this run (only live runs post).
    pub(super) fn posts(&self) -> bool {
        self.channel.is_some() && self.opts.mode == Mode::Live
    }

    /// The update interval: `--update-every`, else the runbook's `update_every`.
    fn update_every(&self) -> Option<StdDuration> {
        self.opts.update_every.or(self.doc.runbook.update_every)
    }

    /// When the next update is due, in a live run that asks for updates.
    pub(super) fn update_due_at(&self) -> Option<Instant> {
        let every = self.update_every()?;
        (self.opts.mode == Mode::Live).then(|| self.last_update + every)
    }

    /// Asks whether to post `msg` (post, or edit then post; or `others`), or posts it unasked
    /// under `--yes`. Returns what the operator chose and the text as finally posted.
    fn post_or_not(
        &mut self,
        msg: &Outgoing<'_>,
        question: &str,
        others: &[Choice],
    ) -> Flow<(Choice, String)> {
        if self.opts.yes {
            self.rec(Event::Decision {
                step: msg.step.map(str::to_string),
                by: self.by(),
                choice: Choice::Post,
                text: Some("unattended run (--yes)".into()),
            });
            return Ok((Choice::Post, msg.text.clone()));
        }
        let mut choices = vec![Choice::Post];
        choices.extend_from_slice(others);
        let choice = self.ask_about(msg.step, question, &choices)?;
        if choice != Choice::Edit {
            return Ok((choice, msg.text.clone()));
        }
        match self.op.text("New text (Enter keeps it as shown)", false) {
            Ok(t) if !t.trim().is_empty() => {
                let t = self.redactor.redact_str(t.trim());
                Ok((Choice::Post, t))
            }
            Ok(_) => Ok((Choice::Post, msg.text.clone())),
            Err(AskError::Interrupted) => Err(Stop::Outcome(RunOutcome::Interrupted)),
            Err(AskError::Unavailable(_)) => Ok((Choice::Copy, msg.text.clone())),
        }
    }

    /// Records what became of a message; for updates and the resolution the text goes with it.
    fn record_delivery(&mut self, msg: &Outgoing<'_>, text: &str, d: &Delivery) {
        let text = (msg.purpose != MessagePurpose::Step).then(|| text.to_string());
        let error = d.error.as_deref().map(|e| self.redactor.redact_str(e));
        self.rec(Event::MessagePosted {
            step: msg.step.map(str::to_string),
            purpose: msg.purpose,
            status: d.status,
            http_status: d.http_status,
            attempts: d.attempts,
            error,
            text,
        });
        self.last_update = Instant::now();
    }

    /// Posts `text` and says how it went; on failure shows the text again for copy-paste.
    fn deliver(&mut self, msg: &Outgoing<'_>, text: &str) -> Delivery {
        let Some(channel) = self.channel.as_deref_mut() else {
            return Delivery::not_sent(DeliveryStatus::Copied);
        };
        self.op.say(Tone::Info, "posting to the incident channel…");
        let d = channel.post(text);
        self.record_delivery(msg, text, &d);
        match d.status {
            DeliveryStatus::Posted => {
                let code = d
                    .http_status
                    .map(|c| format!(" (HTTP {c})"))
                    .unwrap_or_default();
                self.say(
                    Tone::Success,
                    &format!("posted to the incident channel{code}"),
                );
            }
            _ => {
                let why = d.error.clone().unwrap_or_else(|| "no answer".into());
                let tries = if d.attempts == 1 {
                    "1 attempt".to_string()
                } else {
                    format!("{} attempts", d.attempts)
                };
                self.say(
                    Tone::Warning,
                    &format!("could not post to the incident channel ({why}; {tries}): copy this into the channel by hand:"),
                );
                self.say(Tone::Message, text);
            }
        }
        d
    }

    /// A message step in a live run with a webhook: post, skip, or copy by hand. Returns false
    /// when the operator skipped it.
    pub(super) fn post_step_message(&mut self, step: &Step, text: &str) -> Flow<bool> {
        let msg = Outgoing {
            purpose: MessagePurpose::Step,
            step: Some(&step.id),
            text: text.to_string(),
        };
        let (choice, text) = self.post_or_not(
            &msg,
            "Post to the incident channel?",
            &[Choice::Edit, Choice::Copy, Choice::Skip],
        )?;
        match choice {
            Choice::Post => {
                self.deliver(&msg, &text);
                Ok(true)
            }
            Choice::Copy => {
                self.record_delivery(&msg, &text, &Delivery::not_sent(DeliveryStatus::Copied));
                self.say(
                    Tone::Info,
                    "not posted: copy the text above into the incident channel",
                );
                Ok(true)
            }
            _ => {
                self.record_delivery(&msg, &text, &Delivery::not_sent(DeliveryStatus::Skipped));
                Ok(false)
            }
        }
    }

    /// The prefilled update: where the run is, how long it has taken, the last milestone.
    fn update_text(&self, step: Option<&Step>) -> String {
        let rb = &self.doc.runbook;
        let mut s = format!(
            "Update on \"{}\": {} in.",
            rb.title,
            fmt_duration(secs(self.started.elapsed()))
        );
        if let Some(step) = step {
            let n = rb.steps.iter().position(|s| s.id == step.id).unwrap_or(0) + 1;
            let title = step
                .title
                .as_deref()
                .map(|t| {
                    self.render(crate::render::TemplateKind::Text, t)
                        .unwrap_or_else(|_| t.to_string())
                })
                .unwrap_or_else(|| step.id.clone());
            s += &format!(" Now at step {n} of {}: {title}.", rb.steps.len());
        }
        match self.milestones.last() {
            Some((m, at)) => {
                s += &format!(
                    " Last milestone: {m}, {} ago.",
                    fmt_duration(secs(at.elapsed()))
                )
            }
            None => s += " No milestone yet.",
        }
        s
    }

    /// When an update is due: tells the operator and offers a prefilled one (to post or edit,
    /// or to copy when no webhook is configured).
    pub(super) fn update_if_due(&mut self, step: Option<&Step>) -> Flow<()> {
        if self.update_due_at().is_none_or(|due| Instant::now() < due) {
            return Ok(());
        }
        let every = self.update_every().unwrap_or_default();
        let msg = Outgoing {
            purpose: MessagePurpose::Update,
            step: step.map(|s| s.id.as_str()),
            text: self.update_text(step),
        };
        self.say(
            Tone::Warning,
            &format!(
                "an update to the incident channel is due (every {})",
                fmt_duration(every)
            ),
        );
        self.say(Tone::Message, &msg.text);
        if !self.posts() {
            self.say(Tone::Info, "copy this into the incident channel");
            self.record_delivery(&msg, &msg.text, &Delivery::not_sent(DeliveryStatus::Copied));
            return Ok(());
        }
        let (choice, text) =
            self.post_or_not(&msg, "Post this update?", &[Choice::Edit, Choice::Skip])?;
        match choice {
            Choice::Post => {
                self.deliver(&msg, &text);
            }
            _ => self.record_delivery(&msg, &text, &Delivery::not_sent(DeliveryStatus::Skipped)),
        }
        Ok(())
    }

    /// At the end of a run that reached `resolved`: the resolution message, posted when a
    /// webhook is configured, shown in any case.
    pub(super) fn resolution(&mut self) {
        let Some((_, resolved_at)) = self
            .milestones
            .iter()
            .find(|(m, _)| *m == Milestone::Resolved)
            .copied()
        else {
            return;
        };
        let marks: Vec<String> = self
            .milestones
            .iter()
            .map(|(m, at)| {
                format!(
                    "{m} +{}",
                    fmt_duration(secs(at.duration_since(self.started)))
                )
            })
            .collect();
        let text = format!(
            "Resolved: \"{}\". {} from the start of the run to resolution. Milestones: {}.",
            self.doc.runbook.title,
            fmt_duration(secs(resolved_at.duration_since(self.started))),
            marks.join(", ")
        );
        let msg = Outgoing {
            purpose: MessagePurpose::Resolution,
            step: None,
            text,
        };
        self.say(Tone::Heading, "Resolution message");
        self.say(Tone::Message, &msg.text);
        if !self.posts() {
            self.say(Tone::Info, "copy this into the incident channel");
            return;
        }
        // An interruption here only means "do not post": the run is over either way.
        match self.post_or_not(&msg, "Post the resolution?", &[Choice::Edit, Choice::Skip]) {
            Ok((Choice::Post, text)) => {
                self.deliver(&msg, &text);
            }
            Ok((_, text)) => {
                self.record_delivery(&msg, &text, &Delivery::not_sent(DeliveryStatus::Skipped))
            }
            Err(_) => {}
        }
    }

    /// The end of a run: steps run, skipped, failed; the duration; the milestones.
    pub(super) fn summary(&mut self, outcome: RunOutcome) {
        let count = |f: fn(StepStatus) -> bool| self.statuses.values().filter(|s| f(**s)).count();
        let ran = count(|s| matches!(s, StepStatus::Succeeded | StepStatus::RolledBack));
        let skipped = count(|s| matches!(s, StepStatus::Skipped | StepStatus::Declined));
        let failed = count(|s| {
            matches!(
                s,
                StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted
            )
        });
        let mut text = format!(
            "Run {outcome} in {}: {ran} step(s) ran, {skipped} skipped, {failed} failed",
            fmt_duration(secs(self.started.elapsed()))
        );
        let not_reached = self
            .doc
            .runbook
            .steps
            .len()
            .saturating_sub(self.statuses.len());
        if not_reached > 0 {
            text += &format!(", {not_reached} not reached");
        }
        text.push('.');
        if !self.milestones.is_empty() {
            let marks: Vec<String> = self
                .milestones
                .iter()
                .map(|(m, at)| {
                    format!(
                        "{m} +{}",
                        fmt_duration(secs(at.duration_since(self.started)))
                    )
                })
                .collect();
            text += &format!("\nMilestones: {}.", marks.join(", "));
        }
        self.say(Tone::Heading, "Summary");
        self.say(Tone::Info, &text);
    }
}

/// Whole seconds: the channel and the summary do not need milliseconds.
fn secs(d: StdDuration) -> StdDuration {
    StdDuration::from_secs(d.as_secs())
}
