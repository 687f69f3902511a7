//! The calling thread's namespace's nf_tables ruleset, read over netlink: every table, chain
//! (with its hook, priority, type and policy) and rule (handle, expressions, comment) of
//! every family, in the kernel's order. iptables-nft writes its rules into the same tables
//! (`ip filter` and friends), so Docker's rules are here too. Three dumps
//! (`NFT_MSG_GETTABLE`, `GETCHAIN`, `GETRULE`); what the snapshot keeps and the evaluator
//! walks.

use serde::{Deserialize, Serialize};

use super::expr::{self, Expr};
use super::msg::{
    be32, be64, find, str_of, NfSock, NFT_MSG_GETCHAIN, NFT_MSG_GETRULE, NFT_MSG_GETTABLE,
};
use crate::Result;

/// Every table of the namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    /// In the kernel's order.
    pub tables: Vec<Table>,
}

/// One table: family, name and chains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// `ip`, `inet`, `ip6`, `arp`, `bridge`, `netdev`.
    pub family: String,
    /// Its name.
    pub name: String,
    /// Its chains, in the kernel's order.
    pub chains: Vec<Chain>,
}

/// One chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    /// Its name.
    pub name: String,
    /// For a base chain, where it hooks in; None for a chain only jumped to.
    pub hook: Option<Hook>,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

/// Where a base chain hooks into the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    /// `NF_INET_*`: prerouting 0, input 1, forward 2, output 3, postrouting 4 (ingress 5).
    pub hooknum: u32,
    /// Its priority (lower runs first).
    pub priority: i32,
    /// `filter`, `nat` or `route`.
    #[serde(rename = "type")]
    pub chain_type: String,
    /// What happens to a packet no rule decides: `accept` or `drop`.
    pub policy: String,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its handle (`nft -a`): stable while the table exists.
    pub handle: u64,
    /// Its expressions.
    pub exprs: Vec<Expr>,
    /// Its comment: nft's (user data) or iptables' (`-m comment`).
    pub comment: Option<String>,
}

impl Rule {
    /// The rule roughly as `nft list` writes it.
    pub fn text(&self) -> String {
        expr::text(&self.exprs)
    }
}

/// The name of a hook number.
pub fn hook_name(n: u32) -> &'static str {
    match n {
        0 => "prerouting",
        1 => "input",
        2 => "forward",
        3 => "output",
        4 => "postrouting",
        5 => "ingress",
        _ => "hook",
    }
}

/// The name of an nfproto family.
pub fn family_name(f: u8) -> String {
    match f {
        1 => "inet".into(),
        2 => "ip".into(),
        3 => "arp".into(),
        5 => "netdev".into(),
        7 => "bridge".into(),
        10 => "ip6".into(),
        n => format!("family{n}"),
    }
}

impl Ruleset {
    /// The table `family name`.
    pub fn table(&self, family: &str, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.family == family && t.name == name)
    }

    /// Whether nothing is there.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

impl Table {
    /// Its chain `name`.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }
}

/// Reads the ruleset of the calling thread's namespace.
pub fn read() -> Result<Ruleset> {
    let mut s = NfSock::open("nftables ruleset")?;
    let tables = s.dump(NFT_MSG_GETTABLE, 1)?;
    let chains = s.dump(NFT_MSG_GETCHAIN, 2)?;
    let rules = s.dump(NFT_MSG_GETRULE, 3)?;
    let mut rs = Ruleset::default();
    for m in &tables {
        rs.tables.push(Table {
            family: family_name(m.family),
            name: find(&m.attrs, 1).map(str_of).unwrap_or_default(), // NFTA_TABLE_NAME
            chains: Vec::new(),
        });
    }
    for m in &chains {
        let (table, name) = (
            find(&m.attrs, 1).map(str_of).unwrap_or_default(), // NFTA_CHAIN_TABLE
            find(&m.attrs, 3).map(str_of).unwrap_or_default(), // NFTA_CHAIN_NAME
        );
        let hook = find(&m.attrs, 4).map(|h| Hook {
            hooknum: find(h, 1).and_then(be32).unwrap_or(u32::MAX),
            priority: find(h, 2).and_then(be32).unwrap_or(0) as i32,
            chain_type: find(&m.attrs, 7).map(str_of).unwrap_or_default(),
            policy: match find(&m.attrs, 5).and_then(be32) {
                Some(0) => "drop".into(),
                _ => "accept".into(),
            },
        });
        let fam = family_name(m.family);
        if let Some(t) = rs
            .tables
            .iter_mut()
            .find(|t| t.family == fam && t.name == table)
        {
            t.chains.push(Chain {
                name,
                hook,
                rules: Vec::new(),
            });
        }
    }
    for m in &rules {
        let (table, chain) = (
            find(&m.attrs, 1).map(str_of).unwrap_or_default(), // NFTA_RULE_TABLE
            find(&m.attrs, 2).map(str_of).unwrap_or_default(), // NFTA_RULE_CHAIN
        );
        let exprs = find(&m.attrs, 4).map(expr::decode_list).unwrap_or_default();
        let comment = find(&m.attrs, 7).and_then(expr::udata_comment).or_else(|| {
            exprs.iter().find_map(|e| match e {
                Expr::Match {
                    comment: Some(c), ..
                } => Some(c.clone()),
                _ => None,
            })
        });
        let rule = Rule {
            handle: find(&m.attrs, 3).and_then(be64).unwrap_or(0), // NFTA_RULE_HANDLE
            exprs,
            comment,
        };
        let fam = family_name(m.family);
        if let Some(c) = rs
            .tables
            .iter_mut()
            .find(|t| t.family == fam && t.name == table)
            .and_then(|t| t.chains.iter_mut().find(|c| c.name == chain))
        {
            c.rules.push(rule);
        }
    }
    Ok(rs)
}
