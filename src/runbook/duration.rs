//! Durations as runbook authors write them: `500ms`, `30s`, `5m`, `1h30m`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern of a duration, shared by the parser and the generated schema.
pub const PATTERN: &str = r"^(?=[0-9])([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$";

/// A duration written with units. Keeps the text it was written as, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// The std duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }

    /// Parses `30s`, `5m`, `1h30m`, `250ms`. Units must be in descending order, each once.
    pub fn parse(text: &str) -> Result<Self, String> {
        const HINT: &str = "write a number followed by a unit: `500ms`, `30s`, `5m`, `1h30m`";
        if text.is_empty() {
            return Err(format!("empty duration; {HINT}"));
        }
        let mut total: u128 = 0;
        let mut last_rank = usize::MAX;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("`{text}` is not a duration; {HINT}"));
            }
            let n: u128 = rest[..digits]
                .parse()
                .map_err(|_| format!("`{text}` is too large a duration"))?;
            rest = &rest[digits..];
            let (unit_ms, len, rank) = if rest.starts_with("ms") {
                (1, 2, 0)
            } else if rest.starts_with('s') {
                (1_000, 1, 1)
            } else if rest.starts_with('m') {
                (60_000, 1, 2)
            } else if rest.starts_with('h') {
                (3_600_000, 1, 3)
            } else {
                return Err(format!("`{text}` has no unit or an unknown one; {HINT}"));
            };
            if rank >= last_rank {
                return Err(format!(
                    "`{text}`: units must go from largest to smallest, each once; {HINT}"
                ));
            }
            last_rank = rank;
            rest = &rest[len..];
            total = total
                .checked_add(n.saturating_mul(unit_ms))
                .filter(|t| *t <= u64::MAX as u128)
                .ok_or_else(|| format!("`{text}` is too large a duration"))?;
        }
        Ok(Duration(std::time::Duration::from_millis(total as u64)))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": PATTERN,
            "description": "A duration: a number and a unit (ms, s, m, h), e.g. `30s`, `5m`, `1h30m`."
        })
    }
}

/// A duration field of a step: written literally (`5m`) or taken from a `duration` param
/// (`"{{ watch_for }}"`), so a team can tune waits per incident without editing the runbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationSpec {
    Literal(Duration),
    Param(String),
}

/// The pattern of a [`DurationSpec`].
pub const SPEC_PATTERN: &str =
    r"^(?:(?=[0-9])([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?|\{\{ *[a-z_][a-z0-9_]* *\}\})$";

impl DurationSpec {
    /// Parses a literal duration or a `{{ param }}` reference.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(inner) = text
            .trim()
            .strip_prefix("{{")
            .and_then(|t| t.strip_suffix("}}"))
        {
            let name = inner.trim();
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return Ok(DurationSpec::Param(name.to_string()));
            }
            return Err(format!(
                "`{text}` must name one param, like `{{{{ watch_for }}}}`"
            ));
        }
        Duration::parse(text).map(DurationSpec::Literal)
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationSpec::Literal(d) => d.fmt(f),
            DurationSpec::Param(p) => write!(f, "{{{{ {p} }}}}"),
        }
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DurationSpec::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for DurationSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DurationSpec".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": SPEC_PATTERN,
            "description": "A duration (`30s`, `5m`, `1h30m`) or a duration param (`{{ watch_for }}`)."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        let ms = |t| Duration::parse(t).unwrap().get().as_millis();
        assert_eq!(ms("250ms"), 250);
        assert_eq!(ms("30s"), 30_000);
        assert_eq!(ms("5m"), 300_000);
        assert_eq!(ms("1h30m"), 5_400_000);
        assert_eq!(ms("1m500ms"), 60_500);
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in [
            "",
            "10",
            "m",
            "10 minutes",
            "5x",
            "1m1h",
            "1s1s",
            "-5s",
            "99999999999999999999h",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn specs_are_literals_or_param_references() {
        assert_eq!(
            DurationSpec::parse("{{ watch_for }}").unwrap(),
            DurationSpec::Param("watch_for".into())
        );
        assert!(matches!(
            DurationSpec::parse("5m").unwrap(),
            DurationSpec::Literal(_)
        ));
        assert!(DurationSpec::parse("{{ a + b }}").is_err());
    }

    #[test]
    fn displays_as_written_canonically() {
        for t in ["30s", "5m", "1h30m", "250ms", "1m500ms"] {
            assert_eq!(Duration::parse(t).unwrap().to_string(), t);
        }
    }
}
