//! The process runner: starts one step's command as a child process in its own process group,
//! streams its stdout and stderr as raw byte chunks while it runs, and ends the whole group (never
//! just the direct child) when the step times out or rb is interrupted.
//!
//! It owns processes and rb's handling of SIGINT, SIGTERM and SIGHUP; nothing else. What a step
//! means, what to record and what to ask the operator belong to the executor, which talks to this
//! module only through the [`Runner`] trait (so tests of the executor can script a fake runner).
//!
//! # Signals
//!
//! [`ProcessRunner::new`] installs handlers for SIGINT, SIGTERM and SIGHUP for the rest of the
//! process's life (tokio cannot uninstall them): from then on these signals no longer kill rb, they
//! are *observed*. Keep one `ProcessRunner` for the whole run and check it:
//! - during [`Runner::run`]: the first signal is forwarded to the step's group, then escalated
//!   (see [`ProcessRunner::with_grace`]); a second Ctrl-C kills the group at once. The outcome is
//!   [`ProcessEnd::Interrupted`], and [`ProcessRunner::last_interrupt`] tells which signal it was;
//! - during [`Runner::sleep`]: it returns `false` at once;
//! - at any other time (a prompt, rendering, writing the transcript): the signal is kept until
//!   [`Runner::interrupted_since_last_check`] or [`ProcessRunner::take_interrupt`] reports it. A
//!   signal still unreported when `run` or `sleep` is called makes them return at once as
//!   interrupted, without starting anything: the operator asked to stop, so no further command
//!   may start behind their back even if the executor forgot to check.
//!
//! An interactive step ([`CommandSpec::interactive`]) is made the terminal's foreground group
//! while it runs (a background group reading the terminal would be stopped by SIGTTIN), so the
//! terminal's Ctrl-C goes to the step itself, as in a shell; its timeout still applies.
//!
//! Why the escalation: processes in their own group do not get the terminal's Ctrl-C, so rb must
//! forward it; a grandchild may ignore the signal (bash makes `&` jobs ignore SIGINT), so SIGTERM
//! and then SIGKILL follow, and the group is watched until none of its processes runs, so that
//! no grandchild survives a timeout or an interrupt.

mod direct;
pub mod escaped;

use std::ffi::OsString;
use std::future::{Future, poll_fn};
use std::io::{self, IsTerminal};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::pin::pin;
use std::process::{ExitStatus, Stdio};
use std::task::Poll;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, killpg, pthread_sigmask};
use nix::unistd::{Pid, getpgrp, tcgetpgrp, tcsetpgrp};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::signal::unix::{Signal as SignalStream, SignalKind, signal as unix_signal};

/// Which pipe a chunk came from (the same type the transcript records).
pub use crate::transcript::event::Stream;

/// A process to run.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// The program and its arguments, e.g. `["bash", "-euo", "pipefail", "-c", script]`.
    pub argv: Vec<String>,
    /// Added to the inherited environment (secrets travel here, never in `argv`).
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    /// True: the child gets rb's stdin (and the terminal's foreground); false: `/dev/null`.
    pub interactive: bool,
    pub cwd: Option<std::path::PathBuf>,
}

/// How a process ended.
pub use crate::domain::ProcessEnd;

#[derive(Debug, Clone)]
pub struct Outcome {
    pub ended: ProcessEnd,
    pub duration: Duration,
    /// True when processes of the step's group still held the output pipes after the main process
    /// exited and rb stopped waiting for them (they are left running: a step may deliberately
    /// start a daemon).
    pub left_background: bool,
    /// True when a second Ctrl-C killed the group at once: the operator wants the run to stop now.
    pub forced: bool,
    /// Processes the step started that still run after it finished normally (pid, command line):
    /// a step may start a daemon on purpose, so they are reported, not killed.
    pub left_running: Vec<(u32, String)>,
}

/// Which signal interrupted rb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// SIGINT: Ctrl-C on the terminal.
    CtrlC,
    /// SIGTERM: someone asked rb to stop.
    Terminate,
    /// SIGHUP: the terminal went away.
    Hangup,
}

impl Interrupt {
    pub fn signal(self) -> Signal {
        match self {
            Interrupt::CtrlC => Signal::SIGINT,
            Interrupt::Terminate => Signal::SIGTERM,
            Interrupt::Hangup => Signal::SIGHUP,
        }
    }

