//! An IPv4 NAT table in nftables, written over `NETLINK_NETFILTER` (nf_tables) in the calling
//! thread's namespace: what `nft -f` would send for
//!
//! ```text
//! table ip NAME {
//!   chain prerouting  { type nat hook prerouting priority dstnat; policy accept;
//!     iifname "IN" ip daddr A tcp dport P dnat to B:Q }          # one per DnatRule
//!   chain postrouting { type nat hook postrouting priority srcnat; policy accept;
//!     oifname "OUT" ip saddr S masquerade }                     # one per MasqRule
//! }
//! ```
//!
//! One batch (`NFNL_MSG_BATCH_BEGIN` .. `END`), so the kernel applies all of it or nothing.
//! The first batch in a namespace may make the kernel load `nft_chain_nat` / `nft_nat` and
//! answer EAGAIN: the batch is then sent again, as nft does. `nft list table ip NAME` shows
//! the result in nft's own words (the tests compare it).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Duration;

use rtnetlink::sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use crate::{Error, Result};

/// A DNAT rule: TCP to `daddr:dport` arriving on `iifname` goes to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnatRule {
    /// The input interface's name.
    pub iifname: String,
    /// The address matched.
    pub daddr: Ipv4Addr,
    /// The TCP port matched.
    pub dport: u16,
    /// Where it goes.
    pub to: SocketAddrV4,
}

/// A masquerade rule: traffic from `saddr` leaving through `oifname`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasqRule {
    /// The output interface's name.
    pub oifname: String,
    /// The source address matched.
    pub saddr: Ipv4Addr,
}

/// The table: its name and rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatTable {
    /// `table ip NAME`.
    pub name: String,
    /// The prerouting chain's rules.
    pub dnat: Vec<DnatRule>,
    /// The postrouting chain's rules.
    pub masquerade: Vec<MasqRule>,
}

// nfnetlink / nf_tables UAPI (linux/netfilter/nfnetlink.h, nf_tables.h).
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFPROTO_IPV4: u8 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLMSG_ERROR: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_IP_PRI_NAT_DST: i32 = -100;
const NF_IP_PRI_NAT_SRC: i32 = 100;
const NF_ACCEPT: u32 = 1;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
/// `NFT_REG_1` and `NFT_REG_2` (16-byte registers).
const REG1: u32 = 1;
const REG2: u32 = 2;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_L4PROTO: u32 = 16;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const NFT_NAT_DNAT: u32 = 1;
/// `NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED`.
const NAT_FLAGS: u32 = 0x1 | 0x2;
const IFNAMSIZ: usize = 16;

const PREROUTING: &str = "prerouting";
const POSTROUTING: &str = "postrouting";

/// Writes `t` into the calling thread's namespace (one transaction). Fails if a table of that
/// name exists.
pub fn apply(t: &NatTable) -> Result<()> {
    let what = format!("nftables table ip {}", t.name);
    let batch = batch(t, 1)?;
    let mut sock =
        Socket::new(NETLINK_NETFILTER).map_err(|e| sys("socket(NETLINK_NETFILTER)", &what, e))?;
    sock.bind_auto()
        .map_err(|e| sys("bind netlink socket", &what, e))?;
    set_timeout(&sock, &what)?;
    let mut tries = 0;
    loop {
        sock.send_to(&batch.bytes, &SocketAddr::new(0, 0), 0)
            .map_err(|e| sys("send nf_tables batch", &what, e))?;
        match acks(&mut sock, &batch, &what) {
            // Modules were loaded for the batch: the kernel asks for it again.
            Err(e) if e == libc::EAGAIN && tries < 5 => tries += 1,
            Err(e) => {
                return Err(Error::netlink(
                    "nf_tables batch",
                    what,
                    std::io::Error::from_raw_os_error(e),
                ))
            }
            Ok(()) => {
                log::debug!("{what}: applied ({} messages)", batch.acked.len());
                return Ok(());
            }
        }
    }
}

fn sys(op: &'static str, target: &str, source: std::io::Error) -> Error {
    Error::Sys {
        op,
        target: target.to_string(),
        source,
    }
}

fn set_timeout(sock: &Socket, what: &str) -> Result<()> {
    let tv = libc::timeval {
        tv_sec: Duration::from_secs(5).as_secs() as _,
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
        return Err(Error::last_os("setsockopt SO_RCVTIMEO", what));
    }
    Ok(())
}

