//! Scenario files (`scenarios/*.toml`): a lab as data. Nodes become namespaces, links become
//! veth pairs, services are started in nodes, the forwarder is deployed on one node, and named
//! faults are deltas on that healthy setup. Values are parsed into their types as the file is
//! read (addresses, `node:ifname` references), and cross-references are checked right after,
//! so a parsed [`Scenario`] is a plan `lab up` follows without re-checking anything. Which
//! scenarios exist (built-in, generated, files) is `catalog`'s business.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use super::cidr::{Cidr, Cidr6};
use super::docker::spec::{names, DockerFault, DockerSpec};
use crate::forwarder::{Entry, ForwarderConfig};
use crate::netns::bad_ifname;
use crate::{Error, Result};

/// One lab: what to build (nodes, links, services, forwarder), who makes traffic, and the
/// faults it can be built with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Scenario name, shown by `lab list` and recorded in the lab state.
    pub name: String,
    /// One line for `lab list`.
    #[serde(default)]
    pub description: String,
    /// `[[node]]`: the namespaces, `PREFIX-name` once built.
    #[serde(rename = "node")]
    pub nodes: Vec<Node>,
    /// `[[link]]`: veth pairs between nodes.
    #[serde(rename = "link", default)]
    pub links: Vec<LinkSpec>,
    /// `[[bridge]]`: Linux bridges in nodes; link ends join one with `bridge = "NAME"`.
    #[serde(rename = "bridge", default)]
    pub bridges: Vec<BridgeSpec>,
    /// `[[service]]`: HTTP responders to start.
    #[serde(rename = "service", default)]
    pub services: Vec<Service>,
    /// `[forwarder]`: the node xdpdoctor's forwarder runs on and its NAT; None: no forwarder,
    /// and no router namespace recorded.
    pub forwarder: Option<ForwarderSpec>,
    /// `[traffic]`: the client node; None: `lab connect` refuses and diagnoses of the lab get no
    /// traffic source (a passive window).
    pub traffic: Option<Traffic>,
    /// `[fault.NAME]`: the faults, by name.
    #[serde(rename = "fault", default)]
    pub faults: BTreeMap<String, Fault>,
    /// `[docker]`: a Docker lab (containers on a Docker bridge network, the forwarder on the
    /// host) instead of namespaces linked by veths; then `nodes` holds the client only.
    pub docker: Option<DockerSpec>,
}

/// A node: one network namespace (a VM, a container, a client).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Node name; its namespace is `PREFIX-name`.
    pub name: String,
    /// Sysctls set in the node's namespace, by dotted name (`net.ipv4.conf.all.forwarding`).
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// Gateway of the node's default route; None: no default route.
    pub default_route: Option<Ipv4Addr>,
    /// Gateway of the node's IPv6 default route; None: none.
    #[serde(default)]
    pub default_route6: Option<Ipv6Addr>,
}

/// One end of a veth pair.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct End {
    /// The node this end is in.
    pub node: String,
    /// Interface name in that node (1-15 bytes).
    pub name: String,
    /// "a.b.c.d/len"
    pub addr: Option<Cidr>,
    /// An IPv6 address, "x:y::z/len" (added with `nodad`).
    #[serde(default)]
    pub addr6: Option<Cidr6>,
    /// Tx checksum offload on or off; None keeps the veth default (on).
    pub tx_csum: Option<bool>,
    /// GRO requested on or off; None keeps the veth default (off).
    pub gro: Option<bool>,
    /// Transmit and receive queues of this end (1-64), as a multi-queue NIC has; None: one.
    /// XDP frames redirected into a veth land in the peer's receive queue of the sending
    /// CPU, each queue with its own 256-frame ring and NAPI.
    #[serde(default)]
    pub queues: Option<u32>,
    /// The `[[bridge]]` of the same node this end is a port of (`ip link set NAME master
    /// BRIDGE`); None: a plain interface. A port takes no address (the bridge holds it).
    #[serde(default)]
    pub bridge: Option<String>,
}

/// A Linux bridge in a node (`ip link add NAME type bridge`), up, with its address: the
/// shape of a Docker, Podman or CNI-bridge host, containers' veths as its ports.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeSpec {
    /// The node it is made in.
    pub node: String,
    /// Its name (1-15 bytes).
    pub name: String,
    /// Its IPv4 address, "a.b.c.d/len" (the containers' gateway).
    pub addr: Option<Cidr>,
}

/// A veth pair: end `a` is created in its node, its peer moved into `b`'s node.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The end created in its node's namespace.
    pub a: End,
    /// The peer, moved into its node's namespace and renamed there.
    pub b: End,
}

/// An HTTP responder in a node (xdpdoctor re-executed as `lab serve-http`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The node it runs in.
    pub node: String,
    /// TCP port it listens on, on every address of the node.
    pub port: u16,
}

