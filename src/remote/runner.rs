//! [`RemoteRunner`]: a [`Runner`] that runs a step on the hosts the executor names through the
//! local runner (so timeouts, signals and process groups work as for a local step), in parallel
//! up to `forks`, each output line with its host, and each host's outcome returned; a step that
//! runs here (`on: local`) goes to the local runner as is.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::Duration;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};

use super::{Host, Link, wire};
use crate::domain::ProcessEnd;
use crate::exec::runner::{CommandSpec, Outcome, ProcessRunner, Runner, Stream};

/// Runs steps on hosts.
pub struct RemoteRunner<'a> {
    inner: &'a mut dyn Runner,
    link: Link,
    hosts: Vec<Host>,
    forks: usize,
}

impl<'a> RemoteRunner<'a> {
    pub fn new(inner: &'a mut dyn Runner, link: Link, hosts: Vec<Host>, forks: usize) -> Self {
        RemoteRunner {
            inner,
            link,
            hosts,
            forks: forks.max(1),
        }
    }
}

impl Drop for RemoteRunner<'_> {
    fn drop(&mut self) {
        self.link.close(&self.hosts);
    }
}

impl Runner for RemoteRunner<'_> {
    /// A step that runs here (`on: local`).
    fn run(
        &mut self,
        spec: &CommandSpec,
        on_output: &mut dyn FnMut(Stream, &[u8]),
    ) -> io::Result<Outcome> {
        self.inner.run(spec, on_output)
    }

    fn sleep(&mut self, d: Duration) -> bool {
        self.inner.sleep(d)
    }

    fn interrupted_since_last_check(&mut self) -> bool {
        self.inner.interrupted_since_last_check()
    }

    fn last_interrupt(&self) -> crate::exec::runner::Interrupt {
        self.inner.last_interrupt()
    }

    fn run_on(
        &mut self,
        names: &[String],
        specs: &[CommandSpec],
        on_output: &mut dyn FnMut(usize, Stream, &[u8]),
    ) -> Vec<io::Result<Outcome>> {
        if specs.len() != names.len() {
            return names
                .iter()
                .map(|_| Err(io::Error::other("one command per host is needed")))
                .collect();
        }
        let picked: Vec<Option<&Host>> = names
            .iter()
            .map(|n| self.hosts.iter().find(|h| &h.name == n))
            .collect();
        if let [Some(host)] = picked.as_slice()
            && self.hosts.len() == 1
        {
            // The only host: its output streams as it comes, unlabelled, through the runner that
            // owns rb's signals (so a second Ctrl-C kills at once, as for a local step).
            let host = (*host).clone();
            let r = run_on(
                &mut *self.inner,
                &self.link,
                &host,
                &specs[0],
                &mut |s, b| on_output(0, s, b),
            );
            return vec![r];
        }
        if self.inner.interrupted_since_last_check() {
            return names.iter().map(|_| Ok(interrupted())).collect();
        }
        fan_out(&self.link, &picked, self.forks, specs, on_output)
    }
}

/// A step that did not start because the operator had asked to stop.
fn interrupted() -> Outcome {
    Outcome {
        ended: ProcessEnd::Interrupted,
        duration: Duration::ZERO,
        left_background: false,
        forced: false,
        left_running: Vec::new(),
    }
}

/// One step on one host: the transport's client runs the bootstrap, the step goes over stdin
/// (a pipe rb holds open until the step ends: when it closes, the host ends the step's group).
fn run_on(
    runner: &mut dyn Runner,
    link: &Link,
    host: &Host,
    spec: &CommandSpec,
    on_output: &mut dyn FnMut(Stream, &[u8]),
) -> io::Result<Outcome> {
    let payload = wire::payload(&spec.env, &spec.argv).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a value holds a NUL byte: it cannot be sent to a host",
        )
    })?;
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    // Only the client inherits the read end (the write end stays close-on-exec, so nothing but
    // rb holds it: its closing is the host's signal that the step is over).
    fcntl(&read, FcntlArg::F_SETFD(FdFlag::empty())).map_err(io::Error::from)?;
    let mut argv = vec![
        "bash".to_string(),
        "-c".to_string(),
        format!("exec \"$@\" <&{} {}<&-", read.as_raw_fd(), read.as_raw_fd()),
        "rb-link".to_string(),
    ];
    argv.extend(link.argv(host, wire::BOOTSTRAP, &[]));
    let local = CommandSpec {
        argv,
        env: Vec::new(),
        timeout: spec.timeout,
        interactive: false,
        cwd: None,
    };
    let mut pgid = None;
    let mut marker = Marker::default();
    let write = File::from(write);
    let outcome = std::thread::scope(|s| {
        let writer = s.spawn(|| (&write).write_all(&payload));
        let outcome = runner.run(&local, &mut |stream, bytes| match stream {
            Stream::Stderr => {
                let (found, rest) = marker.take(bytes);
                pgid = pgid.or(found);
                if !rest.is_empty() {
                    on_output(stream, &rest);
                }
            }
            _ => on_output(stream, bytes),
        });
        drop(read);
        let _ = writer.join();
        outcome
    });
    drop(write);
    let outcome = outcome?;
    if matches!(
        outcome.ended,
        ProcessEnd::TimedOut | ProcessEnd::Interrupted
    ) && let Some(g) = pgid
    {
        link.reap(host, g);
    }
    Ok(outcome)
}

