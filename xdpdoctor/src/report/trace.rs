//! Rendering a trace (`crate::trace`): each event and decision as a line of text or JSON, the
//! line that says what is traced, and the summary of the kernel's counts as a table or the
//! final `{"summary": ...}` line.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Table};
use serde::Serialize;

use super::{escape, Style};
use crate::forwarder::decision::{Fib, Translation, Verdict};
use crate::probes::decode::Names;
use crate::probes::Event;
use crate::trace::{Decided, DecisionLine, Item, PcapWritten, Scope, Summary};

/// A line of a trace and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A result (an event, a decision): stdout.
    Result(String),
    /// A note about the trace itself (a probe that attached late): stderr.
    Note(String),
}

/// One item as printed, text or JSON.
pub fn item(i: &Item, json: bool) -> Line {
    match i {
        Item::Attached(s) => Line::Note(
            escape::text(&format!(
                "probe {} ({}): module loaded: {}",
                s.name,
                s.kind.as_str(),
                if s.active {
                    "attached".to_string()
                } else {
                    s.reason.clone().unwrap_or_default()
                }
            ))
            .into_owned(),
        ),
        Item::Event(e) if json => Line::Result(to_json(e)),
        Item::Event(e) => Line::Result(event_line(e)),
        Item::Decision(d) if json => Line::Result(to_json(&DecisionJson { decision: d })),
        Item::Decision(DecisionLine::Decided(d)) => Line::Result(decision_line(d)),
        Item::Decision(DecisionLine::Unparsed(u)) => Line::Result(
            escape::text(&format!(
                "decision {} (not understood): {}",
                u.netns.as_deref().unwrap_or("?"),
                u.unparsed
            ))
            .into_owned(),
        ),
    }
}

#[derive(Serialize)]
struct DecisionJson<'a> {
    decision: &'a DecisionLine,
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    summary: &'a Summary,
}

fn to_json<T: Serialize>(v: &T) -> String {
    escape::json(serde_json::to_string(v).expect("trace lines serialize"))
}

/// `tracing namespace P-vm, with the decisions of ... for 5.0s; Ctrl-C to stop`.
pub fn banner(s: &Scope) -> String {
    let scope = if s.all_namespaces {
        "all namespaces".to_string()
    } else {
        format!("namespace {}", s.netns)
    };
    escape::text(&format!(
        "tracing {scope}{}{}; Ctrl-C to stop",
        s.decision_rate
            .map(|rate| format!(
                ", with the decisions of the forwarder in {} (at most {rate}/s per CPU)",
                s.netns
            ))
            .unwrap_or_default(),
        s.duration
            .map(|d| format!(" for {:.1}s", d.as_secs_f64()))
            .unwrap_or_default()
    ))
    .into_owned()
}

/// `wrote FILE: N event(s), M with packet bytes`.
pub fn pcap_written(p: &PcapWritten) -> String {
    let size = |b: u64| {
        if b < 1 << 20 {
            format!("{:.0} KiB", (b as f64 / 1024.0).ceil())
        } else {
            format!("{:.1} MiB", b as f64 / f64::from(1 << 20))
        }
    };
    let mut s = match (&p.error, p.bytes) {
        (Some(e), 0) => format!("--pcap {}: not written: {e}", p.path.display()),
        (_, bytes) => format!(
            "wrote {}: {} event(s), {} with packet bytes, {} (at most {})",
            p.path.display(),
            p.events,
            p.with_packet,
            size(bytes),
            size(p.limit)
        ),
    };
    if p.capped {
        s += &format!(
            "; size cap reached: {} more event(s) shown but not written (--pcap-limit)",
            p.not_written
        );
    } else if let (Some(e), true) = (&p.error, p.bytes > 0) {
        s += &format!(
            "; cut short: {e}; {} event(s) not written (the file stays readable)",
            p.not_written
        );
    }
    super::escape::text(&s).into_owned()
}

/// The summary as the last line of `--json`: `{"summary": ...}`.
pub fn summary_json(s: &Summary) -> String {
    to_json(&SummaryJson { summary: s })
}

