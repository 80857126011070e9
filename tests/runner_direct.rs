//! A step that is one plain command starts its program without bash (see
//! `src/exec/runner/direct.rs`). These tests run the real binary and prove a runbook author cannot
//! tell the difference: each plain step is compared with the same command quoted (`'env'`),
//! which makes bash start it (bash execs a lone simple command in place, so that is the reference
//! behaviour), for the environment, a missing program (127), a file that cannot be executed
//! (126), a missing interpreter (127), a script without `#!`, exit codes and death by a signal. One test proves bash is
//! really skipped, so the others compare two different paths.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

struct Run {
    /// Every transcript event of the run.
    events: Vec<Value>,
}

impl Run {
    /// The text a step printed on `stream`.
    fn output(&self, step: &str, stream: &str) -> String {
        self.events
            .iter()
            .filter(|e| e["event"] == "output" && e["step"] == step && e["stream"] == stream)
            .map(|e| e["text"].as_str().expect("text output").to_string())
            .collect()
    }

    /// Status, exit code and reason of a step's (last) end.
    fn finished(&self, step: &str) -> (Value, Value, Value) {
        let e = self
            .events
            .iter()
            .rfind(|e| e["event"] == "step_finished" && e["step"] == step)
            .unwrap_or_else(|| panic!("no step_finished for {step}"));
        (
            e["status"].clone(),
            e["exit_code"].clone(),
            e["reason"].clone(),
        )
    }
}

fn base_path() -> String {
    "/usr/local/bin:/usr/bin:/bin".into()
}

/// Runs a runbook of `steps` (id, command) with `--yes` in `dir`, with exactly `env` (plus
/// `NO_COLOR` and where transcripts go) as rb's environment; returns the transcript's events.
fn run(dir: &Path, steps: &[(&str, &str)], env: &[(&str, &str)]) -> Run {
    let mut yaml = String::from("version: 1\nname: t\ntitle: direct exec\nsteps:\n");
    for (id, cmd) in steps {
        let quoted = serde_json::to_string(cmd).unwrap();
        yaml.push_str(&format!(
            "  - id: {id}\n    run: {quoted}\n    read_only: true\n"
        ));
    }
    std::fs::write(dir.join("t.yaml"), yaml).unwrap();
    let transcript = dir.join(format!("t-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&transcript);
    let status = Command::new(env!("CARGO_BIN_EXE_rb"))
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .args(["run", "t.yaml", "--yes", "--transcript"])
        .arg(&transcript)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.code().is_some(), "rb itself died: {status}");
    let text = std::fs::read_to_string(&transcript).unwrap();
    let events = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Run { events }
}

/// The lines of `env` output, sorted, without the token that marks each step's processes (it
/// differs from step to step by design).
fn sorted_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s
        .lines()
        .filter(|l| !l.starts_with("RB_STEP_TOKEN="))
        .collect();
    v.sort_unstable();
    v
}

fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    // The canonical path: PWD must name the folder exactly as the kernel resolves it.
    let p = t.path().canonicalize().unwrap();
    (t, p)
}

#[test]
fn only_steps_with_shell_syntax_or_a_builtin_start_bash() {
    let (_t, dir) = tempdir();
    let wrap = dir.join("wrap");
    std::fs::create_dir(&wrap).unwrap();
    let log = dir.join("bash.log");
    let bash = wrap.join("bash");
    std::fs::write(
        &bash,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$4\" >> {}\nexec /bin/bash \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bash, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", wrap.display(), base_path());
    let d = dir.to_str().unwrap();
    let r = run(
        &dir,
        &[
            ("plain", "/bin/true"),
            ("args", "ls -d /"),
            ("builtin", "true"),
            ("var", "echo $HOME"),
            ("pipe", "ls -d / | cat"),
            ("quoted", "'ls' -d /"),
        ],
        &[("PATH", &path), ("PWD", d), ("HOME", d)],
    );
    assert_eq!(r.output("args", "stdout"), "/\n");
    assert_eq!(r.output("quoted", "stdout"), "/\n");
    let started = std::fs::read_to_string(&log).unwrap();
    assert_eq!(started, "true\necho $HOME\nls -d / | cat\n'ls' -d /\n");
}

