//! Issue 9, "never run a step twice": `rb run` SIGKILLed at 50 random moments of a 30-step run,
//! each time followed by `rb resume`. After every kill the record is whole (an unfinished record
//! is fine, a damaged one is not), the resume finishes the run, no step the record called
//! finished runs again, and no process of the run is left.
//!
//! The moments are random delays within the run's duration (measured once, uncrashed), from a
//! seed printed at the start; `RB_CRASH_SEED=N` replays a failure.
//!
//! The runs write to tmpfs. A SIGKILL loses nothing rb handed to the kernel, fsynced or not (the
//! fsync is for a power loss, which no test here can make), so nothing tested is lost; and the
//! time of 100 runs no longer depends on how busy the shared disk is (its fsyncs took 15 ms each
//! while other builds wrote to it, which made the test minutes long).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::binary::Sandbox;
use rb::transcript::{Event, Transcript};

const STEPS: usize = 30;
const KILLS: usize = 50;

/// Thirty steps; each appends its id to `run.log` with `>>` as it starts and again as it ends,
/// a few ms apart (so the log shows whether two attempts of a step ever overlapped); every
/// third is read-only, the others change the system (so `--yes` decides them).
///
/// Three steps stand for long commands: they take 60 ms, and an attempt of one that outlives its
/// rb (its parent gone) lingers a second more. So a good share of the kills leave an attempt
/// that `rb resume` meets still running (a 5 ms attempt, or a 60 ms one, is over before resume
/// gets there), and a resume that started the step beside it would show in the log.
fn runbook() -> String {
    let mut s =
        String::from("version: 1\nname: crash\ntitle: Thirty steps, killed anywhere\nsteps:\n");
    for i in 0..STEPS {
        let id = id(i);
        let work = if i % 10 == 5 {
            "rb=$PPID; sleep 0.06; kill -0 $rb 2>/dev/null || sleep 1"
        } else {
            "sleep 0.004"
        };
        s += &format!(
            "  - id: {id}\n    run: echo {id} start >> run.log; {work}; echo {id} end >> run.log\n"
        );
        if i % 3 == 0 {
            s += "    read_only: true\n";
        }
    }
    s
}

/// The log of a run in which every step ran once.
fn once() -> Vec<String> {
    (0..STEPS)
        .flat_map(|i| [format!("{} start", id(i)), format!("{} end", id(i))])
        .collect()
}

/// The logs a resumed run may leave when the kill cut an attempt of `cut` (started, not recorded
/// finished): that attempt never started its command; or it started and was ended (or the kill
/// came before its end); or it ran to its end unrecorded. Then the step runs again, after it:
/// never beside it, never any other step again.
fn allowed(cut: &str) -> Vec<Vec<String>> {
    let (start, end) = (format!("{cut} start"), format!("{cut} end"));
    let at = once().iter().position(|l| *l == start).expect("a step");
    [vec![], vec![start.clone()], vec![start, end]]
        .into_iter()
        .map(|before| {
            let mut log = once();
            log.splice(at..at, before);
            log
        })
        .collect()
}

fn id(i: usize) -> String {
    format!("s{i:02}")
}

/// splitmix64: enough randomness for kill moments, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    match std::env::var("RB_CRASH_SEED") {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("RB_CRASH_SEED={s} is not a number")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    }
}

