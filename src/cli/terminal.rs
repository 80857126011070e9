//! The terminal operator: narration, streamed output and single-key prompts on a real terminal.
//!
//! Output reads correctly without colour (`NO_COLOR`, `--color never`, not a TTY). Prompts read
//! one key in raw mode, so Ctrl-C at a prompt arrives as a key and is answered as an interruption
//! instead of killing rb with a step half recorded.

use console::{Key, Style, Term};

use crate::exec::operator::{AskError, Choice, Operator, Tone};
use crate::exec::runner::Stream;

/// Talks to the person at the terminal (or just prints, when nobody can answer).
pub struct TerminalOperator {
    out: Term,
    prompt: Term,
    name: String,
    /// Whether questions can be asked (stdin is a terminal).
    interactive: bool,
    /// Whether the last output chunk ended a line (for the `│` gutter).
    at_line_start: bool,
    /// Whether the last thing printed was a progress line that the next one replaces.
    progress_open: bool,
}

impl TerminalOperator {
    pub fn new(name: String, interactive: bool) -> Self {
        TerminalOperator {
            out: Term::stdout(),
            prompt: Term::stderr(),
            name,
            interactive,
            at_line_start: true,
            progress_open: false,
        }
    }

    fn write(&mut self, text: &str) {
        if self.progress_open {
            let _ = self.out.write_str("\n");
            self.progress_open = false;
        }
        let _ = self.out.write_str(text);
        let _ = self.out.flush();
    }

    fn end_output_line(&mut self) {
        if !self.at_line_start {
            self.write("\n");
            self.at_line_start = true;
        }
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

impl Operator for TerminalOperator {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn say(&mut self, tone: Tone, text: &str) {
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
            if self.progress_open {
                let _ = self.out.clear_line();
            }
            let _ = self
                .out
                .write_str(&format!("{lead}{}", style.apply_to(text)));
            let _ = self.out.flush();
            self.progress_open = true;
            return;
        }
        let mut s = String::new();
        for (i, line) in text.lines().enumerate() {
            let l = if tone == Tone::Heading {
                if i == 0 { "\n" } else { "" }
            } else if i == 0 {
                lead
            } else {
                "    "
            };
            let l = if tone == Tone::Command && i > 0 {
                "    "
            } else {
                l
            };
            s += &format!("{l}{}\n", style.apply_to(line));
        }
        if text.is_empty() {
            s.push('\n');
        }
        self.write(&s);
    }

    fn output(&mut self, stream: Stream, bytes: &[u8]) {
        // Valid UTF-8 (the usual case) is checked by the fast validator and borrowed; only other
        // bytes go through the much slower lossy conversion.
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        let gutter = match stream {
            Stream::Stdout => Style::new().dim().apply_to("  │ ").to_string(),
            Stream::Stderr => Style::new().red().apply_to("  ┃ ").to_string(),
        };
        let mut s = String::with_capacity(text.len() + 16);
        for piece in text.split_inclusive('\n') {
            if self.at_line_start {
                s += &gutter;
            }
            s += piece;
            self.at_line_start = piece.ends_with('\n');
        }
        self.write(&s);
    }

    fn choose(&mut self, question: &str, choices: &[Choice]) -> Result<Choice, AskError> {
        if !self.interactive {
            return Err(AskError::Unavailable(
                "no terminal to ask on (use --yes, --check or --dry-run)".into(),
            ));
        }
        self.end_output_line();
        let labels: Vec<String> = choices.iter().map(|c| c.label()).collect();
        let q = Style::new().bold().apply_to(format!("  ? {question}"));
        loop {
            let _ = self
                .prompt
                .write_str(&format!("{q} {} › ", labels.join(" ")));
            match self.prompt.read_key_raw() {
                Ok(Key::CtrlC) => {
                    let _ = self.prompt.write_line("^C");
                    return Err(AskError::Interrupted);
                }
                Ok(Key::Char(c)) => {
                    let c = c.to_ascii_lowercase();
                    if let Some(choice) = choices.iter().find(|x| x.key() == c) {
                        let _ = self.prompt.write_line(choice.word());
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
            Style::new().bold().apply_to(format!("{question}:"))
        ));
        self.read_line(hidden)
    }
}
