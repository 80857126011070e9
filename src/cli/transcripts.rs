//! `rb transcripts [list]`, `rb transcripts verify` and `rb transcripts sign`: what runs were
//! recorded, whether a transcript is intact (and signed by whom), and signing one.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use super::signature::{self, SigCheck};
use super::{Format, print_stdout};
use crate::exit::{Code, UserError};
use crate::export::human_duration;
use crate::transcript::{self, Mode, RunOutcome, Summary};

/// What `rb transcripts` was asked to do.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TranscriptsArgs {
    #[command(subcommand)]
    pub action: Option<Action>,
    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// List recent runs, newest first (the default).
    List(ListArgs),
    /// Check transcripts: the hash chain, `seq`, the count and hash in `run_finished`, and every
    /// line against the schema; then say whether each record is complete (it ends with a
    /// `run_finished` that matches) or unfinished.
    ///
    /// Exit 0 when every file is intact, 1 when a file has a bad line (edited, removed or
    /// invalid), 2 when a file cannot be read. A torn last line (rb killed mid-write) is a
    /// warning, not a failure.
    Verify {
        /// Transcript files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Also check each FILE.sig: a signature of the file by IDENTITY, as listed in the allowed
        /// signers (`ssh-keygen -Y verify`). A missing or bad signature exits 1.
        #[arg(long, value_name = "IDENTITY")]
        signer: Option<String>,
        /// The allowed signers file (ssh-keygen(1) format; default ~/.ssh/allowed_signers).
        #[arg(long, value_name = "FILE", requires = "signer")]
        allowed_signers: Option<PathBuf>,
    },
    /// Sign transcripts with your SSH key: writes FILE.sig (`ssh-keygen -Y sign`, namespace
    /// `rb-transcript`).
    ///
    /// Only a transcript that verifies, and whose run finished (unless --unfinished), is signed;
    /// the signature covers its exact bytes, so anything appended later (`rb resume`, `rb note`)
    /// makes it invalid. Exit 0 when every file is signed, 1 when one does not verify or
    /// ssh-keygen fails, 2 for anything to fix first.
    Sign {
        /// Transcript files to sign.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The private key, or a `.pub` file to sign with the key in your ssh-agent (default: the
        /// first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa).
        #[arg(long, value_name = "KEY")]
        key: Option<PathBuf>,
        /// Sign a run that has not finished (no `run_finished` at the end) as it is now.
        #[arg(long)]
        unfinished: bool,
        /// Replace an existing FILE.sig.
        #[arg(long)]
        force: bool,
    },
}

/// Options of `rb transcripts list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Look in DIR (default: `transcript_dir` of the configuration, else
    /// $XDG_STATE_HOME/rb/transcripts, or ~/.local/state/rb/transcripts).
    #[arg(long = "in", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Show at most N runs.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// `human` table, or `json` (an array of objects).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Runs `rb transcripts …`.
pub fn run(args: TranscriptsArgs) -> Result<Code, UserError> {
    match args.action {
        None => list(&args.list),
        Some(Action::List(a)) => list(&a),
        Some(Action::Verify {
            files,
            signer,
            allowed_signers,
        }) => {
            let signature = match signer {
                Some(who) => Some(SignerCheck {
                    allowed: match allowed_signers {
                        Some(f) => f,
                        None => signature::default_allowed_signers()?,
                    },
                    who,
                }),
                None => None,
            };
            verify(&files, signature.as_ref())
        }
        Some(Action::Sign {
            files,
            key,
            unfinished,
            force,
        }) => {
            let key = match key {
                Some(k) => k,
                None => signature::default_key()?,
            };
            sign(&files, &key, unfinished, force)
        }
    }
}

/// One transcript file found in a directory, read leniently.
pub(crate) struct Found {
    pub path: PathBuf,
    /// The transcript's summary, or why it could not be read.
    pub summary: Result<Summary, String>,
    /// When the run started (see [`Summary::started`]; else the file's mtime).
    pub start: Option<Timestamp>,
}

