//! The command line: argument definitions (clap) and one function per subcommand.
//! This layer is glue: it resolves arguments against the system, calls the library, prints,
//! and maps outcomes to exit codes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::catalog::Catalog;
use crate::exit::{Code, UserError};

/// `eprint!` that never panics: a closed stderr (`rb … 2>&1 | head`) must not turn a run's own
/// exit code into a crash.
macro_rules! err {
    ($($t:tt)*) => { $crate::cli::print_stderr(&format!($($t)*)) };
}

/// `eprintln!` that never panics (see [`err!`]).
macro_rules! errln {
    ($($t:tt)*) => { $crate::cli::print_stderr(&format!("{}\n", format_args!($($t)*))) };
}

mod completions;
mod config;
mod export;
mod note;
mod resume;
mod run;
mod scaffold;
mod show;
mod signature;
mod terminal;
mod transcripts;
mod validate;

/// rb: run your team's reviewed runbooks step by step, and keep a record.
#[derive(Debug, Parser)]
#[command(name = "rb", version, about, max_term_width = 100)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// Where to find runbooks and how to print: the options of commands that read the catalog.
#[derive(Debug, Clone, clap::Args)]
pub struct CatalogOpts {
    /// Also look for runbooks in DIR (searched first; repeatable; must exist).
    #[arg(long = "dir", value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    #[command(flatten)]
    pub color: ColorOpts,
}

/// `--color`, for commands that print styled text.
#[derive(Debug, Clone, clap::Args)]
pub struct ColorOpts {
    /// When to use colour on the terminal (`NO_COLOR` also turns it off).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
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
        /// `human` diagnostics on stderr; `json`, `github` (Actions annotations) or `sarif`
        /// (SARIF 2.1.0) on stdout. Default: `github` when `GITHUB_ACTIONS=true`, else `human`.
        #[arg(long, value_enum)]
        format: Option<validate::ValidateFormat>,
        #[command(flatten)]
        opts: CatalogOpts,
    },
    /// List the runbooks rb can find, and where each comes from.
    List {
        #[command(flatten)]
        opts: CatalogOpts,
    },
    /// Print a runbook as a readable checklist.
    Show {
        /// Runbook name (or path to a runbook file).
        #[arg(add = completions::runbook_names())]
        name: String,
        #[command(flatten)]
        opts: CatalogOpts,
    },
    /// Print the runbook JSON Schema.
    Schema,
    /// Run a runbook step by step (see also --dry-run and --check).
    Run {
        #[command(flatten)]
        args: run::RunArgs,
        #[command(flatten)]
        opts: CatalogOpts,
    },
    /// Continue an interrupted run from its transcript, at the first step that did not finish.
    Resume {
        #[command(flatten)]
        args: resume::ResumeArgs,
        #[command(flatten)]
        opts: CatalogOpts,
    },
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
    /// Set up a team runbook repository: runbooks/ with an example and the schema, a CI job
    /// (GitHub Actions) and a pre-commit config. Never overwrites a file.
    Init(scaffold::InitArgs),
    /// Write a new runbook: a commented skeleton, or a renamed copy with --from. Never overwrites.
    New(scaffold::NewArgs),
    /// Show the effective configuration (rb.toml, then ~/.config/rb/config.toml) and where
    /// each value comes from.
    Config(config::ConfigArgs),
    /// Print the shell completion script (runbook names are completed from the catalog).
    ///
    /// bash: `source <(rb completions bash)` in ~/.bashrc; zsh: `source <(rb completions zsh)`;
    /// fish: `rb completions fish | source`. The script calls `rb` on PATH to complete.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: completions::Shell,
    },
    /// Write man pages (rb.1 and one per subcommand) into a folder.
    Man {
        /// The folder to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// What a command needs from its surroundings, resolved once.
pub struct Ctx {
    pub catalog: Catalog,
    pub color: bool,
}

/// Parses `std::env::args`, runs the command, returns the exit code. A panic is a bug in rb:
/// the panic message is printed as usual, and the exit code says "internal error" (70).
pub fn main() -> ExitCode {
    match std::panic::catch_unwind(parse_and_run) {
        Ok(code) => code,
        Err(_) => {
            err!(
                "{}",
                UserError::internal("rb stopped on an internal error (see the message above)")
                    .render()
            );
            Code::Internal.into()
        }
    }
}

fn parse_and_run() -> ExitCode {
    // A completion request (`COMPLETE=bash rb -- rb sh…`, sent by the script of `rb
    // completions`) is answered here and exits; otherwise this does nothing.
    clap_complete::CompleteEnv::with_factory(<Args as clap::CommandFactory>::command).complete();
    let args = Args::parse();
    // The configuration file matters to every command that finds runbooks or transcripts; an
    // invalid one is reported before anything runs.
    let result = match args.command {
        Command::Schema | Command::Completions { .. } | Command::Man { .. } | Command::Init(_) => {
            Ok(())
        }
        _ => config::load().map(|_| ()),
    }
    .and_then(|()| dispatch(args.command));
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            err!("{}", e.render());
            e.code.into()
        }
    }
}

