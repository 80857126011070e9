//! An attempt that a killed rb left running, met by `rb resume`: found by the run id every step's
//! processes carry (`RB_RUN_ID`), named (its step, pids and commands), and settled as the
//! operator says: wait for it to end, end it, or mark its step done by hand. The step never
//! starts again beside it.
//!
//! The transcript tells which step was unfinished (`step_started` without `step_finished`) and
//! its process group (`step_spawned`); the environment scan tells which processes still run. The
//! group is used only while a process carrying the run's id is in it: a recorded id may have
//! been reused since.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::domain::{Actor, Choice, StepStatus};
use crate::exec::operator::{AskError, Operator, Tone};
use crate::exec::runner::escaped::{self, RUN_VAR};
use crate::exec::runner::{ProcessRunner, Runner};
use crate::exit::{Code, UserError};
use crate::transcript::{Event, Transcript};

/// How long the processes of an attempt ended by `rb resume` get after SIGTERM before SIGKILL.
pub const END_GRACE: Duration = Duration::from_secs(5);
/// How often a wait looks whether the attempt is over.
const WAIT_POLL: Duration = Duration::from_millis(100);

/// What to do with an attempt still running (`--running`, or the operator's answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Wait until its processes are gone; the step then runs again (its result was not seen).
    Wait,
    /// End it (SIGTERM, then SIGKILL); the step then runs again.
    End,
    /// Count the step done by hand; its processes are left running.
    MarkDone,
}

impl Settle {
    /// The value of `--running` that asks for it.
    pub fn flag(self) -> &'static str {
        match self {
            Settle::Wait => "wait",
            Settle::End => "end",
            Settle::MarkDone => "mark-done",
        }
    }

    fn choice(self) -> Choice {
        match self {
            Settle::Wait => Choice::Wait,
            Settle::End => Choice::End,
            Settle::MarkDone => Choice::Done,
        }
    }
}

/// The unfinished attempt and the run's processes that still run.
#[derive(Debug, Clone, Default)]
pub struct Running {
    /// The step whose last attempt has no end in the transcript (none: every step that started
    /// ended, and the processes are ones a finished step left behind).
    pub step: Option<String>,
    pub attempt: u32,
    /// When that attempt started.
    pub started: Option<Timestamp>,
    /// Its process group, as `step_spawned` recorded it.
    pub pgid: Option<u32>,
    /// (pid, command line) of the attempt's live processes (they carry the run's id).
    pub procs: Vec<(u32, String)>,
    /// Processes finished steps left running on purpose: shown, never touched.
    pub left: Vec<(u32, String)>,
    /// The run's id, which they carry.
    pub run_id: String,
}

/// The run's processes still running, if any, and the attempt they belong to. Processes in the
/// group of a step that finished are what that step left running on purpose (a daemon; it was
/// listed when the step ended): they are not the attempt's, and are neither waited for nor ended.
pub fn find(t: &Transcript, run_id: &str) -> Option<Running> {
    let me = std::process::id();
    let all: Vec<(u32, String)> = escaped::holders_of(RUN_VAR, run_id)
        .into_iter()
        .filter(|(pid, _)| *pid != me)
        .collect();
    if all.is_empty() {
        return None;
    }
    let mut open: Option<Running> = None;
    // Each recorded group, and the step whose attempt had it last.
    let mut groups: BTreeMap<u32, String> = BTreeMap::new();
    for line in &t.lines {
        match &line.event {
            Event::StepStarted { step, attempt, .. } => {
                open = Some(Running {
                    step: Some(step.clone()),
                    attempt: *attempt,
                    started: Some(line.ts),
                    ..Running::default()
                });
            }
            Event::StepSpawned { step, pgid, .. } => {
                groups.insert(*pgid, step.clone());
                if let Some(o) = open.as_mut().filter(|o| o.step.as_ref() == Some(step)) {
                    o.pgid = Some(*pgid);
                }
            }
            Event::StepFinished { step, .. }
                if open.as_ref().and_then(|o| o.step.as_ref()) == Some(step) =>
            {
                open = None;
            }
            _ => {}
        }
    }
    let mut running = open.unwrap_or_default();
    let (left, procs): (Vec<_>, Vec<_>) = all.into_iter().partition(|(pid, _)| {
        escaped::group_of(*pid)
            .and_then(|g| groups.get(&g))
            .is_some_and(|s| Some(s) != running.step.as_ref())
    });
    if procs.is_empty() {
        return None;
    }
    running.procs = procs;
    running.left = left;
    running.run_id = run_id.to_string();
    Some(running)
}

