//! Deciding when a `bash -euo pipefail -c SCRIPT` step can skip bash: SCRIPT is one plain command
//! (words of safe characters only) naming a program found on `PATH`. bash itself would `exec`
//! that program in place (it does so for a `-c` script that is one simple command), so starting
//! the program directly, with the environment bash would have given it, is the same process with
//! the same arguments, exit status and signals, minus about a millisecond of bash start-up.
//!
//! Anything else goes through bash as written: shell syntax of any kind (quotes, `$`, globs, `~`,
//! redirections, pipes, `;`, newlines between words, assignments), a bash builtin or keyword, a
//! program not found, an environment bash would change in a way not reproduced here (`BASH_ENV`,
//! exported functions, `SHELLOPTS`, `POSIXLY_CORRECT`, `EXECIGNORE`, an unusual `SHLVL`, a stale
//! `PWD`, a relative `PATH` entry). And if starting the program fails, the runner starts bash
//! instead, so a missing interpreter or a script without `#!` gets bash's own message and code.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::{AccessFlags, access};

/// The argv prefix of a bash step (what `Shell::Bash.argv()` produces).
const BASH_PREFIX: [&str; 4] = ["bash", "-euo", "pipefail", "-c"];

/// bash 5 builtins (`compgen -b`) and reserved words (`compgen -k`): a command named like one of
/// these means something else under bash than the program of that name.
const BASH_WORDS: &[&str] = &[
    ".",
    ":",
    "[",
    "alias",
    "bg",
    "bind",
    "break",
    "builtin",
    "caller",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "continue",
    "declare",
    "dirs",
    "disown",
    "echo",
    "enable",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "fc",
    "fg",
    "getopts",
    "hash",
    "help",
    "history",
    "jobs",
    "kill",
    "let",
    "local",
    "logout",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "pwd",
    "read",
    "readarray",
    "readonly",
    "return",
    "set",
    "shift",
    "shopt",
    "source",
    "suspend",
    "test",
    "times",
    "trap",
    "true",
    "type",
    "typeset",
    "ulimit",
    "umask",
    "unalias",
    "unset",
    "wait",
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "case",
    "esac",
    "for",
    "select",
    "while",
    "until",
    "do",
    "done",
    "in",
    "function",
    "time",
    "coproc",
    "fltexpr",
];

/// A program to start in place of bash.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Direct {
    /// The program, as bash would have found it (this path is what bash puts in `$_`).
    pub program: PathBuf,
    /// `argv[0]` as written in the script, then the arguments.
    pub argv: Vec<String>,
    /// Variables bash would have set in the program's environment.
    pub env: Vec<(OsString, OsString)>,
}

/// The variables the child will see: rb's own, overridden by the step's.
pub(super) struct Env<'a> {
    pub extra: &'a [(String, String)],
}

impl Env<'_> {
    pub(super) fn get(&self, name: &str) -> Option<OsString> {
        match self.extra.iter().rev().find(|(k, _)| k == name) {
            Some((_, v)) => Some(v.into()),
            None => std::env::var_os(name),
        }
    }

    fn names(&self) -> impl Iterator<Item = OsString> + '_ {
        std::env::vars_os()
            .map(|(k, _)| k)
            .chain(self.extra.iter().map(|(k, _)| k.into()))
    }
}

/// `Some` when `argv` is a bash step that can start its program directly (see the module docs).
pub(super) fn plan(argv: &[String], env: &Env<'_>, cwd: Option<&Path>) -> Option<Direct> {
    let (prefix, script) = argv.split_at_checked(BASH_PREFIX.len())?;
    if prefix != BASH_PREFIX || script.len() != 1 {
        return None;
    }
    let words = plain_words(&script[0])?;
    let name = words[0];
    if name.contains('=') || BASH_WORDS.contains(&name) || !environment_is_plain(env, cwd)? {
        return None;
    }
    let program = if name.contains('/') {
        // Relative paths would depend on which folder resolves them: leave those to bash.
        name.starts_with('/').then(|| PathBuf::from(name))?
    } else {
        search_path(name, &env.get("PATH")?)?
    };
    let mut vars = vec![("_".into(), program.clone().into_os_string())];
    if env.get("SHLVL").is_none() {
        // bash counts itself (1), then uncounts itself as it execs the program.
        vars.push(("SHLVL".into(), "0".into()));
    }
    Some(Direct {
        program,
        argv: words.iter().map(|w| w.to_string()).collect(),
        env: vars,
    })
}

/// The words of a script that is one simple command made of safe characters, or `None`.
fn plain_words(script: &str) -> Option<Vec<&str>> {
    // A trailing newline (a YAML block scalar ends with one) ends the command, as in bash.
    let body = script.trim_matches([' ', '\t', '\n']);
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./,:+=@%".contains(c);
    if body.is_empty() || !body.chars().all(|c| safe(c) || c == ' ' || c == '\t') {
        return None;
    }
    Some(body.split([' ', '\t']).filter(|w| !w.is_empty()).collect())
}

