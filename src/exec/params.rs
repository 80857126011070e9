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

    /// Environment variables for commands: each secret under its `env` name.
    pub fn env(&self, rb: &Runbook) -> Vec<(String, String)> {
        rb.params
            .iter()
            .filter(|(_, p)| p.secret)
            .filter_map(|(n, p)| Some((p.env.clone()?, self.values.get(n)?.to_text())))
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

/// Parses and checks one textual value for `param`.
pub fn parse_value(name: &str, p: &Param, text: &str) -> Result<Bound, String> {
    let bound = match p.ty {
        ParamType::String => Bound::String(text.to_string()),
        ParamType::Integer => Bound::Integer(
            text.trim()
                .parse()
                .map_err(|_| format!("`{name}` must be an integer, got `{text}`"))?,
        ),
        ParamType::Boolean => Bound::Boolean(match text.trim() {
            "true" => true,
            "false" => false,
            _ => return Err(format!("`{name}` must be `true` or `false`, got `{text}`")),
        }),
        ParamType::Enum => {
            if !p.choices.iter().any(|c| c == text) {
                return Err(format!(
                    "`{name}` must be one of {}, got `{text}`",
                    p.choices.join(", ")
                ));
            }
            Bound::String(text.to_string())
        }
        ParamType::Duration => {
            Bound::Duration(Duration::parse(text).map_err(|e| format!("`{name}`: {e}"))?)
        }
    };
    if let (Bound::String(s), Some(pat)) = (&bound, &p.pattern) {
        let re =
            regex::Regex::new(pat).map_err(|e| format!("`{name}` has an invalid pattern: {e}"))?;
        if !re.is_match(s) {
            let shown = if p.secret {
                crate::exec::MASK
            } else {
                s.as_str()
            };
            return Err(format!(
                "`{name}` = `{shown}` does not match the pattern `{pat}`"
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
            (Some(text), _) => {
                match runnable(name, p, &text).and_then(|()| parse_value(name, p, &text)) {
                    Ok(v) => {
                        out.values.insert(name.clone(), v);
                    }
                    Err(e) => problems.push(e),
                }
            }
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
}