impl Running {
    /// `step `long` (attempt 1)`, or what the processes are when no step is unfinished.
    fn what(&self) -> String {
        match &self.step {
            Some(s) => format!("step `{s}` (attempt {})", self.attempt),
            None => "processes a finished step left".to_string(),
        }
    }

    /// `pid 12 (bash -c …), pid 13 (sleep 1000)`, and what finished steps left, apart.
    fn list(&self) -> String {
        let mut s = list(&self.procs);
        if !self.left.is_empty() {
            s += &format!(
                " (also running, left on purpose by finished steps and not touched: {})",
                list(&self.left)
            );
        }
        s
    }

    /// The attempt's processes alive now: those found, and any new one in its group.
    fn alive(&self) -> Vec<(u32, String)> {
        escaped::holders_of(RUN_VAR, &self.run_id)
            .into_iter()
            .filter(|(pid, _)| {
                self.procs.iter().any(|(p, _)| p == pid)
                    || self.pgid.is_some() && escaped::group_of(*pid) == self.pgid
            })
            .collect()
    }

    /// The answers that make sense: marking done needs a step.
    fn choices(&self) -> Vec<Choice> {
        let mut c = vec![Choice::Wait, Choice::End];
        if self.step.is_some() {
            c.push(Choice::Done);
        }
        c.push(Choice::Abort);
        c
    }
}

