//! Setting a run up, and closing it: everything between a parsed command line and the step loop.
//!
//! [`start`] binds params and runs pre-flight ([`preflight`]), opens the transcript and writes
//! `run_started`, hands the runbook to the [`Executor`] with the operator the command line made,
//! then closes the transcript. [`resume`] plans the continuation of an interrupted run from its
//! transcript and goes through the same [`launch`]. The command line only parses arguments, makes
//! the terminal operator, calls one function here, and prints what it returns.

pub mod attempt;
pub mod preflight;
pub mod resume;
pub mod resume_hosts;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::exec::operator::{Operator, Tone};
use crate::exec::params::{self, SecretPrompt};
use crate::exec::runner::{ProcessRunner, StoppingNotice};
use crate::exec::{Executor, Mode, Options, Resume, RunOutcome};
use crate::exit::{Code, UserError};
use crate::notify::Webhook;
use crate::redact::Redactor;
use crate::runbook::validate::Document;
use crate::transcript::{self, Event, ProblemSink, Recorder};

/// What `rb run` was asked to do, as typed values.
pub struct RunRequest<'a> {
    pub options: Options,
    /// `-p key=value` items as given.
    pub params: &'a [String],
    pub params_file: Option<PathBuf>,
    /// Where the transcript goes (default: a new file in `transcript_dir`).
    pub transcript: Option<PathBuf>,
    /// The folder of new transcripts (the configured one, or the default).
    pub transcript_dir: PathBuf,
    /// Said as warnings at the start and recorded as notes by rb (a runbook shadowing another).
    pub notes: Vec<String>,
    /// The hosts command steps run on (none: here).
    pub remote: Option<crate::remote::Targets>,
}

/// How rb reaches the person running it.
pub struct Surroundings<'a> {
    pub operator: &'a mut dyn Operator,
    /// Asks for a secret with hidden input; None when nobody can answer.
    pub prompt_secret: Option<SecretPrompt<'a>>,
    /// Where problems writing the transcript are reported as they happen.
    pub on_problem: ProblemSink,
    /// Told at once when a signal starts ending a step (which signal, the grace period).
    pub on_stopping: StoppingNotice,
}

/// Runs a runbook: pre-flight, then the steps. Returns the run's exit code.
pub fn start(
    doc: &Document,
    mut req: RunRequest<'_>,
    s: Surroundings<'_>,
) -> Result<Code, UserError> {
    req.options.from = req.options.from.map(|f| preflight::resolve_from(doc, &f));
    let mut problems = Vec::new();
    let cli = preflight::parse_kv(req.params).unwrap_or_else(|e| {
        problems.extend(e);
        Vec::new()
    });
    let file = match &req.params_file {
        Some(p) => preflight::read_params_file(p).unwrap_or_else(|e| {
            problems.extend(e);
            BTreeMap::new()
        }),
        None => BTreeMap::new(),
    };
    if let Some(path) = &req.transcript
        && path.symlink_metadata().is_ok()
    {
        problems.push(format!(
            "`--transcript {}` already exists (a file or a link): a new run never writes into an existing file; choose a new path, or continue that run with `rb resume {}`",
            path.display(),
            path.display()
        ));
    }
    let prompt_secret = if req.options.mode == Mode::Live {
        s.prompt_secret
    } else {
        None
    };
    let (params, warnings) = preflight::bind_and_preflight(
        doc,
        preflight::Given {
            mode: req.options.mode,
            cli: &cli,
            file: &file,
            from: req.options.from.as_deref(),
            prompt_secret,
            problems,
            remote: req.remote.is_some(),
        },
    )?;
    let remote = match req.remote {
        Some(t) => Some(remote_preflight(doc, t, req.options.mode)?),
        None => None,
    };
    launch(Launch {
        doc,
        params: &params,
        warnings,
        opts: req.options,
        operator: s.operator,
        on_problem: s.on_problem,
        on_stopping: s.on_stopping,
        target: TranscriptTarget::New(req.transcript, req.transcript_dir),
        resume: None,
        lock: None,
        notes: req.notes,
        remote,
    })
}

