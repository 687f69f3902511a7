//! `xdpdoctor lab up|down|list|status|connect|burst` (and the hidden `serve-http` the lab runs in
//! its containers).

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use comfy_table::Cell;
use serde::Serialize;
use xdpdoctor::lab::{self, http, LabState, Scenario, UpOptions};
use xdpdoctor::netns::Netns;

use super::deploy::Mode;
use super::output::{bad, cell, esc, good, print_json, row, table};
use super::progress::Bar;

/// Default lab prefix: namespaces are `xdpd-client`, `xdpd-vm`, ...
pub const DEFAULT_PREFIX: &str = "xdpd";

#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Build a scenario (built-in name or .toml path) into namespaces PREFIX-NODE.
    Up {
        /// Scenario name (`lab list`) or path to a scenario file.
        #[arg(default_value = "seed")]
        scenario: String,
        #[arg(long, default_value = DEFAULT_PREFIX)]
        prefix: String,
        /// Apply this fault (repeatable). Default: the scenario's default faults.
        #[arg(long = "fault", value_name = "NAME")]
        faults: Vec<String>,
        /// Build the healthy lab, no faults.
        #[arg(long)]
        no_faults: bool,
        /// XDP attach mode of the forwarder.
        #[arg(long, value_enum, default_value = "driver")]
        mode: Mode,
        /// Build everything but do not deploy xdpdoctor's forwarder (its config is still
        /// written to the lab's files): for bringing your own XDP program.
        #[arg(long)]
        no_forwarder: bool,
        /// Size of the generated `fleet` scenario (number of containers).
        #[arg(long, value_name = "N")]
        containers: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a lab: responders, forwarder, namespaces, files.
    Down {
        #[arg(long, default_value = DEFAULT_PREFIX)]
        prefix: String,
    },
    /// List the built-in scenarios and their faults.
    List,
    /// Show running labs.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Open a TCP connection to every NAT entry from the lab's client; HTTP must answer.
    /// Exit 1 if any connection fails.
    Connect {
        #[arg(long, default_value = DEFAULT_PREFIX)]
        prefix: String,
        /// Seconds to wait for each connection and answer.
        #[arg(long, default_value_t = 2.0)]
        timeout: f64,
        #[arg(long)]
        json: bool,
    },
    /// Send a burst of TCP SYNs from the lab's client to its first NAT entry, one sender per
    /// CPU, until SECONDS pass or Ctrl-C: the load a fault like `ring-m1` needs to show
    /// (run `diagnose` in another terminal meanwhile).
    Burst {
        #[arg(long, default_value = DEFAULT_PREFIX)]
        prefix: String,
        /// How long to send.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Bytes per frame (without the FCS).
        #[arg(long, default_value_t = 64)]
        size: usize,
        #[arg(long)]
        json: bool,
    },
    /// (internal) HTTP responder run inside a lab namespace.
    #[command(hide = true, name = "serve-http")]
    ServeHttp {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        body: String,
    },
}

pub fn run(c: &LabCommand, ns: &Netns) -> Result<i32> {
    match c {
        LabCommand::Up {
            scenario,
            prefix,
            faults,
            no_faults,
            mode,
            no_forwarder,
            containers,
            json,
        } => {
            let (sc, file) = lab::catalog::load(scenario, *containers)?;
            let bar = Bar::new(*json);
            let opts = UpOptions {
                prefix: prefix.clone(),
                faults: faults.clone(),
                no_faults: *no_faults,
                exe: std::env::current_exe().context("locating the xdpdoctor binary")?,
                mode: (*mode).into(),
                forwarder: !*no_forwarder,
                progress: bar.progress(),
            };
            let st = lab::up(&sc, &file, &opts)
                .with_context(|| format!("building lab {} ({prefix})", sc.name));
            drop(bar);
            let st = st?;
            if *json {
                print_json(&st)?;
            } else {
                println!("lab {} is up with prefix {prefix}", esc(&sc.name));
                println!("namespaces: {}", esc(st.namespaces.join(" ")));
                println!(
                    "faults: {}",
                    if st.faults.is_empty() {
                        "none".to_string()
                    } else {
                        st.faults.join(", ")
                    }
                );
                if let Some(c) = &st.forwarder_config {
                    println!("forwarder config: {}", esc(c.display()));
                }
                if let Some(d) = &st.docker {
                    println!(
                        "docker: network {} (bridge {}), containers {}{}",
                        d.network,
                        d.bridge,
                        d.containers.join(" "),
                        d.started_dockerd
                            .map(|p| format!("; started dockerd (pid {p}), it keeps running"))
                            .unwrap_or_default()
                    );
                    println!("try: xdpdoctor status   (the forwarder runs on the host)");
                } else if let Some(f) = &st.forwarder_netns {
                    println!("try: xdpdoctor --netns {f} status");
                }
            }
            Ok(super::EXIT_OK)
        }
        LabCommand::Down { prefix } => {
            let st = lab::down(prefix)?;
            println!("lab {prefix} removed ({} namespaces)", st.namespaces.len());
            Ok(super::EXIT_OK)
        }
        LabCommand::List => {
            let mut t = table(&["scenario", "fault", "default", "description"]);
            for (name, text) in lab::catalog::BUILTIN {
                let sc = Scenario::parse(text, std::path::Path::new(name))?;
                t.add_row(vec![cell(name), cell(""), cell(""), cell(&sc.description)]);
                for (fname, f) in &sc.faults {
                    t.add_row(vec![
                        cell(""),
                        cell(fname),
                        cell(if f.default { "yes" } else { "" }),
                        cell(&f.description),
                    ]);
                }
            }
            let fleet = lab::fleet::fleet(1)?;
            t.add_row(vec![
                cell(lab::fleet::NAME),
                cell(""),
                cell(""),
                cell(format!(
                    "generated: the seed's shape with --containers N (1..={}) and its three default faults",
                    lab::fleet::MAX
                )),
            ]);
            for (fname, f) in &fleet.faults {
                t.add_row(vec![
                    cell(""),
                    cell(fname),
                    cell(if f.default { "yes" } else { "" }),
                    cell(&f.description),
                ]);
            }
            println!("{t}");
            Ok(super::EXIT_OK)
        }
        LabCommand::Status { json } => lab_status(*json),
        LabCommand::Connect {
            prefix,
            timeout,
            json,
        } => connect(prefix, *timeout, *json),
        LabCommand::Burst {
            prefix,
            seconds,
            size,
            json,
        } => burst(prefix, *seconds, *size, *json),
        LabCommand::ServeHttp { port, body } => {
            // This process exists only to serve: enter the namespace on the main thread.
            ns.enter_process()
                .with_context(|| format!("entering {ns}"))?;
            http::serve(*port, body)?;
            Ok(super::EXIT_OK)
        }
    }
}

