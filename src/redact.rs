//! Redaction of secret values: the one place that knows what a secret looks like on the wire.
//!
//! A [`Redactor`] is built from the values of a run's secret params. For each value it masks, by
//! [`MASK`]:
//! - the value itself;
//! - its base64 encoding at the three byte offsets, standard and URL-safe alphabets. As GitHub
//!   Actions' runner does, the value is encoded alone and behind one and two leading bytes, and only
//!   the characters that depend on the value's bytes alone are kept (the first characters depend on
//!   what precedes the value, the last ones on what follows it), so the value is found wherever it
//!   sits inside a larger encoded blob;
//! - its JSON-escaped form (what `serde_json`/`jq` print for it inside a string);
//! - its URL-encoded form (RFC 3986 percent-encoding, and the `+`-for-space form variant).
//!
//! Values shorter than [`MIN_SECRET_LEN`] bytes are ignored (see [`Redactor::ignored`]): masking a
//! one- or two-byte value would mangle every output while hiding almost nothing; the caller warns.
//! Encoded forms shorter than `MIN_SECRET_LEN` are dropped for the same reason.
//!
//! [`StreamRedactor`] applies the same patterns to a byte stream that arrives in chunks (a child's
//! stdout): a secret split across chunks, even one byte per chunk, is still masked. It holds back
//! only a tail that is the beginning of some pattern (so at most the longest pattern minus one
//! byte), which keeps memory bounded and, for output that is not secret-like, delays nothing.

use std::borrow::Cow;

use regex::bytes::Regex;

/// What replaces a secret.
pub const MASK: &str = "***";

/// Secret values shorter than this (in bytes) are not masked.
pub const MIN_SECRET_LEN: usize = 4;

/// The set of patterns to mask: each secret and its encodings.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Distinct patterns, longest first (so the leftmost match is also the longest one there).
    patterns: Vec<Vec<u8>>,
    /// The patterns as one alternation; `None` when there is nothing to mask.
    regex: Option<Regex>,
    /// Non-empty secret values skipped for being shorter than [`MIN_SECRET_LEN`].
    ignored: usize,
}

impl Redactor {
    /// A redactor for these secret values. Empty values are skipped silently; values shorter than
    /// [`MIN_SECRET_LEN`] bytes are skipped and counted in [`Redactor::ignored`].
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut ignored = 0;
        for secret in secrets {
            if secret.is_empty() {
                continue;
            }
            if secret.len() < MIN_SECRET_LEN {
                ignored += 1;
                continue;
            }
            for p in encodings(&secret) {
                if p.len() >= MIN_SECRET_LEN && !patterns.contains(&p) {
                    patterns.push(p);
                }
            }
        }
        // Longest first; ties in a fixed order so the regex is deterministic.
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        let regex = if patterns.is_empty() {
            None
        } else {
            let alternation = patterns
                .iter()
                .map(|p| regex::escape(std::str::from_utf8(p).expect("patterns are UTF-8")))
                .collect::<Vec<_>>()
                .join("|");
            Some(
                regex::bytes::RegexBuilder::new(&alternation)
                    .size_limit(64 << 20)
                    .build()
                    .expect("an alternation of escaped literals compiles"),
            )
        };
        Redactor {
            patterns,
            regex,
            ignored,
        }
    }

    /// True when there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.regex.is_none()
    }

    /// How many secret values were too short to be masked (the caller should warn about them).
    pub fn ignored(&self) -> usize {
        self.ignored
    }

    /// The length of the longest pattern (0 when empty).
    pub fn longest(&self) -> usize {
        self.patterns.first().map_or(0, Vec::len)
    }

    /// `s` with every pattern replaced by [`MASK`].
    pub fn redact_str(&self, s: &str) -> String {
        if self.is_empty() {
            return s.to_owned();
        }
        let bytes = self.redact_bytes(s.as_bytes());
        // Every pattern is valid UTF-8, so a match starts and ends on character boundaries and
        // replacing it keeps the text valid.
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// `bytes` with every pattern replaced by [`MASK`].
    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        let rest = self.scan(bytes, &mut out, true);
        debug_assert!(rest == bytes.len());
        out
    }

    /// A redactor for the chunks of one output stream.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            redactor: self.clone(),
            pending: Vec::new(),
        }
    }

    /// Appends to `out` the redacted bytes of `buf` that are safe to emit and returns where the
    /// rest (to hold back) starts. With `at_end`, everything is safe.
    ///
    /// A match at position `p` is committed only when no pattern could still match a longer
    /// stretch from `p` once more bytes arrive; the held-back tail is the first position from which
    /// the remaining bytes are a strict prefix of some pattern. This gives exactly the result of
    /// redacting the whole stream at once, whatever the chunking.
    fn scan(&self, buf: &[u8], out: &mut Vec<u8>, at_end: bool) -> usize {
        self.walk(buf, at_end, &mut |from, to, masked| {
            if masked {
                out.extend_from_slice(MASK.as_bytes());
            } else {
                out.extend_from_slice(&buf[from..to]);
            }
        })
    }

    /// [`Redactor::scan`] as pieces: `f(from, to, masked)` for each stretch of `buf` that is safe
    /// to emit, in order; returns where the held-back rest starts.
    fn walk(&self, buf: &[u8], at_end: bool, f: &mut dyn FnMut(usize, usize, bool)) -> usize {
        let Some(regex) = &self.regex else {
            f(0, buf.len(), false);
            return buf.len();
        };
        let mut cursor = 0;
        loop {
            let hold = if at_end {
                buf.len()
            } else {
                self.hold_from(buf, cursor)
            };
            match regex.find_at(buf, cursor) {
                Some(m) if m.start() < hold => {
                    f(cursor, m.start(), false);
                    f(m.start(), m.end(), true);
                    cursor = m.end();
                }
                _ => {
                    f(cursor, hold, false);
                    return hold;
                }
            }
        }
    }

    /// The first position at or after `from` where the rest of `buf` is a strict prefix of some
    /// pattern (so a match there is not decided yet); `buf.len()` when there is none.
    fn hold_from(&self, buf: &[u8], from: usize) -> usize {
        let start = from.max(buf.len().saturating_sub(self.longest().saturating_sub(1)));
        (start..buf.len())
            .find(|&p| {
                let tail = &buf[p..];
                self.patterns
                    .iter()
                    .any(|pat| pat.len() > tail.len() && pat.starts_with(tail))
            })
            .unwrap_or(buf.len())
    }
}

