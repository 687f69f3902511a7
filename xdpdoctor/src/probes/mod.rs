//! Probes: where packets die, as the running kernel lets us see it.
//!
//! One BPF object (`probes/trace.bpf.c`) holds every probe variant; user space loads and
//! attaches them one by one, in preference order per probe family (tp_btf before classic
//! tracepoint, fexit before kretprobe), so a refusal only costs that variant and is recorded in
//! words ([`ProbeSet::report`]). Families live one per file: [`xdp`], [`veth`], [`skb`].
//!
//! Every hit is counted in the kernel in a per-CPU hash keyed by (namespace inode, ifindex,
//! kind, errno or reason, target ifindex, program id), so a burst loses no count
//! ([`ProbeSet::aggregates`]); hits whose namespace the probe could not read (classic xdp
//! tracepoints) are attributed by program id to a deployed forwarder's namespace, or marked
//! unattributed, never matched by ifindex ([`attribute`]);
//! individual events go through a ring buffer ([`ProbeSet::poll_events`]), and reservations
//! that fail are counted ([`ProbeSet::lost`]). Events are decoded with [`decode::Names`]:
//! interface names in their namespace, namespace names, errno and drop-reason names, and the
//! deployed forwarder's programs. Dropping a [`ProbeSet`] detaches everything.

mod attach;
pub mod attribute;
pub mod decode;
mod event;
mod events;
mod family;
mod kinds;
mod observe;
pub mod pcap;
mod reader;
pub mod skb;
pub mod tracefs;
pub mod veth;
pub mod xdp;

pub use event::{
    Aggregate, Attribution, DroppedFlow, Event, EventKind, Filter, PacketBytes, PacketStart,
    ProbeKind, ProbeStatus, Tuple,
};
pub use family::ProbeOptions;
pub(crate) use family::{tracepoint_family, Family, RecordField, Variant};
pub use observe::{observe, observe_ready, Observation};
pub use reader::ProbeSet;

/// Every family, in report order.
pub(crate) fn families() -> impl Iterator<Item = &'static Family> {
    veth::FAMILIES
        .iter()
        .chain(xdp::FAMILIES)
        .chain(skb::FAMILIES)
}
