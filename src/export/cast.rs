//! asciicast v2 export: a transcript's output as an asciinema recording
//! (<https://docs.asciinema.org/manual/asciicast/v2/>).
//!
//! The header carries the run's start time and title; every `output` event becomes an `"o"` event
//! at its offset from the start; step starts, decisions, notes, milestones and the end of the run
//! are drawn as short bold lines so the replay reads like the session. Newlines become CRLF, as a
//! terminal in raw mode would need. Bytes that are not UTF-8 are replaced (asciicast is text).

use std::fmt::Write as _;

use serde_json::json;

use crate::transcript::{Event, Transcript};

/// The recording's terminal size (rb does not record the real one).
const WIDTH: u32 = 120;
const HEIGHT: u32 = 40;

/// The asciicast v2 text (header line, then one JSON array per line) for `t`.
pub fn asciicast(t: &Transcript) -> String {
    let start = t.lines.first().map(|l| l.ts);
    let (title, started_at) = match t.run_started().map(|l| &l.event) {
        Some(Event::RunStarted {
            runbook, operator, ..
        }) => (format!("rb: {runbook} ({operator})"), start),
        _ => ("rb".to_owned(), start),
    };
    let mut header = json!({"version": 2, "width": WIDTH, "height": HEIGHT, "title": title});
    if let Some(s) = started_at {
        header["timestamp"] = s.as_second().into();
    }
    let mut out = header.to_string();
    out.push('\n');
    for line in &t.lines {
        let Some(text) = render(&line.event) else {
            continue;
        };
        let offset = start.map_or(0.0, |s| {
            (line.ts.as_millisecond() - s.as_millisecond()).max(0) as f64 / 1000.0
        });
        let _ = writeln!(out, "{}", json!([offset, "o", text]));
    }
    out
}

/// What a terminal would have shown for `event`.
fn render(event: &Event) -> Option<String> {
    const BOLD: &str = "\u{1b}[1m";
    const RESET: &str = "\u{1b}[0m";
    let text = match event {
        Event::Output { .. } => {
            let bytes = event.output_bytes()?;
            crlf(&String::from_utf8_lossy(&bytes))
        }
        Event::StepStarted {
            step,
            title,
            command,
            ..
        } => {
            let mut s = format!("{BOLD}▶ {}{RESET}\r\n", title.as_deref().unwrap_or(step));
            if let Some(c) = command {
                let _ = write!(s, "$ {}\r\n", crlf(c));
            }
            s
        }
        Event::StepFinished { step, status, .. } => {
            format!("{BOLD}■ {step}: {}{RESET}\r\n", status.phrase())
        }
        Event::Message { text, .. } => format!("{}\r\n", crlf(text)),
        Event::Decision { by, choice, .. } => format!("{BOLD}? {by} answered {choice}{RESET}\r\n"),
        Event::Note { by, text, .. } => format!("{BOLD}✎ {by}: {}{RESET}\r\n", crlf(text)),
        Event::Milestone { name, .. } => format!("{BOLD}★ {name}{RESET}\r\n"),
        Event::RunFinished { outcome, .. } => {
            format!("{BOLD}run {outcome}{RESET}\r\n")
        }
        _ => return None,
    };
    Some(text)
}

fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::postmortem::tests::disk_full_run;

    #[test]
    fn a_cast_has_a_v2_header_and_timed_output_events() {
        let (_, t) = disk_full_run();
        let cast = asciicast(&t);
        let mut lines = cast.lines();
        let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(header["version"], 2);
        assert_eq!(header["title"], "rb: disk-full (ana)");
        assert_eq!(header["timestamp"], 1_795_561_200);
        let events: Vec<serde_json::Value> =
            lines.map(|l| serde_json::from_str(l).unwrap()).collect();
        let mut last = 0.0;
        for e in &events {
            let t = e[0].as_f64().unwrap();
            assert!(t >= last, "times never go back");
            last = t;
            assert_eq!(e[1], "o");
        }
        let all: String = events.iter().map(|e| e[2].as_str().unwrap()).collect();
        assert!(all.contains("$ df -h /var\r\n"));
        assert!(all.contains("/dev/sda1 100G 99G 1G 99% /var\r\n"));
        assert!(all.contains("error: permission denied\r\n"));
        assert_eq!(last, 25.0);
    }
}