/// Connects to every host before step 1 (not in a dry run: it opens no connection) and checks
/// `requires:` there; every unreachable host at once, nothing run.
pub(crate) fn remote_preflight(
    doc: &Document,
    t: crate::remote::Targets,
    mode: Mode,
) -> Result<(crate::remote::Targets, Option<crate::remote::Link>), UserError> {
    refuse_interactive_on_hosts(doc)?;
    if mode == Mode::DryRun {
        return Ok((t, None));
    }
    match t.connect(&doc.runbook.requires) {
        Ok(link) => Ok((t, Some(link))),
        Err(failed) => {
            let list: Vec<String> = failed
                .iter()
                .map(|u| format!("  {}: {}", u.host, u.why))
                .collect();
            Err(UserError::usage(format!(
                "cannot start the run: {} of {} host(s) failed pre-flight, nothing was run:\n{}",
                failed.len(),
                t.hosts.len(),
                list.join("\n")
            ))
            .hint("check that each host is up, that its key is in your known_hosts, and that your key is authorized (`ssh HOST true` with the same config)"))
        }
    }
}

/// A step that reads the operator's terminal cannot run on a host: its stdin there is the
/// channel that carries the step. Refused before anything runs, each such step at its place.
fn refuse_interactive_on_hosts(doc: &Document) -> Result<(), UserError> {
    use crate::runbook::{StepBody, rollout::On};
    let places: Vec<String> = doc
        .runbook
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.on == On::Target && matches!(&s.body, StepBody::Command(c) if c.interactive)
        })
        .map(|(i, s)| {
            let at = doc.map.key_span(&format!("/steps/{i}/interactive"));
            let (line, col) = at.map_or((0, 0), |p| (p.line, p.column));
            format!(
                "  {}:{line}:{col}: step `{}` is interactive",
                doc.source.name, s.id
            )
        })
        .collect();
    if places.is_empty() {
        return Ok(());
    }
    Err(UserError::usage(format!(
        "interactive steps cannot run on remote hosts (their terminal is here), nothing was run:\n{}",
        places.join("\n")
    ))
    .hint("give each such step `on: local` to run it on this machine, or run without --host/--hosts/--inventory"))
}

/// Who runs rb: `--operator`, else `$USER`, else the account's name, else `unknown`.
pub fn operator_name(given: Option<String>) -> String {
    given
        .filter(|s| !s.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|s| !s.trim().is_empty()))
        .or_else(account_name)
        .unwrap_or_else(|| "unknown".into())
}

/// The login name of the account rb runs as.
fn account_name() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// Where a run's events go.
enum TranscriptTarget {
    /// A new transcript (at this path, or a new file in this folder).
    New(Option<PathBuf>, PathBuf),
    /// Continue an existing one (`rb resume`).
    Append(PathBuf),
}

/// Everything needed to start the step loop.
struct Launch<'a> {
    doc: &'a Document,
    params: &'a params::Params,
    warnings: Vec<String>,
    opts: Options,
    operator: &'a mut dyn Operator,
    on_problem: ProblemSink,
    on_stopping: StoppingNotice,
    target: TranscriptTarget,
    resume: Option<Resume>,
    notes: Vec<String>,
    /// The hosts, and their connections (none in a dry run).
    remote: Option<(crate::remote::Targets, Option<crate::remote::Link>)>,
    /// The run lock, when the caller took it already (`rb resume`; `None` if it could not be made).
    lock: Option<transcript::RunLock>,
}

