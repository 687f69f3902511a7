//! `xdpdoctor status [--json]`: every XDP program attached in the namespace (whoever loaded
//! it), its attach mode and maps, the devmap targets with the namespaces behind them, and,
//! when xdpdoctor deployed the forwarder here, its attachments, NAT entries, counters and
//! whether its decision log is on (it should be off unless `trace --decisions` runs).

use anyhow::{Context, Result};
use comfy_table::Cell;
use serde::Serialize;
use xdpdoctor::decisions::{Control, Stats};
use xdpdoctor::forwarder::ForwarderStatus;
use xdpdoctor::netns::Netns;
use xdpdoctor::snapshot::{self, Snapshot};
use xdpdoctor::xdp::{Owner, RedirectKind, XdpView};

use super::output::{bad, cell, good, print_json, row, table};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct StatusOut<'a> {
    netns: &'a str,
    netns_inode: u64,
    xdp: &'a XdpView,
    /// The forwarder xdpdoctor deployed here (null: none).
    forwarder: Option<&'a ForwarderStatus>,
    /// Its decision log's switch and record counters (null: no forwarder, or one deployed
    /// without the log).
    decision_log: Option<DecisionLogStatus>,
}

/// The decision log's state, as `status` shows it.
#[derive(Serialize)]
struct DecisionLogStatus {
    /// On: records of `level` and more severe are written.
    on: bool,
    level: Option<String>,
    /// Records per second per CPU, and the burst.
    rate: u64,
    burst: u64,
    /// Since the forwarder was deployed, summed over CPUs.
    stats: Stats,
}

fn decision_log(f: &ForwarderStatus) -> Option<DecisionLogStatus> {
    let read = || -> xdpdoctor::Result<DecisionLogStatus> {
        let c = Control::from_pins(std::path::Path::new(&f.pin_dir))?;
        let s = c.settings()?;
        Ok(DecisionLogStatus {
            on: s.level.is_some(),
            level: s.level.map(|l| l.as_str().to_lowercase()),
            rate: s.rate,
            burst: s.burst,
            stats: c.stats()?,
        })
    };
    read()
        .inspect_err(|e| log::info!("decision log of the forwarder: {e}"))
        .ok()
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    let s = snapshot::take(ns, None)
        .with_context(|| format!("reading the XDP programs in namespace {ns}"))?;
    let log = s.forwarder.as_ref().and_then(decision_log);
    if a.json {
        print_json(&StatusOut {
            netns: &s.home().ns.name,
            netns_inode: s.netns_inode,
            xdp: &s.xdp,
            forwarder: s.forwarder.as_ref(),
            decision_log: log,
        })?;
        return Ok(super::EXIT_OK);
    }
    print_xdp(&s);
    if let Some(f) = &s.forwarder {
        print_forwarder(f);
        match &log {
            Some(l) if l.on => println!(
                "decision log: {} (up to {}, {}/s per CPU, burst {}): a `trace --decisions` or \
                 diagnosis reads it, or one was killed before turning it off (the next one \
                 turns it off when it ends)",
                bad("on"),
                l.level.as_deref().unwrap_or("?"),
                l.rate,
                l.burst
            ),
            Some(l) => println!(
                "decision log: off ({} record(s) written since deploy)",
                l.stats.allowed
            ),
            None => println!("decision log: none (deployed by an xdpdoctor without it)"),
        }
    }
    Ok(super::EXIT_OK)
}

fn owner(o: Owner) -> &'static str {
    match o {
        Owner::Forwarder => "xdpdoctor forwarder",
        Owner::Fix => "xdpdoctor fix",
        Owner::Foreign => "not xdpdoctor",
    }
}

