//! `rb resume`: continue an interrupted run from its transcript (planned by
//! [`crate::launch::resume`]).
//!
//! The transcript says which runbook (and its SHA-256), with which params, which captures were
//! made and how far the run got. The run continues at the first step that did not finish, in
//! the same transcript. A runbook that changed since is refused unless `--force`: the steps
//! already done were reviewed against the old text.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::Ctx;
use super::terminal::{TerminalOperator, ask_secret, surroundings};
use crate::exec::Mode;
use crate::exit::{Code, UserError};
use crate::launch::{self, resume::ResumeRequest};

/// What `rb resume` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct ResumeArgs {
    /// The transcript of the interrupted run.
    pub transcript: PathBuf,
    /// Resume even though the runbook file changed since the run started.
    #[arg(long)]
    pub force: bool,
    /// Answer "run" to every confirmation (unattended).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also pass typed confirmations (implies --yes).
    #[arg(long)]
    pub yes_typed: bool,
    /// Who continues the run (default $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// A run on remote hosts continues on the same hosts, named again as `rb run` named them.
    #[command(flatten)]
    pub targets: super::run::TargetArgs,
    /// What to do with an attempt the killed rb left running: wait for it to end, end it
    /// (SIGTERM, then SIGKILL after 5 s), or mark its step done by hand (its processes are left
    /// running). Without it rb asks; an unattended resume refuses.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub running: Option<Running>,
}

/// The values of `--running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Running {
    /// Wait until its processes are gone; the step then runs again.
    Wait,
    /// SIGTERM its process group and processes, SIGKILL after 5 s; the step then runs again.
    End,
    /// Count the step done; its processes are left running.
    MarkDone,
}

impl From<Running> for launch::attempt::Settle {
    fn from(r: Running) -> Self {
        match r {
            Running::Wait => Self::Wait,
            Running::End => Self::End,
            Running::MarkDone => Self::MarkDone,
        }
    }
}

/// Runs `rb resume`.
pub fn resume(ctx: &Ctx, args: ResumeArgs) -> Result<Code, UserError> {
    let yes = args.yes || args.yes_typed;
    let tty = std::io::stdin().is_terminal();
    launch::preflight::check_terminal(Mode::Live, yes, tty)?;
    let mut op = TerminalOperator::new(launch::operator_name(args.operator), tty);
    let mut ask = ask_secret;
    let request = ResumeRequest {
        transcript: args.transcript,
        force: args.force,
        yes: args.yes,
        yes_typed: args.yes_typed,
        running: args.running.map(Into::into),
        remote: super::run::targets(&args.targets)?,
    };
    launch::resume::resume(&ctx.catalog, request, surroundings(&mut op, tty, &mut ask))
}
