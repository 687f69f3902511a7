//! A running lab's record, `/run/xdpdoctor/labs/<prefix>.json`: what `lab up` made (written
//! after every step, so an interrupted `lab up` can still be cleaned), read by `lab down`
//! and `lab status`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{state, Result};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Responder {
    pub node: String,
    pub netns: String,
    pub port: u16,
    pub pid: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LabState {
    pub prefix: String,
    pub scenario: String,
    pub scenario_file: PathBuf,
    /// Namespaces this lab created, in creation order.
    pub namespaces: Vec<String>,
    pub responders: Vec<Responder>,
    pub faults: Vec<String>,
    /// The router namespace (where the forwarder is deployed, or where the user brings their
    /// own XDP program with `--no-forwarder`).
    pub forwarder_netns: Option<String>,
    /// The forwarder config written for the user.
    pub forwarder_config: Option<PathBuf>,
    /// Namespace of the traffic client.
    pub client_netns: Option<String>,
    /// What the client connects to: (entry `from`, entry `to`).
    #[serde(default)]
    pub targets: Vec<(std::net::SocketAddrV4, std::net::SocketAddrV4)>,
}

/// Directory of the labs' state files.
pub fn labs_dir() -> PathBuf {
    state::labs_dir()
}

impl LabState {
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

    pub fn save(&self) -> Result<()> {
        state::write(&Self::path(&self.prefix), self)
    }

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
