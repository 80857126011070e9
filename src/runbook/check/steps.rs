//! Checks of `steps:`: unique ids, captures, durations that name duration params, watch windows
//! that can be reached, and templates and expressions that parse and use only known names.

use std::collections::{BTreeSet, HashMap};

use super::{Checker, WATCH_VARIABLES, quoted_interpolation};
use crate::diag::{self, DiagCode, Diagnostic};
use crate::render::TemplateKind;
use crate::runbook::duration::DurationSpec;
use crate::runbook::model::{ParamType, Runbook, Step, StepBody};

/// What the checks of one step need to know about the runbook around it.
struct Scope<'a> {
    params: BTreeSet<&'a str>,
    /// Secret params, with their environment variable.
    secrets: HashMap<&'a str, Option<&'a str>>,
    /// Every capture, with the step that makes it ("defined later" hints).
    all_captures: HashMap<&'a str, &'a str>,
    /// Captures of the steps before the one being checked.
    captured: BTreeSet<&'a str>,
}

pub(super) fn check_steps(c: &mut Checker<'_>, rb: &Runbook) {
    let mut scope = Scope {
        params: rb.params.keys().map(String::as_str).collect(),
        secrets: rb
            .params
            .iter()
            .filter(|(_, p)| p.secret)
            .map(|(n, p)| (n.as_str(), p.env.as_deref()))
            .collect(),
        all_captures: rb
            .steps
            .iter()
            .filter_map(|s| s.capture().map(|cap| (cap, s.id.as_str())))
            .collect(),
        captured: BTreeSet::new(),
    };
    check_ids(c, rb);
    for (i, step) in rb.steps.iter().enumerate() {
        let base = format!("/steps/{i}");
        check_read_only(c, step, &base);
        check_capture(c, step, &base, &scope);
        check_durations(c, rb, step, &base);
        check_templates(c, step, &base, &scope);
        check_expressions(c, step, &base, &scope);
        if let Some(cap) = step.capture() {
            scope.captured.insert(cap);
        }
    }
}

fn check_ids(c: &mut Checker<'_>, rb: &Runbook) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, step) in rb.steps.iter().enumerate() {
        let Some(first) = seen.get(step.id.as_str()) else {
            seen.insert(&step.id, i);
            continue;
        };
        let first_line = c
            .map
            .span(&format!("/steps/{first}/id"))
            .map_or(0, |s| s.line);
        let hint = format!(
            "the first is step {} (line {first_line}); ids must be unique",
            first + 1
        );
        c.at(
            &format!("/steps/{i}/id"),
            DiagCode::DuplicateId,
            format!("step id `{}` is used twice", step.id),
        )
        .hints
        .push(hint);
    }
}

/// A read-only step has nothing to undo and nothing to confirm.
fn check_read_only(c: &mut Checker<'_>, step: &Step, base: &str) {
    let Some(cmd) = step.command().filter(|cmd| cmd.read_only) else {
        return;
    };
    if cmd.rollback.is_some() {
        c.at_key(&format!("{base}/rollback"), DiagCode::RollbackOnReadOnly, format!("step `{}` is read-only but has a `rollback`", step.id))
            .hints
            .push("a read-only step changes nothing, so there is nothing to undo; remove `read_only` or `rollback`".into());
    }
    if cmd.confirm.is_some() {
        c.at_key(&format!("{base}/confirm"), DiagCode::ConfirmOnReadOnly, format!("step `{}` is read-only but asks for typed confirmation", step.id))
            .hints
            .push("read-only steps run without confirmation; remove `read_only` if the step changes the system".into());
    }
}

fn check_capture(c: &mut Checker<'_>, step: &Step, base: &str, scope: &Scope<'_>) {
    let Some(cap) = step.capture() else { return };
    let ptr = format!("{base}/capture");
    if scope.params.contains(cap) {
        c.at(
            &ptr,
            DiagCode::CaptureShadowsParam,
            format!("capture `{cap}` has the name of a param"),
        )
        .hints
        .push("rename the capture; a param and a capture must not share a name".into());
    } else if WATCH_VARIABLES.contains(&cap) {
        c.at(
            &ptr,
            DiagCode::CaptureReserved,
            format!("`{cap}` is reserved for watch conditions; choose another name"),
        );
    } else if scope.captured.contains(cap) {
        c.at(
            &ptr,
            DiagCode::DuplicateCapture,
            format!("`{cap}` is captured by an earlier step too"),
        );
    }
}

