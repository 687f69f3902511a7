//! `reverse-path-filter`: packets an XDP program passed to the stack were dropped by the
//! stack's source check (`fib_validate_source`), which runs whenever `rp_filter` is on (an
//! interface's value is the larger of `conf.all` and its own; Ubuntu ships 2, loose):
//!
//! * **martian source**: the packet's source is one of the host's own addresses. That is what a
//!   NAT program makes of a reply: translated back to the public address (192.168.9.1:8080)
//!   and passed to the stack, as xdpdoctor's forwarder does while the client's neighbour is
//!   unresolved (`fib_no_neigh`), it arrives on the container's veth "from" the router itself.
//!   Drop reason IP_LOCAL_SOURCE (6.13+; NOT_SPECIFIED before, when only the static facts and
//!   a failed connection remain). Loose mode does not help: `accept_local` does.
//! * **reverse path**: strict mode (1) and the host would not route the source back through
//!   the interface it came in on (asymmetric routing: several uplinks, policy routes, a VRF):
//!   `-EXDEV`, drop reason IP_RPFILTER (5.18+), counter `TcpExt: IPReversePathFilter` on every
//!   kernel.
//!
//! Either way the packet never reaches the forwarding path, so the neighbour the stack would
//! have resolved stays unknown and the program keeps passing: the connection never starts.
//!
//! Without a window (or before the drops happen) one case is known from the static state:
//! xdpdoctor's forwarder passes replies it translated whenever the client's neighbour is
//! unresolved, so an internal interface that checks sources (`rp_filter` on) without
//! `accept_local` will drop them: a warning, with the same fix, so `fix --apply` (which
//! diagnoses without a window) can apply it. The strict-mode case needs the window's drops.
//! The fix, journaled: `rp_filter` loose (2) on that interface where it is strict, and
//! `accept_local = 1` there for martian sources.

use std::collections::BTreeMap;

use super::{Ctx, Kind, Rule, RuleId};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::forwarder::Role;
use crate::model::action::SetRpFilter;
use crate::model::{Action, Fix};
use crate::probes::EventKind;
use crate::snapshot::{Iface, PathStage};

pub const RULE: Rule = Rule {
    id: RuleId::ReversePathFilter,
    kind: Kind::Cause,
    title: "packets passed to the stack are dropped by its source check (rp_filter, martians)",
    check,
};

/// Drop reason of a failed strict reverse-path check (-EXDEV).
const IP_RPFILTER: &str = "IP_RPFILTER";
/// Drop reason of a packet whose source is a local address (6.13+).
const IP_LOCAL_SOURCE: &str = "IP_LOCAL_SOURCE";

