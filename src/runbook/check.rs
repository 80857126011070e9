//! Semantic checks: what the schema cannot express but a reviewer of a runbook pull request
//! would catch. Every check reports with the place of the offending node; all are run, so an
//! author sees every problem of a file at once.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::duration::{Duration, DurationSpec};
use super::load::{ScalarForm, SourceMap};
use super::model::{ParamType, Runbook, Step, StepKind};
use crate::diag::{self, Diagnostic, Span};
use crate::render::{Renderer, TemplateKind};

/// Names the executor provides inside a watch step's `until`.
pub const WATCH_VARIABLES: &[&str] = &["output", "exit_code"];

struct Checker<'a> {
    file: &'a str,
    map: &'a SourceMap,
    renderer: Renderer,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn at(&mut self, pointer: &str, code: &'static str, msg: impl Into<String>) -> &mut Diagnostic {
        self.out.push(
            Diagnostic::error(self.file, self.map.span(pointer), code, msg).at_pointer(pointer),
        );
        self.out.last_mut().expect("just pushed")
    }

    fn at_key(
        &mut self,
        pointer: &str,
        code: &'static str,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
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
            "name-mismatch",
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
                "requires",
                format!("`{prog}` is not a program name"),
            )
            .hints
            .push(
                "list bare program names found on PATH, like `df` or `psql`, or absolute paths"
                    .into(),
            );
        }
    }

    check_params(&mut c, rb);
    check_steps(&mut c, rb);
    c.out
}

fn check_params(c: &mut Checker<'_>, rb: &Runbook) {
    for (name, p) in &rb.params {
        let base = format!("/params/{name}");
        let ty = p.ty;
        if p.pattern.is_some() && ty != ParamType::String {
            c.at_key(
                &format!("{base}/pattern"),
                "param",
                format!(
                    "`pattern` applies to string params, but `{name}` is {}",
                    ty.as_str()
                ),
            );
        }
        if (p.min.is_some() || p.max.is_some()) && ty != ParamType::Integer {
            c.at_key(
                &format!("{base}/min"),
                "param",
                format!(
                    "`min`/`max` apply to integer params, but `{name}` is {}",
                    ty.as_str()
                ),
            );
        }
        if let (Some(lo), Some(hi)) = (p.min, p.max)
            && lo > hi
        {
            c.at(
                &format!("{base}/max"),
                "param",
                format!("`max` ({hi}) is below `min` ({lo})"),
            );
        }
        if ty == ParamType::Enum && p.choices.is_empty() {
            c.at_key(
                &base,
                "param",
                format!("enum param `{name}` has no `choices`"),
            )
            .hints
            .push("list the allowed values: `choices: [a, b]`".into());
        }
        if ty != ParamType::Enum && !p.choices.is_empty() {
            c.at_key(
                &format!("{base}/choices"),
                "param",
                format!("`choices` applies to enum params; set `type: enum` on `{name}`"),
            );
        }
        let regex = match &p.pattern {
            Some(pat) => match regex::Regex::new(pat) {
                Ok(r) => Some(r),
                Err(e) => {
                    let msg = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    c.at(
                        &format!("{base}/pattern"),
                        "pattern",
                        format!("`pattern` is not a valid regular expression: {msg}"),
                    );
                    None
                }
            },
            None => None,
        };
        if p.secret {
            if p.env.is_none() {
                c.at_key(
                    &base,
                    "secret-without-env",
                    format!("secret param `{name}` names no `env` variable"),
                )
                .hints
                .push(format!(
                    "add `env: {}`: secrets reach commands only through the environment",
                    name.to_uppercase()
                ));
            }
            // An empty default makes a secret optional; any other default would put it in the file.
            if p.default.as_ref().is_some_and(|d| d != "") {
                c.at(
                    &format!("{base}/default"),
                    "secret-default",
                    format!("secret param `{name}` has a default written in the runbook"),
                )
                .hints
                .push("a secret must come from the environment, never from a reviewed file; `default: \"\"` makes it optional".into());
            }
        }
        if let Some(d) = &p.default {
            let ptr = format!("{base}/default");
            match (ty, d) {
                (ParamType::String, Value::String(s)) => {
                    if let Some(r) = &regex
                        && !r.is_match(s)
                    {
                        c.at(
                            &ptr,
                            "param-default",
                            format!("default `{s}` does not match the pattern of `{name}`"),
                        );
                    }
                }
                (ParamType::Integer, Value::Number(n)) if n.is_i64() => {
                    let v = n.as_i64().unwrap_or_default();
                    if p.min.is_some_and(|m| v < m) || p.max.is_some_and(|m| v > m) {
                        c.at(
                            &ptr,
                            "param-default",
                            format!("default {v} of `{name}` is outside its bounds"),
                        );
                    }
                }
                (ParamType::Boolean, Value::Bool(_)) => {}
                (ParamType::Duration, Value::String(s)) => {
                    if let Err(e) = Duration::parse(s) {
                        c.at(&ptr, "param-default", format!("default of `{name}`: {e}"));
                    }
                }
                (ParamType::Enum, Value::String(s)) => {
                    if !p.choices.contains(s) {
                        c.at(
                            &ptr,
                            "param-default",
                            format!("default `{s}` of `{name}` is not one of its choices"),
                        );
                    }
                }
                (ty, v) => {
                    c.at(
                        &ptr,
                        "param-default",
                        format!(
                            "default of `{name}` is {v}, not {} {} value",
                            article(ty),
                            ty.as_str()
                        ),
                    )
                    .hints
                    .push(match ty {
                        ParamType::String | ParamType::Enum | ParamType::Duration => {
                            "quote it to make it a string".into()
                        }
                        other => format!(
                            "write {} {} value, or change `type`",
                            article(other),
                            other.as_str()
                        ),
                    });
                }
            }
        }
    }
}

