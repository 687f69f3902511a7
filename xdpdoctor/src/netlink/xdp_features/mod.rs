//! A device's `xdp_features` from the generic netlink family `netdev` (Linux 6.3+).
//!
//! Since 6.3 a veth advertises `ndo-xmit` only while its peer has an XDP program or GRO
//! requested; without it an XDP redirect into the veth fails at once in `__xdp_enqueue`
//! (`xdp:xdp_redirect_err`, -EOPNOTSUPP) and never reaches `veth_xdp_xmit`. Reading the flag
//! tells "redirect target cannot take frames" apart from every other drop without a probe.
//! rtnetlink does not carry it and no Rust crate wraps the `netdev` family, so this module
//! speaks it directly: resolve the family id with nlctrl `CTRL_CMD_GETFAMILY`, then
//! `NETDEV_CMD_DEV_GET` (doit with `NETDEV_A_DEV_IFINDEX`, or a dump). The messages are a few
//! fixed headers and attributes, so they are built and parsed by hand (pure functions,
//! unit-tested) and sent over a synchronous `netlink-sys` socket.
//!
//! Layout: this file holds the public API and the `netdev` specifics (attribute ids, the
//! `DEV_GET` reply); `genl` the generic netlink wire format, the socket and nlctrl family
//! lookup; `tests` the byte-level unit tests.
//!
//! The socket is opened on the calling thread, so the answer is about that thread's network
//! namespace (run it inside `Netns::run`). Kernels before 6.3 have no `netdev` family:
//! [`Netdev::open`] and [`get`] return `None` there.

use std::fmt;

use serde::{ser::SerializeStruct, Serialize, Serializer};

use crate::{Error, Result};

mod genl;
pub mod kinds;
#[cfg(test)]
mod tests;

use genl::{attrs, u32_at, GenlSocket, NLM_F_ACK, NLM_F_DUMP};

const NETDEV_FAMILY: &str = "netdev";
const NETDEV_CMD_DEV_GET: u8 = 1;
const NETDEV_A_DEV_IFINDEX: u16 = 1;
const NETDEV_A_DEV_XDP_FEATURES: u16 = 3;
const NETDEV_A_DEV_XDP_ZC_MAX_SEGS: u16 = 4;
const NETDEV_A_DEV_XDP_RX_METADATA_FEATURES: u16 = 5;

/// `enum netdev_xdp_act`: what a device can do with XDP, bit by bit, with the kernel's names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct XdpFeatures(pub u64);

impl XdpFeatures {
    /// `NETDEV_XDP_ACT_BASIC`: XDP_PASS, XDP_DROP, XDP_ABORTED and XDP_TX.
    pub const BASIC: u64 = 1 << 0;
    /// `NETDEV_XDP_ACT_REDIRECT`: an XDP program on the device can redirect what it receives.
    pub const REDIRECT: u64 = 1 << 1;
    /// `NETDEV_XDP_ACT_NDO_XMIT`: the device takes frames redirected to it (`ndo_xdp_xmit`); a
    /// veth only while its peer has an XDP program or GRO requested.
    pub const NDO_XMIT: u64 = 1 << 2;
    /// `NETDEV_XDP_ACT_XSK_ZEROCOPY`: AF_XDP sockets on the device can use zero-copy mode.
    pub const XSK_ZEROCOPY: u64 = 1 << 3;
    /// `NETDEV_XDP_ACT_HW_OFFLOAD`: XDP programs can be offloaded to the NIC.
    pub const HW_OFFLOAD: u64 = 1 << 4;
    /// `NETDEV_XDP_ACT_RX_SG`: XDP runs on multi-buffer (non-linear) frames the device receives.
    pub const RX_SG: u64 = 1 << 5;
    /// `NETDEV_XDP_ACT_NDO_XMIT_SG`: the device takes redirected multi-buffer frames too.
    pub const NDO_XMIT_SG: u64 = 1 << 6;

