//! Validation: bytes → a typed [`Runbook`], or every problem found, each with its place.
//!
//! Three stages, each reported in full before giving up: YAML loading (with places), the JSON
//! Schema (the same file editors and CI use), then rb's semantic checks ([`super::check`]) on the
//! typed runbook. Schema errors are translated into plain words with hints; raw validator output
//! is not what a person on call should read.

use std::sync::Arc;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::check;
use super::format;
use super::load::{self, SourceMap};
use super::model::Runbook;
use super::schema;
use crate::diag::{self, DiagCode, Diagnostic, Source};

/// A runbook that passed every check, with what is needed to point back into its file.
#[derive(Debug, Clone)]
pub struct Document {
    pub source: Source,
    pub runbook: Runbook,
    pub map: SourceMap,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// Validates `bytes` read from `file`. `stem` is the file stem the `name` must equal
/// (None when the runbook did not come from a file with a meaningful name).
pub fn validate(file: &str, stem: Option<&str>, bytes: &[u8]) -> Result<Document, Vec<Diagnostic>> {
    let (value, map) = load::load(file, bytes)?;
    let text: Arc<str> = Arc::from(String::from_utf8_lossy(bytes).as_ref());
    let source = Source {
        name: file.to_string(),
        text,
    };

    let mut diags = schema_diagnostics(file, &value, &map);
    if !diags.is_empty() {
        diag::sort(&mut diags);
        return Err(diags);
    }
    let file_form: format::Runbook = match serde_path_to_error::deserialize(&value) {
        Ok(r) => r,
        Err(e) => {
            let pointer = path_to_pointer(&e.path().to_string());
            return Err(vec![
                Diagnostic::error(
                    file,
                    map.span(&pointer),
                    DiagCode::InvalidValue,
                    e.into_inner().to_string(),
                )
                .at_pointer(pointer),
            ]);
        }
    };
    let mut diags = check::kind_fields(file, &file_form, &map);
    let runbook = match Runbook::from_format(file_form) {
        Ok(r) => r,
        Err(missing) => {
            let pointer = format!("/steps/{}", missing.step);
            diags.push(
                Diagnostic::error(
                    file,
                    map.span(&pointer),
                    DiagCode::InvalidValue,
                    format!("this step needs `{}`", missing.field),
                )
                .at_pointer(pointer),
            );
            diag::sort(&mut diags);
            return Err(diags);
        }
    };
    diags.extend(check::check(file, stem, &runbook, &map));
    if !diags.is_empty() {
        diag::sort(&mut diags);
        return Err(diags);
    }
    let sha256 = hex(&Sha256::digest(bytes));
    Ok(Document {
        source,
        runbook,
        map,
        sha256,
    })
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `steps[1].timeout` (serde_path_to_error) → `/steps/1/timeout`.
fn path_to_pointer(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut out = String::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            out.push('/');
            out.push_str(&load::escape(&rest[..i]));
            rest = &rest[i..];
            while let Some(end) = rest.find(']') {
                out.push('/');
                out.push_str(&rest[1..end]);
                rest = &rest[end + 1..];
            }
        } else {
            out.push('/');
            out.push_str(&load::escape(rest));
        }
    }
    out
}

