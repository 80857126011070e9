//! The [`Recorder`]: what the executor hands every event to. It never fails from the caller's
//! view, and it never silently drops an event.
//!
//! Policy when the transcript cannot be written (disk full, permission, I/O error):
//! 1. Every event is redacted (second line of defence), stamped with the time it happened and
//!    queued in memory; the queue is written in order, so `ts` tells when things happened even if
//!    they reached the disk later.
//! 2. On the first failure the problem is reported at once through `on_problem` (the path and the
//!    error, and that events are kept in memory). It is not repeated while the problem lasts.
//! 3. Every later [`Recorder::record`] (and [`Recorder::flush`]) retries the queue.
//! 4. After [`SWITCH_AFTER`] failed attempts in a row, the recorder switches to a fallback file of
//!    the same name in the first fallback directory that works (`$TMPDIR`, `/dev/shm`, the current
//!    directory, unless set with [`Recorder::with_fallback_dirs`]). The complete lines already
//!    in the first file are copied over, so the fallback is a whole transcript with an intact hash
//!    chain; the new path is reported. If no fallback works, that is reported once and the
//!    recorder goes back to retrying the first file.
//! 5. When writing works again after a problem, that is reported with how many queued events were
//!    written.
//! 6. Memory stays bounded for output only: while the queue holds more than
//!    [`MAX_QUEUED_OUTPUT`] bytes of output, further `output` events are dropped and counted in an
//!    `output_dropped` event put in their place (consecutive drops of a step are merged). Control
//!    events are never dropped.
//! 7. When the file at the path was deleted, truncated or replaced while rb ran, the writer moves
//!    the whole run to `NAME.recovered-N.jsonl` beside it (see [`super::writer`]); the recorder
//!    reports that at once, with both paths, and from then on names the new one (so the
//!    end-of-run messages and `rb resume` hints do).
//! 8. [`Recorder::close`] makes a last attempt and hands back whatever is still unwritten, for the
//!    caller to print (for example as JSON lines on stderr) rather than lose.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::event::Event;
use super::writer::{Repair, TranscriptWriter};
use crate::redact::Redactor;

/// Failed attempts in a row before switching to a fallback file.
pub const SWITCH_AFTER: u32 = 3;
/// Bytes of queued output beyond which new output is dropped (and counted) while writing fails.
pub const MAX_QUEUED_OUTPUT: usize = 8 * 1024 * 1024;

/// Where problems are reported (the executor prints them on the terminal).
pub type ProblemSink = Box<dyn FnMut(&str) + Send>;

/// How to open the file when there is no writer yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenHow {
    /// A new transcript: `create_new` (then append, once a first attempt may have created it).
    Create,
    /// An existing transcript (`rb resume`, `rb note`).
    Append,
}

/// Records events to a transcript, surviving write failures (see the module docs for the policy).
pub struct Recorder {
    /// Where events go now: the first path, or a fallback.
    target: PathBuf,
    /// The path asked for.
    primary: PathBuf,
    how: OpenHow,
    writer: Option<TranscriptWriter>,
    /// Events not written yet, with the time they happened.
    queue: VecDeque<(Timestamp, Event)>,
    queued_output: usize,
    redactor: Redactor,
    on_problem: ProblemSink,
    /// Failed attempts in a row at `target`.
    failures: u32,
    /// This recorder created `target` (so finding it there later is not someone else's file).
    created: bool,
    /// A problem was reported and has not been resolved yet.
    failing: bool,
    /// The first event of the run, to start a fallback file when the first one is unreadable.
    run_started: Option<(Timestamp, Event)>,
    fallback_dirs: Vec<PathBuf>,
    /// Fallback directories already tried (each is tried once).
    tried: usize,
}

/// What [`Recorder::close`] leaves.
#[derive(Debug)]
pub struct Closed {
    /// Where the transcript is (the first path, or the fallback it moved to).
    pub path: PathBuf,
    /// Events that could not be written anywhere, in order; empty normally.
    pub unwritten: Vec<Event>,
}

impl Recorder {
    /// A recorder for a new transcript at `path` (created on the first event, which must be
    /// `run_started`).
    pub fn create(path: &Path, redactor: Redactor, on_problem: ProblemSink) -> Self {
        Self::new(path, OpenHow::Create, redactor, on_problem)
    }

    /// A recorder that appends to the existing transcript at `path`.
    pub fn append(path: &Path, redactor: Redactor, on_problem: ProblemSink) -> Self {
        Self::new(path, OpenHow::Append, redactor, on_problem)
    }

