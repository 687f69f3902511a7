//! `trace --decisions`: the forwarder's decision log next to the drop events. Finds the
//! forwarder xdpdoctor deployed in the traced namespace, turns its log on for the length of
//! the trace (`decisions::Session`: off again on every exit, one reader at a time), and prints
//! each record as a line (or `{"decision": {...}}` with the typed fields of
//! `forwarder::decision::Decision`), with ifindexes named in the forwarder's namespace.

use anyhow::{Context, Result};
use serde::Serialize;
use xdpdoctor::decisions::{EbpfRecord, Session, Settings, Stats};
use xdpdoctor::forwarder::decision::{self, Decision, Fib, Translation, Verdict};
use xdpdoctor::forwarder::Deployment;
use xdpdoctor::netns::Netns;
use xdpdoctor::probes::decode::Names;
use xdpdoctor::state::LockGuard;

/// The log of the forwarder in one namespace, on while this lives.
pub struct Decisions {
    session: Session,
    printer: Printer,
    rate: u64,
}

/// The figures the summary reports.
#[derive(Serialize)]
pub struct DecisionSummary {
    /// Records printed.
    pub shown: u64,
    /// Records per second per CPU the log was limited to.
    pub rate: u64,
    /// What the forwarder's bucket and ring did meanwhile (allowed, limited, lost, overflow).
    pub stats: Stats,
    /// The log was turned off again.
    pub off: bool,
}

impl Decisions {
    /// The forwarder deployed in `ns`, whose log `--decisions` reads, and the right to read
    /// it (one reader at a time). An error (exit 2) when there is none (only xdpdoctor's
    /// forwarder writes decisions) or another xdpdoctor reads it.
    pub fn reserve(ns: &Netns) -> Result<(Deployment, LockGuard)> {
        let inode = ns
            .inode()
            .with_context(|| format!("--decisions: namespace {ns}"))?;
        let dep = Deployment::load(inode)?.with_context(|| {
            format!(
                "--decisions: no forwarder deployed by xdpdoctor in namespace {ns}; the \
                 decision log is written by xdpdoctor's forwarder only (other XDP programs \
                 have none). Deploy one (`xdpdoctor deploy`), or trace without --decisions"
            )
        })?;
        let lock = Session::lock(inode).context("--decisions")?;
        Ok((dep, lock))
    }

    /// Turns on the log of `dep` (deployed in `ns`, reserved with `lock`) at `rate`
    /// records/s per CPU.
    pub fn open(ns: &Netns, (dep, lock): (Deployment, LockGuard), rate: u64) -> Result<Decisions> {
        let inode = dep.netns_inode;
        let prog = dep
            .interfaces
            .first()
            .map(|i| i.prog_id)
            .context("--decisions: the deployment lists no interface")?;
        let settings = Settings {
            rate,
            ..Settings::on(log::Level::Info)
        };
        let session =
            Session::open_locked(lock, &dep.pin_dir, prog, &settings).with_context(|| {
                format!(
                    "--decisions: the decision log of the forwarder in {ns} ({}); a forwarder \
                 deployed before the log existed has none: redeploy it",
                    dep.pin_dir.display()
                )
            })?;
        Ok(Decisions {
            session,
            printer: Printer {
                netns_inode: inode,
                shown: 0,
            },
            rate,
        })
    }

    /// The session (its fd, to wait on).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Prints the records waiting in the ring.
    pub fn print_pending(&mut self, names: &mut Names, json: bool) -> Result<()> {
        let records = self.session.take()?;
        self.printer.print(records, names, json)
    }

    /// Turns the log off, prints what was written until then, and returns the summary.
    pub fn finish(self, names: &mut Names, json: bool) -> Result<DecisionSummary> {
        let Decisions {
            session,
            mut printer,
            rate,
        } = self;
        let (last, stats) = session.finish()?;
        printer.print(last, names, json)?;
        Ok(DecisionSummary {
            shown: printer.shown,
            rate,
            stats,
            off: true,
        })
    }
}

/// Prints records as lines or JSON, naming interfaces in the forwarder's namespace.
struct Printer {
    netns_inode: u64,
    shown: u64,
}

