//! Pre-flight: params bound from every source and checked, required programs found, `--from`
//! known, and a terminal present when someone must answer. Every problem is reported at once,
//! before anything runs.

use std::collections::BTreeMap;
use std::path::Path;

use crate::exec::Mode;
use crate::exec::params::{self, Inputs, SecretPrompt};
use crate::exit::UserError;
use crate::runbook::validate::Document;

/// Refuses a live run that nobody could answer.
pub fn check_terminal(mode: Mode, yes: bool, tty: bool) -> Result<(), UserError> {
    if mode == Mode::Live && !yes && !tty {
        return Err(UserError::usage("standard input is not a terminal, so nobody could answer rb's confirmations")
            .hint("run it from a terminal, or choose: --yes (unattended: confirm every step), --check (run only read-only steps), --dry-run (run nothing)"));
    }
    Ok(())
}

/// `-p key=value` items, split.
pub fn parse_kv(items: &[String]) -> Result<Vec<(String, String)>, Vec<String>> {
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

/// A `--params-file`: a YAML mapping of single values.
pub fn read_params_file(path: &Path) -> Result<BTreeMap<String, String>, Vec<String>> {
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

/// What pre-flight is given.
pub struct Given<'a, 'p> {
    pub mode: Mode,
    pub cli: &'a [(String, String)],
    pub file: &'a BTreeMap<String, String>,
    pub from: Option<&'a str>,
    /// Asks for a secret with hidden input; None when nobody can answer.
    pub prompt_secret: Option<SecretPrompt<'p>>,
    /// Problems found before (unreadable params file, bad `-p`).
    pub problems: Vec<String>,
    /// Command steps run on hosts: `requires:` is checked there, not here.
    pub remote: bool,
}

/// Binds params and checks everything that must hold before step 1: every problem at once.
/// Returns the params and the warnings a dry run tolerates.
pub fn bind_and_preflight(
    doc: &Document,
    given: Given<'_, '_>,
) -> Result<(params::Params, Vec<String>), UserError> {
    let rb = &doc.runbook;
    let env = |k: &str| std::env::var(k).ok();
    let mut problems = given.problems;
    let (params, bind_problems) = params::bind(
        rb,
        Inputs {
            cli: given.cli,
            file: given.file,
            env: &env,
            prompt_secret: match given.prompt_secret {
                Some(p) => Some(p),
                None => None,
            },
        },
    );
    problems.extend(bind_problems);
    // A dry run shows the plan even when it could not run: these are only warnings there.
    let mut soft = missing_values(doc, &params);
    if !given.remote {
        soft.extend(missing_programs(doc));
    }
    let warnings = if given.mode == Mode::DryRun {
        soft
    } else {
        problems.extend(soft);
        Vec::new()
    };
    if let Some(from) = given.from {
        problems.extend(unknown_from(doc, from));
    }
    if !problems.is_empty() {
        let mut e = UserError::usage(format!(
            "cannot start the run: {} problem(s), nothing was run",
            problems.len()
        ));
        e.details = problems;
        return Err(e);
    }
    Ok((params, warnings))
}

fn missing_values(doc: &Document, params: &params::Params) -> Vec<String> {
    params
        .missing
        .iter()
        .map(|name| {
            let p = &doc.runbook.params[name];
            let how = match (&p.env, p.secret) {
                (Some(env), true) => format!("set ${env}"),
                (Some(env), false) => format!("give `-p {name}=…` or set ${env}"),
                _ => format!("give `-p {name}=…`"),
            };
            format!("`{name}` has no value: {how}")
        })
        .collect()
}

fn missing_programs(doc: &Document) -> Option<String> {
    let missing: Vec<&str> = doc
        .runbook
        .requires
        .iter()
        .filter(|p| which::which(p).is_err())
        .map(String::as_str)
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "required program(s) not found on PATH: {}",
            missing.join(", ")
        )
    })
}

/// The step `--from` names: an id, or the number shown on screen (`[3/12]` is `--from 3`) when
/// no step has that id.
pub fn resolve_from(doc: &Document, from: &str) -> String {
    let steps = &doc.runbook.steps;
    if steps.iter().any(|s| s.id == from) {
        return from.to_string();
    }
    match from.parse::<usize>() {
        Ok(n) if (1..=steps.len()).contains(&n) => steps[n - 1].id.clone(),
        _ => from.to_string(),
    }
}

fn unknown_from(doc: &Document, from: &str) -> Option<String> {
    let steps = &doc.runbook.steps;
    if steps.iter().any(|s| s.id == from) {
        return None;
    }
    let mut msg = format!(
        "`--from {from}`: no step has that id or number (1 to {})",
        steps.len()
    );
    if let Some(s) = crate::diag::did_you_mean(from, steps.iter().map(|s| s.id.as_str())) {
        msg += &format!(" (did you mean `{s}`?)");
    }
    let ids: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{} {}", i + 1, s.id))
        .collect();
    msg += &format!("; the steps are: {}", ids.join(", "));
    Some(msg)
}
