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

/// `rb postmortem TRANSCRIPT...`.
pub fn postmortem(args: PostmortemArgs) -> Result<Code, UserError> {
    let mut transcripts = Vec::with_capacity(args.transcripts.len());
    for path in &args.transcripts {
        transcripts.push((path.clone(), read(path)?));
    }
    let mut facts = crate::export::facts(&transcripts);
    for (i, path) in args.transcripts.iter().enumerate() {
        facts.verification(i + 1, verification(path));
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

/// The transcript checked as `rb transcripts verify` does; a failure is said on stderr too.
fn verification(path: &Path) -> Result<(), String> {
    let result = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| super::transcripts::check(path, &bytes).map_err(|e| e.to_string()))
        .and_then(|(_, problem)| match problem {
            Some((line, why)) => Err(format!("line {line}: {why}")),
            None => Ok(()),
        });
    if let Err(why) = &result {
        errln!(
            "warning: `{}` fails verification ({why}); the draft says so at the top",
            path.display()
        );
    }
    result
}

/// `rb export TRANSCRIPT` (asciicast v2).
pub fn export(args: ExportArgs) -> Result<Code, UserError> {
    let t = read(&args.transcript)?;
    write_out(args.output.as_deref(), &crate::export::asciicast(&t))
}

/// Reads a transcript, tolerating (and saying so) a torn last line.
fn read(path: &Path) -> Result<Transcript, UserError> {
    let t = transcript::read(path).map_err(|e| {
        let msg = if e.kind() == std::io::ErrorKind::InvalidData {
            format!("`{}` is not a readable transcript: {e}", path.display())
        } else {
            format!("cannot read `{}`: {e}", path.display())
        };
        UserError::usage(msg).hint(format!(
            "check it with `rb transcripts verify {}`; `rb transcripts` lists recent runs",
            path.display()
        ))
    })?;
    if t.run_started().is_none() {
        return Err(UserError::usage(format!(
            "`{}` does not start with `run_started`, so it is not the transcript of a run",
            path.display()
        ))
        .hint(format!(
            "check it with `rb transcripts verify {}`",
            path.display()
        )));
    }
    if t.torn_tail {
        errln!(
            "warning: `{}` ends with a torn line (rb was killed while writing it); it is left out",
            path.display()
        );
    }
    Ok(t)
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
