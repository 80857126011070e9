//! The runbook JSON Schema, generated from the model types.
//!
//! `schemas/runbook.schema.json` is this output, checked in for editors (yaml-language-server)
//! and CI tools; a test fails when the two differ, so the file can never drift from the code.

use std::sync::OnceLock;

use super::format::Runbook;

/// The schema as pretty JSON with a trailing newline (the exact bytes of the checked-in file).
pub fn runbook_schema_json() -> String {
    let mut text = serde_json::to_string_pretty(runbook_schema()).expect("a schema serializes");
    text.push('\n');
    text
}

/// The schema as a JSON value (generated once).
pub fn runbook_schema() -> &'static serde_json::Value {
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let settings = schemars::generate::SchemaSettings::draft2020_12();
        let schema = settings.into_generator().into_root_schema_for::<Runbook>();
        let mut value = serde_json::to_value(schema).expect("a schema is JSON");
        strip_rust_formats(&mut value);
        remove_null(&mut value);
        value
    })
}

/// Removes schemars' Rust-specific `format`s (`uint32`, …): other validators (ajv in strict
/// mode) reject formats they do not know, and the bounds are already stated with `minimum`.
fn strip_rust_formats(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if map.get("format").and_then(|f| f.as_str()).is_some_and(|f| {
                f.starts_with("int") || f.starts_with("uint") || f == "double" || f == "float"
            }) {
                map.remove("format");
            }
            map.values_mut().for_each(strip_rust_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_rust_formats),
        _ => {}
    }
}

/// Removes `null` from optional fields. A runbook leaves a field out by omitting the key; and
/// `anyOf: [X, null]` would turn every mistake in X into a vague "not valid under any of".
fn remove_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    if let Value::Object(map) = v {
        if let Some(Value::Array(types)) = map.get_mut("type") {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                let t = types.remove(0);
                map.insert("type".into(), t);
            }
        }
        if let Some(Value::Array(alts)) = map.get("anyOf")
            && alts.len() == 2
            && alts
                .iter()
                .any(|a| a == &serde_json::json!({"type": "null"}))
        {
            let keep = alts
                .iter()
                .find(|a| *a != &serde_json::json!({"type": "null"}))
                .cloned();
            map.remove("anyOf");
            if let Some(Value::Object(inner)) = keep {
                for (k, val) in inner {
                    map.entry(k).or_insert(val);
                }
            }
        }
        map.values_mut().for_each(remove_null);
    } else if let Value::Array(items) = v {
        items.iter_mut().for_each(remove_null);
    }
}

/// A compiled validator for the schema (built once).
pub fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        jsonschema::draft202012::new(runbook_schema()).expect("the generated schema compiles")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn checked_in_schema_matches_the_types() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/runbook.schema.json");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == super::runbook_schema_json(),
            "schemas/runbook.schema.json is out of date; regenerate it with `cargo run -- schema > schemas/runbook.schema.json`"
        );
    }
}
