//! `rb run`: bind params, pre-flight, then hand the runbook to the executor.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use super::Ctx;
use super::terminal::TerminalOperator;
use crate::exec::operator::Operator;
use crate::exec::operator::Tone;
use crate::exec::params::{self, Inputs};
use crate::exec::runner::ProcessRunner;
use crate::exec::{Executor, Mode, Options, Resume};
use crate::exit::{Code, UserError};
use crate::redact::Redactor;
use crate::runbook::validate::Document;
use crate::transcript::{self, Event, Recorder};

/// What `rb run` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Runbook name (or path to a runbook file).
    #[arg(add = super::completions::runbook_names())]
    pub name: String,
    /// Set a param: `-p mount=/var` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Read params from a YAML file of `key: value` lines.
    #[arg(long, value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// Run nothing: print every step fully rendered.
    #[arg(long, conflicts_with = "check")]
    pub dry_run: bool,
    /// Run read-only steps for real; preview the others.
    #[arg(long)]
    pub check: bool,
    /// Answer "run" to every confirmation (unattended runs).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also pass typed confirmations of destructive steps (implies --yes).
    #[arg(long)]
    pub yes_typed: bool,
    /// Start at this step; earlier steps are recorded as skipped.
    #[arg(long, value_name = "STEP")]
    pub from: Option<String>,
    /// Write the transcript here (default: a new file in the configured `transcript_dir`, else
    /// under $XDG_STATE_HOME/rb/transcripts).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,
    /// Who runs this (recorded in the transcript; default $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
}

fn parse_kv(items: &[String]) -> Result<Vec<(String, String)>, Vec<String>> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => out.push((k.trim().to_string(), v.to_string())),
            _ => bad.push(format!("`-p {item}` is not KEY=VALUE")),
        }
    }
    if bad.is_empty() { Ok(out) } else { Err(bad) }
}

fn read_params_file(path: &std::path::Path) -> Result<BTreeMap<String, String>, Vec<String>> {
    let display = path.display().to_string();
    let bytes = crate::catalog::read_limited(path)
        .map_err(|e| vec![format!("cannot read `{display}`: {e}")])?;
    let (value, _) = crate::runbook::load::load(&display, &bytes)
        .map_err(|d| d.iter().map(|d| d.headline()).collect::<Vec<_>>())?;
    let obj = value
        .as_object()
        .ok_or_else(|| vec![format!("`{display}` must be a mapping of `key: value`")])?;
    let mut out = BTreeMap::new();
    let mut bad = Vec::new();
    for (k, v) in obj {
        match v {
            serde_json::Value::String(s) => {
                out.insert(k.clone(), s.clone());
            }
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                out.insert(k.clone(), v.to_string());
            }
            _ => bad.push(format!("`{display}`: `{k}` must be a single value")),
        }
    }
    if bad.is_empty() { Ok(out) } else { Err(bad) }
}

/// Everything pre-flight found wrong, as one error.
fn preflight_error(problems: Vec<String>) -> UserError {
    let mut e = UserError::usage(format!(
        "cannot start the run: {} problem(s), nothing was run",
        problems.len()
    ));
    e.details = problems;
    e
}

/// Refuses a live run that nobody could answer.
pub(super) fn check_terminal(mode: Mode, yes: bool, tty: bool) -> Result<(), UserError> {
    if mode == Mode::Live && !yes && !tty {
        return Err(UserError::usage("standard input is not a terminal, so nobody could answer rb's confirmations")
            .hint("run it from a terminal, or choose: --yes (unattended: confirm every step), --check (run only read-only steps), --dry-run (run nothing)"));
    }
    Ok(())
}

