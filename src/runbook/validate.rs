//! Validation: bytes → a typed [`Runbook`], or every problem found, each with its place.
//!
//! Three stages, each reported in full before giving up: YAML loading (with places), the JSON
//! Schema (the same file editors and CI use), then rb's semantic checks ([`super::check`]) on the
//! typed runbook. Schema errors are translated into plain words with hints; raw validator output
//! is not what a person on call should read.

use std::sync::Arc;

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
    let (value, map) = load::load(file, bytes)?;
    let text: Arc<str> = Arc::from(String::from_utf8_lossy(bytes).as_ref());
    let source = Source {
        name: file.to_string(),
        text,
    };

    let mut diags = schema_errors::diagnostics(file, &value, &map);
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