    /// What happened, in words for the operator and the record.
    pub fn describe(self) -> &'static str {
        match self {
            Interrupt::CtrlC => "Ctrl-C (SIGINT)",
            Interrupt::Terminate => "SIGTERM (rb was asked to stop)",
            Interrupt::Hangup => "SIGHUP (the terminal went away)",
        }
    }

    /// Whether the operator is asked what to do next: only after their own Ctrl-C. Nobody is at
    /// a terminal that hung up, and SIGTERM means stop.
    pub fn asks(self) -> bool {
        self == Interrupt::CtrlC
    }

    /// The shell convention for "ended by this signal": 130 for Ctrl-C.
    pub fn exit_code(self) -> i32 {
        128 + self.signal() as i32
    }
}

/// What a runner tells while it runs a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report<'a> {
    /// The process exists (reported once, before any output): its pid and its process group.
    Spawned { pid: u32, pgid: u32 },
    /// A chunk of its output.
    Output(Stream, &'a [u8]),
}

pub trait Runner {
    /// Runs `spec`, calling `on_output` for each chunk as it arrives (chunks are raw bytes, up to
    /// 256 KiB; the output is never buffered whole, so memory stays bounded whatever the step
    /// prints).
    fn run(
        &mut self,
        spec: &CommandSpec,
        on_output: &mut dyn FnMut(Stream, &[u8]),
    ) -> io::Result<Outcome>;

    /// Like [`Runner::run`], and also reports the process's pid and group as soon as it exists.
    /// A runner whose processes are not local (a remote host) reports output only.
    fn run_reporting(
        &mut self,
        spec: &CommandSpec,
        report: &mut dyn FnMut(Report<'_>),
    ) -> io::Result<Outcome> {
        self.run(spec, &mut |stream, bytes| {
            report(Report::Output(stream, bytes))
        })
    }

    /// Waits `d` (between watch checks and retries). Returns false if Ctrl-C arrived meanwhile.
    fn sleep(&mut self, d: Duration) -> bool;

    /// True once for each interrupt (Ctrl-C, SIGTERM, SIGHUP) that arrived while no step ran and
    /// that `run`/`sleep` have not already reported. Call it after every prompt and between steps.
    fn interrupted_since_last_check(&mut self) -> bool {
        false
    }

    /// The signal behind the most recent interrupt reported (Ctrl-C when the runner cannot tell).
    fn last_interrupt(&self) -> Interrupt {
        Interrupt::CtrlC
    }

    /// Runs `specs[i]` on `hosts[i]` (remote hosts, by the names the runner was given), several
    /// at a time as the runner allows; `on_output` gets the host's index with each chunk (whole
    /// lines when the runner reaches more than one host). Returns each host's outcome, in order.
    /// A runner that reaches no host can run nothing there.
    fn run_on(
        &mut self,
        hosts: &[String],
        specs: &[CommandSpec],
        on_output: &mut dyn FnMut(usize, Stream, &[u8]),
    ) -> Vec<io::Result<Outcome>> {
        let _ = (specs, on_output);
        hosts
            .iter()
            .map(|h| Err(io::Error::other(format!("no connection to `{h}`"))))
            .collect()
    }
}

/// Told at once when a signal starts ending a step: which signal, and the grace period before
/// the next, harsher one (so the operator knows what rb is doing while it waits).
pub type StoppingNotice = Box<dyn FnMut(Interrupt, Duration)>;

/// Grace period between a polite signal and the next, harsher one.
const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// How long to keep reading output after the step is over, for background processes that still
/// hold the pipes.
const DEFAULT_DRAIN: Duration = Duration::from_millis(300);
/// Size of one read, and so the largest chunk handed to `on_output`.
const CHUNK: usize = 256 * 1024;
/// The capacity asked for the output pipes (Linux's default limit for a pipe; 64 KiB otherwise).
const PIPE_SIZE: i32 = 1024 * 1024;
/// Once a step has printed this much, it is read in bigger pieces (see [`COALESCE`]).
const STREAMING: u64 = 1024 * 1024;
/// How long to let a fast step's output gather before reading again, when a read found its pipe
/// empty. Without it a step printing as fast as it can (`yes | head -c 1G`) wakes rb for every
/// 4 KiB its writer writes: 250,000 wake-ups, reads and terminal writes for 1 GiB. After it,
/// each read moves up to [`CHUNK`]; the pipe holds [`PIPE_SIZE`], so the writer never waits.
/// Nobody sees 0.2 ms on a terminal, and a step printing less than [`STREAMING`] never pauses.
const COALESCE: Duration = Duration::from_micros(200);
/// How often to look whether a group we are ending has gone.
const GROUP_POLL: Duration = Duration::from_millis(20);
/// After SIGKILL nothing can resist; this only bounds the wait for the kernel to finish.
const AFTER_KILL: Duration = Duration::from_secs(2);

/// The real runner: child processes in their own process group.
pub struct ProcessRunner {
    // Field order matters: the signal streams must be dropped before the runtime they belong to.
    signals: Signals,
    rt: tokio::runtime::Runtime,
    grace: Duration,
    drain: Duration,
    last_interrupt: Option<Interrupt>,
    notice: StoppingNotice,
    /// Where the shell was found, per shell name and `PATH`: searched once, not for every step.
    shells: Vec<(String, Option<OsString>, Option<PathBuf>)>,
    /// The read buffers for a step's stdout and stderr, kept from step to step: made new for
    /// each, their 512 KiB were zeroed and faulted in again every time (a fifth of rb's own
    /// time per trivial step).
    buffers: Buffers,
}

/// A step's two read buffers, [`CHUNK`] each, allocated once per runner.
struct Buffers {
    out: Vec<u8>,
    err: Vec<u8>,
}

impl ProcessRunner {
    /// Creates the runtime and installs rb's SIGINT/SIGTERM/SIGHUP handlers (see the module
    /// documentation: from here on these signals must be polled). rb also becomes the reaper of
    /// its steps' orphans ([`escaped::adopt_orphans`]), for the rest of the process's life.
    pub fn new() -> io::Result<Self> {
        // Orphans of steps come to rb from here on, so finding what a step left is cheap.
        escaped::adopt_orphans();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let signals = {
            let _context = rt.enter();
            Signals {
                int: unix_signal(SignalKind::interrupt())?,
                term: unix_signal(SignalKind::terminate())?,
                hup: unix_signal(SignalKind::hangup())?,
            }
        };
        Ok(ProcessRunner {
            signals,
            rt,
            grace: DEFAULT_GRACE,
            drain: DEFAULT_DRAIN,
            last_interrupt: None,
            notice: Box::new(|_, _| {}),
            shells: Vec::new(),
            buffers: Buffers {
                out: vec![0; CHUNK],
                err: vec![0; CHUNK],
            },
        })
    }

