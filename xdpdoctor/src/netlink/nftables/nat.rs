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

use super::build::{cmp, expr, ifname_match, immediate, meta, payload, REG1, REG2};
use super::msg::{
    attr, cstr, nested, nft, u32_attr, Batch, NfSock, NFPROTO_IPV4, NFT_MSG_NEWCHAIN,
    NFT_MSG_NEWRULE, NFT_MSG_NEWTABLE, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
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
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_L4PROTO: u32 = 16;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_NAT_DNAT: u32 = 1;
/// `NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED`.
const NAT_FLAGS: u32 = 0x1 | 0x2;

const PREROUTING: &str = "prerouting";
const POSTROUTING: &str = "postrouting";

/// Writes `t` into the calling thread's namespace (one transaction). Fails if a table of that
/// name exists.
pub fn apply(t: &NatTable) -> Result<()> {
    let what = format!("nftables table ip {}", t.name);
    let batch = batch(t, 1)?;
    NfSock::open(&what)?.transact(&batch, &what)?;
    log::debug!("{what}: applied ({} messages)", batch.acked.len());
    Ok(())
}

/// The whole transaction for `t`, sequence numbers from `seq`.
fn batch(t: &NatTable, seq: u32) -> Result<Batch> {
    if t.name.is_empty() || t.name.len() > 255 {
        return Err(Error::invalid(
            "nftables table name",
            format!("\"{}\"", t.name),
        ));
    }
    let mut b = Batch::begin(seq);
    let create = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
    b.push(
        nft(NFT_MSG_NEWTABLE),
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
        b.push(nft(NFT_MSG_NEWCHAIN), create, NFPROTO_IPV4, &a);
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
        b.push(
            nft(NFT_MSG_NEWRULE),
            create | NLM_F_APPEND,
            NFPROTO_IPV4,
            &a,
        );
    }
    for r in &t.masquerade {
        let a = rule(POSTROUTING, masq_exprs(r)?);
        b.push(
            nft(NFT_MSG_NEWRULE),
            create | NLM_F_APPEND,
            NFPROTO_IPV4,
            &a,
        );
    }
    Ok(b.end())
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

#[cfg(test)]
mod tests {
    use super::super::msg::{parse_messages, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END};
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
    fn one_batch_with_every_message_acked_but_begin_and_end() {
        let b = batch(&table(), 7).unwrap();
        let msgs = parse_messages(&b.bytes);
        let types: Vec<u16> = msgs.iter().map(|m| m.ty).collect();
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
        let seqs: Vec<u32> = msgs.iter().map(|m| m.seq).collect();
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
}
