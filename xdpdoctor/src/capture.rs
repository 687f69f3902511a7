//! Packet capture inside a namespace, with TCP and UDP checksum verification, IPv4 and IPv6.
//!
//! libpcap binds its socket to the namespace of the thread that opens it, so each capture
//! runs on its own thread inside the interface's namespace (`Netns::run`). Every captured TCP
//! segment and UDP datagram, over IPv4 or IPv6 (no extension headers), is classified:
//!
//! * **correct**: the checksum verifies (the ones' complement sum over the pseudo-header and
//!   the whole segment is 0xffff);
//! * **partial**: the field holds the folded, *not complemented* pseudo-header sum (saddr +
//!   daddr + protocol + length; for IPv6 the 128-bit addresses and a 32-bit upper-layer
//!   length, RFC 8200 8.1; the length taken from the IP header because GSO packets exceed the
//!   MTU): tx checksum offload is pending, and a receiver behind an XDP redirect will drop it
//!   (see KERNEL-NOTES "Partial checksums"; UDP behaves like TCP: UDP_CSUM, `InCsumErrors`);
//! * **corrupt**: neither;
//! * **absent** (UDP over IPv4 only): checksum field 0, "no checksum", which RFC 768 allows
//!   and receivers accept. Over IPv6 a zero UDP checksum is invalid and counts as corrupt.
//!
//! On request ([`Keep`]) a capture also keeps the packets it saw, bounded per capture point
//! (by default [`Keep::DEFAULT`]: 2000 packets and 4 MiB, the rest only counted), so that
//! `diagnose --pcap` can hand them over as pcapng ([`write_pcapng`]), each packet with its
//! checksum verdict as a comment.

use std::io::Write;
use std::sync::mpsc::Sender;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::netns::Netns;
use crate::pcapng;
use crate::{Error, Result};

/// What a TCP or UDP checksum says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CsumClass {
    /// The checksum verifies.
    Correct,
    /// The field holds the pseudo-header sum: tx checksum offload pending.
    Partial,
    /// Neither.
    Corrupt,
    /// UDP over IPv4 without a checksum (field 0): nothing to verify, and nothing wrong.
    Absent,
}

impl CsumClass {
    /// `correct`, `partial`, `corrupt` or `absent`.
    pub fn as_str(self) -> &'static str {
        match self {
            CsumClass::Correct => "correct",
            CsumClass::Partial => "partial",
            CsumClass::Corrupt => "corrupt",
            CsumClass::Absent => "absent",
        }
    }
}

/// The transport protocol of a classified packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
}

impl Transport {
    /// The IP protocol number (what the pseudo-header sums).
    pub fn proto(self) -> u8 {
        match self {
            Transport::Tcp => 6,
            Transport::Udp => 17,
        }
    }

    /// `TCP` or `UDP`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "TCP",
            Transport::Udp => "UDP",
        }
    }
}

/// What classification says of one TCP segment or UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// TCP or UDP.
    pub transport: Transport,
    /// Carried over IPv6 (else IPv4).
    pub ipv6: bool,
    /// The checksum's class; None: unverifiable (the segment was not fully captured and
    /// the field is not the pseudo-header sum).
    pub class: Option<CsumClass>,
    /// A TCP segment with RST set.
    pub reset: bool,
}

/// Counts of one transport in a capture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtoCounts {
    /// Packets seen (IPv4 and IPv6).
    pub packets: u64,
    /// Of them, over IPv6.
    #[serde(default)]
    pub ipv6: u64,
    /// With a checksum that verifies.
    pub correct: u64,
    /// With a partial checksum (tx offload pending).
    pub partial: u64,
    /// With a wrong checksum.
    pub corrupt: u64,
    /// Not fully captured and not partial (the full checksum cannot be checked).
    pub unverifiable: u64,
    /// UDP over IPv4 without a checksum.
    #[serde(default)]
    pub absent: u64,
}

impl ProtoCounts {
    fn add(&mut self, v: &Verdict) {
        self.packets += 1;
        self.ipv6 += u64::from(v.ipv6);
        match v.class {
            Some(CsumClass::Correct) => self.correct += 1,
            Some(CsumClass::Partial) => self.partial += 1,
            Some(CsumClass::Corrupt) => self.corrupt += 1,
            Some(CsumClass::Absent) => self.absent += 1,
            None => self.unverifiable += 1,
        }
    }
}

