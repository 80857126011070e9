//! Loading: runbook bytes → a JSON value plus a map from each node's JSON pointer to its place
//! in the file, so that every later error (schema, semantics, rendering) can point into the YAML.
//!
//! YAML is read event by event with `saphyr-parser` (YAML 1.2, pure Rust), which gives spans for
//! every node. Building the tree ourselves lets us refuse what a runbook never needs and what an
//! attacker would use: documents larger than [`MAX_BYTES`], aliases that expand past
//! [`MAX_NODES`] (a "billion laughs" bomb), nesting deeper than [`MAX_DEPTH`], duplicate keys
//! (YAML forbids them; most parsers silently keep the last), and more than one document.

use std::collections::HashMap;

/// The hasher of the places map: keys are the file's own pointers, hashed once per node.
type Fast = foldhash::fast::RandomState;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YSpan};
use serde_json::{Map, Number, Value};

use crate::diag::{DiagCode, Diagnostic, Span};

/// Largest runbook file accepted. Real runbooks are a few KiB.
pub const MAX_BYTES: usize = 1024 * 1024;
/// Most nodes a document may expand to, aliases included.
pub const MAX_NODES: usize = 100_000;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// How a scalar was written; decides where a template's line 1 sits in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarForm {
    /// Plain or quoted: the content starts at the node's column.
    Inline,
    /// `|` or `>`: the content starts on the next line.
    Block,
    /// Not a scalar.
    Collection,
}

/// Where a node sits in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeInfo {
    pub span: Span,
    pub form: ScalarForm,
}

/// A loaded document: its value, and where each node (and each mapping key) came from.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    values: HashMap<String, NodeInfo, Fast>,
    keys: HashMap<String, Span, Fast>,
}

impl SourceMap {
    /// The node at `pointer`, or the nearest enclosing node that has a place.
    pub fn value(&self, pointer: &str) -> Option<NodeInfo> {
        let mut p = pointer;
        loop {
            if let Some(info) = self.values.get(p) {
                return Some(*info);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }

    /// The span of the node at `pointer` (or of its nearest ancestor).
    pub fn span(&self, pointer: &str) -> Option<Span> {
        self.value(pointer).map(|i| i.span)
    }

    /// The span of the key whose value is at `pointer`, falling back to the value's.
    pub fn key_span(&self, pointer: &str) -> Option<Span> {
        self.keys
            .get(pointer)
            .copied()
            .or_else(|| self.span(pointer))
    }
}

/// Escapes one JSON pointer segment.
pub fn escape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    push_escaped(&mut out, segment);
    out
}

/// `pointer/segment`, the segment escaped.
fn child(pointer: &str, segment: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + 1 + segment.len());
    out.push_str(pointer);
    out.push('/');
    push_escaped(&mut out, segment);
    out
}

fn push_escaped(out: &mut String, segment: &str) {
    if !segment.contains(['~', '/']) {
        out.push_str(segment);
        return;
    }
    for c in segment.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// Reads `bytes` as a UTF-8 YAML runbook. Errors are diagnostics for `file`.
pub fn load(file: &str, bytes: &[u8]) -> Result<(Value, SourceMap), Vec<Diagnostic>> {
    if bytes.len() > MAX_BYTES {
        return Err(vec![
            Diagnostic::error(
                file,
                None,
                DiagCode::FileTooLarge,
                format!("the file is larger than {MAX_BYTES} bytes, the limit for a runbook"),
            )
            .hint("split it into several runbooks; a runbook this large is not reviewable"),
        ]);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            // The valid prefix is UTF-8 by construction.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            let line = prefix.matches('\n').count() + 1;
            let column = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            return Err(vec![
                Diagnostic::error(
                    file,
                    Some(Span::new(line, column, 1)),
                    DiagCode::NotUtf8,
                    format!(
                        "the file is not valid UTF-8 (byte {} is invalid)",
                        e.valid_up_to()
                    ),
                )
                .hint("save the file as UTF-8"),
            ]);
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(vec![
            Diagnostic::error(
                file,
                Some(Span::new(1, 1, 1)),
                DiagCode::Empty,
                "the file is empty",
            )
            .hint("a runbook needs at least `version: 1`, `name`, `title` and `steps`"),
        ]);
    }
    Builder::new(file).run(text)
}

enum Frame {
    Seq {
        items: Vec<Value>,
        pointer: String,
        anchor: usize,
        start: usize,
    },
    Map {
        map: Map<String, Value>,
        pointer: String,
        anchor: usize,
        start: usize,
        /// The pending key, and the pointer of its value (made once, for the key's place and
        /// the value's).
        key: Option<(String, String)>,
    },
}

struct Builder<'f> {
    file: &'f str,
    stack: Vec<Frame>,
    map: SourceMap,
    /// Anchored values with their node counts (for the expansion budget).
    anchors: HashMap<usize, (Value, usize)>,
    nodes: usize,
    root: Option<Value>,
    documents: usize,
}

