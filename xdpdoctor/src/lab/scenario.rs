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

    fn validate(&self, file: &Path) -> Result<()> {
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
                if !ifaces.insert(end.iface()) {
                    return Err(err(
                        format!("link[{i}].{side}.name"),
                        format!("{} defined twice", end.iface()),
                    ));
                }
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
        if self.forwarder.is_some() || !self.links.is_empty() || !self.services.is_empty() {
            return Err(err(
                "docker",
                "a Docker lab has no [forwarder], [[link]] or [[service]]: its forwarder,                  links and servers come from [docker]"
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

/// Why `s` cannot be an interface name, if it cannot: what the kernel accepts
/// (`dev_valid_name`: 1-15 bytes, not `.` or `..`, no `/`, `:` or whitespace), without
/// control characters.
fn bad_ifname(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > 15 {
        return Some("use 1-15 bytes".into());
    }
    if s == "." || s == ".." {
        return Some("reserved".into());
    }
    s.chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
        .map(|c| format!("{c:?} is not allowed"))
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
