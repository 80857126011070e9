//! `rb postmortem` and `rb export`: transcripts turned into documents (see [`crate::export`]).

use std::path::{Path, PathBuf};

use super::print_stdout;
use crate::exit::{Code, UserError};
use crate::transcript::{self, Transcript};

/// The post-mortem's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PostmortemFormat {
    /// A Markdown draft with the sections of a blameless post-mortem.
    #[default]
    Md,
    /// The same facts as a JSON document.
    Json,
}

/// What `rb postmortem` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct PostmortemArgs {
    /// Transcripts of the incident's runs (merged by time into one timeline).
    #[arg(required = true, value_name = "TRANSCRIPT")]
    pub transcripts: Vec<PathBuf>,
    /// Write to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// `md` (a Markdown draft) or `json` (the same facts, for tools).
    #[arg(long, value_enum, default_value_t = PostmortemFormat::Md)]
    pub format: PostmortemFormat,
}

/// What `rb export` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Export as an asciicast v2 recording (replay with `asciinema play FILE`). This is the
    /// default and only format; the flag is accepted so scripts that pass it keep working.
    #[arg(long)]
    pub cast: bool,
    /// The transcript to export.
    #[arg(value_name = "TRANSCRIPT")]
    pub transcript: PathBuf,
    /// Write to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `rb postmortem TRANSCRIPT...`: each transcript read once, its events folded into the facts
/// while it is checked as `rb transcripts verify` does.
pub fn postmortem(args: PostmortemArgs) -> Result<Code, UserError> {
    let mut builder = crate::export::FactsBuilder::default();
    let mut checks = Vec::with_capacity(args.transcripts.len());
    for path in &args.transcripts {
        builder.start(path);
        let mut run = None;
        let scanned = transcript::scan(path, true, |l| {
            run.get_or_insert(matches!(l.event, transcript::Event::RunStarted { .. }));
            builder.line(l);
        })
        .map_err(|e| read_error(path, &e))?;
        if run != Some(true) {
            return Err(not_a_run(path));
        }
        if scanned.torn_tail {
            torn_warning(path);
        }
        builder.end(scanned.sha256, scanned.lines, scanned.torn_tail);
        checks.push(scanned.problem);
    }
    let mut facts = builder.finish();
    for (i, (path, problem)) in args.transcripts.iter().zip(checks).enumerate() {
        let result = problem.map_or(Ok(()), |p| Err(p.to_string()));
        if let Err(why) = &result {
            errln!(
                "warning: `{}` fails verification ({why}); the draft says so at the top",
                path.display()
            );
        }
        facts.verification(i + 1, result);
    }
    let text = match args.format {
        PostmortemFormat::Md => crate::export::render_markdown(&facts),
        PostmortemFormat::Json => {
            let mut s = serde_json::to_string_pretty(&facts).expect("the facts serialize");
            s.push('\n');
            s
        }
    };
    write_out(args.output.as_deref(), &text)
}

/// `rb export TRANSCRIPT` (asciicast v2).
pub fn export(args: ExportArgs) -> Result<Code, UserError> {
    let t = read(&args.transcript)?;
    write_out(args.output.as_deref(), &crate::export::asciicast(&t))
}

/// Reads a transcript, tolerating (and saying so) a torn last line.
fn read(path: &Path) -> Result<Transcript, UserError> {
    let t = transcript::read(path).map_err(|e| read_error(path, &e))?;
    if t.run_started().is_none() {
        return Err(not_a_run(path));
    }
    if t.torn_tail {
        torn_warning(path);
    }
    Ok(t)
}

fn read_error(path: &Path, e: &std::io::Error) -> UserError {
    let msg = if e.kind() == std::io::ErrorKind::InvalidData {
        format!("`{}` is not a readable transcript: {e}", path.display())
    } else {
        format!("cannot read `{}`: {e}", path.display())
    };
    UserError::usage(msg).hint(format!(
        "check it with `rb transcripts verify {}`; `rb transcripts` lists recent runs",
        path.display()
    ))
}

fn not_a_run(path: &Path) -> UserError {
    UserError::usage(format!(
        "`{}` does not start with `run_started`, so it is not the transcript of a run",
        path.display()
    ))
    .hint(format!(
        "check it with `rb transcripts verify {}`",
        path.display()
    ))
}

fn torn_warning(path: &Path) {
    errln!(
        "warning: `{}` ends with a torn line (rb was killed while writing it); it is left out",
        path.display()
    );
}

fn write_out(output: Option<&Path>, text: &str) -> Result<Code, UserError> {
    match output {
        None => print_stdout(text),
        Some(p) => {
            write_private(p, text).map_err(|e| {
                UserError::io(format!("cannot write `{}`", p.display()), &e)
                    .hint("choose another file with `-o FILE`, or leave it out to print")
            })?;
            errln!("wrote {}", p.display());
        }
    }
    Ok(Code::Ok)
}

/// Writes `text` to `path` readable by its owner only, as the transcripts it comes from are (an
/// existing file is narrowed to 0600 before it is written).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())
}
