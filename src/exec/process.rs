//! Running one process for a step: the `step_started` record, the shell's argv, the step's
//! environment, and the output streamed (redacted) to the operator and the journal, bounded.

use std::time::Duration as StdDuration;

use super::operator::Tone;
use super::runner::{CommandSpec, Outcome, ProcessEnd, Report, Stream};
use std::borrow::Cow;
use std::collections::VecDeque;

use super::{CAPTURE_LIMIT, Executor, Flow, RunOutcome, Stop};
use crate::runbook::Step;
use crate::transcript::event::{Event, StepStatus};

/// How a step's process runs: what the step says beyond its command.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Limits {
    pub timeout: Option<StdDuration>,
    /// The command gets the terminal as stdin.
    pub interactive: bool,
}

/// What one process did (on several hosts: the worst host's end, the longest time).
pub(super) struct Ran {
    pub ended: ProcessEnd,
    pub took: StdDuration,
    /// Raw stdout, bounded by [`CAPTURE_LIMIT`], when asked for.
    pub stdout: Vec<u8>,
    /// Each host's, when the step ran on remote hosts (empty when it ran here).
    pub per_host: Vec<super::hosts::HostRan>,
}

/// How much of a step's output the record keeps from its start, as it comes.
pub const RECORD_HEAD: usize = 2 * 1024 * 1024;
/// How much of its end the record keeps (held in memory until the step ends): the last lines,
/// where the errors are.
pub const RECORD_TAIL: usize = 2 * 1024 * 1024;

/// What of a step's output goes into the record: the head as it comes, the tail held back
/// (bounded) until the end, and a count of what fell between.
#[derive(Default)]
struct Keeper {
    recorded: usize,
    tail: VecDeque<(Stream, Vec<u8>)>,
    tail_bytes: usize,
    dropped: usize,
}

impl Keeper {
    /// Splits a chunk into what the head has room for (recorded now) and the rest (for the
    /// tail). The head ends exactly at [`RECORD_HEAD`], or just before it where that would cut a
    /// UTF-8 character in two, so its last line stays text.
    fn head<'b>(&mut self, bytes: &'b [u8]) -> (&'b [u8], &'b [u8]) {
        let room = RECORD_HEAD.saturating_sub(self.recorded);
        let mut cut = bytes.len().min(room);
        if cut < bytes.len() {
            // Back off over continuation bytes (at most 3) to the start of a character.
            let start = cut.saturating_sub(3);
            cut = (start..=cut)
                .rev()
                .find(|&i| bytes[i] & 0xC0 != 0x80)
                .unwrap_or(cut);
            // The head is closed now: later bytes come after the ones spilled to the tail.
            self.recorded = RECORD_HEAD;
        } else {
            self.recorded += cut;
        }
        bytes.split_at(cut)
    }

    /// Holds bytes for the tail, forgetting the oldest beyond [`RECORD_TAIL`]. The buffer of a
    /// piece forgotten is reused for the new one (a step printing gigabytes passes every chunk
    /// through here).
    fn tail(&mut self, stream: Stream, bytes: &[u8]) {
        let mut piece = Vec::new();
        self.tail_bytes += bytes.len();
        // Only older pieces are in the queue yet: the new one is never dropped on arrival.
        while self.tail_bytes > RECORD_TAIL {
            let Some((_, old)) = self.tail.pop_front() else {
                break;
            };
            self.tail_bytes -= old.len();
            self.dropped += old.len();
            piece = old;
        }
        piece.clear();
        piece.extend_from_slice(bytes);
        self.tail.push_back((stream, piece));
    }
}

/// What a process's output leaves behind besides what is shown: stdout (bounded) for a capture
/// or a watch, each host's own, and the `[host] ` labels of a run on several hosts.
struct Gathered {
    keep_stdout: bool,
    stdout: Vec<u8>,
    /// Each host's raw stdout, by index in `on_hosts` (taken by [`super::hosts::fold`]).
    per_host: Vec<Vec<u8>>,
    labels: Vec<Vec<u8>>,
    /// Each host's result, once folded.
    ran: Vec<super::hosts::HostRan>,
}

