//! The post-mortem draft: a blameless post-mortem in Markdown, facts filled in from one or more
//! transcripts, judgement left to people.
//!
//! [`facts`] computes everything once into a serializable [`Facts`] (`rb postmortem --format
//! json` prints it): runs and milestones there, steps with attempts folded and watches with their
//! checks in `steps`, the commander's timeline in `timeline`. [`render_markdown`] draws the draft
//! from the same value, one function per section (`markdown`), with Mermaid charts (`mermaid`);
//! `text` holds the small text helpers. Each fact cites its evidence as `T<n>#<seq>`: line `seq`
//! of transcript `n` in the supporting information. Text meant to be written by people is in
//! _italics_.

mod facts;
mod markdown;
mod mermaid;
mod model;
mod steps;
mod text;
mod timeline;

use std::path::PathBuf;

pub use facts::{FactsBuilder, facts};
pub use markdown::render_markdown;
pub use model::{AttemptFact, RowKind, Sample, StepFact, TimelineRow, WatchFact};
pub use model::{
    DecisionFact, DroppedFact, FACTS_VERSION, Facts, Interval, MessageFact, MilestoneFact,
    NoteFact, RetryFact, RunFact, TranscriptFact,
};
pub use text::Words;

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
