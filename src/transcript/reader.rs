//! Reading a transcript back, and checking its hash chain.
//!
//! [`read`] is lenient where a crash can leave damage and strict elsewhere: a torn last line (no
//! newline, or not JSON, at the very end) is what a killed writer leaves and is reported as
//! [`Transcript::torn_tail`]; any other bad line is an error naming its line number.
//! [`verify`] checks what an edit or a gap would break: `seq` is 1, 2, 3, …, every `prev` is the
//! SHA-256 of the line before, the first line is `run_started`, and a `run_finished` that counts
//! the lines before it and names the last one's hash (schema version 3) is right; it also says
//! whether the record is complete ([`Ending`]).
//! [`scan`] does both in one pass over the file, handing each line over as it is decoded, so a
//! reader that only folds the events (the post-mortem) never holds the whole transcript.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::event::Event;
use sha2::{Digest, Sha256};

use super::line::{self, GENESIS_PREV, Line};

/// A transcript as read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// Where it was read from.
    pub path: PathBuf,
    /// Every complete line, in file order.
    pub lines: Vec<Line>,
    /// True when the file ends with a torn line (left out of `lines`).
    pub torn_tail: bool,
    /// Hex SHA-256 of the file's bytes as read (cited by the post-mortem as evidence).
    pub sha256: String,
}

impl Transcript {
    /// The events, in order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.lines.iter().map(|l| &l.event)
    }

    /// The first line, when it is `run_started`.
    pub fn run_started(&self) -> Option<&Line> {
        self.lines
            .first()
            .filter(|l| matches!(l.event, Event::RunStarted { .. }))
    }

    /// The run id from the first line.
    pub fn run_id(&self) -> Option<&str> {
        match self.run_started().map(|l| &l.event) {
            Some(Event::RunStarted { run_id, .. }) => Some(run_id),
            _ => None,
        }
    }

    /// The last `run_finished` line, if the run ended normally.
    pub fn run_finished(&self) -> Option<&Line> {
        self.lines
            .iter()
            .rev()
            .find(|l| matches!(l.event, Event::RunFinished { .. }))
    }

    /// Captured variables, the last value of each name winning (what `rb resume` restores).
    pub fn captured(&self) -> BTreeMap<String, String> {
        self.events()
            .filter_map(|e| match e {
                Event::Captured {
                    name,
                    value,
                    host: None,
                    ..
                } => Some((name.clone(), value.clone())),
                _ => None,
            })
            .collect()
    }

    /// Variables captured on remote hosts, by host, the last value of each name winning.
    pub fn captured_on_hosts(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for e in self.events() {
            if let Event::Captured {
                name,
                value,
                host: Some(h),
                ..
            } = e
            {
                out.entry(h.clone())
                    .or_default()
                    .insert(name.clone(), value.clone());
            }
        }
        out
    }
}

/// Reads every complete line of the transcript at `path`.
pub fn read(path: &Path) -> io::Result<Transcript> {
    let bytes = std::fs::read(path)?;
    let raw = split_lines(&bytes);
    let mut lines = Vec::with_capacity(raw.lines.len());
    let mut torn_tail = raw.torn_tail;
    let count = raw.lines.len();
    for (i, bytes) in raw.lines.iter().enumerate() {
        let parsed = std::str::from_utf8(bytes)
            .map_err(|_| "not UTF-8".to_owned())
            .and_then(|text| {
                let value: serde_json::Value =
                    serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
                Ok(value)
            });
        let value = match parsed {
            Ok(v) => v,
            // Garbage as the very last line is what a crash can leave (a block of zeros).
            Err(_) if i + 1 == count && !raw.torn_tail => {
                torn_tail = true;
                break;
            }
            Err(e) => return Err(bad_line(path, i + 1, &e)),
        };
        lines.push(line::decode_value(value).map_err(|e| bad_line(path, i + 1, &e))?);
    }
    Ok(Transcript {
        path: path.to_path_buf(),
        lines,
        torn_tail,
        sha256: line::sha256_hex(&bytes),
    })
}

fn bad_line(path: &Path, n: usize, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}:{n}: {what}", path.display()),
    )
}