/// Reads the kernel's answers to `b` until every acked message is acked (Ok) or one failed
/// (its errno).
fn acks(sock: &mut Socket, b: &Batch, what: &str) -> std::result::Result<(), i32> {
    let mut pending = b.acked.clone();
    while !pending.is_empty() {
        let (buf, _) = sock.recv_from_full().map_err(|e| {
            log::debug!("{what}: receiving nf_tables acks: {e}");
            e.raw_os_error().unwrap_or(libc::EIO)
        })?;
        for (ty, seq, errno) in parse_errors(&buf) {
            if ty != NLMSG_ERROR {
                continue;
            }
            if errno != 0 {
                return Err(errno);
            }
            pending.retain(|s| *s != seq);
        }
    }
    Ok(())
}

/// `(nlmsg_type, nlmsg_seq, errno)` of every message in `buf` (errno only for NLMSG_ERROR,
/// positive).
fn parse_errors(buf: &[u8]) -> Vec<(u16, u32, i32)> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let u32_at = |o: usize| u32::from_ne_bytes(buf[o..o + 4].try_into().unwrap_or([0; 4]));
        let len = u32_at(off) as usize;
        if len < 16 || off + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        let seq = u32_at(off + 8);
        let errno = if ty == NLMSG_ERROR && len >= 20 {
            -(u32_at(off + 16) as i32)
        } else {
            0
        };
        out.push((ty, seq, errno));
        off += (len + 3) & !3;
    }
    out
}

/// The bytes of one batch and the sequence numbers the kernel acks.
struct Batch {
    bytes: Vec<u8>,
    acked: Vec<u32>,
}

/// The whole transaction for `t`, sequence numbers from `seq`.
fn batch(t: &NatTable, mut seq: u32) -> Result<Batch> {
    if t.name.is_empty() || t.name.len() > 255 {
        return Err(Error::invalid(
            "nftables table name",
            format!("\"{}\"", t.name),
        ));
    }
    let mut bytes = Vec::new();
    let mut acked = Vec::new();
    let mut push = |bytes: &mut Vec<u8>, ty: u16, flags: u16, family: u8, attrs: &[u8]| {
        bytes.extend(message(ty, flags, seq, family, attrs));
        if flags & NLM_F_ACK != 0 {
            acked.push(seq);
        }
        seq += 1;
    };
    let begin_end = |ty: u16| (ty, NLM_F_REQUEST, 0u8);
    let (ty, fl, fam) = begin_end(NFNL_MSG_BATCH_BEGIN);
    push(&mut bytes, ty, fl, fam, &[]);
    let new = |m: u16| (NFNL_SUBSYS_NFTABLES << 8) | m;
    let create = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
    push(
        &mut bytes,
        new(NFT_MSG_NEWTABLE),
        create | NLM_F_EXCL,
        NFPROTO_IPV4,
        &attr(NFTA_TABLE_NAME, &cstr(&t.name)),
    );
    for (chain, hook, prio) in [
        (PREROUTING, NF_INET_PRE_ROUTING, NF_IP_PRI_NAT_DST),
        (POSTROUTING, NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC),
    ] {
        let mut a = attr(NFTA_CHAIN_TABLE, &cstr(&t.name));
        a.extend(attr(NFTA_CHAIN_NAME, &cstr(chain)));
        let mut h = attr(NFTA_HOOK_HOOKNUM, &hook.to_be_bytes());
        h.extend(attr(NFTA_HOOK_PRIORITY, &prio.to_be_bytes()));
        a.extend(nested(NFTA_CHAIN_HOOK, &h));
        a.extend(attr(NFTA_CHAIN_POLICY, &NF_ACCEPT.to_be_bytes()));
        a.extend(attr(NFTA_CHAIN_TYPE, &cstr("nat")));
        push(&mut bytes, new(NFT_MSG_NEWCHAIN), create, NFPROTO_IPV4, &a);
    }
    let rule = |chain: &str, exprs: Vec<Vec<u8>>| {
        let mut a = attr(NFTA_RULE_TABLE, &cstr(&t.name));
        a.extend(attr(NFTA_RULE_CHAIN, &cstr(chain)));
        let list: Vec<u8> = exprs
            .iter()
            .flat_map(|e| nested(NFTA_LIST_ELEM, e))
            .collect();
        a.extend(nested(NFTA_RULE_EXPRESSIONS, &list));
        a
    };
    for r in &t.dnat {
        let a = rule(PREROUTING, dnat_exprs(r)?);
        push(
            &mut bytes,
            new(NFT_MSG_NEWRULE),
            create | NLM_F_APPEND,
            NFPROTO_IPV4,
            &a,
        );
    }
    for r in &t.masquerade {
        let a = rule(POSTROUTING, masq_exprs(r)?);
        push(
            &mut bytes,
            new(NFT_MSG_NEWRULE),
            create | NLM_F_APPEND,
            NFPROTO_IPV4,
            &a,
        );
    }
    let (ty, fl, fam) = begin_end(NFNL_MSG_BATCH_END);
    push(&mut bytes, ty, fl, fam, &[]);
    Ok(Batch { bytes, acked })
}