impl<'f> Builder<'f> {
    fn new(file: &'f str) -> Self {
        Builder {
            file,
            stack: Vec::new(),
            map: SourceMap::default(),
            anchors: HashMap::new(),
            nodes: 0,
            root: None,
            documents: 0,
        }
    }

    fn err(&self, span: YSpan, code: DiagCode, msg: impl Into<String>) -> Vec<Diagnostic> {
        vec![Diagnostic::error(self.file, Some(to_span(span)), code, msg)]
    }

    fn run(mut self, text: &str) -> Result<(Value, SourceMap), Vec<Diagnostic>> {
        let mut parser = Parser::new_from_str(text);
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| vec![self.syntax_error(text, &e)])?;
            self.event(event, span)?;
        }
        match self.root {
            Some(Value::Null) | None => Err(vec![
                Diagnostic::error(
                    self.file,
                    Some(Span::new(1, 1, 1)),
                    DiagCode::Empty,
                    "the file holds no runbook",
                )
                .hint("a runbook needs at least `version: 1`, `name`, `title` and `steps`"),
            ]),
            Some(v) => Ok((v, self.map)),
        }
    }

    /// A YAML syntax error, placed where a person would look (the tab, not the token before it).
    fn syntax_error(&self, text: &str, e: &saphyr_parser::ScanError) -> Diagnostic {
        let m = e.marker();
        let mut place = Span::new(m.line(), m.col() + 1, 1);
        // Match whole words: "unprintable" must not read as a tab problem.
        let about_tabs = e
            .info()
            .split(|c: char| !c.is_ascii_alphabetic())
            .any(|w| w == "tab" || w == "tabs");
        // The scanner reports a tab at the start of the token it was reading, which is
        // often the line above the tab; point at the first indenting tab instead.
        let tab = text
            .lines()
            .enumerate()
            .skip(m.line().saturating_sub(1))
            .take(3)
            .find_map(|(i, l)| {
                let indent = &l[..l.len() - l.trim_start().len()];
                indent
                    .find('\t')
                    .map(|col| Span::new(i + 1, indent[..col].chars().count() + 1, 1))
            });
        if about_tabs && let Some(t) = tab {
            place = t;
        }
        let mut d = Diagnostic::error(
            self.file,
            Some(place),
            DiagCode::YamlSyntax,
            format!("invalid YAML: {}", e.info()),
        );
        if about_tabs || tab.is_some_and(|t| t.line == m.line()) {
            d = d.hint("YAML does not allow tabs for indentation; indent with spaces");
        }
        if e.info().contains("mapping values are not allowed") {
            d = d.hint("`: ` inside a plain value starts a mapping; quote the whole value, or write it as a `|` block");
        }
        d
    }

    fn event(&mut self, event: Event<'_>, span: YSpan) -> Result<(), Vec<Diagnostic>> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(self.err(span, DiagCode::MultipleDocuments, "the file holds more than one YAML document")
                        .into_iter()
                        .map(|d| d.hint("a runbook file holds exactly one runbook; remove the `---` separator and what follows, or split the file"))
                        .collect());
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                let v = resolve_scalar(&value, style, tag.as_deref())
                    .map_err(|m| self.err(span, DiagCode::YamlValue, m))?;
                let form = match style {
                    ScalarStyle::Literal | ScalarStyle::Folded => ScalarForm::Block,
                    _ => ScalarForm::Inline,
                };
                self.leaf(v, 1, anchor, span, form)?;
            }
            Event::Alias(id) => {
                let Some((v, count)) = self.anchors.get(&id).cloned() else {
                    return Err(self.err(span, DiagCode::YamlAlias, "alias to an unknown anchor"));
                };
                self.leaf(v, count, 0, span, ScalarForm::Collection)?;
            }
            Event::SequenceStart(anchor, _) => self.open(span, anchor, true)?,
            Event::MappingStart(anchor, _) => self.open(span, anchor, false)?,
            Event::SequenceEnd | Event::MappingEnd => self.close(span)?,
            _ => {}
        }
        Ok(())
    }

    /// A sequence or mapping starts.
    fn open(&mut self, span: YSpan, anchor: usize, seq: bool) -> Result<(), Vec<Diagnostic>> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.err(
                span,
                DiagCode::TooDeep,
                format!("nesting is deeper than {MAX_DEPTH} levels"),
            ));
        }
        let pointer = self.child_pointer(span)?;
        self.map.values.insert(
            pointer.clone(),
            NodeInfo {
                span: to_span(span),
                form: ScalarForm::Collection,
            },
        );
        self.count(1, span)?;
        let start = self.nodes;
        self.stack.push(if seq {
            Frame::Seq {
                items: Vec::new(),
                pointer,
                anchor,
                start,
            }
        } else {
            Frame::Map {
                map: Map::new(),
                pointer,
                anchor,
                start,
                key: None,
            }
        });
        Ok(())
    }

    /// A sequence or mapping ends: it becomes a value of its parent (and an anchor's target).
    fn close(&mut self, span: YSpan) -> Result<(), Vec<Diagnostic>> {
        let (value, anchor, start) = match self.stack.pop() {
            Some(Frame::Seq {
                items,
                anchor,
                start,
                ..
            }) => (Value::Array(items), anchor, start),
            Some(Frame::Map {
                map, anchor, start, ..
            }) => (Value::Object(map), anchor, start),
            None => {
                return Err(self.err(span, DiagCode::YamlSyntax, "unbalanced collection"));
            }
        };
        let count = self.nodes - start + 1;
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), count));
        }
        self.attach(value, span)
    }

    fn count(&mut self, n: usize, span: YSpan) -> Result<(), Vec<Diagnostic>> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(self
                .err(
                    span,
                    DiagCode::TooManyNodes,
                    format!("the document expands to more than {MAX_NODES} nodes"),
                )
                .into_iter()
                .map(|d| {
                    d.hint(
                        "this is what a YAML alias bomb looks like; use fewer anchors and aliases",
                    )
                })
                .collect());
        }
        Ok(())
    }

    /// The pointer of the node about to be added to the current collection.
    fn child_pointer(&mut self, span: YSpan) -> Result<String, Vec<Diagnostic>> {
        match self.stack.last() {
            None => Ok(String::new()),
            Some(Frame::Seq { items, pointer, .. }) => Ok(format!("{pointer}/{}", items.len())),
            Some(Frame::Map {
                key: Some((_, at)), ..
            }) => Ok(at.clone()),
            Some(Frame::Map { key: None, .. }) => Err(self
                .err(
                    span,
                    DiagCode::YamlKey,
                    "a mapping key must be a plain string, not a list or mapping",
                )
                .into_iter()
                .collect()),
        }
    }

    fn leaf(
        &mut self,
        v: Value,
        count: usize,
        anchor: usize,
        span: YSpan,
        form: ScalarForm,
    ) -> Result<(), Vec<Diagnostic>> {
        self.count(count, span)?;
        // A scalar in key position becomes the pending key.
        if let Some(Frame::Map {
            map, pointer, key, ..
        }) = self.stack.last_mut()
            && key.is_none()
        {
            let k = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => String::new(),
                _ => {
                    return Err(self.err(
                        span,
                        DiagCode::YamlKey,
                        "a mapping key must be a plain string",
                    ));
                }
            };
            let at = child(pointer, &k);
            if map.contains_key(&k) {
                let first = self.map.keys.get(&at).copied();
                let mut d = Diagnostic::error(
                    self.file,
                    Some(to_span(span)),
                    DiagCode::DuplicateKey,
                    format!("duplicate key `{k}`"),
                );
                if let Some(f) = first {
                    d = d.hint(format!(
                        "`{k}` is first set on line {}; keep one of them",
                        f.line
                    ));
                }
                return Err(vec![d]);
            }
            self.map.keys.insert(at.clone(), to_span(span));
            *key = Some((k, at));
            return Ok(());
        }
        let pointer = self.child_pointer(span)?;
        self.map.values.insert(
            pointer,
            NodeInfo {
                span: to_span(span),
                form,
            },
        );
        if anchor != 0 {
            self.anchors.insert(anchor, (v.clone(), count));
        }
        self.attach(v, span)
    }

    fn attach(&mut self, v: Value, span: YSpan) -> Result<(), Vec<Diagnostic>> {
        match self.stack.last_mut() {
            None => self.root = Some(v),
            Some(Frame::Seq { items, .. }) => items.push(v),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                Some((k, _)) => {
                    map.insert(k, v);
                }
                None => {
                    return Err(self.err(
                        span,
                        DiagCode::YamlKey,
                        "a mapping key must be a plain string, not a list or mapping",
                    ));
                }
            },
        }
        Ok(())
    }
}

