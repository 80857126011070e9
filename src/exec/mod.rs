//! Execution: the step loop.
//!
//! The executor knows the plan (a validated runbook with bound params) and the state (which step,
//! captured values, decisions). It asks an [`Operator`] what to do, a [`Runner`] to run processes,
//! and records every event in a [`Journal`]. It never touches the terminal or spawns processes
//! itself, so it is tested with a scripted operator and a real or fake runner.

pub mod channel;
mod command;
mod comms;
mod hosts;
mod manual;
pub mod operator;
pub mod params;
mod process;
pub mod runner;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration as StdDuration, Instant};

use minijinja::Value;

pub use crate::redact::MASK;
use crate::redact::Redactor;
use crate::render::{Context, Renderer, TemplateKind};

use crate::domain::{Actor, StepStatus};
pub use crate::domain::{Mode, RunOutcome};
use crate::runbook::duration::DurationSpec;
use crate::runbook::validate::Document;
use crate::runbook::{Step, StepBody};
use crate::transcript::event::Event;
use channel::Channel;
use operator::{AskError, Choice, Operator, Tone};
use params::{Bound, Params};
use runner::Runner;

/// How much of a step's stdout a `capture` keeps.
pub const CAPTURE_LIMIT: usize = 64 * 1024;
pub use process::{RECORD_HEAD, RECORD_TAIL};

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
    /// Remind the operator to update the incident channel this often (overrides the runbook's
    /// `update_every`).
    pub update_every: Option<StdDuration>,
}

