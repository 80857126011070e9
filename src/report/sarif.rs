//! SARIF 2.1.0 (the OASIS static-analysis results format that GitHub code scanning and most CI
//! dashboards read): one run of the `rb` tool, one rule per diagnostic code (the code is the
//! rule id, so ids are stable across versions), one result per diagnostic.

use serde_json::{Value, json};

use crate::diag::{DiagCode, Diagnostic, Severity};

/// Where the meaning of every code is written (rb has no public web address to link to).
const HELP: &str = "Every code is explained in docs/FORMAT.md (Diagnostic codes) in rb's sources.";

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
    let mut codes: Vec<DiagCode> = diags.iter().map(|d| d.code).collect();
    codes.sort_unstable();
    codes.dedup();
    let rules: Vec<Value> = codes
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "name": c.as_str(),
                "shortDescription": { "text": c.summary() },
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

fn result(d: &Diagnostic, codes: &[DiagCode]) -> Value {
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
        "ruleId": d.code.as_str(),
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
        let a = Diagnostic::error(
            "<built-in>/x.yaml",
            Some(Span::new(2, 3, 4)),
            crate::diag::DiagCode::Type,
            "bad",
        );
        let b = Diagnostic::error("/abs/y z.yaml", None, crate::diag::DiagCode::Empty, "empty")
            .hint("write something");
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