    /// Calls `notice` when a signal starts ending a step.
    pub fn with_interrupt_notice(mut self, notice: StoppingNotice) -> Self {
        self.notice = notice;
        self
    }

    /// Sets the grace period (default 5 s). On timeout: SIGTERM to the group, grace, SIGKILL. On
    /// an interrupt: the same signal rb got to the group, grace, SIGTERM, grace, SIGKILL.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets how long to keep reading output after the main process exited (default 300 ms)
    /// before giving up on background processes that still hold the pipes.
    pub fn with_drain_wait(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// Reports (once) an interrupt that arrived while no step ran, if any.
    pub fn take_interrupt(&mut self) -> Option<Interrupt> {
        let signals = &mut self.signals;
        let seen = self.rt.block_on(async {
            // A signal is noticed when the runtime's driver reads its wake-up pipe; while rb sat
            // at a prompt nothing drove it. Yielding once makes the scheduler poll the driver
            // (without blocking) before we look.
            tokio::task::yield_now().await;
            poll_fn(|cx| {
                Poll::Ready(match signals.poll(cx) {
                    Poll::Ready(i) => Some(i),
                    Poll::Pending => None,
                })
            })
            .await
        });
        if seen.is_some() {
            self.last_interrupt = seen;
        }
        seen
    }

    /// The signal behind the most recent interrupt reported by `run`, `sleep` or
    /// `take_interrupt` (to pick the exit code: [`Interrupt::exit_code`]).
    pub fn last_interrupt(&self) -> Option<Interrupt> {
        self.last_interrupt
    }

    /// The shell's full path along the step's `PATH`, searched once per name and `PATH` (a
    /// search by the kernel tries `execve` on every folder until one works, for every step).
    /// `None` leaves the search to the spawn, as before.
    fn shell_path(&mut self, name: &str, env: &direct::Env<'_>) -> Option<PathBuf> {
        if name.contains('/') {
            return None;
        }
        let path = env.get("PATH");
        if let Some((_, _, found)) = self.shells.iter().find(|(n, p, _)| n == name && *p == path) {
            return found.clone();
        }
        let found = path.as_deref().and_then(|p| direct::search_path(name, p));
        self.shells.push((name.to_owned(), path, found.clone()));
        found
    }
}

/// The settings every step's process gets, whichever way it is started.
fn prepare(
    mut cmd: std::process::Command,
    spec: &CommandSpec,
    vars: Vec<(OsString, OsString)>,
) -> tokio::process::Command {
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)))
        .envs(vars)
        .stdin(if spec.interactive {
            Stdio::inherit()
        } else {
            // A step reading the terminal from a background group would be stopped by SIGTTIN
            // and hang: only steps that ask for the terminal get it.
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    cmd
}

impl Runner for ProcessRunner {
    fn run(
        &mut self,
        spec: &CommandSpec,
        on_output: &mut dyn FnMut(Stream, &[u8]),
    ) -> io::Result<Outcome> {
        self.run_reporting(spec, &mut |r| {
            if let Report::Output(stream, bytes) = r {
                on_output(stream, bytes);
            }
        })
    }

    fn run_reporting(
        &mut self,
        spec: &CommandSpec,
        report: &mut dyn FnMut(Report<'_>),
    ) -> io::Result<Outcome> {
        let (program, args) = spec
            .argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
        if self.take_interrupt().is_some() {
            return Ok(Outcome {
                ended: ProcessEnd::Interrupted,
                duration: Duration::ZERO,
                left_background: false,
                forced: false,
                left_running: Vec::new(),
            });
        }
        let env = direct::Env { extra: &spec.env };
        let mut tries = Vec::with_capacity(2);
        if let Some(d) = direct::plan(&spec.argv, &env, spec.cwd.as_deref()) {
            let mut cmd = std::process::Command::new(&d.program);
            cmd.arg0(&d.argv[0]).args(&d.argv[1..]);
            tries.push((cmd, d.env));
        }
        // The shell itself: the last resort, and what runs whenever the direct start fails.
        let mut cmd = match self.shell_path(program, &env) {
            Some(path) => std::process::Command::new(path),
            None => std::process::Command::new(program),
        };
        cmd.arg0(program).args(args);
        tries.push((cmd, Vec::new()));
        // Every process of the step, even one that leaves its group, carries this token.
        let token = escaped::new_token();
        let tries = tries
            .into_iter()
            .map(|(mut cmd, vars)| {
                cmd.env(escaped::TOKEN_VAR, &token);
                prepare(cmd, spec, vars)
            })
            .collect();
        let step = Step {
            program,
            timeout: spec.timeout,
            interactive: spec.interactive,
            grace: self.grace,
            drain: self.drain,
        };
        let signals = &mut self.signals;
        let notice = &mut *self.notice;
        let buffers = &mut self.buffers;
        let (mut outcome, by) = self
            .rt
            .block_on(supervise(tries, step, signals, buffers, report, notice))?;
        if by.is_some() {
            self.last_interrupt = by;
        }
        // After a timeout or an interrupt no process of the step survives, `setsid` included;
        // after a normal end, what it left running is reported.
        if matches!(
            outcome.ended,
            ProcessEnd::TimedOut | ProcessEnd::Interrupted
        ) {
            escaped::end_all(&token);
        } else {
            outcome.left_running = escaped::holders(&token);
        }
        Ok(outcome)
    }

    fn sleep(&mut self, d: Duration) -> bool {
        if self.take_interrupt().is_some() {
            return false;
        }
        let signals = &mut self.signals;
        let by = self.rt.block_on(async {
            tokio::select! {
                () = tokio::time::sleep(d) => None,
                i = signals.recv() => Some(i),
            }
        });
        match by {
            Some(i) => {
                self.last_interrupt = Some(i);
                false
            }
            None => true,
        }
    }

    fn interrupted_since_last_check(&mut self) -> bool {
        self.take_interrupt().is_some()
    }

    fn last_interrupt(&self) -> Interrupt {
        self.last_interrupt.unwrap_or(Interrupt::CtrlC)
    }
}

/// rb's own signal streams.
struct Signals {
    int: SignalStream,
    term: SignalStream,
    hup: SignalStream,
}

impl Signals {
    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Interrupt> {
        // `Ready(None)` only happens when the runtime shuts down: treat it as "nothing".
        if let Poll::Ready(Some(())) = self.int.poll_recv(cx) {
            return Poll::Ready(Interrupt::CtrlC);
        }
        if let Poll::Ready(Some(())) = self.term.poll_recv(cx) {
            return Poll::Ready(Interrupt::Terminate);
        }
        if let Poll::Ready(Some(())) = self.hup.poll_recv(cx) {
            return Poll::Ready(Interrupt::Hangup);
        }
        Poll::Pending
    }

    fn recv(&mut self) -> impl Future<Output = Interrupt> + '_ {
        poll_fn(|cx| self.poll(cx))
    }
}

/// What `supervise` needs from the spec and the runner's settings.
struct Step<'a> {
    program: &'a str,
    timeout: Option<Duration>,
    interactive: bool,
    grace: Duration,
    drain: Duration,
}