fn print_xdp(s: &Snapshot) {
    let x = &s.xdp;
    println!(
        "XDP in {} (netns inode {})",
        super::output::esc(&s.home().ns.name),
        s.netns_inode
    );
    let mut t = table(&[
        "interface",
        "mode",
        "program",
        "name",
        "tag",
        "loaded by",
        "maps",
    ]);
    for at in &x.attachments {
        let p = x.program(at.prog_id);
        t.add_row(vec![
            cell(format!("{} ({})", at.ifname, at.ifindex)),
            cell(format!("{:?}", at.mode).to_lowercase()),
            cell(at.prog_id),
            cell(p.map(|p| p.name.as_str()).unwrap_or("?")),
            cell(p.map(|p| p.tag.as_str()).unwrap_or("?")),
            cell(p.map(|p| owner(p.owner)).unwrap_or("?")),
            cell(p.map(|p| format!("{:?}", p.map_ids)).unwrap_or_default()),
        ]);
    }
    println!("{t}");
    for p in &x.programs {
        let tg = x.targets_of(p.id);
        if tg.unknown && x.attachments.iter().any(|a| a.prog_id == p.id) {
            println!(
                "program {} ({}): no redirect map; if it redirects, it calls bpf_redirect() and \
                 its targets show only in `xdpdoctor trace`",
                p.id,
                super::output::esc(&p.name)
            );
        }
    }
    let home = s.home();
    let mut t = table(&["map", "kind", "key", "target", "behind it"]);
    for m in &x.maps {
        for e in &m.entries {
            let (target, behind) = match m.kind {
                RedirectKind::Devmap | RedirectKind::DevmapHash => match home.iface(e.value) {
                    Some(i) => (
                        format!("{} ({})", i.name(), e.value),
                        s.peer_of(i)
                            .map(|(pns, pi)| pns.ns.at(pi.name()))
                            .unwrap_or_default(),
                    ),
                    None => (
                        format!("ifindex {} (not in {})", e.value, home.ns.name),
                        String::new(),
                    ),
                },
                RedirectKind::Cpumap => {
                    (format!("cpu {} (queue {})", e.key, e.value), String::new())
                }
                RedirectKind::Xskmap => ("AF_XDP socket".into(), String::new()),
            };
            t.add_row(vec![
                cell(format!("{} ({})", m.name, m.id)),
                cell(format!("{:?}", m.kind).to_lowercase()),
                cell(e.key),
                cell(target),
                cell(behind),
            ]);
        }
        if m.kind == RedirectKind::Xskmap {
            t.add_row(vec![
                cell(format!("{} ({})", m.name, m.id)),
                cell("xskmap"),
                cell("-"),
                cell("AF_XDP sockets (not readable)"),
                cell(""),
            ]);
        }
    }
    if !x.maps.is_empty() {
        println!("{t}");
        if x.maps
            .iter()
            .any(|m| matches!(m.kind, RedirectKind::Devmap | RedirectKind::DevmapHash))
        {
            println!(
                "note: a devmap holds each target as an ifindex resolved in the namespace of \
                 whoever wrote the entry; the kernel does not say which namespace that was. A \
                 target named here is this namespace's interface of that number: written from \
                 another namespace, the entry leads to that namespace's device instead \
                 (`xdpdoctor trace --redirects` shows where packets go)."
            );
        }
    }
    for n in &x.notes {
        println!("note: {}", super::output::esc(n));
    }
}

fn print_forwarder(st: &ForwarderStatus) {
    println!(
        "\nxdpdoctor forwarder, {:?} mode, TCP checksum: {}",
        st.mode,
        if st.full_checksum {
            "full recomputation"
        } else {
            "incremental"
        }
    );
    if let Some(c) = &st.config_file {
        println!("config: {}", super::output::esc(c));
    }
    let mut t = table(&["interface", "ifindex", "role", "program", "attached"]);
    for i in &st.interfaces {
        let att = if i.attached {
            good("yes")
        } else {
            bad(&format!(
                "no (now: {})",
                i.attached_prog_id
                    .map(|p| format!("prog {p}"))
                    .unwrap_or("none".into())
            ))
        };
        t.add_row(vec![
            cell(&i.name),
            cell(i.ifindex),
            cell(i.role),
            cell(i.prog_id),
            Cell::new(att),
        ]);
    }
    println!("{t}");
    let mut t = table(&["dnat: from", "to", "snat: reply from", "becomes"]);
    let n = st.dnat.len().max(st.snat.len());
    for k in 0..n {
        let d = st.dnat.get(k);
        let s = st.snat.get(k);
        t.add_row(row(vec![
            d.map(|e| e.key.to_string()).unwrap_or_default(),
            d.map(|e| e.value.to_string()).unwrap_or_default(),
            s.map(|e| e.key.to_string()).unwrap_or_default(),
            s.map(|e| e.value.to_string()).unwrap_or_default(),
        ]));
    }
    println!("{t}");
    let mut t = table(&["counter", "packets"]);
    for (name, v) in st.counters.iter().filter(|(_, v)| *v > 0) {
        t.add_row(vec![cell(name), cell(v)]);
    }
    println!("{t}");
    print_bridges(st);
}

/// The bridges served and their port map; `passed_bridge` explained when it moved.
fn print_bridges(st: &ForwarderStatus) {
    if st.bridges.is_empty() {
        return;
    }
    let name = |i: u32| {
        st.interfaces
            .iter()
            .find(|x| x.ifindex == i)
            .map(|x| format!("{} ({i})", x.name))
            .unwrap_or_else(|| format!("ifindex {i}"))
    };
    let mut t = table(&["bridge served", "MAC", "redirected to port"]);
    for b in &st.bridges {
        let ports: Vec<_> = st.bridge_ports.iter().filter(|p| p.0 == *b).collect();
        if ports.is_empty() {
            t.add_row(row(vec![name(*b), "(none known)".into(), String::new()]));
        }
        for (_, mac, port) in ports {
            t.add_row(row(vec![name(*b), mac.clone(), name(*port)]));
        }
    }
    println!("{t}");
    let passed = st.counter(xdpdoctor::bpf::forwarder_abi::Counter::PassedBridge);
    if passed > 0 {
        println!(
            "note: {passed} packet(s) to a served bridge went to the stack (passed_bridge): \
             their next hop's MAC had no known port (a container started after the last sync; \
             `xdpdoctor follow` keeps the map current)"
        );
    }
}
