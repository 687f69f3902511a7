//! `veth-peer-no-xdp`: the forwarder redirects into a veth whose peer can not take XDP frames.
//!
//! Kernel eras (KERNEL-NOTES): 6.3+ judge by the veth's `xdp_features` ndo-xmit, which the
//! kernel sets only if the peer has XDP or requested GRO; without it `__xdp_enqueue` fails at
//! once (`xdp:xdp_redirect_err` err=-95 EOPNOTSUPP). Before 6.3, `veth_xdp_xmit` returns -6
//! ENXIO when the peer has no XDP (5.13+: and no GRO requested), seen as
//! `xdp:xdp_devmap_xmit` drops; before 5.13 requested GRO does not help (measured on 5.10: a
//! GRO-only peer drops every redirect), so neither the judgement nor the fix counts on it
//! there. Generic (skb) mode needs no ndo-xmit and is exempt.

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::model::action::{AttachXdpPass, SetGro};
use crate::model::{Action, Fix};
use crate::probes::EventKind;
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::VethPeerNoXdp,
    kind: Kind::Cause,
    title: "redirects into a veth are dropped: its peer has no XDP program (nor GRO)",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let fwd = c.home();
    let new_era = c.snap.xdp_features_supported;
    let mut out = Vec::new();
    for (v, t) in c.redirect_targets() {
        if !t.native || !v.is_veth() {
            continue;
        }
        let Some((pns, p)) = c.snap.peer_of(v) else {
            continue;
        };
        if p.has_xdp() && !p.link.up {
            continue; // peer-link-down explains it
        }
        let gro_napi = c.kernel_at_least(5, 13) && p.gro_requested == Some(true);
        let broken = match v.ndo_xmit() {
            Some(ndo) => !ndo,
            None => !p.has_xdp() && !gro_napi,
        };
        if !broken {
            continue;
        }
        let external = c.is_external(v.index());
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            if external {
                PathStage::Client
            } else {
                PathStage::Veth
            },
            Subject::new(pns, Some(p.name())),
        );
        f.order = c.order_of(v.index());
        f.entries = c.entries_via(v.index());
        let (err, how) = if new_era {
            ("-95 (EOPNOTSUPP)", "xdp:xdp_redirect_err")
        } else {
            ("-6 (ENXIO)", "xdp:xdp_devmap_xmit")
        };
        f.why = format!(
            "{} can redirect packets into {} (native XDP), but its peer {} in {} has \
             no XDP program{}, so the veth cannot take XDP frames and the kernel drops every \
             redirected packet ({how} err={err}). Nothing is counted on the interfaces.",
            super::capitalized(&c.who_reaches(v.index())),
            v.name(),
            p.name(),
            pns.ns.name,
            if c.kernel_at_least(5, 13) {
                " and GRO is not requested"
            } else {
                ""
            }
        );
        if let Some(feat) = v.xdp_features {
            f.evidence.push(format!(
                "xdp_features of {} in {}: {feat:#x} (ndo-xmit not set)",
                v.name(),
                fwd.ns.name
            ));
        }
        f.evidence.push(format!(
            "{}/{}: XDP {}, GRO requested {}",
            pns.ns.name,
            p.name(),
            if p.has_xdp() { "attached" } else { "none" },
            match p.gro_requested {
                Some(true) => "on",
                Some(false) => "off",
                None => "unknown",
            }
        ));
        f.evidence.push(format!(
            "kernel {}: expected {how} err={err}",
            c.snap.kernel
        ));
        c.observe_redirects_into(
            &mut f,
            fwd.ns.inode,
            v,
            &[
                EventKind::RedirectErr,
                EventKind::DevmapXmit,
                EventKind::VethXdpXmit,
            ],
        );
        // A pass-through program on the peer is refused while this end's MTU is above the
        // veth XDP limit (the peer's peer is this veth): request GRO there instead (5.13+).
        let too_large = c
            .snap
            .veth_xdp_max_mtu
            .filter(|limit| v.link.mtu > *limit && c.kernel_at_least(5, 13));
        f.fix = Some(match too_large {
            Some(limit) => {
                f.evidence.push(format!(
                    "a pass-through program cannot attach to {}: the MTU of {} is {} > {limit}, \
                     the veth XDP limit (\"veth: Peer MTU is too large to set XDP\"); GRO instead",
                    p.name(),
                    v.name(),
                    v.link.mtu
                ));
                Fix::new(
                    format!("request GRO on {} in {}", p.name(), pns.ns.name),
                    Action::SetGro(SetGro {
                        netns: pns.ns.clone(),
                        interface: p.name().to_string(),
                        on: true,
                    }),
                )
            }
            None => Fix::new(
                format!(
                    "attach a pass-through XDP program to {} in {}{}",
                    p.name(),
                    pns.ns.name,
                    // Before 5.13 GRO gives the peer no NAPI: only an XDP program helps.
                    if c.kernel_at_least(5, 13) {
                        " (or --prefer gro: request GRO on it)"
                    } else {
                        ""
                    }
                ),
                Action::AttachXdpPass(AttachXdpPass {
                    netns: pns.ns.clone(),
                    interface: p.name().to_string(),
                }),
            ),
        });
        out.push(f);
    }
    out
}
