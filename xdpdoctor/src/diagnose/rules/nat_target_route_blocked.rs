//! `nat-target-route-blocked`: the container holding a NAT entry's target is there, its veth
//! has an address, but a blackhole, unreachable or prohibit route in the diagnosed namespace
//! wins the longest-prefix match for the target. `bpf_fib_lookup` answers
//! BLACKHOLE / UNREACHABLE / PROHIBIT and the kernel does not fall back to the veth's connected
//! route, so nothing reaches the container. Usually a leftover of someone draining or
//! isolating a node. Deleting someone's route is a policy decision: the fix is printed, not
//! applied.

use super::{Ctx, Kind, Rule, RuleId};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::NatTargetRouteBlocked,
    kind: Kind::Cause,
    title: "a blackhole, unreachable or prohibit route covers a NAT target its container holds",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    let mut out = Vec::new();
    for (n, p, v) in c.paths_with_veth() {
        // An unaddressed veth is interface-no-address's: no connected route to lose to.
        if p.route.is_some() || home.addrs_of(v.index()).next().is_none() {
            continue;
        }
        let Some(r) = home.route_match(*p.to.ip()).filter(|r| !r.is_unicast()) else {
            continue;
        };
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Fib,
            Subject::new(home, Some(v.name())),
        );
        f.order = n as u32;
        let entry = format!("{} -> {}", p.from, p.to);
        f.entries = vec![entry];
        let route = format!("{} {}/{}", r.kind, r.dst, r.prefix);
        f.why = format!(
            "The route `{route}` in {} is the longest match for {}, so bpf_fib_lookup answers \
             {} and {} cannot send the packet: the kernel does not fall back to the connected \
             route of {}, behind which the container holds the target.",
            home.ns.name,
            p.to.ip(),
            r.kind.to_string().to_uppercase(),
            c.who(),
            v.name()
        );
        f.evidence.push(format!(
            "longest match for {} in {}: {route}",
            p.to.ip(),
            home.ns.name
        ));
        f.evidence.push(format!(
            "{} in {} has {}",
            v.name(),
            home.ns.name,
            home.addrs_of(v.index())
                .map(|a| format!("{}/{}", a.addr, a.prefix))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for name in [
            Counter::FibBlackhole,
            Counter::FibUnreachable,
            Counter::FibProhibit,
        ] {
            let (t, d) = c.counter(name);
            f.observe(format!("forwarder {name} (since deploy)"), t);
            f.observe(format!("forwarder {name} (window)"), d);
        }
        f.manual_fix = Some(format!(
            "if the route is a leftover, delete it: `{}`",
            home.ns.clone().shell(&format!("ip route del {route}"))
        ));
        out.push(f);
    }
    out
}