/// Redacts one output stream chunk by chunk.
///
/// Bytes that may be the beginning of a secret are held back until the next chunk shows whether
/// they are (at most the longest pattern minus one byte: memory stays bounded whatever the
/// output). Everything else is returned at once.
#[derive(Debug, Clone)]
pub struct StreamRedactor {
    redactor: Redactor,
    pending: Vec<u8>,
}

impl StreamRedactor {
    /// Takes the next chunk; returns the bytes safe to emit now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.redactor.is_empty() {
            return chunk.to_vec();
        }
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(self.pending.len());
        let keep = self.redactor.scan(&self.pending, &mut out, false);
        self.pending.drain(..keep);
        out
    }

    /// The held-back bytes, redacted, at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        self.flush_pending()
    }

    /// Emits the held-back bytes now, for a stream that has gone quiet (for example a prompt
    /// `Password for ad` waiting on input) or at its end.
    ///
    /// Trade-off: the held-back bytes are, by construction, the start of some secret pattern. If
    /// the secret really continues in a later chunk, that beginning has been emitted unmasked and
    /// the rest will not match any more (so it is not masked either). Call it only after the
    /// stream has been idle for a while (say 500 ms): a program writing a secret rarely pauses in
    /// the middle of it, and without it a prompt ending in a secret's first bytes would never show.
    pub fn flush_pending(&mut self) -> Vec<u8> {
        let out = self.redactor.redact_bytes(&self.pending);
        self.pending.clear();
        out
    }

    /// How many bytes are held back.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

/// Redacts several output streams of one process as the one sequence the terminal shows, so a
/// secret written half to stdout and half to stderr is masked too. Each piece returned keeps the
/// stream its bytes came from; a mask spanning streams goes to the stream where it began.
#[derive(Debug, Clone)]
pub struct MergedRedactor<T> {
    redactor: Redactor,
    pending: Vec<u8>,
    /// Which stream each held-back byte came from, as runs (stream, length) in order: one entry
    /// per chunk, not one per byte.
    runs: Vec<(T, usize)>,
}

