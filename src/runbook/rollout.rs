//! Where a step runs and how a change rolls out over several hosts, as runbooks write it:
//! `on: local | target`, `serial: [1, 25%, 100%]` (canary batches) and `max_fail: 1` / `10%`.
//! Parsing and the rules a value must follow live here; running them is the executor's
//! (`exec/hosts.rs`).

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Where a command or watch step runs when the run has remote hosts (`--host`, `--hosts`,
/// `--inventory`); without them every step runs here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum On {
    // (Plain comments: doc comments on variants would make the schema a `oneOf`, whose error
    // does not list the words.)
    // On the run's hosts (the default).
    #[default]
    Target,
    // On the operator's machine, where rb runs (a `kubectl` call, a local file).
    Local,
}

impl On {
    pub fn as_str(self) -> &'static str {
        match self {
            On::Target => "target",
            On::Local => "local",
        }
    }
}

impl fmt::Display for On {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A count of hosts: a number, or a share of the hosts of the run (`25%`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    Hosts(u32),
    Percent(u32),
}

impl Share {
    /// How many of `total` hosts this is (a share rounds down, but never to zero unless it
    /// is `0%`).
    pub fn of(self, total: usize) -> usize {
        match self {
            Share::Hosts(n) => n as usize,
            Share::Percent(p) => {
                let n = total * p as usize / 100;
                if n == 0 && p > 0 { 1 } else { n }
            }
        }
    }

    /// Parses `3` or `25%` (`min` is the smallest value allowed, `0` or `1`).
    fn parse_percent(text: &str, min: u32) -> Result<Share, String> {
        let n = text
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<u32>().ok())
            .filter(|n| (min..=100).contains(n))
            .ok_or_else(|| {
                format!("`{text}` is not a share of the hosts: write a whole percentage from {min}% to 100%, like `25%`, or a number of hosts")
            })?;
        Ok(Share::Percent(n))
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Share::Hosts(n) => write!(f, "{n}"),
            Share::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Share::Hosts(n) => s.serialize_u32(*n),
            Share::Percent(_) => s.collect_str(self),
        }
    }
}

/// Reads a number (at least `min`) or a percentage string.
struct ShareVisitor {
    min: u32,
}

impl Visitor<'_> for ShareVisitor {
    type Value = Share;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a number of hosts (at least {}) or a percentage like `25%`",
            self.min
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Share, E> {
        u32::try_from(v)
            .ok()
            .filter(|n| *n >= self.min)
            .map(Share::Hosts)
            .ok_or_else(|| {
                E::custom(format!(
                    "{v} is not a number of hosts rb takes here (at least {})",
                    self.min
                ))
            })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Share, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!(
                "{v} is not a number of hosts rb takes here (at least {})",
                self.min
            ))),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Share, E> {
        Share::parse_percent(v, self.min).map_err(E::custom)
    }
}

/// The schema of a share: a number from `min`, or `N%`.
fn share_schema(min: u32) -> schemars::Schema {
    let pattern = if min == 0 {
        r"^(100|[1-9]?[0-9])%$"
    } else {
        r"^(100|[1-9][0-9]?)%$"
    };
    // One schema for both forms (`minimum` only constrains numbers, `pattern` only strings), so
    // an error names the rule broken rather than "none of oneOf".
    schemars::json_schema!({
        "type": ["integer", "string"],
        "minimum": min,
        "pattern": pattern
    })
}

/// The batches of a canary rollout (`serial: [1, 25%, 100%]`): the step runs on the first
/// batch's hosts, then (after the operator says so) the next; the last size repeats until every
/// host has run it. Sizes are at least 1 host or 1%, and each is larger than the one before it
/// when both are numbers or both are percentages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serial(pub Vec<Share>);

impl Serial {
    /// The hosts in batches, in order.
    pub fn batches<T: Clone>(&self, hosts: &[T]) -> Vec<Vec<T>> {
        let mut out = Vec::new();
        let mut at = 0;
        let mut sizes = self.0.iter();
        let mut last = 1;
        while at < hosts.len() {
            let size = match sizes.next() {
                Some(s) => s.of(hosts.len()).max(1),
                None => last,
            };
            last = size;
            let end = (at + size).min(hosts.len());
            out.push(hosts[at..end].to_vec());
            at = end;
        }
        out
    }