/// What the window saw dropped on one interface.
#[derive(Default)]
struct Drops {
    rpfilter: u64,
    local_source: u64,
    /// Our forwarder's internal interface, which would drop the replies it passes.
    static_only: bool,
}

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    let mut by_if: BTreeMap<u32, Drops> = BTreeMap::new();
    for pc in &c.ev.probes.counts {
        if pc.kind != EventKind::KfreeSkb || pc.netns_inode != home.ns.inode || pc.count == 0 {
            continue;
        }
        let d = by_if.entry(pc.ifindex);
        match pc.code_name.as_str() {
            IP_RPFILTER => d.or_default().rpfilter += pc.count,
            IP_LOCAL_SOURCE => d.or_default().local_source += pc.count,
            _ => {}
        }
    }
    let mib = c.ev.rp_filter_drops_in(home.ns.inode);
    let all = home.rp_filter_all.unwrap_or(0);
    let effective = |i: &Iface| all.max(i.rp_filter.unwrap_or(0));
    if mib > 0 && !by_if.values().any(|d| d.rpfilter > 0) {
        // Only the counter moved: the strict interfaces XDP programs run on.
        for i in home
            .interfaces
            .iter()
            .filter(|i| i.has_xdp() && effective(i) == 1)
        {
            by_if.entry(i.index()).or_default();
        }
    }
    // Statically: our forwarder's internal interfaces that would drop its passed replies.
    let accepts_local =
        |i: &Iface| home.accept_local_all == Some(true) || i.accept_local == Some(true);
    if let Some(ours) = c.ours() {
        for i in ours.interfaces.iter().filter(|i| i.role == Role::Internal) {
            if let Some(v) = home.iface(i.ifindex) {
                if effective(v) > 0 && v.accept_local.is_some() && !accepts_local(v) {
                    by_if.entry(v.index()).or_default().static_only = true;
                }
            }
        }
    }
    let mut out = Vec::new();
    for (idx, seen) in by_if {
        let Some(v) = home.iface(idx) else {
            continue;
        };
        let value = effective(v);
        let martian = seen.local_source > 0 || (seen.static_only && !accepts_local(v));
        let observed = seen.local_source + seen.rpfilter + mib > 0;
        let mut f = Finding::new(
            RULE.id,
            if observed {
                Severity::Error
            } else {
                Severity::Warning
            },
            if c.is_external(idx) {
                PathStage::Ingress
            } else {
                PathStage::Reply
            },
            Subject::new(home, Some(v.name())),
        );
        f.order = c.order_replying_via(idx);
        f.entries = if c.is_external(idx) {
            c.paths
                .iter()
                .map(|p| format!("{} -> {}", p.from, p.to))
                .collect()
        } else {
            c.entries_replying_via(idx)
        };
        let mode = match value {
            1 => "strict (1)",
            2 => "loose (2)",
            _ => "off (0)",
        };
        f.why = if martian && !observed {
            format!(
                "The forwarder passes replies it translated back to the public address to the \
                 stack whenever the client's neighbour is unresolved (fib_no_neigh); arriving on \
                 {} they carry this host's own address as source, and with rp_filter {mode} and \
                 accept_local off the stack drops them as martians. The neighbour then never \
                 resolves and the replies keep dying (nothing was dropped during the window).",
                v.name()
            )
        } else if martian {
            format!(
                "Packets arriving on {} that {} passed to the stack carry one of this host's own \
                 addresses as source (replies translated back to the public address): with \
                 rp_filter {mode} the stack checks sources there and drops them as martians. \
                 They never reach the forwarding path, so the client's neighbour is never \
                 resolved and the program keeps passing them.",
                v.name(),
                c.who_reaches(idx)
            )
        } else {
            format!(
                "Packets arriving on {} that {} passed to the stack were dropped by the strict \
                 reverse-path check: the host would not route their source back through {}. \
                 They never reach the forwarding path, so the next hop's neighbour is never \
                 resolved and the program keeps passing them.",
                v.name(),
                c.who_reaches(idx),
                v.name()
            )
        };
        f.evidence.push(format!(
            "net.ipv4.conf.{}.rp_filter = {}, net.ipv4.conf.all.rp_filter = {all}: {mode}; \
             accept_local {}",
            v.name(),
            v.rp_filter
                .map(|r| r.to_string())
                .unwrap_or_else(|| "?".into()),
            if accepts_local(v) { "on" } else { "off" }
        ));
        f.observe(
            format!("kfree_skb {IP_LOCAL_SOURCE} on {}", v.name()),
            seen.local_source,
        );
        f.observe(
            format!("kfree_skb {IP_RPFILTER} on {}", v.name()),
            seen.rpfilter,
        );
        f.observe(format!("IPReversePathFilter in {}", home.ns.name), mib);
        f.observe(
            "forwarder passed to the stack, translated (fib_no_neigh, window)",
            c.ev.counter_delta(Counter::FibNoNeigh),
        );
        let loose = value == 1;
        if loose || martian {
            f.fix = Some(Fix::new(
                format!(
                    "on {}: {}",
                    v.name(),
                    match (loose, martian) {
                        (true, true) =>
                            "rp_filter loose (2) and accept_local 1 (sources that are \
                                         this host's own addresses are accepted)",
                        (true, false) =>
                            "rp_filter loose (2): the source must only be reachable \
                                          through some interface",
                        _ =>
                            "accept_local 1: sources that are this host's own addresses are \
                              accepted (rp_filter stays loose)",
                    }
                ),
                Action::SetRpFilter(SetRpFilter {
                    netns: home.ns.clone(),
                    interface: v.name().to_string(),
                    loose,
                    accept_local: martian,
                }),
            ));
        } else {
            f.manual_fix = Some(format!(
                "add a route back to the dropped packets' sources (loose mode drops only sources \
                 with no route at all), or turn rp_filter off on {}",
                v.name()
            ));
        }
        out.push(f);
    }
    out
}
