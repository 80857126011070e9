//! Noticing that a transcript was deleted, truncated or replaced under a running rb, and the
//! pieces [`super::writer`] uses to move the whole run to a new file.
//!
//! Before each append the writer compares the file at its path with the file it holds open
//! ([`damage`]): the same device and inode, still linked, and at least as long as it left it. A
//! file that grew is accepted only when every new line continues the hash chain ([`chain_end`]):
//! that is what `rb note` and `rb mark` append from another terminal. Anything else is
//! [`Damage`]. The writer then writes every line it knows (its private copy, [`anonymous_file`])
//! to a new file created beside the old path ([`create_recovered`]) and appends there.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::line;

/// What happened to the transcript file while rb was writing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Nothing is at the path, and the file rb holds has no name left.
    Deleted,
    /// Nothing is at the path, but the file rb holds still has a name elsewhere.
    MovedAway,
    /// Another file (or a link) is at the path.
    Replaced,
    /// The file is shorter than rb left it: lines it wrote were cut off.
    Truncated { from: u64, to: u64 },
    /// The file's bytes are not what rb left followed by lines continuing its hash chain.
    Overwritten,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Deleted => f.write_str("was deleted"),
            Damage::MovedAway => f.write_str("was moved away (renamed)"),
            Damage::Replaced => f.write_str("was replaced by another file"),
            Damage::Truncated { from, to } => {
                write!(f, "was truncated (from {from} to {to} bytes)")
            }
            Damage::Overwritten => f.write_str(
                "was changed by another program (its bytes are no longer rb's lines followed by lines that continue the hash chain)",
            ),
        }
    }
}

/// A move of the run to a new file after the one at its path was damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub damage: Damage,
    /// The path that no longer holds the run.
    pub from: PathBuf,
    /// The new file, holding every line of the run so far.
    pub to: PathBuf,
    /// Lines written to the new file.
    pub lines: u64,
}

/// Whether the file at `path` is still `held` (the writer's open file, `meta` its `fstat`) and
/// at least `len` bytes long. Growth is for the caller to check with [`chain_end`].
pub fn damage(path: &Path, held: &Metadata, len: u64) -> io::Result<Option<Damage>> {
    let at = match std::fs::symlink_metadata(path) {
        Ok(at) => at,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Some(if held.nlink() == 0 {
                Damage::Deleted
            } else {
                Damage::MovedAway
            }));
        }
        Err(e) => return Err(e),
    };
    Ok(if at.dev() != held.dev() || at.ino() != held.ino() {
        Some(Damage::Replaced)
    } else if held.nlink() == 0 {
        Some(Damage::Deleted)
    } else if held.len() < len {
        Some(Damage::Truncated {
            from: len,
            to: held.len(),
        })
    } else {
        None
    })
}

/// The end of the chain when the complete lines in `bytes` (each ending in a newline) continue
/// a chain whose last line has `seq` and hashes to `prev`: the new last `seq`, its hash and its
/// length with the newline. `None` when a line does not decode or does not chain.
pub fn chain_end(bytes: &[u8], mut seq: u64, prev: &str) -> Option<(u64, String, u64)> {
    let mut prev = prev.to_owned();
    let mut last_len = 0;
    let Some(body) = bytes.strip_suffix(b"\n") else {
        return bytes.is_empty().then_some((seq, prev, 0));
    };
    for raw in body.split(|&b| b == b'\n') {
        let l = line::decode(std::str::from_utf8(raw).ok()?).ok()?;
        if l.seq != seq + 1 || l.prev != prev {
            return None;
        }
        seq = l.seq;
        prev = line::sha256_hex(raw);
        last_len = raw.len() as u64 + 1;
    }
    Some((seq, prev, last_len))
}

/// An unnamed file in `dir` for the writer's private copy of the lines (the kernel frees it when
/// rb exits; nobody can delete or truncate it by a path). `O_TMPFILE` where the file system has
/// it, else a file created and unlinked at once.
pub fn anonymous_file(dir: &Path) -> io::Result<File> {
    let tmpfile = OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(nix::libc::O_TMPFILE)
        .mode(0o600)
        .open(dir);
    if let Ok(f) = tmpfile {
        return Ok(f);
    }
    let named = dir.join(format!(".rb-copy-{}-{}", std::process::id(), unique()));
    let f = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .mode(0o600)
        .open(&named)?;
    std::fs::remove_file(&named)?;
    Ok(f)
}

/// A number that differs between calls in one process.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// `NAME.recovered-N.jsonl` beside `origin` (`NAME.jsonl`).
pub fn recovered_path(origin: &Path, n: u32) -> PathBuf {
    let name = origin
        .file_name()
        .map_or_else(|| "transcript".into(), |n| n.to_string_lossy().into_owned());
    let stem = name.strip_suffix(".jsonl").unwrap_or(&name);
    origin.with_file_name(format!("{stem}.recovered-{n}.jsonl"))
}

/// Creates the first free `NAME.recovered-N.jsonl` beside `origin`, N from `first` (a writer
/// never reuses a number it used), exclusively (never through a link, never over a file), mode
/// 0600, holding `lines`, fsynced with its directory. Returns N too.
pub fn create_recovered(
    origin: &Path,
    first: u32,
    lines: &[u8],
) -> io::Result<(u32, PathBuf, File)> {
    use std::io::Write;
    for n in first..=99 {
        let path = recovered_path(origin, n);
        let opened = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .mode(0o600)
            .open(&path);
        let mut file = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let filled = file.write_all(lines).and_then(|()| file.sync_data());
        if let Err(e) = filled {
            // Half a copy is no record: leave nothing that looks like one.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        return Ok((n, path, file));
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} to {} all exist",
            recovered_path(origin, first).display(),
            recovered_path(origin, 99).display()
        ),
    ))
}
