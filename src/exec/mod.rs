//! Execution: the step loop.
//!
//! The executor knows the plan (a validated runbook with bound params) and the state (which step,
//! captured values, decisions). It asks an [`Operator`] what to do, a [`Runner`] to run processes,
//! and records every event in a [`Journal`]. It never touches the terminal or spawns processes
//! itself, so it is tested with a scripted operator and a real or fake runner.

pub mod operator;
pub mod params;
pub mod runner;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration as StdDuration, Instant};

use minijinja::Value;

pub use crate::redact::MASK;
use crate::redact::Redactor;
use crate::render::{Context, Renderer, TemplateKind};
use crate::runbook::check::WATCH_VARIABLES;
use crate::runbook::duration::DurationSpec;
use crate::runbook::validate::Document;
use crate::runbook::{Backoff, Step, StepKind};
use crate::transcript::event::{self, Event, StepStatus};
use operator::{AskError, Choice, Operator, Tone};
use params::{Bound, Params};
use runner::{CommandSpec, Ended, Runner, Stream};

/// How much of a step's stdout a `capture` keeps.
pub const CAPTURE_LIMIT: usize = 64 * 1024;
/// How much output per step is written to the journal; the rest is counted, not kept.
pub const RECORD_LIMIT: usize = 4 * 1024 * 1024;

/// How a run treats commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run for real, asking before every change.
    Live,
    /// Run read-only steps for real; preview the rest.
    Check,
    /// Run nothing; print the rendered plan.
    DryRun,
}

impl Mode {
    /// The mode as recorded in a transcript.
    pub fn event(self) -> event::Mode {
        match self {
            Mode::Live => event::Mode::Live,
            Mode::Check => event::Mode::Check,
            Mode::DryRun => event::Mode::DryRun,
        }
    }
}

/// Run options from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// Answer "run" to every ordinary confirmation (unattended).
    pub yes: bool,
    /// Also pass typed confirmations.
    pub yes_typed: bool,
    /// Start at this step id; earlier steps are recorded as skipped.
    pub from: Option<String>,
}

/// Where a run starts when it continues an interrupted one.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// Index of the first step to run.
    pub start: usize,
    /// Captures recorded before the interruption.
    pub captures: BTreeMap<String, String>,
    /// Recorded as a note when the run continues.
    pub note: Option<String>,
}

/// Receives every event of a run (the transcript in production; a Vec in tests).
pub trait Journal {
    fn record(&mut self, event: Event);
}

impl Journal for crate::transcript::Recorder {
    fn record(&mut self, event: Event) {
        crate::transcript::Recorder::record(self, event);
    }
}

impl Journal for Vec<Event> {
    fn record(&mut self, event: Event) {
        self.push(event);
    }
}

/// How a run ended. Maps to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Finished,
    Failed,
    Aborted,
    Interrupted,
}

impl RunOutcome {
    pub fn exit_code(self) -> crate::exit::Code {
        match self {
            RunOutcome::Finished => crate::exit::Code::Ok,
            RunOutcome::Failed | RunOutcome::Aborted => crate::exit::Code::Failed,
            RunOutcome::Interrupted => crate::exit::Code::Interrupted,
        }
    }

    fn event(self) -> event::Outcome {
        match self {
            RunOutcome::Finished => event::Outcome::Finished,
            RunOutcome::Failed => event::Outcome::Failed,
            RunOutcome::Aborted => event::Outcome::Aborted,
            RunOutcome::Interrupted => event::Outcome::Interrupted,
        }
    }
}

/// Why the step loop stops early.
enum Stop {
    Outcome(RunOutcome),
}

type Flow<T> = Result<T, Stop>;

/// The decision about a step's `when`.
enum When {
    Run,
    Skip(String),
    /// Depends on values known only at run time.
    Unknown(Vec<String>),
}

