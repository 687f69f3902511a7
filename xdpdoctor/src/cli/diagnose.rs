//! `xdpdoctor diagnose`: snapshot -> evidence -> rules -> report.
//!
//! Exit codes: 0 healthy, 1 findings, 2 could not diagnose (docs/diagnose.md).
#![allow(clippy::print_stdout, clippy::print_stderr)] // the CLI prints; the library never does

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use xdpdoctor::capture::Keep;
use xdpdoctor::diagnose::evidence::TrafficSource;
use xdpdoctor::diagnose::{self, ObserveOptions, Report};
use xdpdoctor::forwarder::ForwarderConfig;
use xdpdoctor::lab::LabClient;
use xdpdoctor::netns::Netns;
use xdpdoctor::progress::Progress;
use xdpdoctor::report::{self, Style};
use xdpdoctor::snapshot::{NatHint, Snapshot};

use super::progress::Bar;

/// Options of the observation window, shared by `diagnose` and `check`.
#[derive(clap::Args, Debug, Clone)]
pub struct ObserveArgs {
    /// Seconds to observe (probes, captures, counters, lab traffic); 0 = static only.
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    pub observe: f64,
    /// Lab whose client makes traffic during the window (default: the lab that owns the
    /// forwarder's namespace, if any; otherwise the window is passive).
    #[arg(long, value_name = "PREFIX")]
    pub lab: Option<String>,
    /// Make no traffic, even in a lab.
    #[arg(long)]
    pub no_traffic: bool,
    /// Do not attach tracing probes.
    #[arg(long)]
    pub no_probes: bool,
    /// Do not read the decision log of xdpdoctor's forwarder during the window (by default
    /// it is on for the window only, rate-limited, and off again after).
    #[arg(long)]
    pub no_decisions: bool,
    /// Write the packets the window captured to DIR as pcapng (one file per diagnosed
    /// namespace, one interface per capture point, each packet's checksum verdict as a comment).
    #[arg(long, value_name = "DIR")]
    pub pcap: Option<PathBuf>,
}

impl ObserveArgs {
    /// The window for a diagnosis of namespace `ns`: traffic from `--lab`'s client, or from
    /// the client of the lab whose forwarder runs in `ns`, unless `--no-traffic`.
    pub fn options(&self, ns: &Netns, progress: Progress) -> Result<ObserveOptions> {
        anyhow::ensure!(
            self.observe.is_finite() && (0.0..=600.0).contains(&self.observe),
            "--observe {}: use 0 to 600 seconds",
            self.observe
        );
        let traffic: Option<Arc<dyn TrafficSource>> = match (&self.lab, self.no_traffic) {
            (_, true) => None,
            (Some(p), false) => Some(Arc::new(LabClient::of_prefix(p)?)),
            (None, false) => ns
                .inode()
                .ok()
                .and_then(LabClient::of_forwarder_netns)
                .map(|c| Arc::new(c) as Arc<dyn TrafficSource>),
        };
        Ok(ObserveOptions {
            window: Duration::from_secs_f64(self.observe),
            traffic,
            probes: !self.no_probes,
            decisions: !self.no_decisions,
            keep_packets: self.pcap.is_some().then_some(Keep::DEFAULT),
            progress,
            ..Default::default()
        })
    }

    /// `--pcap DIR`: writes the window's captures of `r` into DIR (created if missing) and
    /// says what it wrote on stderr (stdout is for results).
    pub fn write_pcap(&self, r: &Report) -> Result<()> {
        let Some(dir) = &self.pcap else {
            return Ok(());
        };
        std::fs::create_dir_all(dir).with_context(|| format!("--pcap {}", dir.display()))?;
        let name = &r.snapshot.home().ns.name;
        let path = dir.join(diagnose::evidence::pcap_file_name(name));
        match diagnose::evidence::write_pcapng(&r.evidence, &path)? {
            Some(f) => eprintln!(
                "wrote {}: {} packet(s) from {} capture point(s){}",
                f.path.display(),
                f.packets,
                f.interfaces,
                if f.not_kept > 0 {
                    format!(" ({} more not kept: bounds reached)", f.not_kept)
                } else {
                    String::new()
                }
            ),
            None => eprintln!(
                "--pcap: nothing captured in {name}'s window (no capture point: {}), no file written",
                if r.evidence.window_ms == 0 {
                    "static diagnosis"
                } else {
                    "no redirect target with a peer in another namespace"
                }
            ),
        }
        Ok(())
    }
}