/// The lab's forwarder: the node it runs on, and its config in the seed's shape.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForwarderSpec {
    /// The router node the forwarder is deployed on.
    pub node: String,
    /// Interfaces of that node clients arrive on (DNAT side).
    pub external: Vec<String>,
    /// Interfaces of that node towards the containers (SNAT side).
    #[serde(default)]
    pub internal: Vec<String>,
    /// The NAT entries; checked like a forwarder config when the scenario is read.
    pub entries: Vec<EntrySpec>,
}

/// One NAT entry, as in the forwarder config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySpec {
    /// Public endpoint the client connects to.
    pub from: SocketAddrV4,
    /// The container endpoint it is translated to.
    pub to: SocketAddrV4,
}

/// Who makes traffic in the lab.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Node whose namespace runs the lab's client, which connects to every entry's `from`.
    pub client: String,
}

/// A feature override on one interface ("node:ifname").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSet {
    /// Interface whose features are overridden.
    pub at: IfaceRef,
    /// Tx checksum offload; None leaves the link's setting.
    pub tx_csum: Option<bool>,
    /// GRO requested; None leaves the link's setting.
    pub gro: Option<bool>,
}

/// A sysctl a fault sets in one node, after the node's own `sysctls`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SysctlSet {
    /// The node whose namespace gets it.
    pub node: String,
    /// Dotted name (`net.ipv4.conf.all.forwarding`).
    pub key: String,
    /// Value written to the sysctl file.
    pub value: String,
}

/// An interface that gets another address than its link's.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Readdress {
    /// The interface.
    pub at: IfaceRef,
    /// Its address instead of the link's.
    pub addr: Cidr,
}

/// A named fault: a delta applied to the healthy lab.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// One line for `lab list`.
    #[serde(default)]
    pub description: String,
    /// On when the user names no faults.
    #[serde(default)]
    pub default: bool,
    /// "node:ifname" whose configured address is not added.
    #[serde(default)]
    pub remove_address: Vec<IfaceRef>,
    /// Offload settings that differ from the links'.
    #[serde(default)]
    pub set_features: Vec<FeatureSet>,
    /// Sysctls set on top of the nodes' own.
    #[serde(default)]
    pub sysctls: Vec<SysctlSet>,
    /// "node:ifname" removed from the forwarder's devmap after deployment.
    #[serde(default)]
    pub devmap_remove: Vec<IfaceRef>,
    /// Interfaces that get another address than the link's (a container re-addressed).
    #[serde(default)]
    pub readdress: Vec<Readdress>,
    /// Nodes whose services are not started (their ports are closed).
    #[serde(default)]
    pub no_service: Vec<String>,
    /// Nodes deleted after the forwarder is deployed (a container that vanished).
    #[serde(default)]
    pub remove_node: Vec<String>,
    /// "node:ifname" set administratively down (after its features are set).
    #[serde(default)]
    pub link_down: Vec<IfaceRef>,
    /// NAT targets whose SNAT entry is removed after deployment.
    #[serde(default)]
    pub snat_remove: Vec<SocketAddrV4>,
    /// Docker's defaults the Docker lab keeps (the healthy one changes them).
    #[serde(default)]
    pub docker: Vec<DockerFault>,
    /// "node:ifname" of the forwarder node whose attachment is removed after deployment (its
    /// pinned bpf_link unpinned), as if the program was lost there.
    #[serde(default)]
    pub detach: Vec<IfaceRef>,
    /// MTUs set last (after the forwarder is deployed and `detach`), in order.
    #[serde(default)]
    pub set_mtu: Vec<MtuSet>,
    /// Permanent neighbour entries: `at` knows `addr` at the MAC of interface `of`.
    #[serde(default)]
    pub pin_neighbour: Vec<PinNeighbour>,
    /// Devices of other kinds made in a node (on a lower interface, or alone) before the
    /// nodes are configured: a redirect or FIB target that is not a veth.
    #[serde(default)]
    pub stack: Vec<StackedDevice>,
    /// Queue counts of link ends other than the link's (set when the pair is created).
    #[serde(default)]
    pub queues: Vec<QueueSet>,
}

/// A queue count a fault gives one end of a veth pair.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSet {
    /// The link end.
    pub at: IfaceRef,
    /// Its transmit and receive queues (1-64).
    pub queues: u32,
}

/// The kinds of device a fault can add (`ip link add ... type KIND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StackKind {
    /// A macvlan (mode bridge) on `lower`.
    Macvlan,
    /// An 802.1Q VLAN `id` on `lower`.
    Vlan,
    /// A VXLAN of VNI `id`, UDP port 4789, over `lower` from `local` to `remote`.
    Vxlan,
    /// A dummy device (no lower): it discards everything sent to it.
    Dummy,
}

