//! A running lab's record, `/run/xdpdoctor/labs/<prefix>.json`: what `lab up` made (written
//! after every step, so an interrupted `lab up` can still be cleaned), read by `lab down`
//! and `lab status`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{state, Result};

/// An HTTP responder `lab up` started (`xdpdoctor lab serve-http`), for `lab down` to stop.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Responder {
    /// The scenario node it serves in.
    pub node: String,
    /// Its namespace (`PREFIX-node`); with `pid`, how `lab down` recognises it.
    pub netns: String,
    /// TCP port it listens on.
    pub port: u16,
    /// Its process id; stopped only while that process still is our responder for `netns`.
    pub pid: u32,
}

/// What `lab up` made for one prefix, as saved in the lab's state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LabState {
    /// The lab's prefix: namespaces are `PREFIX-node`, the state file `PREFIX.json`.
    pub prefix: String,
    /// Name of the scenario built.
    pub scenario: String,
    /// Where the scenario came from: a file, `scenarios/NAME.toml` for a built-in, or
    /// `(generated) fleet --containers N`.
    pub scenario_file: PathBuf,
    /// Namespaces this lab created, in creation order.
    pub namespaces: Vec<String>,
    /// The identity of each namespace once created (inode and netns cookie): `lab down`
    /// removes the records of these namespaces, whatever namespace holds their names or
    /// inodes by then.
    #[serde(default)]
    pub keys: std::collections::BTreeMap<String, crate::state::NsKey>,
    /// HTTP responders started, each recorded as it starts; those of a node removed by a fault
    /// are dropped.
    pub responders: Vec<Responder>,
    /// Names of the faults applied (empty: the healthy lab).
    pub faults: Vec<String>,
    /// The router namespace (where the forwarder is deployed, or where the user brings their
    /// own XDP program with `--no-forwarder`): a name under /run/netns, or a path (the host's
    /// namespace of a Docker lab, `/proc/1/ns/net`), as `--netns` takes it.
    pub forwarder_netns: Option<String>,
    /// The forwarder config written for the user.
    pub forwarder_config: Option<PathBuf>,
    /// Namespace of the traffic client.
    pub client_netns: Option<String>,
    /// What the client connects to: (entry `from`, entry `to`).
    #[serde(default)]
    pub targets: Vec<(std::net::SocketAddrV4, std::net::SocketAddrV4)>,
    /// What a Docker lab made on the host (None: a namespace lab).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<super::docker::spec::DockerState>,
}

/// Directory of the labs' state files.
pub fn labs_dir() -> PathBuf {
    state::labs_dir()
}

impl LabState {
    /// The state file of lab `prefix`.
    pub fn path(prefix: &str) -> PathBuf {
        labs_dir().join(format!("{prefix}.json"))
    }

    /// Directory for files the lab writes for the user (the forwarder config).
    pub fn files_dir(prefix: &str) -> PathBuf {
        labs_dir().join(prefix)
    }

    /// The lock of lab `prefix`: held by `lab up` and `lab down` (one writer per prefix).
    pub fn lock(prefix: &str) -> Result<state::LockGuard> {
        state::lock(
            state::LockKey::Lab(prefix.to_string()),
            crate::cancel::interrupted,
        )
    }

    /// Writes the state file atomically; `lab up` calls it after every step.
    pub fn save(&self) -> Result<()> {
        state::write(&Self::path(&self.prefix), self)
    }

    /// The state of lab `prefix`; None when no such lab is up.
    pub fn load(prefix: &str) -> Result<Option<Self>> {
        state::read(&Self::path(prefix))
    }

    /// Every lab with a state file.
    pub fn all() -> Vec<Self> {
        let mut v: Vec<Self> = std::fs::read_dir(labs_dir())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.strip_suffix(".json")
                            .and_then(|p| Self::load(p).ok().flatten())
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        v
    }

    /// Namespace name of `node` in this lab.
    pub fn ns_name(prefix: &str, node: &str) -> String {
        format!("{prefix}-{node}")
    }
}
