//! The rules on a saved snapshot of the Docker lab with its default faults
//! (`tests/fixtures/docker-faults.json`: `lab up docker` on this machine kind, the host's
//! namespace with bridge `i21f-br`, ports `vethe8e4491` (web1, 172.28.0.2) and `veth7ef1601`
//! (web2, 172.28.0.3), Docker's ruleset), mutated where a test needs another state.

use crate::diagnose::{evidence::Evidence, run_rules, Finding, RuleId};
use crate::model::Action;
use crate::netlink::rtnl::{FdbEntry, Neighbour, NudState};
use crate::snapshot::{paths::nat_paths, NatInfo, NatSource, Snapshot};

const DOCKER: &str = include_str!("../../../tests/fixtures/docker-faults.json");

fn docker() -> Snapshot {
    serde_json::from_str(DOCKER).expect("fixture")
}

fn run(s: &Snapshot) -> Vec<Finding> {
    run_rules(s, &Evidence::static_only("test")).findings
}

fn roots(s: &Snapshot) -> Vec<(RuleId, String, String)> {
    run(s)
        .iter()
        .filter(|f| f.is_root())
        .map(|f| {
            (
                f.id,
                f.subject.netns.name.clone(),
                f.subject.interface.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// The namespace holding `ip` (the container that owns the address).
fn owner(s: &Snapshot, ip: &str) -> u64 {
    let ip = ip.parse().unwrap();
    s.namespaces
        .iter()
        .find(|n| n.owner_of(ip).is_some())
        .unwrap()
        .ns
        .inode
}

fn ifindex(s: &Snapshot, name: &str) -> u32 {
    s.home().iface_by_name(name).unwrap().index()
}

fn peer_mac(s: &Snapshot, port: &str) -> String {
    let v = s.home().iface_by_name(port).unwrap();
    s.peer_of(v).unwrap().1.link.mac.clone()
}

#[test]
fn the_true_root_causes_only() {
    let s = docker();
    let want = [
        (RuleId::NetfilterDrop, "host", "i21f-x"),
        (RuleId::RedirectTargetNoXdpXmit, "host", "i21f-br"),
        (RuleId::VethTxCsumOffload, "docker:i21f-web1", "eth0"),
        (RuleId::VethTxCsumOffload, "docker:i21f-web2", "eth0"),
    ]
    .map(|(a, b, c)| (a, b.to_string(), c.to_string()));
    assert_eq!(roots(&s), want);
    let f = run(&s);
    assert!(f
        .iter()
        .all(|f| f.id != RuleId::InterfaceNoAddress && f.id != RuleId::NatTargetStale));
    let nf = f.iter().find(|f| f.id == RuleId::NetfilterDrop).unwrap();
    assert_eq!(nf.entries.len(), 2, "one finding for both entries");
    assert!(nf.why.contains(
        "table ip filter, chain FORWARD (hook forward, priority 0): policy drop, after \
         DOCKER-USER (return), DOCKER-ISOLATION-STAGE-1 (return), DOCKER (end)"
    ));
}

#[test]
fn each_entry_reaches_the_container_that_holds_its_address_whatever_the_order() {
    let mut s = docker();
    let check = |s: &Snapshot| {
        for p in nat_paths(s) {
            let ip = p.to.ip().to_string();
            let (ino, _) = p.container.expect("a container");
            assert_eq!(ino, owner(s, &ip), "{ip}");
            let port = s.home().iface(p.intended.unwrap()).unwrap();
            assert_eq!(
                s.peer_of(port).unwrap().0.ns.inode,
                ino,
                "{ip} via its own port"
            );
            assert_eq!(p.egress, Some(ifindex(s, "i21f-br")));
        }
    };
    check(&s);
    // The order of `internal`, of the entries and of the links says nothing.
    s.nat.roles.reverse();
    s.nat.entries.reverse();
    s.namespaces[0].interfaces.reverse();
    check(&s);
}

#[test]
fn the_port_comes_from_the_neighbour_and_the_bridge_fdb() {
    let mut s = docker();
    let br = ifindex(&s, "i21f-br");
    let (web2_port, web1_port) = (ifindex(&s, "veth7ef1601"), ifindex(&s, "vethe8e4491"));
    let mac2 = peer_mac(&s, "veth7ef1601");
    s.namespaces[0].neighbours.push(Neighbour {
        ifindex: br,
        addr: "172.28.0.3".parse().unwrap(),
        mac: Some(mac2.clone()),
        state: NudState::Reachable,
        valid: true,
    });
    let p = nat_paths(&s)
        .into_iter()
        .find(|p| p.to.ip().to_string() == "172.28.0.3")
        .unwrap();
    assert_eq!(p.intended, Some(web2_port));
    assert_eq!(p.bridge.as_ref().unwrap().port_from, "peer MAC");
    // The bridge learned that MAC on web1's port (a stale fdb): the kernel follows the fdb.
    s.namespaces[0].fdb.push(FdbEntry {
        bridge: br,
        port: web1_port,
        mac: mac2,
        local: false,
    });
    let p = nat_paths(&s)
        .into_iter()
        .find(|p| p.to.ip().to_string() == "172.28.0.3")
        .unwrap();
    assert_eq!(p.intended, Some(web1_port));
    assert_eq!(p.bridge.as_ref().unwrap().port_from, "fdb");
}

#[test]
fn no_retarget_to_an_address_another_entry_or_container_holds() {
    let mut s = docker();
    // The second entry points at .9, which nobody holds, and a stale neighbour entry says .9
    // is at web1's MAC. The stale target is reported on web1, but never retargeted to
    // 172.28.0.2, which the other entry sends its connections to.
    let br = ifindex(&s, "i21f-br");
    let mac1 = peer_mac(&s, "vethe8e4491");
    s.nat.entries[1].to = "172.28.0.9:80".parse().unwrap();
    s.namespaces[0].neighbours.push(Neighbour {
        ifindex: br,
        addr: "172.28.0.9".parse().unwrap(),
        mac: Some(mac1),
        state: NudState::Stale,
        valid: true,
    });
    let f = run(&s);
    let stale = f.iter().find(|f| f.id == RuleId::NatTargetStale).unwrap();
    assert_eq!(stale.subject.netns.name, "docker:i21f-web1");
    assert!(stale.fix.is_none(), "{:?}", stale.fix);
    for f in &f {
        assert!(
            !matches!(
                f.fix.as_ref().map(|x| &x.action),
                Some(Action::RetargetEntry(_))
            ),
            "{f:?}"
        );
    }
}

#[test]
fn a_foreign_program_gets_the_same_causes_with_what_it_must_do() {
    let mut s = docker();
    // The same deployment as a program xdpdoctor did not load, its entries from a config.
    s.forwarder = None;
    s.nat = NatInfo {
        source: NatSource::Config {
            file: "config.json".into(),
        },
        ..s.nat.clone()
    };
    for p in &mut s.xdp.programs {
        p.owner = crate::xdp::Owner::Foreign;
    }
    let f = run(&s);
    let br = f
        .iter()
        .find(|f| f.id == RuleId::RedirectTargetNoXdpXmit)
        .expect("the bridge target");
    assert!(br.fix.is_none());
    let m = br.manual_fix.as_deref().unwrap();
    assert!(
        m.contains("redirect to the bridge port that owns the destination MAC")
            && m.contains("vethe8e4491 for 172.28.0.2")
            && m.contains("XDP_PASS"),
        "{m}"
    );
    assert!(f.iter().any(|f| f.id == RuleId::NetfilterDrop));
}

#[test]
fn a_bridge_only_listed_in_a_devmap_is_not_a_finding() {
    // Without NAT entries a devmap holding every interface says where a program can
    // redirect, not where it does: the bridge, lo, ifb0 are not reported.
    let mut s = docker();
    s.forwarder = None;
    s.nat = NatInfo::default();
    for p in &mut s.xdp.programs {
        p.owner = crate::xdp::Owner::Foreign;
    }
    assert!(run(&s)
        .iter()
        .all(|f| f.id != RuleId::RedirectTargetNoXdpXmit));
}
