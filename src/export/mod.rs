//! Turning transcripts into documents for people and tools: the post-mortem draft
//! ([`postmortem`]) and an asciinema recording ([`cast`]). Pure functions over
//! [`crate::transcript::Transcript`]s; reading files and choosing where to write is the CLI's job.

pub mod cast;
pub mod postmortem;

pub use cast::asciicast;
pub use postmortem::{Facts, FactsBuilder, facts, postmortem_markdown, render_markdown};

/// A duration in words: `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 3 min`.
pub fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}
