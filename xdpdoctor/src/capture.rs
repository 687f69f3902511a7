//! Packet capture inside a namespace, with TCP checksum verification.
//!
//! libpcap binds its socket to the namespace of the thread that opens it, so each capture
//! runs on its own thread inside the interface's namespace (`Netns::run`). Every captured TCP
//! segment is classified:
//!
//! * **correct**: the checksum verifies (etherparse computes it over pseudo-header + segment);
//! * **partial**: the field holds the folded, *not complemented* pseudo-header sum (saddr +
//!   daddr + protocol + TCP length, the length taken from the IP header because GSO packets
//!   exceed the MTU): tx checksum offload is pending, and a receiver behind an XDP redirect
//!   will drop it (see KERNEL-NOTES "Partial checksums");
//! * **corrupt**: neither.
//!
//! On request ([`Keep`]) a capture also keeps the packets it saw, bounded per capture point
//! (by default [`Keep::DEFAULT`]: 2000 packets and 4 MiB, the rest only counted), so that
//! `diagnose --pcap` can hand them over as pcapng ([`write_pcapng`]), each packet with its
//! checksum verdict as a comment.

use std::io::Write;
use std::sync::mpsc::Sender;
use std::time::Duration;

use etherparse::{Ipv4HeaderSlice, TcpHeaderSlice};
use serde::{Deserialize, Serialize};

use crate::netns::Netns;
use crate::pcapng;
use crate::{Error, Result};

/// What a TCP checksum says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CsumClass {
    /// The checksum verifies.
    Correct,
    /// The field holds the pseudo-header sum: tx checksum offload pending.
    Partial,
    /// Neither.
    Corrupt,
}

impl CsumClass {
    /// `correct`, `partial` or `corrupt`.
    pub fn as_str(self) -> &'static str {
        match self {
            CsumClass::Correct => "correct",
            CsumClass::Partial => "partial",
            CsumClass::Corrupt => "corrupt",
        }
    }
}

/// Counts of one capture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureStats {
    /// IPv4 TCP segments seen.
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
}

impl CaptureStats {
    /// Counts one segment of class `c` (None: unverifiable).
    pub fn add(&mut self, c: Option<CsumClass>) {
        self.tcp += 1;
        match c {
            Some(CsumClass::Correct) => self.correct += 1,
            Some(CsumClass::Partial) => self.partial += 1,
            Some(CsumClass::Corrupt) => self.corrupt += 1,
            None => self.unverifiable += 1,
        }
    }
}

/// Folded, non-complemented pseudo-header sum: what the checksum field holds while tx
/// offload is pending.
pub fn pseudo_header_sum(src: [u8; 4], dst: [u8; 4], tcp_len: u16) -> u16 {
    let mut s: u32 = 0;
    for w in [src, dst] {
        s += u32::from(u16::from_be_bytes([w[0], w[1]]));
        s += u32::from(u16::from_be_bytes([w[2], w[3]]));
    }
    s += 6 + u32::from(tcp_len);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Classifies the TCP checksum of an IPv4 packet (starting at the IP header). `None`: not an
/// IPv4 TCP packet, or too short to tell.
pub fn classify_ipv4(ip: &[u8]) -> Option<Option<CsumClass>> {
    let iph = Ipv4HeaderSlice::from_slice(ip).ok()?;
    if iph.protocol() != etherparse::IpNumber::TCP || iph.is_fragmenting_payload() {
        return None;
    }
    let ihl = usize::from(iph.ihl()) * 4;
    let tot = usize::from(iph.total_len());
    let tcp_len = tot.checked_sub(ihl)?;
    let seg = ip.get(ihl..)?;
    let tcp = TcpHeaderSlice::from_slice(seg).ok()?;
    let field = tcp.checksum();
    if field == pseudo_header_sum(iph.source(), iph.destination(), tcp_len as u16) {
        return Some(Some(CsumClass::Partial));
    }
    let Some(whole) = seg.get(..tcp_len) else {
        return Some(None); // truncated capture
    };
    let payload = &whole[tcp.slice().len()..];
    let want = tcp.calc_checksum_ipv4(&iph, payload).ok()?;
    Some(Some(if want == field {
        CsumClass::Correct
    } else {
        CsumClass::Corrupt
    }))
}

/// Classifies an Ethernet frame (`None` if it is not IPv4/TCP).
pub fn classify_ethernet(frame: &[u8]) -> Option<Option<CsumClass>> {
    if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    classify_ipv4(&frame[14..])
}

/// Whether an Ethernet frame is an IPv4 TCP segment with RST set.
pub fn is_reset(frame: &[u8]) -> bool {
    let Some(ip) = frame.get(14..) else {
        return false;
    };
    let Ok(iph) = Ipv4HeaderSlice::from_slice(ip) else {
        return false;
    };
    ip.get(usize::from(iph.ihl()) * 4..)
        .and_then(|seg| TcpHeaderSlice::from_slice(seg).ok())
        .is_some_and(|t| t.rst())
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
    /// Its TCP checksum: `Some(None)` when it cannot be verified (truncated), `None` when the
    /// packet is not IPv4 TCP.
    pub csum: Option<Option<CsumClass>>,
}

impl CapturedPacket {
    /// The verdict in words, as written into the pcapng comment of the packet.
    pub fn verdict(&self) -> String {
        match self.csum {
            Some(Some(CsumClass::Partial)) => "xdpdoctor: TCP checksum partial (tx checksum \
                offload pending: the field holds the pseudo-header sum; a receiver behind an XDP \
                redirect drops it as TCP_CSUM)"
                .into(),
            Some(Some(c)) => format!("xdpdoctor: TCP checksum {}", c.as_str()),
            Some(None) => {
                "xdpdoctor: TCP checksum unverifiable (segment not fully captured)".into()
            }
            None => "xdpdoctor: not IPv4 TCP (checksum not classified)".into(),
        }
    }
}

/// What one capture saw: counts of every segment, and the packets kept when asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    /// Every TCP segment, classified.
    pub stats: CaptureStats,
    /// Packets kept ([`Keep`]), in capture order.
    pub packets: Vec<CapturedPacket>,
    /// Packets seen but not kept (past the [`Keep`] bounds).
    pub not_kept: u64,
}

