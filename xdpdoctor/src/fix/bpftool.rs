//! The bpftool command lines of the forwarder's pinned maps, as fixes print them (reference
//! only: the fixes change the maps through bpf(2)). Map names are the ABI constants of
//! `bpf::forwarder_abi`; keys and values are the bytes of the C structs.

use std::net::SocketAddrV4;

use crate::netns::NsRef;

/// The pinned map `map` (an `forwarder_abi` map name) of xdpdoctor's forwarder in `netns`.
pub(super) fn map_pin(netns: &NsRef, map: &str) -> String {
    crate::state::forwarder_pin_dir(netns.key())
        .join(map)
        .display()
        .to_string()
}

/// Bytes as bpftool reads them (decimal, space-separated).
pub(super) fn bytes(b: &[u8]) -> String {
    b.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `struct fwd_endpoint` as bytes: address and port in network order, then two pad bytes.
pub(super) fn endpoint(e: &SocketAddrV4) -> String {
    let mut b = e.ip().octets().to_vec();
    b.extend(e.port().to_be_bytes());
    b.extend([0, 0]);
    bytes(&b)
}