/// One run of one runbook.
pub struct Executor<'a> {
    doc: &'a Document,
    params: &'a Params,
    opts: Options,
    op: &'a mut dyn Operator,
    runner: &'a mut dyn Runner,
    journal: &'a mut dyn Journal,
    renderer: Renderer,
    redactor: Redactor,
    captures: BTreeMap<String, String>,
    /// Captures whose step did not run (dry run, check mode): shown as placeholders.
    unknown: BTreeSet<String>,
    resume: Resume,
}

impl<'a> Executor<'a> {
    pub fn new(
        doc: &'a Document,
        params: &'a Params,
        opts: Options,
        op: &'a mut dyn Operator,
        runner: &'a mut dyn Runner,
        journal: &'a mut dyn Journal,
    ) -> Self {
        let redactor = Redactor::new(params.secret_values(&doc.runbook));
        Executor {
            doc,
            params,
            opts,
            op,
            runner,
            journal,
            renderer: Renderer::new(),
            redactor,
            captures: BTreeMap::new(),
            unknown: BTreeSet::new(),
            resume: Resume::default(),
        }
    }

    /// Continue an interrupted run from `resume`.
    pub fn resuming(mut self, resume: Resume) -> Self {
        if let Some(text) = &resume.note {
            let by = self.op.name();
            self.rec(Event::Note {
                by,
                text: text.clone(),
                step: None,
            });
        }
        self.captures = resume.captures.clone();
        self.resume = resume;
        self
    }

    /// Who made an automatic decision: rb itself (the transcript says `--yes` in the decision's
    /// text, and `run_started` names the operator who asked for it).
    fn by(&self) -> String {
        "rb".to_string()
    }

    fn rec(&mut self, e: Event) {
        self.journal.record(e);
    }

    fn say(&mut self, tone: Tone, text: &str) {
        let text = self.redactor.redact_str(text);
        self.op.say(tone, &text);
    }

    /// Runs every step. Never panics on user input; every ending is recorded.
    pub fn run(mut self) -> RunOutcome {
        let started = Instant::now();
        let outcome = match self.steps() {
            Ok(()) => RunOutcome::Finished,
            Err(Stop::Outcome(o)) => o,
        };
        self.rec(Event::RunFinished {
            outcome: outcome.event(),
            duration_ms: ms(started.elapsed()),
        });
        outcome
    }

    fn steps(&mut self) -> Flow<()> {
        let rb = &self.doc.runbook;
        let total = rb.steps.len();
        let from = match &self.opts.from {
            Some(id) => rb.steps.iter().position(|s| &s.id == id).unwrap_or(0),
            None => self.resume.start,
        };
        for (i, step) in rb.steps.iter().enumerate() {
            if i < from {
                if self.opts.from.is_some() {
                    let by = self.by();
                    self.rec(Event::Decision {
                        step: Some(step.id.clone()),
                        by,
                        choice: "skip".into(),
                        text: Some("before --from".into()),
                    });
                    self.finish(
                        step,
                        StepStatus::Skipped,
                        None,
                        StdDuration::ZERO,
                        Some("before --from"),
                    );
                }
                if !self
                    .captures
                    .contains_key(step.capture.as_deref().unwrap_or_default())
                {
                    self.forget_capture(step);
                }
                continue;
            }
            if self.runner.interrupted_since_last_check() {
                self.rec(Event::Interrupted {
                    step: None,
                    what: "signal between steps".into(),
                });
                self.say(Tone::Warning, "interrupted: the run stops here");
                return Err(Stop::Outcome(RunOutcome::Interrupted));
            }
            self.step(i, total, step)?;
        }
        Ok(())
    }

    /// The template context: params (missing ones as placeholders) and captures.
    fn context(&self) -> Context {
        let mut ctx = Context::new();
        for (name, v) in &self.params.values {
            ctx.insert(name.clone(), v.to_value());
        }
        for name in &self.params.missing {
            ctx.insert(name.clone(), Value::from(format!("<{name}>")));
        }
        for name in &self.unknown {
            ctx.insert(name.clone(), Value::from(format!("<{name}>")));
        }
        for (name, v) in &self.captures {
            ctx.insert(name.clone(), Value::from(v.clone()));
        }
        ctx
    }

