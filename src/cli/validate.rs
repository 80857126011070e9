//! `rb validate`: check files, folders, or every runbook the catalog finds.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::{Ctx, print_stdout};
use crate::catalog;
use crate::diag::Diagnostic;
use crate::exit::{Code, UserError};
use crate::runbook::validate::diagnose;

/// How `rb validate` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateFormat {
    /// Diagnostics with source snippets, on stderr.
    Human,
    /// `{"valid", "files": [...]}` on stdout.
    Json,
    /// GitHub Actions annotations (`::error file=…,line=…::…`) on stdout.
    Github,
    /// A SARIF 2.1.0 log on stdout (for code scanning).
    Sarif,
}

impl ValidateFormat {
    /// The format asked for, else `github` inside GitHub Actions, else `human`.
    fn resolve(asked: Option<ValidateFormat>) -> ValidateFormat {
        asked.unwrap_or_else(|| {
            if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
                ValidateFormat::Github
            } else {
                ValidateFormat::Human
            }
        })
    }
}

#[derive(Serialize)]
struct FileReport {
    file: String,
    valid: bool,
    diagnostics: Vec<Diagnostic>,
}

/// A file to check: its display name, the stem its `name` must equal, and where its bytes are
/// (read by the thread that checks it, so reading is spread over the cores too).
struct Target<'a> {
    display: String,
    stem: Option<String>,
    from: From<'a>,
}

enum From<'a> {
    File(PathBuf),
    Catalog(&'a catalog::Entry),
}

impl Target<'_> {
    fn read(&self) -> Result<Vec<u8>, String> {
        match &self.from {
            From::File(p) => catalog::read_limited(p),
            From::Catalog(e) => e.read(),
        }
        .map_err(|e| e.to_string())
    }
}

/// What checking one target found; its bytes are kept only when there is something to show.
struct Checked {
    diagnostics: Vec<Diagnostic>,
    bytes: Option<Vec<u8>>,
}

fn targets<'a>(ctx: &'a Ctx, paths: &[PathBuf]) -> Result<Vec<Target<'a>>, UserError> {
    let from_path = |p: &Path| Target {
        display: p.display().to_string(),
        stem: catalog::stem(p).map(str::to_string),
        from: From::File(p.to_path_buf()),
    };
    if paths.is_empty() {
        return Ok(ctx
            .catalog
            .entries
            .iter()
            .map(|e| Target {
                display: e.display_path(),
                stem: Some(e.name.clone()),
                from: From::Catalog(e),
            })
            .collect());
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let files = catalog::files_in(p)
                .map_err(|e| UserError::io(format!("cannot read folder `{}`", p.display()), &e))?;
            if files.is_empty() {
                return Err(UserError::usage(format!(
                    "`{}` holds no runbook (*.yaml or *.yml)",
                    p.display()
                )));
            }
            out.extend(files.iter().map(|f| from_path(f)));
        } else if p.exists() {
            out.push(from_path(p));
        } else {
            return Err(UserError::usage(format!(
                "`{}` does not exist",
                p.display()
            )));
        }
    }
    Ok(out)
}

/// Reads and checks one target.
fn check(t: &Target) -> Checked {
    match t.read() {
        Err(e) => Checked {
            diagnostics: vec![Diagnostic::error(
                &t.display,
                None,
                crate::diag::DiagCode::Io,
                format!("cannot read the file: {e}"),
            )],
            bytes: None,
        },
        Ok(bytes) => {
            let diagnostics = diagnose(&t.display, t.stem.as_deref(), &bytes);
            let bytes = (!diagnostics.is_empty()).then_some(bytes);
            Checked { diagnostics, bytes }
        }
    }
}

/// Checks every target on all cores (files are independent; the schema validator is compiled
/// once and shared), keeping the targets' order in the result.
fn check_all(targets: &[Target]) -> Vec<Checked> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(targets.len());
    if threads <= 1 {
        return targets.iter().map(check).collect();
    }
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, Checked)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(t) = targets.get(i) else { break };
                        done.push((i, check(t)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            // A worker panicking is a bug in validation; its files are then checked again here.
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(targets.len());
    let mut have = results.into_iter().peekable();
    for (i, t) in targets.iter().enumerate() {
        match have.next_if(|(j, _)| *j == i) {
            Some((_, d)) => out.push(d),
            None => out.push(check(t)),
        }
    }
    out
}

/// Runs `rb validate`. Exit 0 when every file is valid, 2 otherwise.
pub fn run(
    ctx: &Ctx,
    paths: &[PathBuf],
    format: Option<ValidateFormat>,
) -> Result<Code, UserError> {
    let format = ValidateFormat::resolve(format);
    let targets = targets(ctx, paths)?;
    let checked = check_all(&targets);
    let mut reports = Vec::new();
    for (t, Checked { diagnostics, bytes }) in targets.into_iter().zip(checked) {
        if format == ValidateFormat::Human && !diagnostics.is_empty() {
            let text = bytes
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            for d in &diagnostics {
                err!("{}", d.render(Some(&text), ctx.color));
            }
        }
        reports.push(FileReport {
            file: t.display,
            valid: diagnostics.is_empty(),
            diagnostics,
        });
    }
    let invalid = reports.iter().filter(|r| !r.valid).count();
    let all = || -> Vec<Diagnostic> {
        reports
            .iter()
            .flat_map(|r| r.diagnostics.iter().cloned())
            .collect()
    };
    match format {
        ValidateFormat::Github => {
            print_stdout(&crate::report::github::annotations(&all()));
            summary(&reports);
        }
        ValidateFormat::Sarif => {
            let log = crate::report::sarif::log(&all());
            print_stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(&log).unwrap_or_default()
            ));
        }
        ValidateFormat::Json => {
            let json = serde_json::json!({ "valid": invalid == 0, "files": reports });
            print_stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            ));
        }
        ValidateFormat::Human => summary(&reports),
    }
    Ok(if invalid == 0 { Code::Ok } else { Code::Usage })
}

/// `N runbook(s) valid`, or how many are invalid and how many problems, on stderr.
fn summary(reports: &[FileReport]) {
    let invalid = reports.iter().filter(|r| !r.valid).count();
    let problems: usize = reports.iter().map(|r| r.diagnostics.len()).sum();
    if invalid == 0 {
        errln!("{} runbook(s) valid", reports.len());
    } else {
        errln!(
            "{invalid} of {} runbook(s) invalid, {problems} problem(s)",
            reports.len()
        );
    }
}
