//! Bridges the forwarder serves: XDP NAT straight to the bridge port.
//!
//! On a Docker, Podman or CNI-bridge host `bpf_fib_lookup` for a container's address answers
//! with the bridge (docker0, br-<id>), and a bridge has no `ndo_xdp_xmit`: a redirect to it
//! dies with EOPNOTSUPP. The forwarder instead looks up the next hop's MAC (the FIB's `dmac`)
//! in `bridge_ports` and redirects to the port behind it, bypassing the bridge the way a
//! router redirect bypasses the stack (forwarder.bpf.c, `bridge_port`). This module decides
//! which bridges and ports are served and keeps those maps right:
//!
//! - A bridge named in `interfaces.internal` means all its veth ports, now and later; a port
//!   named directly (the seed's shape) serves its bridge for that port only. An external
//!   interface cannot be a bridge (XDP on a bridge device sees only what the bridge itself
//!   receives; name its uplink).
//! - The MACs come from the ports' peers (the container's eth0, asked over rtnetlink with
//!   `IFLA_TARGET_NETNSID`, no namespace entered) and from the bridge's FDB (learned
//!   entries of served ports: a port with more than one host behind it).
//! - The devmap never holds a bridge; it holds the ports (every interface of the namespace
//!   at deploy, as before, bridges excepted).
//! - The targets' neighbours on a served bridge are resolved at deploy and at every sync
//!   (`NTF_USE`: the kernel's own ARP, the entry is an ordinary learned one, nothing to
//!   undo). Without it the first packet of a flow is passed to the stack (NO_NEIGH), where a
//!   Docker host's FORWARD policy drops it and the neighbour is never resolved.
//!
//! [`sync`] brings a deployment up to date (new ports attached and mapped, gone ones
//! dropped), under the namespace's lock; [`follow`] runs it on every rtnetlink link and
//! neighbour event. Between a container starting and the next sync its port has no program
//! and its MAC no entry: its packets are passed to the stack (`passed_bridge`) and its
//! replies leave untranslated, so its connections fail until the sync (docs/forwarder.md,
//! "Bridged containers").

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use aya::maps::{HashMap as BpfHashMap, MapData};
use serde::{Deserialize, Serialize};

use super::config::{ForwarderConfig, Role};
use crate::bpf::forwarder_abi::{self as abi, PortKey};
use crate::netlink::rtnl::{Link, LinkKind, Rtnl};
use crate::{Error, Result};

/// A bridge the forwarder serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedBridge {
    /// Its name at deploy time.
    pub name: String,
    /// Its ifindex in the forwarder's namespace.
    pub ifindex: u32,
    /// Named in `interfaces.internal`: every veth port, now and later. `false`: the bridge of
    /// ports named directly, which are the only ones served.
    pub all_ports: bool,
}

/// One interface the forwarder attaches to, bridges expanded.
#[derive(Debug, Clone)]
pub struct Planned<'a> {
    /// The link.
    pub link: &'a Link,
    /// Its program.
    pub role: Role,
    /// The bridge named in the config it stands for (None: named itself).
    pub via: Option<String>,
}

/// The interfaces `cfg` names with each bridge in `interfaces.internal` expanded to its veth
/// ports, and the bridges served. `links` is the namespace's dump; names were checked.
pub fn expand<'a>(
    cfg: &ForwarderConfig,
    links: &'a [Link],
    file: &Path,
) -> Result<(Vec<Planned<'a>>, Vec<ServedBridge>)> {
    let mut plan = Vec::new();
    let mut served: Vec<ServedBridge> = Vec::new();
    let mut serve = |b: &Link, all: bool| match served.iter_mut().find(|s| s.ifindex == b.index) {
        Some(s) => s.all_ports |= all,
        None => served.push(ServedBridge {
            name: b.name.clone(),
            ifindex: b.index,
            all_ports: all,
        }),
    };
    for (i, (name, role)) in cfg.interfaces().enumerate() {
        let Some(l) = links.iter().find(|l| l.name == name) else {
            continue;
        };
        if !l.is_bridge() {
            if role == Role::Internal {
                if let Some(b) = l.master.and_then(|m| links.iter().find(|x| x.index == m)) {
                    if b.is_bridge() {
                        serve(b, false);
                    }
                }
            }
            plan.push(Planned {
                link: l,
                role,
                via: None,
            });
            continue;
        }
        if role == Role::External {
            return Err(Error::Config {
                file: file.to_path_buf(),
                field: format!("interfaces.external[{i}]"),
                message: format!(
                    "\"{name}\" is a bridge: XDP on a bridge device sees only what the bridge \
                     itself receives; name the interface clients arrive on (its uplink port)"
                ),
            });
        }
        serve(l, true);
        for p in ports_of(links, l.index) {
            if !plan.iter().any(|x: &Planned| x.link.index == p.index) {
                plan.push(Planned {
                    link: p,
                    role,
                    via: Some(l.name.clone()),
                });
            }
        }
    }
    Ok((plan, served))
}

/// The veth ports of bridge `br`, by ifindex. Other ports (a physical uplink, a VM's tap)
/// are not containers' and get no program.
pub fn ports_of(links: &[Link], br: u32) -> impl Iterator<Item = &Link> {
    links
        .iter()
        .filter(move |l| l.master == Some(br) && l.kind == Some(LinkKind::Veth))
}

