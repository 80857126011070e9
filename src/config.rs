//! The configuration file: `rb.toml` at the repository root (the nearest one walking up from the
//! current folder to the git root), then `$XDG_CONFIG_HOME/rb/config.toml` (default
//! `~/.config/rb/config.toml`). A key set in the first file wins over the second; command-line
//! flags win over both. This module reads and checks the files and says where each value came
//! from; the CLI applies the values.

use std::path::{Path, PathBuf};

use crate::diag::did_you_mean;

/// Every key, with what it is for and whether a feature uses it yet.
pub const KEYS: &[(&str, &str, bool)] = &[
    (
        "runbook_dirs",
        "folders searched for runbooks, after `--dir`",
        true,
    ),
    (
        "transcript_dir",
        "where new transcripts are written and looked for",
        true,
    ),
    (
        "operator",
        "who is recorded as running rb (default $USER)",
        true,
    ),
    (
        "webhook_env",
        "environment variable holding the incident-channel webhook",
        false,
    ),
    (
        "update_interval",
        "how often to remind the channel during an incident",
        false,
    ),
    ("inventory", "the team's host inventory file", false),
];

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    Flag(&'static str),
    File(PathBuf),
    Env(&'static str),
    Default,
}

impl std::fmt::Display for From {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            From::Flag(flag) => write!(f, "flag {flag}"),
            From::File(p) => write!(f, "{}", p.display()),
            From::Env(v) => write!(f, "${v}"),
            From::Default => f.write_str("default"),
        }
    }
}

/// One value as read from a file: the TOML value and the file (for messages and relative paths).
#[derive(Debug, Clone)]
pub struct Setting {
    pub value: toml::Value,
    pub file: PathBuf,
}

impl Setting {
    /// A path value, relative to the folder of the file that set it.
    pub fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.file.parent().unwrap_or(Path::new(".")).join(p)
        }
    }
}

/// The merged configuration: for each key, the setting that wins (if any file sets it).
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub files: Vec<PathBuf>,
    settings: Vec<(&'static str, Setting)>,
}

impl Config {
    /// Reads the repository's `rb.toml` (if any) and the user's config file (if any).
    pub fn load(cwd: &Path) -> Result<Config, String> {
        let mut cfg = Config::default();
        let user = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|d| d.join("rb/config.toml"));
        for file in [repo_file(cwd), user].into_iter().flatten() {
            if file.is_file() {
                cfg.read(&file)?;
            }
        }
        Ok(cfg)
    }

    /// The winning setting of `key`.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, s)| s)
    }

    /// A string key.
    pub fn string(&self, key: &str) -> Option<(String, From)> {
        let s = self.get(key)?;
        Some((s.value.as_str()?.to_string(), From::File(s.file.clone())))
    }

    /// `runbook_dirs`, each relative to its file.
    pub fn runbook_dirs(&self) -> Vec<PathBuf> {
        let Some(s) = self.get("runbook_dirs") else {
            return Vec::new();
        };
        let items = s.value.as_array().map(Vec::as_slice).unwrap_or_default();
        items
            .iter()
            .filter_map(|v| v.as_str())
            .map(|p| s.path(p))
            .collect()
    }

    /// `transcript_dir`, relative to its file.
    pub fn transcript_dir(&self) -> Option<PathBuf> {
        let s = self.get("transcript_dir")?;
        Some(s.path(s.value.as_str()?))
    }

    fn read(&mut self, file: &Path) -> Result<(), String> {
        let name = file.display();
        let text =
            std::fs::read_to_string(file).map_err(|e| format!("cannot read `{name}`: {e}"))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            format!("`{name}` is not valid TOML: {}", e.message().trim())
        })?;
        self.files.push(file.to_path_buf());
        for (key, value) in table {
            let Some(&(known, _, _)) = KEYS.iter().find(|(k, _, _)| *k == key) else {
                let line = line_of(&text, &key);
                let mut msg = format!("{name}:{line}: unknown key `{key}`");
                if let Some(s) = did_you_mean(&key, KEYS.iter().map(|(k, _, _)| *k)) {
                    msg += &format!("; did you mean `{s}`?");
                } else {
                    let all: Vec<&str> = KEYS.iter().map(|(k, _, _)| *k).collect();
                    msg += &format!("; the keys are {}", all.join(", "));
                }
                return Err(msg);
            };
            check_type(known, &value).map_err(|want| {
                format!("{name}:{}: `{key}` must be {want}", line_of(&text, &key))
            })?;
            if self.get(known).is_none() {
                let setting = Setting {
                    value,
                    file: file.to_path_buf(),
                };
                self.settings.push((known, setting));
            }
        }
        Ok(())
    }
}