/// Kills whatever of a run is left if the test fails half-way, so no process outlives it.
struct Reaper(Option<String>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(id) = &self.0 {
            for pid in common::run_processes(id) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// What the record said when rb was killed.
struct AtKill {
    /// Lines written before the kill.
    lines: usize,
    /// Steps whose last `step_finished` says done (succeeded, skipped, rolled back).
    finished: Vec<String>,
    /// The step started and not finished, if any.
    unfinished: Option<String>,
    run_finished: bool,
}

fn at_kill(t: &Transcript) -> AtKill {
    let mut last: BTreeMap<String, bool> = BTreeMap::new();
    let mut open = None;
    for e in t.events() {
        match e {
            Event::StepStarted { step, .. } => open = Some(step.clone()),
            Event::StepFinished { step, status, .. } => {
                last.insert(step.clone(), status.is_done());
                if open.as_ref() == Some(step) {
                    open = None;
                }
            }
            _ => {}
        }
    }
    AtKill {
        lines: t.lines.len(),
        finished: last
            .into_iter()
            .filter(|(_, d)| *d)
            .map(|(s, _)| s)
            .collect(),
        unfinished: open,
        run_finished: t.run_finished().is_some(),
    }
}

/// How the kills fell, for the summary line.
#[derive(Default, Debug)]
struct Tally {
    before_record: usize,
    mid_step: usize,
    attempt_survived: usize,
    waited: usize,
    ran_twice: usize,
    after_end: usize,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.before_record += o.before_record;
        self.mid_step += o.mid_step;
        self.attempt_survived += o.attempt_survived;
        self.waited += o.waited;
        self.ran_twice += o.ran_twice;
        self.after_end += o.after_end;
    }
}

#[test]
fn sigkill_at_random_moments_then_resume_never_runs_a_finished_step_twice() {
    let seed = seed();
    println!("RB_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let book = runbook();

    // The run's duration, measured once: the kills fall within it.
    let d = Sandbox::in_memory();
    d.write("crash.yaml", &book);
    let start = Instant::now();
    let out = d.run(&["run", "crash.yaml", "--yes", "--transcript", "t.jsonl"]);
    let span = start.elapsed();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(log_of(&d), once());
    println!("one uncrashed run: {} ms", span.as_millis());

    // Every round's moment and choice come from the seed, before anything runs.
    let rounds: Vec<(Duration, bool)> = (0..KILLS)
        .map(|_| {
            let delay = Duration::from_micros(rng.below(span.as_micros() as u64));
            (delay, rng.below(2) == 0)
        })
        .collect();
    // Three rounds at a time: each mostly waits (sleeps, fsyncs), and the suite's budget is tight.
    let tally = std::sync::Mutex::new(Tally::default());
    std::thread::scope(|scope| {
        for worker in 0..3 {
            let (rounds, tally, book) = (&rounds, &tally, &book);
            scope.spawn(move || {
                for (round, (delay, wait_for_it)) in rounds.iter().enumerate() {
                    if round % 3 == worker {
                        let t = crash_and_resume(book, round, *delay, *wait_for_it);
                        tally.lock().unwrap().add(&t);
                    }
                }
            });
        }
    });
    println!("seed {seed}: {:?}", tally.into_inner().unwrap());
}

/// One round: run, SIGKILL after `delay`, check the record, resume, check everything.
fn crash_and_resume(book: &str, round: usize, delay: Duration, wait_for_it: bool) -> Tally {
    let mut tally = Tally::default();
    let ctx = format!("round {round}, kill after {} µs", delay.as_micros());
    let d = Sandbox::in_memory();
    d.write("crash.yaml", book);
    let mut rb = d
        .rb()
        .args(["run", "crash.yaml", "--yes", "--transcript", "t.jsonl"])
        .spawn();
    std::thread::sleep(delay);
    let _ = rb.kill();
    rb.wait().unwrap();

    let Ok(t) = rb::transcript::read(&d.path("t.jsonl")) else {
        // Killed before the record existed: nothing may have run.
        tally.before_record += 1;
        assert!(log_of(&d).is_empty(), "{ctx}: steps ran without a record");
        return tally;
    };
    let Some(run_id) = t.events().find_map(|e| match e {
        Event::RunStarted { run_id, .. } => Some(run_id.clone()),
        _ => None,
    }) else {
        tally.before_record += 1;
        assert!(log_of(&d).is_empty(), "{ctx}: steps ran before run_started");
        return tally;
    };
    let _reaper = Reaper(Some(run_id.clone()));
    // Looked at at once: an attempt of a few ms would be over after the checks below.
    let survived = !common::run_processes(&run_id).is_empty();
    let verify = d.run(&["transcripts", "verify", "t.jsonl"]);
    assert_eq!(
        verify.code,
        Some(0),
        "{ctx}: {}{}",
        verify.stdout,
        verify.stderr
    );
    let was = at_kill(&t);
    if was.run_finished {
        tally.after_end += 1;
        assert_eq!(log_of(&d), once(), "{ctx}");
        return tally;
    }
    tally.mid_step += usize::from(was.unfinished.is_some());

    tally.attempt_survived += usize::from(survived);
    // `--running` is given every time: an attempt between fork and exec when we looked may
    // still appear; resume must settle whatever it finds.
    let how = if wait_for_it { "wait" } else { "end" };
    tally.waited += usize::from(survived && wait_for_it);
    let out = d.run(&["resume", "t.jsonl", "--yes", "--running", how]);
    assert_eq!(
        out.code,
        Some(0),
        "{ctx}: {}\nholding the lock file: {:?}",
        out.stderr,
        holders_of_file(&d.path("t.jsonl.lock"))
    );

    let after = common::checked_transcript(&d.path("t.jsonl"));
    assert!(
        matches!(
            after.run_finished().map(|l| &l.event),
            Some(Event::RunFinished {
                outcome: rb::transcript::RunOutcome::Finished,
                ..
            })
        ),
        "{ctx}: the resumed run finished"
    );
    // The record: no step it called finished at the kill started again afterwards.
    for e in after.lines[was.lines..].iter().map(|l| &l.event) {
        if let Event::StepStarted { step, .. } = e {
            assert!(
                !was.finished.contains(step),
                "{ctx}: `{step}` finished before the kill and started again"
            );
        }
    }
    // The world: every step started and ended once, in order, one at a time; only the step
    // whose attempt the kill cut may show that attempt too, wholly before it ran again.
    let log = log_of(&d);
    let ok = match &was.unfinished {
        None => vec![once()],
        Some(cut) => allowed(cut),
    };
    assert!(
        ok.contains(&log),
        "{ctx}: unfinished at the kill: {:?}; finished: {:?}; log: {log:?}",
        was.unfinished,
        was.finished
    );
    tally.ran_twice += usize::from(log.len() > once().len());
    assert!(
        common::run_processes(&run_id).is_empty(),
        "{ctx}: a process of the run is left"
    );
    tally
}

/// What the steps appended, in order.
fn log_of(d: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(d.path("run.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Processes with `path` open (pid, command line): who holds a lock on it.
fn holders_of_file(path: &std::path::Path) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == path))
        {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    found
}
