//! The generated `fleet` scenario: the seed's shape scaled to N containers, for measuring how
//! diagnosis grows with the size of a host. Container K (1-based) is node `cK` with `host0`
//! 10.(100 + K/250).(K%250).1/24 behind vm's `ve-cK` (.254), reached through
//! 192.168.9.1:(10000 + K). No responders (a thousand processes would measure the machine,
//! not xdpdoctor); the seed's three faults, on by default.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::scenario::{
    Cidr, End, EntrySpec, Fault, FeatureSet, ForwarderSpec, IfaceRef, LinkSpec, Node, Scenario,
    Traffic,
};
use crate::{Error, Result};

/// Name under which `lab up` knows this scenario.
pub const NAME: &str = "fleet";
/// Most containers the addressing plan (and the forwarder's devmap) allows.
pub const MAX: usize = 1000;

fn subnet(k: usize) -> (u8, u8) {
    ((100 + k / 250) as u8, (k % 250) as u8)
}

/// Builds the scenario for `n` containers.
pub fn fleet(n: usize) -> Result<Scenario> {
    if n == 0 || n > MAX {
        return Err(Error::invalid(
            "--containers",
            format!("{n}: use 1..={MAX}"),
        ));
    }
    let mut nodes = vec![
        Node {
            name: "client".into(),
            sysctls: BTreeMap::new(),
            default_route: None,
            default_route6: None,
        },
        Node {
            name: "vm".into(),
            sysctls: [
                ("net.ipv4.conf.all.forwarding", "1"),
                ("net.ipv4.conf.default.forwarding", "1"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            default_route: None,
            default_route6: None,
        },
    ];
    let end = |node: &str, name: &str, addr: [u8; 4], nic: bool| End {
        node: node.into(),
        name: name.into(),
        addr: Some(Cidr {
            addr: Ipv4Addr::from(addr),
            prefix: 24,
        }),
        addr6: None,
        tx_csum: nic.then_some(false),
        gro: nic.then_some(true),
        queues: None,
        bridge: None,
    };
    let mut links = vec![LinkSpec {
        a: end("vm", "eth0", [192, 168, 9, 1], false),
        b: end("client", "eth0", [192, 168, 9, 254], true),
    }];
    let (mut internal, mut entries) = (Vec::new(), Vec::new());
    let mut faults: BTreeMap<String, Fault> = BTreeMap::new();
    let (mut no_addr, mut no_xdp, mut csum) =
        (Fault::default(), Fault::default(), Fault::default());
    for k in 1..=n {
        let (a, b) = subnet(k);
        let node = format!("c{k}");
        let ve = format!("ve-c{k}");
        nodes.push(Node {
            name: node.clone(),
            sysctls: BTreeMap::new(),
            default_route: Some(Ipv4Addr::new(10, a, b, 254)),
            default_route6: None,
        });
        links.push(LinkSpec {
            a: end("vm", &ve, [10, a, b, 254], false),
            b: end(&node, "host0", [10, a, b, 1], true),
        });
        internal.push(ve.clone());
        entries.push(EntrySpec {
            from: SocketAddrV4::new(Ipv4Addr::new(192, 168, 9, 1), 10000 + k as u16),
            to: SocketAddrV4::new(Ipv4Addr::new(10, a, b, 1), 80),
        });
        let host0 = IfaceRef {
            node: node.clone(),
            name: "host0".into(),
        };
        no_addr.remove_address.push(IfaceRef {
            node: "vm".into(),
            name: ve.clone(),
        });
        no_xdp.set_features.push(FeatureSet {
            at: host0.clone(),
            tx_csum: None,
            gro: Some(false),
        });
        csum.set_features.push(FeatureSet {
            at: host0,
            tx_csum: Some(true),
            gro: None,
        });
    }
    for f in [&mut no_addr, &mut no_xdp, &mut csum] {
        f.default = true;
    }
    no_addr.description = "vm's ve-cK have no addresses".into();
    no_xdp.description = "host0 in every container: GRO off, no XDP".into();
    csum.description = "host0 in every container: tx checksum offload on".into();
    faults.insert("no-address".into(), no_addr);
    faults.insert("peer-no-xdp".into(), no_xdp);
    faults.insert("tx-csum".into(), csum);
    Ok(Scenario {
        name: NAME.into(),
        description: format!("generated: the seed's shape with {n} containers"),
        nodes,
        links,
        bridges: Vec::new(),
        services: Vec::new(),
        forwarder: Some(ForwarderSpec {
            node: "vm".into(),
            external: vec!["eth0".into()],
            internal,
            entries,
        }),
        traffic: Some(Traffic {
            client: "client".into(),
        }),
        faults,
        docker: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_validates_and_scales() {
        let s = fleet(300).unwrap();
        assert_eq!(s.nodes.len(), 302);
        assert_eq!(s.forwarder.as_ref().unwrap().entries.len(), 300);
        // Round-trips through the same validation as a scenario file.
        let text = toml::to_string(&s).unwrap();
        Scenario::parse(&text, std::path::Path::new("fleet.toml")).unwrap();
        assert!(fleet(0).is_err() && fleet(MAX + 1).is_err());
    }
}
