//! The kernel-NAT variant's ruleset in vm: the forwarder's translation done by conntrack NAT
//! in nftables, written over netlink (`netlink::nftables`, no `nft` binary), inside vm's
//! namespace. The table dies with the lab's namespace.

use crate::forwarder::Entry;
use crate::netlink::nftables::{self, DnatRule, MasqRule, NatTable};
use crate::netns::Netns;
use crate::Result;

/// Name of the table the bench creates (one per namespace).
pub const TABLE: &str = "xdpdoctor_bench";

/// The kernel's answer to the forwarder: the same translation with conntrack NAT.
///
/// - prerouting DNAT per entry, matched on the external interface, exactly like the
///   forwarder's `dnat_entries`; replies are translated back by conntrack (the forwarder's
///   `snat_entries`).
/// - postrouting masquerade of container-originated traffic leaving the external interface:
///   what users configure alongside (SNAT). The benchmark's SYNs leave via the internal veth,
///   so it is evaluated but never applied to them, keeping the translation identical.
pub fn kernel_nat_table(external: &str, entries: &[Entry]) -> NatTable {
    let mut targets: Vec<_> = entries.iter().map(|e| *e.to.ip()).collect();
    targets.dedup();
    NatTable {
        name: TABLE.to_string(),
        dnat: entries
            .iter()
            .map(|e| DnatRule {
                iifname: external.to_string(),
                daddr: *e.from.ip(),
                dport: e.from.port(),
                to: e.to,
            })
            .collect(),
        masquerade: targets
            .into_iter()
            .map(|saddr| MasqRule {
                oifname: external.to_string(),
                saddr,
            })
            .collect(),
    }
}

/// Writes `t` into namespace `ns`.
pub fn apply(ns: &Netns, t: &NatTable) -> Result<()> {
    ns.run(|| nftables::apply(t))?;
    log::debug!("applied nftables table ip {} in {}: {t:?}", t.name, ns.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dnat_per_entry_one_masquerade_per_target() {
        let e = |from: &str, to: &str| Entry {
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
        };
        let t = kernel_nat_table(
            "eth0",
            &[
                e("192.168.9.1:8080", "10.123.1.1:80"),
                e("192.168.9.1:8081", "10.123.2.1:80"),
            ],
        );
        assert_eq!(t.name, TABLE);
        assert_eq!(t.dnat.len(), 2);
        assert_eq!(t.dnat[1].dport, 8081);
        assert_eq!(t.dnat[1].to, "10.123.2.1:80".parse().unwrap());
        assert!(t.dnat.iter().all(|r| r.iifname == "eth0"));
        assert_eq!(
            t.masquerade
                .iter()
                .map(|m| m.saddr.to_string())
                .collect::<Vec<_>>(),
            ["10.123.1.1", "10.123.2.1"]
        );
    }
}
