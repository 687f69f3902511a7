//! `forwarding-disabled`: `bpf_fib_lookup` answers FWD_DISABLED when the *ingress*
//! interface's `net.ipv4.conf.<if>.forwarding` is 0, so a forwarder that routes with it never
//! translates (ours passes such packets to the stack, which does not forward them either; the
//! seed's dropped them). For a program xdpdoctor did not load it is a warning unless its NAT
//! entries are known: it may not route with `bpf_fib_lookup` at all.
//!
//! IPv6 the same way: `bpf_fib_lookup` for AF_INET6 checks the ingress interface's
//! `net.ipv6.conf.<if>.forwarding`. Checked for programs xdpdoctor did not load (ours is
//! IPv4 only) when the namespace routes IPv6 through a redirect target (a dual-stack router of
//! the `xdp_fwd` shape): IPv4 flows and IPv6 connections silently fail. Unlike IPv4, the
//! stack forwards IPv6 only while `net.ipv6.conf.all.forwarding` is on, so when `all` is off
//! the fix turns `all` on (which sets every interface's flag too).

use super::{Ctx, Kind, Rule, RuleId};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::forwarder::Role;
use crate::model::action::SetForwarding;
use crate::model::{Action, Fix};
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::ForwardingDisabled,
    kind: Kind::Cause,
    title: "IPv4 or IPv6 forwarding is off on an interface an XDP forwarder receives on",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    let (total, delta) = c.counter(Counter::FibFwdDisabled);
    // Interfaces whose program forwards: ours, the roles of a config, or (entries unknown) a
    // program with a devmap to redirect through.
    let mut ingress: Vec<u32> = c
        .snap
        .xdp
        .attachments
        .iter()
        .filter(|a| {
            c.snap.role(a.ifindex).is_some() || !c.snap.xdp.targets_of(a.prog_id).devices.is_empty()
        })
        .map(|a| a.ifindex)
        .collect();
    if let Some(ours) = c.ours() {
        ingress.extend(ours.interfaces.iter().map(|i| i.ifindex));
    }
    ingress.sort_unstable();
    ingress.dedup();
    // IPv6 is routed through a redirect target: a dual-stack program may route it.
    let targets: Vec<u32> = c.redirect_targets().map(|(v, _)| v.index()).collect();
    let routes_v6 = c.ours().is_none()
        && home.routes6.iter().any(|r| {
            r.kind == crate::netlink::rtnl::RouteKind::Unicast
                && !crate::netlink::rtnl::is_link_local6(r.dst)
                && r.oif.is_some_and(|o| targets.contains(&o))
        });
    let mut out = Vec::new();
    for idx in ingress {
        let Some(iface) = home.iface(idx) else {
            continue;
        };
        for ipv6 in [false, true] {
            let off = if ipv6 {
                routes_v6 && iface.forwarding6 == Some(false)
            } else {
                iface.forwarding == Some(false)
            };
            if off {
                out.push(finding(c, iface, ipv6, total, delta));
            }
        }
    }
    out
}

fn finding(c: &Ctx, iface: &crate::snapshot::Iface, ipv6: bool, total: u64, delta: u64) -> Finding {
    let home = c.home();
    let idx = iface.index();
    let role = c.snap.role(idx);
    let external = role == Some(Role::External);
    let known = c.ours().is_some() || c.snap.entries_known();
    let mut f = Finding::new(
        RULE.id,
        if known {
            Severity::Error
        } else {
            Severity::Warning
        },
        if role == Some(Role::Internal) {
            PathStage::Reply
        } else {
            PathStage::Fib
        },
        Subject::new(home, Some(iface.name())),
    );
    let name = iface.name();
    let fam = if ipv6 { "ipv6" } else { "ipv4" };
    f.why = format!(
        "net.{fam}.conf.{name}.forwarding is 0, so bpf_fib_lookup returns FWD_DISABLED for \
         every {} packet received on {name}: {} cannot route them, and the kernel stack, \
         which gets them instead, does not forward them either. {}",
        if ipv6 { "IPv6" } else { "IPv4" },
        c.who(),
        match role {
            Some(Role::External) => "New connections never reach the targets.",
            Some(Role::Internal) => "Replies from the targets are not translated back.",
            None => "(If the program does not route with bpf_fib_lookup, this is harmless.)",
        }
    );
    f.evidence
        .push(format!("net.{fam}.conf.{name}.forwarding = 0"));
    let all_off = if ipv6 {
        home.forwarding6_all == Some(false)
    } else {
        home.forwarding_all == Some(false)
    };
    if all_off {
        f.evidence
            .push(format!("net.{fam}.conf.all.forwarding = 0"));
    }
    if ipv6 {
        let nets: Vec<String> = home
            .routes6
            .iter()
            .filter(|r| {
                r.kind == crate::netlink::rtnl::RouteKind::Unicast
                    && !crate::netlink::rtnl::is_link_local6(r.dst)
            })
            .filter_map(|r| {
                let dev = home.iface(r.oif?)?.name();
                Some(format!("{}/{} dev {dev}", r.dst, r.prefix))
            })
            .collect();
        f.evidence.push(format!(
            "IPv6 routes through redirect targets: {}",
            nets.join(", ")
        ));
    } else {
        f.observe("forwarder fib_fwd_disabled (since deploy)", total);
        f.observe("forwarder fib_fwd_disabled (window)", delta);
    }
    f.entries = if external {
        c.paths
            .iter()
            .map(|p| format!("{} -> {}", p.from, p.to))
            .collect()
    } else {
        c.entries_replying_via(idx)
    };
    // The stack forwards IPv6 only with `all` on (ip6_forward reads the namespace's flag, not
    // the interface's), and the packets the program passes need it: fix `all` then (writing it
    // sets every interface's too).
    let target = if ipv6 && home.forwarding6_all == Some(false) {
        "all"
    } else {
        name
    };
    f.fix = Some(Fix::new(
        format!(
            "enable {} forwarding on {target} in {}",
            if ipv6 { "IPv6" } else { "IPv4" },
            home.ns.name
        ),
        Action::SetForwarding(SetForwarding {
            netns: home.ns.clone(),
            interface: target.to_string(),
            on: true,
            ipv6,
        }),
    ));
    f
}