/// Counts of one capture. The TCP counts are the flat fields (IPv4 and IPv6 together, as
/// they were before IPv6 and UDP were classified); UDP has its own [`ProtoCounts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureStats {
    /// TCP segments seen, IPv4 and IPv6.
    pub tcp: u64,
    /// Of them, with a checksum that verifies.
    pub correct: u64,
    /// With a partial checksum (tx offload pending).
    pub partial: u64,
    /// With a wrong checksum.
    pub corrupt: u64,
    /// Segments not fully captured and not partial (the full checksum cannot be checked).
    pub unverifiable: u64,
    /// Segments with RST set (a closed port answers a SYN with one).
    #[serde(default)]
    pub resets: u64,
    /// Of the TCP segments, those over IPv6.
    #[serde(default)]
    pub tcp_ipv6: u64,
    /// UDP datagrams, IPv4 and IPv6.
    #[serde(default)]
    pub udp: ProtoCounts,
}

impl CaptureStats {
    /// Counts one TCP segment of class `c` (None: unverifiable), over IPv4.
    pub fn add(&mut self, c: Option<CsumClass>) {
        self.count(&Verdict {
            transport: Transport::Tcp,
            ipv6: false,
            class: c,
            reset: false,
        });
    }

    /// Counts one classified packet.
    pub fn count(&mut self, v: &Verdict) {
        match v.transport {
            Transport::Udp => self.udp.add(v),
            Transport::Tcp => {
                self.tcp += 1;
                self.tcp_ipv6 += u64::from(v.ipv6);
                self.resets += u64::from(v.reset);
                match v.class {
                    Some(CsumClass::Correct) => self.correct += 1,
                    Some(CsumClass::Partial) => self.partial += 1,
                    Some(CsumClass::Corrupt | CsumClass::Absent) => self.corrupt += 1,
                    None => self.unverifiable += 1,
                }
            }
        }
    }

    /// Partial checksums of either transport.
    pub fn partial_any(&self) -> u64 {
        self.partial + self.udp.partial
    }
}

/// Adds 16-bit big-endian words of `b` (an odd last byte padded with zero) to `s`.
fn add_words(mut s: u32, b: &[u8]) -> u32 {
    let mut it = b.chunks_exact(2);
    for w in &mut it {
        s = s.wrapping_add(u32::from(u16::from_be_bytes([w[0], w[1]])));
        s = (s & 0xffff) + (s >> 16);
    }
    if let [last] = it.remainder() {
        s = s.wrapping_add(u32::from(*last) << 8);
    }
    s
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Folded, non-complemented pseudo-header sum of TCP over IPv4: what the checksum field
/// holds while tx offload is pending.
pub fn pseudo_header_sum(src: [u8; 4], dst: [u8; 4], tcp_len: u16) -> u16 {
    pseudo_sum_v4(src, dst, Transport::Tcp.proto(), u32::from(tcp_len))
}

/// Folded, non-complemented IPv4 pseudo-header sum (RFC 793 / 768).
pub fn pseudo_sum_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: u32) -> u16 {
    let s = add_words(add_words(0, &src), &dst);
    fold(s + u32::from(proto) + len)
}

/// Folded, non-complemented IPv6 pseudo-header sum (RFC 8200 8.1: source, destination, a
/// 32-bit upper-layer length, three zero bytes and the next header).
pub fn pseudo_sum_v6(src: [u8; 16], dst: [u8; 16], proto: u8, len: u32) -> u16 {
    let s = add_words(add_words(0, &src), &dst);
    fold(s + (len >> 16) + (len & 0xffff) + u32::from(proto))
}

/// Classifies the L4 checksum of a segment whose pseudo-header sums to `pseudo`. `seg` is
/// what was captured of the segment (from its first byte), `len` its length on the wire.
fn classify_l4(
    transport: Transport,
    ipv6: bool,
    pseudo: u16,
    seg: &[u8],
    len: usize,
) -> Option<Verdict> {
    let (min, at) = match transport {
        Transport::Tcp => (20, 16),
        Transport::Udp => (8, 6),
    };
    if len < min || seg.len() < min {
        return None;
    }
    let field = u16::from_be_bytes([seg[at], seg[at + 1]]);
    let reset = transport == Transport::Tcp && seg[13] & 0x04 != 0;
    let class = if transport == Transport::Udp && field == 0 {
        Some(if ipv6 {
            CsumClass::Corrupt
        } else {
            CsumClass::Absent
        })
    } else if field == pseudo {
        Some(CsumClass::Partial)
    } else {
        // None: a truncated capture.
        seg.get(..len).map(|whole| {
            if fold(add_words(u32::from(pseudo), whole)) == 0xffff {
                CsumClass::Correct
            } else {
                CsumClass::Corrupt
            }
        })
    };
    Some(Verdict {
        transport,
        ipv6,
        class,
        reset,
    })
}

fn transport_of(proto: u8) -> Option<Transport> {
    match proto {
        6 => Some(Transport::Tcp),
        17 => Some(Transport::Udp),
        _ => None,
    }
}