/// Opens the transcript, runs the steps, closes the transcript; returns the exit code.
fn launch(l: Launch<'_>) -> Result<Code, UserError> {
    let op = l.operator;
    for w in &l.warnings {
        op.say(Tone::Warning, w);
    }
    let mut webhook = webhook(l.doc)?;
    let hook_secret: Vec<String> = webhook.iter().map(|w| w.url().to_string()).collect();
    // Created before anything runs: from here on Ctrl-C belongs to rb (see `ProcessRunner::new`).
    let mut runner = ProcessRunner::new()
        .map_err(|e| UserError::io("cannot set up process handling", &e))?
        .with_interrupt_notice(l.on_stopping);
    let mut secrets = l.params.secret_values(&l.doc.runbook);
    secrets.extend(hook_secret.iter().cloned());
    let redactor = Redactor::new(secrets);
    // Held until the record is closed: nothing else continues this run meanwhile.
    let mut run_lock = l.lock;
    let mut run_id_env = l.resume.as_ref().and_then(|r| r.run_id.clone());
    let mut recorder = match l.target {
        TranscriptTarget::New(path, dir) => {
            let run_id =
                transcript::new_run_id().map_err(|e| UserError::io("cannot make a run id", &e))?;
            run_id_env = Some(run_id.clone());
            let now = jiff::Timestamp::now();
            let path = path.unwrap_or_else(|| {
                dir.join(transcript::file_name(now, &l.doc.runbook.name, &run_id))
            });
            run_lock = take_lock(&path)?;
            if run_lock.is_none() {
                op.say(Tone::Warning, "cannot lock this run's transcript (is the disk full?): nothing stops a `rb resume` beside it");
            }
            let mut rec = Recorder::create(&path, redactor, l.on_problem);
            let targets = l.remote.as_ref().map_or(Vec::new(), |(t, _)| {
                t.hosts.iter().map(|h| h.name.clone()).collect()
            });
            rec.record(run_started(
                l.doc,
                l.params,
                l.opts.mode,
                run_id,
                op.name(),
                now,
                targets,
            ));
            rec
        }
        TranscriptTarget::Append(path) => Recorder::append(&path, redactor, l.on_problem),
    };
    for text in l.notes {
        op.say(Tone::Warning, &text);
        recorder.record(Event::Note {
            by: crate::domain::Actor::Rb,
            text,
            step: None,
            kind: crate::transcript::NoteKind::Plain,
        });
    }
    op.notice(&format!("transcript: {}", recorder.path().display()));
    op.say(Tone::Info, &header(l.doc, l.opts.mode, l.resume.as_ref()));
    introduce(op, l.doc, l.params, l.opts.mode, webhook.as_ref());
    let mut remote;
    let hosts: Vec<String> = l.remote.as_ref().map_or(Vec::new(), |(t, _)| {
        t.hosts.iter().map(|h| h.name.clone()).collect()
    });
    let runner: &mut dyn crate::exec::runner::Runner = match l.remote {
        Some((t, link)) => {
            let text = t.describe();
            op.say(Tone::Info, &text);
            recorder.record(Event::Note {
                by: crate::domain::Actor::Rb,
                text,
                step: None,
                kind: crate::transcript::NoteKind::Plain,
            });
            match link {
                Some(link) => {
                    remote = crate::remote::RemoteRunner::new(&mut runner, link, t.hosts, t.forks);
                    &mut remote
                }
                None => &mut runner,
            }
        }
        None => &mut runner,
    };
    let mut exec =
        Executor::new(l.doc, l.params, l.opts, op, runner, &mut recorder).with_hosts(hosts);
    if let Some(id) = &run_id_env {
        exec = exec.with_run_id(id);
    }
    if let Some(w) = webhook.as_mut() {
        exec = exec.with_channel(w, hook_secret);
    }
    if let Some(r) = l.resume {
        exec = exec.resuming(r);
    }
    let outcome = exec.run();
    let closed = recorder.close();
    // The record is complete: the run may now be continued or looked at by anyone.
    drop(run_lock);
    for event in &closed.unwritten {
        // Nowhere on disk would take them: stderr is the last place they can survive.
        op.notice(&format!(
            "unwritten transcript event: {}",
            serde_json::to_string(event).unwrap_or_default()
        ));
    }
    op.notice(&format!("transcript: {}", closed.path.display()));
    op.say(Tone::Info, &next_commands(outcome, &closed.path));
    Ok(outcome.exit_code())
}

/// What the operator sees before step 1: the params (secrets masked) and where messages go.
fn introduce(
    op: &mut dyn Operator,
    doc: &Document,
    params: &params::Params,
    mode: Mode,
    webhook: Option<&Webhook>,
) {
    let masked = params.masked(&doc.runbook);
    if !masked.is_empty() {
        // Escaped here, not only by the terminal: a newline in a value must not start a new line.
        let list: Vec<String> = masked
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::sanitize::visible(v, false)))
            .collect();
        op.say(Tone::Info, &format!("params: {}", list.join(" ")));
    }
    if let (Some(w), Mode::Live) = (webhook, mode) {
        op.say(
            Tone::Info,
            &format!(
                "messages can be posted to the incident channel ({})",
                w.source()
            ),
        );
    }
}

