//! The bridged half of the bench's lab: the shape of a Docker, Podman or CNI-bridge host,
//! added to the healthy seed lab so that both halves share vm, its eth0, the generator and
//! the rounds (their ratios are formed within one run, one round at a time).
//!
//! In vm a bridge [`BRIDGE`] (10.123.3.254/24, the containers' gateway, as docker0 holds
//! 172.17.0.1) with two veth ports `vb-b1`, `vb-b2`; behind them two container namespaces
//! `b1`, `b2` with `eth0` 10.123.3.1 and .2 (GRO on, tx checksum off, like the seed's healthy
//! containers). The forwarder serves the bridge itself (`interfaces.internal` names it: all
//! its ports), and two more entries publish the containers:
//! `192.168.9.1:8082 -> 10.123.3.1:80`, `:8083 -> 10.123.3.2:80`. The kernel-NAT table gets
//! them too ([`super::nft`]): prerouting DNAT to the container, forwarded through the bridge,
//! which is what Docker's published ports do. Everything is part of the lab: `lab down`
//! removes it with the namespaces.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::lab::scenario::{BridgeSpec, Cidr, End, EntrySpec, LinkSpec, Node, Service};
use crate::lab::Scenario;
use crate::{Error, Result};

/// The bridge in vm.
pub const BRIDGE: &str = "xdb-br";
/// The containers behind it, (node, address); the first receives the measured frames.
pub const CONTAINERS: [(&str, [u8; 4]); 2] = [("b1", [10, 123, 3, 1]), ("b2", [10, 123, 3, 2])];
/// The bridge's address (the containers' gateway).
const GATEWAY: [u8; 4] = [10, 123, 3, 254];
/// The first public port of the bridged entries (one per container, in order).
pub const FIRST_PORT: u16 = 8082;
/// The containers' service port.
const SERVICE_PORT: u16 = 80;

/// `sc` (the seed) with the bridged half added (see the module documentation).
pub fn with_bridge(mut sc: Scenario) -> Result<Scenario> {
    let bad = |m: &str| Error::invalid(format!("bench scenario {}", sc.name), m.to_string());
    let f = sc
        .forwarder
        .as_ref()
        .ok_or_else(|| bad("has no forwarder"))?;
    let (vm, public) = (
        f.node.clone(),
        *f.entries
            .first()
            .ok_or_else(|| bad("has no NAT entry"))?
            .from
            .ip(),
    );
    let cidr = |a: [u8; 4]| Cidr {
        addr: Ipv4Addr::from(a),
        prefix: 24,
    };
    sc.bridges.push(BridgeSpec {
        node: vm.clone(),
        name: BRIDGE.into(),
        addr: Some(cidr(GATEWAY)),
    });
    let mut entries = Vec::new();
    for (i, (node, addr)) in CONTAINERS.iter().enumerate() {
        sc.nodes.push(Node {
            name: (*node).into(),
            sysctls: Default::default(),
            default_route: Some(Ipv4Addr::from(GATEWAY)),
            default_route6: None,
        });
        sc.links.push(LinkSpec {
            a: End {
                node: vm.clone(),
                name: format!("vb-{node}"),
                addr: None,
                addr6: None,
                tx_csum: None,
                gro: None,
                queues: None,
                bridge: Some(BRIDGE.into()),
            },
            b: End {
                node: (*node).into(),
                name: "eth0".into(),
                addr: Some(cidr(*addr)),
                addr6: None,
                tx_csum: Some(false),
                gro: Some(true),
                queues: None,
                bridge: None,
            },
        });
        sc.services.push(Service {
            node: (*node).into(),
            port: SERVICE_PORT,
        });
        entries.push(EntrySpec {
            from: SocketAddrV4::new(public, FIRST_PORT + i as u16),
            to: SocketAddrV4::new(Ipv4Addr::from(*addr), SERVICE_PORT),
        });
    }
    let f = sc
        .forwarder
        .as_mut()
        .ok_or_else(|| bad("has no forwarder"))?;
    f.internal.push(BRIDGE.into());
    f.entries.extend(entries);
    sc.name = format!("{}+bridge", sc.name);
    // The result is checked like a scenario file.
    sc.validate(std::path::Path::new("(bench) seed+bridge"))?;
    Ok(sc)
}

/// The bridged container that receives the measured frames, and its NAT entry.
pub fn measured(sc: &Scenario) -> Option<(&'static str, SocketAddrV4, SocketAddrV4)> {
    let to = SocketAddrV4::new(Ipv4Addr::from(CONTAINERS[0].1), SERVICE_PORT);
    let e = sc.forwarder.as_ref()?.entries.iter().find(|e| e.to == to)?;
    Some((CONTAINERS[0].0, e.from, e.to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_gets_a_bridge_two_ports_and_two_entries() {
        let (seed, _) = crate::lab::catalog::load("seed", None).unwrap();
        let (nodes, links, entries) = (
            seed.nodes.len(),
            seed.links.len(),
            seed.forwarder.as_ref().unwrap().entries.len(),
        );
        let sc = with_bridge(seed).unwrap();
        assert_eq!(sc.name, "seed+bridge");
        assert_eq!(sc.nodes.len(), nodes + 2);
        assert_eq!(sc.links.len(), links + 2);
        let f = sc.forwarder.as_ref().unwrap();
        assert_eq!(f.entries.len(), entries + 2);
        assert!(f.internal.iter().any(|i| i == BRIDGE));
        assert_eq!(sc.bridges.len(), 1);
        assert!(sc.links[links..]
            .iter()
            .all(|l| l.a.bridge.as_deref() == Some(BRIDGE) && l.a.node == "vm"));
        let (node, from, to) = measured(&sc).unwrap();
        assert_eq!(node, "b1");
        assert_eq!(from, "192.168.9.1:8082".parse().unwrap());
        assert_eq!(to, "10.123.3.1:80".parse().unwrap());
    }
}
