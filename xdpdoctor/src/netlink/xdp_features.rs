//! A device's `xdp_features` from the generic netlink family `netdev` (Linux 6.3+).
//!
//! Since 6.3 a veth advertises `ndo-xmit` only while its peer has an XDP program or GRO
//! requested; without it an XDP redirect into the veth fails at once in `__xdp_enqueue`
//! (`xdp:xdp_redirect_err`, -EOPNOTSUPP) and never reaches `veth_xdp_xmit`. Reading the flag
//! tells "redirect target cannot take frames" apart from every other drop without a probe.
//! rtnetlink does not carry it and no Rust crate wraps the `netdev` family, so this module
//! speaks it directly: resolve the family id with nlctrl `CTRL_CMD_GETFAMILY`, then
//! `NETDEV_CMD_DEV_GET` (doit with `NETDEV_A_DEV_IFINDEX`, or a dump). The messages are a few
//! fixed headers and attributes, so they are built and parsed here by hand (pure functions,
//! unit-tested) and sent over a synchronous `netlink-sys` socket.
//!
//! The socket is opened on the calling thread, so the answer is about that thread's network
//! namespace (run it inside `Netns::run`). Kernels before 6.3 have no `netdev` family:
//! [`Netdev::open`] and [`get`] return `None` there.

use std::{fmt, os::fd::AsRawFd, time::Duration};

use rtnetlink::sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};
use serde::{ser::SerializeStruct, Serialize, Serializer};

use crate::{Error, Result};

const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;
const NLA_HDRLEN: usize = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLA_TYPE_MASK: u16 = 0x3fff;

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

const NETDEV_FAMILY: &str = "netdev";
/// `netdev` is version 1; nlctrl accepts any version.
const GENL_VERSION: u8 = 1;
const NETDEV_CMD_DEV_GET: u8 = 1;
const NETDEV_A_DEV_IFINDEX: u16 = 1;
const NETDEV_A_DEV_XDP_FEATURES: u16 = 3;
const NETDEV_A_DEV_XDP_ZC_MAX_SEGS: u16 = 4;
const NETDEV_A_DEV_XDP_RX_METADATA_FEATURES: u16 = 5;

const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// `enum netdev_xdp_act`: what a device can do with XDP, bit by bit, with the kernel's names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct XdpFeatures(pub u64);

impl XdpFeatures {
    pub const BASIC: u64 = 1 << 0;
    pub const REDIRECT: u64 = 1 << 1;
    pub const NDO_XMIT: u64 = 1 << 2;
    pub const XSK_ZEROCOPY: u64 = 1 << 3;
    pub const HW_OFFLOAD: u64 = 1 << 4;
    pub const RX_SG: u64 = 1 << 5;
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

    pub fn bits(self) -> u64 {
        self.0
    }
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
    pub fn xsk_zerocopy(self) -> bool {
        self.contains(Self::XSK_ZEROCOPY)
    }
    pub fn hw_offload(self) -> bool {
        self.contains(Self::HW_OFFLOAD)
    }
    pub fn rx_sg(self) -> bool {
        self.contains(Self::RX_SG)
    }
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
    pub ifindex: u32,
    pub xdp_features: XdpFeatures,
    /// Max fragments in AF_XDP zero-copy mode (6.6+), if reported.
    pub xdp_zc_max_segs: Option<u32>,
    /// `netdev_xdp_rx_metadata` bits (timestamp 1, hash 2, vlan-tag 4; 6.8+), if reported.
    pub xdp_rx_metadata_features: Option<u64>,
}

/// A generic netlink socket with the `netdev` family resolved.
pub struct Netdev {
    sock: Socket,
    family: u16,
    seq: u32,
}