/// Captures TCP on `ifname` in `ns` for `window` and classifies every segment. `ready` gets
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
            // (libpcap's default 2 MiB each made 500 containers cost 1.6 GB).
            .buffer_size(256 * 1024)
            .timeout(50)
            .precision(pcap::Precision::Nano)
            .open()
            .map_err(pe)?
            // Non-blocking: a blocking read may wait forever on a quiet interface.
            .setnonblock()
            .map_err(pe)?;
        cap.filter("tcp", true).map_err(pe)?;
        if let Some(r) = ready {
            let _ = r.send(());
        }
        let mut out = Capture::default();
        let mut kept_bytes = 0usize;
        while window.left().is_some() {
            match cap.next_packet() {
                Ok(p) => {
                    let class = classify_ethernet(p.data);
                    if let Some(c) = class {
                        out.stats.add(c);
                        out.stats.resets += u64::from(is_reset(p.data));
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

/// Snap length of the captures (and of the pcapng files they are written to).
pub const SNAPLEN: u32 = 65535;

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
    let mut description = format!("xdpdoctor capture of TCP on {iface} in namespace {netns}");
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
mod tests {
    use super::*;

    /// The SYN from KERNEL-NOTES: 10.99.1.1 -> 10.99.1.2, 40 bytes, field 0x16f7.
    fn syn(check: u16) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 99, 1, 1, 10, 99, 1, 2,
        ];
        let mut tcp = vec![0u8; 40];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[12] = 10 << 4; // 40-byte header (options zero = EOL)
        tcp[13] = 0x02;
        tcp[16..18].copy_from_slice(&check.to_be_bytes());
        p.extend(tcp);
        p
    }

    #[test]
    fn partial_matches_kernel_notes_example() {
        assert_eq!(
            pseudo_header_sum([10, 99, 1, 1], [10, 99, 1, 2], 40),
            0x16f7
        );
        assert_eq!(classify_ipv4(&syn(0x16f7)), Some(Some(CsumClass::Partial)));
    }

    #[test]
    fn correct_and_corrupt() {
        let p = syn(0);
        let iph = Ipv4HeaderSlice::from_slice(&p).unwrap();
        let tcp = TcpHeaderSlice::from_slice(&p[20..]).unwrap();
        let good = tcp.calc_checksum_ipv4(&iph, &[]).unwrap();
        assert_eq!(classify_ipv4(&syn(good)), Some(Some(CsumClass::Correct)));
        assert_eq!(
            classify_ipv4(&syn(good ^ 0x0101)),
            Some(Some(CsumClass::Corrupt))
        );
    }
}
