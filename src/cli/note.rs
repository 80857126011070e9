//! `rb note` and `rb mark`: add an operator's note or an incident milestone to the transcript of
//! the run in progress, from another terminal, while that run keeps appending.

use std::path::{Path, PathBuf};

use crate::exit::{Code, UserError};
use jiff::Timestamp;

use crate::transcript::{self, Actor, Event, Milestone, NoteKind, Repair, TranscriptWriter};

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
#[command(group = clap::ArgGroup::new("kind").multiple(false))]
pub struct NoteArgs {
    /// The note (quote it).
    #[arg(value_name = "TEXT")]
    pub text: String,
    /// A hypothesis about the cause (the post-mortem lists it under root cause).
    #[arg(long, group = "kind")]
    pub hypothesis: bool,
    /// Something to do after the incident (the post-mortem lists it under action items).
    #[arg(long, group = "kind")]
    pub action: bool,
    /// What was told to whom (the post-mortem lists it under messaging).
    #[arg(long, group = "kind")]
    pub comms: bool,
    #[command(flatten)]
    pub target: Target,
}

impl NoteArgs {
    fn kind(&self) -> NoteKind {
        match (self.hypothesis, self.action, self.comms) {
            (true, _, _) => NoteKind::Hypothesis,
            (_, true, _) => NoteKind::Action,
            (_, _, true) => NoteKind::Comms,
            _ => NoteKind::Plain,
        }
    }
}

/// What `rb mark` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct MarkArgs {
    /// The milestone reached.
    #[arg(value_name = "MILESTONE", value_parser = milestone_parser())]
    pub milestone: Milestone,
    /// Also append a note saying why or how (written right after the milestone).
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// When it happened, if earlier: `HH:MM` or `HH:MM:SS` (UTC, today, or yesterday when that
    /// time has not come yet today), or an RFC 3339 time (`2026-11-24T03:15:00Z`).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
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
    let kind = args.kind();
    let path = append(
        &args.target,
        &[Event::Note {
            by,
            text: args.text,
            step: None,
            kind,
        }],
    )?;
    super::print_stdout(&format!("note appended to {}\n", path.display()));
    Ok(Code::Ok)
}

/// `rb mark MILESTONE`.
pub fn mark(args: MarkArgs) -> Result<Code, UserError> {
    let by = operator(&args.target);
    let name = args.milestone;
    let at = match &args.at {
        None => None,
        Some(s) => Some(parse_at(s, Timestamp::now()).map_err(|why| {
            UserError::usage(format!("`--at {s}`: {why}"))
                .hint("give a UTC time as `03:15`, `03:15:30` or `2026-11-24T03:15:00Z`")
        })?),
    };
    let mut events = vec![Event::Milestone {
        name,
        by: by.clone(),
        step: None,
        at: at.map(transcript::line::format_ts),
    }];
    if let Some(text) = args.note.filter(|t| !t.trim().is_empty()) {
        events.push(Event::Note {
            by,
            text,
            step: None,
            kind: NoteKind::Plain,
        });
    }
    let path = append(&args.target, &events)?;
    super::print_stdout(&format!("marked {name} in {}\n", path.display()));
    Ok(Code::Ok)
}

/// The time `rb mark --at` means, `now` being the current time: `HH:MM[:SS]` is UTC today, or
/// yesterday when that time is still to come today; anything else must be RFC 3339. A time in
/// the future is refused (a milestone is marked when it is reached or later).
fn parse_at(s: &str, now: Timestamp) -> Result<Timestamp, String> {
    let s = s.trim();
    let at = if let Ok(t) = s.parse::<Timestamp>() {
        t
    } else if let Ok(time) = jiff::civil::Time::strptime("%H:%M:%S", s)
        .or_else(|_| jiff::civil::Time::strptime("%H:%M", s))
    {
        let utc = jiff::tz::TimeZone::UTC;
        let today = now.to_zoned_datetime(utc.clone()).date();
        let at = |date: jiff::civil::Date| {
            utc.to_timestamp(date.to_datetime(time))
                .map_err(|e| e.to_string())
        };
        let t = at(today)?;
        if t > now {
            at(today.yesterday().map_err(|e| e.to_string())?)?
        } else {
            t
        }
    } else {
        return Err("not a time (`HH:MM`, `HH:MM:SS` or RFC 3339 with an offset)".into());
    };
    if at > now {
        return Err(format!(
            "{} is in the future",
            transcript::line::format_ts(at)
        ));
    }
    Ok(at)
}

fn operator(t: &Target) -> Actor {
    Actor::operator(
        t.operator
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "unknown".into()),
    )
}

/// Milestone names for clap: the words of [`Milestone`], listed in `--help`.
fn milestone_parser() -> impl clap::builder::TypedValueParser<Value = Milestone> {
    let words: Vec<&'static str> = Milestone::ALL.iter().map(|m| m.as_str()).collect();
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(words).try_map(|s| s.parse::<Milestone>())
}

/// Appends `events` to `--to PATH`, or else to the live transcript (see [`live_transcript`]),
/// under the transcript's lock, so a running rb appending at the same time loses nothing.
/// Returns the transcript's path.
pub fn append(target: &Target, events: &[Event]) -> Result<PathBuf, UserError> {
    let path = match &target.to {
        Some(p) => p.clone(),
        None => live_transcript(&super::config::transcript_dir())?,
    };
    let mut w = TranscriptWriter::open_append(&path, Repair::Never).map_err(|e| {
        let e = UserError::io(format!("cannot append to `{}`", path.display()), &e);
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
        errln!(
            "warning: `{}` ended with a torn line ({} bytes); it was cut off",
            path.display(),
            w.repaired_bytes()
        );
    }
    for event in events {
        w.append(event).map_err(|e| {
            UserError::io(format!("cannot append to `{}`", path.display()), &e)
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
        errln!(
            "note: {others} older unfinished transcript(s) in `{}`; using the newest (`--to PATH` picks another)",
            dir.display()
        );
    }
    Ok(newest.path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_takes_a_utc_time_of_today_or_yesterday_or_rfc3339() {
        let now: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let at = |s| parse_at(s, now).map(transcript::line::format_ts);
        assert_eq!(at("03:15").unwrap(), "2026-11-24T03:15:00.000Z");
        assert_eq!(at("09:59:30").unwrap(), "2026-11-24T09:59:30.000Z");
        // Not yet 23:50 today: it was yesterday.
        assert_eq!(at("23:50").unwrap(), "2026-11-23T23:50:00.000Z");
        assert_eq!(
            at("2026-11-24T04:15:00+01:00").unwrap(),
            "2026-11-24T03:15:00.000Z"
        );
        assert!(at("2026-11-25T00:00:00Z").unwrap_err().contains("future"));
        assert!(at("quarter past three").unwrap_err().contains("not a time"));
        assert!(at("25:00").is_err());
    }
}