/// Which XDP deployment to diagnose, shared by `diagnose`, `check`, `fix` and `snapshot`.
#[derive(clap::Args, Debug, Clone)]
pub struct NatArgs {
    /// NAT config of an XDP program xdpdoctor did not deploy, in the seed's format
    /// (`interfaces.external/internal`, `entries[].from/to`): names the entries on the paths.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl NatArgs {
    /// The parsed config, if one was given.
    pub fn hint(&self) -> Result<Option<NatHint>> {
        self.config
            .as_ref()
            .map(|p| {
                let config = ForwarderConfig::load(p)
                    .with_context(|| format!("reading --config {}", p.display()))?;
                Ok(NatHint {
                    file: p.clone(),
                    config,
                })
            })
            .transpose()
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub observe: ObserveArgs,
    #[command(flatten)]
    pub nat: NatArgs,
    /// Diagnose every namespace that has an XDP program attached (one section each; with
    /// --json an array).
    #[arg(long, conflicts_with_all = ["from", "config"])]
    pub all_netns: bool,
    /// Run the rules on a saved snapshot (`snapshot --json`) instead; needs no root.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Machine-readable output (schema: docs/diagnose.md).
    #[arg(long)]
    pub json: bool,
}

pub fn exit_code(r: &Report) -> i32 {
    if r.diagnosis.healthy() {
        super::EXIT_OK
    } else {
        super::EXIT_FINDINGS
    }
}

/// Diagnoses `ns` with the options of `observe` and `nat`, reporting the window's progress.
pub fn diagnose_one(
    ns: &Netns,
    observe: &ObserveArgs,
    nat: &NatArgs,
    progress: Progress,
) -> Result<Report> {
    let hint = nat.hint()?;
    diagnose::diagnose(ns, hint.as_ref(), &observe.options(ns, progress)?)
        .with_context(|| format!("diagnosing the XDP programs in namespace {ns}"))
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    if a.all_netns {
        return run_all(a);
    }
    let r = match &a.from {
        Some(p) => diagnose::diagnose_saved(
            Snapshot::load(p).with_context(|| format!("loading snapshot {}", p.display()))?,
        ),
        None => {
            let bar = Bar::new(a.json);
            diagnose_one(ns, &a.observe, &a.nat, bar.progress())?
        }
    };
    a.observe.write_pcap(&r)?;
    let code = exit_code(&r);
    if a.json {
        println!("{}", report::to_json(&r, code));
    } else {
        print_text(&r);
    }
    Ok(code)
}

/// `--all-netns`: every namespace with an XDP program, one after the other.
fn run_all(a: &Args) -> Result<i32> {
    let found = xdpdoctor::xdp::namespaces_with_xdp();
    let mut docs = Vec::new();
    let mut code = super::EXIT_OK;
    for n in &found {
        let bar = Bar::new(a.json);
        let r = diagnose_one(&n.netns, &a.observe, &a.nat, bar.progress());
        drop(bar);
        if let Ok(r) = &r {
            a.observe.write_pcap(r)?;
        }
        let c = match &r {
            Ok(r) => exit_code(r),
            Err(_) => super::EXIT_ERROR,
        };
        code = code.max(c);
        match (r, a.json) {
            (Ok(r), true) => docs.push(report::to_value(&r, c)),
            (Err(e), true) => docs.push(serde_json::json!({
                "netns": n.label(), "netns_inode": n.inode, "exit_code": c, "error": format!("{e:#}"),
            })),
            (Ok(r), false) => {
                println!("== {} ==", n.label());
                print_text(&r);
                println!();
            }
            (Err(e), false) => println!("== {} ==\nerror: {e:#}\n", n.label()),
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&docs)?);
    } else if found.is_empty() {
        println!("no namespace has an XDP program attached");
    }
    Ok(code)
}

pub fn print_text(r: &Report) {
    let st = Style {
        color: super::output::color(),
    };
    println!("{}", report::deployment_line(r));
    if r.diagnosis.healthy() {
        println!(
            "{}: no finding in {} ({} rules)",
            st.good("healthy"),
            r.snapshot.home().ns.name,
            r.diagnosis.rules.len()
        );
    } else {
        println!(
            "{} finding(s) in {}, in the order a packet meets them:",
            r.diagnosis.findings.len(),
            r.snapshot.home().ns.name
        );
        println!("{}", report::table(r, st));
        print!("{}", report::details(r, st));
        println!();
        print!("{}", report::diagram(r, st));
    }
    print!("{}", report::evidence_summary(r));
}
