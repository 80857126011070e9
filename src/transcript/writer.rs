//! Appending lines to a transcript file durably, safely against other appenders.
//!
//! The contract (see issue 4 and `DESIGN.md`):
//! - one `write` call per complete line (`O_APPEND`), so a killed rb leaves at most one torn line
//!   at the end, never a line mixed with another;
//! - every line is written (to the kernel) before [`TranscriptWriter::append`] returns, so a
//!   killed rb loses nothing; what waits is only the fsync, which matters for a power loss;
//! - events after which rb starts a process, waits for a person or stops (`run_started`,
//!   `step_started`, `prompt`, `retry`, `interrupted`, `run_finished`, notes, milestones...) are
//!   fsynced before `append` returns, and that fsync covers every line before them;
//! - the events that rb follows at once with one of those ([`waits_for_next_sync`]: output, a
//!   step's pid (a SIGKILL loses no written line, and a power cut ends the process anyway), a
//!   step's end, a decision, a capture, a message) are group-committed: fsynced with the next
//!   event that is, or when the last fsync is older than [`GROUP_COMMIT_INTERVAL`] or more than
//!   [`GROUP_COMMIT_BYTES`] are unsynced, or by [`TranscriptWriter::sync`] (and on drop). So one
//!   fsync makes a step's end and the next step's start durable, and a step's `step_started` is
//!   still on disk before its process exists;
//! - the file is created `0600` (its directories `0700`) and the directory is fsynced after;
//! - "read the last line, append the next" happens under an exclusive lock (`flock`) on the file,
//!   and the tail is re-read whenever the file's length is not what this writer left, so several
//!   writers (the running rb, `rb note` from another terminal) keep `seq` and `prev` consistent;
//! - a torn last line (a writer killed mid-`write`, a failed write) is cut off under the lock
//!   before appending, and counted ([`TranscriptWriter::repaired_bytes`]);
//! - `run_finished` is written with `events` (the lines before it) and `last_hash` (the hash of
//!   the line before it), whatever the caller put there;
//! - before each append, under the lock, the file at the path must still be the one this writer
//!   holds open, still linked, and what it left followed only by lines that continue the hash
//!   chain (see [`super::recover`]). When it is not (deleted, truncated, replaced, overwritten),
//!   the run's own writer ([`Repair::OwnTail`]) writes every line it knows to a new
//!   `NAME.recovered-N.jsonl` beside it and appends there ([`TranscriptWriter::take_recovery`]
//!   says so); any other writer refuses. The lines it knows come from a private copy in an
//!   unnamed file in the same directory (so the transcript takes twice its size while rb runs),
//!   or, when that copy could not be kept, from its open file if they still chain there.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::event::Event;
use super::line::{self, GENESIS_PREV};
use super::lock::RunLock;
use super::recover::{self, Damage, Recovery};

/// Bytes another process may append between two appends of this writer (notes, milestones);
/// more is not taken for a note (it is reported as an overwrite).
const MAX_FOREIGN_APPEND: u64 = 64 * 1024 * 1024;

/// Output lines are fsynced at least this often while output flows.
pub const GROUP_COMMIT_INTERVAL: Duration = Duration::from_millis(200);
/// Output lines are fsynced once this many bytes are unsynced.
pub const GROUP_COMMIT_BYTES: u64 = 64 * 1024;

/// Whether opening a transcript may cut off a torn last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// The run's own transcript (`rb resume`, a recorder reopening its file): a torn last line is
    /// what rb itself was writing when it was killed, and is cut off.
    OwnTail,
    /// Someone else's record (`rb note --to`, `rb mark --to`): rb changes nothing it did not
    /// write, and refuses a file whose last line is torn.
    Never,
}

/// An open transcript, positioned after its last complete line.
#[derive(Debug)]
pub struct TranscriptWriter {
    file: File,
    path: PathBuf,
    /// `seq` of the last line in the file (0 when empty).
    seq: u64,
    /// Hash of the last line (what the next line's `prev` is).
    prev: String,
    /// The file's length after this writer's last write or read of the tail.
    len: u64,
    /// Bytes written since the last fsync.
    unsynced: u64,
    last_sync: Instant,
    /// Bytes of torn lines cut off so far.
    repaired: u64,
    /// Whether a torn last line may be cut off (and the run moved to a recovered file).
    repair: Repair,
    /// Length of the last line with its newline (0 when empty).
    last_len: u64,
    /// A private copy of the file's complete lines, `len` bytes (see the module docs); `None`
    /// for other writers, or once a write to it failed.
    copy: Option<File>,
    /// The path first given, from which recovered names are made.
    origin: PathBuf,
    /// The number of the last recovered file (`NAME.recovered-N.jsonl`), 0 before any.
    recovered_n: u32,
    /// A move to a recovered file not yet reported.
    recovery: Option<Recovery>,
    /// The run lock of a recovered file, held while this writer lives.
    recovered_lock: Option<RunLock>,
}

