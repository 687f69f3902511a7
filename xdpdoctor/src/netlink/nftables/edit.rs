//! One accept rule in an existing chain, and its removal: what a fix adds for a flow
//! netfilter drops. The rule goes first in the chain (`iptables -I`, `nft insert`), carries a
//! comment that says whose it is, and is removed by handle, found again by that exact
//! comment, so nothing else is ever deleted.
//!
//! In a table iptables-nft manages (`ip filter`, where Docker's `DOCKER-USER` is) the rule
//! is written the way iptables-nft 1.8 writes `-I CHAIN -i IF -d ADDR/32 -p tcp -m tcp
//! --dport P -m comment --comment C -j ACCEPT` (the comment as an xtables `comment` match,
//! `NFTA_RULE_COMPAT` set), so `iptables-save` lists it as that line and iptables (Docker's
//! included) keeps working on the table. Elsewhere it is nft's `iifname IF ip daddr ADDR tcp
//! dport P counter accept comment C`.

use std::net::Ipv4Addr;

use super::build::{cmp, counter, ifname_match, meta, payload, verdict, xt_match};
use super::expr::{code, meta as mk};
use super::msg::{
    attr, cstr, nested, nft, u32_attr, u64_attr, Batch, NfSock, NFPROTO_INET, NFPROTO_IPV4,
    NFT_MSG_DELRULE, NFT_MSG_NEWRULE, NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST,
};
use super::ruleset;
use crate::{Error, Result};

/// How a rule is spelled in the table it goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Style {
    /// As iptables-nft writes it (tables iptables manages: `ip filter`).
    Iptables,
    /// As nft writes it.
    Nft,
}

/// `iifname IIF ip daddr DADDR tcp dport DPORT accept` with a comment, first in a chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AcceptRule {
    /// `ip` or `inet`.
    pub family: String,
    /// The table.
    pub table: String,
    /// The chain (it must exist).
    pub chain: String,
    /// Input interface.
    pub iifname: String,
    /// Destination address.
    pub daddr: Ipv4Addr,
    /// TCP destination port.
    pub dport: u16,
    /// The comment that marks it as ours (at most 127 bytes).
    pub comment: String,
    /// How it is spelled.
    pub style: Style,
}

/// `struct xt_comment_info`: the comment, NUL-padded to 256 bytes.
const XT_COMMENT_LEN: usize = 256;
/// `NFTNL_UDATA_RULE_COMMENT`.
const UDATA_COMMENT: u8 = 0;

fn family_num(f: &str) -> Result<u8> {
    match f {
        "ip" => Ok(NFPROTO_IPV4),
        "inet" => Ok(NFPROTO_INET),
        _ => Err(Error::unsupported(
            format!("nftables family {f}"),
            "rules are written into ip and inet tables only",
        )),
    }
}

fn where_attrs(table: &str, chain: &str) -> Vec<u8> {
    let mut a = attr(1, &cstr(table)); // NFTA_RULE_TABLE
    a.extend(attr(2, &cstr(chain))); // NFTA_RULE_CHAIN
    a
}

impl AcceptRule {
    /// Its expressions (`NFTA_RULE_EXPRESSIONS`) and the rest of its attributes.
    fn attrs(&self) -> Result<Vec<u8>> {
        if self.comment.is_empty() || self.comment.len() > 127 {
            return Err(Error::invalid(
                "nftables rule comment",
                format!("{:?}: 1 to 127 bytes", self.comment),
            ));
        }
        let mut exprs = match self.style {
            // iptables compares the name with its NUL, not padded to IFNAMSIZ.
            Style::Iptables => {
                ifname_match(mk::IIFNAME, &self.iifname)?;
                let mut n = self.iifname.as_bytes().to_vec();
                n.push(0);
                vec![meta(mk::IIFNAME), cmp(&n)]
            }
            Style::Nft => ifname_match(mk::IIFNAME, &self.iifname)?,
        };
        if self.family == "inet" {
            // `ip daddr` in an inet table: IPv4 packets only (nft's dependency).
            exprs.extend([meta(mk::NFPROTO), cmp(&[NFPROTO_IPV4])]);
        }
        exprs.extend([
            meta(mk::L4PROTO),
            cmp(&[libc::IPPROTO_TCP as u8]),
            payload(1, 16, 4),
            cmp(&self.daddr.octets()),
            payload(2, 2, 2),
            cmp(&self.dport.to_be_bytes()),
        ]);
        if self.style == Style::Iptables {
            let mut info = self.comment.as_bytes().to_vec();
            info.resize(XT_COMMENT_LEN, 0);
            exprs.push(xt_match("comment", 0, &info));
        }
        exprs.push(counter());
        exprs.push(verdict(code::ACCEPT));
        let mut a = where_attrs(&self.table, &self.chain);
        let list: Vec<u8> = exprs.iter().flat_map(|e| nested(1, e)).collect();
        a.extend(nested(4, &list)); // NFTA_RULE_EXPRESSIONS
        match self.style {
            Style::Iptables => {
                // NFTA_RULE_COMPAT: the protocol of `-p tcp`, no inversion.
                let mut c = u32_attr(1, libc::IPPROTO_TCP as u32);
                c.extend(u32_attr(2, 0));
                a.extend(nested(5, &c));
            }
            Style::Nft => {
                let mut u = vec![UDATA_COMMENT, (self.comment.len() + 1) as u8];
                u.extend(cstr(&self.comment));
                a.extend(attr(7, &u)); // NFTA_RULE_USERDATA
            }
        }
        Ok(a)
    }

