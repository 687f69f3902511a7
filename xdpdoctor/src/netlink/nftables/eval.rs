//! What the ruleset does with one IPv4 flow the stack forwards: the base chains of families
//! `ip` and `inet` at prerouting, forward and postrouting (nat chains aside: they translate,
//! they do not drop), each in priority order, walked rule by rule as the kernel does
//! (registers, cmp, bitwise, jumps, gotos, returns, the chain's policy).
//!
//! What the flow does not fix (its source port, TCP flags, marks, set lookups, xtables
//! matches other than comments) is unknown: a rule that depends on it may or may not match,
//! and both ways are followed. So the answer is exact where the ruleset only looks at what
//! is known (Docker's FORWARD chain looks at interfaces, addresses, ports and conntrack
//! state), and says "may be dropped" with every place otherwise.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::expr::{code, meta, Expr, CT_STATE};
use super::ruleset::{hook_name, Chain, Hook, Ruleset, Table};

/// A forwarded IPv4 flow as netfilter sees its packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Input interface (name, ifindex).
    pub iif: (String, u32),
    /// Output interface (name, ifindex).
    pub oif: (String, u32),
    /// Source address, when known.
    pub saddr: Option<Ipv4Addr>,
    /// Destination address.
    pub daddr: Ipv4Addr,
    /// IP protocol (6: TCP).
    pub protocol: u8,
    /// Source port, when known.
    pub sport: Option<u16>,
    /// Destination port.
    pub dport: u16,
    /// Its conntrack state after conntrack ran.
    pub state: CtState,
}

/// A packet's conntrack state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtState {
    /// The first packet of a connection.
    New,
    /// A packet of a known connection.
    Established,
}

impl CtState {
    /// `NF_CT_STATE_BIT`.
    fn bits(self) -> u32 {
        match self {
            CtState::New => 8,
            CtState::Established => 2,
        }
    }
}

/// How a place decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum By {
    /// The base chain's policy (nothing accepted the packet before its end).
    Policy,
    /// A rule with a drop (or reject) verdict.
    Rule {
        /// Its handle.
        handle: u64,
        /// The rule as nft writes it.
        text: String,
    },
}

/// Where a packet of the flow is (or may be) dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// `ip` or `inet`.
    pub family: String,
    /// The table.
    pub table: String,
    /// The base chain whose hook the packet went through.
    pub base_chain: String,
    /// The hook (`forward`, ...).
    pub hook: String,
    /// The base chain's priority.
    pub priority: i32,
    /// The chain where the drop was decided (the base chain for its policy).
    pub chain: String,
    /// Policy or rule.
    #[serde(flatten)]
    pub by: By,
    /// The chains the packet went through before, with how it left each
    /// (`DOCKER-USER (return)`), in order.
    pub via: Vec<String>,
}

impl Place {
    /// `table ip filter, chain FORWARD (hook forward, priority 0): policy drop`.
    pub fn describe(&self) -> String {
        let what = match &self.by {
            By::Policy => "policy drop".to_string(),
            By::Rule { handle, text } => {
                format!("chain {}, rule handle {handle}: {text}", self.chain)
            }
        };
        let via = if self.via.is_empty() {
            String::new()
        } else {
            format!(", after {}", self.via.join(", "))
        };
        format!(
            "table {} {}, chain {} (hook {}, priority {}): {what}{via}",
            self.family, self.table, self.base_chain, self.hook, self.priority
        )
    }
}

/// What the ruleset does with the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fate {
    /// Every packet of the flow is dropped (at the last of `drops`); false with `drops`
    /// not empty: it may be, depending on what the flow does not fix.
    pub certain: bool,
    /// Where it is or may be dropped, in hook order.
    pub drops: Vec<Place>,
}

impl Fate {
    /// Nothing drops it.
    pub fn accepted(&self) -> bool {
        self.drops.is_empty()
    }
}

/// At most this many paths per base chain (a rule on an unknown field splits one in two).
const MAX_PATHS: usize = 256;
/// At most this many chains deep (jumps).
const MAX_DEPTH: usize = 32;
/// Bytes of the register file: `NFT_REG_1`..`NFT_REG_4` (16 bytes each) are
/// `NFT_REG32_00`..`15`; the verdict register is not kept here.
const REG_BYTES: usize = 80;