/// We are ending the group: why, and which signals are still to come.
struct Stopping {
    reason: ProcessEnd,
    /// Signals still to send, in order, one grace period apart.
    rest: Vec<Signal>,
    next_at: Instant,
    killed_at: Option<Instant>,
}

impl Stopping {
    fn begin(reason: ProcessEnd, first: Signal, pgid: Pid, grace: Duration) -> Self {
        let mut rest = vec![Signal::SIGTERM, Signal::SIGKILL];
        rest.retain(|s| *s != first);
        let mut stopping = Stopping {
            reason,
            rest,
            next_at: Instant::now() + grace,
            killed_at: None,
        };
        stopping.send(first, pgid);
        stopping
    }

    fn send(&mut self, signal: Signal, pgid: Pid) {
        // ESRCH (the group is already gone) is the outcome we want anyway.
        let _ = killpg(pgid, signal);
        if signal == Signal::SIGKILL {
            self.killed_at = Some(Instant::now());
            self.rest.clear();
        }
    }

    fn escalate(&mut self, now: Instant, pgid: Pid, grace: Duration) {
        if now >= self.next_at && !self.rest.is_empty() {
            let signal = self.rest.remove(0);
            self.send(signal, pgid);
            self.next_at = now + grace;
        }
    }
}

/// Kills the group if `supervise` leaves early (an I/O error, a panic in `on_output`), so an
/// error never leaves a step's processes behind. Disarmed once the step ended normally, because
/// what it left running on purpose must survive.
struct GroupGuard {
    pgid: Pid,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
    }
}