    /// Checks the sizes: not empty, and increasing within each kind.
    fn check(sizes: &[Share]) -> Result<(), String> {
        if sizes.is_empty() {
            return Err("`serial` needs at least one batch size, like `[1, 100%]`".into());
        }
        let mut last_hosts = None;
        let mut last_percent = None;
        for s in sizes {
            let (last, n) = match s {
                Share::Hosts(n) => (&mut last_hosts, *n),
                Share::Percent(p) => (&mut last_percent, *p),
            };
            if let Some(prev) = *last
                && n <= prev
            {
                return Err(format!(
                    "batch sizes must grow: `{s}` comes after a batch of `{}`; write them in increasing order, like `[1, 25%, 100%]`",
                    match s {
                        Share::Hosts(_) => Share::Hosts(prev),
                        Share::Percent(_) => Share::Percent(prev),
                    }
                ));
            }
            *last = Some(n);
        }
        Ok(())
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(Share::to_string).collect();
        write!(f, "[{}]", parts.join(", "))
    }
}

/// One batch size, as deserialized (at least 1 host or 1%).
struct BatchSize(Share);

impl<'de> Deserialize<'de> for BatchSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShareVisitor { min: 1 }).map(BatchSize)
    }
}

impl Serialize for Serial {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let sizes: Vec<BatchSize> = Vec::deserialize(d)?;
        let sizes: Vec<Share> = sizes.into_iter().map(|b| b.0).collect();
        Serial::check(&sizes).map_err(de::Error::custom)?;
        Ok(Serial(sizes))
    }
}

impl JsonSchema for Serial {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Serial".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut s = schemars::json_schema!({
            "type": "array",
            "minItems": 1,
            "description": "Canary batches: numbers of hosts or shares of them (`[1, 25%, 100%]`), increasing; the last size repeats until every host has run the step."
        });
        s.insert("items".into(), share_schema(1).to_value());
        s
    }
}

/// How many hosts may fail a step before its rollout stops (`max_fail: 1`, `max_fail: 10%`;
/// default 0: the first failed host stops it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxFail(pub Share);

impl MaxFail {
    /// How many of `total` hosts may fail (a share rounds down: `10%` of 5 hosts is 0).
    pub fn allowed(self, total: usize) -> usize {
        match self.0 {
            Share::Hosts(n) => n as usize,
            Share::Percent(p) => total * p as usize / 100,
        }
    }
}

impl fmt::Display for MaxFail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for MaxFail {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for MaxFail {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShareVisitor { min: 0 }).map(MaxFail)
    }
}

impl JsonSchema for MaxFail {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MaxFail".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut s = share_schema(0);
        s.insert(
            "description".into(),
            "How many hosts may fail before the rollout stops: a number, or a share like `10%`."
                .into(),
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serial(yaml: serde_json::Value) -> Result<Serial, String> {
        serde_json::from_value(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn batches_follow_the_sizes_and_the_last_repeats() {
        let s = serial(serde_json::json!([1, "25%", "100%"])).unwrap();
        let hosts: Vec<u32> = (1..=8).collect();
        assert_eq!(
            s.batches(&hosts),
            vec![vec![1], vec![2, 3], vec![4, 5, 6, 7, 8]]
        );
        let s = serial(serde_json::json!([1, 2])).unwrap();
        assert_eq!(
            s.batches(&[1, 2, 3, 4, 5, 6]),
            vec![vec![1], vec![2, 3], vec![4, 5], vec![6]]
        );
        // A share never rounds a batch down to nothing.
        let s = serial(serde_json::json!(["10%"])).unwrap();
        assert_eq!(s.batches(&[1, 2, 3]), vec![vec![1], vec![2], vec![3]]);
    }

    #[test]
    fn bad_sizes_are_refused_with_the_fix() {
        for (bad, says) in [
            (serde_json::json!([]), "at least one batch size"),
            (serde_json::json!([0, 2]), "at least 1"),
            (serde_json::json!(["0%"]), "from 1% to 100%"),
            (serde_json::json!(["150%"]), "from 1% to 100%"),
            (serde_json::json!(["abc"]), "not a share"),
            (serde_json::json!([2, 1]), "batch sizes must grow"),
            (serde_json::json!(["50%", "25%"]), "batch sizes must grow"),
            (serde_json::json!([-1]), "at least 1"),
        ] {
            let e = serial(bad.clone()).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn max_fail_counts_hosts_or_a_share_rounded_down() {
        let m: MaxFail = serde_json::from_value(serde_json::json!(1)).unwrap();
        assert_eq!(m.allowed(10), 1);
        let m: MaxFail = serde_json::from_value(serde_json::json!("25%")).unwrap();
        assert_eq!(m.allowed(4), 1);
        assert_eq!(m.allowed(3), 0);
        let m: MaxFail = serde_json::from_value(serde_json::json!(0)).unwrap();
        assert_eq!(m.allowed(3), 0);
        assert!(serde_json::from_value::<MaxFail>(serde_json::json!("101%")).is_err());
    }
}
