//! Small text helpers of the post-mortem: times, lists, table cells, and [`Words`] (text with
//! names marked, plain in JSON and code in Markdown).

use jiff::Timestamp;

use super::CELL_MAX;
use crate::transcript::Mode;

pub(super) fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "live",
        Mode::Check => "check",
        Mode::DryRun => "dry run",
    }
}

pub(super) fn fmt_ts(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

pub(super) fn ms_between(a: Timestamp, b: Timestamp) -> u64 {
    u64::try_from(b.as_millisecond() - a.as_millisecond()).unwrap_or(0)
}

pub(super) fn join<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    if v.is_empty() {
        "unknown".into()
    } else {
        v.join(", ")
    }
}

/// Text made safe for one table cell: one line, no pipes or backticks, bounded length.
pub(super) fn cell(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&one_line.replace('|', "\\|").replace('`', "'"), CELL_MAX)
}

pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// Words for people with names and commands marked, so that the Markdown shows them as code
/// and the JSON as plain text (no Markdown in `--format json`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Words(Vec<(bool, String)>);

impl Words {
    /// Plain text.
    pub(super) fn t(mut self, s: impl Into<String>) -> Words {
        self.0.push((false, s.into()));
        self
    }

    /// A name or a command (code in Markdown).
    pub(super) fn c(mut self, s: impl Into<String>) -> Words {
        self.0.push((true, s.into()));
        self
    }

    /// The text without any markup, one line.
    pub fn plain(&self) -> String {
        let s: String = self.0.iter().map(|(_, s)| s.as_str()).collect();
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The text as Markdown safe for a table cell: code spans for names, pipes escaped.
    pub(super) fn markdown(&self) -> String {
        self.0
            .iter()
            .map(|(code, s)| {
                if *code {
                    format!("`{}`", cell(s))
                } else {
                    cell_text(s)
                }
            })
            .collect()
    }
}

impl serde::Serialize for Words {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.plain())
    }
}

/// Plain text for a Markdown table cell: like [`cell`], and characters Markdown would take as
/// emphasis or HTML escaped, keeping leading and trailing spaces (the cell joins segments).
pub(super) fn cell_text(s: &str) -> String {
    let lead = if s.starts_with(char::is_whitespace) {
        " "
    } else {
        ""
    };
    let trail = if s.ends_with(char::is_whitespace) && !s.trim().is_empty() {
        " "
    } else {
        ""
    };
    let mut out = String::new();
    for ch in cell(s).chars() {
        if matches!(ch, '*' | '_' | '<' | '>' | '[' | ']') {
            out.push('\\');
        }
        out.push(ch);
    }
    format!("{lead}{out}{trail}")
}

/// `HH:MM:SS` of a time, for places the date is already given.
pub(super) fn clock(ts: Timestamp) -> String {
    ts.strftime("%H:%M:%S").to_string()
}