async fn supervise(
    tries: Vec<tokio::process::Command>,
    step: Step<'_>,
    signals: &mut Signals,
    buffers: &mut Buffers,
    report: &mut dyn FnMut(Report<'_>),
    notice: &mut dyn FnMut(Interrupt, Duration),
) -> io::Result<(Outcome, Option<Interrupt>)> {
    let started = Instant::now();
    let mut child = spawn_first(tries).map_err(|e| {
        io::Error::new(e.kind(), format!("failed to start `{}`: {e}", step.program))
    })?;
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("the child exited before its id was read"))?;
    // process_group(0): the child leads a new group whose id is its pid.
    let pgid = Pid::from_raw(pid as i32);
    let mut guard = GroupGuard { pgid, armed: true };
    report(Report::Spawned { pid, pgid: pid });
    let _terminal = step.interactive.then(|| Foreground::give(pgid)).flatten();

    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    widen(stdout.as_ref());
    widen(stderr.as_ref());
    let Buffers {
        out: out_buf,
        err: err_buf,
    } = buffers;
    let mut printed = 0u64;
    let mut st = Supervision::new(started, &step, pgid);
    let mut timer = pin!(tokio::time::sleep(Duration::ZERO));

    loop {
        let now = Instant::now();
        if st.advance(now, &step, stdout.is_none() && stderr.is_none()) {
            break;
        }
        let wake = st.wake(now, &step);
        if let Some(w) = wake {
            let w = tokio::time::Instant::from_std(w);
            if timer.deadline() != w {
                timer.as_mut().reset(w);
            }
        }

        tokio::select! {
            r = read_some(&mut stdout, out_buf) => {
                if let Some(n) = chunk(r, &mut stdout)? {
                    report(Report::Output(Stream::Stdout, &out_buf[..n]));
                    gather(&mut printed, n);
                }
            }
            r = read_some(&mut stderr, err_buf) => {
                if let Some(n) = chunk(r, &mut stderr)? {
                    report(Report::Output(Stream::Stderr, &err_buf[..n]));
                    gather(&mut printed, n);
                }
            }
            s = child.wait(), if st.status.is_none() => {
                st.status = Some(s?);
            }
            // Signals are not taken while merely draining after a normal exit: they stay
            // pending for the executor, which decides what an interrupt between steps means.
            i = signals.recv(), if st.status.is_none() || st.stopping.is_some() => {
                st.signal(i, &step, notice);
            }
            () = &mut timer, if wake.is_some() => {}
        }
    }

    guard.armed = false;
    Ok(st.finish(started))
}