    fn decide_when(&self, step: &Step, extra: &Context) -> When {
        let Some(expr) = &step.when else {
            return When::Run;
        };
        let vars = self.renderer.expression_variables(expr).unwrap_or_default();
        let unknown: Vec<String> = vars
            .into_iter()
            .filter(|v| self.unknown.contains(v) || self.params.missing.contains(v))
            .collect();
        if !unknown.is_empty() {
            return When::Unknown(unknown);
        }
        let mut ctx = self.context();
        ctx.extend(extra.clone());
        match self.renderer.eval_condition(expr, &ctx) {
            Ok(true) => When::Run,
            Ok(false) => When::Skip(format!("`when: {expr}` is false")),
            Err(e) => When::Skip(format!("`when: {expr}` could not be evaluated: {e}")),
        }
    }

    fn render(&self, kind: TemplateKind, src: &str) -> Result<String, String> {
        match self.renderer.render(kind, src, &self.context()) {
            Ok(text) => Ok(text),
            // A preview renders placeholders (`<usage_pct>`), which filters like `| int` cannot
            // take: show the template as written rather than failing the whole dry run.
            Err(_)
                if self.opts.mode != Mode::Live
                    && (!self.unknown.is_empty() || !self.params.missing.is_empty()) =>
            {
                Ok(format!("{}  (rendered at run time)", src.trim_end()))
            }
            Err(e) => Err(e.message),
        }
    }

    fn duration(&self, spec: &Option<DurationSpec>) -> Option<StdDuration> {
        match spec.as_ref()? {
            DurationSpec::Literal(d) => Some(d.get()),
            DurationSpec::Param(p) => match self.params.values.get(p) {
                Some(Bound::Duration(d)) => Some(d.get()),
                _ => None,
            },
        }
    }

    fn finish(
        &mut self,
        step: &Step,
        status: StepStatus,
        exit: Option<i32>,
        took: StdDuration,
        reason: Option<&str>,
    ) {
        self.rec(Event::StepFinished {
            step: step.id.clone(),
            status,
            exit_code: exit,
            duration_ms: ms(took),
            reason: reason.map(str::to_string),
        });
    }

    /// Asks the operator and records the prompt and the answer.
    fn ask(&mut self, step: &Step, question: &str, choices: &[Choice]) -> Flow<Choice> {
        self.rec(Event::Prompt {
            step: Some(step.id.clone()),
            question: question.to_string(),
            choices: choices.iter().map(|c| c.word().to_string()).collect(),
        });
        match self.op.choose(question, choices) {
            Ok(c) => {
                let by = self.op.name();
                self.rec(Event::Decision {
                    step: Some(step.id.clone()),
                    by,
                    choice: c.word().into(),
                    text: None,
                });
                Ok(c)
            }
            Err(AskError::Interrupted) => {
                self.rec(Event::Interrupted {
                    step: Some(step.id.clone()),
                    what: "Ctrl-C at a prompt".into(),
                });
                self.say(Tone::Warning, "interrupted: the run stops here");
                Err(Stop::Outcome(RunOutcome::Interrupted))
            }
            Err(AskError::Unavailable(why)) => {
                self.rec(Event::Interrupted {
                    step: Some(step.id.clone()),
                    what: format!("no answer: {why}"),
                });
                self.say(Tone::Failure, &format!("cannot ask the operator: {why}"));
                Err(Stop::Outcome(RunOutcome::Aborted))
            }
        }
    }

    /// Records an answer given on the operator's behalf (`--yes`).
    fn auto(&mut self, step: &Step, choice: Choice, why: &str) {
        let by = self.by();
        self.rec(Event::Decision {
            step: Some(step.id.clone()),
            by,
            choice: choice.word().into(),
            text: Some(why.into()),
        });
    }

