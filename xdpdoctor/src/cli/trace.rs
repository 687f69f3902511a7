//! `xdpdoctor trace [--netns NAME|PATH] [--all-netns] [--duration S] [--json] [--redirects]
//! [--pcap FILE] [--without KIND]... [--decisions [--decision-rate N]]`
//!
//! Prints the probe report (stderr), then a live stream of decoded events (stdout; one JSON
//! object per line with `--json`), then a summary of the kernel's counts when the duration
//! ends or on Ctrl-C (with `--json`: one last line `{"summary": ...}`). With `--pcap FILE`
//! every event shown is also written to FILE as pcapng (`probes::pcap`): the packet bytes
//! the skb probes copied, a comment naming probe, place and reason. With `--decisions`, the
//! decisions of the forwarder deployed in the namespace are printed among the events
//! (`trace/decisions.rs`); its log is on only while the trace runs. The probes are detached
//! and the log turned off when the command returns, whatever the path.

mod decisions;

use std::io::BufWriter;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use comfy_table::Cell;
use serde::Serialize;
use xdpdoctor::netns::Netns;
use xdpdoctor::probes::pcap::EventWriter;
use xdpdoctor::probes::{Aggregate, Event, Filter, ProbeKind, ProbeOptions, ProbeSet, ProbeStatus};

use super::output::table;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Watch every namespace (the default unless the global --netns names one).
    #[arg(long)]
    pub all_netns: bool,
    /// Stop after S seconds (default: until Ctrl-C).
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
    /// One JSON object per event and a final `{"summary": ...}` line.
    #[arg(long)]
    pub json: bool,
    /// Also count successful redirects (summary only; it fires for every redirected packet):
    /// shows where programs send packets, and redirects into another namespace.
    #[arg(long)]
    pub redirects: bool,
    /// Also write every event to FILE as pcapng: the first bytes of the packet where the probe
    /// can reach it (kfree_skb, tcp_bad_csum), and a comment naming probe, namespace,
    /// interface and reason (xdp events: the comment only, they carry no packet data).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Do not use probes of this kind (fexit, kretprobe, tp_btf, tracepoint): the next
    /// variant in preference order runs, as on a kernel that refuses KIND.
    #[arg(long, value_name = "KIND", value_enum)]
    pub without: Vec<Without>,
    /// Also print what the forwarder xdpdoctor deployed in the namespace (--netns, default
    /// the current one) decided for each packet: addresses before and after NAT, the FIB
    /// lookup's result and next hop, the verdict. Turns its decision log on for the length of
    /// the trace and off again on exit.
    #[arg(long)]
    pub decisions: bool,
    /// With --decisions: at most N decision records per second per CPU (the forwarder's
    /// token bucket; burst 100).
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "decisions")]
    pub decision_rate: u64,
}

/// The probe kinds `--without` can leave out (clap's names are the kinds' own).
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Without {
    /// fexit (through BTF).
    Fexit,
    /// The kprobe/kretprobe pair.
    Kretprobe,
    /// BTF-typed tracepoints.
    #[value(name = "tp_btf")]
    TpBtf,
    /// Classic tracepoints.
    Tracepoint,
}

