//! Signing transcripts with OpenSSH's own tool: `ssh-keygen -Y sign` and `ssh-keygen -Y verify`
//! in the namespace `rb-transcript`. rb checks the chain and chooses the files; ssh-keygen does
//! all the cryptography, reads keys (files, or an agent's through a `.pub` file) and allowed
//! signers. The data is given on standard input, as the exact bytes rb checked.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::exit::{Code, UserError};

/// The signature namespace: a signature made for something else never verifies as a transcript's.
pub const NAMESPACE: &str = "rb-transcript";

/// Keys tried, in order, when `--key` is not given (as ssh does).
const DEFAULT_KEYS: [&str; 3] = ["id_ed25519", "id_ecdsa", "id_rsa"];

/// Where the signature of `file` goes: `FILE.sig`, as `ssh-keygen -Y sign FILE` writes it.
pub fn sig_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

fn ssh_dir() -> Result<PathBuf, UserError> {
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".ssh")),
        None => Err(UserError::usage(
            "`HOME` is not set, so rb cannot find `~/.ssh`",
        )),
    }
}

/// The first of `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` that exists.
pub fn default_key() -> Result<PathBuf, UserError> {
    let dir = ssh_dir()?;
    DEFAULT_KEYS
        .iter()
        .map(|k| dir.join(k))
        .find(|p| p.exists())
        .ok_or_else(|| {
            UserError::usage(format!(
                "no SSH key to sign with: none of {} exists",
                DEFAULT_KEYS.map(|k| format!("`{}`", dir.join(k).display())).join(", ")
            ))
            .hint("name one with `--key FILE` (a `.pub` file signs with the key in your ssh-agent), or make one with `ssh-keygen -t ed25519`")
        })
}

/// `~/.ssh/allowed_signers`.
pub fn default_allowed_signers() -> Result<PathBuf, UserError> {
    Ok(ssh_dir()?.join("allowed_signers"))
}

fn ssh_keygen() -> Result<PathBuf, UserError> {
    which::which("ssh-keygen").map_err(|_| {
        UserError::usage("`ssh-keygen` is not on PATH: rb signs and checks signatures with it")
            .hint("install OpenSSH's client (Debian and Ubuntu: `apt-get install openssh-client`)")
    })
}

/// Runs `cmd` with `input` on its standard input (written from a thread, so a full pipe in either
/// direction cannot block both sides).
fn run_with_input(mut cmd: Command, input: &[u8]) -> std::io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    std::thread::scope(|s| {
        // ssh-keygen may stop reading early (a bad key): a broken pipe is its answer, not ours.
        s.spawn(move || {
            let _ = stdin.write_all(input);
        });
        child.wait_with_output()
    })
}

/// What ssh-keygen said (standard output, then error), without its progress line, for a message.
fn said(out: &Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim().trim_end_matches('.'))
        .filter(|l| !l.is_empty() && !l.starts_with("Signing data on standard input"))
        .collect();
    if lines.is_empty() {
        format!("it ended with {}", out.status)
    } else {
        lines.join("; ")
    }
}

/// The armored signature of `data` by `key` (`ssh-keygen -Y sign -f KEY -n rb-transcript`).
pub fn sign(key: &Path, data: &[u8]) -> Result<Vec<u8>, UserError> {
    let mut cmd = Command::new(ssh_keygen()?);
    cmd.args(["-Y", "sign", "-n", NAMESPACE, "-f"]).arg(key);
    let out = run_with_input(cmd, data)
        .map_err(|e| UserError::io("cannot run `ssh-keygen -Y sign`", &e))?;
    if !out.status.success() || !out.stdout.starts_with(b"-----BEGIN SSH SIGNATURE-----") {
        return Err(UserError {
            code: Code::Failed,
            ..UserError::usage(format!(
                "`ssh-keygen -Y sign -f {}` failed: {}",
                key.display(),
                said(&out)
            ))
        }
        .hint(
            "check the key (a `.pub` file needs its private key beside it or in your ssh-agent)",
        ));
    }
    Ok(out.stdout)
}

/// What a signature check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigCheck {
    /// A good signature by the identity, with this key (`ED25519 key SHA256:…`).
    Good { key: String },
    /// No `FILE.sig`.
    Missing,
    /// ssh-keygen refused it; what it said.
    Invalid(String),
}

/// Checks `sig` as a signature of `data` by `signer` listed in `allowed`
/// (`ssh-keygen -Y verify -f ALLOWED -I SIGNER -n rb-transcript -s SIG`).
pub fn verify(
    allowed: &Path,
    signer: &str,
    sig: &Path,
    data: &[u8],
) -> Result<SigCheck, UserError> {
    if !sig.exists() {
        return Ok(SigCheck::Missing);
    }
    if let Err(e) = std::fs::File::open(allowed) {
        return Err(UserError::io(
            format!("cannot read the allowed signers `{}`", allowed.display()),
            &e,
        )
        .hint(format!("one line per signer: `ana@example.com namespaces=\"{NAMESPACE}\" ssh-ed25519 AAAA…` (see ALLOWED SIGNERS in ssh-keygen(1)); or name the file with `--allowed-signers FILE`")));
    }
    let mut cmd = Command::new(ssh_keygen()?);
    cmd.args(["-Y", "verify", "-n", NAMESPACE, "-f"])
        .arg(allowed)
        .arg("-I")
        .arg(signer)
        .arg("-s")
        .arg(sig);
    let out = run_with_input(cmd, data)
        .map_err(|e| UserError::io("cannot run `ssh-keygen -Y verify`", &e))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Ok(SigCheck::Invalid(said(&out)));
    }
    // `Good "rb-transcript" signature for SIGNER with ED25519 key SHA256:…`
    let key = stdout
        .lines()
        .find_map(|l| l.rsplit_once(" with ").map(|(_, k)| k.trim().to_string()))
        .unwrap_or_else(|| stdout.trim().to_string());
    Ok(SigCheck::Good { key })
}
