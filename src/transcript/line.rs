//! One transcript line: an [`Event`] plus its envelope (`seq`, `ts`, `prev`).
//!
//! On disk a line is one JSON object: `{"seq":…,"ts":…,"prev":…,"event":…, …event fields}`,
//! then `\n`. The envelope is put in and taken out by hand (no `serde(flatten)`): the event is
//! serialized to a JSON map and the three fields are added in front; reading removes them and
//! deserializes the rest as an [`Event`], so its errors name the event's own fields.

use jiff::Timestamp;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::event::Event;

/// The `prev` of the first line: 64 zeros.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A decoded line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Position in the transcript, 1 for the first line, then +1 per line.
    pub seq: u64,
    /// When the event happened (UTC, millisecond precision).
    pub ts: Timestamp,
    /// Hex SHA-256 of the previous line's bytes (without its newline); [`GENESIS_PREV`] first.
    pub prev: String,
    /// The event.
    pub event: Event,
}

/// `ts` as written: RFC 3339, UTC, exactly three fractional digits (`2026-11-24T23:05:01.042Z`).
pub fn format_ts(ts: Timestamp) -> String {
    format!("{:.3}", truncate_ms(ts))
}

/// `ts` without its sub-millisecond part, so a written and read-back time compare equal.
pub fn truncate_ms(ts: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(ts.as_millisecond()).unwrap_or(ts)
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The line's JSON text, without the newline.
pub fn encode(seq: u64, ts: Timestamp, prev: &str, event: &Event) -> String {
    let Value::Object(fields) = serde_json::to_value(event).expect("an event serializes") else {
        unreachable!("an internally tagged enum serializes to an object")
    };
    let mut map = Map::with_capacity(fields.len() + 3);
    map.insert("seq".into(), seq.into());
    map.insert("ts".into(), format_ts(ts).into());
    map.insert("prev".into(), prev.into());
    map.extend(fields);
    serde_json::to_string(&Value::Object(map)).expect("a JSON map serializes")
}

/// Decodes one line's text (without its newline).
pub fn decode(text: &str) -> Result<Line, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    decode_value(value)
}

/// Decodes one line already parsed as JSON.
pub fn decode_value(value: Value) -> Result<Line, String> {
    let Value::Object(mut map) = value else {
        return Err("a line must be a JSON object".into());
    };
    let seq = map
        .remove("seq")
        .and_then(|v| v.as_u64())
        .ok_or("missing or invalid `seq` (an unsigned integer)")?;
    let ts = map
        .remove("ts")
        .and_then(|v| v.as_str().and_then(|s| s.parse::<Timestamp>().ok()))
        .ok_or("missing or invalid `ts` (an RFC 3339 time)")?;
    let prev = match map.remove("prev") {
        Some(Value::String(p)) if is_sha256_hex(&p) => p,
        _ => return Err("missing or invalid `prev` (64 lower-case hex digits)".into()),
    };
    let event = serde_json::from_value::<Event>(Value::Object(map))
        .map_err(|e| format!("invalid event: {e}"))?;
    Ok(Line {
        seq,
        ts,
        prev,
        event,
    })
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_with_the_envelope_first() {
        let ts: Timestamp = "2026-11-24T23:05:01.042789Z".parse().unwrap();
        let event = Event::run_finished(crate::domain::RunOutcome::Finished, 12);
        let text = encode(7, ts, GENESIS_PREV, &event);
        assert_eq!(
            text,
            format!(
                r#"{{"seq":7,"ts":"2026-11-24T23:05:01.042Z","prev":"{GENESIS_PREV}","event":"run_finished","outcome":"finished","duration_ms":12}}"#
            )
        );
        let line = decode(&text).unwrap();
        assert_eq!(line.seq, 7);
        assert_eq!(line.ts, truncate_ms(ts));
        assert_eq!(line.event, event);
    }

    #[test]
    fn a_whole_second_still_has_three_digits() {
        let ts: Timestamp = "2026-01-02T03:04:05Z".parse().unwrap();
        assert_eq!(format_ts(ts), "2026-01-02T03:04:05.000Z");
    }

    #[test]
    fn bad_envelopes_are_named() {
        assert!(decode("[1]").unwrap_err().contains("object"));
        assert!(decode(r#"{"ts":"x"}"#).unwrap_err().contains("`seq`"));
        let e = decode(r#"{"seq":1,"ts":"2026-01-02T03:04:05Z","prev":"00","event":"note"}"#);
        assert!(e.unwrap_err().contains("`prev`"));
    }
}
