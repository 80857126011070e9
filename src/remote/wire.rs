//! What travels to a remote host for one step: a fixed bootstrap as the remote command (no
//! secret, no step text in it) and, over the channel's stdin, the step's environment and argv.
//!
//! The bootstrap reads a length line and that many bytes (a bash script of `export NAME='value'`
//! lines and one `exec ARGV`), starts it with `setsid` in a process group of its own (so it can
//! be ended whole), says that group's id on stderr (one marker line, taken out of the output by
//! the runner), and watches stdin: when the channel closes (rb timed out, was interrupted, or the
//! connection was lost) it ends the step's group, TERM then KILL. The payload reaches the step
//! through the environment of one process and an `eval`, never through an argv, so no secret is
//! in any remote `/proc/*/cmdline`.

use crate::render::shell_quote;

/// The first stderr line of every remote step: the marker and the step's process group id.
pub const PGID_MARKER: &str = "\u{1e}rb-remote-pgid ";

/// The remote side, run as `bash -c BOOTSTRAP rb-remote`; stdin carries [`payload`].
pub const BOOTSTRAP: &str = r#"set -u
# bash reads ~/.bashrc when it thinks sshd started it (SSH_CLIENT): the step's bash must not.
unset SSH_CLIENT SSH2_CLIENT
rb_lc=${LC_ALL+x}${LC_ALL-}
export LC_ALL=C
IFS= read -r n || exit 255
IFS= read -r -d '' -N "$n" RB_P
[ "${#RB_P}" = "$n" ] || { echo "rb: the step did not reach this host whole" >&2; exit 255; }
if [ -n "$rb_lc" ]; then export LC_ALL="${rb_lc#x}"; else unset LC_ALL; fi
RB_P=$RB_P setsid bash -c 'printf "\036rb-remote-pgid %s\n" "$$" >&2; p=$RB_P; unset RB_P; eval "$p"' rb-step </dev/null &
c=$!
# Without job control a background job's stdin is /dev/null unless redirected: hand it the channel.
exec 3<&0
( while IFS= read -r _; do :; done
  kill -TERM -- "-$c" 2>/dev/null || exit 0
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    kill -0 -- "-$c" 2>/dev/null || exit 0
    sleep 0.1
  done
  kill -KILL -- "-$c" 2>/dev/null ) <&3 &
w=$!
wait "$c"
s=$?
kill "$w" 2>/dev/null
exit "$s"
"#;

/// The remote side of ending a step's group for good (timeout, interrupt): TERM, up to two
/// seconds for it to go, KILL, then wait until no process of the group is left. `$1` is the
/// group id.
pub const REAP: &str = r#"g=$1
kill -TERM -- "-$g" 2>/dev/null || exit 0
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  kill -0 -- "-$g" 2>/dev/null || exit 0
  sleep 0.1
done
kill -KILL -- "-$g" 2>/dev/null
while kill -0 -- "-$g" 2>/dev/null; do sleep 0.05; done
"#;

/// The bytes sent on stdin: the length line, then the script that sets the step's environment
/// and execs its argv. None when a value holds a NUL byte (no shell can carry it).
pub fn payload(env: &[(String, String)], argv: &[String]) -> Option<Vec<u8>> {
    let mut script = String::new();
    for (name, value) in env {
        if !is_name(name) {
            continue;
        }
        script += &format!("export {name}={}\n", shell_quote(value)?);
    }
    script += "exec";
    for word in argv {
        script.push(' ');
        script += &shell_quote(word)?;
    }
    script.push('\n');
    let mut out = format!("{}\n", script.len()).into_bytes();
    out.extend_from_slice(script.as_bytes());
    Some(out)
}

/// An environment variable name a shell can export.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The remote command for ssh, which hands it to the login shell as one string.
pub fn ssh_command(script: &str, args: &[&str]) -> String {
    let mut cmd = format!(
        "exec bash -c {} rb-remote",
        shell_quote(script).unwrap_or_default()
    );
    for a in args {
        cmd.push(' ');
        cmd += &shell_quote(a).unwrap_or_default();
    }
    cmd
}

/// The remote argv for a prefix transport (`docker exec -i NAME`), which passes argv as is.
pub fn exec_argv(script: &str, args: &[&str]) -> Vec<String> {
    let mut argv = vec![
        "bash".to_string(),
        "-c".to_string(),
        script.to_string(),
        "rb-remote".to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_counts_its_bytes_and_quotes_values() {
        let env = vec![("TOKEN".to_string(), "it's\nsecret".to_string())];
        let argv = vec![
            "bash".to_string(),
            "-c".to_string(),
            "echo $TOKEN".to_string(),
        ];
        let p = String::from_utf8(payload(&env, &argv).unwrap()).unwrap();
        let (len, script) = p.split_once('\n').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), script.len());
        assert!(script.starts_with("export TOKEN="));
        assert!(script.ends_with("exec bash -c 'echo $TOKEN'\n"));
    }

    #[test]
    fn a_nul_byte_cannot_travel() {
        assert!(payload(&[("A".into(), "a\0b".into())], &[]).is_none());
    }
}
