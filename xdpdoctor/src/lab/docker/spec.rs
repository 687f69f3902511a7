//! The Docker lab as data: what a scenario's `[docker]` section asks for, the faults that act
//! on it, and what `lab up` made (kept in the lab's state so `lab down` removes exactly that).

use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};

use crate::lab::cidr::Cidr;

/// `[docker]`: containers on a bridge network of the lab's own, a client namespace behind an
/// external veth on the host, and the forwarder on the host between them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSpec {
    /// The external link's /24 is the first one in this range that no route or address on
    /// the host covers (and no other Docker lab uses): the host end gets `.1`, the client
    /// `.254`.
    pub external_pool: Cidr,
    /// `[[docker.container]]`: the containers, each an HTTP server.
    #[serde(rename = "container")]
    pub containers: Vec<ContainerSpec>,
}

/// One container of the lab (`PREFIX-name`): busybox httpd on `port`, reached from the
/// client at the host's external address, `entry_port`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// Its name in the lab (the container is `PREFIX-name`).
    pub name: String,
    /// The port its HTTP server listens on.
    pub port: u16,
    /// The NAT entry's public port on the host's external address.
    pub entry_port: u16,
}

/// A fault of the Docker lab: Docker's defaults the healthy lab changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DockerFault {
    /// The forwarder's devmap holds the bridge (as a forwarder that puts every interface in
    /// it would): the FIB returns the bridge and redirects to it fail. Healthy: xdpdoctor's
    /// forwarder never puts a bridge there; it redirects to the bridge's ports by MAC.
    BridgeInDevmap,
    /// No rule accepts the entries' translated flows: Docker's FORWARD policy DROP applies.
    /// Healthy: one accept rule per entry in DOCKER-USER, commented with the lab's prefix.
    NoAccept,
    /// The containers' eth0 keep tx checksum offload on (Docker's default). Healthy: off.
    TxCsum,
    /// The containers' eth0 have no XDP program and GRO off (Docker's default). Healthy:
    /// GRO requested, so their veths take XDP frames (what the forwarder's redirects to the
    /// bridge ports need).
    NoGro,
}

/// What a Docker lab made, as `lab down` needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerState {
    /// PID of the dockerd the lab started (None: it was running). It keeps running.
    pub started_dockerd: Option<u32>,
    /// The image the containers run.
    pub image: String,
    /// The network's name (`PREFIX-net`), recorded before it is created.
    pub network: String,
    /// Its bridge device (`PREFIX-br`).
    pub bridge: String,
    /// The containers' names, each recorded before it is created.
    pub containers: Vec<String>,
    /// The host end of the external link (`PREFIX-x`), recorded before it is created.
    pub external: String,
    /// The host's address on it and its prefix.
    pub external_addr: Option<(Ipv4Addr, u8)>,
    /// Comments of the accept rules the healthy lab put in DOCKER-USER, each recorded
    /// before it is inserted (table `ip filter`).
    pub accept_rules: Vec<AcceptRecord>,
    /// `lab up` finished: no request to Docker can still be under way.
    #[serde(default)]
    pub complete: bool,
}

/// One accept rule of the lab in `ip filter DOCKER-USER`, as `lab down` deletes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptRecord {
    /// The external interface.
    pub iifname: String,
    /// The container endpoint.
    pub to: SocketAddrV4,
    /// The rule's comment (how it is found again).
    pub comment: String,
}

/// Docker's label on everything the lab makes: `xdpdoctor.lab=PREFIX`.
pub const LABEL: &str = "xdpdoctor.lab";

/// Names of a Docker lab's things, from its prefix.
pub mod names {
    /// The network.
    pub fn network(prefix: &str) -> String {
        format!("{prefix}-net")
    }
    /// The network's bridge device.
    pub fn bridge(prefix: &str) -> String {
        format!("{prefix}-br")
    }
    /// The host end of the external link.
    pub fn external(prefix: &str) -> String {
        format!("{prefix}-x")
    }
    /// A container.
    pub fn container(prefix: &str, name: &str) -> String {
        format!("{prefix}-{name}")
    }
    /// The longest prefix a Docker lab takes: `PREFIX-br` is an interface name (15 bytes).
    pub const MAX_PREFIX: usize = 12;
}
