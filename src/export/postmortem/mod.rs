//! The post-mortem draft: a blameless post-mortem in Markdown, facts filled in from one or more
//! transcripts, judgement left to people.
//!
//! Sections follow the Google SRE book's example post-mortem and PagerDuty's template: title,
//! summary, impact, timeline, root cause, resolution, what went well, what went wrong, runbook
//! feedback, action items, lessons learned, supporting information. The timeline merges the events
//! of every transcript by time; each row cites its evidence as `T<n>#<seq>` (transcript n of the
//! supporting information, line `seq`). Output is summarised (line counts, the last lines of a
//! failed step), never pasted whole. Text meant to be written by people is in _italics_.
//!
//! The facts are computed once, by [`facts`] ([`facts.rs`](facts)), into a serializable [`Facts`];
//! the timeline rows are built in [`timeline`]; the Markdown draft ([`render_markdown`], one
//! function per section in [`markdown`]) and `rb postmortem --format json` are two renderings of
//! the same value.

mod facts;
mod markdown;
mod mermaid;
mod steps;
mod text;
mod timeline;

use std::path::PathBuf;

pub use facts::{
    DecisionFact, DroppedFact, FACTS_VERSION, Facts, Interval, MessageFact, MilestoneFact,
    NoteFact, RetryFact, RunFact, TranscriptFact, facts,
};
pub use markdown::render_markdown;
pub use steps::{AttemptFact, Sample, StepFact, WatchFact};
pub use text::Words;
pub use timeline::{RowKind, TimelineRow};

use super::human_duration;
use crate::transcript::Transcript;

/// Steps slower than this are listed under runbook feedback.
const SLOW_STEP_MS: u64 = 60_000;
/// How many trailing output lines of a failed step are quoted.
const QUOTED_LINES: usize = 3;
/// Longest text kept in a table cell.
const CELL_MAX: usize = 160;
/// The most rows the Markdown timeline shows, whatever the transcripts' size (about what a
/// commander keeps for a 30-minute incident); the JSON has every row.
const ROW_BUDGET: usize = 60;

/// The post-mortem draft for these transcripts (one incident; several runs, operators or hosts).
pub fn postmortem_markdown(transcripts: &[(PathBuf, Transcript)]) -> String {
    render_markdown(&facts(transcripts))
}

#[cfg(test)]
pub(crate) mod tests;
