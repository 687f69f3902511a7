//! `netfilter-drop`: packets of a NAT entry that the XDP program passes to the stack,
//! already translated, are dropped by netfilter. A program passes them whenever it cannot
//! redirect: the next hop is not resolved yet (`bpf_fib_lookup` NO_NEIGH: the first packets
//! to a container, and again whenever the neighbour entry expired), the egress is not in its
//! devmap, or cannot take XDP frames (a bridge). Docker sets the FORWARD policy to DROP and
//! accepts only what its own rules name, so on a Docker host the stack drops them: the
//! neighbour is then never resolved either, and nothing is ever redirected.
//!
//! Static: the ruleset read over netlink (nf_tables, iptables-nft's rules included) is
//! walked for the entry's translated flow (`netlink::nftables::evaluate`: from the external
//! interface to the FIB's egress, TCP to the target's port, a new connection): the finding
//! names the table, chain and policy or rule that drops it. Observed: `kfree_skb`
//! NETFILTER_DROP of packets with the translated tuple on the external interface.
//!
//! The fix adds one narrow accept rule per entry, first in Docker's `DOCKER-USER` chain where
//! Docker is present (the chain Docker leaves to users and never flushes), else first in the
//! base chain that drops: `iifname EXT ip daddr TARGET tcp dport PORT accept`, marked by a
//! comment; revert deletes exactly the rule with that comment.

use super::{Ctx, Kind, Rule, RuleId};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::forwarder::Role;
use crate::model::action::{AcceptFlow, NetfilterAccept};
use crate::model::{Action, Fix};
use crate::netlink::nftables::expr::Expr;
use crate::netlink::nftables::{evaluate, CtState, Fate, Flow, Place, Ruleset};
use crate::snapshot::{NatPath, PathStage};

pub const RULE: Rule = Rule {
    id: RuleId::NetfilterDrop,
    kind: Kind::Cause,
    title: "netfilter drops the translated packets the XDP program passes to the stack",
    check,
};

/// The chain Docker leaves to its users: jumped to first from FORWARD, never flushed.
const DOCKER_USER: &str = "DOCKER-USER";

/// The entries whose translated flows one place drops, arriving on one interface.
struct Group<'a> {
    flow_in: (String, u32),
    /// (entry number, path, its flow, what the ruleset does with it, drops seen).
    entries: Vec<(usize, &'a NatPath, Flow, Fate, u64)>,
}

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    let Some(rs) = &home.netfilter else {
        return Vec::new();
    };
    let externals: Vec<_> = home
        .interfaces
        .iter()
        .filter(|i| c.snap.role(i.index()) == Some(Role::External))
        .collect();
    // One finding per (interface the packets arrive on, place that drops them): the entries
    // dropped there share it, and its fix accepts each of their flows.
    let mut groups: Vec<(Option<Place>, Group)> = Vec::new();
    for (n, p) in c.paths.iter().enumerate() {
        let Some(oif) = p.egress.and_then(|i| home.iface(i)) else {
            continue;
        };
        for ext in &externals {
            let flow = Flow {
                iif: (ext.name().to_string(), ext.index()),
                oif: (oif.name().to_string(), oif.index()),
                saddr: None,
                daddr: *p.to.ip(),
                protocol: libc::IPPROTO_TCP as u8,
                sport: None,
                dport: p.to.port(),
                state: CtState::New,
            };
            let fate = evaluate(rs, &flow);
            let seen = observed(c, ext.index(), p);
            // What the ruleset surely drops, or what the window saw dropped.
            if !fate.certain && seen == 0 {
                continue;
            }
            let place = fate.drops.last().cloned();
            let key = |(pl, g): &(Option<Place>, Group)| *pl == place && g.flow_in == flow.iif;
            match groups.iter().position(key) {
                Some(i) => groups[i].1.entries.push((n, p, flow, fate, seen)),
                None => groups.push((
                    place,
                    Group {
                        flow_in: flow.iif.clone(),
                        entries: vec![(n, p, flow, fate, seen)],
                    },
                )),
            }
        }
    }
    groups
        .into_iter()
        .map(|(place, g)| finding(c, place.as_ref(), &g, rs))
        .collect()
}

/// NETFILTER_DROP of packets with the entry's translated destination on `ifindex`.
fn observed(c: &Ctx, ifindex: u32, p: &NatPath) -> u64 {
    c.ev.probes
        .dropped_flows
        .iter()
        .filter(|f| {
            f.netns_inode == c.snap.netns_inode
                && f.ifindex == ifindex
                && f.code_name == "NETFILTER_DROP"
                && f.tuple.dst == p.to
        })
        .map(|f| f.count)
        .sum()
}

/// Whether the program passes this entry's packets to the stack now: its next hop is not
/// resolved, or the FIB's egress is not something it redirects to.
fn passed_now(c: &Ctx, p: &NatPath) -> bool {
    let home = c.home();
    let hop = p
        .route
        .as_ref()
        .and_then(|r| r.gateway)
        .unwrap_or(*p.to.ip());
    let resolved = p
        .egress
        .and_then(|e| home.neighbour(e, hop))
        .is_some_and(|n| n.valid);
    let redirects = p.egress.is_some_and(|e| {
        c.snap.native_reaches(e)
            && home
                .iface(e)
                .is_some_and(|i| super::cannot_take_frames(i).is_none())
    });
    !resolved || !redirects
}