impl Found {
    /// True when the transcript has no `run_finished` (the run is going on, or rb was killed).
    pub fn unfinished(&self) -> bool {
        self.summary
            .as_ref()
            .is_ok_and(Summary::in_progress_or_interrupted)
    }
}

/// Every `*.jsonl` file in `dir`, newest start first. A missing directory is empty.
pub(crate) fn scan(dir: &Path) -> Result<Vec<Found>, UserError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(
                UserError::io(format!("cannot list `{}`", dir.display()), &e)
                    .hint("check the directory's permissions, or choose another with `--in DIR`"),
            );
        }
    };
    let mut found: Vec<Found> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && p.is_file())
        .map(|path| {
            let summary = transcript::read(&path)
                .map(|t| Summary::of(&t))
                .map_err(|e| e.to_string());
            let start = summary.as_ref().ok().and_then(|s| s.started).or_else(|| {
                let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
                Timestamp::try_from(mtime).ok()
            });
            Found {
                path,
                summary,
                start,
            }
        })
        .collect();
    found.sort_by(|a, b| b.start.cmp(&a.start).then_with(|| b.path.cmp(&a.path)));
    Ok(found)
}

/// One row of `rb transcripts`, as printed with `--format json`.
#[derive(Debug, Serialize)]
struct Row {
    path: PathBuf,
    started: Option<String>,
    runbook: Option<String>,
    mode: Option<Mode>,
    run_id: Option<String>,
    operator: Option<String>,
    host: Option<String>,
    /// From `run_finished`; for a run that did not finish, up to its last event.
    duration_ms: Option<u64>,
    /// False when there is no `run_finished`: the run is in progress or was interrupted.
    finished: bool,
    outcome: Option<RunOutcome>,
    lines: usize,
    torn_tail: bool,
    /// Why the file could not be read (the other fields are then empty).
    error: Option<String>,
}

fn row(f: &Found) -> Row {
    let started = f.start.map(transcript::line::format_ts);
    let s = match &f.summary {
        Ok(s) => s,
        Err(e) => {
            return Row {
                path: f.path.clone(),
                started,
                runbook: None,
                mode: None,
                run_id: None,
                operator: None,
                host: None,
                duration_ms: None,
                finished: false,
                outcome: None,
                lines: 0,
                torn_tail: false,
                error: Some(e.clone()),
            };
        }
    };
    Row {
        path: f.path.clone(),
        started,
        runbook: s.runbook.clone(),
        mode: s.mode,
        run_id: s.run_id.clone(),
        operator: s.operator.clone(),
        host: s.host.clone(),
        duration_ms: s.duration_ms,
        finished: s.finished(),
        outcome: s.outcome,
        lines: s.lines,
        torn_tail: s.torn_tail,
        error: s
            .runbook
            .is_none()
            .then(|| "the first line is not `run_started`".to_string()),
    }
}

