//! The inventory file (`--inventory FILE`): groups of hosts, each with its transport.
//!
//! ```yaml
//! ssh_config: ./ssh_config        # optional, passed to ssh with -F (relative to this file)
//! groups:
//!   web:
//!     - web-1                      # over ssh, by this name
//!     - { name: web-2, ssh: admin@10.0.0.12 }
//!   pods:
//!     - { name: api-0, exec: [kubectl, exec, -i, api-0, -c, app, --] }
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Host, Transport, check_name};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    ssh_config: Option<PathBuf>,
    groups: std::collections::BTreeMap<String, Vec<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Full {
    name: String,
    #[serde(default)]
    ssh: Option<String>,
    #[serde(default)]
    exec: Option<Vec<String>>,
}

/// A host as written: a bare name, or a map.
#[derive(Deserialize)]
#[serde(try_from = "serde_json::Value")]
struct Entry(Full);

impl TryFrom<serde_json::Value> for Entry {
    type Error = String;
    fn try_from(v: serde_json::Value) -> Result<Self, String> {
        match v {
            serde_json::Value::String(name) => Ok(Entry(Full {
                name,
                ssh: None,
                exec: None,
            })),
            v @ serde_json::Value::Object(_) => serde_json::from_value(v)
                .map(Entry)
                .map_err(|e| e.to_string()),
            _ => Err("a host is a name or a map with `name` and `ssh` or `exec`".into()),
        }
    }
}

/// What an inventory gives: its hosts by group, and the ssh config it names.
#[derive(Debug)]
pub struct Inventory {
    pub groups: Vec<(String, Vec<Host>)>,
    pub ssh_config: Option<PathBuf>,
}

impl Inventory {
    /// Reads and checks `path`; errors name the file and what to fix.
    pub fn read(path: &Path) -> Result<Inventory, String> {
        let shown = path.display();
        let bytes = std::fs::read(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
        let (value, _) = crate::runbook::load::load(&shown.to_string(), &bytes).map_err(|d| {
            let first = d.first().map(|d| d.message.clone()).unwrap_or_default();
            format!("{shown}: not valid YAML: {first}")
        })?;
        let file: File = serde_json::from_value(value).map_err(|e| {
            format!("{shown}: {e} (expected `groups:` of host lists, and an optional `ssh_config`)")
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut groups = Vec::new();
        for (group, entries) in file.groups {
            let mut hosts = Vec::new();
            for Entry(e) in entries {
                hosts.push(host(e).map_err(|m| format!("{shown}: group `{group}`: {m}"))?);
            }
            groups.push((group, hosts));
        }
        Ok(Inventory {
            groups,
            ssh_config: file.ssh_config.map(|c| base.join(c)),
        })
    }

    /// The hosts `names` picks: group names and host names, in order, each host once. All
    /// hosts when `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<Host>, String> {
        let mut out: Vec<Host> = Vec::new();
        let mut add = |h: &Host| {
            if !out.iter().any(|o| o.name == h.name) {
                out.push(h.clone());
            }
        };
        if names.is_empty() {
            self.groups.iter().flat_map(|(_, hs)| hs).for_each(&mut add);
        }
        for n in names {
            if let Some((_, hs)) = self.groups.iter().find(|(g, _)| g == n) {
                hs.iter().for_each(&mut add);
            } else if let Some(h) = self
                .groups
                .iter()
                .flat_map(|(_, hs)| hs)
                .find(|h| &h.name == n)
            {
                add(h);
            } else {
                let known: Vec<&str> = self.groups.iter().map(|(g, _)| g.as_str()).collect();
                return Err(format!(
                    "`{n}` is neither a group nor a host of the inventory (groups: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(out)
    }
}

fn host(e: Full) -> Result<Host, String> {
    let transport = match (e.ssh, e.exec) {
        (Some(_), Some(_)) => {
            return Err(format!("host `{}`: give `ssh` or `exec`, not both", e.name));
        }
        (None, Some(prefix)) if prefix.is_empty() => {
            return Err(format!("host `{}`: `exec` is an empty command", e.name));
        }
        (None, Some(prefix)) => Transport::Exec { prefix },
        (ssh, None) => {
            let dest = ssh.unwrap_or_else(|| e.name.clone());
            check_name(&dest)?;
            Transport::Ssh { dest }
        }
    };
    Ok(Host {
        name: e.name,
        transport,
    })
}
