//! Offload features through the ethtool ioctl (`SIOCETHTOOL`), by name.
//!
//! Two of the incident's faults are offload features: tx checksum offload on the container's
//! veth (SYN-ACKs leave with a partial checksum that an XDP redirect turns into a bad one) and
//! GRO *requested* on a veth's peer (since 5.13 it gives the peer NAPI, so XDP redirects into
//! the veth are delivered). Rust crates can read features (`ethtool` 0.3 over ethtool netlink)
//! but none can set them, so this module talks to the ioctl directly, the way `ethtool -k/-K`
//! did before ethtool netlink:
//!
//! - `ETHTOOL_GSSET_INFO` (`ETH_SS_FEATURES`) for the number of features,
//! - `ETHTOOL_GSTRINGS` for their names (`rx-gro`, `tx-checksum-ip-generic`, ...),
//! - `ETHTOOL_GFEATURES` for the per-bit available / requested (wanted) / active /
//!   never-changed words,
//! - `ETHTOOL_SFEATURES` to change the requested bits.
//!
//! Names are looked up at run time because bit numbers change between kernels. The ioctl
//! socket is opened on the calling thread, so everything here acts in that thread's network
//! namespace (run it inside `Netns::run`). [`Ethtool`] keeps one socket for several calls;
//! the free functions open one per call.
//!
//! Layout: this file holds the public API and the policy (feature names, fixed features,
//! checking what the kernel kept); `ioctl` the `SIOCETHTOOL` command buffers and calls;
//! `tests` the unit tests of the pure parts.

use std::{
    ffi::{CStr, CString},
    os::fd::{FromRawFd, OwnedFd},
};

use serde::Serialize;

use crate::{Error, Result};

mod ioctl;
#[cfg(test)]
mod tests;

/// GRO (`ethtool -K dev gro on|off`).
pub const GRO: &str = "rx-gro";
/// The tx checksum feature a veth has (`NETIF_F_HW_CSUM`).
pub const TX_CSUM_IP_GENERIC: &str = "tx-checksum-ip-generic";
/// Everything `ethtool -K dev tx on|off` switches ("tx-checksum-*").
pub const TX_CSUM_FEATURES: [&str; 5] = [
    "tx-checksum-ipv4",
    TX_CSUM_IP_GENERIC,
    "tx-checksum-ipv6",
    "tx-checksum-fcoe-crc",
    "tx-checksum-sctp",
];

/// One feature's state as `ethtool -k` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FeatureState {
    /// The driver lets it change (`hw_features`).
    pub available: bool,
    /// Wanted by the user (`wanted_features`); `ethtool -k` prints `[requested on]` when it
    /// differs from `active`.
    pub requested: bool,
    /// In effect now (`features`).
    pub active: bool,
    /// Cannot be changed: not available or never changeable (`ethtool -k` prints `[fixed]`).
    pub fixed: bool,
}

/// Every feature of one interface: names and the four bit words from `ETHTOOL_GFEATURES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    /// Feature names by bit number (`ETHTOOL_GSTRINGS`): `names[n]` is bit `n` of the words
    /// below. Bit numbers differ between kernels, so look features up by name.
    pub names: Vec<String>,
    /// `hw_features`, 32 bits a word: what the driver lets the user change.
    pub available: Vec<u32>,
    /// `wanted_features`: what the user asked for (may differ from `active`).
    pub requested: Vec<u32>,
    /// `features`: what is in effect now.
    pub active: Vec<u32>,
    /// Features the kernel never lets change (`[fixed]` in `ethtool -k`).
    pub never_changed: Vec<u32>,
}

impl Features {
    /// The bit number of a feature name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The state of feature `name`; None if this kernel has no feature of that name.
    pub fn get(&self, name: &str) -> Option<FeatureState> {
        self.index(name).map(|bit| self.state(bit))
    }

    /// The state of bit `bit` (false for bits beyond the words).
    pub fn state(&self, bit: usize) -> FeatureState {
        let available = bit_set(&self.available, bit);
        FeatureState {
            available,
            requested: bit_set(&self.requested, bit),
            active: bit_set(&self.active, bit),
            fixed: !available || bit_set(&self.never_changed, bit),
        }
    }

    /// All features in bit order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, FeatureState)> + '_ {
        self.names
            .iter()
            .enumerate()
            .map(|(bit, name)| (name.as_str(), self.state(bit)))
    }

    /// Whether GRO is *requested* (`None`: no `rx-gro` feature). The snapshot and the `gro`
    /// fix both read it through here, so diagnosis and fix agree on what "GRO on" means.
    pub fn gro_requested(&self) -> Option<bool> {
        self.get(GRO).map(|s| s.requested)
    }

    /// Whether any tx checksum offload is active (so TCP may leave with partial checksums);
    /// shared by the snapshot and the `tx_csum` fix like [`Features::gro_requested`].
    pub fn tx_csum_active(&self) -> bool {
        TX_CSUM_FEATURES
            .iter()
            .any(|n| self.get(n).is_some_and(|s| s.active))
    }
}

fn bit_set(words: &[u32], bit: usize) -> bool {
    words
        .get(bit / 32)
        .is_some_and(|w| w & (1 << (bit % 32)) != 0)
}

