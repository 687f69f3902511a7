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

use std::{
    ffi::{CStr, CString},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use serde::Serialize;

use crate::{Error, Result};

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

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETHTOOL_GFEATURES: u32 = 0x3a;
const ETHTOOL_SFEATURES: u32 = 0x3b;
const ETH_SS_FEATURES: u32 = 4;
const ETH_GSTRING_LEN: usize = 32;
/// `ETHTOOL_SFEATURES` result flags (a positive ioctl return value).
const ETHTOOL_F_UNSUPPORTED: i32 = 1 << 0;
const ETHTOOL_F_WISH: i32 = 1 << 1;

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
    pub names: Vec<String>,
    pub available: Vec<u32>,
    pub requested: Vec<u32>,
    pub active: Vec<u32>,
    pub never_changed: Vec<u32>,
}

impl Features {
    /// The bit number of a feature name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

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

    /// The `(valid, requested)` words of an `ETHTOOL_SFEATURES` request that sets `changes`.
    fn set_blocks(&self, changes: &[(usize, bool)]) -> Vec<(u32, u32)> {
        let mut blocks = vec![(0u32, 0u32); self.available.len()];
        for &(bit, on) in changes {
            let (word, mask) = (bit / 32, 1u32 << (bit % 32));
            blocks[word].0 |= mask;
            if on {
                blocks[word].1 |= mask;
            }
        }
        blocks
    }
}

fn bit_set(words: &[u32], bit: usize) -> bool {
    words
        .get(bit / 32)
        .is_some_and(|w| w & (1 << (bit % 32)) != 0)
}

/// Splits the `ETHTOOL_GSTRINGS` payload (`count` NUL-padded 32-byte names).
fn parse_strings(data: &[u8], count: usize) -> Vec<String> {
    data.chunks(ETH_GSTRING_LEN)
        .take(count)
        .map(|c| {
            let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
            String::from_utf8_lossy(&c[..end]).into_owned()
        })
        .collect()
}

/// A variable-length ethtool command buffer, 8-byte aligned (`ethtool_sset_info` has a u64).
struct CmdBuf(Vec<u64>);

