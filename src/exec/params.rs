//! Parameter binding: values from `-p`, `--params-file`, the environment and defaults, checked
//! against each param's type, pattern, bounds and choices before anything runs.

use std::collections::BTreeMap;

use minijinja::Value;

use crate::runbook::{Duration, Param, ParamType, Runbook};

/// A param's value, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    String(String),
    Integer(i64),
    Boolean(bool),
    Duration(Duration),
}

impl Bound {
    /// The value as a template sees it.
    pub fn to_value(&self) -> Value {
        match self {
            Bound::String(s) => Value::from(s.clone()),
            Bound::Integer(i) => Value::from(*i),
            Bound::Boolean(b) => Value::from(*b),
            Bound::Duration(d) => Value::from(d.to_string()),
        }
    }

    /// The value as text (for environment variables and transcripts).
    pub fn to_text(&self) -> String {
        match self {
            Bound::String(s) => s.clone(),
            Bound::Integer(i) => i.to_string(),
            Bound::Boolean(b) => b.to_string(),
            Bound::Duration(d) => d.to_string(),
        }
    }
}

/// Every param bound, or the list of what is wrong.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub values: BTreeMap<String, Bound>,
    /// Required params that have no value (allowed only for a dry run, shown as placeholders).
    pub missing: Vec<String>,
}

impl Params {
    /// Secret values, for redaction.
    pub fn secret_values(&self, rb: &Runbook) -> Vec<String> {
        rb.params
            .iter()
            .filter(|(_, p)| p.secret)
            .filter_map(|(n, _)| self.values.get(n).map(Bound::to_text))
            .collect()
    }

    /// Environment variables for one command: each secret under its `env` name, for the
    /// secrets the command names (`$NAME` or `${NAME`). A step never sees the others.
    pub fn env_for(&self, rb: &Runbook, command: &str) -> Vec<(String, String)> {
        rb.params
            .iter()
            .filter(|(_, p)| p.secret)
            .filter_map(|(n, p)| Some((p.env.clone()?, self.values.get(n)?.to_text())))
            .filter(|(env, _)| names_variable(command, env))
            .collect()
    }

    /// Params as recorded: secrets masked.
    pub fn masked(&self, rb: &Runbook) -> BTreeMap<String, String> {
        self.values
            .iter()
            .map(|(n, v)| {
                let secret = rb.params.get(n).is_some_and(|p| p.secret);
                (
                    n.clone(),
                    if secret {
                        crate::exec::MASK.to_string()
                    } else {
                        v.to_text()
                    },
                )
            })
            .collect()
    }
}