/// Takes the bootstrap's first stderr line (the step's process group id) out of the output.
#[derive(Default)]
struct Marker {
    done: bool,
    held: Vec<u8>,
}

impl Marker {
    /// The group id once the marker line is whole, and the bytes that are the step's own.
    fn take(&mut self, bytes: &[u8]) -> (Option<u32>, Vec<u8>) {
        if self.done {
            return (None, bytes.to_vec());
        }
        self.held.extend_from_slice(bytes);
        let m = wire::PGID_MARKER.as_bytes();
        let prefix = self.held.len().min(m.len());
        if self.held[..prefix] != m[..prefix] {
            // Not the bootstrap speaking (ssh's own error, say): all of it is output.
            self.done = true;
            return (None, std::mem::take(&mut self.held));
        }
        let Some(nl) = self.held.iter().position(|&b| b == b'\n') else {
            return (None, Vec::new());
        };
        self.done = true;
        let line = String::from_utf8_lossy(&self.held[m.len()..nl]).into_owned();
        let rest = self.held[nl + 1..].to_vec();
        self.held.clear();
        (line.trim().parse().ok(), rest)
    }
}

/// What a host sent, for the thread that owns the operator's output.
enum Msg {
    Line(usize, Stream, Vec<u8>),
    Done(usize, io::Result<Outcome>),
}

/// The step on every host picked, `forks` at a time, each worker with its own local runner;
/// output goes on in whole lines, each with its host's index.
fn fan_out(
    link: &Link,
    hosts: &[Option<&Host>],
    forks: usize,
    specs: &[CommandSpec],
    on_output: &mut dyn FnMut(usize, Stream, &[u8]),
) -> Vec<io::Result<Outcome>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut results: Vec<Option<io::Result<Outcome>>> = hosts.iter().map(|_| None).collect();
    std::thread::scope(|s| {
        for _ in 0..forks.min(hosts.len()) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || worker(link, hosts, specs, next, tx));
        }
        drop(tx);
        for msg in rx {
            match msg {
                Msg::Line(i, stream, line) => on_output(i, stream, &line),
                Msg::Done(i, r) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(r);
                    } else if let Err(e) = r {
                        // A worker that could not start: every host it would have taken fails.
                        let why = e.to_string();
                        for slot in results.iter_mut().filter(|r| r.is_none()) {
                            *slot = Some(Err(io::Error::other(why.clone())));
                        }
                    }
                }
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(io::Error::other("the host was not reached"))))
        .collect()
}

/// Takes hosts off the shared counter until none is left.
fn worker(
    link: &Link,
    hosts: &[Option<&Host>],
    specs: &[CommandSpec],
    next: &std::sync::atomic::AtomicUsize,
    tx: mpsc::Sender<Msg>,
) {
    let mut runner = match ProcessRunner::new() {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Msg::Done(usize::MAX, Err(e)));
            return;
        }
    };
    loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let Some(picked) = hosts.get(i) else {
            return;
        };
        let Some(host) = picked else {
            let _ = tx.send(Msg::Done(
                i,
                Err(io::Error::other("not a host of this run")),
            ));
            continue;
        };
        let mut lines = [Vec::new(), Vec::new()];
        let r = run_on(&mut runner, link, host, &specs[i], &mut |stream, bytes| {
            let buf = &mut lines[usize::from(stream == Stream::Stderr)];
            buf.extend_from_slice(bytes);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let _ = tx.send(Msg::Line(i, stream, line));
            }
        });
        for (k, mut rest) in lines.into_iter().enumerate() {
            if !rest.is_empty() {
                rest.push(b'\n');
                let stream = if k == 0 {
                    Stream::Stdout
                } else {
                    Stream::Stderr
                };
                let _ = tx.send(Msg::Line(i, stream, rest));
            }
        }
        let _ = tx.send(Msg::Done(i, r));
    }
}