impl TranscriptWriter {
    /// Creates a new, empty transcript (failing if `path` exists), its directories with mode 0700
    /// and the file with mode 0600, and fsyncs the directory so the file survives a crash. The
    /// first event appended must be [`Event::RunStarted`].
    pub fn create(path: &Path) -> io::Result<Self> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        // `create_new` also refuses a symlink planted at `path`, dangling or not.
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        File::open(&dir)?.sync_all()?;
        let mut w = Self::new(file, path, Repair::OwnTail);
        w.copy = recover::anonymous_file(&dir).ok();
        Ok(w)
    }

    /// Opens an existing transcript to append to it (`rb resume`, `rb note`): reads its last
    /// complete line to continue `seq` and `prev`; a torn last line is cut off or refused, as
    /// `repair` says. A symlink or anything but a regular file is refused.
    pub fn open_append(path: &Path, repair: Repair) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| {
                if e.raw_os_error() == Some(nix::libc::ELOOP) {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} is a symbolic link; rb writes only to the file itself",
                            path.display()
                        ),
                    )
                } else {
                    e
                }
            })?;
        if !file.metadata()?.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ));
        }
        let mut w = Self::new(file, path, repair);
        w.file.lock()?;
        let loaded = w.load_tail().and_then(|()| w.start_copy());
        w.file.unlock()?;
        loaded?;
        Ok(w)
    }

    /// Starts the private copy of the run's own transcript with the lines already in it (the
    /// copy is a safeguard: without one, only the open file can be recovered from).
    fn start_copy(&mut self) -> io::Result<()> {
        if self.repair != Repair::OwnTail {
            return Ok(());
        }
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Ok(mut copy) = recover::anonymous_file(&dir) else {
            return Ok(());
        };
        let mut from = self.file.try_clone()?;
        from.rewind()?;
        let copied = io::copy(&mut from.take(self.len), &mut copy)?;
        self.copy = (copied == self.len).then_some(copy);
        Ok(())
    }

    fn new(file: File, path: &Path, repair: Repair) -> Self {
        TranscriptWriter {
            file,
            path: path.to_path_buf(),
            seq: 0,
            prev: GENESIS_PREV.to_owned(),
            len: 0,
            unsynced: 0,
            last_sync: Instant::now(),
            repaired: 0,
            repair,
            last_len: 0,
            copy: None,
            origin: path.to_path_buf(),
            recovered_n: 0,
            recovery: None,
            recovered_lock: None,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `seq` of the last line written or seen (0 for an empty file).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Bytes of torn last lines this writer cut off before appending.
    pub fn repaired_bytes(&self) -> u64 {
        self.repaired
    }

    /// Bytes written but not fsynced yet (see the module docs for when they are).
    pub fn unsynced_bytes(&self) -> u64 {
        self.unsynced
    }

    /// The move to a recovered file made since the last call, if any (the path is then
    /// [`TranscriptWriter::path`]).
    pub fn take_recovery(&mut self) -> Option<Recovery> {
        self.recovery.take()
    }

    /// Appends `event` stamped with the current time.
    pub fn append(&mut self, event: &Event) -> io::Result<()> {
        self.append_at(event, Timestamp::now())
    }

    /// Appends `event` stamped `ts` (the time it happened, which may be earlier than now when it
    /// was kept in memory while the disk was full). On error nothing of the line stays in the file
    /// (a partial write is cut off) and the event can be appended again.
    pub fn append_at(&mut self, event: &Event, ts: Timestamp) -> io::Result<()> {
        self.file.lock()?;
        let result = match self.check_file() {
            Ok(None) => self.append_locked(event, ts),
            Ok(Some(damage)) => self
                .recover(damage)
                .and_then(|()| self.append_locked(event, ts)),
            Err(e) => Err(e),
        };
        let unlocked = self.file.unlock();
        result.and(unlocked)
    }

    fn append_locked(&mut self, event: &Event, ts: Timestamp) -> io::Result<()> {
        if self.seq == 0 && !matches!(event, Event::RunStarted { .. }) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the first event of a transcript must be `run_started`, not `{}`",
                    event.name()
                ),
            ));
        }
        let chained;
        let event = match event {
            // What came before it, as this file has it (lines others appended included).
            Event::RunFinished {
                outcome,
                duration_ms,
                ..
            } => {
                chained = Event::RunFinished {
                    outcome: *outcome,
                    duration_ms: *duration_ms,
                    events: Some(self.seq),
                    last_hash: Some(self.prev.clone()),
                };
                &chained
            }
            other => other,
        };
        let text = line::encode(self.seq + 1, ts, &self.prev, event);
        let mut bytes = text.into_bytes();
        let hash = line::sha256_hex(&bytes);
        bytes.push(b'\n');
        let start = self.len;
        let written = (&self.file).write_all(&bytes).and_then(|()| {
            self.unsynced += bytes.len() as u64;
            let due = self.unsynced >= GROUP_COMMIT_BYTES
                || self.last_sync.elapsed() >= GROUP_COMMIT_INTERVAL;
            if !waits_for_next_sync(event) || due {
                self.sync()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            // Leave no torn line behind; if even this fails, the next append cuts it off.
            let _ = self.file.set_len(start);
            return Err(e);
        }
        self.keep_copy(&bytes);
        self.len = start + bytes.len() as u64;
        self.last_len = bytes.len() as u64;
        self.seq += 1;
        self.prev = hash;
        Ok(())
    }

    /// Adds complete lines to the private copy; a copy that cannot take them is given up.
    fn keep_copy(&mut self, bytes: &[u8]) {
        if let Some(copy) = &mut self.copy
            && copy.write_all(bytes).is_err()
        {
            self.copy = None;
        }
    }

    /// Whether the file at the path is still this writer's, as it left it or with lines
    /// appended by others (taken in, see [`Self::take_appended`]). Called with the lock held.
    fn check_file(&mut self) -> io::Result<Option<Damage>> {
        let meta = self.file.metadata()?;
        if let Some(d) = recover::damage(&self.path, &meta, self.len)? {
            return Ok(Some(d));
        }
        if meta.len() == self.len {
            return Ok(None);
        }
        self.take_appended(meta.len())
    }

    /// The file grew from `self.len` to `len`: another process appended (`rb note`), or a write
    /// of ours failed half-way. Takes in the new complete lines when they continue the chain
    /// (and rb's last line is still there), cuts off a torn tail; anything else is damage.
    fn take_appended(&mut self, len: u64) -> io::Result<Option<Damage>> {
        if len - self.len > MAX_FOREIGN_APPEND {
            return Ok(Some(Damage::Overwritten));
        }
        if self.last_len > 0 {
            let mut mine = vec![0u8; self.last_len as usize];
            self.file
                .read_exact_at(&mut mine, self.len - self.last_len)?;
            if mine.pop() != Some(b'\n') || line::sha256_hex(&mine) != self.prev {
                return Ok(Some(Damage::Overwritten));
            }
        }
        let mut new = vec![0u8; (len - self.len) as usize];
        self.file.read_exact_at(&mut new, self.len)?;
        let complete = new.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let Some((seq, prev, last_len)) =
            recover::chain_end(&new[..complete], self.seq, &self.prev)
        else {
            return Ok(Some(Damage::Overwritten));
        };
        if complete < new.len() {
            self.cut_torn(self.len + complete as u64, len)?;
        }
        self.keep_copy(&new[..complete]);
        if last_len > 0 {
            self.last_len = last_len;
        }
        self.seq = seq;
        self.prev = prev;
        self.len += complete as u64;
        Ok(None)
    }

    /// Cuts the file from `complete` (its last newline) to `len`, or refuses (see [`Repair`]).
    fn cut_torn(&mut self, complete: u64, len: u64) -> io::Result<()> {
        if self.repair == Repair::Never {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} ends with an incomplete line ({} bytes) that rb did not write here; it changes nothing (check it with `rb transcripts verify`)",
                    self.path.display(),
                    len - complete
                ),
            ));
        }
        self.file.set_len(complete)?;
        self.file.sync_data()?;
        self.repaired += len - complete;
        Ok(())
    }

    /// Moves the run to a new file beside the damaged one, holding every line this writer knows
    /// (the run's own writer only; any other refuses). Called with the old file's lock held.
    fn recover(&mut self, damage: Damage) -> io::Result<()> {
        let what = format!("the transcript {} {damage}", self.path.display());
        if self.repair == Repair::Never {
            return Err(io::Error::other(format!(
                "{what}; rb changes nothing (check it with `rb transcripts verify`)"
            )));
        }
        let lines = self
            .known_lines()
            .map_err(|e| io::Error::other(format!("{what}: {e}")))?;
        let (n, path, file) = recover::create_recovered(&self.origin, self.recovered_n + 1, &lines)
            .map_err(|e| {
                io::Error::other(format!("{what}; cannot write the run to a new file: {e}"))
            })?;
        self.recovered_n = n;
        file.lock()?;
        let _ = self.file.unlock();
        self.recovery = Some(Recovery {
            damage,
            from: std::mem::replace(&mut self.path, path.clone()),
            to: path.clone(),
            lines: self.seq,
        });
        self.file = file;
        self.unsynced = 0;
        self.recovered_lock = RunLock::acquire(&path).ok();
        Ok(())
    }

    /// Every complete line of the transcript as this writer knows it: the private copy, else
    /// the bytes still behind the open file when they are exactly what it wrote (the whole chain
    /// ends in its last line's hash).
    pub fn known_lines(&self) -> io::Result<Vec<u8>> {
        let mut lines = vec![0u8; self.len as usize];
        if let Some(copy) = &self.copy
            && copy.read_exact_at(&mut lines, 0).is_ok()
        {
            return Ok(lines);
        }
        let held = self.file.read_exact_at(&mut lines, 0);
        match recover::chain_end(&lines, 0, GENESIS_PREV) {
            Some((seq, prev, _)) if held.is_ok() && seq == self.seq && prev == self.prev => {
                Ok(lines)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the {} lines rb wrote are no longer in the file and it has no copy of them",
                    self.seq
                ),
            )),
        }
    }

    /// Fsyncs what was written (call it when output goes quiet and at the end of a run).
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced > 0 {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Reads the last complete line to set `seq`, `prev` and `len`; cuts off a torn tail.
    /// Called with the lock held.
    fn load_tail(&mut self) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        let (complete, last) = read_tail(&self.file, len)?;
        if complete < len {
            self.cut_torn(complete, len)?;
        }
        self.last_len = last.as_ref().map_or(0, |l| l.len() as u64 + 1);
        match last {
            None => {
                self.seq = 0;
                self.prev = GENESIS_PREV.to_owned();
            }
            Some(bytes) => {
                let text = std::str::from_utf8(&bytes).map_err(|_| invalid(&self.path))?;
                let line = line::decode(text).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "cannot append to {}: its last line is not a transcript line: {e}",
                            self.path.display()
                        ),
                    )
                })?;
                self.seq = line.seq;
                self.prev = line::sha256_hex(&bytes);
            }
        }
        self.len = complete;
        Ok(())
    }
}

