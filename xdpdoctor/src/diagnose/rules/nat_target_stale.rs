//! `nat-target-stale`: a NAT entry's target address is no longer on the container behind its
//! veth: the container came back with another address (a restart, a new lease) and the NAT
//! table still points at the old one. The router then asks ARP for an address nobody holds
//! (`fib-no-neighbor` follows, linked to this cause); a permanent neighbour would only hide it.
//! When exactly one address of the container fits the subnet, the finding proposes it, and
//! for xdpdoctor's forwarder `fix` retargets the entry (DNAT and SNAT together, journaled).

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::model::action::RetargetEntry;
use crate::model::{Action, Fix};
use crate::snapshot::{in_prefix, PathStage};

pub const RULE: Rule = Rule {
    id: RuleId::NatTargetStale,
    kind: Kind::Cause,
    title: "a NAT entry points at an address the container behind its veth no longer has",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    let mut out = Vec::new();
    for (n, p, v) in c.paths_with_veth() {
        let Some((pns, pif)) = c.snap.peer_of(v) else {
            continue;
        };
        let to = *p.to.ip();
        if pns.owner_of(to).is_some() {
            continue; // someone there holds it
        }
        // The container's own addresses in the target's subnet: never the router's side (the
        // gateway), an address another namespace holds too, or one another entry already
        // sends its connections to (retargeting there would merge two services).
        let others_hold = |a: std::net::Ipv4Addr| {
            c.snap
                .namespaces
                .iter()
                .any(|n| n.ns.inode != pns.ns.inode && n.owner_of(a).is_some())
        };
        let fits: Vec<_> = pns
            .addrs_of(pif.index())
            .filter(|a| in_prefix(to, a.addr, a.prefix))
            .filter(|a| home.owner_of(a.addr).is_none() && !others_hold(a.addr))
            .filter(|a| !c.paths.iter().any(|q| *q.to.ip() == a.addr))
            .collect();
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Container,
            Subject::new(pns, Some(pif.name())),
        );
        f.order = n as u32;
        let entry = format!("{} -> {}", p.from, p.to);
        f.entries = vec![entry.clone()];
        let now: Vec<String> = pns
            .addrs_of(pif.index())
            .map(|a| format!("{}/{}", a.addr, a.prefix))
            .collect();
        f.why = format!(
            "The entry {entry} sends connections to {to}, but the container behind {} \
             ({}/{}) does not have that address any more: it has {}. Nobody answers ARP for \
             {to}, so the translated packets die at the router.",
            v.name(),
            pns.ns.name,
            pif.name(),
            if now.is_empty() {
                "no IPv4 address".to_string()
            } else {
                now.join(", ")
            }
        );
        f.evidence.push(format!(
            "{}/{} addresses: [{}]; the entry's target: {to}",
            pns.ns.name,
            pif.name(),
            now.join(", ")
        ));
        f.observe(
            "forwarder fib_no_neigh (window)",
            c.ev.counter_delta(crate::bpf::forwarder_abi::Counter::FibNoNeigh),
        );
        match (fits.as_slice(), c.ours()) {
            ([one], Some(_)) => {
                let new = std::net::SocketAddrV4::new(one.addr, p.to.port());
                f.evidence.push(format!(
                    "the one address of the container in that subnet: {}",
                    one.addr
                ));
                f.fix = Some(Fix::new(
                    format!(
                        "retarget the entry to {new} (DNAT and SNAT together; the config file \
                         is left alone: change it to {{\"from\": \"{}\", \"to\": \"{new}\"}})",
                        p.from
                    ),
                    Action::RetargetEntry(RetargetEntry {
                        netns: home.ns.clone(),
                        from: p.from,
                        old: p.to,
                        new,
                    }),
                ));
            }
            ([one], None) => {
                f.manual_fix = Some(format!(
                    "point the entry at {}:{} in the program's NAT map (config line: \
                     {{\"from\": \"{}\", \"to\": \"{}:{}\"}})",
                    one.addr,
                    p.to.port(),
                    p.from,
                    one.addr,
                    p.to.port()
                ))
            }
            _ => {
                f.manual_fix = Some(format!(
                    "point the entry at the container's current address ({})",
                    now.join(", ")
                ))
            }
        }
        out.push(f);
    }
    out
}
