//! Diagnostics: one type for every problem rb reports about a user's file, whether found while
//! loading YAML, validating against the schema, checking semantics or rendering a template.
//!
//! A diagnostic knows its file, its place (line and column, 1-based, in characters), a stable
//! code, a message and hints. It renders itself for humans (a `path:line:col: error[code]: …`
//! headline, then a snippet of the source with carets) and as JSON for machines.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

mod code;

pub use code::{DiagCode, Stage};

/// A place in a source file. Lines and columns are 1-based and count characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    /// Length in characters on the first line (at least 1 when drawn).
    #[serde(skip)]
    pub len: usize,
}

impl Span {
    pub fn new(line: usize, column: usize, len: usize) -> Self {
        Span { line, column, len }
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A source file as read: its name for display and its text (for snippets).
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: Arc<str>,
}

/// One problem in one file.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    pub file: String,
    #[serde(flatten)]
    pub span: Option<Span>,
    pub severity: Severity,
    pub code: DiagCode,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// The JSON pointer of the offending node (`/steps/1/timeout`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

impl Diagnostic {
    /// An error at `span` in `file`.
    pub fn error(
        file: impl Into<String>,
        span: Option<Span>,
        code: DiagCode,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            span,
            severity: Severity::Error,
            code,
            message: message.into(),
            hints: Vec::new(),
            pointer: None,
        }
    }

    /// Adds a hint line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Records the JSON pointer of the node.
    pub fn at_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.pointer = Some(pointer.into());
        self
    }

    /// `path:line:col: error[code]: message`
    pub fn headline(&self) -> String {
        let place = match self.span {
            Some(s) => format!("{}:{}:{}", self.file, s.line, s.column),
            None => self.file.clone(),
        };
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!("{place}: {sev}[{}]: {}", self.code, self.message)
    }

    /// The headline, a snippet of `source` with carets under the place, and the hints.
    /// `color` switches ANSI styling on; the text reads the same without it.
    pub fn render(&self, source: Option<&str>, color: bool) -> String {
        let style = |s: &str, st: console::Style| {
            if color {
                st.force_styling(true).apply_to(s).to_string()
            } else {
                s.to_string()
            }
        };
        let mut out = String::new();
        let head = self.headline();
        let sev_style = match self.severity {
            Severity::Error => console::Style::new().red().bold(),
            Severity::Warning => console::Style::new().yellow().bold(),
        };
        let _ = writeln!(out, "{}", style(&head, sev_style.clone()));
        if let (Some(span), Some(text)) = (self.span, source)
            && let Some(line) = text.lines().nth(span.line.saturating_sub(1))
        {
            let line = line.trim_end_matches('\r');
            // Keep snippets readable for pathological (very long) lines.
            let shown: String = line.chars().take(200).collect();
            let gutter = span.line.to_string().len();
            let blue = console::Style::new().blue().bold();
            let _ = writeln!(out, "{} |", style(&" ".repeat(gutter), blue.clone()));
            let _ = writeln!(
                out,
                "{} | {}",
                style(&span.line.to_string(), blue.clone()),
                // One character each, so carets stay aligned; control characters from the
                // file must not reach the terminal.
                shown
                    .chars()
                    .map(|c| match c {
                        '\t' => ' ',
                        c if c.is_control() => '\u{fffd}',
                        c => c,
                    })
                    .collect::<String>()
            );
            let col = span.column.saturating_sub(1).min(shown.chars().count());
            let width = span
                .len
                .max(1)
                .min(shown.chars().count().saturating_sub(col).max(1));
            let _ = writeln!(
                out,
                "{} | {}{}",
                style(&" ".repeat(gutter), blue),
                " ".repeat(col),
                style(&"^".repeat(width), sev_style)
            );
        }
        for hint in &self.hints {
            let _ = writeln!(out, "  = hint: {hint}");
        }
        out
    }
}

/// Sorts diagnostics by file, then place, keeping the order of equal ones.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (a.file.as_str(), a.span.map(|s| (s.line, s.column)))
            .cmp(&(b.file.as_str(), b.span.map(|s| (s.line, s.column))))
    });
}

/// Suggests the candidate closest to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len().max(word.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headline_has_place_code_and_message() {
        let d = Diagnostic::error("a.yaml", Some(Span::new(3, 5, 2)), DiagCode::Type, "bad");
        assert_eq!(d.headline(), "a.yaml:3:5: error[type]: bad");
    }

    #[test]
    fn render_draws_carets_under_the_span() {
        let d = Diagnostic::error("a.yaml", Some(Span::new(2, 3, 4)), DiagCode::Schema, "m")
            .hint("do y");
        let out = d.render(Some("one\n  abcd\n"), false);
        assert_eq!(
            out,
            "a.yaml:2:3: error[schema]: m\n  |\n2 |   abcd\n  |   ^^^^\n  = hint: do y\n"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        let c = ["timeout", "title", "retry"];
        assert_eq!(did_you_mean("timout", c), Some("timeout"));
        assert_eq!(did_you_mean("zzzzzz", c), None);
    }
}