impl CmdBuf {
    fn new(cmd: u32, bytes: usize) -> Self {
        let mut b = CmdBuf(vec![0; bytes.div_ceil(8).max(1)]);
        b.put_u32(0, cmd);
        b
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: u64 storage viewed as bytes; same length in bytes, u8 has no alignment.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast(), self.0.len() * 8) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, with unique access.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast(), self.0.len() * 8) }
    }
    fn u32_at(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.bytes()[off..off + 4].try_into().unwrap())
    }
    fn put_u32(&mut self, off: usize, v: u32) {
        self.bytes_mut()[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }
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
        Ok(Ethtool {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Runs one `SIOCETHTOOL` command; returns the (non-negative) ioctl result.
    fn ioctl(&self, op: &'static str, ifname: &str, buf: &mut CmdBuf) -> Result<i32> {
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(ifname_bytes(ifname)?) {
            *d = s as libc::c_char;
        }
        ifr.ifr_ifru.ifru_data = buf.0.as_mut_ptr().cast();
        // SAFETY: ifr is a valid ifreq whose data points to a buffer sized for the command.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), SIOCETHTOOL as _, &mut ifr) };
        if rc < 0 {
            return Err(Error::last_os(op, ifname));
        }
        Ok(rc)
    }

    /// Number of features (`ETHTOOL_GSSET_INFO` for `ETH_SS_FEATURES`).
    fn feature_count(&self, ifname: &str) -> Result<usize> {
        let mut buf = CmdBuf::new(ETHTOOL_GSSET_INFO, 16 + 4);
        buf.0[1] = 1 << ETH_SS_FEATURES;
        self.ioctl("ioctl SIOCETHTOOL ETHTOOL_GSSET_INFO", ifname, &mut buf)?;
        if buf.0[1] & (1 << ETH_SS_FEATURES) == 0 {
            return Err(Error::invalid(
                ifname,
                "kernel reports no ETH_SS_FEATURES string set",
            ));
        }
        Ok(buf.u32_at(16) as usize)
    }

    fn feature_names(&self, ifname: &str, count: usize) -> Result<Vec<String>> {
        let mut buf = CmdBuf::new(ETHTOOL_GSTRINGS, 12 + count * ETH_GSTRING_LEN);
        buf.put_u32(4, ETH_SS_FEATURES);
        buf.put_u32(8, count as u32);
        self.ioctl("ioctl SIOCETHTOOL ETHTOOL_GSTRINGS", ifname, &mut buf)?;
        let len = buf.u32_at(8) as usize;
        if len != count {
            return Err(Error::invalid(
                ifname,
                format!("ETHTOOL_GSTRINGS returned {len} feature names, expected {count}"),
            ));
        }
        Ok(parse_strings(&buf.bytes()[12..], count))
    }

    /// Reads every feature of `ifname`.
    pub fn features(&self, ifname: &str) -> Result<Features> {
        let count = self.feature_count(ifname)?;
        let names = self.feature_names(ifname, count)?;
        let words = count.div_ceil(32);
        let mut buf = CmdBuf::new(ETHTOOL_GFEATURES, 8 + words * 16);
        buf.put_u32(4, words as u32);
        self.ioctl("ioctl SIOCETHTOOL ETHTOOL_GFEATURES", ifname, &mut buf)?;
        let kernel_words = buf.u32_at(4) as usize;
        if kernel_words != words {
            return Err(Error::invalid(
                ifname,
                format!("ETHTOOL_GFEATURES has {kernel_words} words for {count} features"),
            ));
        }
        let word = |i: usize, field: usize| buf.u32_at(8 + i * 16 + field * 4);
        Ok(Features {
            names,
            available: (0..words).map(|i| word(i, 0)).collect(),
            requested: (0..words).map(|i| word(i, 1)).collect(),
            active: (0..words).map(|i| word(i, 2)).collect(),
            never_changed: (0..words).map(|i| word(i, 3)).collect(),
        })
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
                return Err(Error::invalid(
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
        let blocks = before.set_blocks(&bits);
        let mut buf = CmdBuf::new(ETHTOOL_SFEATURES, 8 + blocks.len() * 8);
        buf.put_u32(4, blocks.len() as u32);
        for (i, (valid, requested)) in blocks.iter().enumerate() {
            buf.put_u32(8 + i * 8, *valid);
            buf.put_u32(12 + i * 8, *requested);
        }
        let flags = self.ioctl("ioctl SIOCETHTOOL ETHTOOL_SFEATURES", ifname, &mut buf)?;
        if flags & ETHTOOL_F_UNSUPPORTED != 0 {
            return Err(Error::invalid(
                ifname,
                "kernel refused some features as unchangeable",
            ));
        }
        self.check_applied(ifname, &bits, flags & ETHTOOL_F_WISH != 0)
    }

    /// Re-reads the features after `ETHTOOL_SFEATURES` and reports what did not take.
    fn check_applied(&self, ifname: &str, bits: &[(usize, bool)], wish: bool) -> Result<()> {
        let after = self.features(ifname)?;
        for &(bit, on) in bits {
            let (name, st) = (&after.names[bit], after.state(bit));
            if st.requested != on {
                return Err(Error::invalid(
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

fn ifname_bytes(ifname: &str) -> Result<[u8; libc::IFNAMSIZ]> {
    let b = ifname.as_bytes();
    if b.is_empty() || b.len() >= libc::IFNAMSIZ || b.contains(&0) {
        return Err(Error::invalid(
            format!("interface name {ifname:?}"),
            format!("must be 1-{} bytes without NUL", libc::IFNAMSIZ - 1),
        ));
    }
    let mut name = [0u8; libc::IFNAMSIZ];
    name[..b.len()].copy_from_slice(b);
    Ok(name)
}

/// Reads every feature of `ifname` (like `ethtool -k`).
pub fn features(ifname: &str) -> Result<Features> {
    Ethtool::open()?.features(ifname)
}

/// Sets one feature (like `ethtool -K ifname name on|off`).
pub fn set_feature(ifname: &str, name: &str, on: bool) -> Result<()> {
    Ethtool::open()?.set_features(ifname, &[(name, on)])
}

fn required(f: &Features, ifname: &str, name: &str) -> Result<FeatureState> {
    f.get(name)
        .ok_or_else(|| Error::not_found(format!("feature {name} on {ifname}"), None))
}

/// Whether GRO is *requested* (what gives a veth NAPI, whatever is active).
pub fn gro_requested(ifname: &str) -> Result<bool> {
    Ok(required(&features(ifname)?, ifname, GRO)?.requested)
}

/// Sets GRO (`ethtool -K ifname gro on|off`).
pub fn set_gro(ifname: &str, on: bool) -> Result<()> {
    set_feature(ifname, GRO, on)
}

/// Whether any tx checksum offload is active (so TCP may leave with partial checksums).
pub fn tx_csum_active(ifname: &str) -> Result<bool> {
    let f = features(ifname)?;
    Ok(TX_CSUM_FEATURES
        .iter()
        .any(|n| f.get(n).is_some_and(|s| s.active)))
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
        return Err(Error::invalid(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Features {
        let mut names: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        names[3] = TX_CSUM_IP_GENERIC.into();
        names[35] = GRO.into();
        Features {
            names,
            // bit 3 changeable, bit 35 changeable, bit 5 available but never changed
            available: vec![(1 << 3) | (1 << 5), 1 << 3],
            requested: vec![1 << 3, 1 << 3],
            active: vec![1 << 3 | 1 << 7, 0],
            never_changed: vec![1 << 5, 0],
        }
    }

    #[test]
    fn state_reads_the_right_word_and_bit() {
        let f = sample();
        let csum = f.get(TX_CSUM_IP_GENERIC).unwrap();
        assert_eq!(
            csum,
            FeatureState {
                available: true,
                requested: true,
                active: true,
                fixed: false
            }
        );
        // rx-gro is bit 35 = word 1 bit 3: requested but not active (a "wish").
        let gro = f.get(GRO).unwrap();
        assert_eq!(
            gro,
            FeatureState {
                available: true,
                requested: true,
                active: false,
                fixed: false
            }
        );
        assert!(f.state(5).fixed, "never_changed makes a feature fixed");
        assert!(
            f.state(7).fixed && f.state(7).active,
            "active but unavailable is fixed on"
        );
        assert_eq!(f.get("no-such-feature"), None);
        assert!(!f.state(1000).active, "bits past the words read as off");
    }

    #[test]
    fn set_blocks_mark_valid_and_requested_per_word() {
        let f = sample();
        let blocks = f.set_blocks(&[(3, false), (35, true), (33, true)]);
        assert_eq!(
            blocks,
            vec![(1 << 3, 0), ((1 << 3) | (1 << 1), (1 << 3) | (1 << 1))]
        );
    }

    #[test]
    fn strings_are_split_at_32_bytes_and_nul() {
        let mut data = vec![0u8; 3 * ETH_GSTRING_LEN];
        data[..6].copy_from_slice(b"rx-gro");
        data[32..32 + 22].copy_from_slice(b"tx-checksum-ip-generic");
        data[64..96].copy_from_slice(&[b'x'; 32]); // a full-length name has no NUL
        let names = parse_strings(&data, 3);
        assert_eq!(
            names,
            vec!["rx-gro", "tx-checksum-ip-generic", &"x".repeat(32)]
        );
        assert_eq!(parse_strings(&data, 2).len(), 2);
    }

    #[test]
    fn interface_names_are_checked_before_the_ioctl() {
        assert!(ifname_bytes("veth0").is_ok());
        assert!(ifname_bytes("").is_err());
        assert!(ifname_bytes("a-name-of-16-chr").is_err());
        assert!(ifname_bytes("a\0b").is_err());
        assert_eq!(&ifname_bytes("lo").unwrap()[..3], b"lo\0");
    }

    #[test]
    fn cmd_buf_is_aligned_and_little_fields_round_trip() {
        let mut b = CmdBuf::new(ETHTOOL_GFEATURES, 13);
        assert_eq!(b.bytes().len(), 16);
        b.put_u32(4, 0xdead_beef);
        assert_eq!((b.u32_at(0), b.u32_at(4)), (ETHTOOL_GFEATURES, 0xdead_beef));
        assert_eq!(b.0.as_ptr() as usize % 8, 0);
    }
}
