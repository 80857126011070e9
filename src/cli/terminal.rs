//! The terminal operator: narration, streamed output and single-key prompts on a real terminal.
//!
//! Output reads correctly without colour (`NO_COLOR`, `--color never`, not a TTY). Prompts read
//! one key in raw mode, so Ctrl-C at a prompt arrives as a key and is answered as an interruption
//! instead of killing rb with a step half recorded.
//!
//! While a step's process runs, a ticker thread shares the screen (see [`Screen`]): on a
//! terminal with colour it draws a spinner with the elapsed time and the timeout when the step
//! prints nothing, and on any output it says when an update to the incident channel is due.
//! Long lines are wrapped at the terminal's width with their gutter kept.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use console::{Key, Style, Term};

use crate::exec::operator::{Activity, AskError, Choice, Operator, Tone};
use crate::exec::runner::{Interrupt, StoppingNotice, Stream};

/// How long a step must be silent before the spinner appears.
const SPINNER_AFTER: Duration = Duration::from_secs(1);
/// How often the ticker looks at the screen.
const TICK: Duration = Duration::from_millis(100);
const SPINNER: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// What the main thread and the ticker thread share about stdout.
#[derive(Debug)]
struct Screen {
    /// The cursor is at the start of a line (nothing half-written).
    at_line_start: bool,
    /// The column of the cursor, for wrapping.
    col: usize,
    /// A spinner line is drawn: it must be erased before anything else is written.
    spinner_shown: bool,
    /// The step running now, if any.
    activity: Option<Activity>,
    /// When the running step last printed.
    last_output: Instant,
    /// The update reminder was given for this activity.
    reminded: bool,
    /// Draw the spinner (stdout is a terminal and colour is on).
    fancy: bool,
    /// The ticker thread runs.
    ticking: bool,
}

type Shared = Arc<Mutex<Screen>>;

fn lock(screen: &Mutex<Screen>) -> MutexGuard<'_, Screen> {
    // A panic while holding it cannot leave the screen state unusable: keep going.
    screen.lock().unwrap_or_else(|e| e.into_inner())
}
use crate::sanitize::visible;

/// Talks to the person at the terminal (or just prints, when nobody can answer).
pub struct TerminalOperator {
    out: Term,
    prompt: Term,
    name: String,
    /// Whether questions can be asked (stdin is a terminal).
    interactive: bool,
    /// Shared with the ticker thread (and the Ctrl-C notice).
    screen: Shared,
    /// Whether the last thing printed was a progress line that the next one replaces.
    progress_open: bool,
}

impl TerminalOperator {
    pub fn new(name: String, interactive: bool) -> Self {
        let out = Term::stdout();
        let fancy = out.is_term() && console::colors_enabled();
        TerminalOperator {
            out,
            prompt: Term::stderr(),
            name,
            interactive,
            screen: Arc::new(Mutex::new(Screen {
                at_line_start: true,
                col: 0,
                spinner_shown: false,
                activity: None,
                last_output: Instant::now(),
                reminded: false,
                fancy,
                ticking: false,
            })),
            progress_open: false,
        }
    }

    fn write(&mut self, text: &str) {
        let mut screen = lock(&self.screen);
        erase_spinner(&self.out, &mut screen);
        if self.progress_open {
            let _ = self.out.write_str("\n");
            self.progress_open = false;
            screen.at_line_start = true;
            screen.col = 0;
        }
        let _ = self.out.write_str(text);
        let _ = self.out.flush();
        if let Some(last) = text.rsplit('\n').next()
            && !text.is_empty()
        {
            screen.at_line_start = text.ends_with('\n');
            screen.col = if text.contains('\n') {
                width_of(last)
            } else {
                screen.col + width_of(last)
            };
        }
    }

    fn end_output_line(&mut self) {
        if !lock(&self.screen).at_line_start || self.progress_open {
            self.write("\n");
        }
    }

    /// The terminal's width, when stdout is one.
    fn width(&self) -> Option<usize> {
        self.out
            .is_term()
            .then(|| self.out.size_checked().map(|(_, cols)| usize::from(cols)))
            .flatten()
            .filter(|w| *w >= 20)
    }

    /// A notice for the Ctrl-C handler: erases the spinner, then says on stderr what rb does.
    pub fn stopping_notice(&self) -> StoppingNotice {
        let screen = Arc::downgrade(&self.screen);
        let (out, err) = (self.out.clone(), self.prompt.clone());
        Box::new(move |signal, grace| {
            if let Some(screen) = screen.upgrade() {
                let mut s = lock(&screen);
                erase_spinner(&out, &mut s);
                if !s.at_line_start {
                    let _ = out.write_str("\n");
                    s.at_line_start = true;
                    s.col = 0;
                }
            }
            let _ = err.write_line(&stopping_text(signal, grace));
        })
    }

