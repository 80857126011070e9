//! Semantic checks: what the schema cannot express but a reviewer of a runbook pull request
//! would catch. Every check reports with the place of the offending node; all are run, so an
//! author sees every problem of a file at once.

mod params;
mod steps;

use super::format::{self, fields_of};
use super::load::{ScalarForm, SourceMap};
use super::model::{Runbook, StepKind};
use crate::diag::{DiagCode, Diagnostic, Span};
use crate::render::Renderer;

/// Names the executor provides inside a watch step's `until`.
pub const WATCH_VARIABLES: &[&str] = &["output", "exit_code"];

struct Checker<'a> {
    file: &'a str,
    map: &'a SourceMap,
    renderer: Renderer,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn at(&mut self, pointer: &str, code: DiagCode, msg: impl Into<String>) -> &mut Diagnostic {
        self.out.push(
            Diagnostic::error(self.file, self.map.span(pointer), code, msg).at_pointer(pointer),
        );
        self.out.last_mut().expect("just pushed")
    }

    fn at_key(&mut self, pointer: &str, code: DiagCode, msg: impl Into<String>) -> &mut Diagnostic {
        self.out.push(
            Diagnostic::error(self.file, self.map.key_span(pointer), code, msg).at_pointer(pointer),
        );
        self.out.last_mut().expect("just pushed")
    }

    /// The place of line `line` (1-based) of a template stored at `pointer`.
    fn template_line(&self, pointer: &str, line: Option<usize>) -> Option<Span> {
        let info = self.map.value(pointer)?;
        let line = line.unwrap_or(1).max(1);
        Some(match info.form {
            // The span of a block scalar starts at its first content line.
            ScalarForm::Block => Span::new(info.span.line + line - 1, info.span.column, 1),
            _ if line == 1 => info.span,
            _ => Span::new(info.span.line + line - 1, 1, 1),
        })
    }
}

/// Runs every semantic check.
pub fn check(file: &str, stem: Option<&str>, rb: &Runbook, map: &SourceMap) -> Vec<Diagnostic> {
    let mut c = Checker {
        file,
        map,
        renderer: Renderer::new(),
        out: Vec::new(),
    };

    if let Some(stem) = stem
        && rb.name != stem
    {
        c.at(
            "/name",
            DiagCode::NameMismatch,
            format!(
                "the runbook is named `{}` but its file is `{stem}`",
                rb.name
            ),
        )
        .hints
        .push(format!(
            "rename the file to `{}.yaml` or set `name: {stem}`",
            rb.name
        ));
    }

    for (i, prog) in rb.requires.iter().enumerate() {
        let sane = !prog.is_empty()
            && (prog.starts_with('/') || !prog.contains('/'))
            && !prog
                .chars()
                .any(|ch| ch.is_whitespace() || "$`;|&<>(){}'\"*?".contains(ch));
        if !sane {
            c.at(
                &format!("/requires/{i}"),
                DiagCode::Requires,
                format!("`{prog}` is not a program name"),
            )
            .hints
            .push(
                "list bare program names found on PATH, like `df` or `psql`, or absolute paths"
                    .into(),
            );
        }
    }

    params::check_params(&mut c, rb);
    steps::check_steps(&mut c, rb);
    c.out
}

/// Keys a step sets that its kind does not take (see [`format::KIND_FIELDS`]): checked on the
/// file's flat form, before the step is typed and such keys would be lost.
pub fn kind_fields(file: &str, rb: &format::Runbook, map: &SourceMap) -> Vec<Diagnostic> {
    let mut c = Checker {
        file,
        map,
        renderer: Renderer::new(),
        out: Vec::new(),
    };
    for (i, step) in rb.steps.iter().enumerate() {
        let takes = fields_of(step.kind);
        for field in step.fields_set() {
            if takes.iter().any(|(f, _)| *f == field) {
                continue;
            }
            let owners: Vec<&str> = StepKind::ALL
                .iter()
                .filter(|k| fields_of(**k).iter().any(|(f, _)| *f == field))
                .map(|k| k.as_str())
                .collect();
            c.at_key(
                &format!("/steps/{i}/{field}"),
                DiagCode::FieldUnused,
                format!("`{field}` has no effect on a {} step", step.kind),
            )
            .hints
            .push(format!(
                "`{field}` belongs to {} steps; remove it or set `kind`",
                owners.join(" and ")
            ));
        }
    }
    c.out
}
