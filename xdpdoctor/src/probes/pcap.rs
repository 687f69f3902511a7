//! Traced events as pcapng (`trace --pcap FILE`): every event becomes one packet record, on an
//! interface named `namespace/interface` where the probe saw it, with a comment naming the
//! probe, the namespace and interface, and the error or drop reason.
//!
//! What has packet bytes: `kfree_skb` and `tcp_bad_csum` carry the skb, and their probes copy
//! its first [`abi::XD_PKT_BYTES`] bytes in the kernel, from the MAC header when it is set,
//! else from the network header (then an Ethernet header with zero addresses and the skb's
//! protocol is put in front, so that every record of the file is Ethernet: libpcap reads a
//! file only when all its interfaces share one link type; the comment says so). What has
//! none: the `xdp:*` tracepoints (redirect errors, devmap drops, exceptions) and the
//! `veth_xdp_xmit` return probe carry no packet data; their events are written as records
//! with no bytes (captured length 0) and the comment, so a reader still lists them in order.

use std::io::Write;

use super::{Event, EventKind, PacketStart};
use crate::bpf::probes_abi as abi;
use crate::pcapng;

/// Snap length of the file: the probes' bytes plus a synthesized Ethernet header.
pub const SNAPLEN: u32 = abi::XD_PKT_BYTES as u32 + ETH_HLEN as u32;
const ETH_HLEN: usize = 14;

/// Writes events as pcapng.
pub struct EventWriter<W: Write> {
    w: pcapng::Writer<W>,
    /// `CLOCK_MONOTONIC` (the probes' timestamps) -> Unix time.
    offset_ns: i128,
    written: u64,
}

impl<W: Write> EventWriter<W> {
    /// Starts the file (section header).
    pub fn new(out: W) -> std::io::Result<Self> {
        let app = format!("xdpdoctor {} trace", env!("CARGO_PKG_VERSION"));
        Ok(EventWriter {
            w: pcapng::Writer::new(out, &app, pcapng::LINKTYPE_ETHERNET, SNAPLEN)?,
            offset_ns: pcapng::monotonic_to_unix_offset_ns(),
            written: 0,
        })
    }