/// Binds params and checks everything that must hold before step 1: every problem at once.
/// Returns the params and the warnings a dry run tolerates.
pub(super) fn bind_and_preflight(
    doc: &Document,
    mode: Mode,
    tty: bool,
    cli: &[(String, String)],
    file: &BTreeMap<String, String>,
    from: Option<&str>,
    mut problems: Vec<String>,
) -> Result<(params::Params, Vec<String>), UserError> {
    let rb = &doc.runbook;
    let env = |k: &str| std::env::var(k).ok();
    let mut ask_secret = |name: &str| -> Option<String> {
        dialoguer::Password::new()
            .with_prompt(format!("secret `{name}`"))
            .interact()
            .ok()
    };
    let prompt: Option<params::SecretPrompt<'_>> = if tty && mode == Mode::Live {
        Some(&mut ask_secret)
    } else {
        None
    };
    let (params, bind_problems) = params::bind(
        rb,
        Inputs {
            cli,
            file,
            env: &env,
            prompt_secret: prompt,
        },
    );
    problems.extend(bind_problems);
    let mut warnings = Vec::new();
    let mut report = |msg: String| {
        if mode == Mode::DryRun {
            warnings.push(msg)
        } else {
            problems.push(msg)
        }
    };
    for name in &params.missing {
        let p = &rb.params[name];
        let how = match (&p.env, p.secret) {
            (Some(env), true) => format!("set ${env}"),
            (Some(env), false) => format!("give `-p {name}=…` or set ${env}"),
            _ => format!("give `-p {name}=…`"),
        };
        report(format!("`{name}` has no value: {how}"));
    }
    let missing: Vec<&str> = rb
        .requires
        .iter()
        .filter(|p| which::which(p).is_err())
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        report(format!(
            "required program(s) not found on PATH: {}",
            missing.join(", ")
        ));
    }
    if let Some(from) = from
        && !rb.steps.iter().any(|s| s.id == from)
    {
        let mut msg = format!("`--from {from}`: no step has that id");
        if let Some(s) = crate::diag::did_you_mean(from, rb.steps.iter().map(|s| s.id.as_str())) {
            msg += &format!(" (did you mean `{s}`?)");
        }
        problems.push(msg);
    }
    if !problems.is_empty() {
        return Err(preflight_error(problems));
    }
    Ok((params, warnings))
}

/// Where a run's events go.
pub(super) enum TranscriptTarget {
    /// A new transcript (at this path, or a new file in the default folder).
    New(Option<PathBuf>),
    /// Continue an existing one (`rb resume`).
    Append(PathBuf),
}

/// Everything needed to start the step loop.
pub(super) struct Launch<'a> {
    pub doc: &'a Document,
    pub params: &'a params::Params,
    pub warnings: Vec<String>,
    pub opts: Options,
    pub operator: Option<String>,
    pub tty: bool,
    pub target: TranscriptTarget,
    pub resume: Option<Resume>,
}

