//! Socket-buffer drops: `skb:kfree_skb` with its drop reason (5.17+), filtered in the kernel to
//! the reasons that explain a lost forwarded packet ([`DEFAULT_DROP_REASONS`], resolved to this
//! kernel's numbers through the format file), and `tcp:tcp_bad_csum` (5.14+), which fires when
//! TCP drops a segment whose checksum is wrong: the symptom of a partial checksum
//! (tx offload) that crossed an XDP redirect.

use super::tracefs::DropReasons;
use super::{tracepoint_family, EventKind, Family, RecordField};
use crate::bpf::probes_abi as abi;

pub(super) const FAMILIES: &[Family] = &[
    tracepoint_family!(
        EventKind::KfreeSkb,
        "skb",
        "kfree_skb",
        abi::PROG_KFREE_SKB_BTF,
        abi::PROG_KFREE_SKB_TP,
        reads: KFREE_SKB_RECORD,
    ),
    tracepoint_family!(
        EventKind::TcpBadCsum,
        "tcp",
        "tcp_bad_csum",
        abi::PROG_TCP_BAD_CSUM_BTF,
        abi::PROG_TCP_BAD_CSUM_TP,
        reads: TCP_BAD_CSUM_RECORD,
    ),
];

/// A kernel pointer as the probe reads it.
const POINTER: u32 = 8;

/// What `xd_kfree_skb_tp` reads from the `skb:kfree_skb` record.
const KFREE_SKB_RECORD: &[RecordField] = &[
    RecordField {
        name: "skbaddr",
        size: POINTER,
        global: abi::GLOBAL_KFREE_SKBADDR_OFFSET,
    },
    RecordField {
        name: "location",
        size: POINTER,
        global: abi::GLOBAL_KFREE_LOCATION_OFFSET,
    },
    RecordField {
        name: "reason",
        size: 4,
        global: abi::GLOBAL_KFREE_REASON_OFFSET,
    },
];

/// What `xd_tcp_bad_csum_tp` reads from the `tcp:tcp_bad_csum` record.
const TCP_BAD_CSUM_RECORD: &[RecordField] = &[RecordField {
    name: "skbaddr",
    size: POINTER,
    global: abi::GLOBAL_BAD_CSUM_SKBADDR_OFFSET,
}];

/// Drop reasons (names without `SKB_DROP_REASON_`) that can explain a packet the forwarder
/// sent and nobody received. Not here on purpose: NOT_SPECIFIED and the everyday socket
/// reasons (SOCKET_CLOSE, SOCKET_RCVBUFF, TCP_OLD_DATA, ...), which are noise. Names this
/// kernel does not know are ignored.
pub const DEFAULT_DROP_REASONS: &[&str] = &[
    "NO_SOCKET",
    "PKT_TOO_SMALL",
    "TCP_CSUM",
    "UDP_CSUM",
    "IP_CSUM",
    "IP_INHDR",
    "IP_RPFILTER",
    "IP_NOPROTO",
    "OTHERHOST",
    "NETFILTER_DROP",
    "IP_INADDRERRORS",
    "IP_INNOROUTES",
    "IP_OUTNOROUTES",
    "IP_INVALID_SOURCE",
    "IP_LOCAL_SOURCE",
    "IP_INVALID_DEST",
    "PKT_TOO_BIG",
    "NEIGH_CREATEFAIL",
    "NEIGH_FAILED",
    "NEIGH_QUEUEFULL",
    "NEIGH_DEAD",
    "XDP",
    "TC_INGRESS",
    "TC_EGRESS",
    "DEV_HDR",
    "DEV_READY",
    "FULL_RING",
    "UNHANDLED_PROTO",
];

/// The `drop_reason_mask` global: bit n set for each wanted reason this kernel knows.
pub(super) fn reason_mask(
    reasons: &DropReasons,
    wanted: &[&str],
) -> [u64; abi::XD_REASON_BITS / 64] {
    let mut mask = [0u64; abi::XD_REASON_BITS / 64];
    for name in wanted {
        match reasons.number(name) {
            Some(n) if (n as usize) < abi::XD_REASON_BITS => {
                mask[n as usize / 64] |= 1 << (n % 64);
            }
            Some(n) => log::warn!("drop reason {name} = {n} is beyond the probe's bitmap"),
            None => log::debug!("drop reason {name} unknown on this kernel"),
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_uses_this_kernels_numbers() {
        let r = super::super::tracefs::parse_format(
            "print fmt: \"\", __print_symbolic(REC->reason, { 2, \"NOT_SPECIFIED\" }, { 10, \"TCP_CSUM\" }, { 70, \"XDP\" })",
        );
        let m = reason_mask(&r, &["TCP_CSUM", "XDP", "NOT_THERE"]);
        assert_eq!(m[0], 1 << 10);
        assert_eq!(m[1], 1 << 6);
        assert_eq!(m[2] | m[3], 0);
    }
}
