//! The shell context of every `{{ }}` in a `run:` or `rollback:` template.
//!
//! rb shell-quotes each interpolated value, which keeps it one literal argument only where the
//! shell reads a plain word: quotes the author wrote, a heredoc, the script of `bash -c`, an
//! arithmetic expression and the like would read rb's quotes as data or the value as code. This
//! module lexes the command as a POSIX shell/bash does (quotes, `$'…'`, `$( )`, backticks,
//! `$(( ))`, `${ }`, heredocs, here-strings, `case` patterns, comments, assignments) and reports
//! where each `{{ }}` stands, so validation can refuse every place but the safe ones.

/// Where a `{{ }}` stands in a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// An unquoted word (or part of one): rb's quoting makes the value one literal.
    Word,
    /// The value of an assignment `name={{ v }}`: also one literal.
    Assignment,
    /// Inside `'…'`.
    SingleQuotes,
    /// Inside `"…"` or `$"…"`.
    DoubleQuotes,
    /// Inside `$'…'`.
    AnsiC,
    /// In the body of a heredoc; `quoted` when its delimiter was quoted.
    Heredoc { quoted: bool },
    /// In the delimiter word of a heredoc.
    HeredocDelimiter,
    /// In the script argument of `bash -c` (or `sh -c`, `su -c`, …), quoted or not.
    ShellScript { shell: String },
    /// An argument of `eval`, which runs its arguments as code.
    Eval,
    /// Inside backticks.
    Backticks,
    /// Inside `$(( ))` or `(( ))`.
    Arithmetic,
    /// Inside `${ }`.
    ParamExpansion,
    /// The word of a here-string `<<<`.
    HereString,
    /// A pattern of a `case` item.
    CasePattern,
    /// Inside a `#` comment.
    Comment,
    /// Right after a backslash, which would escape rb's opening quote.
    Escaped,
    /// Right after `$`, which would turn rb's quotes into `$'…'`.
    AfterDollar,
}

impl Place {
    /// Whether rb's quoting keeps the value one literal argument here.
    pub fn is_safe(&self) -> bool {
        matches!(self, Place::Word | Place::Assignment)
    }

    /// The context in words, for diagnostics.
    pub fn describe(&self) -> String {
        match self {
            Place::Word => "a plain word".into(),
            Place::Assignment => "an assignment".into(),
            Place::SingleQuotes => "single quotes `'…'`".into(),
            Place::DoubleQuotes => "double quotes `\"…\"`".into(),
            Place::AnsiC => "`$'…'` quotes".into(),
            Place::Heredoc { quoted: true } => "the body of a quoted heredoc".into(),
            Place::Heredoc { quoted: false } => "the body of a heredoc".into(),
            Place::HeredocDelimiter => "the delimiter of a heredoc".into(),
            Place::ShellScript { shell } => format!("the script string of `{shell} -c`"),
            Place::Eval => "an argument of `eval`".into(),
            Place::Backticks => "backticks".into(),
            Place::Arithmetic => "an arithmetic expression `$(( ))`".into(),
            Place::ParamExpansion => "a parameter expansion `${ }`".into(),
            Place::HereString => "a here-string `<<<`".into(),
            Place::CasePattern => "a `case` pattern".into(),
            Place::Comment => "a `#` comment".into(),
            Place::Escaped => "a backslash escape".into(),
            Place::AfterDollar => "a `$` expansion".into(),
        }
    }
}

/// One `{{ }}` of a command template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolation {
    /// The expression between the braces, trimmed.
    pub expr: String,
    /// Whether the author opted out of quoting (`|raw` or `|safe`).
    pub raw: bool,
    /// The line of the template it starts on (1-based).
    pub line: usize,
    /// Where it stands.
    pub place: Place,
    /// It begins a word (so a value starting with `-` would read as an option).
    pub word_start: bool,
    /// A `--` word comes earlier in its simple command (options have ended).
    pub after_double_dash: bool,
}