impl StackKind {
    /// As `ip link` and the kernel's rtnl kind name it.
    pub fn as_str(self) -> &'static str {
        match self {
            StackKind::Macvlan => "macvlan",
            StackKind::Vlan => "vlan",
            StackKind::Vxlan => "vxlan",
            StackKind::Dummy => "dummy",
        }
    }
}

/// A device a fault makes in a node (`ip -n PREFIX-NODE link add NAME link LOWER type KIND`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StackedDevice {
    /// The new device, "node:ifname".
    pub at: IfaceRef,
    /// Its kind.
    pub kind: StackKind,
    /// The interface of the same node it sits on (macvlan and vlan: required; vxlan: the
    /// underlay device; dummy: none).
    #[serde(default)]
    pub lower: Option<String>,
    /// VLAN id (1-4094) or VXLAN VNI (1-16777215).
    #[serde(default)]
    pub id: Option<u32>,
    /// Its IPv4 address.
    #[serde(default)]
    pub addr: Option<Cidr>,
    /// VXLAN: the local underlay address.
    #[serde(default)]
    pub local: Option<Ipv4Addr>,
    /// VXLAN: the remote underlay address (the other tunnel end).
    #[serde(default)]
    pub remote: Option<Ipv4Addr>,
}

/// A permanent neighbour entry a fault adds (`ip neigh add ADDR lladdr MAC(of) dev at`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PinNeighbour {
    /// The interface the entry is on.
    pub at: IfaceRef,
    /// The neighbour's address.
    pub addr: Ipv4Addr,
    /// The interface whose MAC the entry holds.
    pub of: IfaceRef,
}

/// An MTU a fault sets on one interface.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MtuSet {
    /// The interface.
    pub at: IfaceRef,
    /// Its MTU (68..=65535).
    pub mtu: u32,
}

