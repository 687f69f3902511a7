//! `veth-tx-csum-offload`: the container-side veth has tx checksum offload on, so replies
//! leave with a partial checksum; the forwarder's XDP redirect turns the skb into an
//! xdp_frame, the checksum state is lost and the client's stack drops the segment
//! (TCP_CSUM / TcpInCsumErrors; UDP the same: UDP_CSUM / UdpInCsumErrors, IPv4 and IPv6).
//! Ping keeps working, TCP and UDP do not.

use std::collections::BTreeSet;

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::model::action::SetTxCsum;
use crate::model::{Action, Fix};
use crate::netlink::rtnl::XdpMode;
use crate::probes::EventKind;
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::VethTxCsumOffload,
    kind: Kind::Cause,
    title:
        "replies leave the container with partial checksums that an XDP redirect cannot complete",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    // full_csum (ours) repairs partial sums.
    if c.snap.full_checksum() {
        return Vec::new();
    }
    let fwd = c.home();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    // Every veth a native program receives on and redirects from: what its peer sends is
    // redirected as an xdp_frame. Generic XDP keeps the skb (and its checksum state).
    for a in &c.snap.xdp.attachments {
        if a.mode != XdpMode::Driver {
            continue;
        }
        // It redirects to a device: its devmaps say so, or (no redirect map) the window saw
        // it. A program with no redirect path at all (`return XDP_PASS`) redirects nothing.
        let t = c.snap.xdp.targets_of(a.prog_id);
        let seen = t.unknown && c.ev.redirected_from(fwd.ns.inode, a.ifindex, None);
        if t.devices.is_empty() && !seen {
            continue;
        }
        let Some(v) = fwd.iface(a.ifindex).filter(|v| v.is_veth()) else {
            continue;
        };
        let Some((pns, pif)) = c.snap.peer_of(v) else {
            continue;
        };
        if pif.tx_csum_active != Some(true) || !done.insert((pns.ns.inode, pif.index())) {
            continue;
        }
        let external = c.is_external(v.index());
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            if external {
                PathStage::Ingress
            } else {
                PathStage::Reply
            },
            Subject::new(pns, Some(pif.name())),
        );
        // The replies of the entries behind this veth, also where the route towards the
        // container leaves through a device stacked on it (they still arrive here).
        f.order = c.order_replying_via(v.index());
        f.entries = c.entries_replying_via(v.index());
        f.why = format!(
            "{} in {} has tx checksum offload on, so its TCP segments and UDP datagrams carry \
             only the pseudo-header sum. The native XDP redirect by {} on {} drops the skb's checksum \
             state, and the receiving stack sees a bad checksum and discards the segment{}.",
            pif.name(),
            pns.ns.name,
            c.programs(&[a.prog_id]),
            v.name(),
            if external {
                ""
            } else {
                " (the SYN-ACK never arrives)"
            }
        );
        f.evidence.push(format!(
            "{}/{}: tx checksum offload active",
            pns.ns.name,
            pif.name()
        ));
        f.evidence.push(format!(
            "program {} on {} in native mode{}: what arrives there is redirected without checksum repair",
            a.prog_id,
            v.name(),
            if c.ours().is_some() {
                ", full_checksum off"
            } else {
                ""
            }
        ));
        if let Some(st) = c.ev.capture_of(pns.ns.inode, pif.name()) {
            f.observe(
                format!("partial TCP checksums captured on {}", pif.name()),
                st.partial,
            );
            f.observe(
                format!("corrupt TCP checksums captured on {}", pif.name()),
                st.corrupt,
            );
            f.observe(
                format!("partial UDP checksums captured on {}", pif.name()),
                st.udp.partial,
            );
            f.observe(
                format!("corrupt UDP checksums captured on {}", pif.name()),
                st.udp.corrupt,
            );
        }
        for ce in &c.ev.csum_errors {
            if ce.netns_inode != pns.ns.inode {
                f.observe(format!("TcpInCsumErrors in {}", ce.netns), ce.delta);
                f.observe(format!("UdpInCsumErrors in {}", ce.netns), ce.udp_delta);
            }
        }
        // Checksum drops happen where the replies are received (the client side), not in the
        // container; they cannot be split per container, so they are labelled as totals.
        for pc in c.ev.probes.counts.iter() {
            let csum = pc.kind == EventKind::TcpBadCsum
                || (pc.kind == EventKind::KfreeSkb && pc.code_name.contains("CSUM"));
            if csum && pc.netns_inode != pns.ns.inode {
                f.observe(
                    format!("{} {} (all replies, receiving side)", pc.kind, pc.code_name),
                    pc.count,
                );
            }
        }
        // Where the kernel gives less: say so rather than let absent drop counts read as none.
        let csum_probe = |name: &str| c.ev.probes.active.iter().any(|a| a.starts_with(name));
        if c.ev.probes.available && !csum_probe("skb:kfree_skb") && !csum_probe("tcp:tcp_bad_csum")
        {
            f.evidence.push(format!(
                "kernel {}: no probe for checksum drops (skb:kfree_skb has a drop reason from \
                 5.17, tcp:tcp_bad_csum exists from 5.14): TcpInCsumErrors and the captures \
                 are the evidence",
                c.snap.kernel
            ));
        }
        // The forwarder's full checksums read the segment with bpf_xdp_load_bytes (5.18+).
        let alt = if c.ours().is_some() && !c.kernel_at_least(5, 18) {
            " (the forwarder's full checksums need bpf_xdp_load_bytes, Linux 5.18+)"
        } else if c.ours().is_some() {
            " (or, if containers cannot be touched, have the forwarder compute full checksums: \
             `xdpdoctor fix --csum forwarder`)"
        } else {
            " (or have the XDP program compute full checksums)"
        };
        f.fix = Some(Fix::new(
            format!(
                "turn tx checksum offload off on {} in {}{alt}",
                pif.name(),
                pns.ns.name
            ),
            Action::SetTxCsum(SetTxCsum {
                netns: pns.ns.clone(),
                interface: pif.name().to_string(),
                on: false,
            }),
        ));
        out.push(f);
    }
    out
}
