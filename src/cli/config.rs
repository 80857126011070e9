//! `rb config`, and applying the configuration file ([`crate::config`]) to the other commands:
//! runbook folders to the catalog, the transcript folder and the operator name to the commands
//! that write or read transcripts. Flags win over the files.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

use super::print_stdout;
use crate::config::{Config, From, KEYS};
use crate::exit::{Code, UserError};

/// The transcript folder for this process, decided once from the configuration.
static TRANSCRIPT_DIR: OnceLock<PathBuf> = OnceLock::new();

/// What `rb config` was asked to show.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// As if `--dir DIR` were given to a command (searched before the configured folders).
    #[arg(long = "dir", value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// As if `--operator NAME` were given to a command.
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
}

/// Reads the configuration files once; an invalid file is a usage error naming it.
pub fn load() -> Result<&'static Config, UserError> {
    static CONFIG: OnceLock<Result<Config, String>> = OnceLock::new();
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let cfg = CONFIG.get_or_init(|| Config::load(&cwd));
    let cfg = cfg.as_ref().map_err(|e| {
        let keys: Vec<&str> = KEYS.iter().map(|(k, _, _)| *k).collect();
        UserError::usage(e.clone()).hint(format!("the keys are {}", keys.join(", ")))
    })?;
    let _ = TRANSCRIPT_DIR.set(
        cfg.transcript_dir()
            .unwrap_or_else(crate::transcript::default_dir),
    );
    Ok(cfg)
}

/// Where transcripts are written and looked for: `transcript_dir` from the configuration, else
/// `$XDG_STATE_HOME/rb/transcripts`.
pub fn transcript_dir() -> PathBuf {
    TRANSCRIPT_DIR
        .get()
        .cloned()
        .unwrap_or_else(crate::transcript::default_dir)
}

/// The operator: the flag, else `operator` from the configuration (else the command's $USER).
pub fn operator(flag: Option<String>) -> Result<Option<String>, UserError> {
    Ok(flag.or_else(|| load().ok()?.string("operator").map(|(v, _)| v)))
}

/// The configured runbook folders; one that does not exist is an error naming its file.
pub fn runbook_dirs() -> Result<Vec<PathBuf>, UserError> {
    let cfg = load()?;
    let dirs = cfg.runbook_dirs();
    for d in &dirs {
        if !d.is_dir() {
            let file = cfg
                .get("runbook_dirs")
                .map(|s| s.file.display().to_string());
            return Err(UserError::usage(format!(
                "`{}` in `runbook_dirs` of `{}` is not a folder",
                d.display(),
                file.unwrap_or_default()
            ))
            .hint("create it, or remove it from `runbook_dirs` (paths are relative to the file)"));
        }
    }
    Ok(dirs)
}

/// `rb config`: every key, its effective value and where it came from.
pub fn show(args: &ConfigArgs) -> Result<Code, UserError> {
    let cfg = load()?;
    let mut out = String::new();
    let files: Vec<String> = cfg.files.iter().map(|f| f.display().to_string()).collect();
    let _ = writeln!(
        out,
        "# files read, first wins: {}",
        if files.is_empty() {
            "none".into()
        } else {
            files.join(", ")
        }
    );
    let mut dirs: Vec<String> = args.dirs.iter().map(|d| d.display().to_string()).collect();
    let mut from = Vec::new();
    if !args.dirs.is_empty() {
        from.push(From::Flag("--dir").to_string());
    }
    let configured = cfg.runbook_dirs();
    if let Some(s) = cfg.get("runbook_dirs") {
        from.push(From::File(s.file.clone()).to_string());
    }
    dirs.extend(configured.iter().map(|d| d.display().to_string()));
    if from.is_empty() {
        from.push(From::Default.to_string());
    }
    line(
        &mut out,
        "runbook_dirs",
        &format!("{dirs:?}"),
        &format!(
            "{}; then ./runbooks, $RB_PATH, the built-ins",
            from.join(", then ")
        ),
    );
    let (dir, from) = match cfg.get("transcript_dir") {
        Some(s) => (
            cfg.transcript_dir().unwrap_or_default(),
            From::File(s.file.clone()),
        ),
        None => (crate::transcript::default_dir(), From::Default),
    };
    line(
        &mut out,
        "transcript_dir",
        &format!("{:?}", dir.display().to_string()),
        &from.to_string(),
    );
    let (op, from) = match (
        &args.operator,
        cfg.string("operator"),
        std::env::var("USER"),
    ) {
        (Some(o), _, _) => (o.clone(), From::Flag("--operator")),
        (None, Some((o, f)), _) => (o, f),
        (None, None, Ok(u)) => (u, From::Env("USER")),
        (None, None, Err(_)) => ("unknown".into(), From::Default),
    };
    line(&mut out, "operator", &format!("{op:?}"), &from.to_string());
    for (key, _, used) in KEYS.iter().filter(|(_, _, used)| !used) {
        let _ = used;
        match cfg.get(key) {
            Some(s) => line(
                &mut out,
                key,
                &s.value.to_string(),
                &format!("{}; accepted, not used by rb yet", s.file.display()),
            ),
            None => line(&mut out, key, "(unset)", "not used by rb yet"),
        }
    }
    print_stdout(&out);
    Ok(Code::Ok)
}

fn line(out: &mut String, key: &str, value: &str, from: &str) {
    let _ = writeln!(out, "{key:<16}= {value}  # {from}");
}
