//! `fib-no-neighbor`: the route to a NAT target is there but its next hop does not resolve
//! (neighbour entry FAILED or INCOMPLETE). A few NO_NEIGH results on the first packets are
//! normal (the stack resolves ARP for them), so with xdpdoctor's forwarder this fires only
//! when resolution actually failed and the forwarder counted NO_NEIGH results. For a program
//! xdpdoctor did not load (no counters) the failed neighbour entry on a redirect target is
//! the evidence.

use std::net::Ipv4Addr;

use super::{Ctx, Kind, Rule, RuleId};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::FibNoNeighbor,
    kind: Kind::Cause,
    title: "the next hop towards a NAT target does not resolve (ARP fails)",
    check,
};

/// A next hop to check: egress ifindex, neighbour address, the NAT entry if known.
struct Hop {
    oif: u32,
    addr: Ipv4Addr,
    entry: Option<String>,
    target: Option<Ipv4Addr>,
}

fn hops(c: &Ctx) -> Vec<Hop> {
    let home = c.home();
    if c.snap.entries_known() {
        return c
            .paths
            .iter()
            .filter_map(|p| {
                let (r, oif) = (p.route.as_ref()?, p.egress?);
                Some(Hop {
                    oif,
                    addr: r.gateway.unwrap_or(*p.to.ip()),
                    entry: Some(format!("{} -> {}", p.from, p.to)),
                    target: Some(*p.to.ip()),
                })
            })
            .collect();
    }
    c.redirect_targets()
        .flat_map(|(v, _)| {
            home.neighbours
                .iter()
                .filter(move |n| n.ifindex == v.index())
                .map(|n| Hop {
                    oif: n.ifindex,
                    addr: n.addr,
                    entry: None,
                    target: None,
                })
        })
        .collect()
}

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    let (total, delta) = c.counter(Counter::FibNoNeigh);
    if c.ours().is_some() && total == 0 && delta == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for h in hops(c) {
        let Some(n) = home
            .neighbours
            .iter()
            .find(|n| n.ifindex == h.oif && n.addr == h.addr)
        else {
            continue;
        };
        if !n.state.unresolved() {
            continue;
        }
        let ifname = home.iface(h.oif).map(|i| i.name().to_string());
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Fib,
            Subject::new(home, ifname.as_deref()),
        );
        f.order = c.order_of(h.oif);
        f.entries = h.entry.into_iter().collect();
        let hop = h.addr;
        f.why = format!(
            "The next hop {hop}{} does not answer ARP (neighbour state {}), so bpf_fib_lookup \
             returns NO_NEIGH and the stack, which gets the packet instead, cannot deliver it \
             either.",
            h.target
                .map(|t| format!(" towards {t}"))
                .unwrap_or_default(),
            n.state
        );
        f.evidence.push(format!(
            "neighbour {hop} on {}: {}",
            ifname.as_deref().unwrap_or("?"),
            n.state
        ));
        f.observe("forwarder fib_no_neigh (since deploy)", total);
        f.observe("forwarder fib_no_neigh (window)", delta);
        // The MAC the neighbour would answer with: the peer interface holding the address.
        let mac = home
            .iface(h.oif)
            .and_then(|v| c.snap.peer_of(v))
            .and_then(|(pns, _)| pns.owner_of(hop))
            .map(|i| i.link.mac.clone())
            .filter(|m| !m.is_empty());
        f.manual_fix = Some(match (mac, &ifname) {
            (Some(mac), Some(dev)) => format!(
                "check that {hop} is up and reachable; or pin it: {}",
                home.ns.clone().shell(&format!(
                    "ip neigh replace {hop} lladdr {mac} dev {} nud permanent",
                    crate::netns::quote(dev)
                ))
            ),
            _ => format!("check that {hop} is up and answers ARP"),
        });
        out.push(f);
    }
    out
}
