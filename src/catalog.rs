//! The catalog: finds runbooks by name.
//!
//! Search order, first match wins: each `--dir`, `./runbooks`, each folder of `$RB_PATH`
//! (colon-separated), then the runbooks built into the binary. A name found in several places is
//! listed once per place; every entry after the first is marked as shadowed.

pub mod summary;

use std::fmt;
use std::path::{Path, PathBuf};

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

/// Where a runbook was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A folder given with `--dir`.
    Dir(PathBuf),
    /// `./runbooks` in the current folder.
    Local(PathBuf),
    /// A folder of `$RB_PATH`.
    RbPath(PathBuf),
    /// Compiled into rb.
    Builtin,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Dir(p) => write!(f, "--dir {}", p.display()),
            Origin::Local(p) => write!(f, "{}", p.display()),
            Origin::RbPath(p) => write!(f, "$RB_PATH {}", p.display()),
            Origin::Builtin => f.write_str("built-in"),
        }
    }
}

/// A runbook file the catalog knows of.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub origin: Origin,
    /// The file; None for a built-in runbook.
    pub path: Option<PathBuf>,
    /// True when an earlier entry has the same name and is used instead.
    pub shadowed: bool,
}

impl Entry {
    /// The name diagnostics use for this file.
    pub fn display_path(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => format!("<built-in>/{}.yaml", self.name),
        }
    }

    /// The file's bytes.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        match &self.path {
            Some(p) => read_limited(p),
            None => Ok(builtin_bytes(&self.name).unwrap_or_default().to_vec()),
        }
    }
}

/// Reads at most one byte more than the loader accepts, so a huge file costs no memory.
pub fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(crate::runbook::load::MAX_BYTES as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

fn builtin_bytes(name: &str) -> Option<&'static [u8]> {
    builtin::BUILTIN
        .iter()
        .find(|(file, _)| stem(Path::new(file)) == Some(name))
        .map(|(_, b)| *b)
}

/// The stem of a runbook file name (`disk-full` for `disk-full.yaml`), if it is one.
pub fn stem(path: &Path) -> Option<&str> {
    let ext = path.extension()?.to_str()?;
    if ext != "yaml" && ext != "yml" {
        return None;
    }
    path.file_stem()?.to_str()
}

/// Runbook files directly in `dir`, sorted by name.
pub fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        // The entry's type comes with the listing; only a symlink needs a stat to follow it.
        .filter(|e| match e.file_type() {
            Ok(t) if t.is_symlink() => e.path().is_file(),
            Ok(t) => t.is_file(),
            Err(_) => false,
        })
        .map(|e| e.path())
        .filter(|p| stem(p).is_some())
        .collect();
    files.sort();
    Ok(files)
}

/// All runbooks from every source, in search order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub entries: Vec<Entry>,
}

impl Catalog {
    /// Searches `dirs`, then `cwd/runbooks`, then `rb_path`, then the built-ins.
    pub fn discover(dirs: &[PathBuf], cwd: &Path, rb_path: Option<&str>) -> Catalog {
        let mut sources: Vec<Origin> = dirs.iter().cloned().map(Origin::Dir).collect();
        let local = cwd.join("runbooks");
        if local.is_dir() {
            sources.push(Origin::Local(PathBuf::from("runbooks")));
        }
        for p in rb_path.unwrap_or("").split(':').filter(|p| !p.is_empty()) {
            sources.push(Origin::RbPath(PathBuf::from(p)));
        }
        let mut cat = Catalog::default();
        for origin in sources {
            let dir = match &origin {
                Origin::Dir(d) | Origin::RbPath(d) => d.clone(),
                Origin::Local(_) => local.clone(),
                Origin::Builtin => continue,
            };
            for file in files_in(&dir).unwrap_or_default() {
                let name = stem(&file).unwrap_or_default().to_string();
                let path = match &origin {
                    Origin::Local(rel) => rel.join(file.file_name().unwrap_or_default()),
                    _ => file,
                };
                cat.push(Entry {
                    name,
                    origin: origin.clone(),
                    path: Some(path),
                    shadowed: false,
                });
            }
        }
        for (file, _) in builtin::BUILTIN {
            let name = stem(Path::new(file)).unwrap_or_default().to_string();
            cat.push(Entry {
                name,
                origin: Origin::Builtin,
                path: None,
                shadowed: false,
            });
        }
        cat
    }

    fn push(&mut self, mut e: Entry) {
        e.shadowed = self.entries.iter().any(|x| x.name == e.name);
        self.entries.push(e);
    }

    /// The entry used for `name` (the first found).
    pub fn find(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Names of the runbooks in use (not shadowed).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|e| !e.shadowed)
            .map(|e| e.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_sources_shadow_later_ones() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("disk-full.yaml"), "x").unwrap();
        std::fs::write(b.path().join("disk-full.yml"), "x").unwrap();
        std::fs::write(b.path().join("notes.txt"), "x").unwrap();
        let rb_path = b.path().display().to_string();
        let cat = Catalog::discover(
            &[a.path().to_path_buf()],
            Path::new("/nonexistent"),
            Some(&rb_path),
        );
        let used = cat.find("disk-full").unwrap();
        assert_eq!(used.origin, Origin::Dir(a.path().to_path_buf()));
        let all: Vec<_> = cat
            .entries
            .iter()
            .filter(|e| e.name == "disk-full")
            .collect();
        assert_eq!(all.len(), 3, "dir, RB_PATH and built-in");
        assert!(!all[0].shadowed && all[1].shadowed && all[2].shadowed);
        assert!(cat.find("notes").is_none());
    }

    #[test]
    fn builtins_are_always_there() {
        let cat = Catalog::discover(&[], Path::new("/nonexistent"), None);
        let e = cat.find("disk-full").expect("disk-full is built in");
        assert_eq!(e.origin, Origin::Builtin);
        assert!(!e.read().unwrap().is_empty());
    }
}