    fn new(path: &Path, how: OpenHow, redactor: Redactor, on_problem: ProblemSink) -> Self {
        Recorder {
            target: path.to_path_buf(),
            primary: path.to_path_buf(),
            how,
            writer: None,
            queue: VecDeque::new(),
            queued_output: 0,
            redactor,
            on_problem,
            failures: 0,
            created: false,
            failing: false,
            run_started: None,
            fallback_dirs: default_fallback_dirs(),
            tried: 0,
        }
    }

    /// Replaces the fallback directories (tests; a `--transcript-fallback` option).
    pub fn with_fallback_dirs(mut self, dirs: Vec<PathBuf>) -> Self {
        self.fallback_dirs = dirs;
        self
    }

    /// Where the transcript is being written now.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// How many events wait in memory.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// True while the transcript cannot be written.
    pub fn is_failing(&self) -> bool {
        self.failing
    }

    /// Records `event`: redacts it, then writes it (and anything queued before it) or keeps it.
    pub fn record(&mut self, mut event: Event) {
        event.redact(&self.redactor);
        let ts = Timestamp::now();
        if matches!(event, Event::RunStarted { .. }) && self.run_started.is_none() {
            self.run_started = Some((ts, event.clone()));
        }
        self.enqueue(ts, event);
        self.drain();
    }

    /// Retries the queue and fsyncs; returns true when nothing waits in memory. Call it when
    /// output goes quiet and at the end of the run.
    pub fn flush(&mut self) -> bool {
        self.drain();
        if self.queue.is_empty()
            && let Some(w) = &mut self.writer
            && let Err(e) = w.sync()
        {
            let msg = format!("cannot fsync the transcript {}: {e}", self.target.display());
            (self.on_problem)(&msg);
        }
        self.queue.is_empty()
    }

    /// A last attempt to write; returns where the transcript is and what could not be written.
    pub fn close(mut self) -> Closed {
        self.flush();
        Closed {
            path: self.target.clone(),
            unwritten: self.queue.drain(..).map(|(_, e)| e).collect(),
        }
    }

    fn enqueue(&mut self, ts: Timestamp, event: Event) {
        if let Event::Output { step, .. } = &event
            && !self.queue.is_empty()
        {
            let size = event.output_bytes().map_or(0, |b| b.len());
            if self.queued_output + size > MAX_QUEUED_OUTPUT {
                if let Some((
                    _,
                    Event::OutputDropped {
                        step: Some(s),
                        bytes,
                        events,
                    },
                )) = self.queue.back_mut()
                    && s == step
                {
                    *bytes += size as u64;
                    *events += 1;
                } else {
                    let dropped = Event::OutputDropped {
                        step: Some(step.clone()),
                        bytes: size as u64,
                        events: 1,
                    };
                    self.queue.push_back((ts, dropped));
                }
                return;
            }
            self.queued_output += size;
        } else if let Event::Output { .. } = &event {
            self.queued_output += event.output_bytes().map_or(0, |b| b.len());
        }
        self.queue.push_back((ts, event));
    }

    /// Writes the queue in order until it is empty or a write fails.
    fn drain(&mut self) {
        let backlog = self.queue.len();
        while !self.queue.is_empty() {
            let result = match self.open_writer() {
                Ok(()) => {
                    let (ts, event) = &self.queue[0];
                    let w = self.writer.as_mut().expect("opened");
                    w.append_at(event, *ts)
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    self.report_recovery();
                    if let Some((_, Event::Output { .. })) = self.queue.front() {
                        let size = self.queue[0].1.output_bytes().map_or(0, |b| b.len());
                        self.queued_output = self.queued_output.saturating_sub(size);
                    }
                    self.queue.pop_front();
                }
                Err(e) => {
                    if !self.failed(&e) {
                        return;
                    }
                }
            }
        }
        self.failures = 0;
        if self.failing {
            self.failing = false;
            let msg = format!(
                "the transcript {} is written again ({backlog} events kept in memory were written)",
                self.target.display()
            );
            (self.on_problem)(&msg);
        }
    }

    /// Reports a move of the run to a recovered file, and follows it.
    fn report_recovery(&mut self) {
        let Some(r) = self
            .writer
            .as_mut()
            .and_then(TranscriptWriter::take_recovery)
        else {
            return;
        };
        let msg = format!(
            "the transcript {} {} while rb was running; rb wrote the whole run so far ({} lines) to {} and continues there",
            r.from.display(),
            r.damage,
            r.lines,
            r.to.display()
        );
        (self.on_problem)(&msg);
        self.target = r.to;
    }

