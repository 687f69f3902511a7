//! Ring-buffer records -> [`Event`]: names for namespaces, interfaces, programs and codes.

use super::decode::{errno_name, xdp_action_name, Names};
use super::tracefs::DropReasons;
use super::{Event, EventKind, PacketBytes, PacketStart};
use crate::bpf::probes_abi::{self as abi, XdEvent};

/// The name of an event's code: errno, XDP action or drop reason, by kind.
pub fn code_name(kind: EventKind, code: i32, reasons: &DropReasons) -> String {
    match kind {
        EventKind::RedirectErr | EventKind::DevmapXmit | EventKind::VethXdpXmit => errno_name(code),
        EventKind::XdpException => xdp_action_name(code as u32),
        EventKind::KfreeSkb => reasons
            .name(code as u32)
            .map(str::to_string)
            .unwrap_or_else(|| format!("reason {code}")),
        EventKind::TcpBadCsum => "BAD_CSUM".into(),
        EventKind::Redirect => errno_name(code),
    }
}

fn probe_name(source: u8) -> &'static str {
    match source {
        abi::XD_SRC_TP_BTF => "tp_btf",
        abi::XD_SRC_TRACEPOINT => "tracepoint",
        abi::XD_SRC_FEXIT => "fexit",
        abi::XD_SRC_KRETPROBE => "kretprobe",
        _ => "unknown",
    }
}

/// Decodes one record; None for a kind this build does not know. A record without a namespace
/// (classic xdp tracepoints) gets the namespace of the deployed forwarder that owns its
/// program on its interface, if any ([`super::attribute`]); never one guessed by ifindex.
/// `packet` holds the bytes that followed the event in its record (skb probes).
pub fn decode(e: &XdEvent, packet: &[u8], names: &Names, reasons: &DropReasons) -> Option<Event> {
    let kind = EventKind::from_abi(e.kind)?;
    let (netns, attribution) = names.prog_owners().attribute(e.netns, e.prog_id, e.ifindex);
    let own = |ns: u64| names.netns_name(ns).map(str::to_string);
    let ifname = |ns: u64, i: u32| {
        (ns != 0 && i != 0)
            .then(|| names.ifname(ns, i).map(str::to_string))
            .flatten()
    };
    let has_action = matches!(
        kind,
        EventKind::RedirectErr | EventKind::DevmapXmit | EventKind::XdpException
    );
    Some(Event {
        kind,
        probe: probe_name(e.source),
        ts_ns: e.ts_ns,
        cpu: e.cpu,
        netns_inode: netns,
        netns: own(netns),
        attribution,
        ifindex: e.ifindex,
        ifname: ifname(netns, e.ifindex),
        target_netns_inode: e.target_netns,
        target_netns: own(e.target_netns),
        target_ifindex: e.target_ifindex,
        target_ifname: ifname(e.target_netns, e.target_ifindex),
        code: e.code,
        code_name: code_name(kind, e.code, reasons),
        prog_id: e.prog_id,
        prog: names.prog(e.prog_id).map(str::to_string),
        action: has_action.then(|| xdp_action_name(e.act)),
        sent: e.sent,
        drops: e.drops,
        protocol: e.protocol,
        location: e.location,
        packet: packet_bytes(e, packet),
    })
}

/// The packet bytes of a record (skb probes), when it has any.
pub fn packet(e: &XdEvent, data: &[u8]) -> Option<PacketBytes> {
    packet_bytes(e, data)
}

fn packet_bytes(e: &XdEvent, data: &[u8]) -> Option<PacketBytes> {
    let start = match e.pkt_start {
        abi::XD_PKT_MAC => PacketStart::Mac,
        abi::XD_PKT_NETWORK => PacketStart::Network,
        _ => return None,
    };
    Some(PacketBytes {
        start,
        len: e.pkt_len,
        data: data.to_vec(),
    })
}
