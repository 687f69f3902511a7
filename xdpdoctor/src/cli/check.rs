//! `xdpdoctor check`: the CI health check. Diagnose, non-interactive and bounded by
//! `--timeout`; same exit codes (0 healthy, 1 findings, 2 could not diagnose or timed out).
//! Besides stdout: `--junit FILE`, `--prometheus FILE` (textfile collector), `--pcap DIR`.
#![allow(clippy::print_stdout, clippy::print_stderr)] // the CLI prints results; the library never does

use std::time::Duration;

use anyhow::{Context, Result};
use xdpdoctor::files::{self, Replace};
use xdpdoctor::netns::Netns;
use xdpdoctor::progress::Progress;
use xdpdoctor::report;

use super::diagnose::{diagnose_one, exit_code, print_text, NatArgs, ObserveArgs};
use super::outputs::{self, OutputFile};
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
    /// Also write JUnit XML (one testcase per rule) to FILE (atomically; replaces a regular
    /// file of yours, never a link or another user's file).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<std::path::PathBuf>,
    /// Also write the result as Prometheus text (node_exporter textfile collector: findings
    /// per rule, healthy, timings, forwarder counters) to FILE, atomically (replaces a
    /// regular file of yours, never a link, a device or another user's file).
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<std::path::PathBuf>,
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    anyhow::ensure!(
        a.timeout.is_finite() && a.timeout > 0.0,
        "--timeout {}: must be positive",
        a.timeout
    );
    // Every output file is checked before the check runs: bad input changes nothing.
    a.observe.check_pcap(ns)?;
    for (flag, p) in [("--junit", &a.junit), ("--prometheus", &a.prometheus)] {
        if let Some(p) = p {
            files::check_target(p, Replace::Own)
                .with_context(|| format!("{flag} {}", p.display()))?;
        }
    }
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
    // Each file is written whatever happened to the one before; the report comes last and
    // always (a full disk costs the evidence, not the result).
    let mut outputs: Vec<OutputFile> = a.observe.write_pcap(&r).into_iter().collect();
    if let Some(p) = &a.junit {
        outputs.push(
            match files::write(p, report::junit(&r).as_bytes(), Replace::Own) {
                Ok(()) => OutputFile::ok("junit", p, "one testcase per rule".into()),
                Err(e) => OutputFile::failed("junit", p, false, xdpdoctor::error::chain(&e)),
            },
        );
    }
    if let Some(p) = &a.prometheus {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        // The exit code as far as it is known: 3 when --pcap or --junit failed.
        let text = report::prometheus(&r, outputs::exit_code(exit_code(&r), &outputs), now);
        outputs.push(match files::write(p, text.as_bytes(), Replace::Own) {
            Ok(()) => OutputFile::ok("prometheus", p, "textfile collector format".into()),
            Err(e) => OutputFile::failed("prometheus", p, false, xdpdoctor::error::chain(&e)),
        });
    }
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