/// `a` or `an` before the name of a param type.
fn article(ty: ParamType) -> &'static str {
    match ty {
        ParamType::Integer | ParamType::Enum => "an",
        _ => "a",
    }
}

/// Lines of a command that wrap a template in quotes: `'{{ x }}'` or `"{{ x }}"`.
fn quoted_interpolation(cmd: &str) -> bool {
    let bytes = cmd.as_bytes();
    let mut i = 0;
    while let Some(pos) = cmd[i..].find("{{") {
        let start = i + pos;
        let Some(end_rel) = cmd[start..].find("}}") else {
            break;
        };
        let end = start + end_rel + 2;
        let before = start.checked_sub(1).map(|b| bytes[b]);
        let after = bytes.get(end).copied();
        let inner = &cmd[start..end];
        if !inner.contains("raw")
            && matches!(
                (before, after),
                (Some(b'\''), Some(b'\'')) | (Some(b'"'), Some(b'"'))
            )
        {
            return true;
        }
        i = end;
    }
    false
}

fn check_steps(c: &mut Checker<'_>, rb: &Runbook) {
    let params: BTreeSet<&str> = rb.params.keys().map(String::as_str).collect();
    let secrets: HashMap<&str, Option<&str>> = rb
        .params
        .iter()
        .filter(|(_, p)| p.secret)
        .map(|(n, p)| (n.as_str(), p.env.as_deref()))
        .collect();
    let mut seen_ids: HashMap<&str, usize> = HashMap::new();
    // Captures defined so far, and every capture with its step, for "defined later" hints.
    let mut captured: BTreeSet<&str> = BTreeSet::new();
    let all_captures: HashMap<&str, &str> = rb
        .steps
        .iter()
        .filter_map(|s| s.capture.as_deref().map(|cap| (cap, s.id.as_str())))
        .collect();

    for (i, step) in rb.steps.iter().enumerate() {
        let base = format!("/steps/{i}");
        if let Some(first) = seen_ids.get(step.id.as_str()) {
            let first_line = c
                .map
                .span(&format!("/steps/{first}/id"))
                .map_or(0, |s| s.line);
            c.at(
                &format!("{base}/id"),
                "duplicate-id",
                format!("step id `{}` is used twice", step.id),
            )
            .hints
            .push(format!(
                "the first is step {} (line {}); ids must be unique",
                first + 1,
                first_line
            ));
        } else {
            seen_ids.insert(&step.id, i);
        }

        check_kind_fields(c, step, &base);

        if step.read_only {
            if step.rollback.is_some() {
                c.at_key(&format!("{base}/rollback"), "rollback-on-read-only", format!("step `{}` is read-only but has a `rollback`", step.id))
                    .hints
                    .push("a read-only step changes nothing, so there is nothing to undo; remove `read_only` or `rollback`".into());
            }
            if step.confirm.is_some() {
                c.at_key(&format!("{base}/confirm"), "confirm-on-read-only", format!("step `{}` is read-only but asks for typed confirmation", step.id))
                    .hints
                    .push("read-only steps run without confirmation; remove `read_only` if the step changes the system".into());
            }
        }
        if let Some(cap) = step.capture.as_deref() {
            if params.contains(cap) {
                c.at(
                    &format!("{base}/capture"),
                    "capture-shadows-param",
                    format!("capture `{cap}` has the name of a param"),
                )
                .hints
                .push("rename the capture; a param and a capture must not share a name".into());
            } else if WATCH_VARIABLES.contains(&cap) {
                c.at(
                    &format!("{base}/capture"),
                    "capture-reserved",
                    format!("`{cap}` is reserved for watch conditions; choose another name"),
                );
            } else if captured.contains(cap) {
                c.at(
                    &format!("{base}/capture"),
                    "duplicate-capture",
                    format!("`{cap}` is captured by an earlier step too"),
                );
            }
        }
        for (field, spec) in [
            ("timeout", &step.timeout),
            ("every", &step.every),
            ("for", &step.hold_for),
        ] {
            if let Some(DurationSpec::Param(p)) = spec {
                match rb.params.get(p) {
                    Some(param) if param.ty == ParamType::Duration => {}
                    Some(param) => {
                        c.at(&format!("{base}/{field}"), "duration-param", format!("`{field}` takes param `{p}`, which is {}, not a duration", param.ty.as_str()))
                            .hints
                            .push(format!("declare it with `type: duration`, e.g. `{p}: {{ type: duration, default: 5m }}`"));
                    }
                    None => {
                        c.at(
                            &format!("{base}/{field}"),
                            "undefined-variable",
                            format!("`{field}` uses `{p}`, which is not a param"),
                        )
                        .hints
                        .push(format!(
                            "declare it: `params: {{ {p}: {{ type: duration, default: 5m }} }}`"
                        ));
                    }
                }
            }
        }
        if step.kind == StepKind::Watch
            && let (Some(DurationSpec::Literal(limit)), Some(DurationSpec::Literal(hold))) =
                (&step.timeout, &step.hold_for)
            && limit < hold
        {
            c.at(&format!("{base}/timeout"), "watch-window", format!("`timeout` ({limit}) ends the watch before `for` ({hold}) can be reached"))
                .hints
                .push("on a watch, `timeout` is how long to try in all; make it longer than `for`, or remove it (default: twice `for`)".into());
        }
        if let (Some(DurationSpec::Literal(every)), Some(DurationSpec::Literal(hold))) =
            (&step.every, &step.hold_for)
            && hold < every
        {
            c.at(
                &format!("{base}/for"),
                "watch-window",
                format!(
                    "`for` ({hold}) is shorter than `every` ({every}); the check would run once"
                ),
            );
        }

        // Templates and expressions, with the variables known at this point.
        let mut known: BTreeSet<&str> = params
            .iter()
            .copied()
            .chain(captured.iter().copied())
            .collect();
        let mut templates: Vec<(&str, &String, TemplateKind)> = vec![];
        if let Some(t) = &step.title {
            templates.push(("title", t, TemplateKind::Text));
        }
        if let Some(t) = &step.run {
            templates.push(("run", t, TemplateKind::Shell));
        }
        if let Some(t) = &step.rollback {
            templates.push(("rollback", t, TemplateKind::Shell));
        }
        if let Some(t) = &step.text {
            templates.push(("text", t, TemplateKind::Text));
        }
        if let Some(t) = &step.instructions {
            templates.push(("instructions", t, TemplateKind::Text));
        }
        if let Some(t) = &step.confirm {
            templates.push(("confirm/typed", &t.typed, TemplateKind::Text));
        }
        for (field, src, kind) in templates {
            let ptr = format!("{base}/{field}");
            match c.renderer.template_variables(kind, src) {
                Err(e) => {
                    let span = c.template_line(&ptr, e.line);
                    c.out.push(
                        Diagnostic::error(c.file, span, "template", format!("`{field}` is not a valid template: {}", e.message))
                            .hint("templates use `{{ name }}` for values; write `{{ '{{' }}` for a literal brace pair")
                            .at_pointer(ptr.clone()),
                    );
                }
                Ok(vars) => {
                    check_variables(c, &ptr, field, &vars, &known, &all_captures, step);
                    if kind == TemplateKind::Shell {
                        for v in &vars {
                            if let Some(env) = secrets.get(v.as_str()) {
                                let env = env.unwrap_or("THE_VARIABLE");
                                c.at(&ptr, "secret-in-command", format!("secret `{v}` is interpolated into `{field}`, where `ps` and logs would show it"))
                                    .hints
                                    .push(format!("use the environment variable instead: write \"${env}\" in the command"));
                            }
                        }
                        if quoted_interpolation(src) {
                            c.at(&ptr, "quoted-template", format!("`{field}` puts quotes around a `{{{{ }}}}` value"))
                                .hints
                                .push("remove the quotes: rb shell-quotes every value itself, and quotes around quotes break it".into());
                        }
                    }
                }
            }
        }
        let mut exprs: Vec<(&str, &String)> = vec![];
        if let Some(w) = &step.when {
            exprs.push(("when", w));
        }
        if let Some(u) = &step.until {
            exprs.push(("until", u));
        }
        for (field, src) in exprs {
            let ptr = format!("{base}/{field}");
            if field == "until" {
                known.extend(WATCH_VARIABLES);
            }
            match c.renderer.expression_variables(src) {
                Err(e) => {
                    c.at(
                        &ptr,
                        "expression",
                        format!("`{field}` is not a valid expression: {}", e.message),
                    )
                    .hints
                    .push(
                        "write a Jinja expression without braces, like `usage | int >= 90`".into(),
                    );
                }
                Ok(vars) => check_variables(c, &ptr, field, &vars, &known, &all_captures, step),
            }
        }
        if let Some(cap) = step.capture.as_deref() {
            captured.insert(cap);
        }
    }
}