/// What a run that continues an interrupted one already has.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// Ids of the steps that finished before the interruption: they are not run again.
    pub done: BTreeSet<String>,
    /// Captures recorded before the interruption.
    pub captures: BTreeMap<String, String>,
    /// The run's id, as `run_started` recorded it.
    pub run_id: Option<String>,
    /// Recorded as a note when the run continues.
    pub note: Option<String>,
    /// Recorded first: what became of an attempt the killed rb left running (a decision, its
    /// end), see `launch::attempt`.
    pub settled: Vec<Event>,
    /// Captures taken on remote hosts, by host.
    pub host_captures: BTreeMap<String, BTreeMap<String, String>>,
    /// Steps that did not finish everywhere: the hosts where they did (not run there again).
    pub done_on: BTreeMap<String, BTreeSet<String>>,
    /// Hosts that had left the run, with why.
    pub left: BTreeMap<String, String>,
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
    /// Where channel messages are posted, when a webhook is configured.
    channel: Option<&'a mut dyn Channel>,
    /// When the run (this invocation) started.
    started: Instant,
    /// When the channel last heard from this run (or the run started).
    last_update: Instant,
    /// The last status of each step that finished, for the summary.
    statuses: BTreeMap<String, StepStatus>,
    /// Milestones this run recorded, with when.
    milestones: Vec<(crate::domain::Milestone, Instant)>,
    /// Added to every step's environment (the run id, so a later `rb resume` can find them).
    run_env: Vec<(String, String)>,
    /// The remote hosts of the run, by name (none: every step runs here).
    hosts: Vec<String>,
    /// Where the processes of the step being run go (none: here); set for each attempt.
    on_hosts: Vec<String>,
    /// Hosts out of the rest of the run (a failure `max_fail` tolerated), with why.
    left: BTreeMap<String, String>,
    /// Captures taken on remote hosts, by host (they win over `captures` for that host).
    host_captures: BTreeMap<String, BTreeMap<String, String>>,
    /// The command of the process being run on the hosts where it renders otherwise than the
    /// one shown (it uses captures that differ between hosts).
    host_commands: BTreeMap<String, String>,
    /// Hosts where the current step's `when:` is false, with why.
    when_skipped: Vec<(String, String)>,
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
            run_env: Vec::new(),
            hosts: Vec::new(),
            on_hosts: Vec::new(),
            left: BTreeMap::new(),
            host_captures: BTreeMap::new(),
            host_commands: BTreeMap::new(),
            when_skipped: Vec::new(),
            channel: None,
            started: Instant::now(),
            last_update: Instant::now(),
            statuses: BTreeMap::new(),
            milestones: Vec::new(),
        }
    }

    /// Posts channel messages through `channel`; `secrets` (its address) are masked everywhere.
    pub fn with_channel(mut self, channel: &'a mut dyn Channel, secrets: Vec<String>) -> Self {
        let mut all = self.params.secret_values(&self.doc.runbook);
        all.extend(secrets);
        self.redactor = Redactor::new(all);
        self.channel = Some(channel);
        self
    }

    /// Marks every step's processes with the run's id (`RB_RUN_ID`).
    pub fn with_run_id(mut self, id: &str) -> Self {
        self.run_env = vec![(runner::escaped::RUN_VAR.to_string(), id.to_string())];
        self
    }

    /// Runs command and watch steps on these hosts (by name, as the runner knows them), except
    /// steps that say `on: local`.
    pub fn with_hosts(mut self, hosts: Vec<String>) -> Self {
        self.hosts = hosts;
        self
    }

    /// Continue an interrupted run from `resume`.
    pub fn resuming(mut self, resume: Resume) -> Self {
        for e in &resume.settled {
            self.rec(e.clone());
        }
        if let Some(text) = &resume.note {
            let by = self.by();
            self.rec(Event::Note {
                by,
                text: text.clone(),
                step: None,
                kind: crate::transcript::NoteKind::Plain,
            });
        }
        self.captures = resume.captures.clone();
        self.host_captures = resume.host_captures.clone();
        self.left = resume.left.clone();
        self.resume = resume;
        self
    }

    /// Who made an automatic decision: rb itself (the transcript says `--yes` in the decision's
    /// text, and `run_started` names the operator who asked for it).
    fn by(&self) -> Actor {
        Actor::Rb
    }

    /// The operator, as recorded when they answer or write.
    fn operator(&self) -> Actor {
        Actor::operator(self.op.name())
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
        self.started = Instant::now();
        self.last_update = self.started;
        let outcome = match self.steps() {
            Ok(()) => RunOutcome::Finished,
            Err(Stop::Outcome(o)) => o,
        };
        if outcome != RunOutcome::Interrupted {
            self.resolution();
        }
        self.rec(Event::run_finished(outcome, ms(self.started.elapsed())));
        self.summary(outcome);
        outcome
    }

    fn steps(&mut self) -> Flow<()> {
        let rb = &self.doc.runbook;
        let total = rb.steps.len();
        let from = match &self.opts.from {
            Some(id) => rb.steps.iter().position(|s| &s.id == id).unwrap_or(0),
            None => 0,
        };
        for (i, step) in rb.steps.iter().enumerate() {
            if i < from {
                self.before_from(step);
                continue;
            }
            if self.resume.done.contains(&step.id) {
                // Finished before the interruption; its capture, if any, was restored.
                self.keep_or_forget_capture(step);
                continue;
            }
            if self.runner.interrupted_since_last_check() {
                let what = format!("{} between steps", self.runner.last_interrupt().describe());
                self.rec(Event::Interrupted { step: None, what });
                self.say(Tone::Warning, "interrupted: the run stops here");
                return Err(Stop::Outcome(RunOutcome::Interrupted));
            }
            self.update_if_due(Some(step))?;
            self.step(i, total, step)?;
        }
        Ok(())
    }

    /// A step before `--from`: recorded as skipped, its capture empty.
    fn before_from(&mut self, step: &Step) {
        let by = self.by();
        self.rec(Event::Decision {
            step: Some(step.id.clone()),
            by,
            choice: Choice::Skip,
            text: Some("before --from".into()),
        });
        self.finish(
            step,
            StepStatus::Skipped,
            None,
            StdDuration::ZERO,
            Some("before --from"),
        );
        self.keep_or_forget_capture(step);
    }

    fn keep_or_forget_capture(&mut self, step: &Step) {
        if !step
            .capture()
            .is_some_and(|c| self.captures.contains_key(c))
        {
            self.forget_capture(step);
        }
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

    /// A duration as written, or the bound duration param it names.
    fn duration(&self, spec: &DurationSpec) -> Option<StdDuration> {
        match spec {
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
        self.statuses.insert(step.id.clone(), status);
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
        self.ask_about(Some(&step.id), question, choices)
    }

    /// [`Self::ask`], about a step or (at the end of a run) none.
    fn ask_about(
        &mut self,
        step: Option<&str>,
        question: &str,
        choices: &[Choice],
    ) -> Flow<Choice> {
        let step = step.map(str::to_string);
        self.rec(Event::Prompt {
            step: step.clone(),
            question: question.to_string(),
            choices: choices.to_vec(),
        });
        match self.op.choose(question, choices) {
            Ok(c) => {
                let by = self.operator();
                self.rec(Event::Decision {
                    step: step.clone(),
                    by,
                    choice: c,
                    text: None,
                });
                Ok(c)
            }
            Err(AskError::Interrupted) => {
                self.rec(Event::Interrupted {
                    step: step.clone(),
                    what: "Ctrl-C at a prompt".into(),
                });
                self.say(Tone::Warning, "interrupted: the run stops here");
                Err(Stop::Outcome(RunOutcome::Interrupted))
            }
            // The terminal is gone (an ssh drop): nobody decided anything, so the run is
            // interrupted, not aborted, and `rb resume` continues it.
            Err(AskError::Unavailable(why)) => {
                self.rec(Event::Interrupted {
                    step: step.clone(),
                    what: format!("the terminal went away at a prompt: {why}"),
                });
                self.say(Tone::Failure, &format!("cannot ask the operator: {why}"));
                Err(Stop::Outcome(RunOutcome::Interrupted))
            }
        }
    }

    /// Records an answer given on the operator's behalf (`--yes`).
    fn auto(&mut self, step: &Step, choice: Choice, why: &str) {
        let by = self.by();
        self.rec(Event::Decision {
            step: Some(step.id.clone()),
            by,
            choice,
            text: Some(why.into()),
        });
    }

    fn note(&mut self, step: &Step) -> Flow<()> {
        match self.op.text("Note", false) {
            Ok(text) if !text.trim().is_empty() => {
                let text = self.redactor.redact_str(text.trim());
                let by = self.operator();
                self.rec(Event::Note {
                    by,
                    text,
                    step: Some(step.id.clone()),
                    kind: crate::transcript::NoteKind::Plain,
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
        let effect = match &step.body {
            StepBody::Command(c) if c.read_only => "read-only",
            StepBody::Command(c) if c.confirm.is_some() => "changes the system, typed confirmation",
            StepBody::Command(_) => "changes the system",
            StepBody::Watch(_) => "watch",
            StepBody::Message { .. } => "message",
            StepBody::Manual { .. } => "manual",
        };
        self.say(
            Tone::Heading,
            &if step.title.is_some() {
                format!("[{}/{total}] {title}  ({}, {effect})", i + 1, step.id)
            } else {
                format!("[{}/{total}] {title}  ({effect})", i + 1)
            },
        );

        match self.decide_when_on_hosts(step) {
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

        self.say_where(step);
        match &step.body {
            StepBody::Message { text } => self.message_step(step, text),
            StepBody::Manual { instructions } => self.manual_step(step, instructions),
            StepBody::Command(c) => self.command_step(step, c),
            StepBody::Watch(w) => self.watch_step(step, w),
        }
    }

    /// The step did not run: recorded as skipped (and its capture is empty in a live run).
    fn skip(&mut self, step: &Step, reason: &str) {
        self.forget_capture(step);
        self.finish(
            step,
            StepStatus::Skipped,
            None,
            StdDuration::ZERO,
            Some(reason),
        );
    }

    /// After a failure or an interruption: the operator skips the step (Ok) or ends the run with
    /// `end`; an unattended run ends it without asking.
    fn skip_or_end(
        &mut self,
        step: &Step,
        question: &str,
        choices: &[Choice],
        end: RunOutcome,
    ) -> Flow<()> {
        if self.opts.yes {
            return Err(Stop::Outcome(end));
        }
        match self.ask(step, question, choices)? {
            Choice::Skip => Ok(()),
            _ => Err(Stop::Outcome(end)),
        }
    }

    fn preview(&self) -> bool {
        self.opts.mode == Mode::DryRun
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

    /// A step's `marks:` milestone, once it succeeded. Only a live run marks: a check or a dry
    /// run changed nothing, so nothing was mitigated or resolved.
    fn milestone(&mut self, step: &Step) {
        if self.opts.mode != Mode::Live {
            return;
        }
        if let Some(m) = step.marks {
            let by = self.by();
            self.rec(Event::Milestone {
                name: m,
                by,
                step: Some(step.id.clone()),
                at: None,
            });
            self.milestones.push((m, Instant::now()));
            self.say(Tone::Success, &format!("milestone: {m}"));
        }
    }

    /// A step that captures did not run: in a live run its capture is the empty string (so later
    /// steps still render, and `when: x != ""` can test it); in a preview it stays a placeholder.
    fn forget_capture(&mut self, step: &Step) {
        let Some(cap) = step.capture() else { return };
        if self.opts.mode == Mode::Live {
            self.unknown.remove(cap);
            self.captures.insert(cap.to_string(), String::new());
        } else {
            self.unknown.insert(cap.to_string());
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
