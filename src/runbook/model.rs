//! The typed runbook: what validation hands to every later stage.
//!
//! A [`Step`] holds the keys common to all kinds and a [`StepBody`] with one variant per kind,
//! carrying exactly that kind's fields, with defaults applied. The flat file format lives in
//! [`super::format`]; [`Runbook::from_format`] is the one place that turns one into the other.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use super::duration::{Duration, DurationSpec};
use super::format;
pub use super::format::{Backoff, Confirm, Need, Notify, Param, ParamType, Retry, Shell};
pub use super::rollout::{MaxFail, On, Serial, Share};
pub use crate::domain::{Milestone, StepKind};
use crate::render::TemplateKind;

/// How often a watch checks when the runbook does not say.
pub const DEFAULT_EVERY: StdDuration = StdDuration::from_secs(10);

/// A validated runbook.
#[derive(Debug, Clone, PartialEq)]
pub struct Runbook {
    pub name: String,
    pub title: String,
    pub summary: Option<String>,
    pub tags: Vec<String>,
    pub requires: Vec<String>,
    pub shell: Shell,
    pub params: BTreeMap<String, Param>,
    /// Where channel messages are posted.
    pub notify: Option<Notify>,
    /// How often the channel expects an update.
    pub update_every: Option<StdDuration>,
    pub steps: Vec<Step>,
}

/// One step: what every kind has, and its kind's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    /// A template.
    pub title: Option<String>,
    pub description: Option<String>,
    /// An expression; false means the step is skipped.
    pub when: Option<String>,
    /// The milestone recorded when the step succeeds.
    pub marks: Option<Milestone>,
    /// Where it runs when the run has remote hosts (message and manual steps: always here).
    pub on: On,
    pub body: StepBody,
}

/// What a step does, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum StepBody {
    Command(CommandStep),
    /// Text for the incident channel (a template).
    Message {
        text: String,
    },
    /// What the operator must do by hand (a template).
    Manual {
        instructions: String,
    },
    Watch(WatchStep),
}

/// A command that runs once (with retries), asking first unless it is read-only.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandStep {
    /// The shell command (a template).
    pub run: String,
    pub read_only: bool,
    /// Trimmed stdout is stored under this name.
    pub capture: Option<String>,
    pub timeout: Option<DurationSpec>,
    pub retry: Option<Retry>,
    /// The undo command (a template).
    pub rollback: Option<String>,
    pub confirm: Option<Confirm>,
    /// The command gets the terminal as stdin.
    pub interactive: bool,
    /// Canary batches on the hosts (the step's, else the runbook's for a step that changes the
    /// system).
    pub serial: Option<Serial>,
    /// How many hosts may fail before the rollout stops (the step's, else the runbook's).
    pub max_fail: Option<MaxFail>,
}

/// A check re-run every `every` until `until` has held for `hold_for`.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchStep {
    /// The check command (a template).
    pub run: String,
    /// The expression that must hold (`output`, `exit_code` are the check's).
    pub until: String,
    pub every: DurationSpec,
    pub hold_for: DurationSpec,
    /// The whole watch's budget (default: twice `for`, at least `for` + `every`).
    pub timeout: Option<DurationSpec>,
}

/// A required key was missing, which the schema reports first: the step cannot be typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingField {
    pub step: usize,
    pub field: &'static str,
}

impl Runbook {
    /// Types a runbook the schema accepted. Errors only if a kind's required key is missing.
    pub fn from_format(f: format::Runbook) -> Result<Runbook, MissingField> {
        let defaults = Defaults {
            on: f.on.unwrap_or_default(),
            serial: f.serial.clone(),
            max_fail: f.max_fail,
        };
        let steps = f
            .steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                Step::from_format(s, &defaults).map_err(|field| MissingField { step: i, field })
            })
            .collect::<Result<_, _>>()?;
        Ok(Runbook {
            name: f.name,
            title: f.title,
            summary: f.summary,
            tags: f.tags,
            requires: f.requires,
            shell: f.shell.unwrap_or_default(),
            params: f.params,
            notify: f.notify,
            update_every: f.update_every.map(Duration::get),
            steps,
        })
    }
}

impl Runbook {
    /// Types what can be typed of a runbook the schema refused, so the semantic checks still run
    /// on the rest in the same `rb validate` (every problem of every stage at once). Required keys
    /// that are missing (already reported) get neutral values, so every step keeps its index and
    /// its other templates are still checked.
    pub fn from_format_lenient(mut f: format::Runbook) -> Option<Runbook> {
        f.steps.iter_mut().for_each(fill_required);
        Runbook::from_format(f).ok()
    }
}