impl<T: Copy + PartialEq> MergedRedactor<T> {
    pub fn new(redactor: &Redactor) -> Self {
        MergedRedactor {
            redactor: redactor.clone(),
            pending: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Takes a chunk of stream `tag`; returns the pieces safe to emit now (the chunk itself,
    /// not a copy, when there is nothing to mask and nothing held back: the usual case).
    pub fn push<'c>(&mut self, tag: T, chunk: &'c [u8]) -> Vec<(T, Cow<'c, [u8]>)> {
        let owned = |pieces: Vec<(T, Vec<u8>)>| {
            pieces
                .into_iter()
                .map(|(t, bytes)| (t, Cow::Owned(bytes)))
                .collect()
        };
        if chunk.is_empty() {
            return owned(self.drain(false));
        }
        if self.redactor.is_empty() && self.pending.is_empty() {
            return vec![(tag, Cow::Borrowed(chunk))];
        }
        self.pending.extend_from_slice(chunk);
        match self.runs.last_mut() {
            Some((t, n)) if *t == tag => *n += chunk.len(),
            _ => self.runs.push((tag, chunk.len())),
        }
        owned(self.drain(false))
    }

    /// Everything held back, at the end of the process.
    pub fn finish(&mut self) -> Vec<(T, Vec<u8>)> {
        self.drain(true)
    }

    fn drain(&mut self, at_end: bool) -> Vec<(T, Vec<u8>)> {
        let mut out: Vec<(T, Vec<u8>)> = Vec::new();
        let (buf, runs) = (&self.pending, &self.runs);
        // The run holding byte `at`: stretches come in order, so the search only moves forward.
        let (mut run, mut run_start) = (0, 0);
        let mut seek = |at: usize| {
            while run + 1 < runs.len() && run_start + runs[run].1 <= at {
                run_start += runs[run].1;
                run += 1;
            }
            (run, run_start)
        };
        let keep = self.redactor.walk(buf, at_end, &mut |from, to, masked| {
            if from >= to && !masked {
                return;
            }
            let (r, r_start) = seek(from);
            if masked {
                push_piece(&mut out, runs[r].0, MASK.as_bytes());
                return;
            }
            let (mut r, mut r_start, mut at) = (r, r_start, from);
            while at < to {
                let (tag, len) = runs[r];
                let end = (r_start + len).min(to);
                push_piece(&mut out, tag, &buf[at..end]);
                at = end;
                r_start += len;
                r += 1;
            }
        });
        self.pending.drain(..keep);
        let mut gone = keep;
        while gone > 0 {
            let Some(first) = self.runs.first_mut() else {
                break;
            };
            if first.1 <= gone {
                gone -= first.1;
                self.runs.remove(0);
            } else {
                first.1 -= gone;
                gone = 0;
            }
        }
        out
    }
}

fn push_piece<T: PartialEq>(out: &mut Vec<(T, Vec<u8>)>, tag: T, bytes: &[u8]) {
    match out.last_mut() {
        Some((t, b)) if *t == tag => b.extend_from_slice(bytes),
        _ if bytes.is_empty() => {}
        _ => out.push((tag, bytes.to_vec())),
    }
}

/// The value and its encodings (possibly with duplicates and short ones; the caller filters).
fn encodings(secret: &str) -> Vec<Vec<u8>> {
    let value = secret.as_bytes();
    let mut out = vec![value.to_vec()];
    for alphabet in [BASE64_STD, BASE64_URL] {
        for shift in 0..3 {
            let stable = base64_stable(value, shift, alphabet);
            // `base64` wraps at 76 columns, PEM and `openssl base64` at 64: the line break may
            // fall anywhere inside the secret's characters.
            for width in [64, 76] {
                out.extend(wrapped(&stable, width));
            }
            out.push(stable);
        }
    }
    let json = serde_json::to_string(secret).expect("a string serializes");
    out.push(json.as_bytes()[1..json.len() - 1].to_vec());
    for upper in [true, false] {
        out.push(percent_encode(value, false, upper));
        out.push(percent_encode(value, true, upper));
        out.push(hex(value, upper));
    }
    out
}

/// `encoded` with a newline every `width` characters, for each place the first break can fall.
fn wrapped(encoded: &[u8], width: usize) -> Vec<Vec<u8>> {
    (1..encoded.len().min(width + 1))
        .filter(|first| *first < encoded.len())
        .map(|first| {
            let mut v = Vec::with_capacity(encoded.len() + encoded.len() / width + 1);
            for (i, b) in encoded.iter().enumerate() {
                if i >= first && (i - first) % width == 0 {
                    v.push(b'\n');
                }
                v.push(*b);
            }
            v
        })
        .collect()
}

/// The value in hexadecimal (`xxd -p`, `od`, `hexdump` without spaces).
fn hex(value: &[u8], upper: bool) -> Vec<u8> {
    value
        .iter()
        .flat_map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
            .into_bytes()
        })
        .collect()
}

