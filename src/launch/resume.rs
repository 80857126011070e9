//! Planning `rb resume`: which runbook the interrupted run used (refused if it changed, unless
//! forced), with which params and captures, and the first step that did not finish; then the run
//! continues in the same transcript through [`super::launch`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Launch, Surroundings, TranscriptTarget, launch, preflight};
use crate::catalog::{Catalog, Origin};
use crate::exec::{Mode, Options, Resume};
use crate::exit::{Code, UserError};
use crate::redact::MASK;
use crate::runbook::validate::{Document, validate};
use crate::transcript::{self, Event, StepStatus};

/// What `rb resume` was asked to do.
pub struct ResumeRequest {
    pub transcript: PathBuf,
    /// Resume although the runbook changed since the run started.
    pub force: bool,
    pub yes: bool,
    pub yes_typed: bool,
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
        .position(|s| !last.get(s.id.as_str()).is_some_and(|st| st.is_done()))
        .unwrap_or(doc.runbook.steps.len())
}

/// The run recorded in a transcript, as far as resuming needs it.
struct Recorded {
    runbook: String,
    source: String,
    sha256: String,
    params: BTreeMap<String, String>,
}

/// Reads the transcript and refuses what cannot be resumed.
fn recorded(t: &transcript::Transcript, shown: &str) -> Result<Recorded, UserError> {
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
    if *mode != Mode::Live {
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
    Ok(Recorded {
        runbook: runbook.clone(),
        source: source.clone(),
        sha256: sha256.clone(),
        params: params.clone(),
    })
}

/// The runbook's bytes, from the recorded source (a path, or one built into rb).
fn load_source(
    catalog: &Catalog,
    runbook: &str,
    source: &str,
) -> Result<(String, Vec<u8>), UserError> {
    if source.starts_with("<built-in>/") {
        let entry = catalog
            .entries
            .iter()
            .find(|e| e.origin == Origin::Builtin && e.name == runbook)
            .ok_or_else(|| {
                UserError::usage(format!("this rb has no built-in runbook `{runbook}`"))
            })?;
        let bytes = entry
            .read()
            .map_err(|e| UserError::io(format!("cannot read `{source}`"), &e))?;
        return Ok((entry.display_path(), bytes));
    }
    let bytes = crate::catalog::read_limited(Path::new(source)).map_err(|e| {
        UserError::io(
            format!("cannot read the runbook `{source}` the run used"),
            &e,
        )
    })?;
    Ok((source.to_string(), bytes))
}

/// Continues an interrupted run. Returns its exit code.
pub fn resume(
    catalog: &Catalog,
    req: ResumeRequest,
    s: Surroundings<'_>,
) -> Result<Code, UserError> {
    let shown = req.transcript.display().to_string();
    let t = transcript::read(&req.transcript)
        .map_err(|e| UserError::io(format!("cannot read `{shown}`"), &e))?;
    let rec = recorded(&t, &shown)?;
    let (display, bytes) = load_source(catalog, &rec.runbook, &rec.source)?;
    let stem = crate::catalog::stem(Path::new(&display)).map(str::to_string);
    let doc = validate(&display, stem.as_deref(), &bytes).map_err(|d| {
        UserError::usage(format!(
            "the runbook `{display}` is no longer valid ({} problem(s))",
            d.len()
        ))
        .hint(format!("see `rb validate {display}`"))
    })?;
    let changed = doc.sha256 != rec.sha256;
    if changed && !req.force {
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
    let cli: Vec<(String, String)> = rec
        .params
        .iter()
        .filter(|(k, v)| *v != MASK || !doc.runbook.params.get(*k).is_some_and(|p| p.secret))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (bound, warnings) = preflight::bind_and_preflight(
        &doc,
        preflight::Given {
            mode: Mode::Live,
            cli: &cli,
            file: &BTreeMap::new(),
            from: None,
            prompt_secret: s.prompt_secret,
            problems: Vec::new(),
        },
    )?;
    let note = format!(
        "run resumed at step `{}` with `rb resume`{}",
        doc.runbook.steps[start].id,
        if changed {
            " (--force: the runbook changed since the run started)"
        } else {
            ""
        }
    );
    launch(Launch {
        doc: &doc,
        params: &bound,
        warnings,
        opts: Options {
            mode: Mode::Live,
            yes: req.yes || req.yes_typed,
            yes_typed: req.yes_typed,
            from: None,
        },
        operator: s.operator,
        notes: Vec::new(),
        on_problem: s.on_problem,
        target: TranscriptTarget::Append(req.transcript),
        resume: Some(Resume {
            start,
            captures: t.captured(),
            note: Some(note),
        }),
    })
}