/// Runs one command.
fn dispatch(command: Command) -> Result<Code, UserError> {
    match command {
        Command::Validate {
            paths,
            format,
            opts,
        } => validate::run(&ctx(&opts)?, &paths, format),
        Command::List { opts } => show::list(&ctx(&opts)?),
        Command::Show { name, opts } => show::show(&ctx(&opts)?, &name),
        Command::Run { mut args, opts } => {
            args.operator = config::operator(args.operator)?;
            run::run(&ctx(&opts)?, args)
        }
        Command::Resume { mut args, opts } => {
            args.operator = config::operator(args.operator)?;
            resume::resume(&ctx(&opts)?, args)
        }
        Command::Transcripts(a) => transcripts::run(a),
        Command::Note(mut a) => {
            a.target.operator = config::operator(a.target.operator)?;
            note::note(a)
        }
        Command::Mark(mut a) => {
            a.target.operator = config::operator(a.target.operator)?;
            note::mark(a)
        }
        Command::Postmortem(a) => export::postmortem(a),
        Command::Export(a) => export::export(a),
        Command::Init(a) => scaffold::init(&a),
        Command::New(a) => scaffold::new(&ctx(&a.opts)?, &a),
        Command::Config(a) => config::show(&a),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { out } => completions::man(&out),
        Command::Schema => {
            print_stdout(&crate::runbook::schema::runbook_schema_json());
            Ok(Code::Ok)
        }
    }
}

/// Decides colour (for stdout and stderr alike) and finds the catalog. A `--dir` that is not a
/// folder is an error: silently falling back to the built-ins would run the wrong runbook.
fn ctx(opts: &CatalogOpts) -> Result<Ctx, UserError> {
    // Auto decides per stream: `rb list | less` gets no escapes even when stderr is a terminal.
    let no_color = std::env::var_os("NO_COLOR").is_some();
    let (out, color) = match opts.color.color {
        ColorChoice::Always => (true, true),
        ColorChoice::Never => (false, false),
        ColorChoice::Auto => (
            console::colors_enabled() && !no_color,
            console::colors_enabled_stderr() && !no_color,
        ),
    };
    console::set_colors_enabled(out);
    console::set_colors_enabled_stderr(color);
    for d in &opts.dirs {
        if !d.is_dir() {
            let what = if d.exists() {
                "is not a folder"
            } else {
                "does not exist"
            };
            return Err(UserError::usage(format!("--dir `{}` {what}", d.display()))
                .hint("give a folder of runbooks (*.yaml), or leave `--dir` out"));
        }
    }
    let mut dirs = opts.dirs.clone();
    dirs.extend(config::runbook_dirs()?);
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let rb_path = std::env::var("RB_PATH").ok();
    Ok(Ctx {
        catalog: Catalog::discover(&dirs, &cwd, rb_path.as_deref()),
        color,
    })
}

/// Writes to stderr; a closed pipe is not an error (there is nobody left to tell).
pub fn print_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|_| err.flush());
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
            err!("{}", d.render(Some(&text), ctx.color));
        }
        UserError::usage(format!(
            "`{display}` is not a valid runbook ({} problem(s))",
            diags.len()
        ))
        .hint(format!("fix it, then check with `rb validate {display}`"))
    })
}
