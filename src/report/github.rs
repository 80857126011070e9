//! GitHub Actions annotations: one `::error file=…,line=…,col=…,title=…::message` workflow
//! command per diagnostic, escaped exactly as `@actions/core` escapes (`%`, `\r`, `\n` in data;
//! also `:` and `,` in property values), so a message can hold any text without breaking the
//! command or injecting another one.

use std::fmt::Write as _;

use crate::diag::{Diagnostic, Severity};

/// Escapes the message part of a workflow command (the toolkit's `escapeData`).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (the toolkit's `escapeProperty`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One annotation line per diagnostic (hints follow the message on their own lines).
pub fn annotations(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = vec![format!("file={}", escape_property(&d.file))];
        if let Some(s) = d.span {
            props.push(format!("line={}", s.line));
            props.push(format!("col={}", s.column));
        }
        props.push(format!(
            "title={}",
            escape_property(&format!("rb {}", d.code))
        ));
        let mut message = d.message.clone();
        for h in &d.hints {
            message.push_str("\nhint: ");
            message.push_str(h);
        }
        let _ = writeln!(
            out,
            "::{level} {}::{}",
            props.join(","),
            escape_data(&message)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Span;

    #[test]
    fn escapes_as_the_toolkit_does() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn one_command_per_diagnostic_with_place_and_hints() {
        let d = Diagnostic::error(
            "runbooks/a,b.yaml",
            Some(Span::new(3, 5, 1)),
            crate::diag::DiagCode::UnknownKey,
            "unknown key `timout`: 100%",
        )
        .hint("did you mean `timeout`?");
        let out = annotations(&[d]);
        assert_eq!(
            out,
            "::error file=runbooks/a%2Cb.yaml,line=3,col=5,title=rb unknown-key::\
             unknown key `timout`: 100%25%0Ahint: did you mean `timeout`?\n"
        );
        // A message cannot start a second workflow command.
        let evil = Diagnostic::error(
            "a.yaml",
            None,
            crate::diag::DiagCode::Schema,
            "m\n::error::injected",
        );
        let out = annotations(&[evil]);
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(
            out.starts_with("::error file=a.yaml,title=rb schema::"),
            "{out}"
        );
    }
}
