//! Planning `rb resume`: which runbook the interrupted run used (refused if it changed, unless
//! forced), with which params and captures, and the first step that did not finish; then the run
//! continues in the same transcript through [`super::launch`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{Launch, Surroundings, TranscriptTarget, attempt, launch, preflight};
use crate::catalog::{Catalog, Origin};
use crate::exec::params;
use crate::exec::{Mode, Options, Resume};
use crate::exit::{Code, UserError};
use crate::redact::MASK;
use crate::redact::Redactor;
use crate::render::{Context, Renderer, TemplateKind};
use crate::runbook::validate::{Document, validate};
use crate::transcript::{self, Event, StepStatus, Summary};

/// What `rb resume` was asked to do.
pub struct ResumeRequest {
    pub transcript: PathBuf,
    /// Resume although the runbook changed since the run started.
    pub force: bool,
    pub yes: bool,
    pub yes_typed: bool,
    /// What to do with an attempt the killed rb left running (`--running`); unset, the operator
    /// is asked, and an unattended resume refuses.
    pub running: Option<super::attempt::Settle>,
    /// The hosts named again (a run on hosts continues on the same ones).
    pub remote: Option<crate::remote::Targets>,
}

/// How the runbook now stands against what the interrupted run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Steps that finished (same id, and the same command when they run one): not run again.
    pub done: BTreeSet<String>,
    /// Steps the transcript never saw (new since, or not reached).
    pub added: Vec<String>,
    /// Steps the transcript has that the runbook no longer has.
    pub removed: Vec<String>,
    /// Steps that finished with another command than the runbook now renders: they run again.
    pub changed: Vec<String>,
}

impl Plan {
    /// The index of the first step that will run, if any.
    pub fn first(&self, doc: &Document) -> Option<usize> {
        doc.runbook
            .steps
            .iter()
            .position(|s| !self.done.contains(&s.id))
    }
}

/// Matches the runbook's steps with the transcript's by id, and by rendered command.
pub fn plan(doc: &Document, t: &transcript::Transcript, bound: &params::Params) -> Plan {
    let mut last: BTreeMap<&str, StepStatus> = BTreeMap::new();
    let mut commands: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen: Vec<&str> = Vec::new();
    for e in t.events() {
        match e {
            Event::StepFinished { step, status, .. } => {
                last.insert(step.as_str(), *status);
            }
            Event::StepStarted { step, command, .. } => {
                if !seen.contains(&step.as_str()) {
                    seen.push(step);
                }
                if let Some(c) = command {
                    commands.insert(step.as_str(), c.as_str());
                }
            }
            _ => {}
        }
    }
    let redactor = Redactor::new(bound.secret_values(&doc.runbook));
    let ctx = context(bound, &t.captured());
    let renderer = Renderer::new();
    let mut plan = Plan::default();
    // Steps after the last one the run reached were simply not reached: not "added".
    let reached = doc
        .runbook
        .steps
        .iter()
        .rposition(|s| seen.contains(&s.id.as_str()))
        .map_or(0, |i| i + 1);
    for (i, step) in doc.runbook.steps.iter().enumerate() {
        let finished = last.get(step.id.as_str()).is_some_and(|st| st.is_done());
        let now = step.command().and_then(|c| {
            let text = renderer.render(TemplateKind::Shell, &c.run, &ctx).ok()?;
            Some(redactor.redact_str(&text))
        });
        let same = match (commands.get(step.id.as_str()), &now) {
            (Some(before), Some(now)) => before == now,
            _ => true,
        };
        if finished && same {
            plan.done.insert(step.id.clone());
        } else if finished {
            plan.changed.push(step.id.clone());
        } else if i < reached && !seen.contains(&step.id.as_str()) {
            plan.added.push(step.id.clone());
        }
    }
    plan.removed = seen
        .iter()
        .filter(|id| !doc.runbook.steps.iter().any(|s| s.id == **id))
        .map(|id| id.to_string())
        .collect();
    plan
}

/// Params and captures, as templates see them.
fn context(bound: &params::Params, captures: &BTreeMap<String, String>) -> Context {
    let mut ctx = Context::new();
    for (name, v) in &bound.values {
        ctx.insert(name.clone(), v.to_value());
    }
    for (name, v) in captures {
        ctx.insert(name.clone(), minijinja::Value::from(v.clone()));
    }
    ctx
}

/// The run recorded in a transcript, as far as resuming needs it.
struct Recorded {
    run_id: Option<String>,
    runbook: String,
    source: String,
    sha256: String,
    params: BTreeMap<String, String>,
}