    fn note(&mut self, step: &Step) -> Flow<()> {
        match self.op.text("Note", false) {
            Ok(text) if !text.trim().is_empty() => {
                let text = self.redactor.redact_str(text.trim());
                let by = self.op.name();
                self.rec(Event::Note {
                    by,
                    text,
                    step: Some(step.id.clone()),
                });
                self.say(Tone::Info, "note recorded");
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(AskError::Interrupted) => Err(Stop::Outcome(RunOutcome::Interrupted)),
            Err(AskError::Unavailable(_)) => Ok(()),
        }
    }

    fn step(&mut self, i: usize, total: usize, step: &Step) -> Flow<()> {
        let title = match &step.title {
            Some(t) => self
                .render(TemplateKind::Text, t)
                .unwrap_or_else(|_| t.clone()),
            None => step.id.clone(),
        };
        let effect = match step.kind {
            StepKind::Command if step.read_only => "read-only".to_string(),
            StepKind::Command if step.confirm.is_some() => {
                "changes the system, typed confirmation".to_string()
            }
            StepKind::Command => "changes the system".to_string(),
            StepKind::Watch => "watch".to_string(),
            StepKind::Message => "message".to_string(),
            StepKind::Manual => "manual".to_string(),
        };
        self.say(
            Tone::Heading,
            &if step.title.is_some() {
                format!("[{}/{total}] {title}  ({}, {effect})", i + 1, step.id)
            } else {
                format!("[{}/{total}] {title}  ({effect})", i + 1)
            },
        );

        match self.decide_when(step, &Context::new()) {
            When::Run => {}
            When::Skip(reason) => {
                self.say(Tone::Info, &format!("skipped: {reason}"));
                self.finish(
                    step,
                    StepStatus::Skipped,
                    None,
                    StdDuration::ZERO,
                    Some(&reason),
                );
                self.forget_capture(step);
                return Ok(());
            }
            When::Unknown(vars) => {
                let expr = step.when.clone().unwrap_or_default();
                self.say(
                    Tone::Info,
                    &format!(
                        "when: {expr}  → decided at run time (depends on {})",
                        vars.join(", ")
                    ),
                );
            }
        }

        match step.kind {
            StepKind::Message => self.message_step(step),
            StepKind::Manual => self.manual_step(step),
            StepKind::Command => self.command_step(step),
            StepKind::Watch => self.watch_step(step),
        }
    }

    fn preview(&self) -> bool {
        self.opts.mode == Mode::DryRun
    }

    fn message_step(&mut self, step: &Step) -> Flow<()> {
        let src = step.text.clone().unwrap_or_default();
        let text = match self.render(TemplateKind::Text, &src) {
            Ok(t) => self.redactor.redact_str(&t),
            Err(e) => return self.render_failed(step, "text", &e),
        };
        self.say(Tone::Message, text.trim_end());
        if self.preview() {
            self.say(Tone::Info, "(copy this into the incident channel)");
        }
        self.rec(Event::Message {
            step: step.id.clone(),
            text,
        });
        self.finish(step, StepStatus::Succeeded, None, StdDuration::ZERO, None);
        if self.opts.mode == Mode::Live {
            self.milestone(step);
        }
        Ok(())
    }

    fn manual_step(&mut self, step: &Step) -> Flow<()> {
        let src = step.instructions.clone().unwrap_or_default();
        let text = match self.render(TemplateKind::Text, &src) {
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

    fn aborted(&mut self, step: &Step) -> Flow<()> {
        self.finish(
            step,
            StepStatus::Declined,
            None,
            StdDuration::ZERO,
            Some("run aborted by the operator"),
        );
        self.say(Tone::Warning, "aborted by the operator");
        Err(Stop::Outcome(RunOutcome::Aborted))
    }

    fn render_failed(&mut self, step: &Step, field: &str, e: &str) -> Flow<()> {
        let msg = format!("cannot render `{field}` of step `{}`: {e}", step.id);
        self.say(Tone::Failure, &msg);
        self.finish(
            step,
            StepStatus::Failed,
            None,
            StdDuration::ZERO,
            Some(&msg),
        );
        Err(Stop::Outcome(RunOutcome::Failed))
    }

    fn milestone(&mut self, step: &Step) {
        if let Some(m) = step.marks {
            let by = self.by();
            self.rec(Event::Milestone {
                name: m.as_str().into(),
                by,
                step: Some(step.id.clone()),
            });
            self.say(Tone::Success, &format!("milestone: {}", m.as_str()));
        }
    }

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

    fn command_step(&mut self, step: &Step) -> Flow<()> {
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
                    let by = self.op.name();
                    self.rec(Event::Decision {
                        step: Some(step.id.clone()),
                        by,
                        choice: "confirmed".into(),
                        text: None,
                    });
                    return Ok(true);
                }
                Ok(_) => {
                    let by = self.op.name();
                    self.rec(Event::Decision {
                        step: Some(step.id.clone()),
                        by,
                        choice: "mistyped".into(),
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
                Ended::Exited(0) => {
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
                Ended::Exited(code) => (
                    StepStatus::Failed,
                    Some(code),
                    format!("exited with status {code}"),
                ),
                Ended::Signaled(sig) => {
                    (StepStatus::Failed, None, format!("killed by signal {sig}"))
                }
                Ended::TimedOut => (
                    StepStatus::TimedOut,
                    None,
                    format!("timed out after {}", fmt_duration(took)),
                ),
                Ended::Interrupted => (
                    StepStatus::Interrupted,
                    None,
                    "interrupted by Ctrl-C".to_string(),
                ),
            };
            self.finish(step, status, exit, took, Some(&reason));
            self.say(Tone::Failure, &format!("failed: {reason}"));
            if ended == Ended::Interrupted {
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

    /// A step that captures did not run: in a live run its capture is the empty string (so later
    /// steps still render, and `when: x != ""` can test it); in a preview it stays a placeholder.
    fn forget_capture(&mut self, step: &Step) {
        let Some(cap) = &step.capture else { return };
        if self.opts.mode == Mode::Live {
            self.unknown.remove(cap);
            self.captures.insert(cap.clone(), String::new());
        } else {
            self.unknown.insert(cap.clone());
        }
    }

    fn skipped_after_failure(&mut self, step: &Step) -> Flow<()> {
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
        if ended == Ended::Exited(0) {
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
            let code = if let Ended::Exited(c) = ended {
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
    fn execute(
        &mut self,
        step: &Step,
        command: &str,
        attempt: u32,
        keep_stdout: bool,
    ) -> Flow<(Ended, StdDuration, Vec<u8>)> {
        let rb = &self.doc.runbook;
        let shown = self.redactor.redact_str(command);
        if attempt > 0 {
            self.rec(Event::StepStarted {
                step: step.id.clone(),
                index: rb.steps.iter().position(|s| s.id == step.id).unwrap_or(0),
                kind: step.kind.as_str().into(),
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
            let by = "rb".to_string();
            self.rec(Event::Note { by, text: format!("{dropped} bytes of output were shown but not recorded (limit {RECORD_LIMIT} bytes per step)"), step: Some(step.id.clone()) });
        }
        match result {
            Ok(outcome) => {
                if outcome.left_background {
                    self.say(Tone::Warning, "the command left a background process holding its output; rb did not wait for it");
                }
                Ok((outcome.ended, outcome.duration, stdout))
            }
            Err(e) => {
                let msg = format!("cannot start the command: {e}");
                self.say(Tone::Failure, &msg);
                Ok((Ended::Exited(127), StdDuration::ZERO, stdout))
            }
        }
    }

    fn watch_step(&mut self, step: &Step) -> Flow<()> {
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
            if ended == Ended::Interrupted {
                return self.watch_interrupted(step, started);
            }
            let output = String::from_utf8_lossy(&stdout).trim().to_string();
            let code = match ended {
                Ended::Exited(c) => c,
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
                let by = "rb".to_string();
                self.rec(Event::Note {
                    by,
                    text: format!("watch breach: {what}"),
                    step: Some(step.id.clone()),
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
}

fn ms(d: StdDuration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `1m30s`, `250ms`.
pub fn fmt_duration(d: StdDuration) -> String {
    crate::runbook::Duration(StdDuration::from_millis(ms(d))).to_string()
}

#[cfg(test)]
mod tests;
