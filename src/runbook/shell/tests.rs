use super::*;

fn places(src: &str) -> Vec<Place> {
    interpolations(src).into_iter().map(|i| i.place).collect()
}

fn one(src: &str) -> Place {
    let p = places(src);
    assert_eq!(p.len(), 1, "{src}: {p:?}");
    p.into_iter().next().expect("one")
}

#[test]
fn plain_words_and_assignments_are_safe() {
    for src in [
        "rm -- {{ f }}",
        "echo pre{{ v }}post",
        "find {{ d }} -name x",
        "du -sh -- {{ m }} | sort",
        "x=$(stat -c %d -- {{ m }})",
        "echo \"$(ls {{ d }})\"",
        "diff <(ls {{ a }}) b",
        "case {{ v }} in a) echo a;; esac",
        "if [ {{ x }} = yes ]; then :; fi",
        "cmd \\\n  {{ v }}",
        "echo a # c\necho {{ v }}",
        "cat <<EOF\nbody\nEOF\necho {{ v }}",
        "bash -c 'echo \"$1\"' _ {{ v }}",
        "bash -euo pipefail -c 'echo \"$1\"' _ {{ v }}",
    ] {
        assert_eq!(one(src), Place::Word, "{src}");
    }
    for src in ["pid={{ pid }}", "a=1 b={{ v }} cmd", "env X={{ v }} cmd"] {
        assert_eq!(one(src), Place::Assignment, "{src}");
    }
}

#[test]
fn every_unsafe_context_is_found() {
    let sh = |s: &str| Place::ShellScript { shell: s.into() };
    let cases: Vec<(&str, Place)> = vec![
        ("echo 'pre {{ v }} post'", Place::SingleQuotes),
        ("echo '{{ v }}'", Place::SingleQuotes),
        ("echo \"a {{ v }} b\"", Place::DoubleQuotes),
        ("echo $\"{{ v }}\"", Place::DoubleQuotes),
        ("echo $'a{{ v }}'", Place::AnsiC),
        (
            "cat <<EOF\nhi {{ v }}\nEOF",
            Place::Heredoc { quoted: false },
        ),
        (
            "cat <<'EOF'\nhi {{ v }}\nEOF",
            Place::Heredoc { quoted: true },
        ),
        (
            "cat <<-\"EOF\"\n\thi {{ v }}\n\tEOF",
            Place::Heredoc { quoted: true },
        ),
        ("cat <<{{ v }}\nx\n", Place::HeredocDelimiter),
        ("bash -c \"echo {{ v }}\"", sh("bash")),
        ("sh -c 'echo {{ v }}'", sh("sh")),
        ("bash -c {{ v }}", sh("bash")),
        ("sudo -u x /bin/bash -lc 'x {{ v }}'", sh("bash")),
        ("su -c 'x {{ v }}' root", sh("su")),
        ("bash -c \"$(echo {{ v }})\"", sh("bash")),
        ("eval {{ v }}", Place::Eval),
        ("eval \"echo {{ v }}\"", Place::Eval),
        ("echo `echo {{ v }}`", Place::Backticks),
        ("echo \"`echo {{ v }}`\"", Place::Backticks),
        ("echo $(( {{ v }} + 1 ))", Place::Arithmetic),
        ("(( n = {{ v }} ))", Place::Arithmetic),
        ("echo ${x:-{{ v }}}", Place::ParamExpansion),
        ("echo \"${x:-{{ v }}}\"", Place::ParamExpansion),
        ("cat <<< {{ v }}", Place::HereString),
        ("case $x in {{ v }}) echo;; esac", Place::CasePattern),
        (
            "case $x in\n  a) echo;;\n  {{ v }}|b) echo;;\nesac",
            Place::CasePattern,
        ),
        ("echo x # {{ v }}", Place::Comment),
        ("echo \\{{ v }}", Place::Escaped),
        ("echo ${{ v }}", Place::AfterDollar),
    ];
    for (src, want) in cases {
        assert_eq!(one(src), want, "{src}");
        assert!(!want.is_safe());
    }
}

#[test]
fn raw_and_safe_are_opt_outs_and_blocks_are_not_values() {
    let i = interpolations("echo '{{ v|raw }}' {{ w | safe }} {{ rawness }}");
    assert_eq!(
        i.iter().map(|i| i.raw).collect::<Vec<_>>(),
        [true, true, false]
    );
    let i = interpolations("{% if a %}echo{% endif %} {{ '}}' }} {## {{ x }} ##}\n{{ b }}");
    assert_eq!(i.len(), 2);
    assert_eq!(i[0].expr, "'}}'");
    assert_eq!(i[1].line, 2);
    assert!(i.iter().all(|i| i.place == Place::Word));
}

#[test]
fn option_positions_are_known() {
    let i = interpolations("find {{ d }} -name x; rm -f -- {{ f }}; ls --dir={{ d }} x{{ d }}");
    let pos: Vec<(bool, bool)> = i
        .iter()
        .map(|i| (i.word_start, i.after_double_dash))
        .collect();
    assert_eq!(
        pos,
        [(true, false), (true, true), (false, false), (false, false)]
    );
}

#[test]
fn later_commands_are_not_confused_by_earlier_ones() {
    let p = places("bash -c 'true'; echo {{ a }}\ncase $x in a) y;; esac; echo {{ b }}");
    assert_eq!(p, [Place::Word, Place::Word]);
    let p = places("cat <<'A' <<B\n{{ a }}\nA\n{{ b }}\nB\necho {{ c }}");
    assert_eq!(
        p,
        [
            Place::Heredoc { quoted: true },
            Place::Heredoc { quoted: false },
            Place::Word
        ]
    );
}