const BASE64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The base64 characters that depend only on `value` when it is encoded after `shift` bytes
/// (0, 1 or 2) of anything: character `i` covers bits `6i..6i+6` of the whole input, and is kept
/// when those bits all belong to the value.
fn base64_stable(value: &[u8], shift: usize, alphabet: &[u8; 64]) -> Vec<u8> {
    let mut input = vec![0u8; shift];
    input.extend_from_slice(value);
    let first_bit = 8 * shift;
    let end_bit = 8 * input.len();
    (0..input.len() * 8 / 6)
        .filter(|i| 6 * i >= first_bit && 6 * i + 6 <= end_bit)
        .map(|i| alphabet[sextet(&input, i) as usize])
        .collect()
}

/// The `i`th 6-bit group of `bytes`.
fn sextet(bytes: &[u8], i: usize) -> u8 {
    let bit = 6 * i;
    let byte = bit / 8;
    let hi = u16::from(bytes[byte]) << 8;
    let lo = u16::from(bytes.get(byte + 1).copied().unwrap_or(0));
    (((hi | lo) >> (10 - bit % 8)) & 0x3f) as u8
}

/// Standard base64 with padding (used by the tests and by [`crate::transcript`] for raw bytes).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let n = (u32::from(group[0]) << 16) | (u32::from(group[1]) << 8) | u32::from(group[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(BASE64_STD[((n >> (18 - 6 * k)) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` when `s` is not base64.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = BASE64_STD.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (bits < 6).then_some(out)
}