#[derive(Serialize)]
struct LabStatusRow {
    #[serde(flatten)]
    state: LabState,
    namespaces_present: Vec<String>,
    responders_running: usize,
}

fn lab_status(json: bool) -> Result<i32> {
    let rows: Vec<LabStatusRow> = LabState::all()
        .into_iter()
        .map(|st| LabStatusRow {
            namespaces_present: st
                .namespaces
                .iter()
                .filter(|n| Netns::named(n).exists())
                .cloned()
                .collect(),
            responders_running: st
                .responders
                .iter()
                .filter(|r| lab::process::is_our_responder(r.pid, &r.netns))
                .count(),
            state: st,
        })
        .collect();
    if json {
        print_json(&rows)?;
        return Ok(super::EXIT_OK);
    }
    if rows.is_empty() {
        println!("no labs running");
        return Ok(super::EXIT_OK);
    }
    let mut t = table(&[
        "prefix",
        "scenario",
        "faults",
        "namespaces",
        "responders",
        "forwarder",
    ]);
    for r in &rows {
        t.add_row(row(vec![
            r.state.prefix.clone(),
            r.state.scenario.clone(),
            r.state.faults.join(", "),
            format!(
                "{}/{}",
                r.namespaces_present.len(),
                r.state.namespaces.len()
            ),
            format!("{}/{}", r.responders_running, r.state.responders.len()),
            r.state.forwarder_netns.clone().unwrap_or_default(),
        ]));
    }
    println!("{t}");
    Ok(super::EXIT_OK)
}

fn connect(prefix: &str, timeout: f64, json: bool) -> Result<i32> {
    let st = LabState::load(prefix)?.with_context(|| format!("no lab with prefix {prefix}"))?;
    let client = st
        .client_netns
        .clone()
        .context("the scenario names no traffic client")?;
    let targets: Vec<_> = st.targets.iter().map(|(f, t)| (*f, Some(*t))).collect();
    if targets.is_empty() {
        anyhow::bail!("lab {prefix} has no NAT entries to connect to");
    }
    let results = http::connect_all(
        &Netns::named(&client),
        &targets,
        Duration::from_secs_f64(timeout),
        http::Exchange::of(&st),
    )?;
    let all_ok = results.iter().all(|r| r.ok);
    if json {
        print_json(&results)?;
    } else {
        let mut t = table(&["from client", "to", "backend", "result", "ms", "detail"]);
        for r in &results {
            t.add_row(vec![
                cell(&client),
                cell(r.target),
                cell(r.backend.map(|b| b.to_string()).unwrap_or_default()),
                Cell::new(if r.ok { good("ok") } else { bad("FAILED") }),
                cell(r.elapsed_ms),
                cell(r.detail.trim()),
            ]);
        }
        println!("{t}");
    }
    Ok(if all_ok {
        super::EXIT_OK
    } else {
        super::EXIT_FINDINGS
    })
}

fn burst(prefix: &str, seconds: f64, size: usize, json: bool) -> Result<i32> {
    if !(seconds > 0.0 && seconds.is_finite()) {
        anyhow::bail!("--seconds {seconds}: must be a positive number");
    }
    let st = LabState::load(prefix)?.with_context(|| format!("no lab with prefix {prefix}"))?;
    let path = xdpdoctor::bench::burst::path(&st)
        .with_context(|| format!("finding the path of lab {prefix}'s burst"))?;
    let end = std::time::Instant::now() + Duration::from_secs_f64(seconds);
    let stop = || xdpdoctor::cancel::interrupted() || std::time::Instant::now() >= end;
    let started = || {
        eprintln!(
            "lab burst: sending from {}/{} to {} for {seconds} s",
            path.netns, path.ifname, path.endpoints.service
        )
    };
    let r = xdpdoctor::bench::burst::run(&path, size, &stop, started)
        .with_context(|| format!("sending lab {prefix}'s burst"))?;
    if json {
        print_json(&r)?;
    } else {
        let mut t = table(&["from", "to", "CPUs", "sent", "refused", "s", "frames/s"]);
        t.add_row(vec![
            cell(format!("{}/{}", r.netns, r.ifname)),
            cell(&r.to),
            cell(r.cpus),
            cell(r.sent),
            cell(r.refused),
            cell(format!("{:.1}", r.elapsed_ms as f64 / 1000.0)),
            cell(r.rate),
        ]);
        println!("{t}");
    }
    Ok(super::EXIT_OK)
}