impl Scenario {
    /// Parses and validates scenario text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self> {
        let s: Scenario = toml::from_str(text).map_err(|e| Error::Config {
            file: file.to_path_buf(),
            field: e
                .span()
                .map(|r| format!("bytes {}..{}", r.start, r.end))
                .unwrap_or_else(|| "(document)".into()),
            message: e.message().to_string(),
        })?;
        s.validate(file)?;
        Ok(s)
    }

    /// Checks a scenario made or changed in code as [`Scenario::parse`] checks a file.
    pub(crate) fn validate(&self, file: &Path) -> Result<()> {
        let err = |field: String, message: String| Error::Config {
            file: file.to_path_buf(),
            field,
            message,
        };
        // Names become paths (`/run/netns/PREFIX-NODE`, `/proc/sys/...`) and arguments:
        // checked before anything else, so nothing is created for a scenario that fails.
        if let Some(why) = bad_text(&self.name, 64) {
            return Err(err("name".into(), format!("{:?}: {why}", self.name)));
        }
        let mut nodes: HashSet<&str> = HashSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(why) = bad_node_name(&n.name) {
                return Err(err(
                    format!("node[{i}].name"),
                    format!("{:?}: {why}", n.name),
                ));
            }
            if !nodes.insert(n.name.as_str()) {
                return Err(err(
                    format!("node[{i}].name"),
                    format!("\"{}\" is defined twice", n.name),
                ));
            }
            for key in n.sysctls.keys() {
                if let Some(why) = bad_sysctl(key) {
                    return Err(err(format!("node[{i}].sysctls"), format!("{key:?}: {why}")));
                }
            }
        }
        for (name, f) in &self.faults {
            for (j, s) in f.sysctls.iter().enumerate() {
                if let Some(why) = bad_sysctl(&s.key) {
                    return Err(err(
                        format!("fault.{name}.sysctls[{j}].key"),
                        format!("{:?}: {why}", s.key),
                    ));
                }
            }
        }
        let mut services = HashSet::new();
        for (i, s) in self.services.iter().enumerate() {
            if !services.insert((s.node.as_str(), s.port)) {
                return Err(err(
                    format!("service[{i}]"),
                    format!("{}:{} is defined twice", s.node, s.port),
                ));
            }
        }
        let node_ok = |n: &str, field: String| -> Result<()> {
            if nodes.contains(n) {
                Ok(())
            } else {
                Err(err(field, format!("unknown node \"{n}\"")))
            }
        };
        let mut ifaces: HashSet<IfaceRef> = HashSet::new();
        for (i, l) in self.links.iter().enumerate() {
            for (end, side) in [(&l.a, "a"), (&l.b, "b")] {
                node_ok(&end.node, format!("link[{i}].{side}.node"))?;
                if let Some(why) = bad_ifname(&end.name) {
                    return Err(err(
                        format!("link[{i}].{side}.name"),
                        format!("{:?} is not a valid interface name: {why}", end.name),
                    ));
                }
                if end.queues.is_some_and(|q| !(1..=64).contains(&q)) {
                    return Err(err(
                        format!("link[{i}].{side}.queues"),
                        format!("{}: use 1-64", end.queues.unwrap_or_default()),
                    ));
                }
                if !ifaces.insert(end.iface()) {
                    return Err(err(
                        format!("link[{i}].{side}.name"),
                        format!("{} defined twice", end.iface()),
                    ));
                }
            }
        }
        for (i, b) in self.bridges.iter().enumerate() {
            node_ok(&b.node, format!("bridge[{i}].node"))?;
            if let Some(why) = bad_ifname(&b.name) {
                return Err(err(
                    format!("bridge[{i}].name"),
                    format!("{:?} is not a valid interface name: {why}", b.name),
                ));
            }
            let at = IfaceRef {
                node: b.node.clone(),
                name: b.name.clone(),
            };
            if !ifaces.insert(at.clone()) {
                return Err(err(
                    format!("bridge[{i}].name"),
                    format!("{at} defined twice"),
                ));
            }
        }
        for (i, l) in self.links.iter().enumerate() {
            for (end, side) in [(&l.a, "a"), (&l.b, "b")] {
                let Some(br) = &end.bridge else { continue };
                if !self
                    .bridges
                    .iter()
                    .any(|b| b.node == end.node && &b.name == br)
                {
                    return Err(err(
                        format!("link[{i}].{side}.bridge"),
                        format!("no [[bridge]] \"{br}\" in node \"{}\"", end.node),
                    ));
                }
                if end.addr.is_some() || end.addr6.is_some() {
                    return Err(err(
                        format!("link[{i}].{side}.addr"),
                        format!(
                            "{} is a port of {br}: the bridge holds the address",
                            end.iface()
                        ),
                    ));
                }
            }
        }
        let link_ends = ifaces.clone();
        for (name, f) in &self.faults {
            // A lower is a link end or a device this fault made before.
            let mut known = link_ends.clone();
            for (j, d) in f.stack.iter().enumerate() {
                let field = format!("fault.{name}.stack[{j}]");
                node_ok(&d.at.node, format!("{field}.at"))?;
                if let Some(why) = bad_ifname(&d.at.name) {
                    return Err(err(
                        format!("{field}.at"),
                        format!("{:?} is not a valid interface name: {why}", d.at.name),
                    ));
                }
                if let Some(why) = d.bad(&known) {
                    return Err(err(field, why));
                }
                // Faults are alternatives: a device another fault also makes is fine, one
                // that is a link end (or made twice by this fault) is not.
                if !known.insert(d.at.clone()) {
                    return Err(err(
                        format!("{field}.at"),
                        format!("{} is defined twice", d.at),
                    ));
                }
                ifaces.insert(d.at.clone());
            }
        }
        for (i, s) in self.services.iter().enumerate() {
            node_ok(&s.node, format!("service[{i}].node"))?;
        }
        if let Some(f) = &self.forwarder {
            node_ok(&f.node, "forwarder.node".into())?;
        }
        if let Some(t) = &self.traffic {
            node_ok(&t.client, "traffic.client".into())?;
        }
        for (name, f) in &self.faults {
            let refs = f
                .remove_address
                .iter()
                .chain(&f.devmap_remove)
                .chain(&f.link_down)
                .chain(&f.detach)
                .chain(f.readdress.iter().map(|r| &r.at))
                .chain(f.set_mtu.iter().map(|m| &m.at))
                .chain(f.pin_neighbour.iter().flat_map(|p| [&p.at, &p.of]));
            for (j, at) in refs.enumerate() {
                if !ifaces.contains(at) {
                    return Err(err(
                        format!("fault.{name}[{j}]"),
                        format!("unknown interface \"{at}\" (write node:ifname)"),
                    ));
                }
            }
            for (j, fs) in f.set_features.iter().enumerate() {
                if !ifaces.contains(&fs.at) {
                    return Err(err(
                        format!("fault.{name}.set_features[{j}].at"),
                        format!("unknown interface \"{}\"", fs.at),
                    ));
                }
            }
            for (j, s) in f.sysctls.iter().enumerate() {
                node_ok(&s.node, format!("fault.{name}.sysctls[{j}].node"))?;
            }
            for (j, q) in f.queues.iter().enumerate() {
                let field = format!("fault.{name}.queues[{j}]");
                if !link_ends.contains(&q.at) {
                    return Err(err(
                        field,
                        format!("\"{}\" is not an end of a [[link]]", q.at),
                    ));
                }
                if !(1..=64).contains(&q.queues) {
                    return Err(err(field, format!("{}: use 1-64", q.queues)));
                }
            }
            for (j, m) in f.set_mtu.iter().enumerate() {
                if !(68..=65535).contains(&m.mtu) {
                    return Err(err(
                        format!("fault.{name}.set_mtu[{j}].mtu"),
                        format!("{} is not an MTU (68..=65535)", m.mtu),
                    ));
                }
            }
            for (j, n) in f.no_service.iter().enumerate() {
                node_ok(n, format!("fault.{name}.no_service[{j}]"))?;
            }
            for (j, n) in f.remove_node.iter().enumerate() {
                node_ok(n, format!("fault.{name}.remove_node[{j}]"))?;
            }
        }
        if let Some(d) = &self.docker {
            self.validate_docker(d, file)?;
        } else if let Some((name, _)) = self.faults.iter().find(|(_, f)| !f.docker.is_empty()) {
            return Err(err(
                format!("fault.{name}.docker"),
                "only a scenario with a [docker] section has Docker faults".into(),
            ));
        }
        if let Some(f) = &self.forwarder {
            for (name, fault) in &self.faults {
                for (j, at) in fault.detach.iter().enumerate() {
                    if at.node != f.node {
                        return Err(err(
                            format!("fault.{name}.detach[{j}]"),
                            format!(
                                "\"{at}\" is not an interface of the forwarder node {}",
                                f.node
                            ),
                        ));
                    }
                }
                for (j, at) in fault.devmap_remove.iter().enumerate() {
                    if at.node != f.node {
                        return Err(err(
                            format!("fault.{name}.devmap_remove[{j}]"),
                            format!(
                                "\"{at}\" is not an interface of the forwarder node {}",
                                f.node
                            ),
                        ));
                    }
                }
            }
            ForwarderConfig::parse(&self.forwarder_config(f).to_json(), file)?;
        }
        Ok(())
    }

    /// A Docker lab: the client is the only node, the network, containers and forwarder come
    /// from `[docker]`.
    fn validate_docker(&self, d: &DockerSpec, file: &Path) -> Result<()> {
        let err = |field: &str, message: String| Error::Config {
            file: file.to_path_buf(),
            field: field.to_string(),
            message,
        };
        if self.forwarder.is_some()
            || !self.links.is_empty()
            || !self.services.is_empty()
            || !self.bridges.is_empty()
        {
            return Err(err(
                "docker",
                "a Docker lab has no [forwarder], [[link]], [[bridge]] or [[service]]: its forwarder,                  links and servers come from [docker]"
                    .into(),
            ));
        }
        if self.traffic.is_none() || self.nodes.len() != 1 {
            return Err(err(
                "docker",
                "a Docker lab has one node, its client, named in [traffic]".into(),
            ));
        }
        if d.external_pool.prefix > 24 {
            return Err(err(
                "docker.external_pool",
                format!(
                    "/{}: the pool must hold at least one /24",
                    d.external_pool.prefix
                ),
            ));
        }
        if d.containers.is_empty() {
            return Err(err("docker.container", "no containers".into()));
        }
        let mut seen = HashSet::new();
        for (i, c) in d.containers.iter().enumerate() {
            let ok = !c.name.is_empty()
                && c.name.len() <= 40
                && c.name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
            if !ok || !seen.insert(c.name.as_str()) {
                return Err(err(
                    &format!("docker.container[{i}].name"),
                    format!(
                        "\"{}\": a unique name of letters, digits, '-' or '_'",
                        c.name
                    ),
                ));
            }
            if c.port == 0 || c.entry_port == 0 {
                return Err(err(
                    &format!("docker.container[{i}]"),
                    "ports must not be 0".into(),
                ));
            }
        }
        Ok(())
    }

    /// The longest lab prefix this scenario takes (a Docker lab names host interfaces after
    /// it).
    pub fn max_prefix(&self) -> usize {
        if self.docker.is_some() {
            names::MAX_PREFIX
        } else {
            24
        }
    }

    /// The forwarder config for `f`, what `lab up` deploys and writes for the user
    /// (`full_checksum` off, next-hop cache off).
    pub fn forwarder_config(&self, f: &ForwarderSpec) -> ForwarderConfig {
        ForwarderConfig {
            external: f.external.clone(),
            internal: f.internal.clone(),
            entries: f
                .entries
                .iter()
                .map(|e| Entry {
                    from: e.from,
                    to: e.to,
                })
                .collect(),
            full_checksum: false,
            fib_cache_ms: 0,
        }
    }

    /// The faults with these names (known: `select_faults` checked them).
    pub fn faults_named<'a>(&'a self, names: &'a [String]) -> impl Iterator<Item = &'a Fault> {
        names.iter().filter_map(|n| self.faults.get(n))
    }

    /// Resolves the faults to apply: `names` if given, else every `default = true` fault,
    /// none with `no_faults`. Unknown names are an error that lists the known ones.
    pub fn select_faults(&self, names: &[String], no_faults: bool) -> Result<Vec<String>> {
        if no_faults {
            if !names.is_empty() {
                return Err(Error::invalid(
                    "--no-faults",
                    "cannot be combined with --fault",
                ));
            }
            return Ok(Vec::new());
        }
        if names.is_empty() {
            return Ok(self
                .faults
                .iter()
                .filter(|(_, f)| f.default)
                .map(|(n, _)| n.clone())
                .collect());
        }
        for n in names {
            if !self.faults.contains_key(n) {
                return Err(Error::invalid(
                    format!("--fault {n}"),
                    format!(
                        "scenario {} has no such fault (known: {})",
                        self.name,
                        self.faults.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        Ok(names.to_vec())
    }
}

/// Why `s` cannot be a node name (its namespace is `/run/netns/PREFIX-NAME`), if it cannot:
/// 1-32 letters, digits, `-` or `_`, not starting with `-`.
fn bad_node_name(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > 32 {
        return Some("use 1-32 characters".into());
    }
    if s.starts_with('-') {
        return Some("must not start with '-'".into());
    }
    s.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        .map(|c| format!("{:?} is not allowed (letters, digits, '-' and '_' only)", c))
}

/// Why `key` cannot be a sysctl a lab sets, if it cannot: a dotted name under `net.` (the
/// per-namespace ones) of letters, digits, `_` and `-` (no `/`, no empty or `..` parts: the
/// key becomes a path under /proc/sys).
fn bad_sysctl(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.first() != Some(&"net") || parts.len() < 2 {
        return Some("a lab sets only per-namespace sysctls: net.*".into());
    }
    for p in parts {
        if p.is_empty() {
            return Some("an empty part".into());
        }
        if let Some(c) = p
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Some(format!("{c:?} is not allowed"));
        }
    }
    None
}

/// Why `s` cannot be free text shown to people (a scenario's name), if it cannot: 1-`max`
/// characters, none of them a control character.
fn bad_text(s: &str, max: usize) -> Option<String> {
    if s.is_empty() || s.chars().count() > max {
        return Some(format!("use 1-{max} characters"));
    }
    s.chars()
        .find(|c| crate::report::escape::unsafe_char(*c))
        .map(|c| format!("{c:?} is not allowed"))
}

impl StackedDevice {
    /// Why this device cannot be made, if it cannot: its lower must be an interface of the
    /// same node in `known` (the link ends and the devices its fault makes before it) where
    /// its kind needs one, and its id and addresses must fit its kind.
    fn bad(&self, known: &HashSet<IfaceRef>) -> Option<String> {
        let kind = self.kind.as_str();
        if let Some(l) = &self.lower {
            let lower = IfaceRef {
                node: self.at.node.clone(),
                name: l.clone(),
            };
            if self.kind == StackKind::Dummy {
                return Some("a dummy has no lower device".into());
            }
            if !known.contains(&lower) {
                return Some(format!("lower: unknown interface \"{lower}\""));
            }
        } else if matches!(self.kind, StackKind::Macvlan | StackKind::Vlan) {
            return Some(format!("a {kind} needs `lower`"));
        }
        match (self.kind, self.id) {
            (StackKind::Vlan, Some(1..=4094)) | (StackKind::Vxlan, Some(1..=0xff_ffff)) => {}
            (StackKind::Vlan | StackKind::Vxlan, id) => {
                return Some(format!(
                    "id {}: a {kind} needs {}",
                    id.map(|i| i.to_string())
                        .unwrap_or_else(|| "missing".into()),
                    if self.kind == StackKind::Vlan {
                        "a VLAN id 1-4094"
                    } else {
                        "a VNI 1-16777215"
                    }
                ))
            }
            (_, Some(_)) => return Some(format!("a {kind} takes no id")),
            (_, None) => {}
        }
        if self.kind != StackKind::Vxlan && (self.local.is_some() || self.remote.is_some()) {
            return Some(format!("local and remote are for a vxlan, not a {kind}"));
        }
        if self.kind == StackKind::Vxlan && self.remote.is_none() {
            return Some("a vxlan needs `remote` (the other tunnel end)".into());
        }
        None
    }
}

impl End {
    /// This end as `node:ifname`.
    pub fn iface(&self) -> IfaceRef {
        IfaceRef {
            node: self.node.clone(),
            name: self.name.clone(),
        }
    }
}

/// An interface of a node, written "node:ifname".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IfaceRef {
    /// The node (namespace `PREFIX-node`).
    pub node: String,
    /// The interface in it.
    pub name: String,
}

impl TryFrom<String> for IfaceRef {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        match s.split_once(':') {
            Some((n, i)) if !n.is_empty() && !i.is_empty() => Ok(IfaceRef {
                node: n.into(),
                name: i.into(),
            }),
            _ => Err(format!("\"{s}\" is not node:ifname")),
        }
    }
}

impl From<IfaceRef> for String {
    fn from(r: IfaceRef) -> String {
        r.to_string()
    }
}

impl std::fmt::Display for IfaceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.node, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_seed_parses_and_has_the_incident_faults() {
        let (s, _) = crate::lab::catalog::load("seed", None).unwrap();
        let d = s.select_faults(&[], false).unwrap();
        assert_eq!(d, vec!["no-address", "peer-no-xdp", "tx-csum"]);
        assert!(s.select_faults(&[], true).unwrap().is_empty());
        assert!(s.select_faults(&["nope".into()], false).is_err());
    }

    /// Names become paths and arguments: refused before any namespace is made.
    #[test]
    fn names_duplicates_and_paths_are_checked() {
        let node = |n: &str| format!("name=\"x\"\n[[node]]\nname=\"{n}\"\n");
        let e = |t: &str| {
            Scenario::parse(t, Path::new("x.toml"))
                .unwrap_err()
                .to_string()
        };
        for bad in ["vm/../../etc", "..", "a b", "-vm", "", "vm\\u001b"] {
            let m = e(&node(bad));
            assert!(m.contains("node[0].name"), "{bad:?}: {m}");
        }
        let twice = format!("{}[[node]]\nname=\"vm\"\n", node("vm"));
        assert!(e(&twice).contains("node[1].name") && e(&twice).contains("twice"));
        let sysctl = format!(
            "{}sysctls = {{ \"net/../../etc/passwd\" = \"1\" }}\n",
            node("vm")
        );
        assert!(e(&sysctl).contains("node[0].sysctls"), "{}", e(&sysctl));
        let sysctl = format!("{}sysctls = {{ \"kernel.panic\" = \"1\" }}\n", node("vm"));
        assert!(e(&sysctl).contains("net.*"), "{}", e(&sysctl));
        let link = format!(
            "{}[[link]]\na={{node=\"vm\",name=\"e/0\"}}\nb={{node=\"vm\",name=\"e1\"}}",
            node("vm")
        );
        assert!(e(&link).contains("link[0].a.name"), "{}", e(&link));
        let svc = format!(
            "{}[[service]]\nnode=\"vm\"\nport=80\n[[service]]\nnode=\"vm\"\nport=80\n",
            node("vm")
        );
        assert!(e(&svc).contains("service[1]"), "{}", e(&svc));
        assert!(Scenario::parse(&node("m_1-x"), Path::new("x.toml")).is_ok());
    }

    #[test]
    fn mtu_detach_and_neighbour_faults_are_checked() {
        let (s, _) = crate::lab::catalog::load("seed", None).unwrap();
        for f in ["mtu-m1", "jumbo-m1", "rp-filter"] {
            assert!(s.faults.contains_key(f), "{f}");
        }
        assert_eq!(s.faults["jumbo-m1"].detach[0].to_string(), "vm:ve-m1");
        let base = r#"name="x"
[[node]]
name="a"
[[node]]
name="b"
[[link]]
a={node="a",name="e0"}
b={node="b",name="e0"}
[forwarder]
node="a"
external=["e0"]
entries=[{from="192.168.9.1:80",to="10.1.1.1:80"}]
"#;
        let bad = |fault: &str| {
            Scenario::parse(&format!("{base}[fault.f]\n{fault}\n"), Path::new("x.toml"))
                .unwrap_err()
                .to_string()
        };
        let e = bad(r#"set_mtu=[{at="a:e0",mtu=20}]"#);
        assert!(
            e.contains("fault.f.set_mtu[0].mtu") && e.contains("not an MTU"),
            "{e}"
        );
        let e = bad(r#"detach=["b:e0"]"#);
        assert!(e.contains("fault.f.detach[0]"), "{e}");
        let e = bad(r#"pin_neighbour=[{at="a:e0",addr="10.0.0.1",of="b:e9"}]"#);
        assert!(e.contains("b:e9"), "{e}");
    }

    #[test]
    fn stacked_devices_are_checked() {
        let (s, _) = crate::lab::catalog::load("seed", None).unwrap();
        for (f, kind) in [
            ("macvlan-m1", StackKind::Macvlan),
            ("vlan-m1", StackKind::Vlan),
            ("vxlan-m1", StackKind::Vxlan),
            ("dummy-m1", StackKind::Dummy),
        ] {
            assert_eq!(s.faults[f].stack[0].kind, kind, "{f}");
            assert!(!s.faults[f].default, "{f}");
        }
        let base = r#"name="x"
[[node]]
name="a"
[[node]]
name="b"
[[link]]
a={node="a",name="e0"}
b={node="b",name="e0"}
"#;
        let e = |dev: &str| {
            Scenario::parse(
                &format!("{base}[fault.f]\nstack=[{dev}]\n"),
                Path::new("x.toml"),
            )
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(e(r#"{at="a:m0",kind="macvlan",lower="e0"}"#), "");
        assert_eq!(
            e(r#"{at="a:v0",kind="vxlan",id=7,lower="e0",remote="10.0.0.2"}"#),
            ""
        );
        for (dev, want) in [
            (r#"{at="a:m0",kind="macvlan"}"#, "needs `lower`"),
            (
                r#"{at="a:m0",kind="macvlan",lower="e9"}"#,
                "unknown interface \"a:e9\"",
            ),
            (r#"{at="a:m0",kind="vlan",lower="e0"}"#, "VLAN id 1-4094"),
            (
                r#"{at="a:m0",kind="vlan",lower="e0",id=4095}"#,
                "VLAN id 1-4094",
            ),
            (r#"{at="a:d0",kind="dummy",lower="e0"}"#, "no lower device"),
            (r#"{at="a:d0",kind="dummy",id=3}"#, "takes no id"),
            (r#"{at="a:v0",kind="vxlan",id=7}"#, "needs `remote`"),
            (r#"{at="a:e0",kind="dummy"}"#, "defined twice"),
            (r#"{at="zz:d0",kind="dummy"}"#, "unknown node"),
            (r#"{at="a:d/0",kind="dummy"}"#, "not a valid interface name"),
        ] {
            let got = e(dev);
            assert!(
                got.contains(want) && got.contains("fault.f"),
                "{dev}: {got}"
            );
        }
        let got = e(r#"{at="a:d0",kind="bridge"}"#);
        assert!(got.contains("unknown variant"), "{got}");
        // A stacked device can be named by the fault's other fields.
        let ok = format!(
            "{base}[fault.f]\nstack=[{{at=\"a:d0\",kind=\"dummy\"}}]\nremove_address=[\"a:d0\"]\n"
        );
        assert!(Scenario::parse(&ok, Path::new("x.toml")).is_ok());
    }

    #[test]
    fn bridges_and_their_ports_are_checked() {
        let t = |bridge: &str, port: &str| {
            format!(
                "name=\"x\"\n[[node]]\nname=\"a\"\n[[node]]\nname=\"c\"\n{bridge}\n\
                 [[link]]\na={{node=\"a\",name=\"p0\"{port}}}\nb={{node=\"c\",name=\"e0\"}}"
            )
        };
        let br = "[[bridge]]\nnode=\"a\"\nname=\"br0\"\naddr=\"10.1.0.1/24\"";
        let ok = Scenario::parse(&t(br, ",bridge=\"br0\""), Path::new("x.toml")).unwrap();
        assert_eq!(ok.bridges[0].name, "br0");
        assert_eq!(ok.links[0].a.bridge.as_deref(), Some("br0"));
        for (bridge, port, want) in [
            ("", ",bridge=\"br0\"", "no [[bridge]] \"br0\" in node \"a\""),
            (br, ",bridge=\"br1\"", "link[0].a.bridge"),
            (
                br,
                ",bridge=\"br0\",addr=\"10.1.0.2/24\"",
                "the bridge holds the address",
            ),
            (
                "[[bridge]]\nnode=\"a\"\nname=\"p0\"",
                "",
                "a:p0 defined twice",
            ),
            (
                "[[bridge]]\nnode=\"zz\"\nname=\"br0\"",
                "",
                "bridge[0].node",
            ),
            (
                "[[bridge]]\nnode=\"a\"\nname=\"b/0\"",
                "",
                "not a valid interface name",
            ),
        ] {
            let e = Scenario::parse(&t(bridge, port), Path::new("x.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{bridge} {port}: {e}");
        }
    }

    #[test]
    fn unknown_node_is_named() {
        let t = r#"name="x"
[[node]]
name="a"
[[link]]
a={node="a",name="e0"}
b={node="zz",name="e0"}"#;
        let e = format!("{}", Scenario::parse(t, Path::new("x.toml")).unwrap_err());
        assert!(e.contains("link[0].b.node") && e.contains("zz"), "{e}");
    }

    #[test]
    fn typed_values_are_checked_while_reading() {
        let t = |addr: &str| {
            format!(
                "name=\"x\"\n[[node]]\nname=\"a\"\n[[link]]\na={{node=\"a\",name=\"e0\",addr=\"{addr}\"}}\nb={{node=\"a\",name=\"e1\"}}"
            )
        };
        assert!(Scenario::parse(&t("10.0.0.1/24"), Path::new("x.toml")).is_ok());
        let e = Scenario::parse(&t("10.0.0.1/33"), Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().contains("bad prefix length"), "{e}");
        assert_eq!("10.1.2.3/8".parse::<Cidr>().unwrap().prefix, 8);
        assert!(IfaceRef::try_from("vm".to_string()).is_err());
        assert_eq!(
            IfaceRef::try_from("vm:ve-m1".to_string())
                .unwrap()
                .to_string(),
            "vm:ve-m1"
        );
    }
}