#[test]
fn a_plain_command_gets_the_environment_bash_would_have_given_it() {
    let (_t, dir) = tempdir();
    let d = dir.to_str().unwrap();
    let path = base_path();
    let envs: Vec<Vec<(&str, &str)>> = vec![
        // The usual case: nothing for bash to change but `_` and the missing SHLVL.
        vec![("PATH", &path), ("PWD", d), ("HOME", d)],
        vec![("PATH", &path), ("PWD", d), ("SHLVL", "4"), ("OLDPWD", "/")],
        // Cases bash rewrites: rb leaves them to bash, and the results still agree.
        vec![
            ("PATH", &path),
            ("PWD", "/"),
            ("SHLVL", "x"),
            ("OLDPWD", "/nonexistent"),
        ],
        vec![("PATH", &path), ("SHLVL", "998")],
        vec![
            ("PATH", &path),
            ("PWD", d),
            ("BASH_ENV", "/dev/null"),
            ("X-Y", "odd name"),
        ],
    ];
    for env in envs {
        let r = run(&dir, &[("direct", "env"), ("bash", "'env'")], &env);
        let (direct, bash) = (r.output("direct", "stdout"), r.output("bash", "stdout"));
        assert!(direct.contains("_=/usr/bin/env\n"), "{direct}");
        assert_eq!(sorted_lines(&direct), sorted_lines(&bash), "with {env:?}");
    }
}

#[test]
fn a_missing_or_unrunnable_program_fails_with_bash_s_message_and_code() {
    let (_t, dir) = tempdir();
    let d = dir.to_str().unwrap();
    let path = base_path();
    let env = [("PATH", path.as_str()), ("PWD", d)];
    let not_exec = dir.join("not-exec");
    std::fs::write(&not_exec, "echo never\n").unwrap();
    let ne = not_exec.to_str().unwrap();
    let bad_interp = dir.join("bad-interp");
    std::fs::write(&bad_interp, "#!/nonexistent/interpreter\n").unwrap();
    std::fs::set_permissions(&bad_interp, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bi = bad_interp.to_str().unwrap();
    for (plain, code) in [("no-such-program-for-rb", 127), (ne, 126), (bi, 127)] {
        let quoted = format!("'{plain}'");
        let a = run(&dir, &[("s", plain)], &env);
        let b = run(&dir, &[("s", &quoted)], &env);
        assert_eq!(a.finished("s").1, code, "{plain}");
        assert_eq!(a.finished("s"), b.finished("s"), "{plain}");
        let msg = a.output("s", "stderr");
        assert!(msg.starts_with("bash: line 1: "), "{msg}");
        assert_eq!(msg, b.output("s", "stderr"), "{plain}");
    }
}

#[test]
fn a_script_without_a_shebang_runs_under_bash_and_exits_and_signals_pass_through() {
    let (_t, dir) = tempdir();
    let d = dir.to_str().unwrap();
    let path = base_path();
    let env = [("PATH", path.as_str()), ("PWD", d)];
    let script = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.to_str().unwrap().to_string()
    };
    // `[[` exists only in bash: this prints `bash` only if bash ran the file.
    let no_shebang = script("no-shebang", "[[ -n $BASH_VERSION ]] && echo bash\n");
    let exits = script("exits", "#!/bin/sh\necho out; echo err >&2; exit 7\n");
    let killed = script("killed", "#!/bin/sh\nkill -TERM $$\n");
    for plain in [&no_shebang, &exits, &killed] {
        let quoted = format!("'{plain}'");
        let a = run(&dir, &[("s", plain)], &env);
        let b = run(&dir, &[("s", &quoted)], &env);
        assert_eq!(a.finished("s"), b.finished("s"), "{plain}");
        assert_eq!(a.output("s", "stdout"), b.output("s", "stdout"));
        assert_eq!(a.output("s", "stderr"), b.output("s", "stderr"));
    }
    let a = run(&dir, &[("s", &no_shebang)], &env);
    assert_eq!(a.output("s", "stdout"), "bash\n");
    let a = run(&dir, &[("s", &exits)], &env);
    assert_eq!(a.finished("s").1, 7);
}