impl Drop for TranscriptWriter {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

/// Events whose fsync may wait for the next event that needs one (see the module docs): rb
/// records each of these and goes straight on to record the next, without starting a process or
/// waiting for anyone in between.
pub fn waits_for_next_sync(event: &Event) -> bool {
    matches!(
        event,
        Event::Output { .. }
            | Event::OutputDropped { .. }
            | Event::StepSpawned { .. }
            | Event::StepFinished { .. }
            | Event::Decision { .. }
            | Event::Captured { .. }
            | Event::Message { .. }
    )
}

fn invalid(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "cannot append to {}: its last line is not UTF-8",
            path.display()
        ),
    )
}

/// The length of the file up to its last newline, and the last complete line (without the
/// newline), read backwards from the end in blocks.
pub(crate) fn read_tail(file: &File, len: u64) -> io::Result<(u64, Option<Vec<u8>>)> {
    const BLOCK: u64 = 64 * 1024;
    let mut buf: Vec<u8> = Vec::new();
    let mut read = 0u64;
    loop {
        let step = BLOCK.min(len - read);
        if step == 0 {
            // Reached the start of the file.
            return Ok(match buf.iter().rposition(|&b| b == b'\n') {
                None => (0, None),
                Some(nl) => (nl as u64 + 1, Some(buf[..nl].to_vec())),
            });
        }
        let mut block = vec![0u8; step as usize];
        file.read_exact_at(&mut block, len - read - step)?;
        block.extend_from_slice(&buf);
        buf = block;
        read += step;
        if let Some(nl) = buf.iter().rposition(|&b| b == b'\n') {
            let complete = len - read + nl as u64 + 1;
            if let Some(before) = buf[..nl].iter().rposition(|&b| b == b'\n') {
                return Ok((complete, Some(buf[before + 1..nl].to_vec())));
            }
            if read == len {
                return Ok((complete, Some(buf[..nl].to_vec())));
            }
        }
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
