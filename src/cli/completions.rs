//! `rb completions SHELL` and `rb man --out DIR`: shell completion and man pages, both generated
//! from the one clap definition of the command line (so they cannot drift from `--help`).
//!
//! Completion is dynamic: the script `rb completions` prints asks `rb` itself (through
//! `COMPLETE=<shell> rb -- …`, answered at the top of [`super::main`]) for candidates, so
//! runbook names come from the catalog as it is when Tab is pressed.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::Shells;

use super::{Args, print_stdout};
use crate::catalog::Catalog;
use crate::exit::{Code, UserError};

/// The shells rb writes a completion script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// The candidates for a runbook-name argument: every runbook in use in the catalog (the current
/// folder's `runbooks/`, the configured folders, `$RB_PATH`, the built-ins), with its title as the description.
pub fn runbook_names() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
        let rb_path = std::env::var("RB_PATH").ok();
        let dirs = crate::config::Config::load(&cwd)
            .map(|c| c.runbook_dirs())
            .unwrap_or_default();
        let catalog = Catalog::discover(&dirs, &cwd, rb_path.as_deref());
        catalog
            .entries
            .iter()
            .filter(|e| !e.shadowed)
            .map(|e| CompletionCandidate::new(&e.name).help(Some(e.origin.to_string().into())))
            .collect::<Vec<_>>()
    })
}

/// Prints the registration script for `shell`.
pub fn completions(shell: Shell) -> Result<Code, UserError> {
    let name = match shell {
        Shell::Bash => "bash",
        Shell::Zsh => "zsh",
        Shell::Fish => "fish",
        Shell::Elvish => "elvish",
        Shell::Powershell => "powershell",
    };
    let shells = Shells::builtins();
    let completer = shells
        .completer(name)
        .ok_or_else(|| UserError::usage(format!("no completion support for `{name}`")))?;
    let mut buf = Vec::new();
    // `rb` on PATH answers: the script keeps working after rb is reinstalled elsewhere.
    completer
        .write_registration("COMPLETE", "rb", "rb", "rb", &mut buf)
        .map_err(|e| UserError::usage(format!("cannot write the completion script: {e}")))?;
    print_stdout(&String::from_utf8_lossy(&buf));
    Ok(Code::Ok)
}

/// Writes `rb.1` and `rb-<subcommand>.1` for every subcommand into `out`.
pub fn man(out: &Path) -> Result<Code, UserError> {
    let cannot = |what: &Path, e: std::io::Error| {
        UserError::usage(format!("cannot write `{}`: {e}", what.display()))
            .hint("choose a folder you can write to with `--out DIR`")
    };
    std::fs::create_dir_all(out).map_err(|e| cannot(out, e))?;
    let mut cmd = Args::command();
    cmd.build();
    let mut written = 0;
    let mut pages = vec![(String::from("rb"), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        pages.push((format!("rb-{}", sub.get_name()), sub.clone()));
    }
    for (name, page) in pages {
        let page = page.name(name.clone());
        let path = out.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut buf)
            .map_err(|e| cannot(&path, e))?;
        std::fs::write(&path, buf).map_err(|e| cannot(&path, e))?;
        written += 1;
    }
    errln!("wrote {written} man pages to {}", out.display());
    Ok(Code::Ok)
}
