//! Container runtimes: the names people use for the containers behind network namespaces,
//! and Docker's Engine API for the Docker lab.
//!
//! A namespace reached only through `/proc/PID/ns/net` is named after the container its
//! process runs in ([`container_of_pid`]): the process's cgroup names the container's id
//! (`cgroup.rs`), and the runtime that owns it names the container: Docker (and Podman's
//! compatible API) over its unix socket (`docker.rs`, HTTP in `http.rs`), containerd and
//! CRI-O from their state files (`oci.rs`). Names read `docker:web1`, `podman:db`,
//! `cri:NAMESPACE/POD`, `containerd:NAMESPACE/ID`. A runtime that does not answer costs one
//! failed connect per container id and process: answers (and their absence) are remembered
//! for the life of the process (a container renamed meanwhile keeps its old name there).

pub mod cgroup;
pub mod docker;
pub mod http;
pub mod oci;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub use docker::Docker;

/// A container as its runtime names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// `docker`, `podman`, `cri` or `containerd`.
    pub runtime: &'static str,
    /// Its name in that runtime (`web1`; `NAMESPACE/POD` for a Kubernetes pod).
    pub name: String,
    /// Its full id.
    pub id: String,
}

impl std::fmt::Display for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.runtime, self.name)
    }
}

/// Whether `name` is a namespace name this module gave (`RUNTIME:NAME`), as opposed to an
/// `ip netns` name or `pid:N`.
pub fn is_container_name(name: &str) -> bool {
    ["docker:", "podman:", "cri:", "containerd:"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Container ids already asked about, with the answer.
static KNOWN: Mutex<Option<HashMap<String, Option<Container>>>> = Mutex::new(None);

/// The container process `pid` runs in, as its runtime names it; None for a process in no
/// container (or one no runtime here names).
pub fn container_of_pid(pid: u32) -> Option<Container> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let cg = cgroup::parse(&text)?;
    if let Some(known) = KNOWN
        .lock()
        .ok()
        .and_then(|k| k.as_ref().and_then(|m| m.get(&cg.id).cloned()))
    {
        return known;
    }
    let found = resolve(&cg);
    log::debug!(
        "pid {pid}: container {} -> {}",
        oci::short(&cg.id),
        found
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "(no runtime names it)".into())
    );
    if let Ok(mut k) = KNOWN.lock() {
        k.get_or_insert_with(HashMap::new)
            .insert(cg.id.clone(), found.clone());
    }
    found
}

/// Asks the runtimes the cgroup path points at, most likely first.
fn resolve(cg: &cgroup::CgroupId) -> Option<Container> {
    let api = |d: Docker| {
        let d = d.with_timeout(Duration::from_secs(2));
        match d.container(&cg.id) {
            Ok(Some(c)) => Some(Container {
                runtime: d.runtime,
                name: c.name,
                id: cg.id.clone(),
            }),
            Ok(None) => None,
            Err(e) => {
                log::debug!("{} API at {}: {e}", d.runtime, d.socket().display());
                None
            }
        }
    };
    let from_files = || {
        oci::name_of(&cg.id).map(|(runtime, name)| Container {
            runtime,
            name,
            id: cg.id.clone(),
        })
    };
    let by_id = |runtime: &'static str| Container {
        runtime,
        name: oci::short(&cg.id).to_string(),
        id: cg.id.clone(),
    };
    match cg.hint {
        cgroup::Hint::Docker => api(Docker::new()).or_else(|| Some(by_id("docker"))),
        cgroup::Hint::Podman => api(Docker::podman()).or_else(|| Some(by_id("podman"))),
        cgroup::Hint::Cri => from_files().or_else(|| api(Docker::new())),
        cgroup::Hint::Unknown => from_files().or_else(|| api(Docker::new())),
    }
}