/// The summary as text: the kernel's counts per namespace, interface, event and code (each
/// interface named in its own namespace), the notes, what the decision log did, and how
/// many events were shown.
pub fn summary_text(s: &Summary, names: &mut Names, interrupted: bool, st: Style) -> String {
    names.refresh();
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    if !st.color {
        t.force_no_tty();
    }
    t.set_header(vec![
        "namespace",
        "interface",
        "event",
        "code",
        "target",
        "count",
    ]);
    for g in &s.aggregates {
        let nsname = ns_name(names, g.netns_inode);
        // One resolver for events and counts: an interface is named in its own namespace
        // (a redirect target's is the target device's, which tp_btf reads).
        let ifn = |ns: u64, i: u32| {
            if i == 0 {
                return String::new();
            }
            let name = names
                .ifname(ns, i)
                .map(|n| format!("{} ({i})", escape::text(n)))
                .unwrap_or_else(|| format!("ifindex {i}"));
            if ns != g.netns_inode && ns != 0 {
                format!("{name} in {}", ns_name(names, ns))
            } else {
                name
            }
        };
        let target_ns = if g.target_netns_inode != 0 {
            g.target_netns_inode
        } else {
            g.netns_inode
        };
        t.add_row(vec![
            Cell::new(nsname),
            Cell::new(ifn(g.netns_inode, g.ifindex)),
            Cell::new(g.kind),
            Cell::new(format!("{} ({})", g.code_name, g.code)),
            Cell::new(ifn(target_ns, g.target_ifindex)),
            Cell::new(g.count),
        ]);
    }
    let mut out = format!("{t}\n");
    for n in &s.notes {
        out += &format!("note: {}\n", escape::text(n));
    }
    if let Some(p) = &s.pcap {
        out += &pcap_written(p);
        out.push('\n');
    }
    if let Some(d) = &s.decisions {
        out += &format!(
            "{} decision(s) shown; the forwarder's log wrote {} and refused {} (rate limit \
             {}/s per CPU), {} lost for a full ring; log turned off\n",
            d.shown, d.stats.allowed, d.stats.limited, d.rate, d.stats.lost
        );
    }
    out += &format!(
        "{} event(s) shown, {} lost (the counts above include lost events){}",
        s.events_seen,
        s.lost,
        if interrupted { "; interrupted" } else { "" }
    );
    out
}

fn ns_name(names: &Names, inode: u64) -> String {
    match names.netns_name(inode) {
        Some(n) => escape::text(n).into_owned(),
        None if inode == 0 => "(unknown)".into(),
        None => format!("netns {inode}"),
    }
}

/// One event as a line of text.
pub fn event_line(e: &Event) -> String {
    let dev = |ns: &Option<String>, ino: u64, name: &Option<String>, idx: u32| {
        let n = name.clone().unwrap_or_else(|| format!("ifindex {idx}"));
        match ns {
            Some(ns) => format!("{n}@{ns}"),
            None if ino != 0 => format!("{n}@netns {ino}"),
            None => n,
        }
    };
    let mut s = format!(
        "{:<13} {:<10} {}",
        e.kind.as_str(),
        e.probe,
        dev(&e.netns, e.netns_inode, &e.ifname, e.ifindex)
    );
    if e.target_ifindex != 0 {
        s.push_str(&format!(
            " -> {}",
            dev(
                &e.target_netns,
                e.target_netns_inode,
                &e.target_ifname,
                e.target_ifindex
            )
        ));
    }
    s.push_str(&format!(" {} ({})", e.code_name, e.code));
    if e.drops != 0 || e.sent != 0 {
        s.push_str(&format!(" sent={} drops={}", e.sent, e.drops));
    }
    if let Some(p) = &e.prog {
        s.push_str(&format!(" prog {} [{p}]", e.prog_id));
    } else if e.prog_id != 0 {
        s.push_str(&format!(" prog {}", e.prog_id));
    }
    if let Some(p) = &e.packet {
        match p.summary() {
            Some(sum) => s.push_str(&format!(" | {sum}, {} B", p.len)),
            None => s.push_str(&format!(" | packet {} B", p.len)),
        }
    }
    escape::text(&s).into_owned()
}