    /// Bit and name, as in the kernel's `Documentation/netlink/specs/netdev.yaml`.
    pub const NAMES: [(u64, &'static str); 7] = [
        (Self::BASIC, "basic"),
        (Self::REDIRECT, "redirect"),
        (Self::NDO_XMIT, "ndo-xmit"),
        (Self::XSK_ZEROCOPY, "xsk-zerocopy"),
        (Self::HW_OFFLOAD, "hw-offload"),
        (Self::RX_SG, "rx-sg"),
        (Self::NDO_XMIT_SG, "ndo-xmit-sg"),
    ];

    /// The raw value, unknown bits included.
    pub fn bits(self) -> u64 {
        self.0
    }
    /// Whether every bit of `bits` is set.
    pub fn contains(self, bits: u64) -> bool {
        self.0 & bits == bits
    }
    /// XDP_PASS / XDP_DROP / XDP_ABORTED / XDP_TX.
    pub fn basic(self) -> bool {
        self.contains(Self::BASIC)
    }
    /// Can redirect frames it receives (XDP_REDIRECT on its rx).
    pub fn redirect(self) -> bool {
        self.contains(Self::REDIRECT)
    }
    /// Can be the *target* of a redirect (`ndo_xdp_xmit`): what a veth loses without peer XDP/GRO.
    pub fn ndo_xmit(self) -> bool {
        self.contains(Self::NDO_XMIT)
    }
    /// AF_XDP sockets can use zero-copy mode.
    pub fn xsk_zerocopy(self) -> bool {
        self.contains(Self::XSK_ZEROCOPY)
    }
    /// XDP programs can be offloaded to the NIC.
    pub fn hw_offload(self) -> bool {
        self.contains(Self::HW_OFFLOAD)
    }
    /// XDP runs on multi-buffer (non-linear) frames the device receives.
    pub fn rx_sg(self) -> bool {
        self.contains(Self::RX_SG)
    }
    /// Can be the target of a redirect for multi-buffer frames too.
    pub fn ndo_xmit_sg(self) -> bool {
        self.contains(Self::NDO_XMIT_SG)
    }

    /// Names of the known bits that are set, in bit order (unknown bits are left out; the raw
    /// value in `Display` and JSON keeps them).
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(bit, _)| self.0 & bit != 0)
            .map(|&(_, name)| name)
            .collect()
    }
}

impl fmt::Display for XdpFeatures {
    /// `0x23 (basic, redirect, rx-sg)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x} ({})", self.0, self.names().join(", "))
    }
}

impl fmt::Debug for XdpFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XdpFeatures({self})")
    }
}

impl Serialize for XdpFeatures {
    /// `{"raw": "0x23", "flags": ["basic", "redirect", "rx-sg"]}`
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("XdpFeatures", 2)?;
        st.serialize_field("raw", &format!("{:#x}", self.0))?;
        st.serialize_field("flags", &self.names())?;
        st.end()
    }
}

/// One device as `NETDEV_CMD_DEV_GET` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DevInfo {
    /// The device's index in the socket's namespace.
    pub ifindex: u32,
    /// What the device can do with XDP (`NETDEV_A_DEV_XDP_FEATURES`).
    pub xdp_features: XdpFeatures,
    /// Max fragments in AF_XDP zero-copy mode (6.6+), if reported.
    pub xdp_zc_max_segs: Option<u32>,
    /// `netdev_xdp_rx_metadata` bits (timestamp 1, hash 2, vlan-tag 4; 6.8+), if reported.
    pub xdp_rx_metadata_features: Option<u64>,
}

/// A generic netlink socket with the `netdev` family resolved.
pub struct Netdev {
    sock: GenlSocket,
    family: u16,
}

impl Netdev {
    /// Opens a socket in the calling thread's namespace; `None` if the kernel has no `netdev`
    /// family (before 6.3).
    pub fn open() -> Result<Option<Self>> {
        let mut sock = GenlSocket::open(NETDEV_FAMILY)?;
        let Some(family) = sock.family_id(NETDEV_FAMILY)? else {
            log::debug!("no generic netlink family {NETDEV_FAMILY}: kernel before 6.3");
            return Ok(None);
        };
        Ok(Some(Netdev { sock, family }))
    }

