//! The forwarder's decision record, typed: what `forwarder-ebpf/include/fwd_decision.h`
//! writes for each packet that reached a NAT decision, parsed back from the message aya-log
//! formatted.
//!
//! Why parse a message: aya-log 0.3's `EbpfLogger` hands its logger a `log::Record` whose only
//! payload is the formatted text (`format_args!("{full_log_msg}")`); the typed arguments are
//! gone by then, and `log`'s key-values are not filled. So the record is a fixed grammar of
//! `key=value` words written by one C function and read by [`Decision::parse`], order-free,
//! every value checked (an address must be an IPv4 address, a port a `u16`, a MAC six hex
//! pairs). The two are kept together: a unit test holds the exact message the header writes,
//! and the integration tests parse records the real program wrote. A record that does not
//! parse (a forwarder pinned by another xdpdoctor version) is an error naming the word; the
//! caller still has the message.
//!
//! Keys (docs/decision-log.md has the table): `ingress`, `dir` (dnat|snat), `src`, `dst` (the
//! tuple as received), `nat` (the entry's endpoint, or `none`), `new_src`, `new_dst` (the
//! tuple as the program left the packet), `fib` (the `bpf_fib_lookup` result code, or
//! `cache`), `egress`, `smac`, `dmac` (the next hop), `port` (the bridge port redirected to,
//! when the egress is a bridge the forwarder serves), `verdict` (redirect|pass|drop),
//! `reason` (pass and drop: the outcome counter's name).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Serialize, Serializer};

use crate::{Error, Result};

/// The `target` of decision records (before the reader's `ebpf::` prefix).
pub const TARGET: &str = "decision";
/// The `module` of decision records.
pub const MODULE: &str = "forwarder";

/// Which translation the program makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Translation {
    /// External interfaces: the destination, by `dnat_entries`.
    Dnat,
    /// Internal interfaces: the source of replies, by `snat_entries`.
    Snat,
}

impl Translation {
    /// `DNAT` / `SNAT`.
    pub fn label(self) -> &'static str {
        match self {
            Translation::Dnat => "DNAT",
            Translation::Snat => "SNAT",
        }
    }
}

/// An IPv4 TCP endpoint; JSON `{"addr": "10.123.1.1", "port": 80}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Address.
    pub addr: Ipv4Addr,
    /// Port.
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.addr, self.port)
    }
}

/// Source and destination of a TCP packet (the protocol is always TCP here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tuple {
    /// Source endpoint.
    pub src: Endpoint,
    /// Destination endpoint.
    pub dst: Endpoint,
}

/// A MAC address; JSON `"02:00:5e:10:00:01"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where the next hop came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum Fib {
    /// `bpf_fib_lookup` ran and returned `code` (`BPF_FIB_LKUP_RET_*`; negative: an error).
    Lookup {
        /// The result code.
        code: i64,
        /// Its name (`success`, `no_neigh`, ...); `None` for a code this build does not know.
        name: Option<&'static str>,
    },
    /// The next-hop cache answered (`fib_cache_ms`); the lookup did not run.
    Cache,
}

/// The names of `bpf_fib_lookup` results 0..=9 (`BPF_FIB_LKUP_RET_*`, lower case).
pub const FIB_RESULT_NAMES: [&str; 10] = [
    "success",
    "blackhole",
    "unreachable",
    "prohibit",
    "not_fwded",
    "fwd_disabled",
    "unsupp_lwt",
    "no_neigh",
    "frag_needed",
    "no_src_addr",
];

/// The name of `bpf_fib_lookup` result `code`, if it is one of [`FIB_RESULT_NAMES`].
pub fn fib_result_name(code: i64) -> Option<&'static str> {
    usize::try_from(code)
        .ok()
        .and_then(|i| FIB_RESULT_NAMES.get(i).copied())
}

/// The next hop the lookup (or the cache) returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NextHop {
    /// Egress ifindex, in the forwarder's namespace (also the devmap key redirected to).
    pub ifindex: u32,
    /// Source MAC (the egress interface's).
    pub smac: Mac,
    /// Destination MAC (the neighbour's).
    pub dmac: Mac,
}

