//! Running one process for a step: the `step_started` record, the shell's argv, the step's
//! environment, and the output streamed (redacted) to the operator and the journal, bounded.

use std::time::Duration as StdDuration;

use super::operator::Tone;
use super::runner::{CommandSpec, ProcessEnd, Stream};
use super::{CAPTURE_LIMIT, Executor, Flow, RECORD_LIMIT, RunOutcome, Stop};
use crate::runbook::Step;
use crate::transcript::event::{Event, StepStatus};

/// How a step's process runs: what the step says beyond its command.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Limits {
    pub timeout: Option<StdDuration>,
    /// The command gets the terminal as stdin.
    pub interactive: bool,
}

/// What one process did.
pub(super) struct Ran {
    pub ended: ProcessEnd,
    pub took: StdDuration,
    /// Raw stdout, bounded by [`CAPTURE_LIMIT`], when asked for.
    pub stdout: Vec<u8>,
}

impl Executor<'_> {
    /// `step_started`: on disk before the process is spawned.
    fn record_start(&mut self, step: &Step, command: &str, attempt: u32) {
        let rb = &self.doc.runbook;
        self.rec(Event::StepStarted {
            step: step.id.clone(),
            index: rb.steps.iter().position(|s| s.id == step.id).unwrap_or(0),
            kind: step.kind(),
            title: step.title.clone(),
            command: Some(self.redactor.redact_str(command)),
            attempt,
            read_only: !step.changes_system(),
        });
    }

    /// The process: the runbook's shell running `command`, with the secrets it names (`$NAME`) in
    /// its environment.
    fn spec(&self, command: &str, limits: Limits) -> CommandSpec {
        let rb = &self.doc.runbook;
        let mut argv: Vec<String> = rb.shell.argv().iter().map(|s| s.to_string()).collect();
        argv.push(command.to_string());
        CommandSpec {
            argv,
            env: self.params.env_for(rb, command),
            timeout: limits.timeout,
            interactive: limits.interactive,
            cwd: None,
        }
    }

    /// Runs one process for `step`, streaming redacted output to the operator and the journal.
    /// Returns how it ended, how long it took, and (when `keep_stdout`) its raw stdout, bounded.
    pub(super) fn execute(
        &mut self,
        step: &Step,
        command: &str,
        attempt: u32,
        limits: Limits,
        keep_stdout: bool,
    ) -> Flow<Ran> {
        if attempt > 0 {
            self.record_start(step, command, attempt);
        }
        let spec = self.spec(command, limits);
        // One redactor over both streams: a secret split between stdout and stderr is masked too.
        let mut red = crate::redact::MergedRedactor::new(&self.redactor);
        let mut stdout = Vec::new();
        let mut recorded = 0usize;
        let mut dropped = 0usize;
        let id = step.id.clone();
        let due = self.update_due_at();
        let op = &mut *self.op;
        op.activity(Some(super::operator::Activity {
            started: std::time::Instant::now(),
            timeout: limits.timeout,
            update_due: due,
        }));
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
            for (stream, safe) in red.push(stream, chunk) {
                emit(stream, &safe, &mut recorded, &mut dropped);
            }
        });
        for (stream, rest) in red.finish() {
            emit(stream, &rest, &mut recorded, &mut dropped);
        }
        self.op.activity(None);
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
                Ok(Ran {
                    ended: outcome.ended,
                    took: outcome.duration,
                    stdout,
                })
            }
            Err(e) => {
                let msg = format!("cannot start the command: {e}");
                self.say(Tone::Failure, &msg);
                Ok(Ran {
                    ended: ProcessEnd::Exited(127),
                    took: StdDuration::ZERO,
                    stdout,
                })
            }
        }
    }
}