/// RFC 3986 percent-encoding (unreserved characters kept, hex in upper or lower case); with `plus`,
/// a space becomes `+` as in HTML form encoding.
fn percent_encode(value: &[u8], plus: bool, upper: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() * 3);
    for &b in value {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b);
        } else if plus && b == b' ' {
            out.push(b'+');
        } else {
            let code = if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            };
            out.extend_from_slice(code.as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces of a push, owned (as `finish` returns them), to collect both in one list.
    fn owned<T>(pieces: Vec<(T, Cow<'_, [u8]>)>) -> Vec<(T, Vec<u8>)> {
        pieces
            .into_iter()
            .map(|(t, b)| (t, b.into_owned()))
            .collect()
    }

    fn redactor(secrets: &[&str]) -> Redactor {
        Redactor::new(secrets.iter().map(|s| s.to_string()))
    }

    /// A tiny deterministic generator (xorshift) so the randomized tests need no extra crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn stream_all(r: &Redactor, chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = r.stream();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.push(c));
            assert!(s.pending_len() < r.longest().max(1), "hold-back is bounded");
        }
        out.extend(s.finish());
        out
    }

    #[test]
    fn masks_value_and_every_occurrence() {
        let r = redactor(&["hunter2"]);
        assert_eq!(
            r.redact_str("pw=hunter2 again hunter2."),
            "pw=*** again ***."
        );
        assert_eq!(r.redact_str("nothing here"), "nothing here");
    }

    #[test]
    fn short_and_empty_secrets_are_ignored_and_counted() {
        let r = redactor(&["", "abc", "abcd"]);
        assert_eq!(r.ignored(), 1);
        assert!(!r.is_empty());
        assert_eq!(r.redact_str("abc abcd"), "abc ***");
        assert!(redactor(&["", "x"]).is_empty());
    }

    #[test]
    fn base64_encoder_and_decoder_agree_with_known_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(plain.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes());
        }
        assert!(base64_decode("not base64!").is_none());
    }

    #[test]
    fn base64_of_the_secret_is_masked_at_every_offset_inside_larger_blobs() {
        let secret = "s3cr3t-Value!";
        let r = redactor(&[secret]);
        for prefix_len in 0..6 {
            for suffix_len in 0..6 {
                let mut plain = b"PQRSTUVWX"[..prefix_len].to_vec();
                plain.extend_from_slice(secret.as_bytes());
                plain.extend_from_slice(&b"abcdefghi"[..suffix_len]);
                let encoded = base64_encode(&plain);
                let redacted = r.redact_str(&encoded);
                assert!(
                    redacted.contains(MASK),
                    "prefix {prefix_len} suffix {suffix_len}: {encoded} -> {redacted}"
                );
                // What is left cannot decode back to the secret.
                assert!(!redacted.contains(&base64_encode(secret.as_bytes())[..8]));
            }
        }
    }

    #[test]
    fn url_safe_base64_json_and_url_forms_are_masked() {
        let secret = "p@ss wörd/\"x\"?";
        let r = redactor(&[secret]);
        let json = serde_json::to_string(&serde_json::json!({ "pw": secret })).unwrap();
        assert_eq!(r.redact_str(&json), r#"{"pw":"***"}"#);
        assert_eq!(
            r.redact_str("https://h/?pw=p%40ss%20w%C3%B6rd%2F%22x%22%3F&a=1"),
            "https://h/?pw=***&a=1"
        );
        assert_eq!(r.redact_str("pw=p%40ss+w%C3%B6rd%2F%22x%22%3F"), "pw=***");
        let url_safe = base64_encode(secret.as_bytes())
            .replace('+', "-")
            .replace('/', "_");
        assert!(r.redact_str(&url_safe).contains(MASK));
    }

    #[test]
    fn wrapped_base64_hex_and_lower_case_url_forms_are_masked() {
        let secret = "tok_9f8e7d6c5b4a3928171605f4e3d2c1b0a99887766554433221100ffeeddccbbaa0";
        let r = redactor(&[secret]);
        for prefix in ["", "x", "xy"] {
            let encoded = base64_encode(format!("{prefix}{secret}").as_bytes());
            for width in [64, 76] {
                let lines: Vec<&str> = encoded
                    .as_bytes()
                    .chunks(width)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                let out = r.redact_str(&lines.join("\n"));
                assert!(out.contains(MASK), "{width}: {out}");
                assert!(!out.contains(&encoded[8..20]), "{width}: {out}");
            }
        }
        let hex_lower: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(r.redact_str(&hex_lower), MASK);
        assert_eq!(r.redact_str(&hex_lower.to_uppercase()), MASK);
        let r = redactor(&["a/b c"]);
        assert_eq!(r.redact_str("q=a%2fb%20c"), "q=***");
        assert_eq!(r.redact_str("q=a%2Fb+c"), "q=***");
    }

    #[test]
    fn a_secret_split_across_two_streams_is_masked() {
        let r = redactor(&["split-secret"]);
        let mut m = MergedRedactor::new(&r);
        let mut got: Vec<(u8, Vec<u8>)> = Vec::new();
        got.extend(owned(m.push(1, b"out: split-")));
        got.extend(owned(m.push(2, b"secret and err")));
        got.extend(owned(m.push(1, b" more")));
        got.extend(m.finish());
        let mut text: Vec<(u8, String)> = Vec::new();
        for (t, b) in got {
            let b = String::from_utf8(b).unwrap();
            match text.last_mut() {
                Some((lt, lb)) if *lt == t => lb.push_str(&b),
                _ => text.push((t, b)),
            }
        }
        assert_eq!(
            text,
            [
                (1, "out: ***".to_string()),
                (2, " and err".to_string()),
                (1, " more".to_string())
            ]
        );
    }

    #[test]
    fn merged_streams_keep_their_order_and_tags_whatever_the_chunks() {
        // With nothing to mask the pieces are the chunks; with a secret, every byte that is not
        // part of it comes back once, in order, with the stream it came from.
        for secrets in [&[][..], &["a-secret-value"][..]] {
            let r = redactor(secrets);
            let mut m = MergedRedactor::new(&r);
            let chunks: [(u8, &[u8]); 6] = [
                (1, b"one a-sec"),
                (1, b"ret-va"),
                (2, b"lue two"),
                (2, b""),
                (1, b" three a-"),
                (2, b"four"),
            ];
            let mut got: Vec<(u8, Vec<u8>)> = Vec::new();
            for (tag, chunk) in chunks {
                got.extend(owned(m.push(tag, chunk)));
            }
            got.extend(m.finish());
            let tagged: Vec<(u8, u8)> = got
                .iter()
                .flat_map(|(t, b)| b.iter().map(move |&c| (*t, c)))
                .collect();
            let mut want: Vec<(u8, u8)> = Vec::new();
            let whole: Vec<(u8, u8)> = chunks
                .iter()
                .flat_map(|(t, b)| b.iter().map(move |&c| (*t, c)))
                .collect();
            let text: Vec<u8> = whole.iter().map(|(_, c)| *c).collect();
            let mut i = 0;
            while i < whole.len() {
                match secrets.first() {
                    Some(s) if text[i..].starts_with(s.as_bytes()) => {
                        want.extend(MASK.bytes().map(|c| (whole[i].0, c)));
                        i += s.len();
                    }
                    _ => {
                        want.push(whole[i]);
                        i += 1;
                    }
                }
            }
            assert_eq!(tagged, want, "{secrets:?}");
        }
    }

    #[test]
    fn split_at_every_position_into_two_chunks() {
        let secret = "correct-horse";
        let r = redactor(&[secret, "other-secret"]);
        let text = format!("start {secret} middle {secret}{secret} end corr");
        let expected = r.redact_str(&text);
        assert!(!expected.contains(secret));
        let bytes = text.as_bytes();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let out = stream_all(&r, &[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    expected,
                    "split at {i},{j}"
                );
            }
        }
    }

    #[test]
    fn one_byte_per_chunk_masks_the_value_and_its_encodings() {
        let secret = "tok_3Xa9+/=";
        let r = redactor(&[secret]);
        let json = serde_json::to_string(secret).unwrap();
        let text = format!(
            "a {secret} b {} c {json} d {} e",
            base64_encode(secret.as_bytes()),
            String::from_utf8(percent_encode(secret.as_bytes(), false, true)).unwrap()
        );
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        let out = String::from_utf8(stream_all(&r, &chunks)).unwrap();
        assert_eq!(out, r.redact_str(&text));
        assert_eq!(out.matches(MASK).count(), 4, "{out}");
        assert!(!out.contains(secret));
    }

    #[test]
    fn random_chunkings_give_the_same_result_as_whole_redaction() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let alphabet = b"abcAB= \n%";
        for round in 0..300 {
            // Secrets over a small alphabet so they overlap each other and the text often.
            let secrets: Vec<String> = (0..1 + rng.below(3))
                .map(|_| {
                    (0..3 + rng.below(5))
                        .map(|_| alphabet[rng.below(alphabet.len())] as char)
                        .collect()
                })
                .collect();
            let r = Redactor::new(secrets.clone());
            let mut text = Vec::new();
            for _ in 0..rng.below(60) {
                if rng.below(4) == 0 {
                    text.extend_from_slice(secrets[rng.below(secrets.len())].as_bytes());
                } else {
                    text.push(alphabet[rng.below(alphabet.len())]);
                }
            }
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < text.len() {
                let n = (1 + rng.below(8)).min(text.len() - at);
                chunks.push(&text[at..at + n]);
                at += n;
            }
            assert_eq!(
                stream_all(&r, &chunks),
                r.redact_bytes(&text),
                "round {round}: secrets {secrets:?}"
            );
        }
    }

    #[test]
    fn hold_back_is_only_a_possible_secret_start_and_stays_bounded() {
        let r = redactor(&["secret-value"]);
        let mut s = r.stream();
        // Nothing secret-like: emitted at once.
        assert_eq!(s.push(b"hello world\n"), b"hello world\n");
        assert_eq!(s.pending_len(), 0);
        // The start of the secret is held back...
        assert_eq!(s.push(b"pw: secr"), b"pw: ");
        assert_eq!(s.pending_len(), 4);
        // ...and masked when it completes.
        assert_eq!(s.push(b"et-value!"), b"***!");
        // A long run of secret prefixes never grows the hold-back past the longest pattern.
        for _ in 0..10_000 {
            s.push(b"s");
            s.push(b"e");
            assert!(s.pending_len() < r.longest());
        }
        // flush_pending gives up waiting.
        let _ = s.push(b"secret-val");
        assert_eq!(s.flush_pending(), b"secret-val");
        assert_eq!(s.pending_len(), 0);
    }

    #[test]
    fn an_empty_redactor_passes_everything_through() {
        let r = Redactor::new(Vec::<String>::new());
        assert!(r.is_empty());
        let mut s = r.stream();
        assert_eq!(s.push(b"abc"), b"abc");
        assert_eq!(s.finish(), b"");
        assert_eq!(r.redact_str("abc"), "abc");
    }

    #[test]
    fn non_utf8_bytes_around_a_secret_are_kept() {
        let r = redactor(&["abcdef"]);
        let text = b"\xff\xfeabcdef\x80";
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(stream_all(&r, &chunks), b"\xff\xfe***\x80");
    }
}