fn check_variables(
    c: &mut Checker<'_>,
    ptr: &str,
    field: &str,
    vars: &BTreeSet<String>,
    known: &BTreeSet<&str>,
    all_captures: &HashMap<&str, &str>,
    step: &Step,
) {
    for v in vars {
        if known.contains(v.as_str()) {
            continue;
        }
        let d = c.at(
            ptr,
            "undefined-variable",
            format!(
                "`{field}` uses `{v}`, which is neither a param nor a capture of an earlier step"
            ),
        );
        match all_captures.get(v.as_str()) {
            Some(owner) if *owner == step.id => d.hints.push(format!(
                "`{v}` is captured by this step itself, so it is not known yet"
            )),
            Some(owner) => d.hints.push(format!(
                "`{v}` is captured by step `{owner}`, which runs later; move that step earlier"
            )),
            None => {
                if let Some(s) = diag::did_you_mean(v, known.iter().copied()) {
                    d.hints.push(format!("did you mean `{s}`?"));
                } else {
                    d.hints.push(format!("declare it under `params:` or capture it in an earlier step (`capture: {v}`)"));
                }
            }
        }
    }
}

fn check_kind_fields(c: &mut Checker<'_>, step: &Step, base: &str) {
    let used = Step::fields_used_by(step.kind);
    let present: [(&str, bool); 12] = [
        ("run", step.run.is_some()),
        ("read_only", step.read_only),
        ("capture", step.capture.is_some()),
        ("timeout", step.timeout.is_some()),
        ("retry", step.retry.is_some()),
        ("rollback", step.rollback.is_some()),
        ("confirm", step.confirm.is_some()),
        ("interactive", step.interactive),
        ("text", step.text.is_some()),
        ("instructions", step.instructions.is_some()),
        ("until", step.until.is_some()),
        ("every", step.every.is_some() || step.hold_for.is_some()),
    ];
    for (field, is_set) in present {
        if is_set && !used.contains(&field) {
            let kind = step.kind.as_str();
            let owners: Vec<&str> = [
                StepKind::Command,
                StepKind::Message,
                StepKind::Manual,
                StepKind::Watch,
            ]
            .into_iter()
            .filter(|k| Step::fields_used_by(*k).contains(&field))
            .map(StepKind::as_str)
            .collect();
            let field = if field == "every" && step.every.is_none() {
                "for"
            } else {
                field
            };
            c.at_key(
                &format!("{base}/{field}"),
                "field-unused",
                format!("`{field}` has no effect on a {kind} step"),
            )
            .hints
            .push(format!(
                "`{field}` belongs to {} steps; remove it or set `kind`",
                owners.join(" and ")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::quoted_interpolation;

    #[test]
    fn finds_quoted_interpolations() {
        assert!(quoted_interpolation("rm '{{ f }}'"));
        assert!(quoted_interpolation("echo \"{{ f }}\""));
        assert!(!quoted_interpolation("rm -- {{ f }}"));
        assert!(!quoted_interpolation("echo '{{ f|raw }}'"));
    }
}
