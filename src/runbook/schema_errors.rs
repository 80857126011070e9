//! JSON Schema errors in plain words: each kind of schema error becomes a diagnostic that names
//! the key, says what was expected and found, and hints at the fix ("did you mean", YAML 1.2's
//! `yes`, duration syntax). Raw validator output is not what a person on call should read.

use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::load::{self, SourceMap};
use super::schema;
use crate::diag::{self, DiagCode, Diagnostic, Span};

/// Where one schema error is, and what it is about.
struct At<'a> {
    file: &'a str,
    map: &'a SourceMap,
    pointer: String,
    span: Option<Span>,
    /// The last key of the pointer (`timeout`), unescaped.
    last: String,
    /// How messages name the node: `` `timeout` `` or "the runbook".
    field: String,
    instance: &'a Value,
}

impl<'a> At<'a> {
    fn new(file: &'a str, map: &'a SourceMap, err: &'a ValidationError<'_>) -> At<'a> {
        let pointer = err.instance_path().to_string();
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
        At {
            file,
            map,
            span: map.span(&pointer),
            pointer,
            last,
            field,
            instance: err.instance(),
        }
    }

    fn error(&self, code: DiagCode, message: String) -> Diagnostic {
        Diagnostic::error(self.file, self.span, code, message)
    }
}

/// Runs the schema and turns each error into a diagnostic in plain words.
pub fn diagnostics(file: &str, value: &Value, map: &SourceMap) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for err in schema::validator().iter_errors(value) {
        let at = At::new(file, map, &err);
        match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                out.extend(unexpected.iter().map(|key| unknown_key(&at, key)));
            }
            kind => out.push(one(&at, kind, &err).at_pointer(at.pointer.clone())),
        }
    }
    // `allOf`/`if` rules can report the same fact twice; keep each once.
    out.dedup_by(|a, b| a.headline() == b.headline());
    out
}

fn one(at: &At<'_>, kind: &ValidationErrorKind, err: &ValidationError<'_>) -> Diagnostic {
    let (field, instance) = (&at.field, at.instance);
    match kind {
        ValidationErrorKind::Required { property } => missing_key(at, property),
        ValidationErrorKind::Type { kind } => wrong_type(at, kind),
        ValidationErrorKind::Pattern { pattern } => no_match(at, pattern),
        ValidationErrorKind::PropertyNames { error } => bad_param_name(at, error),
        ValidationErrorKind::Enum { options } => not_one_of(at, options),
        ValidationErrorKind::Constant { expected_value } => {
            let d = at.error(
                DiagCode::Const,
                format!("{field} must be {expected_value}, found {instance}"),
            );
            if at.last == "version" {
                d.hint("this rb reads format version 1")
            } else {
                d
            }
        }
        ValidationErrorKind::MinItems { limit } => at.error(
            DiagCode::Empty,
            format!("{field} needs at least {limit} item(s)"),
        ),
        ValidationErrorKind::MinLength { .. } => {
            at.error(DiagCode::Empty, format!("{field} must not be empty"))
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => at.error(
            DiagCode::Range,
            format!("{field} is {instance}, below the minimum {limit}"),
        ),
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => at.error(
            DiagCode::Range,
            format!("{field} is {instance}, above the maximum {limit}"),
        ),
        _ => at.error(DiagCode::Schema, format!("{field}: {err}")),
    }
}

fn unknown_key(at: &At<'_>, key: &str) -> Diagnostic {
    let (what, known) = context_of(&at.pointer);
    let p = format!("{}/{}", at.pointer, load::escape(key));
    let d = Diagnostic::error(
        at.file,
        at.map.key_span(&p),
        DiagCode::UnknownKey,
        format!("unknown key `{key}` in {what}"),
    )
    .at_pointer(p);
    if let Some(s) = diag::did_you_mean(key, known.iter().copied()) {
        d.hint(format!("did you mean `{s}`?"))
    } else if !known.is_empty() {
        d.hint(format!("{what} may have: {}", known.join(", ")))
    } else {
        d
    }
}

fn missing_key(at: &At<'_>, property: &Value) -> Diagnostic {
    let prop = property.as_str().unwrap_or("?");
    let (what, _) = context_of(&at.pointer);
    let d = at.error(
        DiagCode::MissingKey,
        format!("{what} is missing the required key `{prop}`"),
    );
    if at.pointer.starts_with("/steps/") && at.pointer.matches('/').count() == 2 {
        let kind = at
            .instance
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("command");
        d.hint(format!("a {kind} step needs `{prop}`"))
    } else {
        d
    }
}

fn wrong_type(at: &At<'_>, kind: &TypeKind) -> Diagnostic {
    let d = at.error(
        DiagCode::Type,
        format!(
            "{} must be {}, found {}",
            at.field,
            kind_name(kind),
            type_name(at.instance)
        ),
    );
    if matches!(at.instance, Value::String(s) if ["yes", "no", "on", "off"].contains(&s.as_str())) {
        d.hint("YAML 1.2 reads `yes`/`no`/`on`/`off` as text; write `true` or `false`")
    } else {
        d
    }
}

fn no_match(at: &At<'_>, pattern: &str) -> Diagnostic {
    let v = at.instance.as_str().unwrap_or_default();
    let field = &at.field;
    if pattern == super::duration::PATTERN || pattern == super::duration::SPEC_PATTERN {
        at.error(DiagCode::Duration, format!("`{v}` is not a duration"))
            .hint("write a number followed by a unit (`500ms`, `30s`, `5m`, `1h30m`), or name a duration param: `{{ wait }}`")
    } else if at.last == "name" || at.last == "id" {
        at.error(DiagCode::Name, format!("{field} `{v}` is not a valid name"))
            .hint("use lowercase letters, digits and dashes, like `disk-full`")
    } else {
        at.error(
            DiagCode::Pattern,
            format!("{field} `{v}` does not match `{pattern}`"),
        )
    }
}

fn bad_param_name(at: &At<'_>, error: &ValidationError<'_>) -> Diagnostic {
    let name = error.instance().as_str().unwrap_or("?").to_string();
    let p = format!("{}/{}", at.pointer, load::escape(&name));
    Diagnostic::error(
        at.file,
        at.map.key_span(&p),
        DiagCode::Name,
        format!("`{name}` is not a valid parameter name"),
    )
    .hint(
        "parameter names are lowercase identifiers like `mount` or `max_age`, usable in templates",
    )
}

fn not_one_of(at: &At<'_>, options: &Value) -> Diagnostic {
    let allowed: Vec<&Value> = options.as_array().into_iter().flatten().collect();
    let opts: Vec<String> = allowed
        .iter()
        .map(|o| format!("`{}`", o.as_str().unwrap_or(&o.to_string())))
        .collect();
    let found = at
        .instance
        .as_str()
        .map_or_else(|| at.instance.to_string(), str::to_string);
    let d = at.error(
        DiagCode::Enum,
        format!(
            "{} is `{found}`, which is not one of {}",
            at.field,
            opts.join(", ")
        ),
    );
    let words = allowed.iter().filter_map(|o| o.as_str());
    match at
        .instance
        .as_str()
        .and_then(|f| diag::did_you_mean(f, words))
    {
        Some(s) => d.hint(format!("did you mean `{s}`?")),
        None => d,
    }
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
