//! Small text helpers of the post-mortem: times, lists, table cells and step statuses in words.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::CELL_MAX;
use super::facts::AttemptFact;
use super::human_duration;
use crate::transcript::{Mode, StepStatus};

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

/// `failed in 2.1 s, exit code 1: why`.
pub(super) fn describe_status(a: &AttemptFact) -> String {
    let status = a.status.map_or("did not finish", StepStatus::phrase);
    let mut s = format!("{status} in {}", human_duration(a.duration_ms));
    if let Some(code) = a.exit_code {
        let _ = write!(s, ", exit code {code}");
    }
    if let Some(r) = &a.reason
        && a.exit_code.is_none_or(|c| *r != format!("exit code {c}"))
    {
        let _ = write!(s, ": {}", cell(r));
    }
    s
}