/// Evaluates `flow` against `rs`.
pub fn evaluate(rs: &Ruleset, flow: &Flow) -> Fate {
    let mut drops = Vec::new();
    for hooknum in [0u32, 2, 4] {
        let mut bases: Vec<(&Table, &Chain, &Hook)> = rs
            .tables
            .iter()
            .filter(|t| t.family == "ip" || t.family == "inet")
            .flat_map(|t| {
                t.chains.iter().filter_map(move |c| {
                    let h = c.hook.as_ref()?;
                    (h.hooknum == hooknum && h.chain_type != "nat").then_some((t, c, h))
                })
            })
            .collect();
        bases.sort_by_key(|(_, _, h)| h.priority);
        for (t, c, h) in bases {
            let outcomes = walk(t, c, h, flow);
            let all_drop = outcomes.iter().all(|o| matches!(o, Outcome::Drop(_)));
            for o in outcomes {
                if let Outcome::Drop(p) = o {
                    if !drops.contains(&p) {
                        drops.push(p);
                    }
                }
            }
            if all_drop {
                return Fate {
                    certain: true,
                    drops,
                };
            }
        }
    }
    Fate {
        certain: false,
        drops,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Accept,
    Drop(Place),
    Unknown,
}

/// Three-valued truth of a comparison on partly known bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Maybe,
}

/// One path through a base chain.
#[derive(Clone)]
struct Walk<'a> {
    regs: [Option<u8>; REG_BYTES],
    /// (chain, next rule) to return to.
    stack: Vec<(&'a Chain, usize)>,
    chain: &'a Chain,
    rule: usize,
    expr: usize,
    via: Vec<String>,
}

fn reg_offset(reg: u32) -> Option<usize> {
    let idx = match reg {
        1..=4 => reg as usize * 4,
        8..=23 => reg as usize - 8 + 4,
        _ => return None,
    };
    Some((idx - 4) * 4)
}

/// The IPv4 header of the flow's packets, as far as known.
fn ip_header(f: &Flow) -> [Option<u8>; 20] {
    let mut h = [None; 20];
    h[0] = Some(0x45);
    h[9] = Some(f.protocol);
    if let Some(s) = f.saddr {
        for (i, b) in s.octets().into_iter().enumerate() {
            h[12 + i] = Some(b);
        }
    }
    for (i, b) in f.daddr.octets().into_iter().enumerate() {
        h[16 + i] = Some(b);
    }
    h
}

/// The transport header: ports, as far as known.
fn l4_header(f: &Flow) -> [Option<u8>; 20] {
    let mut h = [None; 20];
    if let Some(p) = f.sport {
        let b = p.to_be_bytes();
        (h[0], h[1]) = (Some(b[0]), Some(b[1]));
    }
    let b = f.dport.to_be_bytes();
    (h[2], h[3]) = (Some(b[0]), Some(b[1]));
    h
}

fn ifname(n: &str) -> Vec<Option<u8>> {
    let mut v = vec![Some(0u8); 16];
    for (i, b) in n.bytes().take(15).enumerate() {
        v[i] = Some(b);
    }
    v
}

/// What `meta KEY` loads for this flow (None bytes: unknown).
fn meta_value(key: u32, f: &Flow) -> Vec<Option<u8>> {
    let known = |b: &[u8]| b.iter().map(|x| Some(*x)).collect();
    match key {
        meta::IIFNAME => ifname(&f.iif.0),
        meta::OIFNAME => ifname(&f.oif.0),
        meta::IIF => known(&f.iif.1.to_ne_bytes()),
        meta::OIF => known(&f.oif.1.to_ne_bytes()),
        meta::L4PROTO => known(&[f.protocol]),
        meta::NFPROTO => known(&[2]),
        meta::PROTOCOL => known(&0x0800u16.to_be_bytes()),
        _ => vec![None; 16],
    }
}

