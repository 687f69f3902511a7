//! Fix for `veth-tx-csum-offload`: tx checksum offload off on the container-side veth
//! (`ethtool -K host0 tx off` inside the container), so replies leave with full checksums.
//! "On" means any tx-checksum-* feature is active (`ethtool::tx_csum_active`); the
//! apply/journal/revert mechanism is `ethtool_flag`.

use super::ethtool_flag::EthtoolFlag;
use super::previous::Flag;
use super::step::{Step, Undone};
use crate::model::action::SetTxCsum;
use crate::netlink::ethtool;
use crate::netns::{Netns, NsRef};
use crate::Result;

const TX_CSUM: EthtoolFlag = EthtoolFlag {
    name: "tx checksum offload",
    ethtool_k: "tx",
    read: ethtool::tx_csum_active,
    set: ethtool::set_tx_csum,
};

impl Step for SetTxCsum {
    type Previous = Flag;

    fn netns(&self) -> &NsRef {
        &self.netns
    }

    /// `None` if tx checksum offload already is `on`; else its value now.
    fn observe(&self, ns: &Netns) -> Result<Option<Flag>> {
        TX_CSUM.observe(ns, &self.interface, self.on)
    }

    fn act(&self, ns: &Netns, _: &Flag) -> Result<()> {
        TX_CSUM.act(ns, &self.interface, self.on)
    }

    fn revert(&self, ns: &Netns, prev: &Flag) -> Result<Undone> {
        TX_CSUM.revert(ns, &self.interface, prev)
    }

    fn command(&self) -> String {
        TX_CSUM.command(&self.netns, &self.interface, self.on)
    }

    fn undo_command(&self, prev: &Flag) -> String {
        let Flag::Flag { on } = *prev;
        TX_CSUM.command(&self.netns, &self.interface, on)
    }
}
