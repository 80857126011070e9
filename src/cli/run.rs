//! `rb run`: bind params, pre-flight, then hand the runbook to the executor.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use super::Ctx;
use super::terminal::TerminalOperator;
use crate::exec::operator::Operator;
use crate::exec::params::{self, Inputs};
use crate::exec::runner::ProcessRunner;
use crate::exec::{Executor, Journal, Mode, Options};
use crate::exit::{Code, UserError};
use crate::redact::Redactor;
use crate::runbook::validate::Document;
use crate::transcript::{self, Event, Recorder};

/// What `rb run` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Runbook name (or path to a runbook file).
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
    /// Write the transcript here (default: a new file under $XDG_STATE_HOME/rb/transcripts).
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
    if mode == Mode::Live && !yes && !tty {
        return Err(UserError::usage("standard input is not a terminal, so nobody could answer rb's confirmations")
            .hint("run it from a terminal, or choose: --yes (unattended: confirm every step), --check (run only read-only steps), --dry-run (run nothing)"));
    }
    let doc = super::load_runbook(ctx, &args.name)?;
    let rb = &doc.runbook;

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
            cli: &cli,
            file: &file,
            env: &env,
            prompt_secret: prompt,
        },
    );
    problems.extend(bind_problems);
    let mut warnings = Vec::new();
    for name in &params.missing {
        let p = &rb.params[name];
        let how = match (&p.env, p.secret) {
            (Some(env), true) => format!("set ${env}"),
            (Some(env), false) => format!("give `-p {name}=…` or set ${env}"),
            _ => format!("give `-p {name}=…`"),
        };
        let msg = format!("`{name}` has no value: {how}");
        if mode == Mode::DryRun {
            warnings.push(msg)
        } else {
            problems.push(msg)
        }
    }
    if let Some(from) = &args.from
        && !rb.steps.iter().any(|s| &s.id == from)
    {
        let mut msg = format!("`--from {from}`: no step has that id");
        if let Some(s) = crate::diag::did_you_mean(from, rb.steps.iter().map(|s| s.id.as_str())) {
            msg += &format!(" (did you mean `{s}`?)");
        }
        problems.push(msg);
    }
    let missing: Vec<&str> = rb
        .requires
        .iter()
        .filter(|p| which::which(p).is_err())
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let msg = format!(
            "required program(s) not found on PATH: {}",
            missing.join(", ")
        );
        if mode == Mode::DryRun {
            warnings.push(msg)
        } else {
            problems.push(msg)
        }
    }
    if !problems.is_empty() {
        return Err(preflight_error(problems));
    }
    let operator_name = args
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let mut op = TerminalOperator::new(operator_name, tty);
    for w in &warnings {
        crate::exec::operator::Operator::say(&mut op, crate::exec::operator::Tone::Warning, w);
    }
    let mut runner = ProcessRunner::new()
        .map_err(|e| UserError::usage(format!("cannot set up process handling: {e}")))?;
    let mut recorder = open_transcript(&doc, &params, mode, &args, op.name())?;
    eprintln!("transcript: {}", recorder.path().display());
    let outcome = execute(
        &doc,
        &params,
        mode,
        &args,
        yes,
        &mut op,
        &mut runner,
        &mut recorder,
    );
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

/// Creates the transcript and records the run's first line.
fn open_transcript(
    doc: &Document,
    params: &params::Params,
    mode: Mode,
    args: &RunArgs,
    operator: String,
) -> Result<Recorder, UserError> {
    let run_id = transcript::new_run_id()
        .map_err(|e| UserError::usage(format!("cannot make a run id: {e}")))?;
    let now = jiff::Timestamp::now();
    let path = match &args.transcript {
        Some(p) => p.clone(),
        None => {
            transcript::default_dir().join(transcript::file_name(now, &doc.runbook.name, &run_id))
        }
    };
    let redactor = Redactor::new(params.secret_values(&doc.runbook));
    let on_problem: transcript::ProblemSink =
        Box::new(|msg: &str| eprintln!("rb: transcript: {msg}"));
    let mut rec = Recorder::create(&path, redactor, on_problem);
    rec.record(Event::RunStarted {
        schema_version: transcript::SCHEMA_VERSION,
        run_id,
        runbook: doc.runbook.name.clone(),
        source: doc.source.name.clone(),
        sha256: doc.sha256.clone(),
        mode: mode.event(),
        params: params.masked(&doc.runbook),
        operator,
        host: hostname(),
        rb_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: transcript::line::format_ts(now),
    });
    Ok(rec)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

#[allow(clippy::too_many_arguments)]
fn execute(
    doc: &Document,
    params: &params::Params,
    mode: Mode,
    args: &RunArgs,
    yes: bool,
    op: &mut TerminalOperator,
    runner: &mut ProcessRunner,
    journal: &mut dyn Journal,
) -> crate::exec::RunOutcome {
    let opts = Options {
        mode,
        yes,
        yes_typed: args.yes_typed,
        from: args.from.clone(),
    };
    let header = match mode {
        Mode::DryRun => format!(
            "Dry run of `{}` ({}): nothing will be executed.",
            doc.runbook.name, doc.source.name
        ),
        Mode::Check => format!(
            "Check of `{}` ({}): read-only steps run, changes are previewed.",
            doc.runbook.name, doc.source.name
        ),
        Mode::Live => format!("Running `{}` ({}).", doc.runbook.name, doc.source.name),
    };
    crate::exec::operator::Operator::say(op, crate::exec::operator::Tone::Info, &header);
    let masked = params.masked(&doc.runbook);
    if !masked.is_empty() {
        let list: Vec<String> = masked.iter().map(|(k, v)| format!("{k}={v}")).collect();
        crate::exec::operator::Operator::say(
            op,
            crate::exec::operator::Tone::Info,
            &format!("params: {}", list.join(" ")),
        );
    }
    Executor::new(doc, params, opts, op, runner, journal).run()
}
