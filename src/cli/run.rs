//! `rb run`: its arguments, and the terminal it runs on; the run itself is set up by
//! [`crate::launch`].

use std::io::IsTerminal;
use std::path::PathBuf;

use super::Ctx;
use super::terminal::{TerminalOperator, ask_secret, surroundings};
use crate::exec::{Mode, Options};
use crate::exit::{Code, UserError};
use crate::launch;

/// What `rb run` was asked to do.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Runbook name (or path to a runbook file).
    #[arg(add = super::completions::runbook_names())]
    pub name: String,
    /// Set a param: `-p mount=/var` (repeatable).
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Read params from a YAML file of `key: value` lines.
    #[arg(long, value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// Run nothing: print every step fully rendered.
    #[arg(long, conflicts_with = "check")]
    pub dry_run: bool,
    /// Run read-only steps for real; preview the others.
    #[arg(long)]
    pub check: bool,
    /// Answer "run" to every confirmation (unattended runs).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also pass typed confirmations of destructive steps (implies --yes).
    #[arg(long)]
    pub yes_typed: bool,
    /// Start at this step; earlier steps are recorded as skipped.
    #[arg(long, value_name = "STEP")]
    pub from: Option<String>,
    /// Remind to update the incident channel this often (`15m`; overrides the runbook's
    /// `update_every`).
    #[arg(long, value_name = "DURATION", value_parser = crate::runbook::Duration::parse)]
    pub update_every: Option<crate::runbook::Duration>,
    /// Write the transcript here (default: a new file in the configured `transcript_dir`, else
    /// under $XDG_STATE_HOME/rb/transcripts).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,
    /// Who runs this (recorded in the transcript; default $USER).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// Where command steps run: remote hosts.
    #[command(flatten)]
    pub targets: TargetArgs,
}

/// `--host`, `--hosts`, `--inventory`, `--forks`: for `rb run`, and again for `rb resume` of a
/// run on hosts.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Run the command steps on this host over ssh (repeatable; an inventory host or group
    /// when `--inventory` is given).
    #[arg(long, value_name = "HOST")]
    pub host: Vec<String>,
    /// Run the command steps on these hosts: `--hosts web-1,web-2`.
    #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Hosts and groups from this YAML file (all of them unless `--host`/`--hosts` pick some).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// How many hosts run a step at the same time.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub forks: u16,
}

/// The hosts `--host`, `--hosts` and `--inventory` name, with the ssh config (`RB_SSH_CONFIG`,
/// else the inventory's); None when the run stays here.
pub fn targets(args: &TargetArgs) -> Result<Option<crate::remote::Targets>, UserError> {
    let names: Vec<String> = args.host.iter().chain(&args.hosts).cloned().collect();
    let env_config = std::env::var_os("RB_SSH_CONFIG").map(PathBuf::from);
    let (hosts, config) = match &args.inventory {
        Some(file) => {
            let inv = crate::remote::inventory::Inventory::read(file).map_err(UserError::usage)?;
            (
                inv.select(&names)
                    .map_err(|e| UserError::usage(format!("{}: {e}", file.display())))?,
                inv.ssh_config,
            )
        }
        None if names.is_empty() => return Ok(None),
        None => {
            let hosts = names
                .iter()
                .map(|n| crate::remote::Host::ssh(n))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| UserError::usage(format!("--host: {e}")))?;
            (hosts, None)
        }
    };
    if hosts.is_empty() {
        return Err(UserError::usage("the inventory has no host"));
    }
    Ok(Some(crate::remote::Targets {
        hosts,
        ssh_config: env_config.or(config),
        forks: usize::from(args.forks),
    }))
}

/// Runs `rb run`.
pub fn run(ctx: &Ctx, args: RunArgs) -> Result<Code, UserError> {
    let mode = if args.dry_run {
        Mode::DryRun
    } else if args.check {
        Mode::Check
    } else {
        Mode::Live
    };
    let yes = args.yes || args.yes_typed;
    let tty = std::io::stdin().is_terminal();
    launch::preflight::check_terminal(mode, yes, tty)?;
    let remote = targets(&args.targets)?;
    let doc = super::load_runbook(ctx, &args.name)?;
    let mut op = TerminalOperator::new(launch::operator_name(args.operator), tty);
    let mut ask = ask_secret;
    let request = launch::RunRequest {
        options: Options {
            mode,
            yes,
            yes_typed: args.yes_typed,
            from: args.from,
            update_every: args.update_every.map(|d| d.get()),
        },
        params: &args.params,
        params_file: args.params_file,
        transcript: args.transcript,
        transcript_dir: super::config::transcript_dir(),
        notes: super::shadowing(ctx, &args.name).into_iter().collect(),
        remote,
    };
    launch::start(&doc, request, surroundings(&mut op, tty, &mut ask))
}