fn finding(c: &Ctx, place: Option<&Place>, g: &Group, rs: &Ruleset) -> Finding {
    let home = c.home();
    let seen: u64 = g.entries.iter().map(|e| e.4).sum();
    let certain = g.entries.iter().all(|e| e.3.certain);
    let now = seen > 0 || g.entries.iter().any(|e| passed_now(c, e.1));
    let mut f = Finding::new(
        RULE.id,
        if now {
            Severity::Error
        } else {
            Severity::Warning
        },
        PathStage::Fib,
        Subject::new(home, Some(&g.flow_in.0)),
    );
    f.order = g.entries.first().map(|e| e.0 as u32).unwrap_or(0);
    f.entries = g
        .entries
        .iter()
        .map(|e| format!("{} -> {}", e.1.from, e.1.to))
        .collect();
    f.why = format!(
        "{} passes packets of {} to the stack, translated, whenever it cannot redirect them \
         ({}), and netfilter {} them: {}. The first packet never gets through, so the next \
         hop is never resolved and nothing is ever redirected: the connection never opens.",
        super::capitalized(&c.who()),
        f.entries.join(", "),
        if now {
            "now: the next hop is not resolved or the egress is not redirected to"
        } else {
            "whenever the next hop's neighbour entry has expired after a quiet while"
        },
        if certain { "drops" } else { "may drop" },
        place
            .map(Place::describe)
            .unwrap_or_else(|| "where, the ruleset as read does not say for sure".into()),
    );
    for (_, p, flow, fate, seen) in &g.entries {
        f.evidence.push(format!(
            "the translated flow of {} -> {}: iif {} -> oif {} (the FIB's egress), TCP to {}, \
             ct state new: {}",
            p.from,
            p.to,
            flow.iif.0,
            flow.oif.0,
            p.to,
            if fate.certain {
                "dropped"
            } else if fate.drops.is_empty() {
                "accepted by the rules as read"
            } else {
                "may be dropped"
            }
        ));
        for d in fate.drops.iter().filter(|d| Some(*d) != place) {
            f.evidence.push(format!("  also: {}", d.describe()));
        }
        f.observe(
            format!(
                "kfree_skb NETFILTER_DROP of * -> {} on {} (window)",
                p.to, flow.iif.0
            ),
            *seen,
        );
    }
    if let Some(p) = place {
        f.evidence.push(format!(
            "{}: {}",
            if certain {
                "dropped at"
            } else {
                "may be dropped at"
            },
            p.describe()
        ));
    }
    if docker_user(rs).is_some() {
        f.evidence.push(
            "Docker is present (chain DOCKER-USER in table ip filter): its FORWARD chain accepts \
             only what its own rules name"
                .into(),
        );
    }
    let (_, d) = c.counter(Counter::FibNoNeigh);
    f.observe("forwarder fib_no_neigh (window: passed to the stack)", d);
    let (_, m) = c.counter(Counter::DevmapMiss);
    f.observe("forwarder devmap_miss (window: passed to the stack)", m);
    match fix_place(rs, place) {
        Some((family, table, chain, iptables)) => {
            let flows: Vec<AcceptFlow> = g
                .entries
                .iter()
                .map(|(_, p, _, _, _)| AcceptFlow {
                    daddr: *p.to.ip(),
                    dport: p.to.port(),
                    comment: format!(
                        "xdpdoctor: accept {} -> {} via {}",
                        p.from, p.to, g.flow_in.0
                    ),
                })
                .collect();
            let a = NetfilterAccept {
                netns: home.ns.clone(),
                family,
                table,
                chain,
                iifname: g.flow_in.0.clone(),
                flows,
                iptables,
            };
            f.fix = Some(Fix::new(
                format!(
                    "accept the entries' translated flows first in {} {} {}: {} (each rule \
                     marked by its comment, `xdpdoctor: accept FROM -> TO via {}`)",
                    a.family,
                    a.table,
                    a.chain,
                    a.flows
                        .iter()
                        .map(|x| format!(
                            "iifname {} ip daddr {} tcp dport {} accept",
                            a.iifname, x.daddr, x.dport
                        ))
                        .collect::<Vec<_>>()
                        .join("; "),
                    a.iifname
                ),
                Action::NetfilterAccept(a),
            ));
        }
        None => {
            f.manual_fix = Some(format!(
                "accept TCP from {} to {} in the chain that drops it",
                g.flow_in.0,
                g.entries
                    .iter()
                    .map(|e| e.1.to.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
    f
}

/// `DOCKER-USER` in `ip filter`, when FORWARD jumps to it (Docker's layout).
fn docker_user(rs: &Ruleset) -> Option<()> {
    let t = rs.table("ip", "filter")?;
    t.chain(DOCKER_USER)?;
    let jumps_there = |r: &crate::netlink::nftables::Rule| {
        r.exprs
            .iter()
            .any(|e| matches!(e, Expr::Verdict { chain: Some(ch), .. } if ch == DOCKER_USER))
    };
    t.chains
        .iter()
        .find(|c| {
            c.hook.as_ref().is_some_and(|h| h.hooknum == 2) && c.rules.iter().any(jumps_there)
        })
        .map(|_| ())
}

/// Where the accept rule goes: (family, table, chain, iptables spelling).
fn fix_place(rs: &Ruleset, place: Option<&Place>) -> Option<(String, String, String, bool)> {
    let place = place?;
    // Docker's chain for users is evaluated first in its FORWARD: an accept there decides.
    if place.family == "ip"
        && place.table == "filter"
        && place.hook == "forward"
        && docker_user(rs).is_some()
    {
        return Some(("ip".into(), "filter".into(), DOCKER_USER.into(), true));
    }
    let iptables = place.family == "ip" && place.table == "filter";
    Some((
        place.family.clone(),
        place.table.clone(),
        place.base_chain.clone(),
        iptables,
    ))
}
