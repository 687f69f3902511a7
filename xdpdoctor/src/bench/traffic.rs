//! The one traffic generator of every variant: TCP SYN frames from the lab's client to the
//! forwarder's public endpoint, pushed into a program with `BPF_PROG_TEST_RUN` live frames as
//! if they had arrived on vm's `eth0`.
//!
//! A flow is one source port; each flow's frame is run `repeat` times per call, and calls go
//! round-robin over the flows until the requested packet count is reached. Frames carry valid
//! IPv4 and TCP checksums (conntrack verifies TCP checksums in PREROUTING) and are padded to
//! the exact frame size with TCP payload, so the 64-byte frame is the classic minimum
//! Ethernet frame (without FCS) and the 1500-byte one fills the 1500-byte MTU's worth.
//!
//! Frames go to the forwarder's public endpoint ([`Dest::Service`]), except for the router
//! peer, which has no NAT and forwards what is addressed to the container ([`Dest::Target`]):
//! the same route, the same next hop.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use aya::programs::Xdp;
use etherparse::PacketBuilder;

use crate::bpf::test_run::{run_xdp, BPF_F_TEST_XDP_LIVE_FRAMES};
use crate::{cancel, Error, Result};

/// Frame sizes measured, in bytes on the wire without FCS.
pub const FRAME_SIZES: [usize; 2] = [64, 1500];

/// Ethernet + IPv4 (no options) + TCP (no options).
const HEADERS: usize = 14 + 20 + 20;

/// First source port; flow `i` uses `BASE_SPORT + i`.
const BASE_SPORT: u16 = 20000;

/// The TTL the generator sends. The sink writes it back into delivered frames
/// (`count.bpf.c` `restore_ttl`) so recycled pages start every pass as a first hop.
pub const TTL: u8 = 64;

/// Where a flow set's frames are addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dest {
    /// The forwarder's public endpoint (the DNAT `from`).
    Service,
    /// The container's endpoint (the DNAT `to`), as a plain router would forward it.
    Target,
    /// The public endpoint of the bridged container (the bridged variants' DNAT `from`).
    Bridged,
}

/// Where the frames come from and go to.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    /// The client's eth0 MAC (source).
    pub src_mac: [u8; 6],
    /// vm's eth0 MAC: the frames must be addressed to it or the stack drops them as
    /// PACKET_OTHERHOST in the kernel-NAT variant.
    pub dst_mac: [u8; 6],
    /// The client's address (source).
    pub client: Ipv4Addr,
    /// The forwarder's public endpoint (the DNAT `from`).
    pub service: SocketAddrV4,
    /// The container's endpoint behind it (the DNAT `to`).
    pub target: SocketAddrV4,
    /// The bridged container's public endpoint (its DNAT `from`).
    pub bridged: SocketAddrV4,
}

impl Endpoints {
    /// The destination endpoint of `dest`.
    pub fn dest(&self, dest: Dest) -> SocketAddrV4 {
        match dest {
            Dest::Service => self.service,
            Dest::Target => self.target,
            Dest::Bridged => self.bridged,
        }
    }
}

/// One SYN per flow, all of the same frame size and destination.
#[derive(Debug, Clone)]
pub struct FlowSet {
    /// Bytes per frame (without FCS).
    pub frame_size: usize,
    /// Where the frames are addressed.
    pub dest: Dest,
    frames: Vec<Vec<u8>>,
}

impl FlowSet {
    /// `flows` SYNs of `frame_size` bytes to `dest`, with IPv4 TTL `ttl`.
    pub fn new(ep: &Endpoints, frame_size: usize, flows: u16, dest: Dest, ttl: u8) -> Result<Self> {
        if frame_size < HEADERS {
            return Err(Error::invalid(
                "bench frame size",
                format!("{frame_size} bytes is shorter than eth+ip+tcp ({HEADERS})"),
            ));
        }
        let frames = (0..flows.max(1))
            .map(|i| syn_frame(ep, BASE_SPORT + i, ep.dest(dest), ttl, frame_size))
            .collect::<Result<Vec<_>>>()?;
        Ok(FlowSet {
            frame_size,
            dest,
            frames,
        })
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True without flows (never, as built by [`FlowSet::new`]).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The frame of flow `i` (modulo the number of flows).
    pub fn frame(&self, i: usize) -> &[u8] {
        &self.frames[i % self.frames.len()]
    }
}

/// Builds a TCP SYN from `ep.client:sport` to `dst` with TTL `ttl`, of exactly `size` bytes.
pub fn syn_frame(
    ep: &Endpoints,
    sport: u16,
    dst: SocketAddrV4,
    ttl: u8,
    size: usize,
) -> Result<Vec<u8>> {
    let payload = vec![0x5au8; size.saturating_sub(HEADERS)];
    let builder = PacketBuilder::ethernet2(ep.src_mac, ep.dst_mac)
        .ipv4(ep.client.octets(), dst.ip().octets(), ttl)
        .tcp(sport, dst.port(), 0x1000_0000 + u32::from(sport), 64240)
        .syn();
    let mut out = Vec::with_capacity(size);
    builder
        .write(&mut out, &payload)
        .map_err(|e| Error::invalid("bench frame", e.to_string()))?;
    debug_assert_eq!(out.len(), size);
    Ok(out)
}

/// What one generator run offered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offered {
    /// Frames pushed into the program (sum of `repeat`).
    pub sent: u64,
    /// The kernel's own time for the runs (BPF_PROG_TEST_RUN `duration` x `repeat`): the
    /// program under test and everything the kernel does synchronously after it on that CPU
    /// (redirect flush, the target veth's NAPI in the batch's `local_bh_enable`, the stack for
    /// XDP_PASS). It excludes the per-call setup, which on 6.18 includes two XDP dispatcher
    /// updates with an RCU-tasks grace period each (~10-20 ms per call, CPU idle).
    pub kernel_time: Duration,
    /// Wall time of the calls, setup included.
    pub elapsed: Duration,
}

