//! What reaches the operator's terminal: control characters made visible in everything rb itself
//! prints, and escape sequences other than colours neutralised in a step's output.
//!
//! rb's own text (params, titles, `$ command`, messages, prompts) must show exactly what runs: a
//! value holding `\r` or ESC could otherwise redraw the confirmation line. A step's output keeps
//! SGR colour sequences (`ESC [ … m`); every other escape (OSC such as window titles and
//! hyperlinks, cursor movement and other CSI, C1 controls, DCS/APC/PM/SOS strings) is shown
//! escaped instead of reaching the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character, and every bidirectional override or isolate, written
/// visibly: `\r`, `\t`, `\x1b`, `\u{202e}`. Newlines are kept when `keep_newlines`.
pub fn visible(text: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_visible(&mut out, c, keep_newlines);
    }
    out
}

fn push_visible(out: &mut String, c: char, keep_newlines: bool) {
    match c {
        '\n' if keep_newlines => out.push('\n'),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if is_hidden(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// C1 controls, bidirectional overrides and isolates, and zero-width characters that make the
/// text on screen differ from the bytes that run.
fn is_hidden(c: char) -> bool {
    matches!(c as u32,
        0x80..=0x9f
        | 0x200b..=0x200f
        | 0x2028..=0x202e
        | 0x2060..=0x2069
        | 0xfeff)
}

/// Whether `text` has anything [`visible`] would change (besides newlines).
pub fn needs_escaping(text: &str) -> bool {
    visible(text, true) != text
}

/// A step's output for the terminal: SGR colour sequences, newlines and tabs kept; every other
/// escape sequence and control character shown escaped. Works on complete text; a sequence split
/// across chunks is escaped piecewise, which is safe (the ESC itself never reaches the terminal
/// unless it starts a whole SGR sequence).
pub fn output(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut i = skip_plain(bytes, 0);
    if i == bytes.len() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    // Characters that pass unchanged (nearly all of a step's output) are copied in runs:
    // `plain` is where the current run starts; `i` is always on a character boundary.
    let mut plain = 0;
    while let Some(&b) = bytes.get(i) {
        if is_plain(b) {
            i = skip_plain(bytes, i + 1);
            continue;
        }
        if b >= 0x80 {
            let c = text[i..].chars().next().unwrap_or('\u{fffd}');
            if !is_hidden(c) {
                i += c.len_utf8();
                continue;
            }
            out.push_str(&text[plain..i]);
            push_visible(&mut out, c, true);
            i += c.len_utf8();
            plain = i;
            continue;
        }
        out.push_str(&text[plain..i]);
        if b == 0x1b
            && let Some(len) = sgr_len(&bytes[i..])
        {
            out.push_str(&text[i..i + len]);
            i += len;
        } else if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            // CRLF line ends are line ends; a CR alone would let a line overwrite what came before.
            i += 1;
        } else {
            push_visible(&mut out, char::from(b), true);
            i += 1;
        }
        plain = i;
    }
    out.push_str(&text[plain..]);
    Cow::Owned(out)
}

/// Printable ASCII, newline or tab: shown as it is.
fn is_plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t'
}

/// Where the run of plain bytes starting at `from` ends. Whole blocks are tested without an
/// early exit, which the compiler turns into vector instructions (a byte-by-byte loop took a
/// fifth of rb's time on a step printing 1 GiB).
fn skip_plain(bytes: &[u8], mut from: usize) -> usize {
    const BLOCK: usize = 32;
    while let Some(block) = bytes.get(from..from + BLOCK) {
        if !block.iter().fold(true, |all, &b| all & is_plain(b)) {
            break;
        }
        from += BLOCK;
    }
    while bytes.get(from).is_some_and(|&b| is_plain(b)) {
        from += 1;
    }
    from
}

/// The length of an SGR sequence `ESC [ params m` at the start of `s` (params: digits, `;`, `:`).
fn sgr_len(s: &[u8]) -> Option<usize> {
    if s.get(1) != Some(&b'[') {
        return None;
    }
    let mut k = 2;
    while let Some(c) = s.get(k) {
        match c {
            b'0'..=b'9' | b';' | b':' => k += 1,
            b'm' if k <= 64 => return Some(k + 1),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_become_visible() {
        assert_eq!(visible("a\rb\tc\u{1b}[2J", false), "a\\rb\\tc\\x1b[2J");
        assert_eq!(visible("x\u{202e}y\u{0}", false), "x\\u{202e}y\\x00");
        assert_eq!(visible("l1\nl2", true), "l1\nl2");
        assert_eq!(visible("l1\nl2", false), "l1\\nl2");
        assert_eq!(visible("\u{9b}31m \u{7f}", false), "\\u{9b}31m \\x7f");
        assert_eq!(visible("plain /var/log ü €", false), "plain /var/log ü €");
        assert!(needs_escaping("a\rb") && !needs_escaping("a\nb ü"));
    }

    #[test]
    fn output_keeps_colours_and_neutralises_everything_else() {
        let red = "\u{1b}[31mred\u{1b}[0m \u{1b}[1;38;5;208mx\u{1b}[m";
        assert_eq!(output(red), red);
        assert_eq!(output("a\tb\nc\r\n"), "a\tb\nc\n");
        // Window title (OSC), cursor movement, clear screen, C1 CSI, a bare CR.
        assert_eq!(output("\u{1b}]0;pwned\u{7}x"), "\\x1b]0;pwned\\x07x");
        assert_eq!(output("\u{1b}[2A\u{1b}[2J"), "\\x1b[2A\\x1b[2J");
        assert_eq!(output("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(output("ok\r$ echo harmless"), "ok\\r$ echo harmless");
        // A lone ESC or one split off its sequence never reaches the terminal raw.
        assert_eq!(output("\u{1b}"), "\\x1b");
        assert_eq!(output("\u{1b}[31"), "\\x1b[31");
    }

    /// The character-by-character definition `output` had before it copied runs of plain bytes.
    fn output_by_char(text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\u{1b}' {
                let s: String = chars[i..].iter().collect();
                if let Some(len) = sgr_len(s.as_bytes()) {
                    out.extend(&chars[i..i + len]);
                    i += len;
                    continue;
                }
            }
            match c {
                '\n' | '\t' => out.push(c),
                '\r' if chars.get(i + 1) == Some(&'\n') => {}
                c => push_visible(&mut out, c, true),
            }
            i += 1;
        }
        out
    }

    #[test]
    fn output_copies_plain_runs_exactly_as_the_definition_says() {
        // Long plain stretches (several blocks), with every kind of special character placed at
        // block edges and inside blocks.
        let specials = [
            "\u{1b}[31m",
            "\u{1b}[2J",
            "\u{1b}",
            "\r\n",
            "\r",
            "\u{7f}",
            "\u{0}",
            "\u{9b}",
            "\u{202e}",
            "ü",
            "€",
            "😀",
            "\t",
            "\n",
            "\u{feff}",
        ];
        let mut seed = 7u32;
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..6 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let plain = (seed >> 16) as usize % 70;
                text.push_str(&"abcdefghij ".repeat(7)[..plain]);
                text.push_str(specials[(seed >> 8) as usize % specials.len()]);
            }
            assert_eq!(output(&text), output_by_char(&text), "{text:?}");
        }
        assert!(matches!(output(&"x".repeat(100)), Cow::Borrowed(_)));
    }
}