/// True when bash would pass the environment on unchanged but for `_` and a missing `SHLVL`;
/// `None` when some variable makes bash behave differently or rewrite it.
fn environment_is_plain(env: &Env<'_>, cwd: Option<&Path>) -> Option<bool> {
    for name in env.names() {
        let n = name.as_bytes();
        if n.starts_with(b"BASH")
            || [&b"SHELLOPTS"[..], b"POSIXLY_CORRECT", b"EXECIGNORE", b"ENV"].contains(&n)
        {
            return None;
        }
    }
    // bash exports SHLVL+1 and takes the 1 back as it execs; odd values it rewrites or warns on.
    if let Some(level) = env.get("SHLVL") {
        let l = level.to_str()?;
        let canonical = l == "0" || (!l.starts_with('0') && l.len() <= 3);
        if !canonical || l.parse::<u16>().ok()? >= 999 {
            return None;
        }
    }
    // bash keeps PWD only when it is absolute and names the folder it starts in.
    let pwd = PathBuf::from(env.get("PWD")?);
    if !pwd.is_absolute() || !same_file(&pwd, cwd.unwrap_or(Path::new(".")))? {
        return None;
    }
    // bash drops an OLDPWD that is not a folder.
    if let Some(old) = env.get("OLDPWD")
        && !Path::new(&old).is_dir()
    {
        return None;
    }
    Some(true)
}

fn same_file(a: &Path, b: &Path) -> Option<bool> {
    let (a, b) = (a.metadata().ok()?, b.metadata().ok()?);
    Some(a.dev() == b.dev() && a.ino() == b.ino())
}

/// bash's search: the first regular file along `PATH` that we may execute. `None` when not found,
/// or when `PATH` has an empty or relative entry (the current folder: left to bash).
pub(super) fn search_path(name: &str, path: &OsStr) -> Option<PathBuf> {
    for dir in path.as_bytes().split(|&b| b == b':') {
        if dir.first() != Some(&b'/') {
            return None;
        }
        let mut full = dir.to_vec();
        if full.last() != Some(&b'/') {
            full.push(b'/');
        }
        full.extend_from_slice(name.as_bytes());
        let full = PathBuf::from(OsStr::from_bytes(&full));
        if full.metadata().is_ok_and(|m| m.is_file()) && access(&full, AccessFlags::X_OK).is_ok() {
            return Some(full);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(script: &str) -> Vec<String> {
        let mut v: Vec<String> = BASH_PREFIX.iter().map(|s| s.to_string()).collect();
        v.push(script.into());
        v
    }

    #[test]
    fn plain_commands_are_words() {
        assert_eq!(plain_words("/bin/true"), Some(vec!["/bin/true"]));
        assert_eq!(
            plain_words("  df -h --output=pcent /srv\n"),
            Some(vec!["df", "-h", "--output=pcent", "/srv"])
        );
    }

    #[test]
    fn anything_shell_like_is_not() {
        for s in [
            "",
            "a | b",
            "a; b",
            "a\nb",
            "a && b",
            "echo $HOME",
            "ls *",
            "ls ~",
            "a > f",
            "a < f",
            "echo 'x'",
            "echo \"x\"",
            "a\\ b",
            "echo `id`",
            "(a)",
            "{ a; }",
            "a &",
            "echo #x",
            "ls [ab]",
            "ls a?",
            "!a",
            "echo {a,b}",
            "a\u{e9}",
            "echo a^b",
        ] {
            assert_eq!(plain_words(s), None, "{s:?}");
        }
    }

    #[test]
    fn builtins_keywords_assignments_and_other_shells_go_through_bash() {
        let env = Env { extra: &[] };
        for s in [
            "true",
            "echo hi",
            "test -f x",
            "time ls",
            "X=1 ls",
            "./run.sh",
            "kill 1",
        ] {
            assert_eq!(plan(&argv(s), &env, None), None, "{s:?}");
        }
        let sh = vec!["sh".into(), "-eu".into(), "-c".into(), "ls".into()];
        assert_eq!(plan(&sh, &env, None), None);
    }

    #[test]
    fn a_bash_variable_in_the_step_environment_goes_through_bash() {
        let pwd = std::env::current_dir().unwrap().display().to_string();
        for (k, v) in [
            ("BASH_ENV", "/tmp/x"),
            ("BASH_FUNC_ls%%", "() { :; }"),
            ("SHLVL", "999"),
        ] {
            let extra = [
                ("PWD".to_string(), pwd.clone()),
                (k.to_string(), v.to_string()),
            ];
            assert_eq!(plan(&argv("/bin/ls"), &Env { extra: &extra }, None), None);
        }
    }

    #[test]
    fn the_search_follows_path_order_and_skips_folders_and_relative_entries() {
        let path = OsStr::new("/nonexistent:/usr/bin:/bin");
        assert_eq!(
            search_path("env", path),
            Some(PathBuf::from("/usr/bin/env"))
        );
        assert_eq!(search_path("bin", OsStr::new("/usr")), None);
        assert_eq!(search_path("env", OsStr::new(":/usr/bin")), None);
        assert_eq!(
            search_path("env", OsStr::new("/usr/bin/")),
            Some("/usr/bin/env".into())
        );
    }
}
