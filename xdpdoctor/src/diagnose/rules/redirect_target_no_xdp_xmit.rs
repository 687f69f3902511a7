//! `redirect-target-no-xdp-xmit`: a native-mode program redirects (or, by the FIB, would
//! redirect) packets to a device that cannot take XDP frames: it has no `ndo_xdp_xmit`
//! (`xdp_features` without `ndo-xmit` on 6.3+; by its kind before, see
//! `netlink::xdp_features::kinds`). The kernel drops every such frame in `__xdp_enqueue`
//! (`xdp:xdp_redirect_err` err=-95 EOPNOTSUPP) and counts it nowhere.
//!
//! The usual case is a **bridge**: on a Docker or Podman host `bpf_fib_lookup` for a
//! container's address returns the bridge (`docker0`, `br-<id>`), not the port behind which
//! the container sits. The same holds for any stacked device (macvlan, ipvlan, vlan, vxlan,
//! geneve, dummy, lo, ...): the finding names the device's kind and what the program would
//! have to do instead (redirect to the bridge port that owns the destination MAC, to the
//! lower device, or pass the packet to the stack). A veth lacking `ndo-xmit` is its peer's
//! business (`veth-peer-no-xdp`), not this rule's.
//!
//! A **dummy** is the exception: it discards whatever is sent to it, by XDP or by the
//! stack, so the finding prints the route that leads there (to delete if it is a leftover)
//! instead of a fix that would only move the drop.
//!
//! The fix, for xdpdoctor's forwarder: take the device out of its devmap. The forwarder then
//! passes packets routed there to the stack, already translated (its devmap-miss path), and
//! the stack forwards them through the bridge. For another program it is a change to the
//! program, described.

use super::{cannot_take_frames, Ctx, Kind, NoXmit, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::model::action::DevmapRemove;
use crate::model::{Action, Fix};
use crate::netlink::rtnl::LinkKind;
use crate::probes::EventKind;
use crate::snapshot::{Iface, NsState, PathStage, TargetSource};

pub const RULE: Rule = Rule {
    id: RuleId::RedirectTargetNoXdpXmit,
    kind: Kind::Cause,
    title: "a redirect target cannot take XDP frames (a bridge, or another device without ndo_xdp_xmit)",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let home = c.home();
    let mut out = Vec::new();
    for (v, t) in c.redirect_targets() {
        // Generic-mode redirects go through the stack's transmit path and need no
        // ndo_xdp_xmit. A device only listed in a devmap (no NAT entries known, nothing seen)
        // is where a program *can* redirect, not where it does: a devmap filled with every
        // interface holds `lo` too.
        if !t.native || t.source == TargetSource::Devmap {
            continue;
        }
        let Some(why) = cannot_take_frames(v) else {
            continue;
        };
        let kind = v
            .link
            .kind
            .as_ref()
            .map(LinkKind::as_str)
            .unwrap_or(if v.name() == "lo" {
                "loopback"
            } else {
                "device"
            });
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Devmap,
            Subject::new(home, Some(v.name())),
        );
        f.order = c.order_of(v.index());
        f.entries = c.entries_via(v.index());
        f.why = format!(
            "{} redirects packets{} to {} (ifindex {}), a {kind}: a {kind} has no \
             ndo_xdp_xmit, so the kernel drops every frame redirected to it \
             (xdp:xdp_redirect_err err=-95 EOPNOTSUPP) and no counter on any interface moves.{}",
            super::capitalized(&c.who_reaches(v.index())),
            if f.entries.is_empty() {
                String::new()
            } else {
                format!(" of {}", f.entries.join(", "))
            },
            v.name(),
            v.index(),
            if v.is_bridge() {
                " bpf_fib_lookup returns the bridge for an address on its subnet, not the port \
                 behind which the destination sits."
            } else {
                ""
            }
        );
        f.evidence.push(match why {
            NoXmit::Features(bits) => format!(
                "xdp_features of {} in {}: {bits:#x} (ndo-xmit not set)",
                v.name(),
                home.ns.name
            ),
            NoXmit::Kind => format!(
                "{} is a {kind}: that kind has no ndo_xdp_xmit (kernel {}: no xdp_features to ask)",
                v.name(),
                c.snap.kernel
            ),
        });
        for p in c.paths.iter().filter(|p| p.egress == Some(v.index())) {
            f.evidence.push(format!(
                "bpf_fib_lookup for {}: egress {} ({})",
                p.to.ip(),
                v.name(),
                p.route
                    .as_ref()
                    .map(|r| format!("route {}/{}", r.dst, r.prefix))
                    .unwrap_or_default()
            ));
        }
        f.evidence.extend(instead(c, home, v));
        c.observe_redirects_into(
            &mut f,
            home.ns.inode,
            v,
            &[EventKind::RedirectErr, EventKind::DevmapXmit],
        );
        let todo = what_instead(c, home, v);
        let dummy = matches!(v.link.kind, Some(LinkKind::Dummy));
        match c.ours() {
            // Nothing sent to a dummy leaves the host: passing the packets to the stack would
            // move the drop, not end it. The route that leads there is the fault.
            _ if dummy => f.manual_fix = Some(dummy_fix(c, home, v)),
            Some(_) => {
                f.fix = Some(Fix::new(
                    format!(
                        "take {} (ifindex {}) out of the forwarder's devmap: packets routed to it \
                         are then passed to the stack, translated, and the stack forwards them \
                         through the {kind} (the program itself would have to {todo})",
                        v.name(),
                        v.index()
                    ),
                    Action::DevmapRemove(DevmapRemove {
                        netns: home.ns.clone(),
                        interface: v.name().to_string(),
                        ifindex: v.index(),
                    }),
                ))
            }
            None => {
                f.manual_fix = Some(format!(
                    "the program must not redirect to {} ({kind}): {todo}",
                    v.name()
                ))
            }
        }
        out.push(f);
    }
    out
}