    fn read_line(&mut self, hidden: bool) -> Result<String, AskError> {
        let mut line = String::new();
        loop {
            match self.prompt.read_key_raw() {
                Ok(Key::Enter) => {
                    let _ = self.prompt.write_line("");
                    return Ok(line);
                }
                Ok(Key::CtrlC) => {
                    let _ = self.prompt.write_line("^C");
                    return Err(AskError::Interrupted);
                }
                Ok(Key::Backspace) => {
                    if line.pop().is_some() && !hidden {
                        let _ = self.prompt.clear_chars(1);
                    }
                }
                Ok(Key::Char(c)) if !c.is_control() => {
                    line.push(c);
                    if !hidden {
                        let _ = self.prompt.write_str(&c.to_string());
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(AskError::Unavailable(e.to_string())),
            }
        }
    }
}

/// The terminal side of a run: the operator, the hidden secret prompt, transcript problems.
pub fn surroundings<'a>(
    op: &'a mut TerminalOperator,
    tty: bool,
    ask: &'a mut dyn FnMut(&str) -> Option<String>,
) -> crate::launch::Surroundings<'a> {
    let on_stopping = op.stopping_notice();
    crate::launch::Surroundings {
        on_stopping,
        operator: op,
        prompt_secret: if tty { Some(ask) } else { None },
        on_problem: Box::new(|msg: &str| errln!("rb: transcript: {msg}")),
    }
}

/// Asks for a secret param's value without echoing it.
pub fn ask_secret(name: &str) -> Option<String> {
    dialoguer::Password::new()
        .with_prompt(format!("secret `{name}`"))
        .interact()
        .ok()
}

impl Operator for TerminalOperator {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn notice(&mut self, text: &str) {
        // The operator's narration is on stdout; notices must survive `rb run … > file`.
        let _ = self.prompt.write_line(&visible(text, true));
    }

    fn say(&mut self, tone: Tone, text: &str) {
        // What the operator reads is exactly what runs: no control character acts on the screen.
        let text = &visible(text, tone != Tone::Heading);
        self.end_output_line();
        let (lead, style) = match tone {
            Tone::Heading => ("\n", Style::new().bold().cyan()),
            Tone::Command => ("  $ ", Style::new().yellow()),
            Tone::Message => ("  │ ", Style::new().bold()),
            Tone::Instructions => ("  → ", Style::new().bold()),
            Tone::Info => ("    ", Style::new().dim()),
            Tone::Success => ("  ✓ ", Style::new().green()),
            Tone::Warning => ("  ! ", Style::new().yellow().bold()),
            Tone::Failure => ("  ✗ ", Style::new().red().bold()),
            Tone::Progress => ("  … ", Style::new().cyan()),
        };
        if tone == Tone::Progress && self.out.is_term() {
            let mut screen = lock(&self.screen);
            erase_spinner(&self.out, &mut screen);
            if self.progress_open {
                let _ = self.out.clear_line();
            }
            let _ = self
                .out
                .write_str(&format!("{lead}{}", style.apply_to(text)));
            let _ = self.out.flush();
            self.progress_open = true;
            screen.at_line_start = false;
            return;
        }
        let s = styled_lines(tone, lead, &style, text, self.width());
        self.write(&s);
    }

    fn output(&mut self, stream: Stream, bytes: &[u8]) {
        // Valid UTF-8 (the usual case) is checked by the fast validator and borrowed; only other
        // bytes go through the much slower lossy conversion.
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        let text = crate::sanitize::output(&text);
        let gutter = match stream {
            Stream::Stdout => Style::new().dim().apply_to("  │ ").to_string(),
            Stream::Stderr => Style::new().red().apply_to("  ┃ ").to_string(),
        };
        let width = self.width();
        let mut screen = lock(&self.screen);
        erase_spinner(&self.out, &mut screen);
        if self.progress_open {
            let _ = self.out.write_str("\n");
            self.progress_open = false;
            screen.at_line_start = true;
        }
        let s = gutter_wrap(&text, &gutter, width, &mut screen);
        screen.last_output = Instant::now();
        let _ = self.out.write_str(&s);
        let _ = self.out.flush();
    }

    fn activity(&mut self, now: Option<Activity>) {
        let mut screen = lock(&self.screen);
        erase_spinner(&self.out, &mut screen);
        screen.activity = now;
        screen.last_output = Instant::now();
        if now.is_some() && !screen.ticking {
            screen.ticking = true;
            let (weak, out) = (Arc::downgrade(&self.screen), self.out.clone());
            std::thread::spawn(move || ticker(weak, out));
        }
    }