/// What to type next: resume an interrupted run; draft the post-mortem.
fn next_commands(outcome: RunOutcome, path: &std::path::Path) -> String {
    let quoted = crate::render::shell_quote(&path.to_string_lossy())
        .unwrap_or_else(|| path.display().to_string());
    let mut s = String::new();
    if outcome == RunOutcome::Interrupted {
        s += &format!("next: rb resume {quoted}   (continues where the run stopped)\n");
    }
    s += &format!("next: rb postmortem {quoted}   (drafts the post-mortem)");
    s
}

/// The incident channel's webhook, if one is configured (`notify.webhook_env`, else
/// `$RB_WEBHOOK_URL`).
fn webhook(doc: &Document) -> Result<Option<Webhook>, UserError> {
    let name = doc.runbook.notify.as_ref().map(|n| n.webhook_env.as_str());
    Webhook::from_env(name, &|k| std::env::var(k).ok()).map_err(|e| {
        UserError::usage(format!("cannot start the run: {e}"))
            .hint("unset it to print messages for copy-paste instead of posting them")
    })
}

/// Takes the run lock of the transcript at `path`, or says which live process holds it. A lock
/// file that cannot be made (a full or read-only disk) does not stop a run: `None`, and the
/// caller says so (a disk-full runbook must stay usable on a full disk).
pub fn take_lock(path: &std::path::Path) -> Result<Option<transcript::RunLock>, UserError> {
    // The kernel may release the lock of a holder that was killed some milliseconds after the
    // holder is gone (measured: up to ~12 ms on a loaded machine, with no process left holding
    // the file): a holder that no longer exists is waited for, briefly, before refusing.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match transcript::RunLock::acquire(path) {
            Err(transcript::LockError::Held(Some(pid)))
                if !process_exists(pid) && std::time::Instant::now() < until =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return lock_taken(path, other),
        }
    }
}

/// Whether a process (a zombie included) has `pid`.
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) != Err(nix::errno::Errno::ESRCH)
}

fn lock_taken(
    path: &std::path::Path,
    got: Result<transcript::RunLock, transcript::LockError>,
) -> Result<Option<transcript::RunLock>, UserError> {
    match got {
        Ok(lock) => Ok(Some(lock)),
        Err(transcript::LockError::Held(pid)) => {
            let who = pid.map_or("another rb".to_string(), |p| format!("rb (pid {p})"));
            Err(UserError::usage(format!(
                "the run recorded in `{}` is still going: {who} holds it",
                path.display()
            ))
            .hint("wait for that run to end, or stop it (Ctrl-C in its terminal), then continue it with `rb resume`"))
        }
        Err(transcript::LockError::Io(_)) => Ok(None),
    }
}

/// The line that says what is about to happen.
fn header(doc: &Document, mode: Mode, resume: Option<&Resume>) -> String {
    let (name, source) = (&doc.runbook.name, &doc.source.name);
    match (mode, resume) {
        (_, Some(r)) => match doc
            .runbook
            .steps
            .iter()
            .position(|s| !r.done.contains(&s.id))
        {
            Some(i) => format!(
                "Resuming `{name}` ({source}) at step {} of {}.",
                i + 1,
                doc.runbook.steps.len()
            ),
            // The last step was marked done by hand: only the run's end is left to record.
            None => format!("Resuming `{name}` ({source}): no step is left to run."),
        },
        (Mode::DryRun, _) => {
            format!("Dry run of `{name}` ({source}): nothing will be executed.")
        }
        (Mode::Check, _) => {
            format!("Check of `{name}` ({source}): read-only steps run, changes are previewed.")
        }
        (Mode::Live, _) => format!("Running `{name}` ({source})."),
    }
}

/// The first line of a transcript.
fn run_started(
    doc: &Document,
    params: &params::Params,
    mode: Mode,
    run_id: String,
    operator: String,
    now: jiff::Timestamp,
    targets: Vec<String>,
) -> Event {
    // An absolute path, so `rb resume` finds the file from any folder.
    let source = std::fs::canonicalize(&doc.source.name)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| doc.source.name.clone());
    Event::RunStarted {
        schema_version: transcript::SCHEMA_VERSION,
        run_id,
        runbook: doc.runbook.name.clone(),
        source,
        sha256: doc.sha256.clone(),
        mode,
        params: params.masked(&doc.runbook),
        operator,
        host: hostname(),
        rb_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: transcript::line::format_ts(now),
        targets,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