impl From<Without> for ProbeKind {
    fn from(w: Without) -> Self {
        match w {
            Without::Fexit => ProbeKind::Fexit,
            Without::Kretprobe => ProbeKind::Kretprobe,
            Without::TpBtf => ProbeKind::TpBtf,
            Without::Tracepoint => ProbeKind::Tracepoint,
        }
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    probes: &'a [ProbeStatus],
    aggregates: &'a [Aggregate],
    lost: u64,
    events_seen: u64,
    /// Explanations of what the counts cannot say themselves (a probe that saw nothing).
    notes: Vec<String>,
    /// With --decisions: records shown and what the forwarder's rate limit did.
    #[serde(skip_serializing_if = "Option::is_none")]
    decisions: Option<&'a decisions::DecisionSummary>,
}

#[derive(Serialize)]
struct SummaryLine<'a> {
    summary: Summary<'a>,
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    let duration = match a.duration {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            anyhow::bail!("--duration {s}: must be a positive number of seconds")
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let filter = if a.all_netns || *ns == Netns::current() {
        Filter::all()
    } else {
        let ino = ns
            .inode()
            .with_context(|| format!("--netns {ns}: cannot find the namespace"))?;
        Filter::netns(ino)
    };

    // veth_xdp_xmit before the first veth exists (veth as a module): attach it when it loads.
    let opts = ProbeOptions {
        redirects: a.redirects,
        wait_for_modules: true,
        exclude: a.without.iter().map(|&k| k.into()).collect(),
    };
    let mut pcap = match &a.pcap {
        Some(p) => {
            let f = std::fs::File::create(p).with_context(|| format!("--pcap {}", p.display()))?;
            Some(
                EventWriter::new(BufWriter::new(f))
                    .with_context(|| format!("--pcap {}", p.display()))?,
            )
        }
        None => None,
    };
    // Checked before the probes load: a bad rate, no forwarder of ours here, or another
    // reader of its log (exit 2).
    let deployment = if a.decisions {
        xdpdoctor::decisions::Settings {
            rate: a.decision_rate,
            ..Default::default()
        }
        .validate()
        .context("--decision-rate")?;
        Some(decisions::Decisions::reserve(ns)?)
    } else {
        None
    };
    let mut set = ProbeSet::attach_with(&filter, &opts).context("loading the probes")?;
    // On from here to the end; the session inside turns it off on every way out.
    let mut decisions = deployment
        .map(|reserved| decisions::Decisions::open(ns, reserved, a.decision_rate))
        .transpose()?;
    let report = set.report();
    let scope = if filter.netns_inodes.is_empty() {
        "all namespaces".to_string()
    } else {
        format!("namespace {ns}")
    };
    eprintln!("{}", super::probes::render(&report));
    eprintln!(
        "tracing {scope}{}{}; Ctrl-C to stop",
        if decisions.is_some() {
            format!(
                ", with the decisions of the forwarder in {ns} (at most {}/s per CPU)",
                a.decision_rate
            )
        } else {
            String::new()
        },
        duration
            .map(|d| format!(" for {:.1}s", d.as_secs_f64()))
            .unwrap_or_default()
    );

    let start = Instant::now();
    let mut seen = 0u64;
    let mut with_packet = 0u64;
    let mut modules_checked = Instant::now();
    while !xdpdoctor::cancel::interrupted() {
        if modules_checked.elapsed() >= Duration::from_secs(1) {
            modules_checked = Instant::now();
            for s in set.attach_pending() {
                let how = if s.active {
                    "attached".to_string()
                } else {
                    s.reason.clone().unwrap_or_default()
                };
                eprintln!(
                    "probe {} ({}): module loaded: {how}",
                    s.name,
                    s.kind.as_str()
                );
            }
        }
        let left = match duration {
            Some(d) => match d.checked_sub(start.elapsed()) {
                Some(l) if !l.is_zero() => l,
                _ => break,
            },
            None => Duration::from_millis(200),
        };
        let wait = left.min(Duration::from_millis(200));
        let events = match decisions.as_mut() {
            None => set.poll_events(wait)?,
            Some(d) => {
                // Wait on both rings. The program writes its decision before the kernel acts
                // on the verdict, so draining the events first and the decisions second
                // finds the decision of every event drained: printed first, as it happened.
                wait_readable(
                    &[set.as_fd().as_raw_fd(), d.session().as_fd().as_raw_fd()],
                    wait,
                );
                let events = set.poll_events(Duration::ZERO)?;
                d.print_pending(set.names(), a.json)?;
                events
            }
        };
        for ev in events {
            seen += 1;
            if let (Some(w), Some(p)) = (pcap.as_mut(), &a.pcap) {
                if ev.packet.is_some() {
                    with_packet += 1;
                }
                w.write(&ev)
                    .with_context(|| format!("writing --pcap {}", p.display()))?;
            }
            if a.json {
                println!("{}", serde_json::to_string(&ev)?);
            } else {
                println!("{}", line(&ev));
            }
        }
    }

    let decision_summary = match decisions.take() {
        Some(d) => Some(d.finish(set.names(), a.json)?),
        None => None,
    };
    if let (Some(w), Some(p)) = (pcap.take(), &a.pcap) {
        let n = w.written();
        w.finish()
            .and_then(|b| b.into_inner().map_err(|e| e.into_error()))
            .with_context(|| format!("writing --pcap {}", p.display()))?;
        eprintln!(
            "wrote {}: {n} event(s), {with_packet} with packet bytes",
            p.display()
        );
    }
    let aggregates = set.aggregates()?;
    let lost = set.lost();
    // Probes attached late (their module loaded during the trace) are in the final report.
    let report = set.report();
    let notes: Vec<String> = xdpdoctor::probes::veth::silence_note(&report, &aggregates)
        .into_iter()
        .collect();
    if a.json {
        let s = SummaryLine {
            summary: Summary {
                probes: &report,
                aggregates: &aggregates,
                lost,
                events_seen: seen,
                notes: notes.clone(),
                decisions: decision_summary.as_ref(),
            },
        };
        println!("{}", serde_json::to_string(&s)?);
    } else {
        let names = set.names();
        names.refresh();
        let mut t = table(&["namespace", "interface", "event", "code", "target", "count"]);
        for g in &aggregates {
            let nsname = names
                .netns_name(g.netns_inode)
                .map(str::to_string)
                .unwrap_or_else(|| ns_label(g.netns_inode));
            // One resolver for events and counts: an interface is named in its own namespace
            // (a redirect target's is the target device's, which tp_btf reads).
            let ifn = |ns: u64, i: u32| {
                if i == 0 {
                    String::new()
                } else {
                    let name = names
                        .ifname(ns, i)
                        .map(|n| format!("{n} ({i})"))
                        .unwrap_or_else(|| format!("ifindex {i}"));
                    if ns != g.netns_inode && ns != 0 {
                        let other = names
                            .netns_name(ns)
                            .map(str::to_string)
                            .unwrap_or_else(|| ns_label(ns));
                        format!("{name} in {other}")
                    } else {
                        name
                    }
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
        println!("{t}");
        for n in &notes {
            println!("note: {n}");
        }
        if let Some(d) = &decision_summary {
            println!(
                "{} decision(s) shown; the forwarder's log wrote {} and refused {} (rate limit \
                 {}/s per CPU), {} lost for a full ring; log turned off",
                d.shown, d.stats.allowed, d.stats.limited, d.rate, d.stats.lost
            );
        }
        println!(
            "{seen} event(s) shown, {lost} lost (the counts above include lost events){}",
            if xdpdoctor::cancel::interrupted() {
                "; interrupted"
            } else {
                ""
            }
        );
    }
    drop(set);
    Ok(super::EXIT_OK)
}

/// Waits until one of `fds` is readable or `timeout` passes (EINTR counts as the end).
fn wait_readable(fds: &[i32], timeout: Duration) {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `p` holds p.len() valid pollfds for the duration of the call.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
}

fn ns_label(inode: u64) -> String {
    if inode == 0 {
        "(unknown)".into()
    } else {
        format!("netns {inode}")
    }
}

/// One event as a line of text.
fn line(e: &Event) -> String {
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
    s
}
