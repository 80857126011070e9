//! A cache of what `rb list` and `rb show` print for each valid runbook (its title and its
//! checklist), so that listing does not validate every file again: validation compiles the JSON
//! Schema validator and parses every file, several times the cost of rb's start-up.
//!
//! One small file per runbook under `$XDG_CACHE_HOME/rb/summaries/` (default `~/.cache`), named
//! by a hash of the runbook's place, for `rb show`; and one index of titles (`titles`, a line per
//! runbook) so that `rb list` reads one file, not one per runbook. An entry is used only when its stamp matches exactly: for a
//! file, its device, inode, size, mtime and ctime (ctime cannot be set back by `touch`), and for
//! any runbook the rb binary itself (size and mtime), so a new rb validates again. Only valid
//! runbooks are kept: an invalid one is validated every time, and says so. Any problem with the
//! cache (no home, a read-only disk, a corrupt file) just means validating, as without it.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Entry;

/// What is kept for one runbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub title: String,
    pub checklist: String,
}

/// One cache file: the first line is the stamp, the second the title, the rest the checklist
/// (so `rb list` parses nothing but two lines).
fn encode(key: &str, stamp: &str, s: &Summary) -> Option<String> {
    let one_line = |t: &str| !t.contains('\n');
    (one_line(key) && one_line(stamp) && one_line(&s.title))
        .then(|| format!("{key}\n{stamp}\n{}\n{}", s.title, s.checklist))
}

/// The cached summary of `entry`, when it is still valid.
pub fn cached(entry: &Entry) -> Option<Summary> {
    let (key, stamp) = identity(entry)?;
    let text = std::fs::read_to_string(file_for(&key)?).ok()?;
    let mut parts = text.splitn(4, '\n');
    if parts.next()? != key || parts.next()? != stamp {
        return None;
    }
    Some(Summary {
        title: parts.next()?.to_string(),
        checklist: parts.next()?.to_string(),
    })
}

/// Keeps `summary` for `entry` (a valid runbook). Failures are ignored: this is only a cache.
pub fn store(entry: &Entry, summary: &Summary) {
    let Some((key, stamp)) = identity(entry) else {
        return;
    };
    let (Some(file), Some(text)) = (file_for(&key), encode(&key, &stamp, summary)) else {
        return;
    };
    let _ = write_atomically(&file, text.as_bytes());
}

/// Entries kept in the titles index beyond those of the current catalog.
const MAX_TITLES: usize = 5000;

/// The titles index: runbook key → (stamp, title), as `rb list` last saw them.
#[derive(Default)]
pub struct Titles {
    map: HashMap<String, (String, String)>,
    seen: Vec<String>,
    dirty: bool,
}

impl Titles {
    /// Reads the index (empty when there is none or it cannot be read).
    pub fn load() -> Titles {
        let mut t = Titles::default();
        let Some(text) = cache_dir().and_then(|d| std::fs::read_to_string(d.join("titles")).ok())
        else {
            return t;
        };
        for line in text.lines() {
            let mut f = line.splitn(3, '\t');
            if let (Some(k), Some(s), Some(title)) = (f.next(), f.next(), f.next()) {
                t.map.insert(k.into(), (s.into(), title.into()));
            }
        }
        t
    }

    /// The title of `entry` if the index has it for the file as it is now; otherwise `summary`
    /// is asked (and its answer kept, when the runbook is valid).
    pub fn title(
        &mut self,
        entry: &Entry,
        summary: impl FnOnce() -> Option<Summary>,
    ) -> Option<String> {
        let id = identity(entry);
        if let Some((key, stamp)) = &id {
            self.seen.push(key.clone());
            if let Some((s, title)) = self.map.get(key)
                && s == stamp
            {
                return Some(title.clone());
            }
        }
        let s = summary()?;
        if let Some((key, stamp)) = id
            && ![&key, &stamp, &s.title]
                .iter()
                .any(|t| t.contains(['\t', '\n']))
        {
            self.map.insert(key, (stamp, s.title.clone()));
            self.dirty = true;
        }
        Some(s.title)
    }

    /// Writes the index back if it changed (errors ignored: only a cache).
    pub fn save(mut self) {
        let Some(file) = self
            .dirty
            .then(cache_dir)
            .flatten()
            .map(|d| d.join("titles"))
        else {
            return;
        };
        if self.map.len() > MAX_TITLES {
            let seen: std::collections::HashSet<String> = self.seen.drain(..).collect();
            self.map.retain(|k, _| seen.contains(k));
        }
        let mut text = String::new();
        for (k, (s, title)) in &self.map {
            text.push_str(&format!("{k}\t{s}\t{title}\n"));
        }
        let _ = write_atomically(&file, text.as_bytes());
    }
}

/// Where the runbook is (`key`) and what it is now (`stamp`).
fn identity(entry: &Entry) -> Option<(String, String)> {
    let rb = binary_stamp()?;
    match &entry.path {
        Some(p) => {
            let m = std::fs::metadata(p).ok()?;
            let abs = std::path::absolute(p).ok()?;
            let key = format!("{} {}", entry.name, abs.display());
            let stamp = format!(
                "{rb} {}:{} {} {}.{} {}.{}",
                m.dev(),
                m.ino(),
                m.len(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec()
            );
            Some((key, stamp))
        }
        None => {
            let bytes = entry.read().ok()?;
            let stamp = format!("{rb} {}", hex(&Sha256::digest(&bytes)));
            Some((format!("{} <built-in>", entry.name), stamp))
        }
    }
}

/// The running binary's size and mtime: a rebuilt rb may check runbooks differently.
fn binary_stamp() -> Option<&'static str> {
    static STAMP: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    STAMP.get_or_init(read_binary_stamp).as_deref()
}

fn read_binary_stamp() -> Option<String> {
    let m = std::fs::metadata(std::env::current_exe().ok()?).ok()?;
    Some(format!(
        "rb {} {} {}.{}",
        env!("CARGO_PKG_VERSION"),
        m.len(),
        m.mtime(),
        m.mtime_nsec()
    ))
}

fn cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("rb").join("summaries"))
}

fn file_for(key: &str) -> Option<PathBuf> {
    let name = hex(&Sha256::digest(key.as_bytes())[..16]);
    Some(cache_dir()?.join(name))
}

/// Writes a temporary file and renames it over `file`, so a reader never sees half of it.
fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    let written = f
        .write_all(bytes)
        .and_then(|()| std::fs::rename(&tmp, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