/// An ioctl socket in the calling thread's network namespace.
#[derive(Debug)]
pub struct Ethtool {
    fd: OwnedFd,
}

impl Ethtool {
    /// Opens the socket; it stays in the namespace of the thread that opened it.
    pub fn open() -> Result<Self> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(Error::last_os(
                "socket(AF_INET, SOCK_DGRAM) for ethtool",
                "(ioctl)",
            ));
        }
        // SAFETY: fd is a fresh, valid descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Ethtool { fd })
    }

    /// Reads every feature of `ifname`.
    pub fn features(&self, ifname: &str) -> Result<Features> {
        self.read_features(ifname)
    }

    /// Sets several features in one `ETHTOOL_SFEATURES` call and checks the kernel kept them.
    ///
    /// Unknown names are an error; so are fixed features unless they already have the wanted
    /// state. A feature the kernel keeps inactive although requested (`ETHTOOL_F_WISH`, e.g.
    /// because it depends on another one) is logged, not an error: the request is recorded.
    pub fn set_features(&self, ifname: &str, changes: &[(&str, bool)]) -> Result<()> {
        let before = self.features(ifname)?;
        let mut bits = Vec::with_capacity(changes.len());
        for &(name, on) in changes {
            let bit = before.index(name).ok_or_else(|| {
                Error::not_found(
                    format!("feature {name} on {ifname}"),
                    Some("see `ethtool -k`".into()),
                )
            })?;
            let st = before.state(bit);
            if st.fixed {
                if st.requested == on && st.active == on {
                    log::debug!("{ifname}: {name} is fixed and already {}", on_off(on));
                    continue;
                }
                return Err(Error::unsupported(
                    format!("feature {name} on {ifname}"),
                    format!(
                        "is fixed {} and cannot be turned {}",
                        on_off(st.active),
                        on_off(on)
                    ),
                ));
            }
            bits.push((bit, on));
        }
        if bits.is_empty() {
            return Ok(());
        }
        let wish = self.write_features(ifname, &before, &bits)?;
        self.check_applied(ifname, &bits, wish)
    }

    /// Re-reads the features after `ETHTOOL_SFEATURES` and reports what did not take.
    fn check_applied(&self, ifname: &str, bits: &[(usize, bool)], wish: bool) -> Result<()> {
        let after = self.features(ifname)?;
        for &(bit, on) in bits {
            let (name, st) = (&after.names[bit], after.state(bit));
            if st.requested != on {
                return Err(Error::unsupported(
                    format!("feature {name} on {ifname}"),
                    format!(
                        "kernel kept it requested {} after setting {}",
                        on_off(st.requested),
                        on_off(on)
                    ),
                ));
            }
            if st.active != on {
                log::info!(
                    "{ifname}: {name} requested {} but active {} (kernel wish flag {wish})",
                    on_off(on),
                    on_off(st.active)
                );
            }
        }
        Ok(())
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// Reads every feature of `ifname` (like `ethtool -k`).
pub fn features(ifname: &str) -> Result<Features> {
    Ethtool::open()?.features(ifname)
}

/// Sets one feature (like `ethtool -K ifname name on|off`).
pub fn set_feature(ifname: &str, name: &str, on: bool) -> Result<()> {
    Ethtool::open()?.set_features(ifname, &[(name, on)])
}

/// Whether GRO is *requested* (what gives a veth NAPI, whatever is active).
pub fn gro_requested(ifname: &str) -> Result<bool> {
    features(ifname)?
        .gro_requested()
        .ok_or_else(|| Error::not_found(format!("feature {GRO} on {ifname}"), None))
}

/// Sets GRO (`ethtool -K ifname gro on|off`).
pub fn set_gro(ifname: &str, on: bool) -> Result<()> {
    set_feature(ifname, GRO, on)
}

/// Whether any tx checksum offload is active (so TCP may leave with partial checksums).
pub fn tx_csum_active(ifname: &str) -> Result<bool> {
    Ok(features(ifname)?.tx_csum_active())
}

/// Sets every changeable tx checksum feature (`ethtool -K ifname tx on|off`).
pub fn set_tx_csum(ifname: &str, on: bool) -> Result<()> {
    let eth = Ethtool::open()?;
    let f = eth.features(ifname)?;
    let changes: Vec<(&str, bool)> = TX_CSUM_FEATURES
        .iter()
        .filter(|n| f.get(n).is_some_and(|s| !s.fixed))
        .map(|n| (*n, on))
        .collect();
    if changes.is_empty() {
        return Err(Error::unsupported(
            ifname,
            "no tx-checksum-* feature can be changed",
        ));
    }
    eth.set_features(ifname, &changes)
}

/// The index of an interface in the calling thread's namespace.
pub fn ifindex(name: &str) -> Result<u32> {
    let c = CString::new(name)
        .map_err(|_| Error::invalid(format!("interface name {name:?}"), "contains NUL"))?;
    // SAFETY: c is a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(Error::last_os("if_nametoindex", name)),
        i => Ok(i),
    }
}

/// The name of interface `index` in the calling thread's namespace.
pub fn ifname(index: u32) -> Result<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes as if_indextoname requires.
    if unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) }.is_null() {
        return Err(Error::last_os("if_indextoname", format!("ifindex {index}")));
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned())
}
