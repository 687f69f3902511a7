//! A rule's expressions as the kernel lists them (`NFTA_RULE_EXPRESSIONS`), decoded into the
//! few kinds a verdict depends on (meta, payload, cmp, bitwise, ct, immediate values and
//! verdicts) and, for people, written back roughly as `nft list` shows them. Any other
//! expression keeps its name: the evaluator treats it as unknown (it may stop the rule or
//! not), never as a match.

use serde::{Deserialize, Serialize};

use super::msg::{attrs, be32, find, str_of};

/// One expression of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "expr", rename_all = "snake_case")]
pub enum Expr {
    /// `meta load KEY => reg DREG` (`meta set` has no dreg and loads nothing).
    Meta {
        /// `NFT_META_*`.
        key: u32,
        /// Destination register (None: a `meta set` statement).
        dreg: Option<u32>,
    },
    /// `payload load LEN @ BASE + OFFSET => reg DREG`.
    Payload {
        /// 0 link layer, 1 network header, 2 transport header.
        base: u32,
        /// Byte offset in that header.
        offset: u32,
        /// Bytes loaded.
        len: u32,
        /// Destination register (None: a payload write).
        dreg: Option<u32>,
    },
    /// `cmp OP reg SREG DATA`.
    Cmp {
        /// Source register.
        sreg: u32,
        /// `NFT_CMP_*`: eq 0, neq 1, lt 2, lte 3, gt 4, gte 5.
        op: u32,
        /// The value compared with.
        data: Vec<u8>,
    },
    /// `bitwise reg DREG = (reg SREG & MASK) ^ XOR` (a shift: `mask` empty, unknown result).
    Bitwise {
        /// Source register.
        sreg: u32,
        /// Destination register.
        dreg: u32,
        /// Bytes.
        len: u32,
        /// The mask (empty for a shift).
        mask: Vec<u8>,
        /// The xor.
        xor: Vec<u8>,
    },
    /// `ct load KEY => reg DREG` (`ct set` has no dreg).
    Ct {
        /// `NFT_CT_*` (state 0).
        key: u32,
        /// Destination register.
        dreg: Option<u32>,
    },
    /// `immediate reg DREG VALUE`.
    Value {
        /// Destination register.
        dreg: u32,
        /// The value.
        data: Vec<u8>,
    },
    /// `immediate reg 0 VERDICT`: the rule's verdict.
    Verdict {
        /// `NF_DROP` 0, `NF_ACCEPT` 1, `NFT_CONTINUE` -1, `NFT_BREAK` -2, `NFT_JUMP` -3,
        /// `NFT_GOTO` -4, `NFT_RETURN` -5, others (queue, stolen).
        code: i32,
        /// The chain of a jump or goto.
        chain: Option<String>,
    },
    /// `counter`.
    Counter,
    /// `reject` (a drop that answers).
    Reject,
    /// iptables' `-m conntrack --ctstate STATES` (an xtables match, as iptables-nft 1.8
    /// writes Docker's `RELATED,ESTABLISHED` rule), when it checks the state only.
    CtStateMatch {
        /// The states (`XT_CONNTRACK_STATE_BIT`: invalid 1, established 2, related 4, new 8,
        /// snat 64, dnat 128, untracked 256).
        mask: u16,
        /// `! --ctstate`.
        invert: bool,
    },
    /// An xtables match through nft_compat (`match name NAME`); `comment` is its text when
    /// it is `-m comment`.
    Match {
        /// The match's name.
        name: String,
        /// The comment of a `comment` match.
        comment: Option<String>,
    },
    /// Any other expression, by name.
    Other {
        /// Its name (`lookup`, `fib`, `nat`, `log`, `limit`, ...).
        name: String,
        /// Its destination register, when it has one (what it loads is unknown).
        dreg: Option<u32>,
    },
}

/// Verdict codes (`NF_*`, `NFT_*`).
pub mod code {
    /// `NF_DROP`.
    pub const DROP: i32 = 0;
    /// `NF_ACCEPT`.
    pub const ACCEPT: i32 = 1;
    /// `NFT_CONTINUE`.
    pub const CONTINUE: i32 = -1;
    /// `NFT_BREAK`.
    pub const BREAK: i32 = -2;
    /// `NFT_JUMP`.
    pub const JUMP: i32 = -3;
    /// `NFT_GOTO`.
    pub const GOTO: i32 = -4;
    /// `NFT_RETURN`.
    pub const RETURN: i32 = -5;
}

