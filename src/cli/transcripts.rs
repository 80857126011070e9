//! `rb transcripts [list]` and `rb transcripts verify`: what runs were recorded, and whether a
//! transcript is intact.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

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
        Some(Action::Verify { files }) => verify(&files),
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

/// Checks a transcript as `rb transcripts verify` does (`bytes` are the file's): the hash chain,
/// `seq` and the first line, then every complete line against the schema. Returns the report and
/// the first bad line with why, if any.
pub(crate) fn check(
    path: &Path,
    bytes: &[u8],
) -> std::io::Result<(transcript::VerifyReport, Option<(u64, String)>)> {
    let report = transcript::verify(path)?;
    let problem = match &report.problem {
        Some(p) => Some((p.line, p.detail.clone())),
        None => crate::transcript::schema::validate_first_lines(bytes, report.lines)
            .err()
            .map(|(n, why)| (n, format!("does not match the transcript schema: {why}"))),
    };
    Ok((report, problem))
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

/// `rb transcripts verify FILE...`.
fn verify(files: &[PathBuf]) -> Result<Code, UserError> {
    let mut code = Code::Ok;
    let mut out = String::new();
    for path in files {
        let shown = path.display();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                errln!("error: cannot read `{shown}`: {e}");
                code = Code::Usage;
                continue;
            }
        };
        let (report, problem) = match check(path, &bytes) {
            Ok(r) => r,
            Err(e) => {
                errln!("error: cannot read `{shown}`: {e}");
                code = Code::Usage;
                continue;
            }
        };
        match problem {
            Some((n, why)) => {
                let _ = writeln!(out, "{shown}: BAD at line {n}: {why}");
                if code == Code::Ok {
                    code = Code::Failed;
                }
            }
            None => {
                let ending = ending_words(report.ending, report.lines);
                let _ = writeln!(out, "{shown}: OK ({} lines), {ending}", report.lines);
                if report.torn_tail {
                    let _ = writeln!(
                        out,
                        "{shown}: warning: the last line is torn (rb was killed while writing it); it is left out, and the next append cuts it off"
                    );
                }
            }
        }
    }
    print_stdout(&out);
    Ok(code)
}