    fn choose(&mut self, question: &str, choices: &[Choice]) -> Result<Choice, AskError> {
        if !self.interactive {
            return Err(AskError::Unavailable(
                "no terminal to ask on (use --yes, --check or --dry-run)".into(),
            ));
        }
        self.end_output_line();
        let width = self
            .prompt
            .is_term()
            .then(|| self.prompt.size_checked().map(|(_, c)| usize::from(c)))
            .flatten();
        let (q, keys) = prompt_line(&visible(question, false), choices, width);
        let q = Style::new().bold().apply_to(q);
        loop {
            let _ = self.prompt.write_str(&format!("{q} {keys} › "));
            match self.prompt.read_key_raw() {
                Ok(Key::CtrlC) => {
                    let _ = self.prompt.write_line("^C");
                    return Err(AskError::Interrupted);
                }
                Ok(Key::Char(c)) => {
                    let c = c.to_ascii_lowercase();
                    if let Some(choice) = choices.iter().find(|x| x.key() == c) {
                        let _ = self.prompt.write_line(choice.as_str());
                        return Ok(*choice);
                    }
                    let _ = self.prompt.write_line(&format!("{c}: not a choice"));
                }
                Ok(_) => {
                    let _ = self.prompt.write_line("");
                }
                Err(e) => return Err(AskError::Unavailable(e.to_string())),
            }
        }
    }

    fn text(&mut self, question: &str, hidden: bool) -> Result<String, AskError> {
        if !self.interactive {
            return Err(AskError::Unavailable("no terminal to ask on".into()));
        }
        self.end_output_line();
        let _ = self.prompt.write_str(&format!(
            "  {} ",
            Style::new()
                .bold()
                .apply_to(format!("{}:", visible(question, false)))
        ));
        self.read_line(hidden)
    }
}

/// Erases the spinner line, if one is drawn.
fn erase_spinner(out: &Term, screen: &mut Screen) {
    if screen.spinner_shown {
        let _ = out.clear_line();
        let _ = out.flush();
        screen.spinner_shown = false;
    }
}

/// Columns `text` takes (escape sequences and control characters take none).
fn width_of(text: &str) -> usize {
    console::measure_text_width(text)
}

/// What rb says the moment a signal starts ending a step.
pub fn stopping_text(signal: Interrupt, grace: Duration) -> String {
    let wait = if grace >= Duration::from_secs(1) {
        format!("{} s", grace.as_secs())
    } else {
        format!("{} ms", grace.as_millis())
    };
    match signal {
        Interrupt::CtrlC => format!(
            "  ^C: sent SIGINT to the step; waiting up to {wait} for the step to stop; Ctrl-C again ends the run"
        ),
        Interrupt::Terminate => format!(
            "  rb got SIGTERM: passed it to the step; waiting up to {wait} for the step to stop"
        ),
        Interrupt::Hangup => format!(
            "  the terminal hung up: sent SIGHUP to the step; waiting up to {wait} for the step to stop"
        ),
    }
}

/// The spinner's line: elapsed time and the step's timeout.
fn spinner_line(frame: usize, elapsed: Duration, timeout: Option<Duration>) -> String {
    let spin = SPINNER[frame % SPINNER.len()];
    let elapsed = crate::exec::fmt_duration(Duration::from_secs(elapsed.as_secs()));
    let limit = match timeout {
        Some(t) => format!("timeout {}", crate::exec::fmt_duration(t)),
        None => "no timeout".to_string(),
    };
    format!("  {spin} running for {elapsed} ({limit})")
}

/// The ticker thread: redraws the spinner and gives the update reminder while a step runs; ends
/// when the operator is dropped.
fn ticker(screen: Weak<Mutex<Screen>>, out: Term) {
    let mut frame = 0usize;
    loop {
        std::thread::sleep(TICK);
        let Some(screen) = screen.upgrade() else {
            return;
        };
        let mut s = lock(&screen);
        tick(&out, &mut s, frame);
        frame += 1;
    }
}

