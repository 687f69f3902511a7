//! `interface-no-address`: the veth towards a NAT target has no IPv4 address, so the
//! forwarder's namespace has no route to the target and `bpf_fib_lookup` fails. The intended
//! address is inferred from the other side: the container's default gateway (with the prefix
//! of the container's own address).

use std::collections::BTreeSet;

use super::{Ctx, Rule};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::model::{Action, Fix};
use crate::snapshot::{in_prefix, PathStage};

pub const RULE: Rule = Rule {
    id: "interface-no-address",
    title: "the veth towards a NAT target has no address (no route to the target)",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let fwd = c.fwd();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for p in &c.paths {
        let Some(v) = p.intended.and_then(|i| fwd.iface(i)) else {
            continue;
        };
        if p.egress == Some(v.index())
            || fwd.addrs_of(v.index()).next().is_some()
            || !done.insert(v.index())
        {
            continue;
        }
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Fib,
            Subject::new(fwd, Some(v.name())),
        );
        f.order = c.order_of(v.index());
        f.entries = c
            .paths
            .iter()
            .filter(|q| q.intended == Some(v.index()))
            .map(|q| format!("{} -> {}", q.from, q.to))
            .collect();
        f.why = format!(
            "{} has no IPv4 address, so {} has no route to {}: bpf_fib_lookup fails and the \
             forwarder cannot send the translated packet anywhere. The container side is \
             configured, only this end was left unaddressed.",
            v.name(),
            fwd.name,
            p.to.ip()
        );
        f.evidence
            .push(format!("{} in {}: no IPv4 address", v.name(), fwd.name));
        f.evidence.push(match &p.route {
            None => format!("no route to {} in {}", p.to.ip(), fwd.name),
            Some(r) => format!(
                "route to {} in {} is {}/{} via ifindex {:?}, not {}",
                p.to.ip(),
                fwd.name,
                r.dst,
                r.prefix,
                r.oif,
                v.name()
            ),
        });
        for name in [Counter::FibNotFwded, Counter::FibUnreachable] {
            let (t, d) = c.counter(name);
            f.observe(format!("forwarder {name} (since deploy)"), t);
            f.observe(format!("forwarder {name} (window)"), d);
        }
        // Infer the address: the peer namespace's default gateway, if it sits in the subnet
        // of the peer interface's address.
        let inferred = c.snap.peer_of(v).and_then(|(pns, pif)| {
            let gw = pns.default_gateway()?;
            let a = pns
                .addrs_of(pif.index())
                .find(|a| in_prefix(gw, a.addr, a.prefix))?;
            Some((pns, pif, gw, a.prefix))
        });
        match inferred {
            Some((pns, pif, gw, prefix)) => {
                f.evidence.push(format!(
                    "{}/{} uses {gw} as its default gateway ({}/{prefix} on {})",
                    pns.name,
                    pif.name(),
                    gw,
                    pif.name()
                ));
                f.fix = Some(Fix::new(
                    format!("add {gw}/{prefix} to {} in {}", v.name(), fwd.name),
                    Action::AddAddress {
                        netns: fwd.ns_ref(),
                        interface: v.name().to_string(),
                        addr: gw,
                        prefix,
                    },
                ));
            }
            None => {
                f.manual_fix = Some(format!(
                    "give {} an address in the subnet of {} (or add a route to it)",
                    v.name(),
                    p.to.ip()
                ))
            }
        }
        out.push(f);
    }
    out
}