/// The raw lines of a file: complete lines (without newline) and whether a torn line follows.
struct RawLines<'a> {
    lines: Vec<&'a [u8]>,
    torn_tail: bool,
}

fn split_lines(bytes: &[u8]) -> RawLines<'_> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // After the last newline: empty for a clean file, a torn line otherwise.
    let rest = lines.pop().unwrap_or_default();
    RawLines {
        lines,
        torn_tail: !rest.is_empty(),
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// How many complete lines were checked.
    pub lines: u64,
    /// True when the file ends with a torn line (not an error: a killed writer leaves one).
    pub torn_tail: bool,
    /// The first problem found, if any.
    pub problem: Option<ChainProblem>,
    /// How the checked lines end.
    pub ending: Ending,
}

/// How a transcript ends, as far as its complete lines tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The last line is `run_finished`, and its `events` and `last_hash` match the lines before
    /// it.
    Complete,
    /// The last line is `run_finished` written before schema version 3, without `events` and
    /// `last_hash`.
    FinishedUncounted,
    /// The last line is not `run_finished`: the run is going on, rb was killed, or lines were cut
    /// off the end.
    Unfinished,
}

impl Ending {
    /// The ending of a chain whose last line (checked already) is `last`.
    fn of(last: Option<&Event>) -> Ending {
        match last {
            Some(Event::RunFinished {
                events: Some(_),
                last_hash: Some(_),
                ..
            }) => Ending::Complete,
            Some(Event::RunFinished { .. }) => Ending::FinishedUncounted,
            _ => Ending::Unfinished,
        }
    }
}

impl VerifyReport {
    /// True when the chain is intact.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// What is wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainProblemKind {
    /// Not UTF-8, not JSON, or not a valid transcript line.
    Unreadable,
    /// The first line is not `run_started`.
    NotRunStarted,
    /// `seq` is not the previous line's plus one (1 for the first line).
    BadSeq,
    /// `prev` is not the SHA-256 of the previous line: the previous line was edited, or lines
    /// are missing between them.
    BadPrev,
    /// `run_finished` says a number of lines or a last hash that is not what comes before it.
    BadRunFinished,
}

/// Why a `run_finished` on line `n`, after a line hashing to `prev`, does not match what comes
/// before it (only the fields it has are checked: versions before 3 have neither).
fn run_finished_problem(n: u64, prev: &str, event: &Event) -> Option<String> {
    let Event::RunFinished {
        events, last_hash, ..
    } = event
    else {
        return None;
    };
    if let Some(e) = events
        && *e != n - 1
    {
        return Some(format!(
            "`run_finished` counts {e} events before it, but {} lines come before it",
            n - 1
        ));
    }
    match last_hash {
        Some(h) if h != prev => Some(format!(
            "`run_finished` says the line before it hashes to {h}, but it hashes to {prev}"
        )),
        _ => None,
    }
}

/// The first bad line of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProblem {
    /// 1-based line number in the file.
    pub line: u64,
    /// What is wrong.
    pub kind: ChainProblemKind,
    /// The details, in words.
    pub detail: String,
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.detail)
    }
}

/// Checks the hash chain and `seq` of the transcript at `path`; names the first bad line.
pub fn verify(path: &Path) -> io::Result<VerifyReport> {
    Ok(verify_bytes(&std::fs::read(path)?))
}