    /// `nft`'s words for it (the text a printed command uses).
    pub fn nft_text(&self) -> String {
        format!(
            "iifname \"{}\" ip daddr {} tcp dport {} counter accept comment \"{}\"",
            self.iifname, self.daddr, self.dport, self.comment
        )
    }

    /// iptables' words for its match and target (after `-I CHAIN` / `-D CHAIN`).
    pub fn iptables_spec(&self) -> String {
        format!(
            "-i {} -d {}/32 -p tcp -m tcp --dport {} -m comment --comment \"{}\" -j ACCEPT",
            self.iifname, self.daddr, self.dport, self.comment
        )
    }

    fn what(&self) -> String {
        format!(
            "accept rule in {} {} {}",
            self.family, self.table, self.chain
        )
    }

    /// Inserts it at the head of its chain, in the calling thread's namespace.
    pub fn insert(&self) -> Result<()> {
        let fam = family_num(&self.family)?;
        let mut b = Batch::begin(1);
        b.push(
            nft(NFT_MSG_NEWRULE),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
            fam,
            &self.attrs()?,
        );
        let what = self.what();
        NfSock::open(&what)?.transact(&b.end(), &what)?;
        log::info!("nftables: inserted {} ({})", self.nft_text(), what);
        Ok(())
    }

    /// Handles of the rules of its chain that carry its comment (ours), in the calling
    /// thread's namespace; empty when the chain or table is gone.
    pub fn handles(&self) -> Result<Vec<u64>> {
        let rs = ruleset::read()?;
        Ok(rs
            .table(&self.family, &self.table)
            .and_then(|t| t.chain(&self.chain))
            .map(|c| {
                c.rules
                    .iter()
                    .filter(|r| r.comment.as_deref() == Some(self.comment.as_str()))
                    .map(|r| r.handle)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Deletes the rules of its chain that carry its comment; returns how many.
    pub fn delete(&self) -> Result<usize> {
        let handles = self.handles()?;
        if handles.is_empty() {
            return Ok(0);
        }
        let fam = family_num(&self.family)?;
        let mut b = Batch::begin(1);
        for h in &handles {
            let mut a = where_attrs(&self.table, &self.chain);
            a.extend(u64_attr(3, *h)); // NFTA_RULE_HANDLE
            b.push(nft(NFT_MSG_DELRULE), NLM_F_REQUEST | NLM_F_ACK, fam, &a);
        }
        let what = self.what();
        NfSock::open(&what)?.transact(&b.end(), &what)?;
        log::info!(
            "nftables: deleted {} rule(s) with comment {:?} from {what}",
            handles.len(),
            self.comment
        );
        Ok(handles.len())
    }
}

#[cfg(test)]
mod tests {
    use super::super::expr::{self, Expr};
    use super::super::msg::{find, parse_messages};
    use super::*;

    fn rule(style: Style) -> AcceptRule {
        AcceptRule {
            family: "ip".into(),
            table: "filter".into(),
            chain: "DOCKER-USER".into(),
            iifname: "xq0".into(),
            daddr: Ipv4Addr::new(172, 18, 0, 2),
            dport: 80,
            comment: "xdpdoctor fix".into(),
            style,
        }
    }

    #[test]
    fn both_styles_decode_to_the_same_match_and_comment() {
        for style in [Style::Iptables, Style::Nft] {
            let a = rule(style).attrs().unwrap();
            let exprs = expr::decode_list(find(&a, 4).unwrap());
            let text = expr::text(&exprs);
            assert!(
                text.starts_with(
                    "iifname \"xq0\" meta l4proto tcp ip daddr 172.18.0.2 th dport 80"
                ),
                "{text}"
            );
            assert_eq!(
                exprs.last(),
                Some(&Expr::Verdict {
                    code: code::ACCEPT,
                    chain: None
                })
            );
            let comment = match style {
                Style::Iptables => {
                    assert!(find(&a, 5).is_some(), "NFTA_RULE_COMPAT");
                    exprs.iter().find_map(|e| match e {
                        Expr::Match { comment, .. } => comment.clone(),
                        _ => None,
                    })
                }
                Style::Nft => find(&a, 7).and_then(expr::udata_comment),
            };
            assert_eq!(comment.as_deref(), Some("xdpdoctor fix"));
        }
    }

    #[test]
    fn the_insert_is_one_acked_message_at_the_head() {
        let r = rule(Style::Iptables);
        let mut b = Batch::begin(1);
        b.push(
            nft(NFT_MSG_NEWRULE),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
            NFPROTO_IPV4,
            &r.attrs().unwrap(),
        );
        let m = parse_messages(&b.end().bytes);
        // No NLM_F_APPEND and no position: the kernel puts it first.
        assert_eq!(m[1].flags & super::super::msg::NLM_F_APPEND, 0);
        assert!(find(&m[1].attrs, 6).is_none());
    }

    #[test]
    fn bad_rules_are_refused_before_anything_is_sent() {
        let mut r = rule(Style::Nft);
        r.comment = "x".repeat(200);
        assert!(r.attrs().is_err());
        let mut r = rule(Style::Iptables);
        r.iifname = "a-name-longer-than-ifnamsiz".into();
        assert!(r.attrs().is_err());
        let mut r = rule(Style::Nft);
        r.family = "bridge".into();
        assert!(r.insert().is_err());
    }
}
