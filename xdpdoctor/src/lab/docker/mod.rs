//! The Docker lab: the seed's incident on a real Docker host (`scenarios/docker.toml`).
//! Docker's own daemon, its own bridge network and containers, talked to over the Engine
//! API's unix socket (`crate::runtime::docker`, never the `docker` CLI); the client in a
//! namespace of the lab's behind an external veth on the host; xdpdoctor's forwarder on the
//! host with the seed's config shape (`internal` = the containers' veths, which are bridge
//! ports). The seed's faults take Docker's shape: the bridge as the FIB's target, Docker's
//! FORWARD policy DROP, tx checksum offload on and no XDP in the containers.
//!
//! Unlike the namespace labs this one puts things in the host's namespace (the network, its
//! bridge and veths, the external veth `PREFIX-x`, accept rules in `DOCKER-USER` for the
//! healthy lab, the forwarder): all prefixed or labelled `xdpdoctor.lab=PREFIX`, all removed
//! by `lab down` (`down.rs`). Podman: not built here (its `run` fails on this machine kind,
//! docs/testing.md).

pub mod daemon;
pub mod down;
pub mod image;
pub mod rules;
pub mod spec;
pub mod up;

use crate::netns::{host_path, Netns, HOST};
use crate::{Error, Result};

/// The host's namespace (PID 1's): where Docker's daemon makes its bridges and veths. A
/// Docker lab is built from there only.
pub fn host() -> Result<Netns> {
    let host = Netns {
        name: HOST.to_string(),
        path: host_path().ok_or_else(|| {
            Error::not_found(
                "a way into the host's network namespace (PID 1's)",
                Some("no process in it whose /proc/PID/ns/net can be opened".into()),
            )
        })?,
    };
    if Netns::current().inode()? != host.inode()? {
        return Err(Error::unsupported(
            "a Docker lab from this namespace",
            "Docker's bridges and veths live in the host's namespace (PID 1's): run \
             `lab up` there, not under `--netns` or `nsenter`",
        ));
    }
    Ok(host)
}