/// Frames per BPF_PROG_TEST_RUN call: large enough to amortise the per-call setup (on 6.18
/// a live-frames call costs 10-20 ms of wall time around the runs: 64 frames per call ran at
/// 0.004 Mpps), small enough to poll Ctrl-C a few times per second.
///
/// Within one call the kernel recycles its page-pool pages *without* re-copying the frame
/// (only pages of an earlier call are re-initialised), so a program or a stack that rewrites
/// the frame in place sees its own output again. The variants deal with it: redirect-only
/// does not write; the forwarder gets identity DNAT entries (`super::add_identity_entries`);
/// kernel NAT restores the headers first (`bench_restore.bpf.c`).
pub const PER_CALL: u32 = 16 * 1024;

/// Runs `prog` on live frames, `packets` frames in all, round-robin over the flows.
/// `before_call` sees each call's frame first (the kernel-NAT variant stores it for
/// `xdp_restore_pass`); it runs outside the timed section.
/// Call on a thread inside the namespace of `ingress_ifindex`.
pub fn push_live(
    prog: &Xdp,
    ingress_ifindex: u32,
    flows: &FlowSet,
    packets: u64,
    before_call: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<Offered> {
    let mut off = Offered::default();
    let mut flow = 0usize;
    while off.sent < packets {
        cancel::check()?;
        let repeat = (packets - off.sent).min(u64::from(PER_CALL)) as u32;
        let frame = flows.frame(flow);
        before_call(frame)?;
        let t = Instant::now();
        let r = run_xdp(
            prog,
            ingress_ifindex,
            frame,
            repeat,
            BPF_F_TEST_XDP_LIVE_FRAMES,
        )?;
        off.elapsed += t.elapsed();
        off.kernel_time += r.duration * repeat;
        off.sent += u64::from(repeat);
        flow += 1;
    }
    Ok(off)
}

/// Parses "aa:bb:cc:dd:ee:ff".
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || Error::invalid("MAC address", format!("\"{s}\""));
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next().ok_or_else(bad)?, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::SlicedPacket;

    fn ep() -> Endpoints {
        Endpoints {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            client: Ipv4Addr::new(192, 168, 9, 254),
            service: "192.168.9.1:8080".parse().unwrap(),
            target: "10.123.1.1:80".parse().unwrap(),
            bridged: "192.168.9.1:8082".parse().unwrap(),
        }
    }

    #[test]
    fn frames_have_exact_size_and_valid_checksums() {
        for (size, dest) in [(64, Dest::Service), (1500, Dest::Target)] {
            let set = FlowSet::new(&ep(), size, 4, dest, TTL).unwrap();
            assert_eq!(set.len(), 4);
            for i in 0..4 {
                let f = set.frame(i);
                assert_eq!(f.len(), size);
                assert_eq!(&f[0..6], &ep().dst_mac);
                let p = SlicedPacket::from_ethernet(f).unwrap();
                let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
                    panic!("not ipv4")
                };
                let h = ip.header().to_header();
                assert_eq!(h.header_checksum, h.calc_header_checksum());
                assert_eq!(h.time_to_live, TTL);
                assert_eq!(h.destination, ep().dest(dest).ip().octets());
                let Some(etherparse::TransportSlice::Tcp(tcp)) = p.transport else {
                    panic!("not tcp")
                };
                assert!(tcp.syn() && !tcp.ack());
                assert_eq!(tcp.destination_port(), ep().dest(dest).port());
                assert_eq!(tcp.source_port(), BASE_SPORT + i as u16);
                let th = tcp.to_header();
                assert_eq!(
                    th.checksum,
                    th.calc_checksum_ipv4(&h, tcp.payload()).unwrap()
                );
            }
        }
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(
            parse_mac("02:0a:ff:00:01:10").unwrap(),
            [2, 10, 255, 0, 1, 16]
        );
        assert!(parse_mac("02:0a:ff:00:01").is_err());
        assert!(parse_mac("02:0a:ff:00:01:10:11").is_err());
    }
}
