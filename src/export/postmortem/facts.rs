//! The facts of a post-mortem, computed once from the transcripts into a serializable [`Facts`]:
//! runs, milestones, steps (attempts folded), watches (samples), notes by kind, messages,
//! decisions and the timeline. Rendering is elsewhere; `rb postmortem --format json` prints this.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::model::*;
use super::steps::{AttemptScan, WatchScan, steps};
use super::text::ms_between;
use super::timeline::{event_row, timeline};
use crate::domain::{Actor, MessagePurpose, Milestone};
use crate::transcript::{Event, Line, NoteKind, Summary, Transcript};

/// The facts of the post-mortem for these transcripts.
pub fn facts(transcripts: &[(PathBuf, Transcript)]) -> Facts {
    let mut b = FactsBuilder::default();
    for (path, t) in transcripts {
        b.start(path);
        for l in &t.lines {
            b.line(l.clone());
        }
        b.end(t.sha256.clone(), t.lines.len(), t.torn_tail);
    }
    b.finish()
}

/// Builds [`Facts`] line by line, transcript after transcript, so that a transcript need not be
/// held whole: output is counted, not kept, and only the lines the run's summary reads are.
#[derive(Default)]
pub struct FactsBuilder {
    attempts: AttemptScan,
    watches: WatchScan,
    milestones: Vec<MilestoneFact>,
    events: Events,
    /// The rows of single lines, in transcript and line order.
    rows: Vec<TimelineRow>,
    /// Per transcript, the lines [`Summary::of`] reads (see [`Head`]).
    heads: Vec<Head>,
    /// Each step's last result on each remote host.
    host_results: Vec<HostResultFact>,
    transcripts: Vec<TranscriptFact>,
}

/// The lines of a transcript that its [`Summary`] reads: the first, the last, those that end
/// the run, and the first to name each person.
#[derive(Default)]
struct Head {
    path: PathBuf,
    lines: Vec<Line>,
    /// The people named so far (a later line naming them again adds nothing to the summary).
    people: BTreeSet<Actor>,
    /// The latest line when it is not among `lines`.
    last: Option<Line>,
    /// Who started the run, and when (for the timeline's rows).
    operator: String,
    run_start: Option<Timestamp>,
}

impl FactsBuilder {
    /// Transcript `T<n>` begins (numbered from 1 in the order started).
    pub fn start(&mut self, path: &Path) {
        self.attempts.next_transcript();
        self.watches.next_transcript();
        self.heads.push(Head {
            path: path.to_path_buf(),
            ..Head::default()
        });
    }

    /// The next line of the current transcript.
    pub fn line(&mut self, l: Line) {
        let n = self.heads.len();
        let Some(head) = self.heads.last_mut() else {
            return;
        };
        if head.lines.is_empty() {
            head.operator = match &l.event {
                Event::RunStarted { operator, .. } => operator.clone(),
                _ => "?".into(),
            };
            head.run_start = Some(l.ts);
        }
        self.attempts.line(n, &l);
        self.watches.line(n, &l);
        milestone(&mut self.milestones, n, &l);
        self.events.add(n, &l);
        host_result(&mut self.host_results, n, &l);
        self.rows
            .extend(event_row(&l, n, &head.operator, head.run_start));
        let summarized = match &l.event {
            Event::Decision { by, .. } | Event::Note { by, .. } | Event::Milestone { by, .. } => {
                !by.is_rb() && !head.people.contains(by) && head.people.insert(by.clone())
            }
            Event::RunFinished { .. } => true,
            _ => false,
        };
        if head.lines.is_empty() || summarized {
            head.lines.push(l);
            head.last = None;
        } else {
            head.last = Some(l);
        }
    }

    /// The current transcript ended: the hash of its bytes, its complete lines, and whether a
    /// torn line followed them.
    pub fn end(&mut self, sha256: String, lines: usize, torn_tail: bool) {
        let n = self.heads.len();
        let Some(head) = self.heads.last_mut() else {
            return;
        };
        head.lines.extend(head.last.take());
        let run_id = match head.lines.first().map(|l| &l.event) {
            Some(Event::RunStarted { run_id, .. }) => Some(run_id.clone()),
            _ => None,
        };
        self.transcripts.push(TranscriptFact {
            transcript: n,
            path: head.path.clone(),
            sha256,
            run_id,
            lines,
            torn_tail,
            verified: false,
            problem: None,
        });
    }

    /// The facts of every transcript given.
    pub fn finish(self) -> Facts {
        let steps = steps(&self.attempts.done);
        let runs: Vec<RunFact> = self
            .heads
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                let t = Transcript {
                    path: h.path,
                    lines: h.lines,
                    torn_tail: false,
                    sha256: String::new(),
                };
                run_fact(i + 1, &t, &steps)
            })
            .collect();
        let mut milestones = self.milestones;
        milestones.sort_by_key(|m| (m.at, m.name));
        assemble(
            runs,
            milestones,
            steps,
            self.watches.finish(),
            self.attempts.done,
            self.events,
            self.rows,
            self.transcripts,
            self.host_results,
        )
    }
}