fn list(procs: &[(u32, String)]) -> String {
    procs
        .iter()
        .map(|(pid, cmd)| format!("pid {pid} ({cmd})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What was decided and done, for the transcript and the plan.
#[derive(Debug, Default)]
pub struct Settled {
    /// Recorded before the run continues.
    pub events: Vec<Event>,
    /// The step marked done by hand, if any.
    pub done: Option<String>,
}

/// Decides (the flag, else the operator; unattended without the flag: refused) and acts.
pub fn settle(
    r: &Running,
    given: Option<Settle>,
    unattended: bool,
    op: &mut dyn Operator,
    shown: &str,
) -> Result<Settled, UserError> {
    let mut s = Settled::default();
    let by = Actor::operator(op.name());
    let how = match given {
        Some(how) => {
            if how == Settle::MarkDone && r.step.is_none() {
                return Err(refusal(r, shown).hint("`--running mark-done` needs an unfinished step; no step of the run is unfinished"));
            }
            s.events.push(decision(
                r,
                by.clone(),
                how.choice(),
                Some(format!("--running {}", how.flag())),
            ));
            how
        }
        None if unattended => return Err(refusal(r, shown)),
        None => ask(r, op, by.clone(), &mut s.events, shown)?,
    };
    match how {
        Settle::Wait => wait(r, op, &mut s.events)?,
        Settle::End => end(r, op, &mut s.events)?,
        Settle::MarkDone => mark_done(r, op, by, &mut s),
    }
    Ok(s)
}

/// The error when nobody says what to do: the attempt, named, and the three ways on.
fn refusal(r: &Running, shown: &str) -> UserError {
    UserError::usage(format!(
        "a step of the run in `{shown}` is still running: {}: {}",
        r.what(),
        r.list()
    ))
    .hint("say what to do with it: `--running wait` (until it ends; the step then runs again), `--running end` (SIGTERM, then SIGKILL after 5 s; the step runs again), or `--running mark-done` (the step counts as done; its processes are left running)")
}

fn decision(r: &Running, by: Actor, choice: Choice, text: Option<String>) -> Event {
    Event::Decision {
        step: r.step.clone(),
        by,
        choice,
        text,
    }
}

/// Asks the operator; Ctrl-C or "abort" resumes nothing.
fn ask(
    r: &Running,
    op: &mut dyn Operator,
    by: Actor,
    events: &mut Vec<Event>,
    shown: &str,
) -> Result<Settle, UserError> {
    op.say(
        Tone::Warning,
        &format!(
            "rb was killed while {} ran, and it still runs: {}",
            r.what(),
            r.list()
        ),
    );
    let mut help = format!(
        "wait: until it ends, then the step runs again (its result was not seen); end: SIGTERM, then SIGKILL after {} s, then the step runs again",
        END_GRACE.as_secs()
    );
    if r.step.is_some() {
        help += "; done: mark the step done by hand, its processes are left running";
    }
    op.say(Tone::Info, &(help + "; abort: resume nothing"));
    let question = "What about the attempt still running?";
    let choices = r.choices();
    let answer = match op.choose(question, &choices) {
        Ok(c) => c,
        Err(AskError::Interrupted) => return Err(nothing_resumed("interrupted at the prompt")),
        Err(AskError::Unavailable(why)) => {
            return Err(refusal(r, shown).hint(format!("cannot ask: {why}")));
        }
    };
    events.push(Event::Prompt {
        step: r.step.clone(),
        question: question.to_string(),
        choices,
    });
    events.push(decision(r, by, answer, None));
    match answer {
        Choice::Wait => Ok(Settle::Wait),
        Choice::End => Ok(Settle::End),
        Choice::Done => Ok(Settle::MarkDone),
        _ => Err(nothing_resumed("the operator chose not to resume")),
    }
}

fn nothing_resumed(why: &str) -> UserError {
    UserError {
        code: Code::Interrupted,
        ..UserError::usage(format!("{why}: nothing was resumed"))
    }
    .hint("the attempt is still running; run `rb resume` again to decide")
}

/// Polls until the run's processes are gone; Ctrl-C (or SIGTERM, SIGHUP) stops waiting.
fn wait(r: &Running, op: &mut dyn Operator, events: &mut Vec<Event>) -> Result<(), UserError> {
    // Its signal handling, for the wait alone: a signal makes `sleep` return false. Set up before
    // the operator is told Ctrl-C stops the wait, so an early Ctrl-C is not the default kill.
    let mut signals =
        ProcessRunner::new().map_err(|e| UserError::io("cannot set up signal handling", &e))?;
    op.say(
        Tone::Info,
        &format!("waiting for {} to end (Ctrl-C stops waiting)", r.what()),
    );
    let since = Instant::now();
    while !r.alive().is_empty() {
        if !signals.sleep(WAIT_POLL) {
            return Err(nothing_resumed("stopped waiting"));
        }
    }
    let text = format!(
        "{} ended on its own after rb resume waited {} s; its result is unknown (rb was not there to see it), so the step runs again",
        r.what(),
        since.elapsed().as_secs()
    );
    op.say(Tone::Info, &text);
    events.push(note(r, text));
    Ok(())
}

/// SIGTERM to the attempt's group and processes, SIGKILL after [`END_GRACE`].
fn end(r: &Running, op: &mut dyn Operator, events: &mut Vec<Event>) -> Result<(), UserError> {
    op.say(
        Tone::Warning,
        &format!(
            "ending {}: SIGTERM, then SIGKILL after {} s",
            r.what(),
            END_GRACE.as_secs()
        ),
    );
    let left = escaped::end_processes(r.pgid, &|| r.alive(), END_GRACE);
    if !left.is_empty() {
        return Err(UserError::environment(format!(
            "cannot end {}: still running after SIGKILL: {}",
            r.what(),
            list(&left)
        ))
        .hint("nothing was resumed; look at those processes (`ps -o pid,stat,cmd -p PID`), then run `rb resume` again"));
    }
    let text = format!(
        "rb resume ended {} that the killed rb left running: {}",
        r.what(),
        list(&r.procs)
    );
    op.say(Tone::Info, &text);
    events.push(note(r, text));
    if let Some(step) = &r.step {
        events.push(Event::StepFinished {
            step: step.clone(),
            status: StepStatus::Interrupted,
            exit_code: None,
            duration_ms: ran_for(r),
            reason: Some("rb was killed during this attempt; rb resume ended it".into()),
        });
    }
    Ok(())
}

/// The step counts as finished by the operator's word; its processes are left alone, and listed.
fn mark_done(r: &Running, op: &mut dyn Operator, by: Actor, s: &mut Settled) {
    let Some(step) = &r.step else { return };
    let text = format!(
        "step `{step}` marked done by hand by {by}; its attempt is left running: {}",
        r.list()
    );
    op.say(Tone::Warning, &text);
    s.events.push(Event::StepFinished {
        step: step.clone(),
        status: StepStatus::Succeeded,
        exit_code: None,
        duration_ms: ran_for(r),
        reason: Some(text),
    });
    s.done = Some(step.clone());
}

fn note(r: &Running, text: String) -> Event {
    Event::Note {
        by: Actor::Rb,
        text,
        step: r.step.clone(),
        kind: crate::transcript::NoteKind::Plain,
    }
}

/// From the attempt's start to now, in ms (0 when unknown).
fn ran_for(r: &Running) -> u64 {
    r.started
        .and_then(|t| Timestamp::now().duration_since(t).try_into().ok())
        .map_or(0, |d: std::time::Duration| d.as_millis() as u64)
}