/// Compares `got` with `want` by `op` (eq 0, neq 1, lt 2, lte 3, gt 4, gte 5; order as
/// memcmp, as the kernel does): decided where the known bytes decide, else maybe.
fn compare(got: &[Option<u8>], want: &[u8], op: u32) -> Tri {
    use std::cmp::Ordering::{self, *};
    let tri = |b: bool| if b { Tri::Yes } else { Tri::No };
    let mut eq = Tri::Yes;
    for (g, w) in got.iter().zip(want) {
        match g {
            None => eq = Tri::Maybe,
            Some(g) if g != w => {
                eq = Tri::No;
                break;
            }
            Some(_) => {}
        }
    }
    // Order: the first differing byte, unless an unknown one comes before it.
    let mut ord: Option<Ordering> = Some(Equal);
    for (g, w) in got.iter().zip(want) {
        match g {
            None => {
                ord = None;
                break;
            }
            Some(g) if g != w => {
                ord = Some(g.cmp(w));
                break;
            }
            Some(_) => {}
        }
    }
    match (op, eq, ord) {
        (0, e, _) => e,
        (1, Tri::Yes, _) => Tri::No,
        (1, Tri::No, _) => Tri::Yes,
        (1, _, _) => Tri::Maybe,
        (_, _, None) => Tri::Maybe,
        (2, _, Some(o)) => tri(o == Less),
        (3, _, Some(o)) => tri(o != Greater),
        (4, _, Some(o)) => tri(o == Greater),
        (5, _, Some(o)) => tri(o != Less),
        _ => Tri::Maybe,
    }
}