/// `iifname "IN" ip daddr A meta l4proto tcp tcp dport P dnat to B:Q`.
fn dnat_exprs(r: &DnatRule) -> Result<Vec<Vec<u8>>> {
    let mut v = ifname_match(NFT_META_IIFNAME, &r.iifname)?;
    v.push(payload(NFT_PAYLOAD_NETWORK_HEADER, 16, 4));
    v.push(cmp(&r.daddr.octets()));
    v.push(meta(NFT_META_L4PROTO));
    v.push(cmp(&[libc::IPPROTO_TCP as u8]));
    v.push(payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2));
    v.push(cmp(&r.dport.to_be_bytes()));
    v.push(immediate(REG1, &r.to.ip().octets()));
    v.push(immediate(REG2, &r.to.port().to_be_bytes()));
    let mut nat = u32_attr(1, NFT_NAT_DNAT); // NFTA_NAT_TYPE
    nat.extend(u32_attr(2, u32::from(NFPROTO_IPV4))); // NFTA_NAT_FAMILY
    nat.extend(u32_attr(3, REG1)); // NFTA_NAT_REG_ADDR_MIN
    nat.extend(u32_attr(5, REG2)); // NFTA_NAT_REG_PROTO_MIN
    nat.extend(u32_attr(7, NAT_FLAGS)); // NFTA_NAT_FLAGS
    v.push(expr("nat", &nat));
    Ok(v)
}

/// `oifname "OUT" ip saddr S masquerade`.
fn masq_exprs(r: &MasqRule) -> Result<Vec<Vec<u8>>> {
    let mut v = ifname_match(NFT_META_OIFNAME, &r.oifname)?;
    v.push(payload(NFT_PAYLOAD_NETWORK_HEADER, 12, 4));
    v.push(cmp(&r.saddr.octets()));
    v.push(expr("masq", &[]));
    Ok(v)
}

/// `meta iifname/oifname` into reg 1, compared with the name NUL-padded to IFNAMSIZ.
fn ifname_match(key: u32, name: &str) -> Result<Vec<Vec<u8>>> {
    if name.is_empty() || name.len() >= IFNAMSIZ {
        return Err(Error::invalid("interface name", format!("\"{name}\"")));
    }
    let mut padded = [0u8; IFNAMSIZ];
    padded[..name.len()].copy_from_slice(name.as_bytes());
    Ok(vec![meta(key), cmp(&padded)])
}

fn meta(key: u32) -> Vec<u8> {
    let mut a = u32_attr(1, REG1); // NFTA_META_DREG
    a.extend(u32_attr(2, key)); // NFTA_META_KEY
    expr("meta", &a)
}

fn payload(base: u32, offset: u32, len: u32) -> Vec<u8> {
    let mut a = u32_attr(1, REG1); // NFTA_PAYLOAD_DREG
    a.extend(u32_attr(2, base)); // NFTA_PAYLOAD_BASE
    a.extend(u32_attr(3, offset)); // NFTA_PAYLOAD_OFFSET
    a.extend(u32_attr(4, len)); // NFTA_PAYLOAD_LEN
    expr("payload", &a)
}

fn cmp(data: &[u8]) -> Vec<u8> {
    let mut a = u32_attr(1, REG1); // NFTA_CMP_SREG
    a.extend(u32_attr(2, NFT_CMP_EQ)); // NFTA_CMP_OP
    a.extend(nested(3, &attr(NFTA_DATA_VALUE, data))); // NFTA_CMP_DATA
    expr("cmp", &a)
}

fn immediate(reg: u32, data: &[u8]) -> Vec<u8> {
    let mut a = u32_attr(1, reg); // NFTA_IMMEDIATE_DREG
    a.extend(nested(2, &attr(NFTA_DATA_VALUE, data))); // NFTA_IMMEDIATE_DATA
    expr("immediate", &a)
}