/// The facts from their parts.
#[allow(clippy::too_many_arguments)]
fn assemble(
    runs: Vec<RunFact>,
    milestones: Vec<MilestoneFact>,
    steps: Vec<StepFact>,
    watches: Vec<WatchFact>,
    attempts: Vec<AttemptFact>,
    events: Events,
    rows: Vec<TimelineRow>,
    transcripts: Vec<TranscriptFact>,
    host_results: Vec<HostResultFact>,
) -> Facts {
    let started = runs
        .iter()
        .filter_map(|r| r.started)
        .chain(milestones.iter().map(|m| m.at))
        .min();
    let ended = runs.iter().filter_map(|r| r.ended).max();
    let (time_to_mitigate, time_to_resolve) = intervals(&milestones, started);
    let mut f = Facts {
        version: FACTS_VERSION,
        warnings: Vec::new(),
        status: status(&milestones),
        started,
        ended,
        duration_ms: started.zip(ended).map(|(s, e)| ms_between(s, e)),
        operators: people(&runs),
        hosts: runs
            .iter()
            .map(|r| r.host.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        timeline: Vec::new(),
        runs,
        milestones,
        time_to_mitigate,
        time_to_resolve,
        steps,
        watches,
        notes: events.notes,
        messages: events.messages,
        decisions: events.decisions,
        attempts,
        retries: events.retries,
        output_dropped: events.output_dropped,
        host_results,
        transcripts,
    };
    f.timeline = timeline(rows, &f);
    f.warnings = warnings(&f);
    f
}

fn people(runs: &[RunFact]) -> Vec<String> {
    let all: BTreeSet<&String> = runs.iter().flat_map(|r| r.people.iter()).collect();
    all.into_iter().cloned().collect()
}

/// `resolved`, `mitigated` or `unresolved`: the furthest milestone reached.
fn status(milestones: &[MilestoneFact]) -> &'static str {
    let reached = |m| milestones.iter().any(|f| f.name == m);
    if reached(Milestone::Resolved) {
        "resolved"
    } else if reached(Milestone::Mitigated) {
        "mitigated"
    } else {
        "unresolved"
    }
}

/// Times to mitigate and to resolve: from `detected` when marked, else from `started`.
fn intervals(
    milestones: &[MilestoneFact],
    started: Option<Timestamp>,
) -> (Option<Interval>, Option<Interval>) {
    let at = |name| milestones.iter().find(|m| m.name == name).map(|m| m.at);
    let detected = at(Milestone::Detected);
    let interval = |name| {
        Some(Interval {
            ms: ms_between(detected.or(started)?, at(name)?),
            from: if detected.is_some() {
                "detection"
            } else {
                "start"
            },
        })
    };
    (
        interval(Milestone::Mitigated),
        interval(Milestone::Resolved),
    )
}

/// What a reader must know first: torn lines and milestones out of order (verification
/// failures are added by [`Facts::verification`]).
fn warnings(f: &Facts) -> Vec<String> {
    let mut w = Vec::new();
    for t in f.transcripts.iter().filter(|t| t.torn_tail) {
        w.push(format!(
            "T{} ends with a torn line (rb was killed while writing it); it is left out.",
            t.transcript
        ));
    }
    for (i, later) in f.milestones.iter().enumerate() {
        for earlier in &f.milestones[..i] {
            if later.name < earlier.name {
                w.push(format!(
                    "Milestones out of order: {} ({}) comes before {} ({}); check the times \
                     (`rb mark --at` backdates a mark).",
                    earlier.name,
                    super::text::fmt_ts(earlier.at),
                    later.name,
                    super::text::fmt_ts(later.at)
                ));
            }
        }
    }
    w
}

/// Notes, messages, decisions, retries and dropped output of every transcript, in transcript order.
#[derive(Default)]
struct Events {
    notes: Vec<NoteFact>,
    messages: Vec<MessageFact>,
    decisions: Vec<DecisionFact>,
    retries: Vec<RetryFact>,
    output_dropped: Vec<DroppedFact>,
    /// Message steps whose delivery is not recorded yet, by transcript and step.
    pending: BTreeMap<(usize, String), usize>,
}