impl Netdev {
    /// Opens a socket in the calling thread's namespace; `None` if the kernel has no `netdev`
    /// family (before 6.3).
    pub fn open() -> Result<Option<Self>> {
        let sock = open_socket()?;
        let mut nd = Netdev {
            sock,
            family: GENL_ID_CTRL,
            seq: 0,
        };
        let name = nul_terminated(NETDEV_FAMILY);
        let attrs = [(CTRL_ATTR_FAMILY_NAME, name.as_slice())];
        let replies = match nd.transact(
            "nlctrl CTRL_CMD_GETFAMILY",
            NETDEV_FAMILY,
            (GENL_ID_CTRL, NLM_F_ACK, CTRL_CMD_GETFAMILY),
            &attrs,
        ) {
            Ok(r) => r,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                log::debug!("no generic netlink family {NETDEV_FAMILY}: kernel before 6.3");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        nd.family = replies.iter().find_map(|p| family_id(p)).ok_or_else(|| {
            Error::netlink(
                "CTRL_CMD_GETFAMILY",
                NETDEV_FAMILY,
                "reply has no family id",
            )
        })?;
        Ok(Some(nd))
    }

    /// The device with index `ifindex`.
    pub fn dev(&mut self, ifindex: u32) -> Result<DevInfo> {
        let target = format!("ifindex {ifindex}");
        let idx = ifindex.to_ne_bytes();
        let attrs = [(NETDEV_A_DEV_IFINDEX, idx.as_slice())];
        let replies = self.transact(
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
        let replies = self.transact(
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

    /// Sends one request and collects the generic netlink payloads (after `genlmsghdr`) of
    /// the replies, until the ack, `NLMSG_DONE` or an error.
    fn transact(
        &mut self,
        op: &'static str,
        target: &str,
        (family, flags, cmd): (u16, u16, u8),
        attrs: &[(u16, &[u8])],
    ) -> Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let req = genl_request(
            family,
            NLM_F_REQUEST | flags,
            self.seq,
            cmd,
            GENL_VERSION,
            attrs,
        );
        self.sock
            .send_to(&req, &SocketAddr::new(0, 0), 0)
            .map_err(|e| sys_err("send generic netlink request", target, e))?;
        let mut payloads = Vec::new();
        loop {
            let (buf, _) = self
                .sock
                .recv_from_full()
                .map_err(|e| sys_err("receive generic netlink reply", target, e))?;
            for msg in parse_messages(&buf)
                .map_err(|m| Error::netlink("parse reply", target.to_string(), m))?
            {
                if msg.seq != self.seq {
                    log::debug!(
                        "skipping netlink message with seq {} (want {})",
                        msg.seq,
                        self.seq
                    );
                    continue;
                }
                match msg.kind {
                    Reply::Data(p) => {
                        payloads.push(p.get(GENL_HDRLEN..).unwrap_or_default().to_vec())
                    }
                    Reply::Done | Reply::Error(0) => return Ok(payloads),
                    Reply::Error(errno) => {
                        let e = std::io::Error::from_raw_os_error(errno);
                        return Err(sys_err(op, target, e));
                    }
                }
            }
            if flags & (NLM_F_ACK | NLM_F_DUMP) == 0 && !payloads.is_empty() {
                return Ok(payloads);
            }
        }
    }
}

fn open_socket() -> Result<Socket> {
    let mut sock = Socket::new(NETLINK_GENERIC)
        .map_err(|e| sys_err("socket(NETLINK_GENERIC)", "netdev", e))?;
    sock.bind_auto()
        .map_err(|e| sys_err("bind netlink socket", "netdev", e))?;
    let tv = libc::timeval {
        tv_sec: RECV_TIMEOUT.as_secs() as _,
        tv_usec: 0,
    };
    // SAFETY: valid fd and a timeval of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(Error::last_os("setsockopt SO_RCVTIMEO", "netdev"));
    }
    Ok(sock)
}

fn sys_err(op: &'static str, target: &str, source: std::io::Error) -> Error {
    Error::Sys {
        op,
        target: target.to_string(),
        source,
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

// ---- message building and parsing (pure) ----

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// `nlmsghdr` + `genlmsghdr` + attributes, in host byte order, port id 0 (the kernel fills it).
fn genl_request(
    family: u16,
    flags: u16,
    seq: u32,
    cmd: u8,
    version: u8,
    attrs: &[(u16, &[u8])],
) -> Vec<u8> {
    let mut buf = vec![0u8; NLMSG_HDRLEN];
    buf.extend_from_slice(&[cmd, version, 0, 0]);
    for (ty, payload) in attrs {
        buf.extend_from_slice(&((NLA_HDRLEN + payload.len()) as u16).to_ne_bytes());
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(payload);
        buf.resize(align4(buf.len()), 0);
    }
    let len = buf.len() as u32;
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    buf[4..6].copy_from_slice(&family.to_ne_bytes());
    buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    buf
}

#[derive(Debug, PartialEq, Eq)]
enum Reply<'a> {
    /// A data message's payload (starting with `genlmsghdr`).
    Data(&'a [u8]),
    Done,
    /// `NLMSG_ERROR`: 0 is an ack, otherwise a positive errno.
    Error(i32),
}

#[derive(Debug, PartialEq, Eq)]
struct Message<'a> {
    seq: u32,
    kind: Reply<'a>,
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

/// Splits one datagram into netlink messages.
fn parse_messages(mut buf: &[u8]) -> std::result::Result<Vec<Message<'_>>, String> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32_at(buf, 0) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(format!(
                "bad netlink message length {len} ({} bytes left)",
                buf.len()
            ));
        }
        let (ty, seq, payload) = (u16_at(buf, 4), u32_at(buf, 8), &buf[NLMSG_HDRLEN..len]);
        let kind = match ty {
            NLMSG_DONE => Reply::Done,
            NLMSG_ERROR => {
                if payload.len() < 4 {
                    return Err("truncated NLMSG_ERROR".into());
                }
                Reply::Error(-(u32_at(payload, 0) as i32))
            }
            _ => Reply::Data(payload),
        };
        out.push(Message { seq, kind });
        buf = &buf[align4(len).min(buf.len())..];
    }
    Ok(out)
}