impl Printer {
    fn print(&mut self, records: Vec<EbpfRecord>, names: &mut Names, json: bool) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let ino = self.netns_inode;
        let parsed: Vec<(EbpfRecord, Option<Decision>)> = records
            .into_iter()
            .map(|r| {
                let d = (r.program_target() == decision::TARGET)
                    .then(|| Decision::parse(&r.message))
                    .and_then(|d| d.inspect_err(|e| log::warn!("{e}")).ok());
                (r, d)
            })
            .collect();
        // Rescan names when an ifindex (or the namespace) is new.
        let unknown = parsed.iter().filter_map(|(_, d)| d.as_ref()).any(|d| {
            names.ifname(ino, d.ingress_ifindex).is_none()
                || d.next_hop
                    .is_some_and(|h| names.ifname(ino, h.ifindex).is_none())
        });
        if unknown || names.netns_name(ino).is_none() {
            names.refresh();
        }
        let ns = names.netns_name(ino).map(str::to_string);
        let ifname = |i: u32| names.ifname(ino, i).map(str::to_string);
        for (r, d) in parsed {
            self.shown += 1;
            match d {
                Some(d) if json => {
                    let v = View {
                        netns: ns.clone(),
                        netns_inode: ino,
                        ingress: ifname(d.ingress_ifindex),
                        egress: d.next_hop.and_then(|h| ifname(h.ifindex)),
                        decision: &d,
                        message: &r.message,
                    };
                    println!("{}", serde_json::to_string(&Line { decision: v })?);
                }
                Some(d) => println!("{}", line(&d, ns.as_deref(), &ifname)),
                None if json => {
                    let v = Unparsed {
                        netns: ns.clone(),
                        netns_inode: ino,
                        target: &r.target,
                        unparsed: &r.message,
                    };
                    println!("{}", serde_json::to_string(&Line { decision: v })?);
                }
                None => println!(
                    "decision {} (not understood): {}",
                    ns.as_deref().unwrap_or("?"),
                    r.message
                ),
            }
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct Line<T: Serialize> {
    decision: T,
}

/// One decision with its namespace and interfaces named.
#[derive(Serialize)]
struct View<'a> {
    netns: Option<String>,
    netns_inode: u64,
    /// Name of `ingress_ifindex` in the forwarder's namespace.
    ingress: Option<String>,
    /// Name of the next hop's ifindex.
    egress: Option<String>,
    #[serde(flatten)]
    decision: &'a Decision,
    /// The record as aya-log formatted it.
    message: &'a str,
}

/// A record that did not parse as a decision (another version's forwarder).
#[derive(Serialize)]
struct Unparsed<'a> {
    netns: Option<String>,
    netns_inode: u64,
    target: &'a str,
    unparsed: &'a str,
}

/// `decision P-vm eth0: 192.168.9.1:8080 <- 10.99.0.2:40000 DNAT -> 10.123.1.1:80 fib success
/// -> redirect ve-m1 (4) [02:..:01 -> 02:..:02]`: the translated endpoint first.
fn line(d: &Decision, ns: Option<&str>, ifname: &dyn Fn(u32) -> Option<String>) -> String {
    let dev = |i: u32| match ifname(i) {
        Some(n) => format!("{n} ({i})"),
        None => format!("ifindex {i}"),
    };
    let mut s = format!(
        "decision {} {}: ",
        ns.unwrap_or("?"),
        ifname(d.ingress_ifindex).unwrap_or_else(|| format!("ifindex {}", d.ingress_ifindex))
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
        (Verdict::Redirect, Some(h)) => s.push_str(&format!(" -> redirect {}", dev(h.ifindex))),
        (v, hop) => {
            let what = if v == Verdict::Drop { "drop" } else { "pass" };
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
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lead_with_the_translated_endpoint() {
        let d = Decision::parse(
            "ingress=2 dir=dnat src=10.99.0.2:40000 dst=192.168.9.1:8080 nat=10.123.1.1:80 \
             new_src=10.99.0.2:40000 new_dst=10.123.1.1:80 fib=0 egress=4 \
             smac=02:00:00:00:00:01 dmac=02:00:00:00:00:02 verdict=redirect",
        )
        .unwrap();
        let names = |i: u32| match i {
            2 => Some("eth0".to_string()),
            4 => Some("ve-m1".to_string()),
            _ => None,
        };
        assert_eq!(
            line(&d, Some("P-vm"), &names),
            "decision P-vm eth0: 192.168.9.1:8080 <- 10.99.0.2:40000 DNAT -> 10.123.1.1:80 \
             fib success -> redirect ve-m1 (4) [02:00:00:00:00:01 -> 02:00:00:00:00:02]"
        );
        let d = Decision::parse(
            "ingress=4 dir=snat src=10.123.1.1:80 dst=10.99.0.2:40000 nat=none \
             new_src=10.123.1.1:80 new_dst=10.99.0.2:40000 verdict=pass reason=no_entry",
        )
        .unwrap();
        assert_eq!(
            line(&d, Some("P-vm"), &names),
            "decision P-vm ve-m1: 10.123.1.1:80 -> 10.99.0.2:40000 SNAT: no entry -> pass: no_entry"
        );
    }
}