/// Reads the transcript and refuses what cannot be resumed.
fn recorded(t: &transcript::Transcript, shown: &str) -> Result<Recorded, UserError> {
    let summary = Summary::of(t);
    let (Some(runbook), Some(source), Some(sha256), Some(mode)) = (
        summary.runbook.clone(),
        summary.source.clone(),
        summary.runbook_sha256.clone(),
        summary.mode,
    ) else {
        return Err(UserError::usage(format!(
            "`{shown}` does not start with a `run_started` line"
        )));
    };
    if mode != Mode::Live {
        return Err(UserError::usage(format!(
            "`{shown}` records a {mode} run; only live runs are resumed"
        ))
        .hint(format!("start a new run: `rb run {runbook}`")));
    }
    if summary.outcome == Some(transcript::RunOutcome::Finished) {
        return Err(UserError::usage(format!(
            "the run in `{shown}` finished; there is nothing to resume"
        )));
    }
    let params = match t.run_started().map(|l| &l.event) {
        Some(Event::RunStarted { params, .. }) => params.clone(),
        _ => BTreeMap::new(),
    };
    Ok(Recorded {
        run_id: summary.run_id.clone(),
        runbook,
        source,
        sha256,
        params,
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

/// The note that opens the resumed part of the record; a forced resume says what changed, on
/// screen too.
fn resume_note(
    doc: &Document,
    first: Option<usize>,
    changed: Option<&Plan>,
    op: &mut dyn crate::exec::operator::Operator,
) -> String {
    let mut note = match first {
        Some(i) => format!(
            "run resumed at step `{}` with `rb resume`",
            doc.runbook.steps[i].id
        ),
        None => "run resumed with `rb resume`: no step is left to run".to_string(),
    };
    if let Some(plan) = changed {
        let what = plan_changes(plan);
        op.say(
            crate::exec::operator::Tone::Warning,
            &format!("the runbook changed since the run started (--force): {what}"),
        );
        note += &format!(" (--force: the runbook changed since the run started: {what})");
    }
    note
}

/// Continues an interrupted run. Returns its exit code.
pub fn resume(
    catalog: &Catalog,
    req: ResumeRequest,
    s: Surroundings<'_>,
) -> Result<Code, UserError> {
    let shown = req.transcript.display().to_string();
    // First: a run that is still going must not be continued beside itself.
    let lock = super::take_lock(&req.transcript)?;
    let t = transcript::read(&req.transcript)
        .map_err(|e| UserError::io(format!("cannot read `{shown}`"), &e))?;
    let rec = recorded(&t, &shown)?;
    // A run on hosts continues on the same hosts, each where it stopped.
    let on_hosts = t.lines.iter().any(|l| {
        matches!(&l.event, Event::Note { by: crate::domain::Actor::Rb, text, .. }
            if text.starts_with(crate::remote::Targets::NOTE_START))
    });
    let targets = super::resume_hosts::recorded_targets(&t);
    super::resume_hosts::check_targets(&targets, on_hosts, req.remote.as_ref(), &shown)?;
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
            remote: req.remote.is_some(),
        },
    )?;
    let mut plan = plan(&doc, &t, &bound);
    // Last, once nothing else refuses: an attempt the killed rb left running is settled (never
    // run beside), and what was decided is recorded first when the run continues.
    let settled = match rec.run_id.as_deref().and_then(|id| attempt::find(&t, id)) {
        Some(r) => attempt::settle(
            &r,
            req.running,
            req.yes || req.yes_typed,
            s.operator,
            &shown,
        )?,
        None => attempt::Settled::default(),
    };
    plan.done.extend(settled.done.clone());
    let first = plan.first(&doc);
    if first.is_none() && settled.events.is_empty() {
        return Err(UserError::usage(format!(
            "every step in `{shown}` is done; there is nothing to resume"
        )));
    }
    let note = resume_note(&doc, first, changed.then_some(&plan), s.operator);
    let hosts = super::resume_hosts::progress(&t, &plan.done);
    let remote = match req.remote {
        Some(targets) => Some(super::remote_preflight(&doc, targets, Mode::Live)?),
        None => None,
    };
    launch(Launch {
        doc: &doc,
        params: &bound,
        warnings,
        opts: Options {
            mode: Mode::Live,
            yes: req.yes || req.yes_typed,
            yes_typed: req.yes_typed,
            from: None,
            update_every: None,
        },
        operator: s.operator,
        notes: Vec::new(),
        remote,
        on_problem: s.on_problem,
        on_stopping: s.on_stopping,
        target: TranscriptTarget::Append(req.transcript),
        lock,
        resume: Some(Resume {
            run_id: rec.run_id.clone(),
            done: plan.done,
            captures: t.captured(),
            note: Some(note),
            settled: settled.events,
            host_captures: t.captured_on_hosts(),
            done_on: hosts.done_on,
            left: hosts.left,
        }),
    })
}

/// `added: a; removed: b; changed (runs again): c`, or `no step added, removed or changed`.
fn plan_changes(plan: &Plan) -> String {
    let parts: Vec<String> = [
        ("added", &plan.added),
        ("removed", &plan.removed),
        ("changed (runs again)", &plan.changed),
    ]
    .into_iter()
    .filter(|(_, ids)| !ids.is_empty())
    .map(|(what, ids)| format!("{what}: {}", ids.join(", ")))
    .collect();
    if parts.is_empty() {
        "no step added, removed or changed".to_string()
    } else {
        parts.join("; ")
    }
}