/// [`verify`] of a transcript's bytes already read (so what is checked is what is signed).
pub fn verify_bytes(bytes: &[u8]) -> VerifyReport {
    let raw = split_lines(bytes);
    let mut report = VerifyReport {
        lines: 0,
        torn_tail: raw.torn_tail,
        problem: None,
        ending: Ending::Unfinished,
    };
    let mut expected_prev = GENESIS_PREV.to_owned();
    for (i, bytes) in raw.lines.iter().enumerate() {
        let n = i as u64 + 1;
        let problem = |kind, detail: String| {
            Some(ChainProblem {
                line: n,
                kind,
                detail,
            })
        };
        let decoded = std::str::from_utf8(bytes)
            .map_err(|_| "not UTF-8".to_owned())
            .and_then(line::decode);
        let line = match decoded {
            Ok(l) => l,
            // A crash can leave a zero-filled block at the very end (the file grew before its data
            // reached the disk): that is a torn tail. Any other complete line that does not parse
            // is damage.
            Err(_)
                if i + 1 == raw.lines.len() && !raw.torn_tail && bytes.iter().all(|&b| b == 0) =>
            {
                report.torn_tail = true;
                break;
            }
            Err(e) => {
                report.problem = problem(ChainProblemKind::Unreadable, e);
                break;
            }
        };
        if let Event::RunStarted { schema_version, .. } = &line.event
            && !(1..=super::SCHEMA_VERSION).contains(schema_version)
        {
            report.problem = problem(
                ChainProblemKind::NotRunStarted,
                format!(
                    "`run_started` says schema version {schema_version}; this rb reads versions 1 to {}",
                    super::SCHEMA_VERSION
                ),
            );
            break;
        }
        if n == 1 && !matches!(line.event, Event::RunStarted { .. }) {
            report.problem = problem(
                ChainProblemKind::NotRunStarted,
                format!(
                    "the first event is `{}`, not `run_started`",
                    line.event.name()
                ),
            );
            break;
        }
        if line.seq != n {
            report.problem = problem(
                ChainProblemKind::BadSeq,
                format!("`seq` is {}, expected {n}", line.seq),
            );
            break;
        }
        if line.prev != expected_prev {
            report.problem = problem(
                ChainProblemKind::BadPrev,
                format!(
                    "`prev` is {}, but the previous line hashes to {expected_prev}: a line before was changed or removed",
                    line.prev
                ),
            );
            break;
        }
        if let Some(why) = run_finished_problem(n, &expected_prev, &line.event) {
            report.problem = problem(ChainProblemKind::BadRunFinished, why);
            break;
        }
        expected_prev = line::sha256_hex(bytes);
        report.lines = n;
        report.ending = Ending::of(Some(&line.event));
    }
    if report.problem.is_none() && report.lines == 0 {
        report.problem = Some(ChainProblem {
            line: 1,
            kind: ChainProblemKind::NotRunStarted,
            detail: "no complete line: a transcript starts with a `run_started` line".to_string(),
        });
    }
    report
}

/// What one pass of [`scan`] over a transcript found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// Complete lines decoded (each was handed over).
    pub lines: usize,
    /// True when the file ends with a torn line (left out), as [`read`] says.
    pub torn_tail: bool,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// The first problem `rb transcripts verify` reports: a break in the chain ([`verify`]), else
    /// the first line that does not match the transcript schema.
    pub problem: Option<ChainProblem>,
}

/// Reads the transcript at `path` once, giving `each` every complete line in order (as [`read`]
/// decodes it, with the same errors) while checking it as `rb transcripts verify` does: the hash
/// chain and `seq` ([`verify`]) and, when `schema` is true, the transcript schema.
pub fn scan(path: &Path, schema: bool, mut each: impl FnMut(Line)) -> io::Result<Scanned> {
    let mut input = BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    let mut file_hash = Sha256::new();
    let mut chain = Chain::new(schema);
    let mut buf = Vec::new();
    let mut n = 0usize;
    let mut torn_tail = false;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        file_hash.update(&buf);
        if buf.pop() != Some(b'\n') {
            torn_tail = true; // no newline: what a killed writer leaves
            break;
        }
        n += 1;
        match parse(&buf) {
            Ok(value) => {
                chain.check_schema(n as u64, &value);
                let l = line::decode_value(value).map_err(|e| bad_line(path, n, &e))?;
                chain.check(n as u64, &buf, &l);
                each(l);
            }
            // A complete last line that does not parse is damage, as `verify` says; reading goes
            // on without it (a draft can still be made, with the warning at its top).
            Err(e) if input.fill_buf()?.is_empty() => {
                if buf.iter().all(|&b| b == 0) {
                    torn_tail = true; // a zero-filled block a crash left: see `verify`
                } else {
                    chain.unparsable_last(n as u64, e);
                }
                n -= 1;
                break;
            }
            Err(e) => return Err(bad_line(path, n, &e)),
        }
    }
    // Whatever follows a torn line still counts towards the file's hash.
    let mut rest = Vec::new();
    input.read_to_end(&mut rest)?;
    file_hash.update(&rest);
    Ok(Scanned {
        lines: n,
        torn_tail,
        sha256: hex(&file_hash.finalize()),
        problem: chain.problem(n),
    })
}