/// Opens the transcript, runs the steps, closes the transcript; returns the exit code.
pub(super) fn launch(l: Launch<'_>) -> Result<Code, UserError> {
    let operator = l
        .operator
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let mut op = TerminalOperator::new(operator, l.tty);
    for w in &l.warnings {
        op.say(Tone::Warning, w);
    }
    // Created before anything runs: from here on Ctrl-C belongs to rb (see `ProcessRunner::new`).
    let mut runner = ProcessRunner::new()
        .map_err(|e| UserError::usage(format!("cannot set up process handling: {e}")))?;
    let redactor = Redactor::new(l.params.secret_values(&l.doc.runbook));
    let on_problem: transcript::ProblemSink =
        Box::new(|msg: &str| eprintln!("rb: transcript: {msg}"));
    let mut recorder = match &l.target {
        TranscriptTarget::New(path) => {
            let run_id = transcript::new_run_id()
                .map_err(|e| UserError::usage(format!("cannot make a run id: {e}")))?;
            let now = jiff::Timestamp::now();
            let path = path.clone().unwrap_or_else(|| {
                super::config::transcript_dir().join(transcript::file_name(
                    now,
                    &l.doc.runbook.name,
                    &run_id,
                ))
            });
            let mut rec = Recorder::create(&path, redactor, on_problem);
            rec.record(run_started(
                l.doc,
                l.params,
                l.opts.mode,
                run_id,
                op.name(),
                now,
            ));
            rec
        }
        TranscriptTarget::Append(path) => Recorder::append(path, redactor, on_problem),
    };
    eprintln!("transcript: {}", recorder.path().display());
    let header = match (l.opts.mode, &l.resume) {
        (_, Some(r)) => format!(
            "Resuming `{}` ({}) at step {} of {}.",
            l.doc.runbook.name,
            l.doc.source.name,
            r.start + 1,
            l.doc.runbook.steps.len()
        ),
        (Mode::DryRun, _) => format!(
            "Dry run of `{}` ({}): nothing will be executed.",
            l.doc.runbook.name, l.doc.source.name
        ),
        (Mode::Check, _) => format!(
            "Check of `{}` ({}): read-only steps run, changes are previewed.",
            l.doc.runbook.name, l.doc.source.name
        ),
        (Mode::Live, _) => format!("Running `{}` ({}).", l.doc.runbook.name, l.doc.source.name),
    };
    op.say(Tone::Info, &header);
    let masked = l.params.masked(&l.doc.runbook);
    if !masked.is_empty() {
        let list: Vec<String> = masked.iter().map(|(k, v)| format!("{k}={v}")).collect();
        op.say(Tone::Info, &format!("params: {}", list.join(" ")));
    }
    let mut exec = Executor::new(l.doc, l.params, l.opts, &mut op, &mut runner, &mut recorder);
    if let Some(r) = l.resume {
        exec = exec.resuming(r);
    }
    let outcome = exec.run();
    let closed = recorder.close();
    for event in &closed.unwritten {
        // Nowhere on disk would take them: stderr is the last place they can survive.
        eprintln!(
            "unwritten transcript event: {}",
            serde_json::to_string(event).unwrap_or_default()
        );
    }
    eprintln!("transcript: {}", closed.path.display());
    Ok(outcome.exit_code())
}

/// The first line of a transcript.
fn run_started(
    doc: &Document,
    params: &params::Params,
    mode: Mode,
    run_id: String,
    operator: String,
    now: jiff::Timestamp,
) -> Event {
    // An absolute path, so `rb resume` finds the file from any folder.
    let source = std::fs::canonicalize(&doc.source.name)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| doc.source.name.clone());
    Event::RunStarted {
        schema_version: transcript::SCHEMA_VERSION,
        run_id,
        runbook: doc.runbook.name.clone(),
        source,
        sha256: doc.sha256.clone(),
        mode: mode.event(),
        params: params.masked(&doc.runbook),
        operator,
        host: hostname(),
        rb_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: transcript::line::format_ts(now),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs `rb run`.
pub fn run(ctx: &Ctx, args: RunArgs) -> Result<Code, UserError> {
    let mode = if args.dry_run {
        Mode::DryRun
    } else if args.check {
        Mode::Check
    } else {
        Mode::Live
    };
    let yes = args.yes || args.yes_typed;
    let tty = std::io::stdin().is_terminal();
    check_terminal(mode, yes, tty)?;
    let doc = super::load_runbook(ctx, &args.name)?;
    let mut problems = Vec::new();
    let cli = parse_kv(&args.params).unwrap_or_else(|e| {
        problems.extend(e);
        Vec::new()
    });
    let file = match &args.params_file {
        Some(p) => read_params_file(p).unwrap_or_else(|e| {
            problems.extend(e);
            BTreeMap::new()
        }),
        None => BTreeMap::new(),
    };
    let (params, warnings) =
        bind_and_preflight(&doc, mode, tty, &cli, &file, args.from.as_deref(), problems)?;
    launch(Launch {
        doc: &doc,
        params: &params,
        warnings,
        opts: Options {
            mode,
            yes,
            yes_typed: args.yes_typed,
            from: args.from.clone(),
        },
        operator: args.operator.clone(),
        tty,
        target: TranscriptTarget::New(args.transcript.clone()),
        resume: None,
    })
}
