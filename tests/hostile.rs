//! Hostile input stays data: a corpus of values an attacker would pass, through the real binary,
//! in every place a template can stand. Each value is refused, or arrives as exactly one intact
//! argument; no second command runs; no raw control byte from a value reaches the terminal.

mod common;

use common::binary::Sandbox;

/// At least 50 values: quotes, substitutions, separators, newlines, CR, NUL, globs, `~`, leading
/// `-`, bidi overrides, terminal escapes, template syntax, and 100 kB.
fn corpus() -> Vec<String> {
    let mut v: Vec<String> = [
        "'", "\"", "''", "a'b", "a\"b", "$(touch pwned)", "`touch pwned`", "; touch pwned",
        "&& touch pwned", "| touch pwned", "|| touch pwned", "\ntouch pwned", "x\ntouch pwned\n",
        "\r  $ echo harmless", "a\rb", "x\0y", "\0", "*", "?", "[a-z]*", "~", "~root", "~/x",
        "-rf", "--help", "-", "--", "-n", "-e \\x41", "\u{202e}txt.exe", "\u{2066}x\u{2069}",
        "\u{1b}[31mred\u{1b}[0m", "\u{1b}]0;pwned\u{7}", "\u{1b}[2J\u{1b}[H", "\u{1b}[1A\u{1b}[K",
        "\u{9b}2J", "\u{7}", "\u{8}\u{8}\u{8}", "$HOME", "${HOME}", "$((1+1))", "!!", "!$",
        "#comment", "a b  c", " ", "", "\t", "{a,b}", "a=b", "PATH=/nowhere",
        "'; touch pwned; '", "\"; touch pwned; \"", "$'\\x41'", "\\", "\\n", "}}{{", "{{ v }}",
        "{% raw %}", "%s%n", "../../etc/passwd", "<(touch pwned)", "> pwned", "2>&1",
        "ü€😀", "\u{feff}bom", "\u{7f}del",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut big = "A".repeat(50_000);
    big.push_str("$(touch pwned)'\"`;\n\u{1b}[2J");
    big.push_str(&"B".repeat(50_000));
    v.push(big);
    v
}

/// `value` as a YAML double-quoted scalar, every non-printable or non-ASCII character escaped.
fn yaml_quote(value: &str) -> String {
    let mut s = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            ' '..='~' => s.push(c),
            c if (c as u32) < 0x10000 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    s.push('"');
    s
}

/// One step per place a value may stand: each writes the argv it got, NUL-separated, to a file.
const RUNBOOK: &str = r#"version: 1
name: t
title: hostile values
params:
  v: {allow_leading_dash: true}
steps:
  - id: word
    title: "Word {{ v }}"
    read_only: true
    run: printf '%s\0' {{ v }} > argv-word
  - id: inside
    read_only: true
    run: printf '%s\0' pre{{ v }}post > argv-inside
  - id: after-dashes
    read_only: true
    run: printf '%s\0' -- > argv-dashes && printf '%s\0' {{ v }} >> argv-dashes
  - id: assign
    read_only: true
    run: |
      x={{ v }}
      printf '%s\0' "$x" > argv-assign
  - id: nested
    read_only: true
    run: printf '%s\0' "$(printf '%s' {{ v }}; echo .)" > argv-nested
  - id: shown
    read_only: true
    run: printf '%s\n' {{ v }}
  - id: say
    kind: message
    text: "Message {{ v }}"
  - id: change
    title: "Change {{ v }}"
    run: printf '%s\0' {{ v }} > argv-change
"#;

/// The argv files each step writes, with what each must hold for value `v`.
fn expected(v: &str) -> Vec<(&'static str, Vec<u8>)> {
    let nul = |parts: &[&str]| -> Vec<u8> {
        parts
            .iter()
            .flat_map(|p| p.bytes().chain(std::iter::once(0)))
            .collect()
    };
    // `$( )` drops trailing newlines; the `.` after the value keeps them.
    vec![
        ("argv-word", nul(&[v])),
        ("argv-inside", nul(&[&format!("pre{v}post")])),
        ("argv-dashes", nul(&["--", v])),
        ("argv-assign", nul(&[v])),
        ("argv-nested", nul(&[&format!("{v}.")])),
        ("argv-change", nul(&[v])),
    ]
}

/// Bytes a terminal would act on: C0 controls other than newline and tab, DEL, C1, bidi
/// overrides and isolates. SGR colour sequences of the step's own output are allowed.
fn raw_controls(text: &str) -> Vec<char> {
    let sgr = regex::Regex::new("\u{1b}\\[[0-9;:]*m").unwrap();
    let text = sgr.replace_all(text, "");
    text.chars()
        .filter(|&c| {
            let u = c as u32;
            (u < 0x20 && c != '\n' && c != '\t')
                || (0x7f..=0x9f).contains(&u)
                || (0x202a..=0x202e).contains(&u)
                || (0x2066..=0x2069).contains(&u)
        })
        .collect()
}

#[test]
fn every_value_is_refused_or_arrives_as_one_intact_argument() {
    let values = corpus();
    assert!(values.len() >= 50, "{} values", values.len());
    for v in &values {
        let d = Sandbox::with_runbook(RUNBOOK);
        d.write("p.yaml", &format!("v: {}\n", yaml_quote(v)));
        let out = d.run(&[
            "run", "t.yaml", "--yes", "--params-file", "p.yaml", "--transcript", "t.jsonl",
        ]);
        let shown: String = format!("{:?}", v.chars().take(40).collect::<String>());
        assert!(!d.path("pwned").exists(), "{shown}: a second command ran");
        let terminal = String::from_utf8_lossy(&out.stdout_bytes).to_string() + &out.stderr;
        let raw = raw_controls(&terminal);
        assert!(raw.is_empty(), "{shown}: raw control characters {raw:?} on the terminal");
        if v.contains('\0') {
            // No argument can hold a NUL: refused before any step writes anything.
            assert_ne!(out.code, Some(0), "{shown}");
            assert!(!d.path("argv-word").exists(), "{shown}");
            continue;
        }
        assert_eq!(out.code, Some(0), "{shown}: {}", out.stderr);
        for (file, want) in expected(v) {
            let got = std::fs::read(d.path(file)).unwrap_or_default();
            assert!(got == want, "{shown}: {file} holds {:?}", String::from_utf8_lossy(&got));
        }
    }
}

#[test]
fn a_leading_dash_is_refused_where_it_would_be_an_option_before_anything_runs() {
    let d = Sandbox::with_runbook(
        "version: 1\nname: t\ntitle: t\nparams:\n  dir: {}\nsteps:\n  - id: clean\n    run: find {{ dir }} -name '*.old' -delete\n",
    );
    d.write("keep.old", "x");
    let out = d.run(&["run", "t.yaml", "--yes", "-p", "dir=-delete"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("begins with `-`"), "{}", out.stderr);
    assert!(out.stderr.contains("allow_leading_dash"), "{}", out.stderr);
    assert!(d.path("keep.old").exists(), "nothing may run");
}

/// Every context where rb's quoting cannot keep a value one literal is refused by validation.
#[test]
fn every_unsafe_place_is_refused_by_validation() {
    let places = [
        ("echo 'pre {{ v }} post'", "quoted-template"),
        ("echo \"pre {{ v }} post\"", "quoted-template"),
        ("echo $'{{ v }}'", "quoted-template"),
        ("cat <<EOF\n      {{ v }}\n      EOF", "template-context"),
        ("cat <<'EOF'\n      {{ v }}\n      EOF", "template-context"),
        ("bash -c \"echo {{ v }}\"", "shell-code-template"),
        ("bash -c 'echo {{ v }}'", "shell-code-template"),
        ("sh -c {{ v }}", "shell-code-template"),
        ("eval echo {{ v }}", "shell-code-template"),
        ("echo `echo {{ v }}`", "shell-code-template"),
        ("echo $(( {{ v }} + 1 ))", "template-context"),
        ("echo ${x:-{{ v }}}", "template-context"),
        ("cat <<< {{ v }}", "template-context"),
        ("case a in {{ v }}) echo;; esac", "template-context"),
        ("echo a # {{ v }}", "template-context"),
        ("echo \\{{ v }}", "template-context"),
        ("echo ${{ v }}", "template-context"),
    ];
    for (run, code) in places {
        for key in ["run", "rollback"] {
            let step = if key == "run" {
                format!("    run: |\n      {run}\n")
            } else {
                format!("    run: \"true\"\n    rollback: |\n      {run}\n")
            };
            let d = Sandbox::with_runbook(&format!(
                "version: 1\nname: t\ntitle: t\nparams:\n  v: {{}}\nsteps:\n  - id: a\n{step}"
            ));
            let out = d.run(&["validate", "t.yaml"]);
            assert_ne!(out.code, Some(0), "{key}: {run}");
            let all = out.stdout.clone() + &out.stderr;
            assert!(all.contains(&format!("[{code}]")), "{key}: {run}: {all}");
        }
    }
}
