//! `xdpdoctor check`: the CI health check. Diagnose, non-interactive and bounded by
//! `--timeout`; same exit codes (0 healthy, 1 findings, 2 could not diagnose or timed out).
//! Besides stdout: `--junit FILE`, `--prometheus FILE` (textfile collector), `--pcap DIR`.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the CLI prints results; the library never does

use std::time::Duration;

use anyhow::{Context, Result};
use xdpdoctor::netns::Netns;
use xdpdoctor::progress::Progress;
use xdpdoctor::report;

use super::diagnose::{diagnose_one, exit_code, print_text, NatArgs, ObserveArgs};
use super::progress::Bar;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub observe: ObserveArgs,
    #[command(flatten)]
    pub nat: NatArgs,
    /// Give up (exit 2) after this many seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Machine-readable output on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write JUnit XML (one testcase per rule) to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
    /// Also write the result as Prometheus text (node_exporter textfile collector: findings
    /// per rule, healthy, timings, forwarder counters) to FILE, atomically.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<std::path::PathBuf>,
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    anyhow::ensure!(
        a.timeout.is_finite() && a.timeout > 0.0,
        "--timeout {}: must be positive",
        a.timeout
    );
    let opts = a.observe.options(ns, Progress::none())?;
    anyhow::ensure!(
        opts.window.as_secs_f64() < a.timeout,
        "--observe {} must be shorter than --timeout {}",
        a.observe.observe,
        a.timeout
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let (ns2, observe, nat) = (ns.clone(), a.observe.clone(), a.nat.clone());
    let bar = Bar::new(a.json);
    let progress = bar.progress();
    std::thread::spawn(move || {
        let _ = tx.send(diagnose_one(&ns2, &observe, &nat, progress));
    });
    let r = rx.recv_timeout(Duration::from_secs_f64(a.timeout));
    drop(bar);
    let r = match r {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("check did not finish within --timeout {} s", a.timeout),
    };
    let code = exit_code(&r);
    a.observe.write_pcap(&r)?;
    if let Some(p) = &a.junit {
        std::fs::write(p, report::junit(&r)).with_context(|| format!("write {}", p.display()))?;
    }
    if let Some(p) = &a.prometheus {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let text = report::prometheus(&r, code, now);
        xdpdoctor::state::file::write_bytes_atomic(p, text.as_bytes())
            .with_context(|| format!("--prometheus {}", p.display()))?;
    }
    if a.json {
        println!("{}", report::to_json(&r, code));
    } else {
        print_text(&r);
    }
    Ok(code)
}
