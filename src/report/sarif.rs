//! SARIF 2.1.0 (the OASIS static-analysis results format that GitHub code scanning and most CI
//! dashboards read): one run of the `rb` tool, one rule per diagnostic code (the code is the
//! rule id, so ids are stable across versions), one result per diagnostic.

use serde_json::{Value, json};

use crate::diag::{Diagnostic, Severity};

/// Where the meaning of every code is written (rb has no public web address to link to).
const HELP: &str = "Every code is explained in docs/FORMAT.md (Diagnostic codes) in rb's sources.";

/// A one-line description of each diagnostic code (docs/FORMAT.md lists them all).
fn describe(code: &str) -> &'static str {
    match code {
        "file-too-large" => "The file is larger than rb accepts.",
        "not-utf8" => "The file is not UTF-8.",
        "empty" => "The file or a required value is empty.",
        "yaml-syntax" => "The file is not valid YAML.",
        "yaml-value" | "yaml-key" => "A YAML value or key rb cannot use.",
        "yaml-alias" => "A YAML alias that is undefined or too large.",
        "duplicate-key" => "A mapping has the same key twice.",
        "multiple-documents" => "The file holds more than one YAML document.",
        "too-deep" | "too-many-nodes" => "The document exceeds rb's size budget.",
        "unknown-key" => "A key the runbook format does not have.",
        "missing-key" => "A required key is missing.",
        "type" | "enum" | "const" | "invalid-value" => "A value of the wrong type or choice.",
        "duration" => "A value that is not a duration such as 30s or 5m.",
        "name" | "name-mismatch" => "A runbook name that is not kebab-case or not the file stem.",
        "pattern" => "A value or pattern that does not match.",
        "range" => "A number out of its allowed range.",
        "schema" => "The document does not match the runbook schema.",
        "requires" => "A problem in `requires:`.",
        "param" | "param-default" | "duration-param" => "A problem in a param definition.",
        "secret-without-env" | "secret-default" | "secret-in-command" => {
            "A secret that could leak or cannot be supplied."
        }
        "duplicate-id" | "duplicate-capture" => "Two steps share an id or a capture name.",
        "capture-shadows-param" | "capture-reserved" => "A capture name that is already taken.",
        "undefined-variable" => "A template uses a variable that is not defined before it.",
        "template" | "expression" | "quoted-template" => "A template or expression rb rejects.",
        "field-unused" => "A key that the step's kind does not use.",
        "rollback-on-read-only" | "confirm-on-read-only" => {
            "A read-only step with a rollback or confirmation."
        }
        "watch-window" => "A watch whose timeout does not exceed its window.",
        "io" => "The file cannot be read.",
        _ => "A runbook problem (see docs/FORMAT.md).",
    }
}

/// A relative URI reference for a file name: unreserved characters and `/` kept, the rest
/// percent-encoded (so `<built-in>/x.yaml` is a valid URI). Absolute paths become `file://` URIs.
fn uri(file: &str) -> String {
    let mut out = String::new();
    for b in file.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    if file.starts_with('/') {
        format!("file://{out}")
    } else {
        out
    }
}

/// The SARIF log for `diags` (every diagnostic of every file checked).
pub fn log(diags: &[Diagnostic]) -> Value {
    let mut codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
    codes.sort_unstable();
    codes.dedup();
    let rules: Vec<Value> = codes
        .iter()
        .map(|c| {
            json!({
                "id": c,
                "name": c,
                "shortDescription": { "text": describe(c) },
                "help": { "text": HELP },
            })
        })
        .collect();
    let results: Vec<Value> = diags.iter().map(|d| result(d, &codes)).collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "rb",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            // rb counts columns in characters, not UTF-16 units.
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

fn result(d: &Diagnostic, codes: &[&str]) -> Value {
    let mut text = d.message.clone();
    for h in &d.hints {
        text.push_str("\nhint: ");
        text.push_str(h);
    }
    let mut location = json!({ "artifactLocation": { "uri": uri(&d.file) } });
    if let Some(s) = d.span {
        location["region"] = json!({
            "startLine": s.line,
            "startColumn": s.column,
            "endColumn": s.column + s.len.max(1),
        });
    }
    json!({
        "ruleId": d.code,
        "ruleIndex": codes.iter().position(|c| *c == d.code).unwrap_or(0),
        "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "message": { "text": text },
        "locations": [{ "physicalLocation": location }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Span;

    #[test]
    fn results_point_at_rules_by_index_and_files_by_uri() {
        let a = Diagnostic::error("<built-in>/x.yaml", Some(Span::new(2, 3, 4)), "type", "bad");
        let b = Diagnostic::error("/abs/y z.yaml", None, "empty", "empty").hint("write something");
        let log = log(&[a, b]);
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "empty");
        assert_eq!(run["tool"]["driver"]["rules"][1]["id"], "type");
        let r0 = &run["results"][0];
        assert_eq!(r0["ruleIndex"], 1);
        let loc = &r0["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "%3Cbuilt-in%3E/x.yaml");
        assert_eq!(loc["region"]["endColumn"], 7);
        let r1 = &run["results"][1];
        assert_eq!(
            r1["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "file:///abs/y%20z.yaml"
        );
        assert_eq!(r1["message"]["text"], "empty\nhint: write something");
    }
}
