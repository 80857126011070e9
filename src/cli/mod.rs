//! The command line: argument definitions (clap) and one function per subcommand.
//! This layer is glue: it resolves arguments against the system, calls the library, prints,
//! and maps outcomes to exit codes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::catalog::Catalog;
use crate::exit::{Code, UserError};

mod export;
mod note;
mod resume;
mod run;
mod show;
mod terminal;
mod transcripts;
mod validate;

/// rb: run your team's reviewed runbooks step by step, and keep a record.
#[derive(Debug, Parser)]
#[command(name = "rb", version, about, max_term_width = 100)]
pub struct Args {
    /// Also look for runbooks in DIR (searched first; repeatable).
    #[arg(long = "dir", value_name = "DIR", global = true)]
    pub dirs: Vec<PathBuf>,
    /// When to use colour on the terminal.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

/// Colour on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Output format for machine consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check runbooks against the schema and rb's semantic rules.
    Validate {
        /// Files or folders to check (default: every runbook the catalog finds).
        paths: Vec<PathBuf>,
        /// `human` diagnostics on stderr, or `json` on stdout.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// List the runbooks rb can find, and where each comes from.
    List,
    /// Print a runbook as a readable checklist.
    Show {
        /// Runbook name (or path to a runbook file).
        name: String,
    },
    /// Print the runbook JSON Schema.
    Schema,
    /// Run a runbook step by step (see also --dry-run and --check).
    Run(run::RunArgs),
    /// Continue an interrupted run from its transcript, at the first step that did not finish.
    Resume(resume::ResumeArgs),
    /// List recent runs (default), or verify transcripts with `rb transcripts verify FILE...`.
    Transcripts(transcripts::TranscriptsArgs),
    /// Append an operator's note to the transcript of the run in progress (or --to PATH).
    Note(note::NoteArgs),
    /// Record an incident milestone in the transcript of the run in progress (or --to PATH).
    Mark(note::MarkArgs),
    /// Draft a blameless post-mortem from one or more transcripts.
    Postmortem(export::PostmortemArgs),
    /// Export a transcript as an asciicast v2 recording.
    Export(export::ExportArgs),
}

/// What a command needs from its surroundings, resolved once.
pub struct Ctx {
    pub catalog: Catalog,
    pub color: bool,
}

/// Parses `std::env::args`, runs the command, returns the exit code. A panic is a bug in rb:
/// the panic message is printed as usual, and the exit code says "internal error" (70).
pub fn main() -> ExitCode {
    match std::panic::catch_unwind(dispatch) {
        Ok(code) => code,
        Err(_) => {
            eprint!(
                "{}",
                UserError::internal("rb stopped on an internal error (see the message above)")
                    .render()
            );
            Code::Internal.into()
        }
    }
}

fn dispatch() -> ExitCode {
    let args = Args::parse();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            console::colors_enabled_stderr() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    console::set_colors_enabled(color);
    console::set_colors_enabled_stderr(color);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let rb_path = std::env::var("RB_PATH").ok();
    let ctx = Ctx {
        catalog: Catalog::discover(&args.dirs, &cwd, rb_path.as_deref()),
        color,
    };
    let result = match args.command {
        Command::Validate { paths, format } => validate::run(&ctx, &paths, format),
        Command::List => show::list(&ctx),
        Command::Show { name } => show::show(&ctx, &name),
        Command::Run(a) => run::run(&ctx, a),
        Command::Resume(a) => resume::resume(&ctx, a),
        Command::Transcripts(a) => transcripts::run(a),
        Command::Note(a) => note::note(a),
        Command::Mark(a) => note::mark(a),
        Command::Postmortem(a) => export::postmortem(a),
        Command::Export(a) => export::export(a),
        Command::Schema => {
            print_stdout(&crate::runbook::schema::runbook_schema_json());
            Ok(Code::Ok)
        }
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            eprint!("{}", e.render());
            e.code.into()
        }
    }
}

/// Writes to stdout; a closed pipe (`rb list | head`) is not an error.
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// Loads and validates the runbook called `name` (or at path `name`), printing diagnostics.
/// When `name` finds a runbook that hides others of the same name: which file runs, and which not.
pub fn shadowing(ctx: &Ctx, name: &str) -> Option<String> {
    let mut same = ctx.catalog.entries.iter().filter(|e| e.name == name);
    let used = same.next()?;
    let hidden: Vec<String> = same
        .map(|e| format!("{} ({})", e.display_path(), e.origin))
        .collect();
    (!hidden.is_empty()).then(|| {
        format!(
            "runbook `{name}` from {} ({}) shadows the one(s) in {}; check that this is the runbook you meant",
            used.display_path(),
            used.origin,
            hidden.join(", ")
        )
    })
}

pub fn load_runbook(
    ctx: &Ctx,
    name: &str,
) -> Result<crate::runbook::validate::Document, UserError> {
    let looks_like_path =
        name.contains('/') || crate::catalog::stem(std::path::Path::new(name)).is_some();
    let (display, stem, bytes) = if looks_like_path {
        let path = PathBuf::from(name);
        let bytes = crate::catalog::read_limited(&path)
            .map_err(|e| UserError::io(format!("cannot read `{name}`"), &e))?;
        let stem = crate::catalog::stem(&path).map(str::to_string);
        (name.to_string(), stem, bytes)
    } else {
        let entry = ctx.catalog.find(name).ok_or_else(|| {
            let mut e = UserError::usage(format!("no runbook named `{name}`"));
            if let Some(s) = crate::diag::did_you_mean(name, ctx.catalog.names()) {
                e = e.hint(format!("did you mean `{s}`?"));
            }
            e.hint("`rb list` shows the runbooks rb can find")
        })?;
        let bytes = entry
            .read()
            .map_err(|e| UserError::io(format!("cannot read `{}`", entry.display_path()), &e))?;
        (entry.display_path(), Some(entry.name.clone()), bytes)
    };
    crate::runbook::validate::validate(&display, stem.as_deref(), &bytes).map_err(|diags| {
        let text = String::from_utf8_lossy(&bytes);
        for d in &diags {
            eprint!("{}", d.render(Some(&text), ctx.color));
        }
        UserError::usage(format!(
            "`{display}` is not a valid runbook ({} problem(s))",
            diags.len()
        ))
        .hint(format!("fix it, then check with `rb validate {display}`"))
    })
}
