//! `xdp-mtu-too-large`: an interface that should run an XDP program has none, and the kernel
//! would refuse one there: its veth peer's MTU is above what a veth takes for XDP without
//! multi-buffer support. `veth_xdp_set` refuses the attach with ERANGE and the extack message
//! "veth: Peer MTU is too large to set XDP" when the peer's MTU exceeds a page less the XDP
//! headroom, the aligned `skb_shared_info` and the Ethernet header (3506 on x86_64 6.18;
//! `Snapshot::veth_xdp_max_mtu`); a program loaded with frags support (`SEC("xdp.frags")`,
//! veth 6.0+) is exempt. While a program is attached, the peer's MTU cannot be raised past it
//! ("mtu greater than device maximum"), so this state comes from an MTU raised while the
//! program was away (a reload, a restarted container) or a deploy that never succeeded.
//!
//! "Should run" is: our forwarder was deployed there and is not attached, or the user's
//! `--config` gives the interface a role and nothing runs there. The finding explains
//! `forwarder-not-attached` (the causal pass links them: redeploying alone would fail).
//! The fix lowers the peer's MTU to the limit, a change to the container's network the user
//! decides: printed as a command that runs as printed, never applied by `fix`.

use super::{Ctx, Kind, Rule, RuleId};
use crate::diagnose::{Finding, Severity, Subject};
use crate::snapshot::PathStage;

pub const RULE: Rule = Rule {
    id: RuleId::XdpMtuTooLarge,
    kind: Kind::Cause,
    title: "XDP cannot be attached: the veth peer's MTU exceeds the veth XDP limit",
    check,
};

fn check(c: &Ctx) -> Vec<Finding> {
    let Some(limit) = c.snap.veth_xdp_max_mtu else {
        return Vec::new();
    };
    let home = c.home();
    // Interfaces that should run XDP and do not.
    let missing: Vec<u32> = match c.ours() {
        Some(ours) => ours
            .interfaces
            .iter()
            .filter(|i| !i.attached)
            .map(|i| i.ifindex)
            .collect(),
        None => c
            .snap
            .nat
            .roles
            .iter()
            .filter_map(|(n, _)| home.iface_by_name(n))
            .filter(|i| !i.has_xdp())
            .map(|i| i.index())
            .collect(),
    };
    let mut out = Vec::new();
    for idx in missing {
        let Some(v) = home.iface(idx).filter(|v| v.is_veth()) else {
            continue;
        };
        let Some((pns, p)) = c.snap.peer_of(v) else {
            continue;
        };
        if p.link.mtu <= limit {
            continue;
        }
        let mut f = Finding::new(
            RULE.id,
            Severity::Error,
            PathStage::Attach,
            Subject::new(home, Some(v.name())),
        );
        f.order = c.order_of(v.index());
        f.entries = c.entries_via(v.index());
        f.why = format!(
            "No XDP program runs on {} and the kernel refuses one: its peer {} in {} has MTU \
             {}, above {limit}, the largest a veth's peer may have for XDP without multi-buffer \
             support (ERANGE, \"veth: Peer MTU is too large to set XDP\"). Packets arriving on \
             {} are not translated or redirected.",
            v.name(),
            p.name(),
            pns.ns.name,
            p.link.mtu,
            v.name()
        );
        f.evidence.push(format!(
            "{}/{}: MTU {} > {limit} (kernel {}: a page less 256 bytes of XDP headroom, the \
             aligned skb_shared_info and the Ethernet header)",
            pns.ns.name,
            p.name(),
            p.link.mtu,
            c.snap.kernel
        ));
        f.evidence.push(format!(
            "IFLA_XDP on {}: none ({})",
            v.name(),
            if c.ours().is_some() {
                "the forwarder was deployed there"
            } else {
                "the --config gives it a role"
            }
        ));
        f.manual_fix = Some(format!(
            "{} (then attach the program again{}); or load a program built for multi-buffer XDP \
             (SEC(\"xdp.frags\"), veth 6.0+)",
            pns.ns.shell(&format!("ip link set dev {} mtu {limit}", p.name())),
            match c.ours().and_then(|o| o.config_file.as_deref()) {
                Some(cfg) => format!(
                    ": xdpdoctor --netns {ns} teardown && xdpdoctor --netns {ns} deploy --config {cfg}",
                    ns = home.ns.cli_arg()
                ),
                None => String::new(),
            }
        ));
        out.push(f);
    }
    out
}