impl Gathered {
    fn new(hosts: &[String], labelled: bool, keep_stdout: bool) -> Gathered {
        Gathered {
            keep_stdout,
            stdout: Vec::new(),
            per_host: hosts.iter().map(|_| Vec::new()).collect(),
            labels: hosts
                .iter()
                .map(|h| match labelled {
                    true => format!("[{h}] ").into_bytes(),
                    false => Vec::new(),
                })
                .collect(),
            ran: Vec::new(),
        }
    }

    /// Keeps what it must of a chunk from `host` (None: here) and returns it as shown.
    fn take<'c>(&mut self, host: Option<usize>, stream: Stream, chunk: &'c [u8]) -> Cow<'c, [u8]> {
        let keep = self.keep_stdout && stream == Stream::Stdout;
        let out = match host {
            Some(i) => &mut self.per_host[i],
            None => &mut self.stdout,
        };
        if keep {
            bounded_push(out, chunk);
        }
        let Some(i) = host else {
            return Cow::Borrowed(chunk);
        };
        let shown = match self.labels[i].as_slice() {
            [] => Cow::Borrowed(chunk),
            label => Cow::Owned([label, chunk].concat()),
        };
        // A watch on hosts reads their lines together, each labelled.
        if keep {
            bounded_push(&mut self.stdout, &shown);
        }
        shown
    }
}