/// What the program returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// `XDP_REDIRECT` to the next hop's ifindex.
    Redirect,
    /// `XDP_PASS`: the stack gets it (see [`Decision::reason`]).
    Pass,
    /// `XDP_DROP` (the route says so).
    Drop,
}

/// Why a packet was passed or dropped: the outcome counter it counts in (docs/forwarder.md,
/// Counters), by that counter's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No NAT entry for the packet.
    NoEntry,
    /// NAT entry, TTL <= 1: passed unmodified.
    TtlExceeded,
    /// NATed, egress interface not in the devmap.
    DevmapMiss,
    /// NATed, egress a bridge the forwarder serves, no port known for the next hop's MAC.
    PassedBridge,
    /// NATed, the lookup found no neighbour: the stack resolves it.
    NoNeigh,
    /// Lookup BLACKHOLE (drop).
    Blackhole,
    /// Lookup UNREACHABLE (drop).
    Unreachable,
    /// Lookup PROHIBIT (drop).
    Prohibit,
    /// Lookup NOT_FWDED (local): passed unmodified.
    NotFwded,
    /// Lookup FWD_DISABLED: passed unmodified.
    FwdDisabled,
    /// Lookup UNSUPP_LWT: passed unmodified.
    UnsuppLwt,
    /// Lookup FRAG_NEEDED: passed unmodified.
    FragNeeded,
    /// Lookup NO_SRC_ADDR: passed unmodified.
    NoSrcAddr,
    /// A lookup error or a result this program does not know: passed unmodified.
    FibError,
}

impl Reason {
    const ALL: [(Reason, &'static str); 14] = [
        (Reason::NoEntry, "no_entry"),
        (Reason::TtlExceeded, "ttl_exceeded"),
        (Reason::DevmapMiss, "devmap_miss"),
        (Reason::PassedBridge, "passed_bridge"),
        (Reason::NoNeigh, "no_neigh"),
        (Reason::Blackhole, "blackhole"),
        (Reason::Unreachable, "unreachable"),
        (Reason::Prohibit, "prohibit"),
        (Reason::NotFwded, "not_fwded"),
        (Reason::FwdDisabled, "fwd_disabled"),
        (Reason::UnsuppLwt, "unsupp_lwt"),
        (Reason::FragNeeded, "frag_needed"),
        (Reason::NoSrcAddr, "no_src_addr"),
        (Reason::FibError, "fib_error"),
    ];

    /// The word in the record and in JSON.
    pub fn as_str(self) -> &'static str {
        Reason::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }

    fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.iter().find(|(_, n)| *n == s).map(|(r, _)| *r)
    }
}

/// One decision of the forwarder about one packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The interface the packet arrived on (ifindex in the forwarder's namespace).
    pub ingress_ifindex: u32,
    /// DNAT (external interface) or SNAT (internal).
    pub translation: Translation,
    /// The packet as it arrived.
    pub received: Tuple,
    /// The NAT lookup's result: the endpoint the entry translates to; `None`: no entry.
    pub nat: Option<Endpoint>,
    /// The packet as the program left it (translated, or as received when it was passed
    /// unmodified).
    pub sent: Tuple,
    /// Whether and how the next hop was looked up (`None`: it was not: no entry, TTL).
    pub fib: Option<Fib>,
    /// The next hop, when the lookup (or the cache) found one.
    pub next_hop: Option<NextHop>,
    /// The bridge port redirected to, when the next hop is a bridge the forwarder serves
    /// (`port=`; the next hop's ifindex is then the bridge's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// What the program returned.
    pub verdict: Verdict,
    /// Why it passed or dropped (`None` for a redirect).
    pub reason: Option<Reason>,
}

impl Decision {
    /// Whether the program rewrote the packet (its tuple changed).
    pub fn translated(&self) -> bool {
        self.received != self.sent
    }

    /// The ifindex the packet was redirected to: the devmap key, the egress ifindex or, when
    /// that is a bridge the forwarder serves, the port behind the next hop's MAC.
    pub fn redirected_to(&self) -> Option<u32> {
        match (self.verdict, self.next_hop) {
            (Verdict::Redirect, Some(h)) => Some(self.port.unwrap_or(h.ifindex)),
            _ => None,
        }
    }