/// Where the supervision of one step stands.
struct Supervision {
    pgid: Pid,
    deadline: Option<Instant>,
    status: Option<ExitStatus>,
    stopping: Option<Stopping>,
    by: Option<Interrupt>,
    /// When the step was over: main process reaped and, if we were ending the group, the group
    /// gone. From then on we only drain the pipes, for at most `step.drain`.
    over_at: Option<Instant>,
    left_background: bool,
    forced: bool,
}

impl Supervision {
    fn new(started: Instant, step: &Step<'_>, pgid: Pid) -> Supervision {
        Supervision {
            pgid,
            deadline: step.timeout.and_then(|t| started.checked_add(t)),
            status: None,
            stopping: None,
            by: None,
            over_at: None,
            left_background: false,
            forced: false,
        }
    }

    /// Starts or escalates ending the group when due; true when supervision is over (the step
    /// is over and its pipes are closed, or drained for long enough).
    fn advance(&mut self, now: Instant, step: &Step<'_>, pipes_closed: bool) -> bool {
        let pgid = self.pgid;
        if self.status.is_none()
            && self.stopping.is_none()
            && self.deadline.is_some_and(|d| now >= d)
        {
            self.stopping = Some(Stopping::begin(
                ProcessEnd::TimedOut,
                Signal::SIGTERM,
                pgid,
                step.grace,
            ));
        }
        if let Some(s) = &mut self.stopping {
            s.escalate(now, pgid, step.grace);
        }
        if self.status.is_some() && self.over_at.is_none() {
            let over = match &self.stopping {
                None => true,
                Some(s) => !group_alive(pgid) || s.killed_at.is_some_and(|k| now >= k + AFTER_KILL),
            };
            if over {
                self.over_at = Some(now);
            }
        }
        let Some(at) = self.over_at else {
            return false;
        };
        if pipes_closed {
            return true;
        }
        if now >= at + step.drain {
            self.left_background = true;
            return true;
        }
        false
    }

