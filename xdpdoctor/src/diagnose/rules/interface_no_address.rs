//! `interface-no-address`: the veth towards a NAT target (or, when the NAT entries are not
//! known, a veth an XDP program redirects to) has no IPv4 address, so the diagnosed namespace
//! has no route to the container behind it and `bpf_fib_lookup` fails. The intended address
//! is inferred from the other side: the container's default gateway (with the prefix of the
//! container's own address).

use std::net::Ipv4Addr;

use super::{Ctx, Kind, Rule, RuleId};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::model::action::AddAddress;
use crate::model::{Action, Fix};
use crate::snapshot::{in_prefix, Iface, NsState, PathStage};

pub const RULE: Rule = Rule {
    id: RuleId::InterfaceNoAddress,
    kind: Kind::Cause,
    title: "the veth towards a container has no address (no route to the container)",
    check,
};

/// The container behind a veth: its namespace, interface, default gateway and prefix.
struct Behind<'a> {
    ns: &'a NsState,
    iface: &'a Iface,
    gateway: Ipv4Addr,
    prefix: u8,
}

/// The peer namespace's default gateway, if it sits in the subnet of the peer's address.
fn behind<'a>(c: &Ctx<'a>, v: &'a Iface) -> Option<Behind<'a>> {
    let (ns, iface) = c.snap.peer_of(v)?;
    let gateway = ns.default_gateway()?;
    let a = ns
        .addrs_of(iface.index())
        .find(|a| in_prefix(gateway, a.addr, a.prefix))?;
    Some(Behind {
        ns,
        iface,
        gateway,
        prefix: a.prefix,
    })
}

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    // A bridge port (any enslaved device) never carries an address: its bridge does, and
    // the route to the containers behind it leads out of the bridge.
    let unaddressed =
        |v: &Iface| v.is_veth() && !v.is_enslaved() && home.addrs_of(v.index()).next().is_none();
    // Candidates: the veths known NAT entries are meant to leave by; without entries, the
    // veths the programs redirect to whose container clearly expects a gateway here.
    let mut cands: Vec<&Iface> = Vec::new();
    if c.snap.entries_known() {
        for (_, p, v) in c.paths_with_veth() {
            // A device stacked on the veth (a macvlan or VLAN holding the address) is the
            // route to the container: the veth itself needs no address then.
            let stacked = p
                .egress
                .and_then(|e| home.iface(e))
                .is_some_and(|e| !e.is_veth() && e.link.peer_ifindex == Some(v.index()));
            if p.egress != Some(v.index()) && !stacked && unaddressed(v) && !cands.contains(&v) {
                cands.push(v);
            }
        }
    } else {
        for (v, _) in c.redirect_targets() {
            if unaddressed(v) && behind(c, v).is_some() {
                cands.push(v);
            }
        }
    }
    cands.into_iter().map(|v| finding(c, v)).collect()
}

fn finding(c: &Ctx, v: &Iface) -> Finding {
    let home = c.home();
    let b = behind(c, v);
    let mut f = Finding::new(
        RULE.id,
        Severity::Error,
        PathStage::Fib,
        Subject::new(home, Some(v.name())),
    );
    f.order = c.order_of(v.index());
    let paths: Vec<_> = c
        .paths
        .iter()
        .filter(|q| q.intended == Some(v.index()))
        .collect();
    f.entries = paths
        .iter()
        .map(|q| format!("{} -> {}", q.from, q.to))
        .collect();
    let dest = match (paths.first(), &b) {
        (Some(p), _) => p.to.ip().to_string(),
        (None, Some(b)) => format!(
            "the container behind it ({}/{})",
            b.ns.ns.name,
            b.iface.name()
        ),
        (None, None) => "the container behind it".into(),
    };
    f.why = format!(
        "{} has no IPv4 address, so {} has no route to {dest}: bpf_fib_lookup fails and {} \
         cannot send the packet anywhere. The container side is configured, only this end was \
         left unaddressed.",
        v.name(),
        home.ns.name,
        c.who()
    );
    f.evidence
        .push(format!("{} in {}: no IPv4 address", v.name(), home.ns.name));
    if let Some(p) = paths.first() {
        f.evidence.push(match &p.route {
            None => format!("no route to {} in {}", p.to.ip(), home.ns.name),
            Some(r) => format!(
                "route to {} in {} is {}/{} via ifindex {:?}, not {}",
                p.to.ip(),
                home.ns.name,
                r.dst,
                r.prefix,
                r.oif,
                v.name()
            ),
        });
    }
    for name in [Counter::FibNotFwded, Counter::FibUnreachable] {
        let (t, d) = c.counter(name);
        f.observe(format!("forwarder {name} (since deploy)"), t);
        f.observe(format!("forwarder {name} (window)"), d);
    }
    match b {
        Some(b) => {
            f.evidence.push(format!(
                "{}/{} uses {} as its default gateway ({}/{} on {})",
                b.ns.ns.name,
                b.iface.name(),
                b.gateway,
                b.gateway,
                b.prefix,
                b.iface.name()
            ));
            f.fix = Some(Fix::new(
                format!(
                    "add {}/{} to {} in {}",
                    b.gateway,
                    b.prefix,
                    v.name(),
                    home.ns.name
                ),
                Action::AddAddress(AddAddress {
                    netns: home.ns.clone(),
                    interface: v.name().to_string(),
                    addr: b.gateway,
                    prefix: b.prefix,
                }),
            ));
        }
        None => {
            f.manual_fix = Some(format!(
                "give {} an address in the subnet of {dest} (or add a route to it)",
                v.name()
            ))
        }
    }
    f
}
