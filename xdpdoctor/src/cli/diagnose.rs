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
use xdpdoctor::files::{self, Replace};
use xdpdoctor::forwarder::ForwarderConfig;
use xdpdoctor::lab::LabClient;
use xdpdoctor::netns::Netns;
use xdpdoctor::progress::Progress;
use xdpdoctor::report::{self, escape, Style};
use xdpdoctor::snapshot::{NatHint, Snapshot};

use super::outputs::{self, OutputFile};
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
    /// With --pcap: replace existing files (only regular files of yours; never a link).
    #[arg(long, requires = "pcap")]
    pub force: bool,
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

    /// How `--pcap` treats an existing file.
    fn replace(&self) -> Replace {
        if self.force {
            Replace::Own
        } else {
            Replace::Never
        }
    }

    /// The `--pcap` file of a diagnosis of the namespace named `name`.
    fn pcap_path(&self, name: &str) -> Option<PathBuf> {
        self.pcap
            .as_ref()
            .map(|dir| dir.join(diagnose::evidence::pcap_file_name(name)))
    }

    /// Checks `--pcap` before anything is diagnosed: the directory (created if missing; a
    /// link only if it is ours) and the file for namespace `ns` (none there, or with --force
    /// a regular file of ours). Bad input changes nothing.
    pub fn check_pcap(&self, ns: &Netns) -> Result<()> {
        let Some(dir) = &self.pcap else {
            return Ok(());
        };
        files::check_dir(dir).with_context(|| format!("--pcap {}", dir.display()))?;
        if let Some(p) = self.pcap_path(&ns.name) {
            files::check_target(&p, self.replace())
                .with_context(|| format!("--pcap {}", dir.display()))?;
        }
        Ok(())
    }

    /// `--pcap DIR`: writes the window's captures of `r` into DIR. What happened is returned
    /// (None: no --pcap); a failure is the caller's to report, next to the report.
    pub fn write_pcap(&self, r: &Report) -> Option<OutputFile> {
        let dir = self.pcap.as_ref()?;
        let name = &r.snapshot.home().ns.name;
        let path = self.pcap_path(name)?;
        let written = files::check_dir(dir)
            .and_then(|()| diagnose::evidence::write_pcapng(&r.evidence, &path, self.replace()));
        Some(match written {
            Ok(Some(f)) => match &f.cut_short {
                Some(e) => OutputFile::failed("pcap", &path, true, e.clone()),
                None => OutputFile::ok(
                    "pcap",
                    &path,
                    format!(
                        "{} packet(s) from {} capture point(s){}",
                        f.packets,
                        f.interfaces,
                        if f.not_kept > 0 {
                            format!(" ({} more not kept: bounds reached)", f.not_kept)
                        } else {
                            String::new()
                        }
                    ),
                ),
            },
            Ok(None) => OutputFile {
                kind: "pcap",
                path,
                written: false,
                error: None,
                detail: format!(
                    "nothing captured in {name}'s window (no capture point: {}), no file written",
                    if r.evidence.window_ms == 0 {
                        "static diagnosis"
                    } else {
                        "no redirect target with a peer in another namespace"
                    }
                ),
            },
            Err(e) => OutputFile::failed("pcap", &path, false, xdpdoctor::error::chain(&e)),
        })
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
            a.observe.check_pcap(ns)?;
            let bar = Bar::new(a.json);
            diagnose_one(ns, &a.observe, &a.nat, bar.progress())?
        }
    };
    let outputs: Vec<OutputFile> = a.observe.write_pcap(&r).into_iter().collect();
    let code = outputs::exit_code(exit_code(&r), &outputs);
    if a.json {
        let doc = outputs::with_outputs(report::to_value(&r, code), &outputs);
        println!("{}", outputs::json_text(&doc));
    } else {
        print_text(&r);
    }
    outputs.iter().for_each(OutputFile::say);
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
        let outputs: Vec<OutputFile> = match &r {
            Ok(r) => a.observe.write_pcap(r).into_iter().collect(),
            Err(_) => Vec::new(),
        };
        let c = match &r {
            Ok(r) => outputs::exit_code(exit_code(r), &outputs),
            Err(_) => super::EXIT_ERROR,
        };
        code = code.max(c);
        let label = escape::text(&n.label()).into_owned();
        match (r, a.json) {
            (Ok(r), true) => docs.push(outputs::with_outputs(report::to_value(&r, c), &outputs)),
            (Err(e), true) => docs.push(serde_json::json!({
                "netns": n.label(), "netns_inode": n.inode, "exit_code": c, "error": format!("{e:#}"),
            })),
            (Ok(r), false) => {
                println!("== {label} ==");
                print_text(&r);
                println!();
            }
            (Err(e), false) => println!("== {label} ==\nerror: {}\n", escape::text(&format!("{e:#}"))),
        }
        outputs.iter().for_each(OutputFile::say);
    }
    if a.json {
        println!("{}", outputs::json_text(&serde_json::Value::Array(docs)));
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
            escape::text(&r.snapshot.home().ns.name),
            r.diagnosis.rules.len()
        );
    } else {
        println!(
            "{} finding(s) in {}, in the order a packet meets them:",
            r.diagnosis.findings.len(),
            escape::text(&r.snapshot.home().ns.name)
        );
        println!("{}", report::table(r, st));
        print!("{}", report::details(r, st));
        println!();
        print!("{}", report::diagram(r, st));
    }
    print!("{}", report::evidence_summary(r));
}
