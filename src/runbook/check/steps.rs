//! Checks of `steps:`: unique ids, captures, durations that name duration params, watch windows
//! that can be reached, and templates and expressions that parse and use only known names.

use std::collections::{BTreeSet, HashMap};

use super::{Checker, WATCH_VARIABLES};
use crate::diag::{self, DiagCode, Diagnostic};
use crate::render::TemplateKind;
use crate::runbook::duration::DurationSpec;
use crate::runbook::model::{ParamType, Runbook, Step, StepBody};
use crate::runbook::shell::{self, Place};

/// What the checks of one step need to know about the runbook around it.
struct Scope<'a> {
    params: BTreeSet<&'a str>,
    /// Secret params, with their environment variable.
    secrets: HashMap<&'a str, Option<&'a str>>,
    /// Integer params (safe inside arithmetic).
    integers: BTreeSet<&'a str>,
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
        integers: rb
            .params
            .iter()
            .filter(|(_, p)| p.ty == ParamType::Integer)
            .map(|(n, _)| n.as_str())
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
        check_secrets(c, &ptr, field, kind, &vars, scope);
        if kind == TemplateKind::Shell {
            check_shell_contexts(c, &ptr, field, src, scope);
        }
    }
}

/// Secrets stay out of everything a template renders: command lines (`ps`, logs) and text shown
/// on screen or recorded. minijinja's own analysis names every variable an expression reads, so a
/// slice, a filter or a concatenation of a secret is found as well.
fn check_secrets(
    c: &mut Checker<'_>,
    ptr: &str,
    field: &str,
    kind: TemplateKind,
    vars: &BTreeSet<String>,
    scope: &Scope<'_>,
) {
    for v in vars {
        let Some(env) = scope.secrets.get(v.as_str()) else {
            continue;
        };
        let env = env.unwrap_or("THE_VARIABLE");
        if kind == TemplateKind::Shell {
            c.at(
                ptr,
                DiagCode::SecretInCommand,
                format!("secret `{v}` is used in `{field}`, where `ps` and logs would show it"),
            )
            .hints
            .push(format!(
                "use the environment variable instead: write \"${env}\" in the command"
            ));
        } else {
            c.at(
                ptr,
                DiagCode::SecretInText,
                format!("secret `{v}` is used in `{field}`, which is shown on screen and recorded"),
            )
            .hints
            .push(
                "leave the secret out of text; name it instead (`the token in $".to_string()
                    + env
                    + "`)",
            );
        }
    }
}

/// Every `{{ }}` of a command stands where rb's quoting keeps it one literal argument.
fn check_shell_contexts(c: &mut Checker<'_>, ptr: &str, field: &str, src: &str, scope: &Scope<'_>) {
    for i in shell::interpolations(src) {
        if i.raw || i.place.is_safe() {
            continue;
        }
        if i.place == Place::Arithmetic && integer_only(c, &i.expr, scope) {
            continue;
        }
        let (code, hint) = context_hint(&i.place, &i.expr);
        let span = c.template_line(ptr, Some(i.line));
        c.out.push(
            Diagnostic::error(
                c.file,
                span,
                code,
                format!(
                    "`{field}` puts `{{{{ {} }}}}` in {}, where rb's quoting cannot keep the value one literal argument",
                    i.expr,
                    i.place.describe()
                ),
            )
            .hint(hint)
            .hint("`|raw` inserts a value unquoted, for a whole command a team supplies as a param")
            .at_pointer(ptr.to_string()),
        );
    }
}

/// An arithmetic expression reading only integer params is safe: they render as digits.
fn integer_only(c: &Checker<'_>, expr: &str, scope: &Scope<'_>) -> bool {
    let src = format!("{{{{ {expr} }}}}");
    c.renderer
        .template_variables(TemplateKind::Shell, &src)
        .is_ok_and(|vars| vars.iter().all(|v| scope.integers.contains(v.as_str())))
}

/// The code of an unsafe context and the safe way to write it.
fn context_hint(place: &Place, expr: &str) -> (DiagCode, String) {
    let v = format!("{{{{ {expr} }}}}");
    let assign = format!("assign it first (`value={v}`), then write \"$value\" there");
    match place {
        Place::SingleQuotes | Place::AnsiC => (DiagCode::QuotedTemplate, format!("leave it unquoted, rb quotes it: close the quotes around it (`'pre '{v}' post'`) or {assign}")),
        Place::DoubleQuotes => (DiagCode::QuotedTemplate, format!("leave it unquoted, rb quotes it: close the quotes around it (`\"pre \"{v}\" post\"`) or {assign}")),
        Place::ShellScript { shell } => (DiagCode::ShellCodeTemplate, format!("pass it as a positional argument: `{shell} -c '… \"$1\" …' _ {v}`")),
        Place::Eval => (DiagCode::ShellCodeTemplate, format!("run the command without `eval`, with {v} as a plain argument")),
        Place::Backticks => (DiagCode::ShellCodeTemplate, format!("write `$( … {v} … )` instead of backticks: inside it the value is a plain word")),
        Place::Heredoc { .. } => (DiagCode::TemplateContext, format!("{assign} (an unquoted heredoc expands `$value` without running it), or pipe it: `printf '%s\\n' {v} | …`")),
        Place::HereString | Place::ParamExpansion | Place::CasePattern => (DiagCode::TemplateContext, assign),
        Place::Arithmetic => (DiagCode::TemplateContext, "declare the param `type: integer` (integers are safe in arithmetic), or compute outside `$(( ))`".into()),
        Place::Comment => (DiagCode::TemplateContext, "leave values out of `#` comments (a newline in the value would end the comment); template comments are `{## … ##}`".into()),
        Place::Escaped => (DiagCode::TemplateContext, "remove the backslash: it would escape rb's opening quote".into()),
        Place::AfterDollar => (DiagCode::TemplateContext, format!("remove the `$` before {v}")),
        Place::HeredocDelimiter => (DiagCode::TemplateContext, "write a fixed heredoc delimiter".into()),
        Place::Word | Place::Assignment => (DiagCode::TemplateContext, String::new()),
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
