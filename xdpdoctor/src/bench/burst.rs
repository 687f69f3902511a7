//! A burst of TCP SYNs from a lab's client, one AF_PACKET sender pinned to each CPU (the
//! bench's [`Generator`]): the load a fault like `ring-m1` needs before it shows, which a
//! lab does not make by itself (`xdpdoctor lab burst`, `tests/integration/ring_overflow.rs`,
//! the kernel matrix's guests). A user reproduces the ring overflow with it as the tests do.
//!
//! The frames go to the lab's first NAT entry (its public address), from the client's
//! interface that routes there, addressed to the next hop's MAC: the neighbour is resolved
//! first (`NTF_USE`, as for a packet about to leave), so a burst right after `lab up` works.
//! Senders run until `stop` says so; a device that refuses a frame (ENOBUFS) is counted, not
//! retried.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::generator::{pin_to_cpu, Generator};
use super::traffic::{parse_mac, Dest, Endpoints, FlowSet, TTL};
use crate::lab::LabState;
use crate::netlink::rtnl::Rtnl;
use crate::netns::Netns;
use crate::snapshot::route_match;
use crate::{Error, Result};

/// Source ports of a burst: as many flows as the bench's (spread over the receive queues).
pub const FLOWS: u16 = 256;

/// Where a burst goes from and to.
#[derive(Debug, Clone)]
pub struct BurstPath {
    /// The client's namespace.
    pub netns: String,
    /// Its interface the frames leave by.
    pub ifname: String,
    /// Addresses and MACs of the frames.
    pub endpoints: Endpoints,
}

/// What a burst sent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BurstReport {
    /// Senders (one per CPU).
    pub cpus: usize,
    /// Frames the client's device accepted.
    pub sent: u64,
    /// Frames it refused (its own queue full).
    pub refused: u64,
    /// How long the senders ran.
    pub elapsed_ms: u64,
    /// Sent frames per second.
    pub rate: u64,
    /// The client's namespace.
    pub netns: String,
    /// The interface.
    pub ifname: String,
    /// The NAT entry's public endpoint.
    pub to: String,
}

/// The path from the lab's client to its first NAT entry: the route's interface, its MAC and
/// address, the next hop's MAC (resolved if it was not).
pub fn path(st: &LabState) -> Result<BurstPath> {
    let netns = st.client_netns.clone().ok_or_else(|| {
        Error::unsupported(
            format!("lab {}", st.prefix),
            "its scenario has no traffic client to send from",
        )
    })?;
    let &(service, target) = st.targets.first().ok_or_else(|| {
        Error::unsupported(
            format!("lab {}", st.prefix),
            "it has no NAT entry to send to",
        )
    })?;
    let (ifname, src_mac, client, dst_mac) =
        Netns::named(&netns).block_on(|| next_hop(*service.ip()))?;
    Ok(BurstPath {
        netns,
        ifname,
        endpoints: Endpoints {
            src_mac,
            dst_mac,
            client,
            service,
            target,
            // The frames never go to a bridged entry (Dest::Service).
            bridged: service,
        },
    })
}

/// In the calling thread's namespace: (interface, its MAC, its address, next hop's MAC) of the
/// route to `dst`.
async fn next_hop(dst: Ipv4Addr) -> Result<(String, [u8; 6], Ipv4Addr, [u8; 6])> {
    let rt = Rtnl::new()?;
    // The route the kernel picks (a blackhole or unreachable winner is no route).
    let routes = rt.routes().await?;
    let route = route_match(&routes, dst)
        .filter(|r| r.is_unicast())
        .ok_or_else(|| Error::not_found(format!("a route to {dst} in the client"), None))?;
    let oif = route
        .oif
        .ok_or_else(|| Error::unexpected(format!("route to {dst}"), "no output interface"))?;
    let link = rt.link_by_index(oif).await?;
    let src = rt
        .addresses()
        .await?
        .into_iter()
        .find(|a| a.ifindex == oif)
        .map(|a| a.addr)
        .ok_or_else(|| Error::not_found(format!("an IPv4 address on {}", link.name), None))?;
    let hop = route.gateway.unwrap_or(dst);
    let what = format!("neighbour {hop} on {}", link.name);
    rt.resolve_neighbour(oif, hop).await?;
    let deadline = Instant::now() + Duration::from_secs(3);
    let mac = loop {
        let found = rt
            .neighbours()
            .await?
            .into_iter()
            .find(|n| n.ifindex == oif && n.addr == hop && n.valid)
            .and_then(|n| n.mac);
        if let Some(m) = found {
            break m;
        }
        if Instant::now() > deadline {
            return Err(Error::unexpected(what, "not resolved within 3 s"));
        }
        crate::cancel::check()?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let bad = |m: &str| Error::unexpected(what.clone(), format!("MAC \"{m}\""));
    Ok((
        link.name,
        parse_mac(&link.mac).map_err(|_| bad(&link.mac))?,
        src,
        parse_mac(&mac).map_err(|_| bad(&mac))?,
    ))
}

/// Sends `frame_size`-byte SYNs along `p` from every CPU until `stop()` is true (asked every
/// 16 batches; a stop that includes [`crate::cancel::interrupted`] ends the burst with its
/// counts). `started` is called once every sender has its socket.
pub fn run(
    p: &BurstPath,
    frame_size: usize,
    stop: &(dyn Fn() -> bool + Sync),
    started: impl FnOnce(),
) -> Result<BurstReport> {
    let flows = FlowSet::new(&p.endpoints, frame_size, FLOWS, Dest::Service, TTL)?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t0 = Instant::now();
    let ready = std::sync::Barrier::new(cpus + 1);
    let sums = std::thread::scope(|s| {
        let senders: Vec<_> = (0..cpus)
            .map(|cpu| {
                let (flows, ready) = (&flows, &ready);
                s.spawn(move || {
                    // The socket belongs to the client's namespace once opened there; this
                    // thread sends on it, pinned.
                    let g = pin_to_cpu(cpu)
                        .and_then(|()| Netns::named(&p.netns).run(|| Generator::open(&p.ifname)));
                    ready.wait();
                    let r = g?.send_until_stopped(flows, stop)?;
                    Ok::<_, Error>((r.sent, r.refused))
                })
            })
            .collect();
        ready.wait();
        started();
        senders
            .into_iter()
            .map(|h| h.join().expect("burst sender panicked"))
            .collect::<Vec<_>>()
    });
    let elapsed = t0.elapsed();
    let mut r = BurstReport {
        cpus,
        elapsed_ms: elapsed.as_millis() as u64,
        netns: p.netns.clone(),
        ifname: p.ifname.clone(),
        to: SocketAddrV4::to_string(&p.endpoints.service),
        ..BurstReport::default()
    };
    for s in sums {
        let (sent, refused) = s?;
        r.sent += sent;
        r.refused += refused;
    }
    r.rate = (r.sent as f64 / elapsed.as_secs_f64().max(1e-3)) as u64;
    Ok(r)
}