/// Appends what fits under [`CAPTURE_LIMIT`].
fn bounded_push(out: &mut Vec<u8>, bytes: &[u8]) {
    let room = CAPTURE_LIMIT.saturating_sub(out.len());
    out.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

impl Executor<'_> {
    /// Processes a step left running after it ended normally (a daemon it started): listed, in
    /// the record and on the terminal, never killed.
    fn record_left_running(&mut self, step: &Step, left: &[(u32, String)]) {
        let list: Vec<String> = left
            .iter()
            .map(|(pid, cmd)| format!("pid {pid} ({cmd})"))
            .collect();
        let text = format!(
            "the step left {} process(es) running: {}",
            left.len(),
            list.join(", ")
        );
        self.say(Tone::Warning, &text);
        let by = self.by();
        self.rec(Event::Note {
            by,
            text,
            step: Some(step.id.clone()),
            kind: crate::transcript::NoteKind::Plain,
        });
    }

    /// After a step's process: what was left out of the middle (said), then the tail.
    fn record_tail(&mut self, step: &Step, kept: Keeper) {
        if kept.dropped > 0 {
            let by = self.by();
            let text = format!(
                "{} bytes of output were shown but not recorded: the record keeps the first {} KiB and the last {} KiB of a step's output",
                kept.dropped,
                RECORD_HEAD / 1024,
                RECORD_TAIL / 1024
            );
            self.rec(Event::Note {
                by,
                text,
                step: Some(step.id.clone()),
                kind: crate::transcript::NoteKind::Plain,
            });
        }
        for (stream, bytes) in kept.tail {
            self.rec(Event::output(step.id.as_str(), stream, &bytes));
        }
    }

    /// `step_started`: on disk before the process is spawned.
    ///
    /// So the pid cannot be in it: the process does not exist yet. The runner reports the pid
    /// and group as soon as the process exists and `step_spawned` follows (`execute`). Why that
    /// line needs no fsync of its own: rb writes every line to the kernel at once, so a killed rb
    /// loses none that it wrote; only a crash of the machine loses unsynced lines, and that
    /// crash ends the step's processes too, so there is no pid left to find. The one gap is a
    /// kill between the spawn and the write (microseconds); then `rb resume` still finds the
    /// attempt by the run id every step's processes carry in their environment
    /// (`RB_RUN_ID`, [`super::runner::escaped`]). The pid is an aid (which step, which group),
    /// never the guard: a pid is reused once its process ends, so resume acts only on processes
    /// that carry the run's id.
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
        let mut env = self.params.env_for(rb, command);
        env.extend(self.run_env.iter().cloned());
        CommandSpec {
            argv,
            env,
            timeout: limits.timeout,
            interactive: limits.interactive,
            cwd: None,
        }
    }

    /// Runs one process for `step` (here, or on each host of `on_hosts`), streaming redacted
    /// output to the operator and the journal. Returns how it ended, how long it took, and (when
    /// `keep_stdout`) its raw stdout, bounded.
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
        let specs = self.host_specs(&spec, limits);
        let hosts = self.on_hosts.clone();
        let mut got = Gathered::new(&hosts, self.hosts.len() > 1, keep_stdout);
        // One redactor over both streams: a secret split between stdout and stderr is masked too.
        let mut red = crate::redact::MergedRedactor::new(&self.redactor);
        let mut kept = Keeper::default();
        let id = step.id.clone();
        let due = self.update_due_at();
        let op = &mut *self.op;
        op.activity(Some(super::operator::Activity {
            started: std::time::Instant::now(),
            timeout: limits.timeout,
            update_due: due,
        }));
        let journal = &mut *self.journal;
        let mut emit = |what: Report<'_>, kept: &mut Keeper| match what {
            // Written at once, not fsynced on its own: see `record_start`.
            Report::Spawned { pid, pgid } => journal.record(Event::StepSpawned {
                step: id.clone(),
                attempt,
                pid,
                pgid,
            }),
            Report::Output(_, []) => {}
            Report::Output(stream, bytes) => {
                op.output(stream, bytes);
                let (head, rest) = kept.head(bytes);
                if !head.is_empty() {
                    journal.record(Event::output(id.as_str(), stream, head));
                }
                if !rest.is_empty() {
                    kept.tail(stream, rest);
                }
            }
        };
        let mut sink = |host: Option<usize>, what: Report<'_>| match what {
            Report::Output(stream, chunk) => {
                let shown = got.take(host, stream, chunk);
                for (stream, safe) in red.push(stream, &shown) {
                    emit(Report::Output(stream, &safe), &mut kept);
                }
            }
            spawned => emit(spawned, &mut kept),
        };
        let result = if hosts.is_empty() {
            self.runner.run_reporting(&spec, &mut |r| sink(None, r))
        } else {
            let results = self.runner.run_on(&hosts, &specs, &mut |i, stream, chunk| {
                sink(Some(i), Report::Output(stream, chunk))
            });
            let (outcome, each) = super::hosts::fold(&hosts, results, &mut got.per_host);
            got.ran = each;
            Ok(outcome)
        };
        for (stream, rest) in red.finish() {
            emit(Report::Output(stream, &rest), &mut kept);
        }
        self.op.activity(None);
        self.record_tail(step, kept);
        self.ended(step, result, got)
    }

    /// On hosts: each host's process, with its own command where it renders otherwise (its own
    /// captures).
    fn host_specs(&self, spec: &CommandSpec, limits: Limits) -> Vec<CommandSpec> {
        self.on_hosts
            .iter()
            .map(|h| match self.host_commands.get(h) {
                Some(own) => self.spec(own, limits),
                None => spec.clone(),
            })
            .collect()
    }

    /// What the process's end means for the run: a forced stop ends it; otherwise how it went.
    fn ended(&mut self, step: &Step, result: std::io::Result<Outcome>, got: Gathered) -> Flow<Ran> {
        let per_host = got.ran;
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
                if !outcome.left_running.is_empty() {
                    self.record_left_running(step, &outcome.left_running);
                }
                if outcome.left_background {
                    self.say(Tone::Warning, "the command left a background process holding its output; rb did not wait for it");
                }
                Ok(Ran {
                    ended: outcome.ended,
                    took: outcome.duration,
                    stdout: got.stdout,
                    per_host,
                })
            }
            Err(e) => {
                let msg = format!("cannot start the command: {e}");
                self.say(Tone::Failure, &msg);
                Ok(Ran {
                    ended: ProcessEnd::Exited(127),
                    took: StdDuration::ZERO,
                    stdout: got.stdout,
                    per_host,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_ends_at_its_limit_on_a_character_boundary_and_then_stays_closed() {
        let mut k = Keeper::default();
        let first = vec![b'x'; RECORD_HEAD - 2];
        let (head, rest) = k.head(&first);
        assert_eq!((head.len(), rest.len()), (RECORD_HEAD - 2, 0));
        // "é" is two bytes, "€" three: the limit falls inside the "€", which goes whole to the rest.
        let (head, rest) = k.head("é€ab".as_bytes());
        assert_eq!((head, rest), ("é".as_bytes(), "€ab".as_bytes()));
        let (head, rest) = k.head(b"more");
        assert_eq!((head, rest), (&b""[..], &b"more"[..]));
    }
}
