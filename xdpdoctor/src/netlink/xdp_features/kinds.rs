//! Which kinds of device take XDP frames redirected to them (`ndo_xdp_xmit`), for kernels
//! that do not say it in `xdp_features` (before 6.3), read from the drivers' `net_device_ops`
//! in the kernel's `drivers/net/` and `net/`:
//!
//! | kind | `ndo_xdp_xmit` |
//! |---|---|
//! | veth | yes, while its peer has an XDP program or GRO requested (`veth-peer-no-xdp`) |
//! | tun, tap | yes |
//! | bond | only with an XDP program on the bond and members that take frames (5.15+) |
//! | bridge, macvlan, macvtap, ipvlan, vlan, vxlan, geneve, dummy, vrf, wireguard, netkit, ifb, team, gre/gretap, ipip, sit, ip6tnl, ip6gre, loopback | no |
//! | a NIC (no link kind) | its driver's business (mlx5, i40e, ice, ixgbe, virtio_net, ...: most do) |
//!
//! On 6.3+ the device's `xdp_features` (`NETDEV_XDP_ACT_NDO_XMIT`) is the answer and this
//! table is not consulted.

use crate::netlink::rtnl::LinkKind;

/// Whether a device of some kind takes redirected XDP frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Xmit {
    /// It has no `ndo_xdp_xmit`: every frame redirected to it is dropped (EOPNOTSUPP).
    Never,
    /// It depends on the device's state (a veth's peer, a bond's program and members).
    Depends,
    /// It always takes them.
    Always,
    /// Its driver decides (a NIC): not known from the kind.
    Unknown,
}

/// What the kernel's drivers do for a device of `kind` (None: no rtnl kind, a NIC or the
/// loopback device, told apart by `loopback`).
pub fn xmit_of_kind(kind: Option<&LinkKind>, loopback: bool) -> Xmit {
    let Some(kind) = kind else {
        return if loopback { Xmit::Never } else { Xmit::Unknown };
    };
    match kind {
        LinkKind::Veth | LinkKind::Bond => Xmit::Depends,
        LinkKind::Tun => Xmit::Always,
        LinkKind::Bridge
        | LinkKind::Macvlan
        | LinkKind::Macvtap
        | LinkKind::Ipvlan
        | LinkKind::Vlan
        | LinkKind::Vxlan
        | LinkKind::Geneve
        | LinkKind::Dummy
        | LinkKind::Vrf
        | LinkKind::Wireguard
        | LinkKind::Netkit => Xmit::Never,
        LinkKind::Other(k) => match k.as_str() {
            "ifb" | "team" | "gre" | "gretap" | "ipip" | "sit" | "ip6tnl" | "ip6gre"
            | "ip6gretap" | "erspan" | "ip6erspan" | "ipvtap" | "bareudp" | "nlmon" | "hsr"
            | "batadv" | "macsec" | "xfrm" | "vti" | "vti6" | "can" | "vcan" | "virt_wifi" => {
                Xmit::Never
            }
            _ => Xmit::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridges_and_stacked_devices_never_loopback_never_nics_unknown() {
        for k in [
            "bridge", "macvlan", "vlan", "vxlan", "dummy", "ipvlan", "gre",
        ] {
            assert_eq!(
                xmit_of_kind(Some(&LinkKind::from(k)), false),
                Xmit::Never,
                "{k}"
            );
        }
        assert_eq!(xmit_of_kind(Some(&LinkKind::Veth), false), Xmit::Depends);
        assert_eq!(xmit_of_kind(Some(&LinkKind::Tun), false), Xmit::Always);
        assert_eq!(xmit_of_kind(None, true), Xmit::Never);
        assert_eq!(xmit_of_kind(None, false), Xmit::Unknown);
        assert_eq!(
            xmit_of_kind(Some(&LinkKind::from("somethingnew")), false),
            Xmit::Unknown
        );
    }
}
