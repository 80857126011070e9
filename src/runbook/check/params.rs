//! Checks of `params:`: keys that fit the param's type, valid patterns, secrets that come from the
//! environment only, and defaults that satisfy their own rules.

use serde_json::Value;

use super::Checker;
use crate::diag::DiagCode;
use crate::runbook::duration::Duration;
use crate::runbook::model::{Param, ParamType, Runbook};

pub(super) fn check_params(c: &mut Checker<'_>, rb: &Runbook) {
    for (name, p) in &rb.params {
        let base = format!("/params/{name}");
        check_keys_fit_type(c, &base, name, p);
        let regex = compile_pattern(c, &base, p);
        if p.secret {
            check_secret(c, &base, name, p);
        }
        if let Some(d) = &p.default {
            check_default(c, &base, name, p, d, regex.as_ref());
        }
    }
}

/// `pattern`, `min`/`max` and `choices` each belong to one type.
fn check_keys_fit_type(c: &mut Checker<'_>, base: &str, name: &str, p: &Param) {
    let ty = p.ty;
    if p.pattern.is_some() && ty != ParamType::String {
        c.at_key(
            &format!("{base}/pattern"),
            DiagCode::Param,
            format!("`pattern` applies to string params, but `{name}` is {ty}"),
        );
    }
    if (p.min.is_some() || p.max.is_some()) && ty != ParamType::Integer {
        c.at_key(
            &format!("{base}/min"),
            DiagCode::Param,
            format!("`min`/`max` apply to integer params, but `{name}` is {ty}"),
        );
    }
    if let (Some(lo), Some(hi)) = (p.min, p.max)
        && lo > hi
    {
        c.at(
            &format!("{base}/max"),
            DiagCode::Param,
            format!("`max` ({hi}) is below `min` ({lo})"),
        );
    }
    if ty == ParamType::Enum && p.choices.is_empty() {
        c.at_key(
            base,
            DiagCode::Param,
            format!("enum param `{name}` has no `choices`"),
        )
        .hints
        .push("list the allowed values: `choices: [a, b]`".into());
    }
    if ty != ParamType::Enum && !p.choices.is_empty() {
        c.at_key(
            &format!("{base}/choices"),
            DiagCode::Param,
            format!("`choices` applies to enum params; set `type: enum` on `{name}`"),
        );
    }
}

fn compile_pattern(c: &mut Checker<'_>, base: &str, p: &Param) -> Option<regex::Regex> {
    let pat = p.pattern.as_ref()?;
    match compiled(pat) {
        Ok(r) => Some(r),
        Err(msg) => {
            c.at(
                &format!("{base}/pattern"),
                DiagCode::Pattern,
                format!("`pattern` is not a valid regular expression: {msg}"),
            );
            None
        }
    }
}

/// `pat` compiled, or the last line of the compiler's message. Compiling costs far more than
/// the rest of a param's checks, and runbooks of one team repeat their patterns: each distinct
/// pattern is compiled once per process (`rb validate` checks many files on several threads).
fn compiled(pat: &str) -> Result<regex::Regex, String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Cache = Mutex<HashMap<String, Result<regex::Regex, String>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    if let Some(hit) = cache.lock().ok().and_then(|m| m.get(pat).cloned()) {
        return hit;
    }
    let made = regex::Regex::new(pat).map_err(|e| {
        let msg = e.to_string();
        msg.lines().last().unwrap_or("").trim().to_string()
    });
    if let Ok(mut m) = cache.lock() {
        m.insert(pat.to_string(), made.clone());
    }
    made
}

fn check_secret(c: &mut Checker<'_>, base: &str, name: &str, p: &Param) {
    if p.env.is_none() {
        c.at_key(
            base,
            DiagCode::SecretWithoutEnv,
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
            DiagCode::SecretDefault,
            format!("secret param `{name}` has a default written in the runbook"),
        )
        .hints
        .push("a secret must come from the environment, never from a reviewed file; `default: \"\"` makes it optional".into());
    }
}

fn check_default(
    c: &mut Checker<'_>,
    base: &str,
    name: &str,
    p: &Param,
    d: &Value,
    regex: Option<&regex::Regex>,
) {
    let ptr = format!("{base}/default");
    let problem = match (p.ty, d) {
        (ParamType::String, Value::String(s)) => regex
            .is_some_and(|r| !r.is_match(s))
            .then(|| format!("default `{s}` does not match the pattern of `{name}`")),
        (ParamType::Integer, Value::Number(n)) if n.is_i64() => {
            let v = n.as_i64().unwrap_or_default();
            (p.min.is_some_and(|m| v < m) || p.max.is_some_and(|m| v > m))
                .then(|| format!("default {v} of `{name}` is outside its bounds"))
        }
        (ParamType::Boolean, Value::Bool(_)) => None,
        (ParamType::Duration, Value::String(s)) => Duration::parse(s)
            .err()
            .map(|e| format!("default of `{name}`: {e}")),
        (ParamType::Enum, Value::String(s)) => (!p.choices.contains(s))
            .then(|| format!("default `{s}` of `{name}` is not one of its choices")),
        (ty, v) => {
            let hint = match ty {
                ParamType::String | ParamType::Enum | ParamType::Duration => {
                    "quote it to make it a string".to_string()
                }
                other => format!("write {} {other} value, or change `type`", article(other)),
            };
            c.at(
                &ptr,
                DiagCode::ParamDefault,
                format!("default of `{name}` is {v}, not {} {ty} value", article(ty)),
            )
            .hints
            .push(hint);
            None
        }
    };
    if let Some(msg) = problem {
        c.at(&ptr, DiagCode::ParamDefault, msg);
    }
}

/// `a` or `an` before the name of a param type.
fn article(ty: ParamType) -> &'static str {
    match ty {
        ParamType::Integer | ParamType::Enum => "an",
        _ => "a",
    }
}