/// Gives a step's missing required keys neutral values (see [`Runbook::from_format_lenient`]).
fn fill_required(s: &mut format::Step) {
    match s.kind {
        StepKind::Command => {
            s.run.get_or_insert_with(String::new);
        }
        StepKind::Message => {
            s.text.get_or_insert_with(String::new);
        }
        StepKind::Manual => {
            s.instructions.get_or_insert_with(String::new);
        }
        StepKind::Watch => {
            s.run.get_or_insert_with(String::new);
            s.until.get_or_insert_with(|| "true".to_string());
            s.hold_for
                .get_or_insert(DurationSpec::Literal(Duration(DEFAULT_EVERY)));
        }
    }
}

/// What the runbook's top level says for every step that does not say it itself.
struct Defaults {
    on: On,
    serial: Option<Serial>,
    max_fail: Option<MaxFail>,
}

impl Step {
    fn from_format(s: format::Step, d: &Defaults) -> Result<Step, &'static str> {
        let need = |v: Option<String>, field: &'static str| v.ok_or(field);
        // The runbook's batches are for changes: a read-only step runs on every host at once.
        let serial = s
            .serial
            .or_else(|| d.serial.clone().filter(|_| !s.read_only));
        let on = match s.kind {
            StepKind::Command | StepKind::Watch => s.on.unwrap_or(d.on),
            StepKind::Message | StepKind::Manual => On::Local,
        };
        let body = match s.kind {
            StepKind::Command => StepBody::Command(CommandStep {
                run: need(s.run, "run")?,
                read_only: s.read_only,
                capture: s.capture,
                timeout: s.timeout,
                retry: s.retry,
                rollback: s.rollback,
                confirm: s.confirm,
                interactive: s.interactive,
                serial,
                max_fail: s.max_fail.or(d.max_fail),
            }),
            StepKind::Message => StepBody::Message {
                text: need(s.text, "text")?,
            },
            StepKind::Manual => StepBody::Manual {
                instructions: need(s.instructions, "instructions")?,
            },
            StepKind::Watch => StepBody::Watch(WatchStep {
                run: need(s.run, "run")?,
                until: need(s.until, "until")?,
                every: s
                    .every
                    .unwrap_or(DurationSpec::Literal(Duration(DEFAULT_EVERY))),
                hold_for: s.hold_for.ok_or("for")?,
                timeout: s.timeout,
            }),
        };
        Ok(Step {
            id: s.id,
            title: s.title,
            description: s.description,
            when: s.when,
            marks: s.marks,
            on,
            body,
        })
    }

    /// The step's kind.
    pub fn kind(&self) -> StepKind {
        match self.body {
            StepBody::Command(_) => StepKind::Command,
            StepBody::Message { .. } => StepKind::Message,
            StepBody::Manual { .. } => StepKind::Manual,
            StepBody::Watch(_) => StepKind::Watch,
        }
    }

    /// The command step's fields, if it is one.
    pub fn command(&self) -> Option<&CommandStep> {
        match &self.body {
            StepBody::Command(c) => Some(c),
            _ => None,
        }
    }

    /// The name its output is captured under, if any.
    pub fn capture(&self) -> Option<&str> {
        self.command()?.capture.as_deref()
    }

    /// Whether running this step may change the system (and so needs confirmation).
    pub fn changes_system(&self) -> bool {
        self.command().is_some_and(|c| !c.read_only)
    }

    /// Every template of the step, with its key (as a JSON pointer suffix) and how it renders.
    pub fn templates(&self) -> Vec<(&'static str, &str, TemplateKind)> {
        let mut out = Vec::new();
        if let Some(t) = &self.title {
            out.push(("title", t.as_str(), TemplateKind::Text));
        }
        match &self.body {
            StepBody::Command(c) => {
                out.push(("run", c.run.as_str(), TemplateKind::Shell));
                if let Some(r) = &c.rollback {
                    out.push(("rollback", r.as_str(), TemplateKind::Shell));
                }
                if let Some(t) = &c.confirm {
                    out.push(("confirm/typed", t.typed.as_str(), TemplateKind::Text));
                }
            }
            StepBody::Message { text } => out.push(("text", text.as_str(), TemplateKind::Text)),
            StepBody::Manual { instructions } => {
                out.push(("instructions", instructions.as_str(), TemplateKind::Text))
            }
            StepBody::Watch(w) => out.push(("run", w.run.as_str(), TemplateKind::Shell)),
        }
        out
    }

    /// Every duration key of the step, with its key.
    pub fn durations(&self) -> Vec<(&'static str, &DurationSpec)> {
        match &self.body {
            StepBody::Command(c) => c.timeout.iter().map(|t| ("timeout", t)).collect(),
            StepBody::Watch(w) => {
                let mut v = vec![("every", &w.every), ("for", &w.hold_for)];
                v.extend(w.timeout.iter().map(|t| ("timeout", t)));
                v
            }
            StepBody::Message { .. } | StepBody::Manual { .. } => Vec::new(),
        }
    }
}
