//! `forwarding-disabled`: `bpf_fib_lookup` answers FWD_DISABLED when the *ingress*
//! interface's `net.ipv4.conf.<if>.forwarding` is 0, so the forwarder never translates.

use super::{Ctx, Rule};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::forwarder::Role;
use crate::model::{Action, Fix};
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: "forwarding-disabled",
    title: "IPv4 forwarding is off on an interface the forwarder receives on",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let fwd = c.fwd();
    let (total, delta) = c.counter(Counter::FibFwdDisabled);
    let mut out = Vec::new();
    for i in &c.snap.forwarder.interfaces {
        let Some(iface) = fwd.iface(i.ifindex) else {
            continue;
        };
        if iface.forwarding != Some(false) {
            continue;
        }
        let external = i.role == Role::External;
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            if external {
                PathStage::Fib
            } else {
                PathStage::Reply
            },
            Subject::new(fwd, Some(&i.name)),
        );
        f.why = format!(
            "net.ipv4.conf.{}.forwarding is 0, so bpf_fib_lookup returns FWD_DISABLED for every \
             packet received on {} and the forwarder passes it untranslated to the stack, which \
             does not forward it either. {}",
            i.name,
            i.name,
            if external {
                "New connections never reach the targets."
            } else {
                "Replies from the targets are not translated back."
            }
        );
        f.evidence
            .push(format!("net.ipv4.conf.{}.forwarding = 0", i.name));
        if fwd.forwarding_all == Some(false) {
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
            c.entries_via(i.ifindex)
        };
        f.fix = Some(Fix::new(
            format!("enable forwarding on {} in {}", i.name, fwd.name),
            Action::SetForwarding {
                netns: fwd.ns_ref(),
                interface: i.name.clone(),
                on: true,
            },
        ));
        out.push(f);
    }
    out
}