fn list(args: &ListArgs) -> Result<Code, UserError> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(super::config::transcript_dir);
    let found = scan(&dir)?;
    let rows: Vec<Row> = found.iter().take(args.limit).map(row).collect();
    if args.format == Format::Json {
        let mut text = serde_json::to_string_pretty(&rows).expect("rows serialize");
        text.push('\n');
        print_stdout(&text);
        return Ok(Code::Ok);
    }
    if rows.is_empty() {
        errln!(
            "no transcripts in `{}` (every `rb run` writes one there; `--in DIR` looks elsewhere)",
            dir.display()
        );
        return Ok(Code::Ok);
    }
    let header = [
        "START (UTC)",
        "RUNBOOK",
        "MODE",
        "DURATION",
        "OUTCOME",
        "OPERATOR",
        "PATH",
    ];
    let cells: Vec<[String; 7]> = rows.iter().map(human_cells).collect();
    let mut widths = header.map(str::len);
    for c in &cells {
        for (w, s) in widths.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cols: [&str; 7]| {
        let mut l = String::new();
        for (i, (s, w)) in cols.iter().zip(widths).enumerate() {
            if i + 1 == cols.len() {
                l.push_str(s);
            } else {
                let _ = write!(l, "{s:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header);
    for c in &cells {
        line([&c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6]]);
    }
    if found.len() > rows.len() {
        let _ = writeln!(
            out,
            "({} older run(s) not shown; `--limit N` shows more)",
            found.len() - rows.len()
        );
    }
    print_stdout(&out);
    Ok(Code::Ok)
}

fn human_cells(r: &Row) -> [String; 7] {
    let dash = || "-".to_string();
    let start = r
        .started
        .as_deref()
        .and_then(|s| s.parse::<Timestamp>().ok())
        .map_or_else(dash, |t| t.strftime("%Y-%m-%d %H:%M:%S").to_string());
    let path = r.path.display().to_string();
    if let Some(e) = &r.error
        && r.runbook.is_none()
    {
        let why = e.rsplit(": ").next().unwrap_or(e);
        return [
            start,
            dash(),
            dash(),
            dash(),
            format!("unreadable ({why})"),
            dash(),
            path,
        ];
    }
    let mode = match r.mode {
        Some(Mode::Live) => "live",
        Some(Mode::Check) => "check",
        Some(Mode::DryRun) => "dry-run",
        None => "-",
    };
    let duration = match (r.duration_ms, r.finished) {
        (Some(ms), true) => human_duration(ms),
        // Up to the last event: the run lasted at least this long.
        (Some(ms), false) => format!("{}+", human_duration(ms)),
        (None, _) => dash(),
    };
    let mut outcome = transcript::summary::outcome_phrase(r.outcome);
    if r.torn_tail {
        outcome.push_str(" (torn last line)");
    }
    [
        start,
        r.runbook.clone().unwrap_or_else(dash),
        mode.to_string(),
        duration,
        outcome,
        r.operator.clone().unwrap_or_else(dash),
        path,
    ]
}

/// Checks a transcript's bytes as `rb transcripts verify` does: the hash chain, `seq`, the first
/// line and `run_finished`, then every complete line against the schema. Returns the report and
/// the first bad line with why, if any.
fn check(bytes: &[u8]) -> (transcript::VerifyReport, Option<(u64, String)>) {
    let report = transcript::verify_bytes(bytes);
    let problem = match &report.problem {
        Some(p) => Some((p.line, p.detail.clone())),
        None => crate::transcript::schema::validate_first_lines(bytes, report.lines)
            .err()
            .map(|(n, why)| (n, format!("does not match the transcript schema: {why}"))),
    };
    (report, problem)
}

/// What `rb transcripts verify` says of how an intact transcript of `lines` lines ends.
fn ending_words(ending: transcript::Ending, lines: u64) -> String {
    match ending {
        transcript::Ending::Complete => format!(
            "complete: it ends with `run_finished`, whose count ({}) and hash match the lines before it",
            lines.saturating_sub(1)
        ),
        transcript::Ending::FinishedUncounted => "finished: it ends with `run_finished` (written by an rb before schema version 3, so without a count and hash to check)".to_string(),
        transcript::Ending::Unfinished => "unfinished: it does not end with `run_finished` (the run is going on, rb was killed, or lines were cut off the end)".to_string(),
    }
}

/// Whose signature `rb transcripts verify --signer` wants, and where that signer is listed.
struct SignerCheck {
    who: String,
    allowed: PathBuf,
}

/// The worse of two exit codes (a usage problem outranks a bad file).
fn worse(a: Code, b: Code) -> Code {
    let rank = |c: Code| match c {
        Code::Ok => 0,
        Code::Failed => 1,
        _ => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// `rb transcripts verify FILE... [--signer IDENTITY]`.
fn verify(files: &[PathBuf], signer: Option<&SignerCheck>) -> Result<Code, UserError> {
    let mut code = Code::Ok;
    let mut out = String::new();
    for path in files {
        let shown = path.display();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                errln!("error: cannot read `{shown}`: {e}");
                code = worse(code, Code::Usage);
                continue;
            }
        };
        let (report, problem) = check(&bytes);
        if let Some((n, why)) = problem {
            let _ = writeln!(out, "{shown}: BAD at line {n}: {why}");
            code = worse(code, Code::Failed);
            continue;
        }
        let ending = ending_words(report.ending, report.lines);
        let _ = writeln!(out, "{shown}: OK ({} lines), {ending}", report.lines);
        if report.torn_tail {
            let _ = writeln!(
                out,
                "{shown}: warning: the last line is torn (rb was killed while writing it); it is left out, and the next append cuts it off"
            );
        }
        if let Some(s) = signer {
            let sig = signature::sig_path(path);
            let (line, ok) = match signature::verify(&s.allowed, &s.who, &sig, &bytes) {
                Ok(SigCheck::Good { key }) => (format!("signed by {} ({key})", s.who), true),
                Ok(SigCheck::Missing) => (
                    format!(
                        "BAD signature: there is no `{}` (sign it with `rb transcripts sign {shown}`)",
                        sig.display()
                    ),
                    false,
                ),
                Ok(SigCheck::Invalid(why)) => (
                    format!(
                        "BAD signature: `{}` is not a valid signature of this file by {} listed in `{}` (ssh-keygen: {why})",
                        sig.display(),
                        s.who,
                        s.allowed.display()
                    ),
                    false,
                ),
                Err(e) => {
                    print_stdout(&out);
                    return Err(e);
                }
            };
            let _ = writeln!(out, "{shown}: {line}");
            if !ok {
                code = worse(code, Code::Failed);
            }
        }
    }
    print_stdout(&out);
    Ok(code)
}

/// `rb transcripts sign FILE... [--key KEY] [--unfinished] [--force]`: each file is checked,
/// then signed as the bytes checked.
fn sign(files: &[PathBuf], key: &Path, unfinished: bool, force: bool) -> Result<Code, UserError> {
    if !key.exists() {
        return Err(
            UserError::usage(format!("the key `{}` does not exist", key.display())).hint(
                "name an existing private key, or a `.pub` file whose key is in your ssh-agent",
            ),
        );
    }
    let mut code = Code::Ok;
    for path in files {
        let shown = path.display();
        let bytes =
            std::fs::read(path).map_err(|e| UserError::io(format!("cannot read `{shown}`"), &e))?;
        let (report, problem) = check(&bytes);
        if let Some((n, why)) = problem {
            errln!("error: not signing `{shown}`: it does not verify: BAD at line {n}: {why}");
            code = worse(code, Code::Failed);
            continue;
        }
        if report.torn_tail {
            return Err(UserError::usage(format!("not signing `{shown}`: its last line is torn (a writer was killed while writing it), and the next append cuts it off"))
                .hint("sign it after the run that owns it has appended again, or after `rb resume` ends it"));
        }
        if report.ending == transcript::Ending::Unfinished && !unfinished {
            return Err(UserError::usage(format!("not signing `{shown}`: the run is unfinished (no `run_finished` at the end), and anything appended later would make the signature invalid"))
                .hint("sign it once the run has ended (`rb resume` finishes an interrupted one), or pass `--unfinished` to sign it as it is now"));
        }
        let armored = signature::sign(key, &bytes)?;
        let sig = signature::sig_path(path);
        write_sig(&sig, &armored, force)?;
        print_stdout(&format!(
            "signed {shown} with {}: {}\n",
            key.display(),
            sig.display()
        ));
    }
    Ok(code)
}

/// Writes `sig` whole or not at all: a temporary file beside it, then moved into place (never
/// over an existing one unless `force`).
fn write_sig(sig: &Path, armored: &[u8], force: bool) -> Result<(), UserError> {
    use std::io::Write as _;
    let tmp = PathBuf::from(format!("{}.tmp-{}", sig.display(), std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| f.write_all(armored).and_then(|()| f.sync_all()));
    let placed = written.and_then(|()| {
        if force {
            std::fs::rename(&tmp, sig)
        } else {
            // A hard link fails when `sig` exists: no window where another file is replaced.
            std::fs::hard_link(&tmp, sig).and_then(|()| std::fs::remove_file(&tmp))
        }
    });
    match placed {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Err(
                    UserError::usage(format!("`{}` already exists", sig.display()))
                        .hint("pass `--force` to replace it"),
                )
            } else {
                Err(UserError::io(
                    format!("cannot write `{}`", sig.display()),
                    &e,
                ))
            }
        }
    }
}