    /// Appends one event.
    pub fn write(&mut self, e: &Event) -> std::io::Result<()> {
        let id = self.w.interface(&pcapng::Interface {
            name: capture_point(e),
            description: Some(format!(
                "xdpdoctor trace: where the probes saw packets die ({})",
                where_(e)
            )),
        })?;
        let (data, orig_len, note) = frame(e);
        let mut comments = vec![comment(e)];
        comments.extend(note);
        let ts = (i128::from(e.ts_ns) + self.offset_ns).max(0) as u64;
        self.w.packet(&pcapng::Packet {
            interface: id,
            ts_ns: ts,
            orig_len,
            data: &data,
            comments: &comments,
        })?;
        self.written += 1;
        Ok(())
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The output.
    pub fn get_ref(&self) -> &W {
        self.w.get_ref()
    }

    /// The output as it is, without flushing (an output that finishes files itself).
    pub fn into_inner(self) -> W {
        self.w.into_inner()
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(self) -> std::io::Result<W> {
        self.w.finish()
    }
}

/// The events a file this writer wrote holds, and of them those with packet bytes (for a
/// file cut short: what it really holds).
pub fn events_in(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    pcapng::packets_in(path)
}

/// `namespace/interface` of the event's device, with numbers where names are unknown.
pub fn capture_point(e: &Event) -> String {
    let ns = match (&e.netns, e.netns_inode) {
        (Some(n), _) => n.clone(),
        (None, 0) => "unknown-netns".into(),
        (None, i) => format!("netns-{i}"),
    };
    let dev = match (&e.ifname, e.ifindex) {
        (Some(n), _) => n.clone(),
        (None, 0) => "no-device".into(),
        (None, i) => format!("ifindex-{i}"),
    };
    format!("{ns}/{dev}")
}

fn where_(e: &Event) -> String {
    let ns = e
        .netns
        .clone()
        .unwrap_or_else(|| format!("netns {}", e.netns_inode));
    let dev = e
        .ifname
        .clone()
        .unwrap_or_else(|| format!("ifindex {}", e.ifindex));
    format!("{dev} in {ns}")
}

/// The comment naming probe, place and cause.
pub fn comment(e: &Event) -> String {
    let why = match e.kind {
        EventKind::KfreeSkb => format!("drop reason {} ({})", e.code_name, e.code),
        EventKind::TcpBadCsum => "TCP dropped it: bad checksum".into(),
        EventKind::XdpException => format!("XDP action {} ({})", e.code_name, e.code),
        _ => format!("error {} ({})", e.code_name, e.code),
    };
    let mut s = format!(
        "xdpdoctor: {} via {}; {why}; on {}",
        e.kind,
        e.probe,
        where_(e)
    );
    if e.target_ifindex != 0 {
        let t = e
            .target_ifname
            .clone()
            .unwrap_or_else(|| format!("ifindex {}", e.target_ifindex));
        match &e.target_netns {
            Some(n) => s.push_str(&format!(" -> {t} in {n}")),
            None => s.push_str(&format!(" -> {t}")),
        }
    }
    if e.prog_id != 0 {
        s.push_str(&format!("; XDP prog {}", e.prog_id));
        if let Some(p) = &e.prog {
            s.push_str(&format!(" [{p}]"));
        }
    }
    if e.drops != 0 || e.sent != 0 {
        s.push_str(&format!("; sent={} drops={}", e.sent, e.drops));
    }
    if e.location != 0 {
        s.push_str(&format!("; dropped at {:#x}", e.location));
    }
    s
}

/// The record's bytes, its original length, and a remark on them when needed.
fn frame(e: &Event) -> (Vec<u8>, u32, Option<String>) {
    let Some(p) = &e.packet else {
        let why = match e.kind {
            EventKind::KfreeSkb | EventKind::TcpBadCsum => {
                "no packet bytes: the probe could not reach the skb's headers"
            }
            _ => "no packet bytes: this probe carries no packet data (xdp tracepoints and the veth_xdp_xmit return report numbers only)",
        };
        return (Vec::new(), 0, Some(why.into()));
    };
    match p.start {
        PacketStart::Mac => (p.data.clone(), p.len, None),
        PacketStart::Network => {
            let proto = match (e.protocol, p.data.first().map(|b| b >> 4)) {
                (0, Some(4)) => 0x0800,
                (0, Some(6)) => 0x86dd,
                (x, _) => x,
            };
            let mut f = vec![0u8; 12];
            f.extend_from_slice(&proto.to_be_bytes());
            f.extend_from_slice(&p.data);
            (
                f,
                p.len + ETH_HLEN as u32,
                Some(
                    "Ethernet header synthesized (zero addresses): the skb had no MAC header, \
                     the probe copied from the IP header"
                        .into(),
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Attribution, PacketBytes};
    use super::*;

    fn event(kind: EventKind, packet: Option<PacketBytes>) -> Event {
        Event {
            kind,
            probe: "tp_btf",
            ts_ns: 1,
            cpu: 0,
            netns_inode: 4026532666,
            netns: Some("lab-client".into()),
            attribution: Attribution::Device,
            ifindex: 2,
            ifname: Some("eth0".into()),
            target_netns_inode: 0,
            target_netns: None,
            target_ifindex: 0,
            target_ifname: None,
            code: 10,
            code_name: "TCP_CSUM".into(),
            prog_id: 0,
            prog: None,
            action: None,
            sent: 0,
            drops: 0,
            protocol: 0x0800,
            location: 0xffffffff81000000,
            packet,
        }
    }

    #[test]
    fn comments_name_probe_place_and_reason() {
        let e = event(EventKind::KfreeSkb, None);
        assert_eq!(capture_point(&e), "lab-client/eth0");
        let c = comment(&e);
        assert!(
            c.starts_with(
                "xdpdoctor: kfree_skb via tp_btf; drop reason TCP_CSUM (10); on eth0 in lab-client"
            ),
            "{c}"
        );
    }

    #[test]
    fn packet_summary_names_addresses_ports_and_flags() {
        let mut d = vec![0u8; 12];
        d.extend([0x08, 0x00]);
        d.extend([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0]);
        d.extend([192, 168, 9, 1, 192, 168, 9, 254]);
        d.extend([0x1f, 0x90, 0x9c, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x12]);
        let p = PacketBytes {
            start: PacketStart::Mac,
            len: 54,
            data: d,
        };
        assert_eq!(
            p.summary().unwrap(),
            "IPv4 192.168.9.1:8080 > 192.168.9.254:40000 TCP [S.]"
        );
    }

    #[test]
    fn network_start_gets_an_ethernet_header_and_a_remark() {
        let p = PacketBytes {
            start: PacketStart::Network,
            len: 40,
            data: vec![0x45, 0, 0, 40],
        };
        let (f, len, note) = frame(&event(EventKind::KfreeSkb, Some(p)));
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(&f[14..], &[0x45, 0, 0, 40]);
        assert_eq!(len, 54);
        assert!(note.unwrap().contains("synthesized"));
        let (f, len, note) = frame(&event(EventKind::RedirectErr, None));
        assert!(f.is_empty() && len == 0);
        assert!(note.unwrap().contains("no packet data"));
    }
}