/// `decision P-vm eth0: 192.168.9.1:8080 <- 10.99.0.2:40000 DNAT -> 10.123.1.1:80 fib success
/// -> redirect ve-m1 (4) [02:..:01 -> 02:..:02]`: the translated endpoint first.
pub fn decision_line(v: &Decided) -> String {
    let d = &v.decision;
    let named = |i: u32| {
        if i == d.ingress_ifindex {
            v.ingress.clone()
        } else if d.next_hop.is_some_and(|h| h.ifindex == i) {
            v.egress.clone()
        } else {
            None
        }
    };
    let dev = |i: u32| match named(i) {
        Some(n) => format!("{n} ({i})"),
        None => format!("ifindex {i}"),
    };
    let mut s = format!(
        "decision {} {}: ",
        v.netns.as_deref().unwrap_or("?"),
        v.ingress
            .clone()
            .unwrap_or_else(|| format!("ifindex {}", d.ingress_ifindex))
    );
    let r = d.received;
    s.push_str(&match d.translation {
        Translation::Dnat => format!("{} <- {} DNAT", r.dst, r.src),
        Translation::Snat => format!("{} -> {} SNAT", r.src, r.dst),
    });
    match d.nat {
        Some(to) => s.push_str(&format!(" -> {to}")),
        None => s.push_str(": no entry"),
    }
    match d.fib {
        Some(Fib::Lookup { name: Some(n), .. }) => {
            s.push_str(&format!(" fib {}", n.replace('_', " ")))
        }
        Some(Fib::Lookup { code, name: None }) => s.push_str(&format!(" fib {code}")),
        Some(Fib::Cache) => s.push_str(" fib cache"),
        None => {}
    }
    match (d.verdict, d.next_hop) {
        (Verdict::Redirect, Some(h)) => match d.port {
            // The FIB answered a bridge; the packet went to the port behind the MAC.
            Some(p) => s.push_str(&format!(
                " -> redirect port {} of {}",
                match &v.port {
                    Some(n) => format!("{n} ({p})"),
                    None => format!("ifindex {p}"),
                },
                dev(h.ifindex)
            )),
            None => s.push_str(&format!(" -> redirect {}", dev(h.ifindex))),
        },
        (verdict, hop) => {
            let what = if verdict == Verdict::Drop {
                "drop"
            } else {
                "pass"
            };
            let why = d.reason.map(|r| r.as_str()).unwrap_or("?");
            s.push_str(&format!(" -> {what}: {why}"));
            if let Some(h) = hop {
                s.push_str(&format!(" (egress {})", dev(h.ifindex)));
            }
        }
    }
    if let Some(h) = d.next_hop {
        s.push_str(&format!(" [{} -> {}]", h.smac, h.dmac));
    }
    escape::text(&s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forwarder::decision::Decision;

    fn decided(text: &str, ingress: Option<&str>, egress: Option<&str>) -> Decided {
        Decided {
            netns: Some("P-vm".into()),
            netns_inode: 1,
            ingress: ingress.map(str::to_string),
            egress: egress.map(str::to_string),
            port: None,
            decision: Decision::parse(text).unwrap(),
            message: text.into(),
        }
    }

    #[test]
    fn lines_lead_with_the_translated_endpoint() {
        let d = decided(
            "ingress=2 dir=dnat src=10.99.0.2:40000 dst=192.168.9.1:8080 nat=10.123.1.1:80 \
             new_src=10.99.0.2:40000 new_dst=10.123.1.1:80 fib=0 egress=4 \
             smac=02:00:00:00:00:01 dmac=02:00:00:00:00:02 verdict=redirect",
            Some("eth0"),
            Some("ve-m1"),
        );
        assert_eq!(
            decision_line(&d),
            "decision P-vm eth0: 192.168.9.1:8080 <- 10.99.0.2:40000 DNAT -> 10.123.1.1:80 \
             fib success -> redirect ve-m1 (4) [02:00:00:00:00:01 -> 02:00:00:00:00:02]"
        );
        let d = decided(
            "ingress=4 dir=snat src=10.123.1.1:80 dst=10.99.0.2:40000 nat=none \
             new_src=10.123.1.1:80 new_dst=10.99.0.2:40000 verdict=pass reason=no_entry",
            Some("ve-m1"),
            None,
        );
        assert_eq!(
            decision_line(&d),
            "decision P-vm ve-m1: 10.123.1.1:80 -> 10.99.0.2:40000 SNAT: no entry -> pass: no_entry"
        );
    }

    /// A redirect past a bridge names the port chosen and the bridge the FIB answered.
    #[test]
    fn bridge_port_redirects_name_the_port() {
        let mut d = decided(
            "ingress=9 dir=dnat src=10.213.0.254:40000 dst=10.213.0.1:8080 nat=172.21.0.2:80 \
             new_src=10.213.0.254:40000 new_dst=172.21.0.2:80 fib=0 egress=7 \
             smac=02:00:00:00:00:01 dmac=02:42:ac:15:00:02 port=5 verdict=redirect",
            Some("xq-x"),
            Some("xq-br"),
        );
        d.port = Some("veth1d06e76".into());
        assert_eq!(d.decision.redirected_to(), Some(5));
        assert_eq!(
            decision_line(&d),
            "decision P-vm xq-x: 10.213.0.1:8080 <- 10.213.0.254:40000 DNAT -> 172.21.0.2:80 \
             fib success -> redirect port veth1d06e76 (5) of xq-br (7) \
             [02:00:00:00:00:01 -> 02:42:ac:15:00:02]"
        );
    }
}
