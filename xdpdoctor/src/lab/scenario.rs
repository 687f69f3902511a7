//! Scenario files (`scenarios/*.toml`): a lab as data. Nodes become namespaces, links become
//! veth pairs, services are started in nodes, the forwarder is deployed on one node, and named
//! faults are deltas on that healthy setup. Values are parsed into their types as the file is
//! read (addresses, `node:ifname` references), and cross-references are checked right after,
//! so a parsed [`Scenario`] is a plan `lab up` follows without re-checking anything. Which
//! scenarios exist (built-in, generated, files) is `catalog`'s business.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;

use serde::{Deserialize, Serialize};

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
                .chain(f.readdress.iter().map(|r| &r.at));
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
            for (j, n) in f.no_service.iter().enumerate() {
                node_ok(n, format!("fault.{name}.no_service[{j}]"))?;
            }
            for (j, n) in f.remove_node.iter().enumerate() {
                node_ok(n, format!("fault.{name}.remove_node[{j}]"))?;
            }
        }
        if let Some(f) = &self.forwarder {
            for (name, fault) in &self.faults {
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

/// An IPv4 address with its prefix length, written "a.b.c.d/len".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    /// The address.
    pub addr: Ipv4Addr,
    /// The prefix length (0..=32).
    pub prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("\"{s}\" is not a.b.c.d/len"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("\"{a}\" is not an IPv4 address"))?;
        let prefix: u8 = l
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("bad prefix length \"{l}\""))?;
        Ok(Cidr { addr, prefix })
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        format!("{}/{}", c.addr, c.prefix)
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
