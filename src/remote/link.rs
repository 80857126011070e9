//! The connections to the hosts: OpenSSH's own client with the operator's config (or
//! `RB_SSH_CONFIG`/the inventory's with `-F`), `BatchMode=yes`, host keys checked as ssh's config
//! says (rb never turns that off), and one master connection per host (ControlMaster) in a
//! private 0700 socket folder, opened by pre-flight and closed when the run ends.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Host, Transport, wire};

/// How long a master connection stays up with no step running (a long prompt): after that the
/// next step connects again on its own.
const PERSIST: &str = "15m";

/// The connections of one run.
pub struct Link {
    config: Option<PathBuf>,
    /// The private folder of the master sockets (removed when the run ends).
    sockets: PathBuf,
}

/// A host pre-flight could not reach, and what ssh (or the prefix) said.
#[derive(Debug, Clone)]
pub struct Unreachable {
    pub host: String,
    pub why: String,
}

impl Link {
    /// Makes the socket folder (mode 0700) under `$XDG_RUNTIME_DIR`, else `/tmp`.
    pub fn new(config: Option<PathBuf>) -> io::Result<Link> {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        // Short: a socket path must fit in 108 bytes, and %C adds 40.
        let template = base.join("rb-ssh-XXXXXX");
        let sockets = nix::unistd::mkdtemp(&template).map_err(io::Error::from)?;
        Ok(Link { config, sockets })
    }

    fn base_args(&self) -> Vec<String> {
        let mut args = vec!["ssh".to_string()];
        if let Some(c) = &self.config {
            args.push("-F".into());
            args.push(c.to_string_lossy().into_owned());
        }
        let control = self.sockets.join("%C");
        for o in [
            "BatchMode=yes".to_string(),
            format!("ControlPath={}", control.to_string_lossy()),
        ] {
            args.push("-o".into());
            args.push(o);
        }
        args
    }

    /// The local argv that runs `script` with `args` on `host` (stdin goes to the script).
    pub fn argv(&self, host: &Host, script: &str, args: &[&str]) -> Vec<String> {
        match &host.transport {
            Transport::Ssh { dest } => {
                let mut argv = self.base_args();
                // A step uses the master pre-flight opened; if it is gone, ssh connects alone.
                argv.extend(["-o", "ControlMaster=no", "-T", "-e", "none"].map(String::from));
                argv.push(dest.clone());
                argv.push(wire::ssh_command(script, args));
                argv
            }
            Transport::Exec { prefix } => {
                let mut argv = prefix.clone();
                argv.extend(wire::exec_argv(script, args));
                argv
            }
        }
    }

    /// Pre-flight: opens the master connection of every ssh host (in parallel) and runs `check`
    /// on every host (a prefix host is reached the same way its steps are); `check` prints what
    /// is missing and exits non-zero. Returns every host that failed, with what it said.
    pub fn connect(&self, hosts: &[Host], check: &str, args: &[&str]) -> Vec<Unreachable> {
        std::thread::scope(|s| {
            let tries: Vec<_> = hosts
                .iter()
                .map(|h| {
                    s.spawn(move || (h, self.open(h).and_then(|()| self.probe(h, check, args))))
                })
                .collect();
            tries
                .into_iter()
                .filter_map(|t| match t.join() {
                    Ok((h, Err(why))) => Some(Unreachable {
                        host: h.name.clone(),
                        why,
                    }),
                    Ok((_, Ok(()))) => None,
                    Err(_) => Some(Unreachable {
                        host: "?".into(),
                        why: "pre-flight failed".into(),
                    }),
                })
                .collect()
        })
    }

    /// Starts the master connection (`-f -N`: it goes to the background once authenticated).
    fn open(&self, host: &Host) -> Result<(), String> {
        let Transport::Ssh { dest } = &host.transport else {
            return Ok(());
        };
        // The master keeps what it inherits: its stderr goes to a file, not a pipe we would wait
        // on forever.
        let log = self.sockets.join(format!("{}.log", host.name));
        let file =
            File::create(&log).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
        let mut argv = self.base_args();
        argv.extend(
            [
                "-o",
                "ControlMaster=yes",
                "-o",
                &format!("ControlPersist={PERSIST}"),
                "-f",
                "-N",
            ]
            .map(String::from),
        );
        argv.push(dest.clone());
        let status = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .status()
            .map_err(|e| format!("cannot start ssh: {e}"))?;
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        if status.success() {
            Ok(())
        } else {
            Err(last_words(&said, status.code()))
        }
    }

    /// Runs `check` on the host through its transport, as a step would reach it.
    fn probe(&self, host: &Host, check: &str, args: &[&str]) -> Result<(), String> {
        let argv = self.argv(host, check, args);
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot start `{}`: {e}", argv[0]))?;
        if out.status.success() {
            Ok(())
        } else {
            let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
            said += &String::from_utf8_lossy(&out.stderr);
            Err(last_words(&said, out.status.code()))
        }
    }

    /// Ends the process group `pgid` on `host` for good (after a timeout or an interrupt: the
    /// local client is gone, the step's processes must go too).
    pub fn reap(&self, host: &Host, pgid: u32) {
        let argv = self.argv(host, wire::REAP, &[&pgid.to_string()]);
        let _ = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Closes every master connection and removes the socket folder.
    pub fn close(&self, hosts: &[Host]) {
        for h in hosts {
            if let Transport::Ssh { dest } = &h.transport {
                let mut argv = self.base_args();
                argv.extend(["-O".to_string(), "exit".to_string(), dest.clone()]);
                let _ = Command::new(&argv[0])
                    .args(&argv[1..])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.sockets);
    }

    pub fn sockets(&self) -> &Path {
        &self.sockets
    }
}

/// What a failed client said, in one line (its last non-empty lines), or its exit code.
fn last_words(said: &str, code: Option<i32>) -> String {
    let lines: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return match code {
            Some(c) => format!("exited with status {c}"),
            None => "killed by a signal".into(),
        };
    }
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" / ")
}