    /// When to look again even if nothing arrives.
    fn wake(&self, now: Instant, step: &Step<'_>) -> Option<Instant> {
        [
            self.deadline
                .filter(|_| self.status.is_none() && self.stopping.is_none()),
            self.stopping
                .as_ref()
                .filter(|s| !s.rest.is_empty())
                .map(|s| s.next_at),
            // While ending the group after the main process exited, look again soon.
            (self.status.is_some() && self.stopping.is_some() && self.over_at.is_none())
                .then(|| now + GROUP_POLL),
            self.over_at.map(|at| at + step.drain),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A signal to rb while the step runs: end the group politely, or at once on a second Ctrl-C.
    fn signal(
        &mut self,
        i: Interrupt,
        step: &Step<'_>,
        notice: &mut dyn FnMut(Interrupt, Duration),
    ) {
        match &mut self.stopping {
            None => {
                self.by = Some(i);
                self.stopping = Some(Stopping::begin(
                    ProcessEnd::Interrupted,
                    i.signal(),
                    self.pgid,
                    step.grace,
                ));
                notice(i, step.grace);
            }
            // A second Ctrl-C means "now".
            Some(s) if i == Interrupt::CtrlC => {
                self.by = self.by.or(Some(i));
                self.forced = true;
                s.send(Signal::SIGKILL, self.pgid);
            }
            // SIGTERM/SIGHUP while already ending: the escalation is under way.
            Some(_) => {}
        }
    }

    fn finish(self, started: Instant) -> (Outcome, Option<Interrupt>) {
        let ended = match (&self.stopping, self.status) {
            (Some(s), _) => s.reason,
            (None, Some(status)) => match (status.code(), status.signal()) {
                (Some(code), _) => ProcessEnd::Exited(code),
                (None, Some(signal)) => ProcessEnd::Signaled(signal),
                // wait() reports only exits and deaths by signal; keep a value rather than panic.
                (None, None) => ProcessEnd::Signaled(0),
            },
            // The loop ends only after the main process was reaped; keep a value regardless.
            (None, None) => ProcessEnd::Signaled(0),
        };
        (
            Outcome {
                ended,
                duration: started.elapsed(),
                left_background: self.left_background,
                forced: self.forced,
                left_running: Vec::new(),
            },
            self.by.filter(|_| ended == ProcessEnd::Interrupted),
        )
    }
}

/// Asks for a bigger pipe (best effort: the default 64 KiB works too, with more wake-ups).
fn widen<P: std::os::fd::AsFd>(pipe: Option<&P>) {
    #[cfg(target_os = "linux")]
    if let Some(p) = pipe {
        let _ = nix::fcntl::fcntl(p, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pipe;
}

/// Counts what the step printed and, when a read of a fast step found its pipe empty, pauses
/// for [`COALESCE`] so that the next read takes what gathered meanwhile. A plain sleep: this
/// runtime runs nothing else, and a signal or the child's exit that arrives meanwhile is seen
/// right after.
fn gather(printed: &mut u64, n: usize) {
    *printed += n as u64;
    if *printed >= STREAMING && n < CHUNK {
        std::thread::sleep(COALESCE);
    }
}

/// Starts the first command that can be started; the error is the last one's.
fn spawn_first(tries: Vec<tokio::process::Command>) -> io::Result<tokio::process::Child> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "empty command");
    for mut cmd in tries {
        match cmd.spawn() {
            Ok(child) => return Ok(child),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Reads from a pipe that may already be closed (then it never completes, which `select!` needs).
async fn read_some<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> io::Result<usize> {
    match pipe {
        Some(p) => p.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Turns a read result into the length of a chunk to pass on, closing the pipe at EOF.
fn chunk<R>(r: io::Result<usize>, pipe: &mut Option<R>) -> io::Result<Option<usize>> {
    match r {
        Ok(0) => {
            *pipe = None;
            Ok(None)
        }
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("failed to read the step's output: {e}"),
        )),
    }
}

/// True while a process of the group is still running. Zombies do not count: a killed grandchild
/// stays a zombie until its new parent (init, or whatever runs as PID 1 in a container) reaps
/// it, which may take seconds, and a zombie holds no resources and runs nothing.
fn group_alive(pgid: Pid) -> bool {
    if killpg(pgid, None) == Err(Errno::ESRCH) {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        group_has_live_member(pgid).unwrap_or(true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

/// Scans /proc for a process of group `pgid` that is not a zombie.
#[cfg(target_os = "linux")]
fn group_has_live_member(pgid: Pid) -> io::Result<bool> {
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        // The process may be gone between listing and reading: skip it.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name, which is in parentheses and may contain anything.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_ascii_whitespace();
        let state = fields.next();
        let group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        if group == Some(pgid.as_raw()) && state != Some("Z") && state != Some("X") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// An interactive step's group made the terminal's foreground group, so it may read the
/// terminal (a background group would be stopped by SIGTTIN); rb takes the terminal back on drop.
struct Foreground {
    ours: Pid,
}

impl Foreground {
    fn give(pgid: Pid) -> Option<Self> {
        let stdin = io::stdin();
        let ours = getpgrp();
        // Only when rb itself owns the terminal: otherwise there is nothing to hand over.
        if !stdin.is_terminal() || tcgetpgrp(&stdin) != Ok(ours) {
            return None;
        }
        tcsetpgrp(&stdin, pgid).ok()?;
        // The child may have tried to read before it got the terminal and been stopped.
        let _ = killpg(pgid, Signal::SIGCONT);
        Some(Foreground { ours })
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        // rb is now in a background group, and tcsetpgrp from there raises SIGTTOU (which would
        // stop rb) unless the signal is blocked.
        let mut ttou = SigSet::empty();
        ttou.add(Signal::SIGTTOU);
        let mut old = SigSet::empty();
        if pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old)).is_ok() {
            let _ = tcsetpgrp(io::stdin(), self.ours);
            let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        }
    }
}