fn to_span(s: YSpan) -> Span {
    let len = if s.end.line() == s.start.line() {
        s.end.col().saturating_sub(s.start.col()).max(1)
    } else {
        1
    };
    Span::new(s.start.line(), s.start.col() + 1, len)
}

/// Resolves a scalar by the YAML 1.2 core schema (so `yes` and `on` stay strings).
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Result<Value, String> {
    match tag {
        Some("!!str") | Some("tag:yaml.org,2002:str") => return Ok(Value::String(text.into())),
        Some(t) if !matches!(t, "!!int" | "!!bool" | "!!null" | "!!float" | "!") => {
            return Err(format!(
                "unsupported YAML tag `{t}`; runbooks use plain values"
            ));
        }
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(text.into()));
    }
    Ok(match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "-.inf" | ".nan" | ".NaN" | ".NAN" => {
            return Err(format!(
                "`{text}` is not a finite number; quote it if it is meant as text"
            ));
        }
        _ => {
            if let Some(n) = parse_int(text) {
                Value::Number(n.into())
            } else if looks_float(text) {
                match text.parse::<f64>().ok().and_then(Number::from_f64) {
                    Some(n) => Value::Number(n),
                    None => Value::String(text.into()),
                }
            } else {
                Value::String(text.into())
            }
        }
    })
}