/// Classifies a TCP or UDP packet over IPv4 (starting at the IP header). `None`: not TCP or
/// UDP, a fragment, or too short to tell.
pub fn classify_ipv4_packet(ip: &[u8]) -> Option<Verdict> {
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let tot = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    // More fragments, or an offset: the segment is not whole in this packet.
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 || ihl < 20 {
        return None;
    }
    let transport = transport_of(ip[9])?;
    let len = tot.checked_sub(ihl)?;
    let src: [u8; 4] = ip[12..16].try_into().ok()?;
    let dst: [u8; 4] = ip[16..20].try_into().ok()?;
    let pseudo = pseudo_sum_v4(src, dst, transport.proto(), len as u32);
    classify_l4(transport, false, pseudo, ip.get(ihl..)?, len)
}

/// Classifies a TCP or UDP packet over IPv6 (starting at the IPv6 header) whose next header
/// is TCP or UDP (extension headers are not walked: `None`, as for anything else).
pub fn classify_ipv6_packet(ip: &[u8]) -> Option<Verdict> {
    if ip.len() < 40 || ip[0] >> 4 != 6 {
        return None;
    }
    let transport = transport_of(ip[6])?;
    let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let src: [u8; 16] = ip[8..24].try_into().ok()?;
    let dst: [u8; 16] = ip[24..40].try_into().ok()?;
    let pseudo = pseudo_sum_v6(src, dst, transport.proto(), len as u32);
    classify_l4(transport, true, pseudo, &ip[40..], len)
}

/// Classifies the TCP checksum of an IPv4 packet (starting at the IP header). `None`: not an
/// IPv4 TCP packet, or too short to tell.
pub fn classify_ipv4(ip: &[u8]) -> Option<Option<CsumClass>> {
    classify_ipv4_packet(ip)
        .filter(|v| v.transport == Transport::Tcp)
        .map(|v| v.class)
}

/// Classifies an Ethernet frame carrying TCP or UDP over IPv4 or IPv6 (`None` otherwise).
pub fn classify_frame(frame: &[u8]) -> Option<Verdict> {
    match frame.get(12..14)? {
        [0x08, 0x00] => classify_ipv4_packet(&frame[14..]),
        [0x86, 0xdd] => classify_ipv6_packet(&frame[14..]),
        _ => None,
    }
}

/// Classifies an Ethernet frame's TCP or UDP checksum (`None` if it is neither, over IPv4 or
/// IPv6).
pub fn classify_ethernet(frame: &[u8]) -> Option<Option<CsumClass>> {
    classify_frame(frame).map(|v| v.class)
}

/// Whether an Ethernet frame is a TCP segment (IPv4 or IPv6) with RST set.
pub fn is_reset(frame: &[u8]) -> bool {
    classify_frame(frame).is_some_and(|v| v.reset)
}

/// How many packets a capture keeps for export, per capture point. Packets past either
/// bound are classified and counted as usual, but not kept ([`Capture::not_kept`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    /// Most packets kept.
    pub packets: usize,
    /// Most bytes kept (sum of captured lengths).
    pub bytes: usize,
}

impl Keep {
    /// 2000 packets and 4 MiB per capture point: a diagnose window of a few seconds of lab
    /// traffic fits many times over, and hundreds of capture points stay within memory.
    pub const DEFAULT: Keep = Keep {
        packets: 2000,
        bytes: 4 << 20,
    };
}

/// A packet a capture kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedPacket {
    /// Nanoseconds since the Unix epoch (libpcap's timestamp).
    pub ts_ns: u64,
    /// Length on the wire.
    pub orig_len: u32,
    /// The Ethernet frame as captured.
    pub data: Vec<u8>,
    /// Its TCP or UDP checksum ([`classify_frame`]); `None` when the packet is neither, over
    /// IPv4 or IPv6.
    pub csum: Option<Verdict>,
}

impl CapturedPacket {
    /// The verdict in words, as written into the pcapng comment of the packet.
    pub fn verdict(&self) -> String {
        let Some(v) = self.csum else {
            return "xdpdoctor: not TCP or UDP (checksum not classified)".into();
        };
        let (t, over) = (v.transport.as_str(), if v.ipv6 { " over IPv6" } else { "" });
        match v.class {
            Some(CsumClass::Partial) => format!(
                "xdpdoctor: {t} checksum partial{over} (tx checksum offload pending: the field \
                 holds the pseudo-header sum; a receiver behind an XDP redirect drops it as {t}_CSUM)"
            ),
            Some(CsumClass::Absent) => format!("xdpdoctor: {t} checksum absent{over} (field 0)"),
            Some(c) => format!("xdpdoctor: {t} checksum {}{over}", c.as_str()),
            None => format!("xdpdoctor: {t} checksum unverifiable{over} (not fully captured)"),
        }
    }
}

