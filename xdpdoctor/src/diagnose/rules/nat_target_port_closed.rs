//! `nat-target-port-closed`: the container holds a NAT entry's target address but nothing
//! listens on its port (the container namespace's listeners, `netlink::sockets`): the container
//! answers every translated SYN with a RST. The service stopped, or listens elsewhere.

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::NatTargetPortClosed,
    kind: Kind::Cause,
    title: "nothing listens on a NAT entry's target port in the container",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let mut out = Vec::new();
    for (n, p) in c.paths.iter().enumerate() {
        let Some((ino, idx)) = p.container else {
            continue;
        };
        let Some(ns) = c.snap.ns(ino) else { continue };
        let (to, port) = (*p.to.ip(), p.to.port());
        if ns.owner_of(to).is_none() {
            continue; // nat-target-stale
        }
        let Some(listen) = &ns.tcp_listen else {
            continue; // not read: no proof
        };
        if listen.iter().any(|l| l.accepts(to, port)) {
            continue;
        }
        let ifname = ns.iface(idx).map(|i| i.name().to_string());
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Container,
            Subject::new(ns, ifname.as_deref()),
        );
        f.order = n as u32;
        let entry = format!("{} -> {}", p.from, p.to);
        f.entries = vec![entry.clone()];
        let ports: Vec<String> = listen
            .iter()
            .map(|l| format!("{}:{}", l.addr, l.port))
            .collect();
        f.why = format!(
            "The entry {entry} reaches {} and its container holds {to}, but nothing listens on \
             TCP port {port} there: the container answers each connection with a RST (the \
             client sees \"connection refused\").",
            ns.ns.name
        );
        f.evidence.push(format!(
            "listening TCP sockets in {}: [{}]",
            ns.ns.name,
            ports.join(", ")
        ));
        if let Some(st) = ifname.as_deref().and_then(|i| c.ev.capture_of(ino, i)) {
            f.observe(
                format!(
                    "RST segments captured on {}",
                    ifname.as_deref().unwrap_or("?")
                ),
                st.resets,
            );
        }
        f.manual_fix = Some(format!(
            "start the service on port {port} in {}, or point the entry at a port it listens on",
            ns.ns.name
        ));
        out.push(f);
    }
    out
}