/// What the program would have to do instead of redirecting to `v`, in words.
fn what_instead(c: &Ctx, home: &NsState, v: &Iface) -> String {
    let lower = v
        .link
        .peer_ifindex
        .filter(|i| *i != v.index())
        .and_then(|i| home.iface(i))
        .map(|l| l.name().to_string());
    match v.link.kind.as_ref() {
        Some(LinkKind::Bridge) => {
            let ports: Vec<String> = c
                .paths
                .iter()
                .filter(|p| p.egress == Some(v.index()))
                .filter_map(|p| {
                    let port = home.iface(p.intended?)?;
                    Some(format!("{} for {}", port.name(), p.to.ip()))
                })
                .collect();
            format!(
                "redirect to the bridge port that owns the destination MAC{} (the bridge's FDB \
                 says which), or return XDP_PASS for packets whose FIB egress is a bridge, so \
                 the stack forwards them",
                if ports.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", ports.join(", "))
                }
            )
        }
        Some(LinkKind::Macvlan | LinkKind::Macvtap | LinkKind::Ipvlan) => format!(
            "redirect to its lower device{} (frames for the {} address are received there), \
             or pass the packet to the stack",
            lower.map(|l| format!(" {l}")).unwrap_or_default(),
            v.name()
        ),
        Some(LinkKind::Vlan) => format!(
            "push the VLAN tag and redirect to its lower device{}, or pass the packet to the stack",
            lower.map(|l| format!(" {l}")).unwrap_or_default()
        ),
        Some(LinkKind::Vxlan | LinkKind::Geneve) => {
            "pass the packet to the stack, which encapsulates it".to_string()
        }
        Some(LinkKind::Dummy) => format!(
            "not send packets to {} at all: a dummy device discards everything sent to it, \
             by XDP or by the stack",
            v.name()
        ),
        _ => "pass the packet to the stack (XDP_PASS)".to_string(),
    }
}

/// What to do about a dummy device that routes lead to: the routes to NAT targets through it
/// are leftovers to delete (their containers sit behind other interfaces), printed as
/// commands; without known NAT paths, a sentence.
fn dummy_fix(c: &Ctx, home: &NsState, v: &Iface) -> String {
    let cmds: Vec<String> = c
        .paths
        .iter()
        .filter(|p| p.egress == Some(v.index()))
        .filter_map(|p| {
            let r = p.route.as_ref()?;
            let behind = p
                .intended
                .and_then(|i| home.iface(i))
                .map(|i| format!(" (it sits behind {})", i.name()))
                .unwrap_or_default();
            Some(format!(
                "`{}` if the route is a leftover: {} is discarded on {}{behind}",
                home.ns.clone().shell(&format!(
                    "ip route del {}/{} dev {}",
                    r.dst,
                    r.prefix,
                    crate::netns::quote(v.name())
                )),
                p.to.ip(),
                v.name()
            ))
        })
        .collect();
    if cmds.is_empty() {
        format!(
            "{} is a dummy device, which discards everything sent to it: fix the routes that \
             lead there (`{}`), the program can do nothing else with such packets",
            v.name(),
            home.ns.clone().shell(&format!(
                "ip route show dev {}",
                crate::netns::quote(v.name())
            ))
        )
    } else {
        cmds.join("; ")
    }
}

/// Evidence lines: where the destinations behind a bridge really are.
fn instead(c: &Ctx, home: &NsState, v: &Iface) -> Vec<String> {
    c.paths
        .iter()
        .filter(|p| p.egress == Some(v.index()))
        .filter_map(|p| {
            let b = p.bridge.as_ref()?;
            let port = home.iface(p.intended?)?;
            let behind = c
                .snap
                .peer_of(port)
                .map(|(pns, pif)| format!(", {}", pns.ns.at(pif.name())))
                .unwrap_or_default();
            Some(match &b.neighbour {
                Some((mac, state)) => format!(
                    "{} is at {mac} (neighbour {state}) behind port {}{behind} ({})",
                    p.to.ip(),
                    port.name(),
                    if b.port_from == "fdb" {
                        "learned in the bridge's fdb"
                    } else {
                        "the port's peer has that MAC"
                    }
                ),
                None => format!(
                    "{} is held by the container behind port {}{behind} (no neighbour entry yet)",
                    p.to.ip(),
                    port.name()
                ),
            })
        })
        .collect()
}
