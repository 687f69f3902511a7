//! A running lab's record, `/run/xdpdoctor/labs/<prefix>.json`: what `lab up` made (written
//! after every step, so an interrupted `lab up` can still be cleaned), read by `lab down`
//! and `lab status`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::forwarder::pins::STATE_ROOT;
use crate::{Error, Result};

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
    /// Namespace the forwarder was deployed in, if it was.
    pub forwarder_netns: Option<String>,
    /// The forwarder config written for the user.
    pub forwarder_config: Option<PathBuf>,
    /// Namespace of the traffic client.
    pub client_netns: Option<String>,
}

pub fn labs_dir() -> PathBuf {
    PathBuf::from(STATE_ROOT).join("labs")
}

impl LabState {
    pub fn path(prefix: &str) -> PathBuf {
        labs_dir().join(format!("{prefix}.json"))
    }

    /// Directory for files the lab writes for the user (the forwarder config).
    pub fn files_dir(prefix: &str) -> PathBuf {
        labs_dir().join(prefix)
    }

    pub fn save(&self) -> Result<()> {
        let p = Self::path(&self.prefix);
        std::fs::create_dir_all(labs_dir())
            .map_err(|e| Error::io("create directory", labs_dir(), e))?;
        std::fs::write(&p, serde_json::to_string_pretty(self).expect("json"))
            .map_err(|e| Error::io("write", p, e))
    }

    pub fn load(prefix: &str) -> Result<Option<Self>> {
        let p = Self::path(prefix);
        match std::fs::read_to_string(&p) {
            Ok(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|e| Error::invalid(p.display().to_string(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", p, e)),
        }
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