/// Durations that name a param need a duration param; a watch's window must be reachable.
fn check_durations(c: &mut Checker<'_>, rb: &Runbook, step: &Step, base: &str) {
    for (field, spec) in step.durations() {
        let DurationSpec::Param(p) = spec else {
            continue;
        };
        let ptr = format!("{base}/{field}");
        match rb.params.get(p) {
            Some(param) if param.ty == ParamType::Duration => {}
            Some(param) => {
                c.at(&ptr, DiagCode::DurationParam, format!("`{field}` takes param `{p}`, which is {}, not a duration", param.ty))
                    .hints
                    .push(format!("declare it with `type: duration`, e.g. `{p}: {{ type: duration, default: 5m }}`"));
            }
            None => {
                c.at(
                    &ptr,
                    DiagCode::UndefinedVariable,
                    format!("`{field}` uses `{p}`, which is not a param"),
                )
                .hints
                .push(format!(
                    "declare it: `params: {{ {p}: {{ type: duration, default: 5m }} }}`"
                ));
            }
        }
    }
    let StepBody::Watch(w) = &step.body else {
        return;
    };
    let DurationSpec::Literal(hold) = &w.hold_for else {
        return;
    };
    if let Some(DurationSpec::Literal(limit)) = &w.timeout
        && limit < hold
    {
        c.at(&format!("{base}/timeout"), DiagCode::WatchWindow, format!("`timeout` ({limit}) ends the watch before `for` ({hold}) can be reached"))
            .hints
            .push("on a watch, `timeout` is how long to try in all; make it longer than `for`, or remove it (default: twice `for`)".into());
    }
    // Only an `every` the author wrote: the default interval is not their mistake.
    if c.map.value(&format!("{base}/every")).is_some()
        && let DurationSpec::Literal(every) = &w.every
        && hold < every
    {
        c.at(
            &format!("{base}/for"),
            DiagCode::WatchWindow,
            format!("`for` ({hold}) is shorter than `every` ({every}); the check would run once"),
        );
    }
}

fn check_templates(c: &mut Checker<'_>, step: &Step, base: &str, scope: &Scope<'_>) {
    let known: BTreeSet<&str> = scope.params.union(&scope.captured).copied().collect();
    for (field, src, kind) in step.templates() {
        let ptr = format!("{base}/{field}");
        let vars = match c.renderer.template_variables(kind, src) {
            Ok(vars) => vars,
            Err(e) => {
                let span = c.template_line(&ptr, e.line);
                c.out.push(
                    Diagnostic::error(c.file, span, DiagCode::Template, format!("`{field}` is not a valid template: {}", e.message))
                        .hint("templates use `{{ name }}` for values; write `{{ '{{' }}` for a literal brace pair")
                        .at_pointer(ptr.clone()),
                );
                continue;
            }
        };
        check_variables(c, &ptr, field, &vars, &known, scope, step);
        if kind == TemplateKind::Shell {
            check_shell_template(c, &ptr, field, src, &vars, scope);
        }
    }
}

/// Secrets stay out of command lines; quotes around a value break rb's own quoting.
fn check_shell_template(
    c: &mut Checker<'_>,
    ptr: &str,
    field: &str,
    src: &str,
    vars: &BTreeSet<String>,
    scope: &Scope<'_>,
) {
    for v in vars {
        if let Some(env) = scope.secrets.get(v.as_str()) {
            let env = env.unwrap_or("THE_VARIABLE");
            c.at(
                ptr,
                DiagCode::SecretInCommand,
                format!(
                    "secret `{v}` is interpolated into `{field}`, where `ps` and logs would show it"
                ),
            )
            .hints
            .push(format!(
                "use the environment variable instead: write \"${env}\" in the command"
            ));
        }
    }
    if quoted_interpolation(src) {
        c.at(ptr, DiagCode::QuotedTemplate, format!("`{field}` puts quotes around a `{{{{ }}}}` value"))
            .hints
            .push("remove the quotes: rb shell-quotes every value itself, and quotes around quotes break it".into());
    }
}

fn check_expressions(c: &mut Checker<'_>, step: &Step, base: &str, scope: &Scope<'_>) {
    let mut exprs: Vec<(&str, &str)> = Vec::new();
    if let Some(w) = &step.when {
        exprs.push(("when", w));
    }
    if let StepBody::Watch(w) = &step.body {
        exprs.push(("until", &w.until));
    }
    for (field, src) in exprs {
        let ptr = format!("{base}/{field}");
        let mut known: BTreeSet<&str> = scope.params.union(&scope.captured).copied().collect();
        if field == "until" {
            known.extend(WATCH_VARIABLES);
        }
        match c.renderer.expression_variables(src) {
            Err(e) => {
                c.at(
                    &ptr,
                    DiagCode::Expression,
                    format!("`{field}` is not a valid expression: {}", e.message),
                )
                .hints
                .push("write a Jinja expression without braces, like `usage | int >= 90`".into());
            }
            Ok(vars) => check_variables(c, &ptr, field, &vars, &known, scope, step),
        }
    }
}

fn check_variables(
    c: &mut Checker<'_>,
    ptr: &str,
    field: &str,
    vars: &BTreeSet<String>,
    known: &BTreeSet<&str>,
    scope: &Scope<'_>,
    step: &Step,
) {
    for v in vars.iter().filter(|v| !known.contains(v.as_str())) {
        let hint = match scope.all_captures.get(v.as_str()) {
            Some(owner) if *owner == step.id => {
                format!("`{v}` is captured by this step itself, so it is not known yet")
            }
            Some(owner) => format!(
                "`{v}` is captured by step `{owner}`, which runs later; move that step earlier"
            ),
            None => match diag::did_you_mean(v, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "declare it under `params:` or capture it in an earlier step (`capture: {v}`)"
                ),
            },
        };
        c.at(
            ptr,
            DiagCode::UndefinedVariable,
            format!(
                "`{field}` uses `{v}`, which is neither a param nor a capture of an earlier step"
            ),
        )
        .hints
        .push(hint);
    }
}