/// The nearest `rb.toml` from `cwd` up to the git root (only `cwd` outside a git repository).
fn repo_file(cwd: &Path) -> Option<PathBuf> {
    let ancestors: Vec<&Path> = cwd.ancestors().collect();
    let root = ancestors.iter().position(|d| d.join(".git").exists());
    let searched = match root {
        Some(i) => &ancestors[..=i],
        None => &ancestors[..1],
    };
    searched
        .iter()
        .map(|d| d.join("rb.toml"))
        .find(|f| f.is_file())
}

fn check_type(key: &str, v: &toml::Value) -> Result<(), &'static str> {
    let ok = match key {
        "runbook_dirs" => v.as_array().is_some_and(|a| a.iter().all(|x| x.is_str())),
        "update_interval" => v
            .as_str()
            .is_some_and(|s| crate::runbook::duration::Duration::parse(s).is_ok()),
        _ => v.as_str().is_some_and(|s| !s.trim().is_empty()),
    };
    match (ok, key) {
        (true, _) => Ok(()),
        (false, "runbook_dirs") => {
            Err("a list of folder names, e.g. [\"runbooks\", \"ops/runbooks\"]")
        }
        (false, "update_interval") => Err("a duration string, e.g. \"15m\""),
        (false, _) => Err("a non-empty string"),
    }
}

/// The 1-based line where `key` is set (1 when not found: the message still names the file).
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches(['"', '\'']);
            l.strip_prefix(key).is_some_and(|rest| {
                rest.trim_start_matches(['"', '\''])
                    .trim_start()
                    .starts_with('=')
            })
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_file_wins_and_unknown_keys_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("a/b")).unwrap();
        std::fs::write(
            repo.join("rb.toml"),
            "operator = \"ana\"\nrunbook_dirs = [\"ops\"]\n",
        )
        .unwrap();
        let mut cfg = Config::default();
        cfg.read(&repo_file(&repo.join("a/b")).unwrap()).unwrap();
        let user = tmp.path().join("user.toml");
        std::fs::write(&user, "operator = \"bob\"\ntranscript_dir = \"/t\"\n").unwrap();
        cfg.read(&user).unwrap();
        assert_eq!(cfg.string("operator").unwrap().0, "ana");
        assert_eq!(cfg.runbook_dirs(), vec![repo.join("ops")]);
        assert_eq!(cfg.transcript_dir(), Some(PathBuf::from("/t")));
        std::fs::write(&user, "# hi\n\noperater = \"x\"\n").unwrap();
        let err = Config::default().read(&user).unwrap_err();
        assert!(
            err.ends_with("user.toml:3: unknown key `operater`; did you mean `operator`?"),
            "{err}"
        );
        std::fs::write(&user, "update_interval = \"soon\"\n").unwrap();
        let err = Config::default().read(&user).unwrap_err();
        assert!(
            err.contains(":1: `update_interval` must be a duration string"),
            "{err}"
        );
    }

    #[test]
    fn outside_git_only_the_current_folder_is_searched() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("x")).unwrap();
        std::fs::write(tmp.path().join("rb.toml"), "").unwrap();
        assert_eq!(repo_file(&tmp.path().join("x")), None);
        assert_eq!(repo_file(tmp.path()), Some(tmp.path().join("rb.toml")));
    }
}
