//! The plan: the actions that fix a diagnosis' findings, in packet-path order, deduplicated,
//! with the user's preferences applied (GRO instead of a pass-through program; the forwarder's
//! full checksum instead of touching the containers).

use super::{Action, PeerFix};
use crate::diagnose::Finding;
use crate::model::action::{AttachXdpPass, SetForwarderFullCsum, SetGro, SetTxCsum};
use crate::netns::NsRef;

/// The actions that fix `findings`, in finding (packet-path) order, deduplicated.
/// `prefer` picks GRO instead of a pass-through program for veth peers.
pub fn plan(findings: &[Finding], prefer: PeerFix) -> Vec<Action> {
    plan_with(findings, prefer, None)
}

/// [`plan`], and with `forwarder` (the forwarder's namespace) every "tx checksum off in the
/// container" becomes one "the forwarder computes full checksums" (`fix --csum forwarder`).
pub fn plan_with(findings: &[Finding], prefer: PeerFix, forwarder: Option<&NsRef>) -> Vec<Action> {
    let mut out: Vec<Action> = Vec::new();
    // Consequences carry no fix (the causal pass took it away): only root causes plan.
    for f in findings.iter().filter(|f| f.is_root()) {
        let Some(fix) = &f.fix else { continue };
        let a = match (&fix.action, prefer, forwarder) {
            (Action::AttachXdpPass(AttachXdpPass { netns, interface }), PeerFix::Gro, _) => {
                Action::SetGro(SetGro {
                    netns: netns.clone(),
                    interface: interface.clone(),
                    on: true,
                })
            }
            (Action::SetTxCsum(SetTxCsum { on: false, .. }), _, Some(fwd)) => {
                Action::SetForwarderFullCsum(SetForwarderFullCsum {
                    netns: fwd.clone(),
                    on: true,
                })
            }
            (a, _, _) => a.clone(),
        };
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}
