//! `fib-no-neighbor`: the route to a NAT target is there but its next hop does not resolve
//! (neighbour entry FAILED or INCOMPLETE). A few `fib_no_neigh` on the first packets are
//! normal (the stack resolves ARP for them), so this fires only when resolution actually
//! failed and the forwarder counted NO_NEIGH results.

use super::{Ctx, Rule};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: "fib-no-neighbor",
    title: "the next hop towards a NAT target does not resolve (ARP fails)",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let fwd = c.fwd();
    let (total, delta) = c.counter(Counter::FibNoNeigh);
    if total == 0 && delta == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for p in &c.paths {
        let (Some(r), Some(oif)) = (&p.route, p.egress) else {
            continue;
        };
        let hop = r.gateway.unwrap_or(*p.to.ip());
        let Some(n) = fwd
            .neighbours
            .iter()
            .find(|n| n.ifindex == oif && n.addr == hop)
        else {
            continue;
        };
        if !(n.state == "failed" || n.state == "incomplete") {
            continue;
        }
        let ifname = fwd.iface(oif).map(|i| i.name().to_string());
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Fib,
            Subject::new(fwd, ifname.as_deref()),
        );
        f.order = c.order_of(oif);
        f.entries = vec![format!("{} -> {}", p.from, p.to)];
        f.why = format!(
            "The next hop {hop} towards {} does not answer ARP (neighbour state {}), so \
             bpf_fib_lookup returns NO_NEIGH and the stack, which gets the packet instead, \
             cannot deliver it either.",
            p.to.ip(),
            n.state
        );
        f.evidence.push(format!(
            "neighbour {hop} on {}: {}",
            ifname.as_deref().unwrap_or("?"),
            n.state
        ));
        f.observe("forwarder fib_no_neigh (since deploy)", total);
        f.observe("forwarder fib_no_neigh (window)", delta);
        f.manual_fix = Some(format!(
            "check that {hop} is up and reachable; or add it: ip -n {} neigh replace {hop} lladdr MAC dev {} nud permanent",
            fwd.name,
            ifname.as_deref().unwrap_or("DEV")
        ));
        out.push(f);
    }
    out
}
