//! `--prefer gro` fix for `veth-peer-no-xdp`: request GRO on the veth peer (5.13+ gives it
//! NAPI, and 6.3+ then advertises ndo-xmit on the other end). Set while the link is up: a
//! veth re-evaluates its peer's xdp_features only then. What "requested" means (not what is
//! active) is `ethtool::gro_requested`; the apply/journal/revert mechanism is `ethtool_flag`.

use super::ethtool_flag::EthtoolFlag;
use super::previous::Flag;
use super::step::{Step, Undone};
use crate::model::action::SetGro;
use crate::netlink::ethtool;
use crate::netns::{Netns, NsRef};
use crate::Result;

const GRO: EthtoolFlag = EthtoolFlag {
    name: "GRO (requested)",
    ethtool_k: "gro",
    read: ethtool::gro_requested,
    set: ethtool::set_gro,
};

impl Step for SetGro {
    type Previous = Flag;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if GRO is already requested as `on`; else its value now.
    fn observe(&self, ns: &Netns) -> Result<Option<Flag>> {
        GRO.observe(ns, &self.interface, self.on)
    }

    fn act(&self, ns: &Netns, _: &Flag) -> Result<()> {
        GRO.act(ns, &self.interface, self.on)
    }

    fn revert(&self, ns: &Netns, prev: &Flag) -> Result<Undone> {
        GRO.revert(ns, &self.interface, prev)
    }

    fn command(&self) -> String {
        GRO.command(&self.netns, &self.interface, self.on)
    }

    fn undo_command(&self, prev: &Flag) -> String {
        let Flag::Flag { on } = *prev;
        GRO.command(&self.netns, &self.interface, on)
    }
}
