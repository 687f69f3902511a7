//! `xdpdoctor snapshot [--json] [--output FILE]`: the static state diagnose works on.
#![allow(clippy::print_stdout)] // the CLI prints results; the library never does

use anyhow::{Context, Result};
use xdpdoctor::files::{self, Replace};
use xdpdoctor::netns::Netns;
use xdpdoctor::snapshot;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the snapshot as JSON (what `diagnose --from` reads).
    #[arg(long)]
    pub json: bool,
    /// Write the JSON snapshot to FILE instead of stdout (atomically; replaces a regular file
    /// of yours, never a link or another user's file).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub nat: super::diagnose::NatArgs,
}

pub fn run(a: &Args, ns: &Netns) -> Result<i32> {
    let hint = a.nat.hint()?;
    if let Some(p) = &a.output {
        files::check_target(p, Replace::Own)
            .with_context(|| format!("--output {}", p.display()))?;
    }
    let s =
        snapshot::take(ns, hint.as_ref()).with_context(|| format!("snapshot of namespace {ns}"))?;
    if let Some(p) = &a.output {
        let json = xdpdoctor::report::escape::json(s.to_json());
        files::write(p, json.as_bytes(), Replace::Own)
            .with_context(|| format!("--output {}", p.display()))?;
        return Ok(super::EXIT_OK);
    }
    if a.json {
        println!("{}", xdpdoctor::report::escape::json(s.to_json()));
        return Ok(super::EXIT_OK);
    }
    println!(
        "{} (inode {}), kernel {}, xdp_features {}",
        s.home().ns.name,
        s.netns_inode,
        s.kernel,
        if s.xdp_features_supported {
            "yes"
        } else {
            "no"
        }
    );
    let mut t = super::output::table(&[
        "netns",
        "interface",
        "up",
        "mtu",
        "addresses",
        "xdp",
        "xdp_features",
        "gro req",
        "tx csum",
        "fwd",
        "peer",
    ]);
    for n in &s.namespaces {
        for i in &n.interfaces {
            let addrs: Vec<String> = n
                .addrs_of(i.index())
                .map(|a| format!("{}/{}", a.addr, a.prefix))
                .collect();
            let peer = s
                .peer_of(i)
                .map(|(pn, pi)| pn.ns.at(pi.name()))
                .unwrap_or_default();
            let b = |v: Option<bool>| match v {
                Some(true) => "on",
                Some(false) => "off",
                None => "-",
            };
            t.add_row(super::output::row(vec![
                n.ns.name.clone(),
                i.name().to_string(),
                b(Some(i.link.up)).into(),
                i.link.mtu.to_string(),
                addrs.join(" "),
                i.link
                    .xdp
                    .as_ref()
                    .map(|x| format!("{} {:?}", x.prog_id, x.mode))
                    .unwrap_or_default(),
                i.xdp_features
                    .map(|f| format!("{f:#x}"))
                    .unwrap_or_default(),
                b(i.gro_requested).into(),
                b(i.tx_csum_active).into(),
                b(i.forwarding).into(),
                peer,
            ]));
        }
    }
    println!("{t}");
    Ok(super::EXIT_OK)
}