impl Events {
    /// A `message_posted` line: the delivery of the message step shown before it, or an update
    /// or the resolution with its text.
    fn delivered(
        &mut self,
        transcript: usize,
        l: &Line,
        purpose: MessagePurpose,
        step: Option<&str>,
        text: Option<&str>,
        d: Delivery<'_>,
    ) {
        let shown = match (purpose, step) {
            (MessagePurpose::Step, Some(step)) => {
                self.pending.remove(&(transcript, step.to_string()))
            }
            _ => None,
        };
        let i = shown.unwrap_or_else(|| {
            self.messages.push(MessageFact::new(
                l.ts,
                purpose,
                step.map(str::to_string),
                text.unwrap_or_default().to_string(),
                transcript,
                l.seq,
            ));
            self.messages.len() - 1
        });
        self.messages[i].delivered(l.ts, l.seq, d);
    }

    fn add(&mut self, transcript: usize, l: &Line) {
        let (at, seq) = (l.ts, l.seq);
        match &l.event {
            Event::Note {
                by,
                text,
                step,
                kind,
            } => self.notes.push(NoteFact {
                at,
                // rb's own notes never pose as hypotheses, actions or comms.
                kind: if by.is_rb() { NoteKind::Plain } else { *kind },
                by: by.clone(),
                text: text.clone(),
                step: step.clone(),
                transcript,
                seq,
            }),
            Event::Message { step, text } => {
                let mut m = MessageFact::new(
                    at,
                    MessagePurpose::Step,
                    Some(step.clone()),
                    text.clone(),
                    transcript,
                    seq,
                );
                m.delivery = m.words();
                self.pending
                    .insert((transcript, step.clone()), self.messages.len());
                self.messages.push(m);
            }
            Event::MessagePosted {
                step,
                purpose,
                status,
                http_status,
                attempts,
                error,
                text,
            } => self.delivered(
                transcript,
                l,
                *purpose,
                step.as_deref(),
                text.as_deref(),
                Delivery {
                    status: *status,
                    http_status: *http_status,
                    attempts: *attempts,
                    error: error.as_ref(),
                },
            ),
            Event::Decision {
                step,
                by,
                choice,
                text,
            } => self.decisions.push(DecisionFact {
                at,
                by: by.clone(),
                choice: *choice,
                step: step.clone(),
                text: text.clone(),
                transcript,
                seq,
            }),
            Event::Retry {
                step,
                attempt,
                delay_ms,
                reason,
            } => self.retries.push(RetryFact {
                transcript,
                seq,
                step: step.clone(),
                attempt: *attempt,
                delay_ms: *delay_ms,
                reason: reason.clone(),
            }),
            Event::OutputDropped { step, bytes, .. } => self.output_dropped.push(DroppedFact {
                transcript,
                seq,
                step: step.clone(),
                bytes: *bytes,
            }),
            _ => {}
        }
    }
}

/// What the summary needs from one transcript (`n` is its 1-based number).
fn run_fact(n: usize, t: &Transcript, steps: &[StepFact]) -> RunFact {
    let s = Summary::of(t);
    let unknown = || "?".to_string();
    RunFact {
        transcript: n,
        runbook: s.runbook.clone().unwrap_or_else(unknown),
        mode: s.mode,
        run_id: s.run_id.clone(),
        operator: s.operator.clone().unwrap_or_else(unknown),
        host: s.host.clone().unwrap_or_else(unknown),
        duration_ms: s.span_ms(),
        started: s.first_event,
        ended: s.last_event,
        outcome: s.outcome,
        caveats: steps
            .iter()
            .filter(|st| st.transcript == n)
            .filter_map(StepFact::caveat)
            .collect(),
        people: s.operators,
    }
}

/// Keeps the first time each milestone was reached (a backdated mark counts from when it
/// happened); sorted into time order once every transcript is read.
fn milestone(first: &mut Vec<MilestoneFact>, n: usize, l: &Line) {
    let Event::Milestone { name, by, at, .. } = &l.event else {
        return;
    };
    let when = at.as_deref().and_then(|a| a.parse().ok()).unwrap_or(l.ts);
    let fact = MilestoneFact {
        name: *name,
        at: when,
        marked_at: l.ts,
        by: by.clone(),
        transcript: n,
        seq: l.seq,
    };
    match first.iter_mut().find(|m| m.name == *name) {
        Some(m) if m.at <= when => {}
        Some(m) => *m = fact,
        None => first.push(fact),
    }
}

/// Keeps each step's last result on each host (a retry on the hosts that failed replaces theirs).
fn host_result(results: &mut Vec<HostResultFact>, n: usize, l: &Line) {
    let Event::HostFinished {
        step,
        host,
        status,
        exit_code,
        reason,
        ..
    } = &l.event
    else {
        return;
    };
    let fact = HostResultFact {
        transcript: n,
        step: step.clone(),
        host: host.clone(),
        status: *status,
        exit_code: *exit_code,
        reason: reason.clone(),
        seq: l.seq,
    };
    match results
        .iter_mut()
        .find(|r| r.transcript == n && &r.step == step && &r.host == host)
    {
        Some(r) => *r = fact,
        None => results.push(fact),
    }
}