/// Every `{{ }}` of `src`, in order, with its shell context. A template whose braces do not close
/// gives what could be read (the template check reports the syntax error).
pub fn interpolations(src: &str) -> Vec<Interpolation> {
    let (shell, exprs) = mask_template(src);
    let mut lx = Lexer::new(&shell, exprs.len());
    lx.list(End::Eof);
    exprs
        .into_iter()
        .zip(lx.found)
        .map(|((expr, line), found)| {
            let (place, word_start, after_double_dash) =
                found.unwrap_or((Place::Escaped, false, false));
            let raw = is_raw(&expr);
            Interpolation {
                expr,
                raw,
                line,
                place,
                word_start,
                after_double_dash,
            }
        })
        .collect()
}

/// `|raw` (rb's opt-out) or `|safe` (minijinja's, same effect) anywhere in the expression.
fn is_raw(expr: &str) -> bool {
    let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    ["|raw", "|safe"].iter().any(|f| {
        compact.match_indices(f).any(|(i, _)| {
            !compact[i + f.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

const SENTINEL_BASE: u32 = 0xF0000;

/// The template with each `{{ }}` replaced by one private-use character (its index), `{% %}`
/// tags and `{## ##}` comments removed; and each expression with its line.
fn mask_template(src: &str) -> (Vec<char>, Vec<(String, usize)>) {
    let mut out = Vec::with_capacity(src.len());
    let mut exprs = Vec::new();
    let mut rest = src;
    let mut line = 1;
    loop {
        let next = next_open(rest);
        let Some((at, open)) = next else {
            out.extend(rest.chars());
            break;
        };
        out.extend(rest[..at].chars());
        line += rest[..at].matches('\n').count();
        let close = match open {
            "{{" => "}}",
            "{%" => "%}",
            _ => "##}",
        };
        let body_start = at + open.len();
        let Some(len) = find_close(&rest[body_start..], close) else {
            break;
        };
        let body = &rest[body_start..body_start + len];
        if open == "{{" {
            let expr = body.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
            let idx = u32::try_from(exprs.len()).unwrap_or(u32::MAX);
            out.push(char::from_u32(SENTINEL_BASE + idx.min(0xFFFD)).unwrap_or('\u{FFFD}'));
            exprs.push((expr.to_string(), line));
        }
        line += body.matches('\n').count();
        rest = &rest[body_start + len + close.len()..];
    }
    (out, exprs)
}

/// The first `{{`, `{%` or `{##` in `text`, and which: one pass over the text (searching for
/// each opener in turn rescanned the rest of a long command once per template in it).
fn next_open(text: &str) -> Option<(usize, &'static str)> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find('{').map(|i| from + i) {
        match bytes.get(i + 1..) {
            Some([b'{', ..]) => return Some((i, "{{")),
            Some([b'%', ..]) => return Some((i, "{%")),
            Some([b'#', b'#', ..]) => return Some((i, "{##")),
            _ => from = i + 1,
        }
    }
    None
}

/// Where `close` ends a tag body, skipping string literals in it.
fn find_close(body: &str, close: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if body[i..].starts_with(close) => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

fn sentinel(c: char) -> Option<usize> {
    let v = c as u32;
    (SENTINEL_BASE..SENTINEL_BASE + 0xFFFE)
        .contains(&v)
        .then(|| (v - SENTINEL_BASE) as usize)
}

/// What ends a command list being lexed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Eof,
    /// `)` of `$( )`, `<( )` or a subshell.
    Paren,
}

/// What the next word of a simple command is, from the words before it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Role {
    Normal,
    HereString,
    HeredocDelimiter { strip_tabs: bool },
    ShellScript(String),
}

/// `case` parsing state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    Subject,
    In,
    Patterns,
    Body,
}

/// The state of one simple command.
#[derive(Default)]
struct Command {
    /// Words so far, as literal text (quotes removed, values left out).
    words: Vec<String>,
    /// Only assignments so far (the next word is in command position).
    in_prefix: bool,
    double_dash: bool,
    /// A shell was named (`bash`), and maybe its `-c` seen.
    shell: Option<String>,
    shell_c: bool,
    /// `-o`/`+o` of a shell: its next word is an option name.
    skip_next: bool,
    eval: bool,
}

/// The word being read.
#[derive(Default)]
struct Word {
    text: String,
    started: bool,
    assignment: bool,
    /// Some of it was quoted or escaped (a quoted heredoc delimiter).
    quoted: bool,
    /// Interpolations in this word, by index.
    values: Vec<usize>,
}

struct Lexer<'a> {
    s: &'a [char],
    i: usize,
    found: Vec<Option<(Place, bool, bool)>>,
    heredocs: Vec<(String, bool, bool)>,
    cmd: Command,
    word: Word,
    role: Role,
    case: Vec<Case>,
}

const SHELLS: &[&str] = &[
    "bash", "sh", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "su",
];
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "time",
    "exec", "sudo", "env", "nohup", "nice", "timeout", "command", "builtin",
];

impl<'a> Lexer<'a> {
    fn new(s: &'a [char], n: usize) -> Self {
        Lexer {
            s,
            i: 0,
            found: vec![None; n],
            heredocs: Vec::new(),
            cmd: Command {
                in_prefix: true,
                ..Command::default()
            },
            word: Word::default(),
            role: Role::Normal,
            case: Vec::new(),
        }
    }

    fn peek(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn at(&self, text: &str) -> bool {
        text.chars()
            .enumerate()
            .all(|(k, c)| self.peek(k) == Some(c))
    }

    fn mark(&mut self, idx: usize, place: Place) {
        if let Some(slot) = self.found.get_mut(idx)
            && slot.is_none()
        {
            let start = !self.word.started;
            *slot = Some((place, start, self.cmd.double_dash));
        }
    }

    /// A value met inside some quoted or nested context: the script of `bash -c` or `eval` wins,
    /// since that is what turns it into code.
    fn mark_in(&mut self, idx: usize, place: Place) {
        let place = match (&self.role, self.cmd.eval) {
            (Role::ShellScript(sh), _) => Place::ShellScript { shell: sh.clone() },
            (_, true) => Place::Eval,
            _ => place,
        };
        self.mark(idx, place);
    }

    /// Marks every value in `from..self.i` as `place`.
    fn mark_span(&mut self, from: usize, place: &Place) {
        for k in from..self.i.min(self.s.len()) {
            if let Some(idx) = sentinel(self.s[k]) {
                self.mark_in(idx, place.clone());
            }
        }
    }

    /// A command list until `end`.
    fn list(&mut self, end: End) {
        while let Some(c) = self.peek(0) {
            if end == End::Paren && c == ')' && self.case.last() != Some(&Case::Patterns) {
                self.end_word();
                self.end_command();
                self.i += 1;
                return;
            }
            self.token(c);
        }
        self.end_word();
    }

    fn token(&mut self, c: char) {
        match c {
            ' ' | '\t' => {
                self.end_word();
                self.i += 1;
            }
            '\n' => {
                self.end_word();
                self.end_command();
                self.i += 1;
                self.heredoc_bodies();
            }
            '#' if !self.word.started => self.comment(),
            ';' | '&' | '|' | '<' | '>' | '(' | ')' => self.operator(c),
            _ => self.word_char(c),
        }
    }

    fn comment(&mut self) {
        let from = self.i;
        while self.peek(0).is_some_and(|c| c != '\n') {
            self.i += 1;
        }
        self.mark_span(from, &Place::Comment);
    }

    fn operator(&mut self, c: char) {
        // `<(` and `>(` are process substitutions: part of a word, a nested list.
        if (c == '<' || c == '>') && self.peek(1) == Some('(') {
            self.word.started = true;
            self.i += 2;
            self.nested_list();
            return;
        }
        self.end_word();
        if self.case.last() == Some(&Case::Patterns) {
            match c {
                ')' => {
                    *self.case.last_mut().expect("in a case") = Case::Body;
                    self.end_command();
                }
                '(' | '|' => {}
                _ => {}
            }
            self.i += 1;
            return;
        }
        if self.at("<<<") {
            self.i += 3;
            self.role = Role::HereString;
            return;
        }
        if self.at("<<") {
            self.i += 2;
            let strip_tabs = self.peek(0) == Some('-');
            if strip_tabs {
                self.i += 1;
            }
            self.role = Role::HeredocDelimiter { strip_tabs };
            return;
        }
        if c == '(' && self.at("((") && self.cmd.words.is_empty() {
            self.i += 2;
            let from = self.i;
            self.skip_arithmetic();
            self.mark_span(from, &Place::Arithmetic);
            return;
        }
        if c == ';' && self.at(";;") && self.case.last() == Some(&Case::Body) {
            *self.case.last_mut().expect("in a case") = Case::Patterns;
            self.i += if self.at(";;&") { 3 } else { 2 };
            self.end_command();
            return;
        }
        if c == ';' && self.at(";&") && self.case.last() == Some(&Case::Body) {
            *self.case.last_mut().expect("in a case") = Case::Patterns;
            self.i += 2;
            self.end_command();
            return;
        }
        self.i += 1;
        match c {
            '(' => {
                self.end_command();
                self.nested_list();
            }
            '<' | '>' => {
                // A redirection target is a plain word; `>&2` and `>|` need nothing more.
                while matches!(self.peek(0), Some('&' | '|' | '>')) {
                    self.i += 1;
                }
            }
            _ => self.end_command(),
        }
    }

    /// A nested command list (`$( )`, `<( )`, a subshell): its own commands, then back.
    fn nested_list(&mut self) {
        let saved_cmd = std::mem::replace(
            &mut self.cmd,
            Command {
                in_prefix: true,
                ..Command::default()
            },
        );
        let saved_word = std::mem::take(&mut self.word);
        let saved_role = std::mem::replace(&mut self.role, Role::Normal);
        let saved_case = std::mem::take(&mut self.case);
        let saved_heredocs = std::mem::take(&mut self.heredocs);
        // Inside `bash -c "$(…)"` the nested command is still part of the script.
        let in_script = matches!(saved_role, Role::ShellScript(_)) || saved_cmd.eval;
        let from = self.i;
        self.list(End::Paren);
        if in_script {
            let place = match &saved_role {
                Role::ShellScript(sh) => Place::ShellScript { shell: sh.clone() },
                _ => Place::Eval,
            };
            for k in from..self.i.min(self.s.len()) {
                if let Some(idx) = sentinel(self.s[k]) {
                    self.found[idx] = Some((place.clone(), false, false));
                }
            }
        }
        self.cmd = saved_cmd;
        self.word = saved_word;
        self.role = saved_role;
        self.case = saved_case;
        self.heredocs = saved_heredocs;
    }

    fn word_char(&mut self, c: char) {
        if let Some(idx) = sentinel(c) {
            let place = self.plain_place();
            self.mark(idx, place);
            self.word.values.push(idx);
            self.word.started = true;
            self.i += 1;
            return;
        }
        if c == '\\' && self.peek(1) == Some('\n') {
            self.i += 2;
            return;
        }
        self.word.started = true;
        if matches!(c, '\'' | '"' | '\\') {
            self.word.quoted = true;
        }
        match c {
            '\'' => {
                self.i += 1;
                let from = self.i;
                while self.peek(0).is_some_and(|c| c != '\'') {
                    self.word.text.push(self.s[self.i]);
                    self.i += 1;
                }
                self.mark_span(from, &Place::SingleQuotes);
                self.i += 1;
            }
            '"' => {
                self.i += 1;
                self.double_quoted();
            }
            '`' => {
                self.i += 1;
                let from = self.i;
                while let Some(c) = self.peek(0) {
                    if c == '\\' {
                        self.i += 2;
                        continue;
                    }
                    if c == '`' {
                        break;
                    }
                    self.i += 1;
                }
                self.mark_span(from, &Place::Backticks);
                self.i += 1;
            }
            '\\' => {
                if let Some(idx) = self.peek(1).and_then(sentinel) {
                    self.mark_in(idx, Place::Escaped);
                } else if let Some(n) = self.peek(1).filter(|n| *n != '\n') {
                    self.word.text.push(n);
                }
                self.i += 2;
            }
            '$' => self.dollar(Place::Word),
            '=' if self.cmd.in_prefix
                && is_name(&self.word.text)
                && self.word.values.is_empty() =>
            {
                self.word.assignment = true;
                self.word.text.push('=');
                self.i += 1;
            }
            _ => {
                self.word.text.push(c);
                self.i += 1;
            }
        }
    }

    /// The place of an unquoted value in the current word.
    fn plain_place(&self) -> Place {
        if self.cmd.eval {
            return Place::Eval;
        }
        match &self.role {
            Role::HereString => return Place::HereString,
            Role::HeredocDelimiter { .. } => return Place::HeredocDelimiter,
            Role::ShellScript(sh) => return Place::ShellScript { shell: sh.clone() },
            Role::Normal => {}
        }
        if self.case.last() == Some(&Case::Patterns) {
            return Place::CasePattern;
        }
        if self.word.assignment {
            Place::Assignment
        } else {
            Place::Word
        }
    }

    /// After `$`: `$'…'`, `$"…"`, `$((…))`, `$(…)`, `${…}`, or a plain `$name`.
    fn dollar(&mut self, quoted_place: Place) {
        self.i += 1;
        match self.peek(0) {
            Some('\'') if quoted_place == Place::Word => {
                self.i += 1;
                let from = self.i;
                while let Some(c) = self.peek(0) {
                    if c == '\\' {
                        self.i += 2;
                        continue;
                    }
                    if c == '\'' {
                        break;
                    }
                    self.i += 1;
                }
                self.mark_span(from, &Place::AnsiC);
                self.i += 1;
            }
            Some('"') if quoted_place == Place::Word => {
                self.i += 1;
                self.double_quoted();
            }
            Some('(') if self.peek(1) == Some('(') => {
                self.i += 2;
                let from = self.i;
                self.skip_arithmetic();
                self.mark_span(from, &Place::Arithmetic);
            }
            Some('(') => {
                self.i += 1;
                self.nested_list();
            }
            Some('{') => {
                self.i += 1;
                let from = self.i;
                self.skip_braces();
                self.mark_span(from, &Place::ParamExpansion);
            }
            Some(c) if sentinel(c).is_some() => {
                self.mark_in(sentinel(c).unwrap_or_default(), Place::AfterDollar);
                self.i += 1;
            }
            _ => self.word.text.push('$'),
        }
    }

    /// Inside `"…"` (the opening quote read).
    fn double_quoted(&mut self) {
        while let Some(c) = self.peek(0) {
            match c {
                '"' => {
                    self.i += 1;
                    return;
                }
                '\\' => {
                    if let Some(n) = self.peek(1).filter(|n| sentinel(*n).is_none()) {
                        self.word.text.push(n);
                    }
                    if let Some(idx) = self.peek(1).and_then(sentinel) {
                        self.mark_in(idx, Place::DoubleQuotes);
                    }
                    self.i += 2;
                }
                '$' => self.dollar(Place::DoubleQuotes),
                '`' => {
                    self.i += 1;
                    let from = self.i;
                    while self.peek(0).is_some_and(|c| c != '`') {
                        self.i += if self.peek(0) == Some('\\') { 2 } else { 1 };
                    }
                    self.mark_span(from, &Place::Backticks);
                    self.i += 1;
                }
                c if sentinel(c).is_some() => {
                    self.mark_in(sentinel(c).unwrap_or_default(), Place::DoubleQuotes);
                    self.i += 1;
                }
                c => {
                    self.word.text.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// To the `))` that closes an arithmetic expression (the opening read).
    fn skip_arithmetic(&mut self) {
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 && self.peek(1) == Some(')') => {
                    self.i += 2;
                    return;
                }
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.i += 1;
        }
    }

    /// To the `}` that closes `${` (the opening read).
    fn skip_braces(&mut self) {
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                '\\' => self.i += 1,
                '{' => depth += 1,
                '}' if depth == 0 => {
                    self.i += 1;
                    return;
                }
                '}' => depth -= 1,
                _ => {}
            }
            self.i += 1;
        }
    }

    /// Reads the bodies of heredocs whose operator was on the line just ended.
    fn heredoc_bodies(&mut self) {
        for (delim, quoted, strip_tabs) in std::mem::take(&mut self.heredocs) {
            loop {
                if self.i >= self.s.len() {
                    return;
                }
                let start = self.i;
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.i += 1;
                }
                let line: String = self.s[start..self.i].iter().collect();
                let line = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    &line
                };
                let done = line == delim;
                if !done {
                    self.mark_span(start, &Place::Heredoc { quoted });
                }
                if self.peek(0).is_some() {
                    self.i += 1;
                }
                if done {
                    break;
                }
            }
        }
    }

    fn end_word(&mut self) {
        if !self.word.started {
            return;
        }
        let word = std::mem::take(&mut self.word);
        let role = std::mem::replace(&mut self.role, Role::Normal);
        match role {
            Role::HeredocDelimiter { strip_tabs } => {
                self.heredocs.push((word.text, word.quoted, strip_tabs));
                return;
            }
            Role::HereString => return,
            Role::ShellScript(_) => {
                self.cmd.shell = None;
                self.cmd.shell_c = false;
            }
            Role::Normal => {}
        }
        self.command_word(word);
    }

    /// Updates the simple command with a finished word.
    fn command_word(&mut self, word: Word) {
        let text = word.text;
        match self.case.last().copied() {
            Some(Case::Subject) => {
                *self.case.last_mut().expect("in a case") = Case::In;
                return;
            }
            Some(Case::In) if text == "in" => {
                *self.case.last_mut().expect("in a case") = Case::Patterns;
                return;
            }
            Some(Case::Patterns) => {
                if text == "esac" {
                    self.case.pop();
                }
                return;
            }
            _ => {}
        }
        if self.cmd.in_prefix {
            if word.assignment {
                return;
            }
            if text == "case" && word.values.is_empty() {
                self.case.push(Case::Subject);
                return;
            }
            if text == "esac" && self.case.last() == Some(&Case::Body) {
                self.case.pop();
                return;
            }
            if KEYWORDS.contains(&text.as_str()) {
                self.note_shell(&text);
                return;
            }
            self.cmd.in_prefix = false;
            if text == "eval" {
                self.cmd.eval = true;
            }
        }
        if text == "--" {
            self.cmd.double_dash = true;
        }
        self.note_shell(&text);
        self.cmd.words.push(text);
    }

    /// Follows `bash [-opts] -c SCRIPT`: the word after the `-c` option is the script.
    fn note_shell(&mut self, text: &str) {
        let base = text.rsplit('/').next().unwrap_or(text);
        if self.cmd.skip_next {
            self.cmd.skip_next = false;
            return;
        }
        if SHELLS.contains(&base) {
            self.cmd.shell = Some(base.to_string());
            self.cmd.shell_c = false;
            return;
        }
        let Some(shell) = self.cmd.shell.clone() else {
            return;
        };
        if self.cmd.shell_c {
            return;
        }
        if text == "-o" || text == "+o" {
            self.cmd.skip_next = true;
        } else if (text.starts_with('-') || text.starts_with('+')) && text != "--" {
            if text.contains('c') && !text.starts_with("--") {
                self.cmd.shell_c = true;
                self.role = Role::ShellScript(shell);
            } else if text.ends_with('o') && !text.starts_with("--") {
                // `-euo pipefail`: the cluster's `o` takes the next word.
                self.cmd.skip_next = true;
            }
        } else if shell != "su" {
            // A non-option word: a script file; what follows are its arguments.
            self.cmd.shell = None;
        }
    }

    fn end_command(&mut self) {
        self.end_word();
        self.cmd = Command {
            in_prefix: true,
            ..Command::default()
        };
        if !matches!(self.role, Role::HeredocDelimiter { .. }) {
            self.role = Role::Normal;
        }
    }
}

/// A shell variable name (what may stand before `=` in an assignment).
fn is_name(text: &str) -> bool {
    let name = text.split('[').next().unwrap_or("").trim_end_matches('+');
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests;