    /// The device with index `ifindex`.
    pub fn dev(&mut self, ifindex: u32) -> Result<DevInfo> {
        let target = format!("ifindex {ifindex}");
        let idx = ifindex.to_ne_bytes();
        let attrs = [(NETDEV_A_DEV_IFINDEX, idx.as_slice())];
        let replies = self.sock.transact(
            "netdev DEV_GET",
            &target,
            (self.family, NLM_F_ACK, NETDEV_CMD_DEV_GET),
            &attrs,
        )?;
        let reply = replies
            .first()
            .ok_or_else(|| Error::netlink("netdev DEV_GET", target.clone(), "no reply"))?;
        parse_dev(reply).map_err(|m| Error::netlink("netdev DEV_GET", target, m))
    }

    /// Every device in the namespace.
    pub fn devs(&mut self) -> Result<Vec<DevInfo>> {
        let replies = self.sock.transact(
            "netdev DEV_GET dump",
            "all devices",
            (self.family, NLM_F_DUMP, NETDEV_CMD_DEV_GET),
            &[],
        )?;
        replies
            .iter()
            .map(|p| {
                parse_dev(p).map_err(|m| Error::netlink("netdev DEV_GET dump", "all devices", m))
            })
            .collect()
    }
}

/// The `xdp_features` of device `ifindex` in the calling thread's namespace; `None` on kernels
/// without the `netdev` family (before 6.3).
pub fn get(ifindex: u32) -> Result<Option<XdpFeatures>> {
    match Netdev::open()? {
        Some(mut nd) => Ok(Some(nd.dev(ifindex)?.xdp_features)),
        None => Ok(None),
    }
}

/// `(ifindex, xdp_features)` of every device in the calling thread's namespace. Kernels before
/// 6.3 give a `NotFound` error (use [`get`] or [`Netdev::open`] to tell "unsupported" apart).
pub fn dump() -> Result<Vec<(u32, XdpFeatures)>> {
    let mut nd = Netdev::open()?.ok_or_else(|| {
        Error::not_found(
            format!("generic netlink family {NETDEV_FAMILY}"),
            Some("xdp_features needs Linux 6.3 or later".into()),
        )
    })?;
    Ok(nd
        .devs()?
        .into_iter()
        .map(|d| (d.ifindex, d.xdp_features))
        .collect())
}

/// A `NETDEV_CMD_DEV_GET` reply payload (after `genlmsghdr`).
fn parse_dev(payload: &[u8]) -> std::result::Result<DevInfo, String> {
    let (mut ifindex, mut features, mut zc, mut rx_md) = (None, None, None, None);
    for (ty, p) in attrs(payload) {
        match (ty, p.len()) {
            (NETDEV_A_DEV_IFINDEX, 4) => ifindex = Some(u32_at(p, 0)),
            (NETDEV_A_DEV_XDP_FEATURES, 8) => {
                features = Some(u64::from_ne_bytes(p.try_into().unwrap()))
            }
            (NETDEV_A_DEV_XDP_ZC_MAX_SEGS, 4) => zc = Some(u32_at(p, 0)),
            (NETDEV_A_DEV_XDP_RX_METADATA_FEATURES, 8) => {
                rx_md = Some(u64::from_ne_bytes(p.try_into().unwrap()))
            }
            (NETDEV_A_DEV_IFINDEX | NETDEV_A_DEV_XDP_FEATURES, n) => {
                return Err(format!("attribute {ty} has {n} bytes"));
            }
            _ => {}
        }
    }
    Ok(DevInfo {
        ifindex: ifindex.ok_or("reply without NETDEV_A_DEV_IFINDEX")?,
        xdp_features: XdpFeatures(features.ok_or("reply without NETDEV_A_DEV_XDP_FEATURES")?),
        xdp_zc_max_segs: zc,
        xdp_rx_metadata_features: rx_md,
    })
}
