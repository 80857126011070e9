//! [`RemoteRunner`]: a [`Runner`] that runs each step on the targeted hosts through the local
//! runner (so timeouts, signals and process groups work as for a local step), in parallel up to
//! `forks`, with every output line labelled with its host and the step's outcome the worst of
//! the hosts'.

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
    fn run(
        &mut self,
        spec: &CommandSpec,
        on_output: &mut dyn FnMut(Stream, &[u8]),
    ) -> io::Result<Outcome> {
        if let [host] = self.hosts.as_slice() {
            return run_on(&mut *self.inner, &self.link, host, spec, on_output);
        }
        if self.inner.interrupted_since_last_check() {
            return Ok(Outcome {
                ended: ProcessEnd::Interrupted,
                duration: Duration::ZERO,
                left_background: false,
                forced: false,
                left_running: Vec::new(),
            });
        }
        fan_out(&self.link, &self.hosts, self.forks, spec, on_output)
    }

    fn sleep(&mut self, d: Duration) -> bool {
        self.inner.sleep(d)
    }

    fn interrupted_since_last_check(&mut self) -> bool {
        self.inner.interrupted_since_last_check()
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

/// The step on every host, `forks` at a time, each host with its own local runner.
fn fan_out(
    link: &Link,
    hosts: &[Host],
    forks: usize,
    spec: &CommandSpec,
    on_output: &mut dyn FnMut(Stream, &[u8]),
) -> io::Result<Outcome> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut results: Vec<Option<io::Result<Outcome>>> = hosts.iter().map(|_| None).collect();
    std::thread::scope(|s| {
        for _ in 0..forks.min(hosts.len()) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || worker(link, hosts, spec, next, tx));
        }
        drop(tx);
        for msg in rx {
            match msg {
                Msg::Line(i, stream, line) => {
                    let mut labelled = format!("[{}] ", hosts[i].name).into_bytes();
                    labelled.extend_from_slice(&line);
                    on_output(stream, &labelled);
                }
                Msg::Done(i, r) => results[i] = Some(r),
            }
        }
    });
    let summary = summarize(hosts, &results);
    on_output(Stream::Stderr, summary.as_bytes());
    worst(results)
}

/// Takes hosts off the shared counter until none is left.
fn worker(
    link: &Link,
    hosts: &[Host],
    spec: &CommandSpec,
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
        if i >= hosts.len() {
            return;
        }
        let mut lines = [Vec::new(), Vec::new()];
        let r = run_on(&mut runner, link, &hosts[i], spec, &mut |stream, bytes| {
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

/// One line: how the step ended on each host.
fn summarize(hosts: &[Host], results: &[Option<io::Result<Outcome>>]) -> String {
    let parts: Vec<String> = hosts
        .iter()
        .zip(results)
        .map(|(h, r)| match r {
            Some(Ok(o)) => format!("{}: {}", h.name, o.ended),
            Some(Err(e)) => format!("{}: could not run ({e})", h.name),
            None => format!("{}: not run", h.name),
        })
        .collect();
    format!("rb: per host: {}\n", parts.join("; "))
}

/// How bad an end is: the step's outcome is the worst host's.
fn badness(e: &ProcessEnd) -> u8 {
    match e {
        ProcessEnd::Exited(0) => 0,
        ProcessEnd::Exited(_) => 1,
        ProcessEnd::Signaled(_) => 2,
        ProcessEnd::TimedOut => 3,
        ProcessEnd::Interrupted => 4,
    }
}

fn worst(results: Vec<Option<io::Result<Outcome>>>) -> io::Result<Outcome> {
    let mut out: Option<Outcome> = None;
    for r in results {
        let o = match r {
            Some(r) => r?,
            None => return Err(io::Error::other("a host was not run")),
        };
        out = Some(match out {
            None => o,
            Some(w) => Outcome {
                ended: if badness(&o.ended) > badness(&w.ended) {
                    o.ended
                } else {
                    w.ended
                },
                duration: w.duration.max(o.duration),
                left_background: w.left_background || o.left_background,
                forced: w.forced || o.forced,
                left_running: Vec::new(),
            },
        });
    }
    out.ok_or_else(|| io::Error::other("no host to run on"))
}