/// `NFT_META_*` keys the evaluator and the printer know.
pub mod meta {
    /// `meta protocol` (ethertype, big-endian).
    pub const PROTOCOL: u32 = 1;
    /// `meta mark`.
    pub const MARK: u32 = 3;
    /// `meta iif` (ifindex).
    pub const IIF: u32 = 4;
    /// `meta oif`.
    pub const OIF: u32 = 5;
    /// `meta iifname`.
    pub const IIFNAME: u32 = 6;
    /// `meta oifname`.
    pub const OIFNAME: u32 = 7;
    /// `meta nfproto`.
    pub const NFPROTO: u32 = 15;
    /// `meta l4proto`.
    pub const L4PROTO: u32 = 16;
}

/// `NFT_CT_STATE`.
pub const CT_STATE: u32 = 0;

/// The expressions of an `NFTA_RULE_EXPRESSIONS` list.
pub fn decode_list(b: &[u8]) -> Vec<Expr> {
    attrs(b)
        .into_iter()
        .filter(|(t, _)| *t == 1) // NFTA_LIST_ELEM
        .map(|(_, e)| decode(e))
        .collect()
}

fn reg(d: &[u8], ty: u16) -> Option<u32> {
    find(d, ty).and_then(be32)
}

/// NFTA_DATA_VALUE inside a nested data attribute.
fn value(d: &[u8], ty: u16) -> Vec<u8> {
    find(d, ty)
        .and_then(|n| find(n, 1))
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// One `NFTA_LIST_ELEM`.
pub fn decode(e: &[u8]) -> Expr {
    let name = find(e, 1).map(str_of).unwrap_or_default();
    let d = find(e, 2).unwrap_or(&[]);
    match name.as_str() {
        "meta" => Expr::Meta {
            key: reg(d, 2).unwrap_or(u32::MAX),
            dreg: reg(d, 1),
        },
        "payload" => Expr::Payload {
            base: reg(d, 2).unwrap_or(u32::MAX),
            offset: reg(d, 3).unwrap_or(0),
            len: reg(d, 4).unwrap_or(0),
            dreg: reg(d, 1),
        },
        "cmp" => Expr::Cmp {
            sreg: reg(d, 1).unwrap_or(0),
            op: reg(d, 2).unwrap_or(u32::MAX),
            data: value(d, 3),
        },
        "bitwise" => {
            // NFTA_BITWISE_OP (6): 0 = mask/xor; shifts and others leave the mask empty.
            let boolean = reg(d, 6).unwrap_or(0) == 0;
            Expr::Bitwise {
                sreg: reg(d, 1).unwrap_or(0),
                dreg: reg(d, 2).unwrap_or(0),
                len: reg(d, 3).unwrap_or(0),
                mask: if boolean { value(d, 4) } else { Vec::new() },
                xor: if boolean { value(d, 5) } else { Vec::new() },
            }
        }
        "ct" => Expr::Ct {
            key: reg(d, 2).unwrap_or(u32::MAX),
            dreg: reg(d, 1),
        },
        "immediate" => {
            let dreg = reg(d, 1).unwrap_or(0);
            let data = find(d, 2).unwrap_or(&[]);
            match find(data, 2) {
                // NFTA_DATA_VERDICT: NFTA_VERDICT_CODE, NFTA_VERDICT_CHAIN.
                Some(v) => Expr::Verdict {
                    code: find(v, 1).and_then(be32).map(|c| c as i32).unwrap_or(-1),
                    chain: find(v, 2).map(str_of),
                },
                None => Expr::Value {
                    dreg,
                    data: find(data, 1).map(<[u8]>::to_vec).unwrap_or_default(),
                },
            }
        }
        "counter" => Expr::Counter,
        "reject" => Expr::Reject,
        "match" => {
            let name = find(d, 1).map(str_of).unwrap_or_default();
            let info = find(d, 3).unwrap_or(&[]);
            if name == "conntrack" {
                let rev = reg(d, 2).unwrap_or(0);
                if let Some(m) = ct_state_match(rev, info) {
                    return m;
                }
            }
            let comment = (name == "comment").then(|| str_of(info));
            Expr::Match { name, comment }
        }
        _ => Expr::Other {
            // The destination register of most expressions is their attribute 1 (lookup: 3);
            // what they load is unknown either way.
            dreg: if name == "lookup" { reg(d, 3) } else { None },
            name,
        },
    }
}

/// `struct xt_conntrack_mtinfo{1,2,3}` (linux/netfilter/xt_conntrack.h, host order) as a
/// state check, when the state is all it checks: eight address/mask unions (128 bytes),
/// expires (8), l4proto and four ports (10), then match_flags @146, invert_flags @148 and the
/// state mask @150 (a byte in revision 1, two bytes after).
fn ct_state_match(rev: u32, info: &[u8]) -> Option<Expr> {
    const STATE: u16 = 1 << 0;
    const STATE_ALIAS: u16 = 1 << 13;
    let u16_at = |o: usize| Some(u16::from_ne_bytes(info.get(o..o + 2)?.try_into().ok()?));
    let (flags, invert) = (u16_at(146)?, u16_at(148)?);
    if flags & !(STATE | STATE_ALIAS) != 0 || flags & STATE == 0 {
        return None; // it checks more than the state
    }
    let mask = match rev {
        1 => u16::from(*info.get(150)?),
        2 | 3 => u16_at(150)?,
        _ => return None,
    };
    Some(Expr::CtStateMatch {
        mask,
        invert: invert & STATE != 0,
    })
}

/// The comment of a rule's user data (`NFTNL_UDATA_RULE_COMMENT`: type 0, length, text).
pub fn udata_comment(u: &[u8]) -> Option<String> {
    let mut off = 0;
    while off + 2 <= u.len() {
        let (ty, len) = (u[off], u[off + 1] as usize);
        let v = u.get(off + 2..off + 2 + len)?;
        if ty == 0 {
            return Some(str_of(v));
        }
        off += 2 + len;
    }
    None
}

/// The rule, roughly as `nft list` writes it: the common matches in nft's words
/// (`iifname "x"`, `ip daddr A`, `tcp dport P`, `ct state ...`), anything else by name.
pub fn text(exprs: &[Expr]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut loaded: Option<String> = None;
    let mut ct_mask: Option<Vec<u8>> = None;
    for e in exprs {
        match e {
            Expr::Meta { key, dreg: Some(_) } => {
                loaded = Some(
                    match *key {
                        meta::IIFNAME => "iifname",
                        meta::OIFNAME => "oifname",
                        meta::IIF => "iif",
                        meta::OIF => "oif",
                        meta::L4PROTO => "meta l4proto",
                        meta::PROTOCOL => "meta protocol",
                        meta::NFPROTO => "meta nfproto",
                        meta::MARK => "meta mark",
                        _ => "meta",
                    }
                    .to_string(),
                )
            }
            Expr::Payload {
                base,
                offset,
                len,
                dreg: Some(_),
            } => {
                loaded = Some(match (base, offset, len) {
                    (1, 12, _) => "ip saddr".into(),
                    (1, 16, _) => "ip daddr".into(),
                    (1, 9, 1) => "ip protocol".into(),
                    (2, 0, 2) => "th sport".into(),
                    (2, 2, 2) => "th dport".into(),
                    (b, o, l) => format!(
                        "@{}h,{},{}",
                        ["ll", "n", "t"][(*b as usize).min(2)],
                        o * 8,
                        l * 8
                    ),
                })
            }
            Expr::Ct {
                key: CT_STATE,
                dreg: Some(_),
            } => loaded = Some("ct state".into()),
            Expr::Bitwise { mask, .. } if loaded.as_deref() == Some("ct state") => {
                ct_mask = Some(mask.clone())
            }
            Expr::Bitwise { .. } => {}
            Expr::Cmp { op, data, .. } => {
                let what = loaded.take().unwrap_or_else(|| "reg".into());
                let neg = if *op == 1 { "!= " } else { "" };
                let v = match what.as_str() {
                    "iifname" | "oifname" => format!("\"{}\"", str_of(data)),
                    "ip saddr" | "ip daddr" => addr_text(data),
                    "th sport" | "th dport" if data.len() == 2 => {
                        u16::from_be_bytes([data[0], data[1]]).to_string()
                    }
                    "meta l4proto" | "ip protocol" if data.len() == 1 => match data[0] {
                        6 => "tcp".into(),
                        17 => "udp".into(),
                        1 => "icmp".into(),
                        p => p.to_string(),
                    },
                    "ct state" => ct_states(ct_mask.take().as_deref().unwrap_or(data)),
                    _ => hex(data),
                };
                let (what, neg) = if what == "ct state" && *op == 1 && data.iter().all(|b| *b == 0)
                {
                    (what, String::new())
                } else {
                    (what, neg.to_string())
                };
                out.push(format!("{what} {neg}{v}"));
            }
            Expr::Verdict { code, chain } => out.push(match (*code, chain) {
                (code::ACCEPT, _) => "accept".into(),
                (code::DROP, _) => "drop".into(),
                (code::RETURN, _) => "return".into(),
                (code::JUMP, Some(c)) => format!("jump {c}"),
                (code::GOTO, Some(c)) => format!("goto {c}"),
                (code::CONTINUE, _) => "continue".into(),
                (c, _) => format!("verdict {c}"),
            }),
            Expr::Counter => out.push("counter".into()),
            Expr::Reject => out.push("reject".into()),
            Expr::Match {
                comment: Some(c), ..
            } => out.push(format!("comment \"{c}\"")),
            Expr::CtStateMatch { mask, invert } => out.push(format!(
                "ct state {}{}",
                if *invert { "!= " } else { "" },
                ct_states(&u32::from(*mask).to_ne_bytes())
            )),
            Expr::Match { name, .. } => out.push(format!("xt match \"{name}\"")),
            Expr::Other { name, .. } => out.push(name.clone()),
            Expr::Value { .. } | Expr::Meta { .. } | Expr::Payload { .. } | Expr::Ct { .. } => {}
        }
    }
    out.join(" ")
}

/// An address (or its leading bytes: a prefix) as `a.b.c.d` or `a.b.0.0/16`.
fn addr_text(d: &[u8]) -> String {
    let mut b = [0u8; 4];
    let n = d.len().min(4);
    b[..n].copy_from_slice(&d[..n]);
    let a = std::net::Ipv4Addr::from(b);
    if n == 4 {
        a.to_string()
    } else {
        format!("{a}/{}", n * 8)
    }
}

/// `ct state` bits (host order) as names.
fn ct_states(mask: &[u8]) -> String {
    let v = mask
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
        .unwrap_or(0);
    let names: Vec<&str> = [
        (1, "invalid"),
        (2, "established"),
        (4, "related"),
        (8, "new"),
        (64, "untracked"),
    ]
    .iter()
    .filter(|(bit, _)| v & bit != 0)
    .map(|(_, n)| *n)
    .collect();
    names.join(",")
}

fn hex(d: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::build;
    use super::*;

    #[test]
    fn written_expressions_decode_to_what_they_say() {
        let mut list = Vec::new();
        for e in build::ifname_match(meta::IIFNAME, "xq0")
            .unwrap()
            .into_iter()
            .chain([
                build::payload(1, 16, 4),
                build::cmp(&[172, 18, 0, 2]),
                build::payload(2, 2, 2),
                build::cmp(&80u16.to_be_bytes()),
                build::xt_match("comment", 0, &[b'h', b'i', 0, 0]),
                build::counter(),
                build::verdict(code::ACCEPT),
            ])
        {
            list.extend(super::super::msg::nested(1, &e));
        }
        let exprs = decode_list(&list);
        assert_eq!(exprs.len(), 9);
        assert_eq!(
            exprs[0],
            Expr::Meta {
                key: meta::IIFNAME,
                dreg: Some(1)
            }
        );
        assert_eq!(
            exprs[8],
            Expr::Verdict {
                code: code::ACCEPT,
                chain: None
            }
        );
        assert_eq!(
            text(&exprs),
            "iifname \"xq0\" ip daddr 172.18.0.2 th dport 80 comment \"hi\" counter accept"
        );
    }

    #[test]
    fn iptables_conntrack_state_matches_are_read() {
        // Docker's `-m conntrack --ctstate RELATED,ESTABLISHED`, revision 3.
        let mut info = vec![0u8; 160];
        info[146..148].copy_from_slice(&1u16.to_ne_bytes()); // XT_CONNTRACK_STATE
        info[150..152].copy_from_slice(&6u16.to_ne_bytes());
        assert_eq!(
            ct_state_match(3, &info),
            Some(Expr::CtStateMatch {
                mask: 6,
                invert: false
            })
        );
        assert_eq!(
            text(&[ct_state_match(3, &info).unwrap()]),
            "ct state established,related"
        );
        // Revision 1 keeps the mask in one byte.
        let mut r1 = info.clone();
        r1[150] = 8;
        r1[151] = 0;
        assert_eq!(
            ct_state_match(1, &r1),
            Some(Expr::CtStateMatch {
                mask: 8,
                invert: false
            })
        );
        // It also checks the protocol (XT_CONNTRACK_PROTO): not a plain state check.
        info[146..148].copy_from_slice(&3u16.to_ne_bytes());
        assert_eq!(ct_state_match(3, &info), None);
    }

    #[test]
    fn user_data_comments_are_read() {
        assert_eq!(
            udata_comment(&[0, 4, b'a', b'b', b'c', 0]).as_deref(),
            Some("abc")
        );
        assert_eq!(
            udata_comment(&[5, 1, 9, 0, 2, b'x', 0]).as_deref(),
            Some("x")
        );
        assert_eq!(udata_comment(&[0, 9, b'a']), None);
    }
}