fn walk<'a>(t: &'a Table, base: &'a Chain, hook: &Hook, f: &Flow) -> Vec<Outcome> {
    let ip = ip_header(f);
    let l4 = l4_header(f);
    // Before conntrack (priority -200) a packet has no conntrack entry: `ct state` reads
    // invalid there.
    let ct = if hook.hooknum == 0 && hook.priority < -200 {
        1u32
    } else {
        f.state.bits()
    };
    let place = |w: &Walk, by: By| Place {
        family: t.family.clone(),
        table: t.name.clone(),
        base_chain: base.name.clone(),
        hook: hook_name(hook.hooknum).to_string(),
        priority: hook.priority,
        chain: w.chain.name.clone(),
        by,
        via: w.via.clone(),
    };
    let mut out = Vec::new();
    let mut todo = vec![Walk {
        regs: [None; REG_BYTES],
        stack: Vec::new(),
        chain: base,
        rule: 0,
        expr: 0,
        via: Vec::new(),
    }];
    let mut paths = 1usize;
    'paths: while let Some(mut w) = todo.pop() {
        loop {
            let Some(rule) = w.chain.rules.get(w.rule) else {
                // End of a chain: back to the caller, or the base chain's policy.
                match w.stack.pop() {
                    Some((c, next)) => {
                        w.via.push(format!("{} (end)", w.chain.name));
                        (w.chain, w.rule, w.expr) = (c, next, 0);
                        continue;
                    }
                    None => {
                        out.push(if hook.policy == "drop" {
                            Outcome::Drop(place(&w, By::Policy))
                        } else {
                            Outcome::Accept
                        });
                        continue 'paths;
                    }
                }
            };
            let next_rule = |w: &mut Walk<'a>| {
                w.rule += 1;
                w.expr = 0;
            };
            let Some(e) = rule.exprs.get(w.expr) else {
                next_rule(&mut w);
                continue;
            };
            w.expr += 1;
            let set = |w: &mut Walk, dreg: u32, v: &[Option<u8>]| {
                if let Some(o) = reg_offset(dreg) {
                    for (i, b) in v.iter().enumerate() {
                        if o + i < REG_BYTES {
                            w.regs[o + i] = *b;
                        }
                    }
                }
            };
            // A comparison that cannot be decided: follow both ways.
            let mut split = |w: &mut Walk<'a>, todo: &mut Vec<Walk<'a>>| -> bool {
                paths += 1;
                if paths > MAX_PATHS {
                    return false;
                }
                let mut other = w.clone();
                next_rule(&mut other);
                todo.push(other);
                true
            };
            match e {
                Expr::Meta { key, dreg: Some(d) } => set(&mut w, *d, &meta_value(*key, f)),
                Expr::Payload {
                    base: b,
                    offset,
                    len,
                    dreg: Some(d),
                } => {
                    let hdr: &[Option<u8>] = match b {
                        1 => &ip,
                        2 => &l4,
                        _ => &[],
                    };
                    let v: Vec<Option<u8>> = (*offset..offset + len)
                        .map(|i| hdr.get(i as usize).copied().flatten())
                        .collect();
                    set(&mut w, *d, &v)
                }
                Expr::Ct {
                    key: CT_STATE,
                    dreg: Some(d),
                } => {
                    let v: Vec<Option<u8>> = ct.to_ne_bytes().iter().map(|b| Some(*b)).collect();
                    set(&mut w, *d, &v)
                }
                Expr::Ct { dreg: Some(d), .. } => set(&mut w, *d, &[None; 16]),
                Expr::Value { dreg, data } => {
                    let v: Vec<Option<u8>> = data.iter().map(|b| Some(*b)).collect();
                    set(&mut w, *dreg, &v)
                }
                Expr::Bitwise {
                    sreg,
                    dreg,
                    len,
                    mask,
                    xor,
                } => {
                    let src = reg_offset(*sreg).unwrap_or(REG_BYTES);
                    let v: Vec<Option<u8>> = (0..*len as usize)
                        .map(|i| {
                            let (m, x) = (mask.get(i), xor.get(i).copied().unwrap_or(0));
                            match (m, w.regs.get(src + i).copied().flatten()) {
                                (Some(0), _) => Some(x),
                                (Some(m), Some(b)) => Some((b & m) ^ x),
                                _ => None,
                            }
                        })
                        .collect();
                    set(&mut w, *dreg, &v)
                }
                Expr::Cmp { sreg, op, data } => {
                    let o = reg_offset(*sreg).unwrap_or(REG_BYTES);
                    let got: Vec<Option<u8>> = (0..data.len())
                        .map(|i| w.regs.get(o + i).copied().flatten())
                        .collect();
                    match compare(&got, data, *op) {
                        Tri::Yes => {}
                        Tri::No => next_rule(&mut w),
                        Tri::Maybe => {
                            if !split(&mut w, &mut todo) {
                                out.push(Outcome::Unknown);
                                continue 'paths;
                            }
                        }
                    }
                }
                Expr::Verdict { code: c, chain } => match (*c, chain) {
                    (code::ACCEPT, _) => {
                        out.push(Outcome::Accept);
                        continue 'paths;
                    }
                    (code::DROP, _) => {
                        out.push(Outcome::Drop(place(
                            &w,
                            By::Rule {
                                handle: rule.handle,
                                text: rule.text(),
                            },
                        )));
                        continue 'paths;
                    }
                    (jump @ (code::JUMP | code::GOTO), Some(target)) => {
                        let Some(c) = t.chain(target) else {
                            out.push(Outcome::Unknown);
                            continue 'paths;
                        };
                        if w.stack.len() >= MAX_DEPTH {
                            out.push(Outcome::Unknown);
                            continue 'paths;
                        }
                        if jump == code::JUMP {
                            w.stack.push((w.chain, w.rule + 1));
                        }
                        (w.chain, w.rule, w.expr) = (c, 0, 0);
                    }
                    (code::RETURN, _) => match w.stack.pop() {
                        Some((c, next)) => {
                            w.via.push(format!("{} (return)", w.chain.name));
                            (w.chain, w.rule, w.expr) = (c, next, 0);
                        }
                        None => {
                            out.push(if hook.policy == "drop" {
                                Outcome::Drop(place(&w, By::Policy))
                            } else {
                                Outcome::Accept
                            });
                            continue 'paths;
                        }
                    },
                    (code::CONTINUE, _) => {}
                    (code::BREAK, _) => next_rule(&mut w),
                    _ => {
                        out.push(Outcome::Unknown);
                        continue 'paths;
                    }
                },
                Expr::CtStateMatch { mask, invert } => {
                    let hit = u32::from(*mask) & ct != 0;
                    if hit == *invert {
                        next_rule(&mut w);
                    }
                }
                Expr::Reject => {
                    out.push(Outcome::Drop(place(
                        &w,
                        By::Rule {
                            handle: rule.handle,
                            text: rule.text(),
                        },
                    )));
                    continue 'paths;
                }
                Expr::Counter
                | Expr::Match {
                    comment: Some(_), ..
                }
                | Expr::Meta { dreg: None, .. }
                | Expr::Payload { dreg: None, .. }
                | Expr::Ct { dreg: None, .. } => {}
                Expr::Other { name, .. } if matches!(name.as_str(), "log" | "notrack") => {}
                // Anything else may stop the rule or not, and may load anything anywhere
                // (fib, rt, socket, hash, ... write registers this module does not model).
                Expr::Match { .. } | Expr::Other { .. } => {
                    if matches!(e, Expr::Other { .. }) {
                        w.regs = [None; REG_BYTES];
                    }
                    if !split(&mut w, &mut todo) {
                        out.push(Outcome::Unknown);
                        continue 'paths;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