/// Whether `command` reads shell variable `var` (`$VAR` or `${VAR…}`).
fn names_variable(command: &str, var: &str) -> bool {
    command.match_indices('$').any(|(i, _)| {
        let rest = &command[i + 1..];
        let rest = rest.strip_prefix('{').unwrap_or(rest);
        rest.strip_prefix(var).is_some_and(|after| {
            !after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    })
}

/// Parses and checks one textual value for `param`.
pub fn parse_value(name: &str, p: &Param, text: &str) -> Result<Bound, String> {
    // An error must not show a secret, nor a control character that would act on the terminal.
    let shown = if p.secret {
        crate::exec::MASK.to_string()
    } else {
        crate::sanitize::visible(text, false)
    };
    let text_in = text;
    let text = shown.as_str();
    let bound = match p.ty {
        ParamType::String => Bound::String(text_in.to_string()),
        ParamType::Integer => Bound::Integer(
            text_in
                .trim()
                .parse()
                .map_err(|_| format!("`{name}` must be an integer, got `{text}`"))?,
        ),
        ParamType::Boolean => Bound::Boolean(match text_in.trim() {
            "true" => true,
            "false" => false,
            _ => return Err(format!("`{name}` must be `true` or `false`, got `{text}`")),
        }),
        ParamType::Enum => {
            if !p.choices.iter().any(|c| c == text_in) {
                return Err(format!(
                    "`{name}` must be one of {}, got `{text}`",
                    p.choices.join(", ")
                ));
            }
            Bound::String(text_in.to_string())
        }
        ParamType::Duration => Bound::Duration(Duration::parse(text_in).map_err(|e| {
            if p.secret {
                format!("`{name}` is not a duration")
            } else {
                format!(
                    "`{name}`: {}",
                    crate::sanitize::visible(&e.to_string(), false)
                )
            }
        })?),
    };
    if let (Bound::String(s), Some(pat)) = (&bound, &p.pattern) {
        let re =
            regex::Regex::new(pat).map_err(|e| format!("`{name}` has an invalid pattern: {e}"))?;
        if !re.is_match(s) {
            return Err(format!(
                "`{name}` = `{text}` does not match the pattern `{pat}`"
            ));
        }
    }
    if let Bound::Integer(i) = bound {
        if let Some(min) = p.min.filter(|m| i < *m) {
            return Err(format!("`{name}` = {i} is below the minimum {min}"));
        }
        if let Some(max) = p.max.filter(|m| i > *m) {
            return Err(format!("`{name}` = {i} is above the maximum {max}"));
        }
    }
    Ok(bound)
}

/// Refuses a secret too short to mask and a leading `-` where a command would read an option.
fn guard(name: &str, p: &Param, v: Bound, exposed: Option<&String>) -> Result<Bound, String> {
    let text = v.to_text();
    if p.secret && !text.is_empty() && text.len() < crate::redact::MIN_SECRET_LEN {
        return Err(format!(
            "secret `{name}` is shorter than {} bytes, too short to be masked in output and transcripts",
            crate::redact::MIN_SECRET_LEN
        ));
    }
    if let Some(step) = exposed.filter(|_| text.starts_with('-') && !p.allow_leading_dash) {
        let shown = if p.secret {
            crate::exec::MASK.to_string()
        } else {
            crate::sanitize::visible(&text, false)
        };
        return Err(format!(
            "`{name}` = `{shown}` begins with `-`, which step `{step}` would pass where its command reads options (write `-- {{{{ {name} }}}}` in the runbook, or set `allow_leading_dash: true` on the param if an option is meant)"
        ));
    }
    Ok(v)
}

/// Params that some command uses at the start of a word before any `--`, where a leading `-`
/// makes an option: each with the first step that does.
pub fn dash_exposed(rb: &Runbook) -> BTreeMap<&str, String> {
    let renderer = crate::render::Renderer::new();
    let mut out = BTreeMap::new();
    for step in &rb.steps {
        for (_, src, kind) in step.templates() {
            if kind != crate::render::TemplateKind::Shell {
                continue;
            }
            for i in crate::runbook::shell::interpolations(src) {
                let option_like = i.word_start
                    && !i.after_double_dash
                    && i.place == crate::runbook::shell::Place::Word;
                if !option_like {
                    continue;
                }
                let vars = renderer
                    .template_variables(kind, &format!("{{{{ {} }}}}", i.expr))
                    .unwrap_or_default();
                for (name, _) in rb.params.iter().filter(|(n, _)| vars.contains(*n)) {
                    out.entry(name.as_str()).or_insert_with(|| step.id.clone());
                }
            }
        }
    }
    out
}

/// Asks for a secret's value with hidden input.
pub type SecretPrompt<'a> = &'a mut dyn FnMut(&str) -> Option<String>;

/// Inputs to binding, in order of precedence.
pub struct Inputs<'a> {
    /// `-p key=value`, in order given.
    pub cli: &'a [(String, String)],
    /// `--params-file` contents.
    pub file: &'a BTreeMap<String, String>,
    /// Reads an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Asks for a secret with hidden input (None when there is no terminal).
    pub prompt_secret: Option<SecretPrompt<'a>>,
}

/// The longest value rb passes to a command. Linux refuses any single argument or environment
/// string over 128 KiB (`MAX_ARG_STRLEN`), and a command carries its values inside one `-c`
/// argument, with room left for the command around them.
pub const MAX_VALUE_BYTES: usize = 100 * 1024;

/// A value no command could ever receive is refused before step 1, not when a step that uses it
/// fails after earlier steps changed the system. A secret's value is never echoed.
fn runnable(name: &str, p: &crate::runbook::Param, text: &str) -> Result<(), String> {
    if text.contains('\0') {
        return Err(format!(
            "`{name}` contains a NUL byte, which no command can receive"
        ));
    }
    if text.len() > MAX_VALUE_BYTES {
        let what = if p.secret { "the secret" } else { "the value" };
        return Err(format!(
            "`{name}`: {what} is {} bytes; a command can receive at most {} KiB",
            text.len(),
            MAX_VALUE_BYTES / 1024
        ));
    }
    Ok(())
}

/// Binds every param. Returns what could be bound and every problem found, all at once
/// (required params without a value are listed in `Params::missing`, not as problems).
pub fn bind(rb: &Runbook, mut inputs: Inputs<'_>) -> (Params, Vec<String>) {
    let mut problems = Vec::new();
    for (k, _) in inputs.cli {
        if !rb.params.contains_key(k) {
            let mut msg = format!("unknown param `{k}`");
            if let Some(s) = crate::diag::did_you_mean(k, rb.params.keys().map(String::as_str)) {
                msg += &format!(" (did you mean `{s}`?)");
            } else if rb.params.is_empty() {
                msg += " (this runbook takes no params)";
            } else {
                msg += &format!(
                    " (params: {})",
                    rb.params.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            problems.push(msg);
        }
    }
    for k in inputs.file.keys() {
        if !rb.params.contains_key(k) {
            problems.push(format!("unknown param `{k}` in the params file"));
        }
    }
    for (k, _) in inputs.cli {
        if rb.params.get(k).is_some_and(|p| p.secret) {
            let how = rb.params[k].env.as_deref().map_or(String::new(), |e| {
                format!("set ${e} in the environment, or ")
            });
            problems.push(format!(
                "secret `{k}` cannot be given with `-p`: every user of this machine can read rb's command line, and the shell keeps it in its history ({how}leave it out to be asked for it with hidden input)"
            ));
        }
    }
    let exposed = dash_exposed(rb);
    let mut out = Params::default();
    for (name, p) in &rb.params {
        let given = inputs
            .cli
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| inputs.file.get(name).cloned())
            .or_else(|| p.env.as_deref().and_then(|e| (inputs.env)(e)));
        let given = match given {
            Some(v) => Some(v),
            None if p.secret => inputs.prompt_secret.as_mut().and_then(|ask| ask(name)),
            None => None,
        };
        match (given, &p.default) {
            (Some(text), _) => match runnable(name, p, &text)
                .and_then(|()| parse_value(name, p, &text))
                .and_then(|v| guard(name, p, v, exposed.get(name.as_str())))
            {
                Ok(v) => {
                    out.values.insert(name.clone(), v);
                }
                Err(e) => problems.push(e),
            },
            (None, Some(d)) => {
                let text = d.as_str().map_or_else(|| d.to_string(), str::to_string);
                match parse_value(name, p, &text) {
                    Ok(v) => {
                        out.values.insert(name.clone(), v);
                    }
                    Err(e) => problems.push(format!("default of {e}")),
                }
            }
            (None, None) => out.missing.push(name.clone()),
        }
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rb(yaml: &str) -> Runbook {
        crate::runbook::validate::validate("t.yaml", None, yaml.as_bytes())
            .map_err(|d| format!("{d:?}"))
            .unwrap()
            .runbook
    }

    const RB: &str = "version: 1\nname: t\ntitle: t\nparams:\n  days: {type: integer, default: 7, min: 1}\n  mount: {default: /, pattern: '^/'}\n  token: {secret: true, env: TOKEN}\n  level: {type: enum, choices: [low, high], default: low}\nsteps:\n  - id: a\n    run: echo {{ days }} {{ mount }} {{ level }}\n";

    fn bind_with(cli: &[(&str, &str)], env: &[(&str, &str)]) -> Result<Params, Vec<String>> {
        let (p, problems) = bind_inner(cli, env);
        if problems.is_empty() {
            Ok(p)
        } else {
            Err(problems)
        }
    }

    fn bind_inner(cli: &[(&str, &str)], env: &[(&str, &str)]) -> (Params, Vec<String>) {
        let cli: Vec<(String, String)> = cli
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let get = move |k: &str| env.get(k).cloned();
        bind(
            &rb(RB),
            Inputs {
                cli: &cli,
                file: &BTreeMap::new(),
                env: &get,
                prompt_secret: None,
            },
        )
    }

    #[test]
    fn defaults_env_and_cli_bind_with_types() {
        let p = bind_with(&[("days", "3")], &[("TOKEN", "s3cret")]).unwrap();
        assert_eq!(p.values["days"], Bound::Integer(3));
        assert_eq!(p.values["mount"], Bound::String("/".into()));
        assert_eq!(p.values["token"], Bound::String("s3cret".into()));
        assert!(p.missing.is_empty());
        assert_eq!(p.masked(&rb(RB))["token"], "***");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errs = bind_with(
            &[
                ("days", "0"),
                ("mount", "relative"),
                ("level", "mid"),
                ("dayz", "1"),
            ],
            &[],
        )
        .unwrap_err();
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs.iter().any(|e| e.contains("did you mean `days`")));
        assert!(errs.iter().any(|e| e.contains("below the minimum 1")));
        assert!(
            errs.iter()
                .any(|e| e.contains("does not match the pattern"))
        );
        assert!(errs.iter().any(|e| e.contains("one of low, high")));
    }

    #[test]
    fn a_secret_without_value_is_missing() {
        let p = bind_with(&[], &[]).unwrap();
        assert_eq!(p.missing, ["token"]);
    }

    fn bind_rb(yaml: &str, cli: &[(&str, &str)], env: &[(&str, &str)]) -> Vec<String> {
        let cli: Vec<(String, String)> = cli
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let get = move |k: &str| env.get(k).cloned();
        let inputs = Inputs {
            cli: &cli,
            file: &BTreeMap::new(),
            env: &get,
            prompt_secret: None,
        };
        bind(&rb(yaml), inputs).1
    }

    const DASH: &str = "version: 1\nname: t\ntitle: t\nparams:\n  dir: {}\n  file: {}\n  flag: {allow_leading_dash: true}\n  opt: {}\nsteps:\n  - id: clean\n    run: find {{ dir }} -name x; rm -- {{ file }}; ls {{ flag }} --x={{ opt }}\n";

    #[test]
    fn a_leading_dash_is_refused_where_it_would_be_an_option() {
        let errs = bind_rb(
            DASH,
            &[
                ("dir", "-delete"),
                ("file", "-rf"),
                ("flag", "-l"),
                ("opt", "-y"),
            ],
            &[],
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("`dir` = `-delete` begins with `-`"),
            "{errs:?}"
        );
        assert!(errs[0].contains("step `clean`"));
        assert!(
            bind_rb(
                DASH,
                &[
                    ("dir", "/tmp"),
                    ("file", "-x"),
                    ("flag", "-l"),
                    ("opt", "-")
                ],
                &[]
            )
            .is_empty()
        );
    }

    const SECRETS: &str = "version: 1\nname: t\ntitle: t\nparams:\n  tok: {secret: true, env: TOK}\n  pin: {secret: true, env: PIN, type: integer}\n  on: {secret: true, env: ON, type: boolean}\n  ttl: {secret: true, env: TTL, type: duration}\nsteps:\n  - id: a\n    run: echo \"$TOK\"\n";

    #[test]
    fn secrets_from_the_command_line_or_too_short_are_refused_and_never_echoed() {
        let errs = bind_rb(
            SECRETS,
            &[("tok", "long-enough")],
            &[("PIN", "12x-zq9"), ("ON", "maybe-zq9"), ("TTL", "soon-zq9")],
        );
        assert!(errs.iter().any(|e| e.contains("secret `tok` cannot be given with `-p`") && e.contains("$TOK")), "{errs:?}");
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs.iter().all(|e| !e.contains("zq9")), "{errs:?}");
        let errs = bind_rb(
            SECRETS,
            &[],
            &[
                ("TOK", "abc"),
                ("PIN", "1234"),
                ("ON", "true"),
                ("TTL", "10m"),
            ],
        );
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs.iter().all(|e| e.contains("shorter than 4 bytes")),
            "{errs:?}"
        );
    }

    #[test]
    fn a_command_gets_only_the_secrets_it_names() {
        let yaml = "version: 1\nname: t\ntitle: t\nparams:\n  a: {secret: true, env: A_TOK}\n  b: {secret: true, env: A}\nsteps:\n  - id: a\n    run: echo \"$A_TOK\"\n";
        let r = rb(yaml);
        let mut p = Params::default();
        p.values.insert("a".into(), Bound::String("aaaa".into()));
        p.values.insert("b".into(), Bound::String("bbbb".into()));
        let names =
            |cmd: &str| -> Vec<String> { p.env_for(&r, cmd).into_iter().map(|(k, _)| k).collect() };
        assert_eq!(names("echo \"$A_TOK\""), ["A_TOK"]);
        assert_eq!(names("echo ${A} $A_TOK"), ["A_TOK", "A"]);
        assert!(names("echo A_TOK $AB").is_empty());
    }
}