/// One expression: its name and (nested) data.
fn expr(name: &str, data: &[u8]) -> Vec<u8> {
    let mut e = attr(NFTA_EXPR_NAME, &cstr(name));
    if !data.is_empty() {
        e.extend(nested(NFTA_EXPR_DATA, data));
    }
    e
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// A netlink attribute (header, payload, padding to 4 bytes).
fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(4 + payload.len() + 3);
    a.extend(((4 + payload.len()) as u16).to_ne_bytes());
    a.extend(ty.to_ne_bytes());
    a.extend(payload);
    a.resize((a.len() + 3) & !3, 0);
    a
}

fn nested(ty: u16, inner: &[u8]) -> Vec<u8> {
    attr(ty | NLA_F_NESTED, inner)
}

/// nf_tables numbers are big-endian.
fn u32_attr(ty: u16, v: u32) -> Vec<u8> {
    attr(ty, &v.to_be_bytes())
}

/// `nlmsghdr` + `nfgenmsg` (version 0, res_id = the nf_tables subsystem) + attributes.
fn message(ty: u16, flags: u16, seq: u32, family: u8, attrs: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(20 + attrs.len());
    m.extend(((20 + attrs.len()) as u32).to_ne_bytes());
    m.extend(ty.to_ne_bytes());
    m.extend(flags.to_ne_bytes());
    m.extend(seq.to_ne_bytes());
    m.extend(0u32.to_ne_bytes());
    m.extend([family, 0]);
    m.extend(NFNL_SUBSYS_NFTABLES.to_be_bytes());
    m.extend(attrs);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> NatTable {
        NatTable {
            name: "t".into(),
            dnat: vec![DnatRule {
                iifname: "eth0".into(),
                daddr: Ipv4Addr::new(192, 168, 9, 1),
                dport: 8080,
                to: "10.123.1.1:80".parse().unwrap(),
            }],
            masquerade: vec![MasqRule {
                oifname: "eth0".into(),
                saddr: Ipv4Addr::new(10, 123, 1, 1),
            }],
        }
    }

    #[test]
    fn attributes_are_padded_and_nested_flagged() {
        assert_eq!(attr(1, b"ab"), vec![6, 0, 1, 0, b'a', b'b', 0, 0]);
        let n = nested(4, &attr(1, &[]));
        assert_eq!(u16::from_ne_bytes([n[2], n[3]]), 4 | NLA_F_NESTED);
        assert_eq!(u32_attr(2, 1)[4..], [0, 0, 0, 1], "big-endian");
        assert_eq!(
            u32_attr(2, NF_IP_PRI_NAT_DST as u32)[4..],
            (-100i32).to_be_bytes()
        );
    }

    #[test]
    fn one_batch_with_every_message_acked_but_begin_and_end() {
        let b = batch(&table(), 7).unwrap();
        let msgs = parse_errors(&b.bytes);
        let types: Vec<u16> = msgs.iter().map(|m| m.0).collect();
        let nft = |m: u16| (NFNL_SUBSYS_NFTABLES << 8) | m;
        assert_eq!(
            types,
            [
                NFNL_MSG_BATCH_BEGIN,
                nft(NFT_MSG_NEWTABLE),
                nft(NFT_MSG_NEWCHAIN),
                nft(NFT_MSG_NEWCHAIN),
                nft(NFT_MSG_NEWRULE),
                nft(NFT_MSG_NEWRULE),
                NFNL_MSG_BATCH_END
            ]
        );
        let seqs: Vec<u32> = msgs.iter().map(|m| m.1).collect();
        assert_eq!(seqs, (7..14).collect::<Vec<_>>());
        assert_eq!(b.acked, (8..13).collect::<Vec<_>>());
        // The DNAT rule carries the target address and port as immediates.
        let hay = &b.bytes;
        let find = |needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        assert!(find(&[10, 123, 1, 1]) && find(&80u16.to_be_bytes()));
        assert!(
            find(b"eth0\0\0\0\0\0\0\0\0\0\0\0\0"),
            "ifname padded to IFNAMSIZ"
        );
        assert!(find(b"masq\0"));
    }

    #[test]
    fn bad_names_are_refused_before_anything_is_sent() {
        let mut t = table();
        t.dnat[0].iifname = "an-interface-name-too-long".into();
        assert!(batch(&t, 1).is_err());
        let mut t = table();
        t.name.clear();
        assert!(batch(&t, 1).is_err());
    }

    #[test]
    fn kernel_errors_are_read_from_nlmsgerr() {
        let mut m = message(NLMSG_ERROR, 0, 9, 0, &[]);
        m.truncate(16);
        m.extend((-libc::EAGAIN).to_ne_bytes());
        m.extend([0u8; 16]);
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        assert_eq!(parse_errors(&m), vec![(NLMSG_ERROR, 9, libc::EAGAIN)]);
    }
}