/// One look at the screen while a step runs.
fn tick(out: &Term, s: &mut Screen, frame: usize) {
    let Some(a) = s.activity else {
        return;
    };
    let now = Instant::now();
    if let Some(due) = a.update_due
        && now >= due
        && s.at_line_start
        && !s.reminded
    {
        erase_spinner(out, s);
        let text =
            "  ! an update to the incident channel is due: rb offers one when this step ends";
        let _ = out.write_line(&Style::new().yellow().bold().apply_to(text).to_string());
        s.reminded = true;
    }
    if let Some(due) = a.update_due
        && now < due
    {
        s.reminded = false;
    }
    if s.fancy && s.at_line_start && now.duration_since(s.last_output) >= SPINNER_AFTER {
        let line = spinner_line(frame, now.duration_since(a.started), a.timeout);
        let _ = out.clear_line();
        let _ = out.write_str(&Style::new().cyan().apply_to(line).to_string());
        let _ = out.flush();
        s.spinner_shown = true;
    }
}

/// Step output with its gutter at the start of every line, and again on each continuation of a
/// line longer than `width`, so wrapped output still reads as output.
fn gutter_wrap(text: &str, gutter: &str, width: Option<usize>, screen: &mut Screen) -> String {
    let gutter_width = width_of(gutter);
    let mut s = String::with_capacity(text.len() + 16);
    let mut lines = lines_of(text).enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        if n > 0 {
            s.push('\n');
            screen.at_line_start = true;
            screen.col = 0;
        }
        if line.is_empty() {
            continue;
        }
        if screen.at_line_start {
            s += gutter;
            screen.col = gutter_width;
            screen.at_line_start = false;
        }
        let Some(width) = width else {
            // Not a terminal: nothing wraps, the line goes as it is (its width matters only for
            // the last line, where the next output continues).
            s.push_str(line);
            if lines.peek().is_none() {
                screen.col += line_width(line);
            }
            continue;
        };
        for c in line.chars() {
            let w = char_width(c);
            if screen.col + w > width && screen.col > gutter_width {
                s.push('\n');
                s += gutter;
                screen.col = gutter_width;
            }
            s.push(c);
            screen.col += w;
        }
    }
    s
}

/// `text.split('\n')`, found with `memchr` (the generic `char` searcher compares each match
/// again, a cost per line that showed on gigabytes of output).
fn lines_of(text: &str) -> impl Iterator<Item = &str> {
    let mut from = 0;
    let ends = memchr::memchr_iter(b'\n', text.as_bytes()).chain(std::iter::once(text.len()));
    ends.map(move |end| {
        // A newline is one byte and never inside a character: both ends are boundaries.
        let line = &text[from..end];
        from = end + 1;
        line
    })
}

/// The columns a character of step output takes: none for a control character; one for the
/// rest of ASCII, without asking the Unicode tables.
fn char_width(c: char) -> usize {
    if c.is_control() {
        0
    } else if c.is_ascii() {
        1
    } else {
        width_of(c.encode_utf8(&mut [0; 4]))
    }
}

/// The sum of [`char_width`] over `line`.
fn line_width(line: &str) -> usize {
    if line.is_ascii() {
        line.bytes().filter(|b| !b.is_ascii_control()).count()
    } else {
        line.chars().map(char_width).sum()
    }
}

/// Narration in `tone`: the lead on the first line, and lines longer than `width` wrapped at
/// word boundaries with the lead's indentation (a message keeps its `│`).
fn styled_lines(tone: Tone, lead: &str, style: &Style, text: &str, width: Option<usize>) -> String {
    let cont = match tone {
        Tone::Heading => "",
        Tone::Message => "  │ ",
        _ => "    ",
    };
    let mut s = String::new();
    for (i, line) in text.lines().enumerate() {
        let first = match (tone, i) {
            (Tone::Heading, 0) => "\n",
            (_, 0) => lead,
            _ => cont,
        };
        let room = width.map(|w| w.saturating_sub(width_of(cont)).max(20));
        for (j, piece) in wrap_words(line, room).into_iter().enumerate() {
            let l = if j == 0 { first } else { cont };
            s += &format!("{l}{}\n", style.apply_to(piece));
        }
    }
    if text.is_empty() {
        s.push('\n');
    }
    s
}

