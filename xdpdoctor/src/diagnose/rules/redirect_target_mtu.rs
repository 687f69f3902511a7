//! `redirect-target-mtu`: a redirect target's MTU is smaller than the MTU of the interfaces
//! its packets arrive on, so a full-size frame cannot be sent there. The kernel checks every
//! redirected frame against the target (`xdp_ok_fwd_dev`: length > MTU + Ethernet header +
//! VLAN tag) and drops the larger ones before queueing: `xdp:xdp_redirect_err` err=-90
//! (EMSGSIZE), counted nowhere else. The stack would have fragmented or sent ICMP
//! "fragmentation needed"; an XDP redirect does neither, so small packets (a SYN, a GET) pass
//! and large ones (an upload, a page) vanish. `bpf_fib_lookup` checks the MTU only when the
//! program sets `tot_len` (then it answers FRAG_NEEDED); the seed's forwarder, like many, does
//! not. xdpdoctor's forwarder does, and passes FRAG_NEEDED packets to the stack untranslated
//! (counter `fib_frag_needed`), where nothing listens on the public address: the same large
//! packets die, seen as the counter instead of EMSGSIZE.
//!
//! On a veth pair whose two ends disagree (the router's end smaller than the container's),
//! the container's TCP advertises an MSS the router's end cannot carry: every full-size
//! segment towards it dies. Raising the router's end to its peer's MTU (at most the ingress
//! MTU) is safe and revertible: nothing larger than the peer's MTU could cross the pair
//! anyway. When both ends are small, TCP adapts through the MSS and only other large packets
//! die: a warning, fixed in the program (set `tot_len`, pass FRAG_NEEDED to the stack) or by
//! whoever chose the MTUs.
//!
//! Not for a device that takes no XDP frames at all (a VXLAN's 1450 below a 1500 uplink):
//! the kernel refuses those frames before it looks at their length.

use super::{Ctx, Kind, Rule, RuleId};
use crate::bpf::forwarder_abi::Counter;
use crate::diagnose::{Finding, Severity, Subject};
use crate::model::action::SetMtu;
use crate::model::{Action, Fix};
use crate::probes::EventKind;
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::RedirectTargetMtu,
    kind: Kind::Cause,
    title: "a redirect target's MTU is smaller than its ingress: full-size frames die (EMSGSIZE)",
    check,
};

/// -EMSGSIZE, as the redirect tracepoints report it.
const EMSGSIZE: i32 = -90;

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    let xdp = &c.snap.xdp;
    let mut out = Vec::new();
    for (v, _) in c.redirect_targets() {
        // A device that takes no XDP frame at all refuses it before its MTU is looked at
        // (`__xdp_enqueue`: EOPNOTSUPP first, EMSGSIZE after): redirect-target-no-xdp-xmit's.
        if super::cannot_take_frames(v).is_some() {
            continue;
        }
        // The interfaces whose programs can redirect to v, and the largest of their MTUs.
        let ingress = xdp
            .attachments
            .iter()
            .filter(|a| a.ifindex != v.index())
            .filter(|a| {
                let t = xdp.targets_of(a.prog_id);
                t.unknown || t.devices.contains(&v.index())
            })
            .filter_map(|a| home.iface(a.ifindex))
            // What can arrive there: a veth carries at most what its peer sends.
            .map(|i| {
                let peer = c.snap.peer_of(i).map(|(_, p)| p.link.mtu);
                (i, peer.map_or(i.link.mtu, |p| p.min(i.link.mtu)))
            })
            // The largest; among equals an external interface, then the lowest ifindex.
            .max_by_key(|(i, m)| (*m, c.is_external(i.index()), std::cmp::Reverse(i.index())));
        let Some((ing, in_mtu)) = ingress else {
            continue;
        };
        let mtu = v.link.mtu;
        if mtu == 0 || mtu >= in_mtu {
            continue;
        }
        let peer = c.snap.peer_of(v);
        let peer_mtu = peer.map(|(_, p)| p.link.mtu).filter(|m| *m > mtu);
        let emsgsize: u64 =
            c.ev.probe_count(EventKind::RedirectErr, home.ns.inode, v.index(), true)
                .iter()
                .filter(|pc| pc.code == EMSGSIZE)
                .map(|pc| pc.count)
                .sum();
        // Our forwarder asks bpf_fib_lookup with the packet's length: too large is
        // FRAG_NEEDED, and it passes such packets to the stack untranslated.
        let (_, frag_needed) = c.counter(Counter::FibFragNeeded);
        let mut f = Finding::new(
            RULE.id,
            if emsgsize > 0 || frag_needed > 0 || peer_mtu.is_some() {
                Severity::Error
            } else {
                Severity::Warning
            },
            PathStage::Devmap,
            Subject::new(home, Some(v.name())),
        );
        f.order = c.order_of(v.index());
        f.entries = c.entries_via(v.index());
        let how = if c.ours().is_some() {
            format!(
                "the forwarder's bpf_fib_lookup (it sets tot_len) answers FRAG_NEEDED for every \
                 packet larger than {mtu} bytes, and the forwarder passes those to the stack \
                 untranslated, where nothing listens on the public address (the client gets a \
                 reset, or nothing)"
            )
        } else {
            format!(
                "the kernel drops every redirected frame larger than {} bytes \
                 (xdp:xdp_redirect_err err=-90 EMSGSIZE) and, unlike the stack, neither \
                 fragments nor answers ICMP \"fragmentation needed\"",
                mtu + 14 + 4
            )
        };
        f.why = format!(
            "{} receives frames of up to {in_mtu} bytes (the MTU of {}) for {}, whose MTU is \
             {mtu}: {how}. Small packets pass; large requests or answers vanish.{}",
            super::capitalized(&c.who_reaches(v.index())),
            ing.name(),
            v.name(),
            match (peer, peer_mtu) {
                (Some((pns, p)), Some(pm)) => format!(
                    " Its peer {} in {} has MTU {pm}, so TCP there advertises segments {} cannot \
                     carry.",
                    p.name(),
                    pns.ns.name,
                    v.name()
                ),
                _ => String::new(),
            }
        );
        f.evidence.push(format!(
            "MTU of {} {mtu} < MTU of {} {in_mtu}",
            v.name(),
            ing.name()
        ));
        if let Some((pns, p)) = peer {
            f.evidence
                .push(format!("{}/{}: MTU {}", pns.ns.name, p.name(), p.link.mtu));
        }
        f.observe(
            format!("redirect_err -90 (EMSGSIZE) to {}", v.name()),
            emsgsize,
        );
        f.observe(
            "forwarder fib_frag_needed (window; passed untranslated)",
            frag_needed,
        );
        match peer_mtu {
            Some(pm) if v.is_veth() => {
                let new = pm.min(in_mtu);
                f.fix =
                    Some(Fix::new(
                        format!(
                        "raise the MTU of {} from {mtu} to {new}, its peer's{}: frames that large \
                         already cross the pair's other end",
                        v.name(),
                        if new < pm { " (capped at the ingress MTU)" } else { "" }
                    ),
                        Action::SetMtu(SetMtu {
                            netns: home.ns.clone(),
                            interface: v.name().to_string(),
                            mtu: new,
                        }),
                    ))
            }
            _ => {
                f.manual_fix = Some(format!(
                    "have the program check the MTU (bpf_fib_lookup with tot_len set answers \
                     FRAG_NEEDED: pass those packets to the stack, which sends ICMP), or give {} \
                     the MTU of {} where the network allows it",
                    v.name(),
                    ing.name()
                ))
            }
        }
        out.push(f);
    }
    out
}