    /// Parses the message of a decision record (see the module documentation).
    pub fn parse(message: &str) -> Result<Decision> {
        let bad = |why: String| Error::invalid("forwarder decision record", why);
        let mut words: Vec<(&str, &str)> = Vec::new();
        for w in message.split_whitespace() {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| bad(format!("`{w}` is not key=value")))?;
            if words.iter().any(|(seen, _)| *seen == k) {
                return Err(bad(format!("`{k}` given twice")));
            }
            words.push((k, v));
        }
        let get = |k: &str| words.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let need = |k: &str| get(k).ok_or_else(|| bad(format!("no `{k}=` in `{message}`")));
        let endpoint = |k: &str| -> Result<Endpoint> {
            let v = need(k)?;
            let a: SocketAddrV4 = v
                .parse()
                .map_err(|_| bad(format!("{k}={v}: not an IPv4 address:port")))?;
            Ok(Endpoint {
                addr: *a.ip(),
                port: a.port(),
            })
        };
        let int = |k: &str| -> Result<u32> {
            let v = need(k)?;
            v.parse()
                .map_err(|_| bad(format!("{k}={v}: not an unsigned integer")))
        };
        let mac = |k: &str| -> Result<Mac> {
            let v = need(k)?;
            parse_mac(v).ok_or_else(|| bad(format!("{k}={v}: not a MAC address")))
        };

        let translation = match need("dir")? {
            "dnat" => Translation::Dnat,
            "snat" => Translation::Snat,
            v => return Err(bad(format!("dir={v}: not dnat or snat"))),
        };
        let nat = match need("nat")? {
            "none" => None,
            _ => Some(endpoint("nat")?),
        };
        let fib = match get("fib") {
            None => None,
            Some("cache") => Some(Fib::Cache),
            Some(v) => {
                let code: i64 = v
                    .parse()
                    .map_err(|_| bad(format!("fib={v}: not a result code")))?;
                Some(Fib::Lookup {
                    code,
                    name: fib_result_name(code),
                })
            }
        };
        let next_hop = match get("egress") {
            None => None,
            Some(_) => Some(NextHop {
                ifindex: int("egress")?,
                smac: mac("smac")?,
                dmac: mac("dmac")?,
            }),
        };
        let verdict = match need("verdict")? {
            "redirect" => Verdict::Redirect,
            "pass" => Verdict::Pass,
            "drop" => Verdict::Drop,
            v => return Err(bad(format!("verdict={v}: not redirect, pass or drop"))),
        };
        let reason = match get("reason") {
            None => None,
            Some(v) => Some(Reason::parse(v).ok_or_else(|| bad(format!("reason={v}: not known")))?),
        };
        if (verdict == Verdict::Redirect) == reason.is_some() {
            return Err(bad(format!(
                "verdict {verdict:?} {} a reason: `{message}`",
                if reason.is_some() { "with" } else { "without" }
            )));
        }
        if verdict == Verdict::Redirect && next_hop.is_none() {
            return Err(bad(format!("a redirect without egress: `{message}`")));
        }
        let known = [
            "ingress", "dir", "src", "dst", "nat", "new_src", "new_dst", "fib", "egress", "smac",
            "dmac", "port", "verdict", "reason",
        ];
        if let Some((k, _)) = words.iter().find(|(k, _)| !known.contains(k)) {
            return Err(bad(format!("unknown key `{k}` in `{message}`")));
        }
        Ok(Decision {
            ingress_ifindex: int("ingress")?,
            translation,
            received: Tuple {
                src: endpoint("src")?,
                dst: endpoint("dst")?,
            },
            nat,
            sent: Tuple {
                src: endpoint("new_src")?,
                dst: endpoint("new_dst")?,
            },
            fib,
            next_hop,
            port: match get("port") {
                None => None,
                Some(_) => Some(int("port")?),
            },
            verdict,
            reason,
        })
    }
}

/// `02:00:5e:10:00:01` (six pairs of hex digits, as aya-log's LowerMac hint prints them).
fn parse_mac(s: &str) -> Option<Mac> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(Mac(out))
}

#[cfg(test)]
mod tests;