/// `line` cut into pieces of at most `room` columns, at spaces when it can (a word longer than
/// a whole line is cut where it must be).
fn wrap_words(line: &str, room: Option<usize>) -> Vec<String> {
    let Some(room) = room.filter(|r| width_of(line) > *r) else {
        return vec![line.to_string()];
    };
    let mut out = Vec::new();
    let mut cur = String::new();
    for word in line.split(' ') {
        let sep = usize::from(!cur.is_empty());
        if !cur.is_empty() && width_of(&cur) + sep + width_of(word) > room {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur += word;
        while width_of(&cur) > room {
            let head: String = cur.chars().take(room).collect();
            cur = cur.chars().skip(room).collect();
            out.push(head);
        }
    }
    out.push(cur);
    out
}

/// A prompt that fits on one line of `width` columns: the question and `[r]un [s]kip …`, or, when
/// that is too wide, the keys alone (`[r/s/a]`), and the question shortened as a last resort.
fn prompt_line(question: &str, choices: &[Choice], width: Option<usize>) -> (String, String) {
    let q = format!("  ? {question}");
    let labels: Vec<String> = choices.iter().map(|c| c.label()).collect();
    let full = labels.join(" ");
    // `{q} {keys} › ` and one column to spare, so the cursor never wraps.
    let fits = |q: &str, keys: &str| width.is_none_or(|w| width_of(q) + width_of(keys) + 4 < w);
    if fits(&q, &full) {
        return (q, full);
    }
    let keys: Vec<String> = choices.iter().map(|c| c.key().to_string()).collect();
    let short = format!("[{}]", keys.join("/"));
    if fits(&q, &short) {
        return (q, short);
    }
    let room = width
        .unwrap_or(80)
        .saturating_sub(width_of(&short) + 5)
        .max(8);
    (console::truncate_str(&q, room, "…").into_owned(), short)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen() -> Screen {
        Screen {
            at_line_start: true,
            col: 0,
            spinner_shown: false,
            activity: None,
            last_output: Instant::now(),
            reminded: false,
            fancy: false,
            ticking: false,
        }
    }

    #[test]
    fn long_output_lines_keep_their_gutter() {
        let mut s = screen();
        let out = gutter_wrap(&"x".repeat(30), "  │ ", Some(20), &mut s);
        assert_eq!(
            out,
            format!("  │ {}\n  │ {}", "x".repeat(16), "x".repeat(14))
        );
        assert!(
            out.lines()
                .all(|l| l.starts_with("  │ ") && width_of(l) <= 20),
            "{out}"
        );
        // A chunk that continues a line goes on counting from where it was.
        let more = gutter_wrap("yy\nz", "  │ ", Some(20), &mut s);
        assert!(!more.starts_with("  │ "), "{more:?}");
        assert!(more.ends_with("\n  │ z"), "{more:?}");
    }

    #[test]
    fn output_not_on_a_terminal_gets_its_gutter_on_every_line_and_no_wrapping() {
        let mut s = screen();
        let long = "x".repeat(300);
        let out = gutter_wrap(&format!("{long}\n\nab\tü"), "  │ ", None, &mut s);
        assert_eq!(out, format!("  │ {long}\n\n  │ ab\tü"));
        // The last line goes on where it stopped: the tab takes no column, ü one.
        assert!(!s.at_line_start);
        assert_eq!(s.col, width_of("  │ ") + 3);
        let more = gutter_wrap("c\n", "  │ ", None, &mut s);
        assert_eq!(more, "c\n");
        assert!(s.at_line_start);
    }

    #[test]
    fn lines_are_split_as_str_split_does() {
        for text in ["", "\n", "a", "a\n", "\na\n\nbü\n", "no end"] {
            let ours: Vec<&str> = lines_of(text).collect();
            let std: Vec<&str> = text.split('\n').collect();
            assert_eq!(ours, std, "{text:?}");
        }
    }

    #[test]
    fn words_wrap_at_spaces() {
        assert_eq!(wrap_words("aaa bbb ccc", Some(7)), ["aaa bbb", "ccc"]);
        assert_eq!(wrap_words("short", Some(70)), ["short"]);
        assert_eq!(wrap_words("abcdefghij", Some(4)), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn a_prompt_fits_on_one_line() {
        let choices = [
            Choice::Run,
            Choice::Skip,
            Choice::Abort,
            Choice::Note,
            Choice::Show,
        ];
        let (q, keys) = prompt_line("Run this command?", &choices, Some(120));
        assert_eq!(keys, "[r]un [s]kip [a]bort [n]ote [d]etails");
        assert_eq!(q, "  ? Run this command?");
        let (q, keys) = prompt_line("Run this command?", &choices, Some(60));
        assert_eq!(keys, "[r/s/a/n/d]");
        assert!(width_of(&q) + width_of(&keys) + 4 < 60);
        let (q, keys) = prompt_line(&"long question ".repeat(10), &choices, Some(40));
        assert!(width_of(&q) + width_of(&keys) + 4 < 40, "{q} {keys}");
    }

    #[test]
    fn the_stopping_notice_says_what_rb_does() {
        assert_eq!(
            stopping_text(Interrupt::CtrlC, Duration::from_secs(5)),
            "  ^C: sent SIGINT to the step; waiting up to 5 s for the step to stop; Ctrl-C again ends the run"
        );
    }
}
