//! The JSON Schema of one transcript line, generated from [`Event`] plus the envelope.
//!
//! `schemas/transcript.schema.json` is this output, checked in for other tools; a test fails when
//! the two differ. Each event variant's object schema gets the envelope fields (`seq`, `ts`,
//! `prev`) added in front and required, so a line is checked as a whole, unknown fields
//! included. [`validate_line`] is what tests use on every transcript they produce.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::event::Event;

/// The schema as pretty JSON with a trailing newline (the exact bytes of the checked-in file).
pub fn transcript_schema_json() -> String {
    let mut text = serde_json::to_string_pretty(transcript_schema()).expect("a schema serializes");
    text.push('\n');
    text
}

/// The schema of one line as a JSON value (generated once).
pub fn transcript_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let settings = schemars::generate::SchemaSettings::draft2020_12();
        let schema = settings.into_generator().into_root_schema_for::<Event>();
        let mut value = serde_json::to_value(schema).expect("a schema is JSON");
        strip_rust_formats(&mut value);
        let root = value.as_object_mut().expect("a root schema is an object");
        root.insert("title".into(), "rb transcript line".into());
        root.insert(
            "$id".into(),
            "https://rb.invalid/schemas/transcript.schema.json".into(),
        );
        root.insert(
            "description".into(),
            "One line of an rb transcript (JSON Lines): the envelope (`seq`, `ts`, `prev`) and one event, tagged by `event`.".into(),
        );
        let variants = root
            .get_mut("oneOf")
            .and_then(Value::as_array_mut)
            .expect("an internally tagged enum is a oneOf");
        for variant in variants {
            add_envelope(variant.as_object_mut().expect("a variant is an object"));
        }
        // Put the metadata first, for people reading the file.
        let mut ordered = Map::new();
        for key in ["$schema", "$id", "title", "description"] {
            if let Some(v) = root.remove(key) {
                ordered.insert(key.into(), v);
            }
        }
        ordered.extend(std::mem::take(root));
        Value::Object(ordered)
    })
}

fn add_envelope(variant: &mut Map<String, Value>) {
    let mut props = Map::new();
    props.insert(
        "seq".into(),
        json!({"description": "Position in the transcript: 1, 2, 3, …", "type": "integer", "minimum": 1}),
    );
    props.insert(
        "ts".into(),
        json!({"description": "When the event happened: RFC 3339, UTC, milliseconds.", "type": "string",
               "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"}),
    );
    props.insert(
        "prev".into(),
        json!({"description": "Hex SHA-256 of the previous line's bytes without its newline; 64 zeros on the first line.",
               "type": "string", "pattern": "^[0-9a-f]{64}$"}),
    );
    if let Some(Value::Object(existing)) = variant.remove("properties") {
        props.extend(existing);
    }
    variant.insert("properties".into(), Value::Object(props));
    let mut required: Vec<Value> = vec!["seq".into(), "ts".into(), "prev".into()];
    if let Some(Value::Array(existing)) = variant.remove("required") {
        required.extend(existing);
    }
    variant.insert("required".into(), Value::Array(required));
}

/// Removes schemars' Rust-specific `format`s (`uint32`, …), which other validators reject.
fn strip_rust_formats(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("format").and_then(|f| f.as_str()).is_some_and(|f| {
                f.starts_with("int") || f.starts_with("uint") || f == "double" || f == "float"
            }) {
                map.remove("format");
            }
            map.values_mut().for_each(strip_rust_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_rust_formats),
        _ => {}
    }
}

/// A compiled validator for the schema (built once).
pub fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        jsonschema::draft202012::new(transcript_schema()).expect("the generated schema compiles")
    })
}

/// Checks one transcript line (parsed JSON) against the schema; the error lists every problem.
pub fn validate_line(value: &Value) -> Result<(), String> {
    let errors: Vec<String> = validator()
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Checks every complete line of the transcript file at `path` (for tests).
pub fn validate_file(path: &std::path::Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let value: Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        validate_line(&value).map_err(|e| format!("line {}: {e}", i + 1))?;
        n += 1;
    }
    Ok(n)
}

/// Checks the first `count` lines of a transcript's bytes against the schema (`rb transcripts
/// verify` passes the lines [`crate::transcript::verify`] found complete and chained, so a torn
/// last line is left out). Returns the 1-based number of the first bad line and why.
pub fn validate_first_lines(bytes: &[u8], count: u64) -> Result<(), (u64, String)> {
    for (i, line) in bytes
        .split(|&b| b == b'\n')
        .take(count as usize)
        .enumerate()
    {
        let n = i as u64 + 1;
        let value: Value = serde_json::from_slice(line).map_err(|e| (n, e.to_string()))?;
        validate_line(&value).map_err(|e| (n, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_schema_matches_the_types() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/transcript.schema.json"
        );
        if std::env::var_os("RB_UPDATE_SCHEMAS").is_some() {
            std::fs::write(path, transcript_schema_json()).unwrap();
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == transcript_schema_json(),
            "schemas/transcript.schema.json is out of date; regenerate it with `RB_UPDATE_SCHEMAS=1 cargo test --lib checked_in_schema_matches_the_types`"
        );
    }

    #[test]
    fn the_schema_rejects_a_line_without_envelope_or_with_unknown_fields() {
        let good = json!({"seq": 3, "ts": "2026-11-24T23:05:01.042Z", "prev": "a".repeat(64),
                          "event": "note", "by": "ana", "text": "looks like the cache"});
        validate_line(&good).unwrap();
        let mut no_seq = good.clone();
        no_seq.as_object_mut().unwrap().remove("seq");
        assert!(validate_line(&no_seq).is_err());
        let mut extra = good.clone();
        extra["colour"] = "red".into();
        assert!(validate_line(&extra).is_err());
        let mut bad_event = good;
        bad_event["event"] = "nope".into();
        assert!(validate_line(&bad_event).is_err());
    }
}