/// A line's bytes as JSON; the error says which of UTF-8 or JSON failed.
fn parse(bytes: &[u8]) -> Result<serde_json::Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))
}

/// Lower-case hex of a digest, without an allocation per byte.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The checks of [`verify`] (and the schema), one line at a time, stopping at the first problem.
struct Chain {
    schema: bool,
    expected_prev: String,
    problem: Option<ChainProblem>,
    /// The first line that does not match the schema (reported only when the chain holds).
    schema_problem: Option<ChainProblem>,
}

impl Chain {
    fn new(schema: bool) -> Chain {
        Chain {
            schema,
            expected_prev: GENESIS_PREV.to_owned(),
            problem: None,
            schema_problem: None,
        }
    }

    fn fail(&mut self, line: u64, kind: ChainProblemKind, detail: String) {
        self.problem = Some(ChainProblem { line, kind, detail });
    }

    /// Remembers the first line that does not match the schema (before it is decoded).
    fn check_schema(&mut self, n: u64, value: &serde_json::Value) {
        if !self.schema || self.problem.is_some() || self.schema_problem.is_some() {
            return;
        }
        if !super::schema::validator().is_valid(value) {
            let why = super::schema::validate_line(value)
                .err()
                .unwrap_or_default();
            self.schema_problem = Some(ChainProblem {
                line: n,
                kind: ChainProblemKind::Unreadable,
                detail: format!("does not match the transcript schema: {why}"),
            });
        }
    }

    /// The checks of [`verify`] on line `n`, whose bytes (without the newline) are `bytes`.
    fn check(&mut self, n: u64, bytes: &[u8], l: &Line) {
        if self.problem.is_some() {
            return;
        }
        if let Event::RunStarted { schema_version, .. } = &l.event
            && !(1..=super::SCHEMA_VERSION).contains(schema_version)
        {
            let detail = format!(
                "`run_started` says schema version {schema_version}; this rb reads versions 1 to {}",
                super::SCHEMA_VERSION
            );
            return self.fail(n, ChainProblemKind::NotRunStarted, detail);
        }
        if n == 1 && !matches!(l.event, Event::RunStarted { .. }) {
            let detail = format!("the first event is `{}`, not `run_started`", l.event.name());
            return self.fail(n, ChainProblemKind::NotRunStarted, detail);
        }
        if l.seq != n {
            let detail = format!("`seq` is {}, expected {n}", l.seq);
            return self.fail(n, ChainProblemKind::BadSeq, detail);
        }
        if l.prev != self.expected_prev {
            let detail = format!(
                "`prev` is {}, but the previous line hashes to {}: a line before was changed or removed",
                l.prev, self.expected_prev
            );
            return self.fail(n, ChainProblemKind::BadPrev, detail);
        }
        if let Some(why) = run_finished_problem(n, &self.expected_prev, &l.event) {
            return self.fail(n, ChainProblemKind::BadRunFinished, why);
        }
        self.expected_prev = hex(&Sha256::digest(bytes));
    }

    /// The last complete line does not parse: torn when it is not JSON, unreadable when it is
    /// not UTF-8 (as [`verify`] says).
    fn unparsable_last(&mut self, n: u64, why: String) {
        if self.problem.is_none() {
            self.fail(n, ChainProblemKind::Unreadable, why);
        }
    }

    fn problem(self, lines: usize) -> Option<ChainProblem> {
        let empty = (lines == 0).then(|| ChainProblem {
            line: 1,
            kind: ChainProblemKind::NotRunStarted,
            detail: "no complete line: a transcript starts with a `run_started` line".to_string(),
        });
        self.problem.or(self.schema_problem).or(empty)
    }
}