    /// Opens `target` if there is no writer yet.
    fn open_writer(&mut self) -> io::Result<()> {
        if self.writer.is_none() {
            let w = match self.how {
                OpenHow::Create if self.created => {
                    // An earlier attempt created it before failing: it is this run's file.
                    TranscriptWriter::open_append(&self.target, Repair::OwnTail)?
                }
                OpenHow::Create => {
                    let w = TranscriptWriter::create(&self.target)?;
                    self.created = true;
                    w
                }
                OpenHow::Append => TranscriptWriter::open_append(&self.target, Repair::OwnTail)?,
            };
            self.writer = Some(w);
        }
        Ok(())
    }

    /// Counts and reports a failure; returns true when it moved to a fallback worth trying now.
    fn failed(&mut self, e: &io::Error) -> bool {
        self.failures += 1;
        if !self.failing {
            self.failing = true;
            let msg = format!(
                "cannot write the transcript {}: {e}; rb keeps the events in memory and retries",
                self.target.display()
            );
            (self.on_problem)(&msg);
        }
        self.failures >= SWITCH_AFTER && self.switch_to_fallback()
    }

    /// Moves to the next fallback directory that works, copying the lines written so far;
    /// returns false when none works.
    fn switch_to_fallback(&mut self) -> bool {
        let name = self
            .primary
            .file_name()
            .map_or_else(|| "transcript.jsonl".into(), |n| n.to_owned());
        // The lines written so far: as the writer knows them (the file may have been damaged),
        // else what is on disk up to its last complete line.
        let written: Vec<u8> = match &self.writer {
            Some(w) => w.known_lines().unwrap_or_default(),
            None => std::fs::read(&self.target)
                .map(|mut b| {
                    let end = b.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
                    b.truncate(end);
                    b
                })
                .unwrap_or_default(),
        };
        while self.tried < self.fallback_dirs.len() {
            let dir = self.fallback_dirs[self.tried].clone();
            self.tried += 1;
            let candidate = dir.join(&name);
            if candidate == self.target || candidate == self.primary {
                continue;
            }
            // start_fallback removes only a file it created itself.
            if let Ok(w) = start_fallback(&candidate, &written) {
                let copied = w.seq();
                if copied == 0
                    && !matches!(self.queue.front(), Some((_, Event::RunStarted { .. })))
                    && let Some(first) = self.run_started.clone()
                {
                    self.queue.push_front(first);
                }
                let msg = format!(
                    "writing the transcript to {} instead (copied the {copied} lines already in {})",
                    w.path().display(),
                    self.target.display()
                );
                (self.on_problem)(&msg);
                self.target = w.path().to_path_buf();
                self.writer = Some(w);
                self.how = OpenHow::Append;
                self.failures = 0;
                return true;
            }
        }
        if self.tried == self.fallback_dirs.len() {
            // Report once, then keep retrying the first file.
            self.tried += 1;
            let msg = format!(
                "no fallback location for the transcript could be written; {} events stay in memory and rb keeps retrying {}",
                self.queue.len(),
                self.primary.display()
            );
            (self.on_problem)(&msg);
            if self.target != self.primary {
                self.target = self.primary.clone();
                self.writer = None;
            }
            self.failures = 0;
        }
        false
    }
}

/// Creates a fallback transcript holding `written` (complete lines) and opens it for appending.
/// A file already there (someone else's) is never touched: the next free name beside it is used
/// (`NAME.2`, `NAME.3`, …). A file this creates and cannot finish is removed.
fn start_fallback(wanted: &Path, written: &[u8]) -> io::Result<TranscriptWriter> {
    let mut path = wanted.to_path_buf();
    let mut n = 1;
    let created = loop {
        match TranscriptWriter::create(&path) {
            Ok(w) => break w,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 20 => {
                n += 1;
                path = PathBuf::from(format!("{}.{n}", wanted.display()));
            }
            Err(e) => return Err(e),
        }
    };
    drop(created);
    let filled = (|| {
        if !written.is_empty() {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).open(&path)?;
            f.write_all(written)?;
            f.sync_data()?;
        }
        TranscriptWriter::open_append(&path, Repair::OwnTail)
    })();
    if filled.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    filled
}

/// `$TMPDIR` (or `/tmp`), `/dev/shm` (memory, usually free when a disk is full), the current
/// directory.
pub fn default_fallback_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![std::env::temp_dir(), PathBuf::from("/dev/shm")];
    if let Ok(cwd) = std::env::current_dir() {
        dirs.push(cwd);
    }
    dirs
}