/// Where in the model a pointer lands: a name for messages, and the keys allowed there (read
/// from the schema itself, so suggestions can never disagree with what is accepted).
fn context_of(pointer: &str) -> (&'static str, Vec<&'static str>) {
    let segs: Vec<&str> = pointer.split('/').skip(1).collect();
    let (what, def) = match segs.as_slice() {
        [] => ("the runbook", None),
        ["steps", _] => ("a step", Some("Step")),
        ["steps", _, "retry"] => ("`retry`", Some("Retry")),
        ["steps", _, "confirm"] => ("`confirm`", Some("Confirm")),
        ["params", _] => ("a param", Some("Param")),
        _ => return ("this mapping", Vec::new()),
    };
    let root = schema::runbook_schema();
    let node = match def {
        Some(d) => &root["$defs"][d],
        None => root,
    };
    let keys = node["properties"]
        .as_object()
        .map(|props| props.keys().map(String::as_str).collect())
        .unwrap_or_default();
    (what, keys)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn kind_name(k: &TypeKind) -> String {
    let one = |t: &jsonschema::JsonType| match t.to_string().as_str() {
        "object" => "a mapping".to_string(),
        "array" => "a list".to_string(),
        "string" => "a string".to_string(),
        "integer" => "an integer".to_string(),
        "boolean" => "a boolean (true or false)".to_string(),
        "number" => "a number".to_string(),
        "null" => "null".to_string(),
        other => other.to_string(),
    };
    match k {
        TypeKind::Single(t) => one(t),
        TypeKind::Multiple(ts) => {
            let names: Vec<String> = ts.iter().map(|t| one(&t)).collect();
            names.join(" or ")
        }
    }
}

/// Runs the schema and turns each error into a diagnostic in plain words.
fn schema_diagnostics(file: &str, value: &Value, map: &SourceMap) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for err in schema::validator().iter_errors(value) {
        let pointer = err.instance_path().to_string();
        let instance: &Value = err.instance();
        let last = pointer
            .rsplit('/')
            .next()
            .unwrap_or("")
            .replace("~1", "/")
            .replace("~0", "~");
        let field = if pointer.is_empty() {
            "the runbook".to_string()
        } else {
            format!("`{last}`")
        };
        let span = map.span(&pointer);
        let d = match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let (what, known) = context_of(&pointer);
                for key in unexpected {
                    let p = format!("{pointer}/{}", load::escape(key));
                    let mut d = Diagnostic::error(
                        file,
                        map.key_span(&p),
                        DiagCode::UnknownKey,
                        format!("unknown key `{key}` in {what}"),
                    )
                    .at_pointer(p);
                    if let Some(s) = diag::did_you_mean(key, known.iter().copied()) {
                        d = d.hint(format!("did you mean `{s}`?"));
                    } else if !known.is_empty() {
                        d = d.hint(format!("{what} may have: {}", known.join(", ")));
                    }
                    out.push(d);
                }
                continue;
            }
            ValidationErrorKind::Required { property } => {
                let prop = property.as_str().unwrap_or("?");
                let (what, _) = context_of(&pointer);
                let mut d = Diagnostic::error(
                    file,
                    span,
                    DiagCode::MissingKey,
                    format!("{what} is missing the required key `{prop}`"),
                );
                if pointer.starts_with("/steps/") && pointer.matches('/').count() == 2 {
                    let kind = instance
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("command");
                    d = d.hint(format!("a {kind} step needs `{prop}`"));
                }
                d
            }
            ValidationErrorKind::Type { kind } => {
                let mut d = Diagnostic::error(
                    file,
                    span,
                    DiagCode::Type,
                    format!(
                        "{field} must be {}, found {}",
                        kind_name(kind),
                        type_name(instance)
                    ),
                );
                if matches!(instance, Value::String(s) if s == "yes" || s == "no" || s == "on" || s == "off")
                {
                    d = d.hint(
                        "YAML 1.2 reads `yes`/`no`/`on`/`off` as text; write `true` or `false`",
                    );
                }
                d
            }
            ValidationErrorKind::Pattern { pattern } => {
                let v = instance.as_str().unwrap_or_default();
                if pattern == super::duration::PATTERN || pattern == super::duration::SPEC_PATTERN {
                    Diagnostic::error(file, span, DiagCode::Duration, format!("`{v}` is not a duration"))
                        .hint("write a number followed by a unit (`500ms`, `30s`, `5m`, `1h30m`), or name a duration param: `{{ wait }}`")
                } else if last == "name" || last == "id" {
                    Diagnostic::error(
                        file,
                        span,
                        DiagCode::Name,
                        format!("{field} `{v}` is not a valid name"),
                    )
                    .hint("use lowercase letters, digits and dashes, like `disk-full`")
                } else {
                    Diagnostic::error(
                        file,
                        span,
                        DiagCode::Pattern,
                        format!("{field} `{v}` does not match `{pattern}`"),
                    )
                }
            }
            ValidationErrorKind::PropertyNames { error } => {
                let name = error.instance().as_str().unwrap_or("?").to_string();
                let p = format!("{pointer}/{}", load::escape(&name));
                Diagnostic::error(file, map.key_span(&p), DiagCode::Name, format!("`{name}` is not a valid parameter name"))
                    .hint("parameter names are lowercase identifiers like `mount` or `max_age`, usable in templates")
            }
            ValidationErrorKind::Enum { options } => {
                let opts: Vec<String> = options
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|o| format!("`{}`", o.as_str().unwrap_or(&o.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                let found = instance
                    .as_str()
                    .map_or_else(|| instance.to_string(), str::to_string);
                let mut d = Diagnostic::error(
                    file,
                    span,
                    DiagCode::Enum,
                    format!(
                        "{field} is `{found}`, which is not one of {}",
                        opts.join(", ")
                    ),
                );
                if let Some(s) = instance.as_str().and_then(|f| {
                    diag::did_you_mean(
                        f,
                        options
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str),
                    )
                }) {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                d
            }
            ValidationErrorKind::Constant { expected_value } => {
                let mut d = Diagnostic::error(
                    file,
                    span,
                    DiagCode::Const,
                    format!("{field} must be {expected_value}, found {instance}"),
                );
                if last == "version" {
                    d = d.hint("this rb reads format version 1");
                }
                d
            }
            ValidationErrorKind::MinItems { limit } => Diagnostic::error(
                file,
                span,
                DiagCode::Empty,
                format!("{field} needs at least {limit} item(s)"),
            ),
            ValidationErrorKind::MinLength { .. } => Diagnostic::error(
                file,
                span,
                DiagCode::Empty,
                format!("{field} must not be empty"),
            ),
            ValidationErrorKind::Minimum { limit }
            | ValidationErrorKind::ExclusiveMinimum { limit } => Diagnostic::error(
                file,
                span,
                DiagCode::Range,
                format!("{field} is {instance}, below the minimum {limit}"),
            ),
            ValidationErrorKind::Maximum { limit }
            | ValidationErrorKind::ExclusiveMaximum { limit } => Diagnostic::error(
                file,
                span,
                DiagCode::Range,
                format!("{field} is {instance}, above the maximum {limit}"),
            ),
            _ => Diagnostic::error(file, span, DiagCode::Schema, format!("{field}: {err}")),
        };
        out.push(d.at_pointer(pointer));
    }
    // `allOf`/`if` rules can report the same fact twice; keep each once.
    out.dedup_by(|a, b| a.headline() == b.headline());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_pointers() {
        assert_eq!(path_to_pointer("steps[1].timeout"), "/steps/1/timeout");
        assert_eq!(
            path_to_pointer("params.mount.default"),
            "/params/mount/default"
        );
        assert_eq!(path_to_pointer("."), "");
    }
}
