//! `rb note` and `rb mark`: add an operator's note or an incident milestone to the transcript of
//! the run in progress, from another terminal, while that run keeps appending.

use std::path::{Path, PathBuf};

use crate::exit::{Code, UserError};
use crate::transcript::{Event, TranscriptWriter};

/// Options shared by `rb note` and `rb mark`: which transcript, and who.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Append to this transcript (default: the newest run in progress in
    /// $XDG_STATE_HOME/rb/transcripts).
    #[arg(long, value_name = "PATH")]
    pub to: Option<PathBuf>,
    /// Who writes it (default $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
}

/// What `rb note` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct NoteArgs {
    /// The note (quote it).
    #[arg(value_name = "TEXT")]
    pub text: String,
    #[command(flatten)]
    pub target: Target,
}

/// The incident's key moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MilestoneName {
    Detected,
    Acknowledged,
    Mitigated,
    Resolved,
}

impl MilestoneName {
    fn as_str(self) -> &'static str {
        match self {
            MilestoneName::Detected => "detected",
            MilestoneName::Acknowledged => "acknowledged",
            MilestoneName::Mitigated => "mitigated",
            MilestoneName::Resolved => "resolved",
        }
    }
}

/// What `rb mark` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct MarkArgs {
    /// The milestone reached.
    #[arg(value_enum, value_name = "MILESTONE")]
    pub milestone: MilestoneName,
    /// Also append a note saying why or how (written right after the milestone).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub target: Target,
}

/// `rb note TEXT`.
pub fn note(args: NoteArgs) -> Result<Code, UserError> {
    if args.text.trim().is_empty() {
        return Err(UserError::usage("the note is empty")
            .hint("give the text in quotes: `rb note \"restarted the cache on db2\"`"));
    }
    let by = operator(&args.target);
    let path = append(
        &args.target,
        &[Event::Note {
            by,
            text: args.text,
            step: None,
        }],
    )?;
    super::print_stdout(&format!("note appended to {}\n", path.display()));
    Ok(Code::Ok)
}

/// `rb mark MILESTONE`.
pub fn mark(args: MarkArgs) -> Result<Code, UserError> {
    let by = operator(&args.target);
    let name = args.milestone.as_str();
    let mut events = vec![Event::Milestone {
        name: name.to_owned(),
        by: by.clone(),
        step: None,
    }];
    if let Some(text) = args.note.filter(|t| !t.trim().is_empty()) {
        events.push(Event::Note {
            by,
            text,
            step: None,
        });
    }
    let path = append(&args.target, &events)?;
    super::print_stdout(&format!("marked {name} in {}\n", path.display()));
    Ok(Code::Ok)
}

fn operator(t: &Target) -> String {
    t.operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Appends `events` to `--to PATH`, or else to the live transcript (see [`live_transcript`]),
/// under the transcript's lock, so a running rb appending at the same time loses nothing.
/// Returns the transcript's path.
pub fn append(target: &Target, events: &[Event]) -> Result<PathBuf, UserError> {
    let path = match &target.to {
        Some(p) => p.clone(),
        None => live_transcript(&super::config::transcript_dir())?,
    };
    let mut w = TranscriptWriter::open_append(&path).map_err(|e| {
        let e = UserError::usage(format!("cannot append to `{}`: {e}", path.display()));
        if target.to.is_some() {
            e.hint("give the path of a transcript that exists (`rb transcripts` lists recent runs)")
        } else {
            e
        }
    })?;
    if w.seq() == 0 {
        return Err(UserError::usage(format!(
            "`{}` is empty, not a transcript of a run",
            path.display()
        ))
        .hint("`rb transcripts` lists the recorded runs; pass one with `--to PATH`"));
    }
    if w.repaired_bytes() > 0 {
        eprintln!(
            "warning: `{}` ended with a torn line ({} bytes); it was cut off",
            path.display(),
            w.repaired_bytes()
        );
    }
    for event in events {
        w.append(event).map_err(|e| {
            UserError::usage(format!("cannot append to `{}`: {e}", path.display()))
                .hint("check the disk and the file's permissions, then try again")
        })?;
    }
    Ok(path)
}

/// The transcript of the run in progress: the newest one in `dir` without `run_finished`.
fn live_transcript(dir: &Path) -> Result<PathBuf, UserError> {
    let found = super::transcripts::scan(dir)?;
    let mut unfinished = found.iter().filter(|f| f.unfinished());
    let Some(newest) = unfinished.next() else {
        return Err(UserError::usage(format!(
            "no run in progress: every transcript in `{}` has finished",
            dir.display()
        ))
        .hint("name the transcript with `--to PATH` (`rb transcripts` lists recent runs)"));
    };
    let others = unfinished.count();
    if others > 0 {
        eprintln!(
            "note: {others} older unfinished transcript(s) in `{}`; using the newest (`--to PATH` picks another)",
            dir.display()
        );
    }
    Ok(newest.path.clone())
}