fn parse_int(t: &str) -> Option<i64> {
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let v = if let Some(h) = digits.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = digits.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

fn looks_float(t: &str) -> bool {
    let t = t.trim_start_matches(['-', '+']);
    !t.is_empty()
        && t.bytes().any(|b| b.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && t.contains(['.', 'e', 'E'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> (Value, SourceMap) {
        load("t.yaml", src.as_bytes()).expect("loads")
    }

    fn err(src: &str) -> Diagnostic {
        load("t.yaml", src.as_bytes()).expect_err("fails").remove(0)
    }

    #[test]
    fn records_places_of_values_and_keys() {
        let (v, map) = ok("a: 1\nsteps:\n  - id: x\n    run: echo hi\n");
        assert_eq!(v["steps"][0]["run"], "echo hi");
        assert_eq!(map.span("/steps/0/run"), Some(Span::new(4, 10, 7)));
        assert_eq!(map.key_span("/steps/0/run"), Some(Span::new(4, 5, 3)));
        // Unknown pointers fall back to the nearest ancestor.
        assert_eq!(map.span("/steps/0/nope").map(|s| s.line), Some(3));
    }

    #[test]
    fn core_schema_scalars() {
        let (v, _) = ok("a: yes\nb: true\nc: 12\nd: '12'\ne: ~\nf: 1.5\ng: 0x1f\n");
        assert_eq!(v["a"], "yes");
        assert_eq!(v["b"], true);
        assert_eq!(v["c"], 12);
        assert_eq!(v["d"], "12");
        assert_eq!(v["e"], Value::Null);
        assert_eq!(v["f"], 1.5);
        assert_eq!(v["g"], 31);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let d = err("a: 1\nb: 2\na: 3\n");
        assert_eq!((d.code, d.span.unwrap().line), (DiagCode::DuplicateKey, 3));
        assert!(d.hints[0].contains("line 1"));
    }

    #[test]
    fn aliases_expand_within_budget() {
        let (v, _) = ok("base: &b {x: 1}\nother: *b\n");
        assert_eq!(v["other"]["x"], 1);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            s += &format!("a{i}: &a{i} [{}]\n", [prev.as_str(); 10].join(", "));
        }
        assert_eq!(err(&s).code, DiagCode::TooManyNodes);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = "[".repeat(10_000);
        let d = err(&s);
        assert!(
            d.code == DiagCode::TooDeep || d.code == DiagCode::YamlSyntax,
            "{}",
            d.code
        );
    }

    #[test]
    fn invalid_utf8_is_located() {
        let d = load("t.yaml", b"a: 1\nb: \xff\n").unwrap_err().remove(0);
        assert_eq!(
            (d.code, d.span.unwrap().line, d.span.unwrap().column),
            (DiagCode::NotUtf8, 2, 4)
        );
    }

    #[test]
    fn second_document_is_refused() {
        assert_eq!(err("a: 1\n---\nb: 2\n").code, DiagCode::MultipleDocuments);
    }
}
