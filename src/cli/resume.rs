//! `rb resume`: continue an interrupted run from its transcript.
//!
//! The transcript says which runbook (and its SHA-256), with which params, which captures were
//! made and how far the run got. The run continues at the first step that did not finish, in
//! the same transcript. A runbook that changed since is refused unless `--force`: the steps
//! already done were reviewed against the old text.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::Ctx;
use super::run::{Launch, TranscriptTarget, bind_and_preflight, check_terminal, launch};
use crate::catalog::Origin;
use crate::exec::{Mode, Options, Resume};
use crate::exit::{Code, UserError};
use crate::redact::MASK;
use crate::runbook::validate::{Document, validate};
use crate::transcript::{self, Event, StepStatus};

/// What `rb resume` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct ResumeArgs {
    /// The transcript of the interrupted run.
    pub transcript: PathBuf,
    /// Resume even though the runbook file changed since the run started.
    #[arg(long)]
    pub force: bool,
    /// Answer "run" to every confirmation (unattended).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also pass typed confirmations (implies --yes).
    #[arg(long)]
    pub yes_typed: bool,
    /// Who continues the run (default $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
}

/// Statuses after which a step counts as done and is not run again.
fn is_done(status: StepStatus) -> bool {
    matches!(
        status,
        StepStatus::Succeeded | StepStatus::Skipped | StepStatus::RolledBack
    )
}

/// The index of the first step that did not finish, by each step's last recorded status.
pub fn first_unfinished(doc: &Document, t: &transcript::Transcript) -> usize {
    let mut last: BTreeMap<&str, StepStatus> = BTreeMap::new();
    for e in t.events() {
        if let Event::StepFinished { step, status, .. } = e {
            last.insert(step.as_str(), *status);
        }
    }
    doc.runbook
        .steps
        .iter()
        .position(|s| !last.get(s.id.as_str()).is_some_and(|st| is_done(*st)))
        .unwrap_or(doc.runbook.steps.len())
}

fn load_source(ctx: &Ctx, runbook: &str, source: &str) -> Result<(String, Vec<u8>), UserError> {
    if source.starts_with("<built-in>/") {
        let entry = ctx
            .catalog
            .entries
            .iter()
            .find(|e| e.origin == Origin::Builtin && e.name == runbook)
            .ok_or_else(|| {
                UserError::usage(format!("this rb has no built-in runbook `{runbook}`"))
            })?;
        let bytes = entry
            .read()
            .map_err(|e| UserError::usage(format!("cannot read `{source}`: {e}")))?;
        return Ok((entry.display_path(), bytes));
    }
    let bytes = crate::catalog::read_limited(Path::new(source)).map_err(|e| {
        UserError::usage(format!(
            "cannot read the runbook `{source}` the run used: {e}"
        ))
    })?;
    Ok((source.to_string(), bytes))
}

/// Runs `rb resume`.
pub fn resume(ctx: &Ctx, args: ResumeArgs) -> Result<Code, UserError> {
    let yes = args.yes || args.yes_typed;
    let tty = std::io::stdin().is_terminal();
    check_terminal(Mode::Live, yes, tty)?;
    let shown = args.transcript.display().to_string();
    let t = transcript::read(&args.transcript)
        .map_err(|e| UserError::usage(format!("cannot read `{shown}`: {e}")))?;
    let Some(Event::RunStarted {
        runbook,
        source,
        sha256,
        mode,
        params,
        ..
    }) = t.run_started().map(|l| &l.event)
    else {
        return Err(UserError::usage(format!(
            "`{shown}` does not start with a `run_started` line"
        )));
    };
    if *mode != transcript::Mode::Live {
        return Err(UserError::usage(format!(
            "`{shown}` records a {mode} run; only live runs are resumed"
        ))
        .hint(format!("start a new run: `rb run {runbook}`")));
    }
    if let Some(Event::RunFinished {
        outcome: transcript::RunOutcome::Finished,
        ..
    }) = t.run_finished().map(|l| &l.event)
    {
        return Err(UserError::usage(format!(
            "the run in `{shown}` finished; there is nothing to resume"
        )));
    }
    let (display, bytes) = load_source(ctx, runbook, source)?;
    let stem = crate::catalog::stem(Path::new(&display)).map(str::to_string);
    let doc = validate(&display, stem.as_deref(), &bytes).map_err(|d| {
        UserError::usage(format!(
            "the runbook `{display}` is no longer valid ({} problem(s))",
            d.len()
        ))
        .hint(format!("see `rb validate {display}`"))
    })?;
    let changed = doc.sha256 != *sha256;
    if changed && !args.force {
        return Err(UserError::usage(format!("`{display}` changed since the run started (SHA-256 differs)"))
            .hint("the steps already done were run from the old text; check the change, then resume with --force"));
    }
    let start = first_unfinished(&doc, &t);
    if start >= doc.runbook.steps.len() {
        return Err(UserError::usage(format!(
            "every step in `{shown}` is done; there is nothing to resume"
        )));
    }
    // Recorded params, except masked secrets: those come from the environment again.
    let cli: Vec<(String, String)> = params
        .iter()
        .filter(|(k, v)| *v != MASK || !doc.runbook.params.get(*k).is_some_and(|p| p.secret))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (bound, warnings) = bind_and_preflight(
        &doc,
        Mode::Live,
        tty,
        &cli,
        &BTreeMap::new(),
        None,
        Vec::new(),
    )?;
    let note = Some(format!(
        "run resumed at step `{}` with `rb resume`{}",
        doc.runbook.steps[start].id,
        if changed {
            " (--force: the runbook changed since the run started)"
        } else {
            ""
        }
    ));
    let resume = Resume {
        start,
        captures: t.captured(),
        note,
    };
    launch(Launch {
        doc: &doc,
        params: &bound,
        warnings,
        opts: Options {
            mode: Mode::Live,
            yes,
            yes_typed: args.yes_typed,
            from: None,
        },
        operator: args.operator,
        tty,
        target: TranscriptTarget::Append(args.transcript.clone()),
        resume: Some(resume),
    })
}