/// What one capture saw: counts of every segment, and the packets kept when asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    /// Every TCP segment and UDP datagram, classified.
    pub stats: CaptureStats,
    /// Packets kept ([`Keep`]), in capture order.
    pub packets: Vec<CapturedPacket>,
    /// Packets seen but not kept (past the [`Keep`] bounds).
    pub not_kept: u64,
}

/// Captures TCP and UDP on `ifname` in `ns` for `window` and classifies every segment and
/// datagram, IPv4 and IPv6. `ready` gets
/// one message once the capture is open (so traffic can start after it).
pub fn capture_tcp(
    ns: &Netns,
    ifname: &str,
    window: &crate::cancel::Window,
    ready: Option<Sender<()>>,
) -> Result<CaptureStats> {
    capture_tcp_keeping(ns, ifname, window, ready, None).map(|c| c.stats)
}

/// [`capture_tcp`], also keeping the packets within `keep`'s bounds (none when `None`).
pub fn capture_tcp_keeping(
    ns: &Netns,
    ifname: &str,
    window: &crate::cancel::Window,
    ready: Option<Sender<()>>,
    keep: Option<Keep>,
) -> Result<Capture> {
    let ifname = ifname.to_string();
    ns.run(move || {
        let target = format!("{ifname} in {ns}");
        let pe = |e: pcap::Error| Error::Capture {
            target: target.clone(),
            source: e.into(),
        };
        let mut cap = pcap::Capture::from_device(ifname.as_str())
            .map_err(pe)?
            .immediate_mode(true)
            .snaplen(SNAPLEN as i32)
            // Small ring: a diagnose may capture on hundreds of container veths at once
            // (libpcap's default 2 MiB each made 500 containers cost 1.6 GB). In immediate
            // mode libpcap uses fixed ring slots of the snap length: with 64 KiB it held 3
            // packets and a burst (a SYN and its reset, a few datagrams) lost all but the
            // first ones; 4 KiB slots hold about 120.
            .buffer_size(RING_BYTES)
            .timeout(50)
            .precision(pcap::Precision::Nano)
            .open()
            .map_err(pe)?
            // Non-blocking: a blocking read may wait forever on a quiet interface.
            .setnonblock()
            .map_err(pe)?;
        cap.filter("tcp or udp", true).map_err(pe)?;
        if let Some(r) = ready {
            let _ = r.send(());
        }
        let mut out = Capture::default();
        let mut kept_bytes = 0usize;
        while window.left().is_some() {
            match cap.next_packet() {
                Ok(p) => {
                    let class = classify_frame(p.data);
                    if let Some(v) = &class {
                        out.stats.count(v);
                    }
                    let Some(k) = keep else {
                        continue;
                    };
                    if out.packets.len() < k.packets && kept_bytes + p.data.len() <= k.bytes {
                        kept_bytes += p.data.len();
                        let ts = p.header.ts;
                        out.packets.push(CapturedPacket {
                            // Nanosecond precision: tv_usec holds nanoseconds.
                            ts_ns: (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_usec as u64,
                            orig_len: p.header.len,
                            data: p.data.to_vec(),
                            csum: class,
                        });
                    } else {
                        out.not_kept += 1;
                    }
                }
                Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => return Err(pe(e)),
            }
        }
        Ok(out)
    })
}

/// Snap length of the captures (and of the pcapng files they are written to): a full frame up
/// to a 4 KiB MTU. A larger (GSO or jumbo) segment is cut: its checksum is still seen to be
/// partial (the headers suffice), otherwise it counts as unverifiable.
pub const SNAPLEN: u32 = 4096;

/// Kernel ring per capture: about 120 slots of [`SNAPLEN`].
const RING_BYTES: i32 = 512 * 1024;

/// Writes `packets` captured on `iface` in namespace `netns` into `w` (made with
/// [`pcapng::LINKTYPE_ETHERNET`] and [`SNAPLEN`]), under one interface
/// named `netns/iface`, each packet with its checksum verdict as a comment. `note` (if any)
/// becomes the interface's description, after what the capture point is.
pub fn write_pcapng<W: Write>(
    w: &mut pcapng::Writer<W>,
    netns: &str,
    iface: &str,
    packets: &[CapturedPacket],
    note: Option<&str>,
) -> std::io::Result<()> {
    let mut description =
        format!("xdpdoctor capture of TCP and UDP on {iface} in namespace {netns}");
    if let Some(n) = note {
        description.push_str("; ");
        description.push_str(n);
    }
    let id = w.interface(&pcapng::Interface {
        name: format!("{netns}/{iface}"),
        description: Some(description),
    })?;
    for p in packets {
        w.packet(&pcapng::Packet {
            interface: id,
            ts_ns: p.ts_ns,
            orig_len: p.orig_len,
            data: &p.data,
            comments: &[p.verdict()],
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
