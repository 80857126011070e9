//! `rb list` and `rb show`: what runbooks exist, and one runbook as a checklist.

use std::fmt::Write as _;
use std::path::Path;

use console::style;

use super::{Ctx, load_runbook, print_stdout};
use crate::catalog::summary::{self, Summary};
use crate::catalog::{self, Entry};
use crate::exit::{Code, UserError};
use crate::runbook::{Runbook, StepBody};

/// `rb list`: name, title and origin of every runbook; shadowed ones are marked.
pub fn list(ctx: &Ctx) -> Result<Code, UserError> {
    let width = ctx
        .catalog
        .entries
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    let mut titles = summary::Titles::load();
    for e in &ctx.catalog.entries {
        let title = titles
            .title(e, || summarize(e))
            .map(|t| style(t).to_string())
            .unwrap_or_else(|| style("(invalid: run `rb validate`)").red().to_string());
        let from = match &e.path {
            Some(p) => p.display().to_string(),
            None => e.origin.to_string(),
        };
        let shadow = if e.shadowed {
            style("  [shadowed]").dim().to_string()
        } else {
            String::new()
        };
        // Padding is computed on the plain name, so columns line up with colour on too.
        let pad = " ".repeat(width - e.name.len());
        let name = if e.shadowed {
            style(&e.name).dim()
        } else {
            style(&e.name).bold()
        };
        let _ = writeln!(out, "{name}{pad}  {title}  ({from}){shadow}");
    }
    titles.save();
    print_stdout(&out);
    Ok(Code::Ok)
}

/// The title and checklist of a catalog entry: from the summary cache when the file has not
/// changed, else by validating it (and then cached). `None` when it is not a valid runbook.
fn summarize(e: &Entry) -> Option<Summary> {
    if let Some(s) = summary::cached(e) {
        return Some(s);
    }
    let bytes = e.read().ok()?;
    let doc = crate::runbook::validate::validate(&e.display_path(), Some(&e.name), &bytes).ok()?;
    let s = Summary {
        title: doc.runbook.title.clone(),
        checklist: checklist(&doc.runbook, false),
    };
    summary::store(e, &s);
    Some(s)
}

/// `rb show NAME`: the runbook as a checklist.
pub fn show(ctx: &Ctx, name: &str) -> Result<Code, UserError> {
    let is_path = name.contains('/') || catalog::stem(Path::new(name)).is_some();
    // The cache holds the plain checklist; with colour on, it is drawn again.
    let color = console::colors_enabled();
    if !is_path
        && !color
        && let Some(s) = ctx.catalog.find(name).and_then(summary::cached)
    {
        print_stdout(&s.checklist);
        return Ok(Code::Ok);
    }
    let doc = load_runbook(ctx, name)?;
    let text = checklist(&doc.runbook, color);
    if !is_path
        && !color
        && let Some(e) = ctx.catalog.find(name)
    {
        let title = doc.runbook.title.clone();
        let checklist = text.clone();
        summary::store(e, &Summary { title, checklist });
    }
    print_stdout(&text);
    Ok(Code::Ok)
}

/// Renders a runbook as a checklist (unrendered templates are shown as written); styled when
/// colour is on for stdout (`--color`), and reading the same without it.
pub fn checklist(rb: &Runbook, color: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}",
        style(format!("{} — {}", rb.name, rb.title))
            .bold()
            .force_styling(color)
    );
    if let Some(sum) = &rb.summary {
        let _ = writeln!(s, "\n{}", sum.trim());
    }
    if !rb.requires.is_empty() {
        let _ = writeln!(s, "\nRequires: {}", rb.requires.join(", "));
    }
    if !rb.params.is_empty() {
        let _ = writeln!(s, "\nParameters:");
        for (name, p) in &rb.params {
            let default = match (&p.default, p.secret) {
                (_, true) => format!("secret, from ${}", p.env.as_deref().unwrap_or("?")),
                (Some(serde_json::Value::String(d)), _) if d.is_empty() => {
                    "optional, default empty".into()
                }
                (Some(d), _) => format!(
                    "default {}",
                    d.as_str().map_or_else(|| d.to_string(), str::to_string)
                ),
                (None, _) => "required".into(),
            };
            let _ = writeln!(s, "  {name} ({}, {default})", p.ty.as_str());
            if let Some(d) = &p.description {
                let _ = writeln!(s, "      {}", d.trim());
            }
        }
    }
    let _ = writeln!(s, "\nSteps:");
    for (i, st) in rb.steps.iter().enumerate() {
        let effect = match &st.body {
            StepBody::Command(c) if c.read_only => "command, read-only",
            StepBody::Command(_) => "command, CHANGES THE SYSTEM",
            StepBody::Watch(_) => "watch, read-only, repeats",
            StepBody::Message { .. } => "message for the incident channel",
            StepBody::Manual { .. } => "manual, done by hand",
        };
        let title = st.title.as_deref().unwrap_or(&st.id);
        let effect = if st.changes_system() {
            style(effect)
                .yellow()
                .bold()
                .force_styling(color)
                .to_string()
        } else {
            effect.to_string()
        };
        let _ = writeln!(s, "  {:>2}. [ ] {title}  ({}: {effect})", i + 1, st.id,);
        if let Some(w) = &st.when {
            let _ = writeln!(s, "        only when: {w}");
        }
        let lines: Vec<(&str, &str)> = match &st.body {
            StepBody::Command(c) => std::iter::once(("$", c.run.as_str()))
                .chain(c.rollback.as_deref().map(|r| ("undo:", r)))
                .collect(),
            StepBody::Message { text } => vec![("say:", text)],
            StepBody::Manual { instructions } => vec![("do:", instructions)],
            StepBody::Watch(w) => vec![("$", &w.run), ("until:", &w.until)],
        };
        for (label, body) in lines {
            for (j, line) in body.trim_end().lines().enumerate() {
                let lead = if j == 0 { label } else { "" };
                let _ = writeln!(s, "        {lead:<6} {line}");
            }
        }
        if let Some(c) = st.command().and_then(|c| c.confirm.as_ref()) {
            let _ = writeln!(s, "        confirm by typing: {}", c.typed);
        }
    }
    s
}