/// The (bridge, MAC) -> port entries for `ports` (each with its bridge): each port's peer's
/// MAC (asked by netnsid, or found here when the peer is in this namespace), and the
/// bridge's learned FDB entries on those ports.
pub async fn port_macs(
    rt: &Rtnl,
    links: &[Link],
    ports: &[(u32, u32)],
) -> Result<BTreeMap<PortKey, u32>> {
    let mut out = BTreeMap::new();
    for &(br, port) in ports {
        let Some(l) = links.iter().find(|l| l.index == port) else {
            continue;
        };
        let Some(peer) = l.peer_ifindex else { continue };
        let mac = match l.link_netnsid {
            Some(nsid) => match rt.link_in_nsid(nsid, peer).await {
                Ok(p) => p.mac,
                Err(e) => {
                    log::debug!("peer of {} (nsid {nsid}, ifindex {peer}): {e}", l.name);
                    continue;
                }
            },
            None => match links.iter().find(|x| x.index == peer) {
                Some(p) => p.mac.clone(),
                None => continue,
            },
        };
        if let Some(m) = parse_mac(&mac) {
            out.insert(key(br, m), port);
        }
    }
    let wanted: BTreeSet<(u32, u32)> = ports.iter().copied().collect();
    for e in rt.fdb().await? {
        if e.local || !wanted.contains(&(e.bridge, e.port)) {
            continue;
        }
        if let Some(m) = parse_mac(&e.mac) {
            out.entry(key(e.bridge, m)).or_insert(e.port);
        }
    }
    Ok(out)
}

fn key(bridge: u32, mac: [u8; 6]) -> PortKey {
    PortKey {
        bridge,
        mac,
        pad: 0,
    }
}

/// `aa:bb:cc:dd:ee:ff` -> bytes; None for anything else (an empty MAC, a multicast one).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut m {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    (parts.next().is_none() && m[0] & 1 == 0 && m != [0; 6]).then_some(m)
}

/// Resolves the neighbours of the entries' targets that sit on a served bridge's subnet and
/// are not resolved yet, and waits up to `wait` for them. Returns those still unresolved.
pub async fn resolve_targets(
    rt: &Rtnl,
    targets: &[Ipv4Addr],
    bridges: &[u32],
    wait: Duration,
) -> Result<Vec<Ipv4Addr>> {
    let addrs = rt.addresses().await?;
    let on_bridge: Vec<(u32, Ipv4Addr)> = targets
        .iter()
        .filter_map(|t| {
            addrs
                .iter()
                .find(|a| bridges.contains(&a.ifindex) && a.covers(*t))
                .map(|a| (a.ifindex, *t))
        })
        .collect();
    let unresolved = |n: &[crate::netlink::rtnl::Neighbour]| -> Vec<(u32, Ipv4Addr)> {
        on_bridge
            .iter()
            .filter(|(i, t)| !n.iter().any(|x| x.ifindex == *i && x.addr == *t && x.valid))
            .copied()
            .collect()
    };
    let mut left = unresolved(&rt.neighbours().await?);
    for (i, t) in &left {
        rt.resolve_neighbour(*i, *t).await?;
    }
    let start = Instant::now();
    while !left.is_empty() && start.elapsed() < wait {
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = unresolved(&rt.neighbours().await?);
    }
    Ok(left.into_iter().map(|(_, t)| t).collect())
}

/// Makes `bridge_ports` hold exactly `want` (entries that are not wanted go first, so a MAC
/// that moved ports is never served by both).
pub fn write_ports<T>(
    ports: &mut BpfHashMap<T, PortKey, u32>,
    want: &BTreeMap<PortKey, u32>,
) -> Result<()>
where
    T: std::borrow::BorrowMut<MapData>,
{
    let have: Vec<(PortKey, u32)> = ports.iter().filter_map(|kv| kv.ok()).collect();
    for (k, v) in &have {
        if want.get(k) != Some(v) {
            let _ = ports.remove(k);
        }
    }
    for (k, v) in want {
        ports
            .insert(k, v, 0)
            .map_err(|e| Error::bpf("insert", format!("{} {k:?}", abi::BRIDGE_PORTS_MAP), e))?;
    }
    Ok(())
}

/// Makes `bridges` hold exactly the ifindexes `served`.
pub fn write_bridges<T>(bridges: &mut BpfHashMap<T, u32, u32>, served: &[u32]) -> Result<()>
where
    T: std::borrow::BorrowMut<MapData>,
{
    let have: Vec<u32> = bridges.keys().filter_map(|k| k.ok()).collect();
    for b in have.iter().filter(|b| !served.contains(b)) {
        let _ = bridges.remove(b);
    }
    for b in served {
        bridges
            .insert(b, 1, 0)
            .map_err(|e| Error::bpf("insert", format!("{} {b}", abi::BRIDGES_MAP), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_unicast_only() {
        assert_eq!(
            parse_mac("02:42:ac:11:00:02"),
            Some([0x02, 0x42, 0xac, 0x11, 0, 2])
        );
        assert_eq!(parse_mac(""), None);
        assert_eq!(parse_mac("00:00:00:00:00:00"), None);
        assert_eq!(parse_mac("33:33:00:00:00:01"), None, "multicast");
        assert_eq!(parse_mac("02:42:ac:11:00"), None);
        assert_eq!(parse_mac("02:42:ac:11:00:02:03"), None);
    }
}
