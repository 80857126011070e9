//! Validation: bytes → a typed [`Runbook`], or every problem found, each with its place.
//!
//! Three stages, each reported in full before giving up: YAML loading (with places), the JSON
//! Schema (the same file editors and CI use), then rb's semantic checks ([`super::check`]) on the
//! typed runbook. Schema errors are translated into plain words with hints; raw validator output
//! is not what a person on call should read.

use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::check;
use super::format;
use super::load::{self, SourceMap};
use super::model::Runbook;
use super::schema_errors;
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
    let (runbook, map) = typed(file, stem, bytes)?;
    let text: Arc<str> = Arc::from(String::from_utf8_lossy(bytes).as_ref());
    let source = Source {
        name: file.to_string(),
        text,
    };
    let sha256 = hex(&Sha256::digest(bytes));
    Ok(Document {
        source,
        runbook,
        map,
        sha256,
    })
}

/// Every problem of `bytes` read from `file` (empty when it is valid): what [`validate`] finds,
/// without keeping a copy of the text or hashing it (`rb validate` checks many files and keeps
/// nothing of the valid ones).
pub fn diagnose(file: &str, stem: Option<&str>, bytes: &[u8]) -> Vec<Diagnostic> {
    typed(file, stem, bytes).err().unwrap_or_default()
}

/// The three stages: the typed runbook and its places, or every problem found.
fn typed(
    file: &str,
    stem: Option<&str>,
    bytes: &[u8],
) -> Result<(Runbook, SourceMap), Vec<Diagnostic>> {
    let (value, map) = load::load(file, bytes)?;
    let mut diags = schema_errors::diagnostics(file, &value, &map);
    if !diags.is_empty() {
        diags.extend(semantics_despite(file, stem, &value, &map, &diags));
        diag::sort(&mut diags);
        diags.dedup_by(|a, b| a.headline() == b.headline());
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
    Ok((runbook, map))
}

/// The semantic checks of a runbook the schema refused, on what can be typed once the refused
/// keys are set aside: so one `rb validate` shows a typo'd key, a watch missing `until` and an
/// undefined `{{ mnt }}` together. Nothing when even that cannot be typed.
fn semantics_despite(
    file: &str,
    stem: Option<&str>,
    value: &Value,
    map: &SourceMap,
    schema: &[Diagnostic],
) -> Vec<Diagnostic> {
    let mut cleaned = value.clone();
    for d in schema {
        let Some(pointer) = d.pointer.as_deref() else {
            continue;
        };
        // A missing key points at its parent: keep the parent. Anything else is set aside.
        if d.code == DiagCode::MissingKey || pointer.is_empty() {
            continue;
        }
        remove(&mut cleaned, pointer);
    }
    let Ok(file_form) = serde_json::from_value::<format::Runbook>(cleaned) else {
        return Vec::new();
    };
    let mut out = check::kind_fields(file, &file_form, map);
    if let Some(runbook) = Runbook::from_format_lenient(file_form) {
        out.extend(check::check(file, stem, &runbook, map));
    }
    out
}

/// Removes the node at a JSON pointer (a key of a mapping; an item of a list is left alone, so
/// indices stay the file's).
fn remove(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        map.remove(&key);
    }
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
