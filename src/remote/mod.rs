//! Running steps where the incident is: on hosts reached over OpenSSH or through an exec prefix
//! (`kubectl exec -i POD --`, `docker exec -i NAME`), one host or many in parallel.
//!
//! It owns the targets ([`Host`], [`Transport`], the inventory file), the connections (one
//! multiplexed OpenSSH master per host in a private socket folder, [`Link`]), pre-flight of every
//! host, and [`RemoteRunner`], a [`Runner`] that wraps the local process runner: each step's
//! process becomes the transport's client (ssh, or the prefix) running a fixed bootstrap that
//! gets the step over stdin ([`wire`]). The executor knows hosts by name only: it picks the
//! hosts of each step (`on:`, batches, resume) and records their results; how they are reached
//! is here.

pub mod inventory;
mod link;
mod runner;
pub mod wire;

pub use link::{Link, Unreachable};
pub use runner::RemoteRunner;

/// How rb reaches a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// The system's OpenSSH client; the destination as ssh takes it (`host`, `user@host`, an alias
    /// of the ssh config).
    Ssh { dest: String },
    /// A command that runs its arguments inside the target: `docker exec -i web-1`,
    /// `kubectl exec -i pod -c app --`, `nsenter -t PID -a`.
    Exec { prefix: Vec<String> },
}

/// One target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// What output lines and results are labelled with.
    pub name: String,
    pub transport: Transport,
}

impl Host {
    /// A host named on the command line (`--host db-3`): reached over ssh under that name.
    pub fn ssh(name: &str) -> Result<Host, String> {
        check_name(name)?;
        Ok(Host {
            name: name.to_string(),
            transport: Transport::Ssh {
                dest: name.to_string(),
            },
        })
    }
}

/// A host name rb passes to ssh: not empty, not an option, nothing a shell or ssh would read
/// another way.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@:[]".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a host name rb can pass to ssh (letters, digits and `._-@:[]`, not starting with `-`)"
        ))
    }
}

/// Where a run's command steps go, as the command line and the inventory said.
#[derive(Debug, Clone)]
pub struct Targets {
    pub hosts: Vec<Host>,
    /// Passed to ssh with `-F` (`RB_SSH_CONFIG`, else the inventory's `ssh_config`).
    pub ssh_config: Option<std::path::PathBuf>,
    /// How many hosts run a step at the same time.
    pub forks: usize,
}

impl Targets {
    /// How [`Targets::describe`] starts (the note that marks a run on hosts in its transcript).
    pub const NOTE_START: &'static str = "command steps run on ";

    /// One line for the operator and the record: where the command steps run.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        format!(
            "{}{} host(s): {} ({} at a time); message and manual steps stay here",
            Self::NOTE_START,
            names.len(),
            names.join(", "),
            self.forks.min(names.len()).max(1)
        )
    }

    /// The script pre-flight runs on every host: the runbook's `requires:` found on its `PATH`
    /// (names are passed as arguments, never pasted into the script).
    pub const REQUIRES_CHECK: &'static str = r#"missing=
for p in "$@"; do command -v "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] || { echo "required program(s) not found on PATH:$missing"; exit 1; }
"#;

    /// Pre-flight: connects to every host and checks `requires` there; every failure at once.
    pub fn connect(&self, requires: &[String]) -> Result<Link, Vec<Unreachable>> {
        let link = Link::new(self.ssh_config.clone()).map_err(|e| {
            vec![Unreachable {
                host: "(all)".into(),
                why: format!("cannot make the ssh socket folder: {e}"),
            }]
        })?;
        let args: Vec<&str> = requires.iter().map(String::as_str).collect();
        let failed = link.connect(&self.hosts, Self::REQUIRES_CHECK, &args);
        if failed.is_empty() {
            Ok(link)
        } else {
            link.close(&self.hosts);
            Err(failed)
        }
    }
}
