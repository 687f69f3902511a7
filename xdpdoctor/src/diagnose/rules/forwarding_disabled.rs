//! `forwarding-disabled`: `bpf_fib_lookup` answers FWD_DISABLED when the *ingress*
//! interface's `net.ipv4.conf.<if>.forwarding` is 0, so a forwarder that routes with it never
//! translates (ours passes such packets to the stack, which does not forward them either; the
//! seed's dropped them). For a program xdpdoctor did not load it is a warning unless its NAT
//! entries are known: it may not route with `bpf_fib_lookup` at all.

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
    title: "IPv4 forwarding is off on an interface an XDP forwarder receives on",
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
    let mut out = Vec::new();
    for idx in ingress {
        let Some(iface) = home.iface(idx) else {
            continue;
        };
        if iface.forwarding != Some(false) {
            continue;
        }
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
        f.why = format!(
            "net.ipv4.conf.{name}.forwarding is 0, so bpf_fib_lookup returns FWD_DISABLED for \
             every packet received on {name}: {} cannot route them, and the kernel stack, \
             which gets them instead, does not forward them either. {}",
            c.who(),
            match role {
                Some(Role::External) => "New connections never reach the targets.",
                Some(Role::Internal) => "Replies from the targets are not translated back.",
                None => "(If the program does not route with bpf_fib_lookup, this is harmless.)",
            }
        );
        f.evidence
            .push(format!("net.ipv4.conf.{name}.forwarding = 0"));
        if home.forwarding_all == Some(false) {
            f.evidence.push("net.ipv4.conf.all.forwarding = 0".into());
        }
        f.observe("forwarder fib_fwd_disabled (since deploy)", total);
        f.observe("forwarder fib_fwd_disabled (window)", delta);
        f.entries = if external {
            c.paths
                .iter()
                .map(|p| format!("{} -> {}", p.from, p.to))
                .collect()
        } else {
            c.entries_via(idx)
        };
        f.fix = Some(Fix::new(
            format!("enable forwarding on {name} in {}", home.ns.name),
            Action::SetForwarding(SetForwarding {
                netns: home.ns.clone(),
                interface: name.to_string(),
                on: true,
            }),
        ));
        out.push(f);
    }
    out
}