/// Iterates `(type, payload)` over netlink attributes; stops at the first malformed one.
fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < NLA_HDRLEN {
            return None;
        }
        let len = u16_at(buf, 0) as usize;
        if len < NLA_HDRLEN || len > buf.len() {
            return None;
        }
        let item = (u16_at(buf, 2) & NLA_TYPE_MASK, &buf[NLA_HDRLEN..len]);
        buf = &buf[align4(len).min(buf.len())..];
        Some(item)
    })
}

/// `CTRL_ATTR_FAMILY_ID` from a `CTRL_CMD_GETFAMILY` reply payload (after `genlmsghdr`).
fn family_id(payload: &[u8]) -> Option<u16> {
    attrs(payload)
        .find(|(ty, p)| *ty == CTRL_ATTR_FAMILY_ID && p.len() == 2)
        .map(|(_, p)| u16_at(p, 0))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(ty: u16, p: &[u8]) -> Vec<u8> {
        let mut v = ((4 + p.len()) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(p);
        v.resize(align4(v.len()), 0);
        v
    }

    fn nlmsg(ty: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = ((16 + payload.len()) as u32).to_ne_bytes().to_vec();
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(align4(v.len()), 0);
        v
    }

    #[test]
    fn getfamily_request_has_the_kernel_layout() {
        let name = nul_terminated("netdev");
        let req = genl_request(
            GENL_ID_CTRL,
            NLM_F_REQUEST,
            7,
            CTRL_CMD_GETFAMILY,
            1,
            &[(CTRL_ATTR_FAMILY_NAME, &name)],
        );
        // 16 (nlmsghdr) + 4 (genlmsghdr) + 4 (nla hdr) + 7 ("netdev\0") padded to 8 = 32
        assert_eq!(req.len(), 32);
        assert_eq!(u32_at(&req, 0), 32);
        assert_eq!(
            (u16_at(&req, 4), u16_at(&req, 6), u32_at(&req, 8)),
            (0x10, 1, 7)
        );
        assert_eq!(&req[16..20], &[3, 1, 0, 0]);
        assert_eq!((u16_at(&req, 20), u16_at(&req, 22)), (11, 2));
        assert_eq!(&req[24..32], b"netdev\0\0");
    }

    #[test]
    fn dev_reply_is_parsed_and_ignores_unknown_attributes() {
        let mut p = attr(NETDEV_A_DEV_IFINDEX, &5u32.to_ne_bytes());
        p.extend(attr(2, &[])); // NETDEV_A_DEV_PAD
        p.extend(attr(NETDEV_A_DEV_XDP_FEATURES, &0x67u64.to_ne_bytes()));
        p.extend(attr(6, &1u64.to_ne_bytes())); // xsk-features: not parsed
        let d = parse_dev(&p).unwrap();
        assert_eq!(
            d,
            DevInfo {
                ifindex: 5,
                xdp_features: XdpFeatures(0x67),
                xdp_zc_max_segs: None,
                xdp_rx_metadata_features: None
            }
        );
        p.extend(attr(NETDEV_A_DEV_XDP_ZC_MAX_SEGS, &1u32.to_ne_bytes()));
        p.extend(attr(
            NETDEV_A_DEV_XDP_RX_METADATA_FEATURES,
            &3u64.to_ne_bytes(),
        ));
        let d = parse_dev(&p).unwrap();
        assert_eq!(
            (d.xdp_zc_max_segs, d.xdp_rx_metadata_features),
            (Some(1), Some(3))
        );
    }

    #[test]
    fn dev_reply_without_features_or_with_wrong_sizes_is_an_error() {
        let only_index = attr(NETDEV_A_DEV_IFINDEX, &5u32.to_ne_bytes());
        assert!(parse_dev(&only_index).unwrap_err().contains("XDP_FEATURES"));
        let mut short = only_index.clone();
        short.extend(attr(NETDEV_A_DEV_XDP_FEATURES, &0x23u32.to_ne_bytes()));
        assert!(parse_dev(&short).unwrap_err().contains("4 bytes"));
    }

    #[test]
    fn messages_split_data_errors_and_done() {
        let mut payload = vec![CTRL_CMD_GETFAMILY, 1, 0, 0];
        payload.extend(attr(CTRL_ATTR_FAMILY_NAME, b"netdev\0"));
        payload.extend(attr(CTRL_ATTR_FAMILY_ID, &0x1fu16.to_ne_bytes()));
        let mut dgram = nlmsg(GENL_ID_CTRL, 1, &payload);
        dgram.extend(nlmsg(NLMSG_ERROR, 1, &(-(libc::ENOENT)).to_ne_bytes()));
        dgram.extend(nlmsg(NLMSG_ERROR, 2, &0i32.to_ne_bytes()));
        dgram.extend(nlmsg(NLMSG_DONE, 3, &0i32.to_ne_bytes()));
        let msgs = parse_messages(&dgram).unwrap();
        assert_eq!(msgs.len(), 4);
        let Reply::Data(p) = msgs[0].kind else {
            panic!("first is data: {msgs:?}")
        };
        assert_eq!(family_id(&p[GENL_HDRLEN..]), Some(0x1f));
        assert_eq!(msgs[1].kind, Reply::Error(libc::ENOENT));
        assert_eq!(msgs[2].kind, Reply::Error(0));
        assert_eq!((msgs[3].seq, &msgs[3].kind), (3, &Reply::Done));
        let mut bad = nlmsg(NLMSG_DONE, 1, &[]);
        bad[0] = 200;
        assert!(parse_messages(&bad).is_err());
    }

    #[test]
    fn features_have_kernel_names_and_flip_on_ndo_xmit() {
        let without = XdpFeatures(0x23);
        let with = XdpFeatures(0x67);
        assert_eq!(without.names(), ["basic", "redirect", "rx-sg"]);
        assert_eq!(
            with.names(),
            ["basic", "redirect", "ndo-xmit", "rx-sg", "ndo-xmit-sg"]
        );
        assert!(!without.ndo_xmit() && with.ndo_xmit() && with.ndo_xmit_sg());
        assert!(
            with.basic()
                && with.redirect()
                && with.rx_sg()
                && !with.xsk_zerocopy()
                && !with.hw_offload()
        );
        assert_eq!(XdpFeatures(0x7f).names().len(), 7);
        assert_eq!(
            with.to_string(),
            "0x67 (basic, redirect, ndo-xmit, rx-sg, ndo-xmit-sg)"
        );
        assert_eq!(
            serde_json::to_string(&without).unwrap(),
            r#"{"raw":"0x23","flags":["basic","redirect","rx-sg"]}"#
        );
    }
}
