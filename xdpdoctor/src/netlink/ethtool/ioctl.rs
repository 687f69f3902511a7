//! The `SIOCETHTOOL` plumbing behind [`Ethtool`]: command buffers in the kernel's layout,
//! `ETHTOOL_GSSET_INFO` / `ETHTOOL_GSTRINGS` / `ETHTOOL_GFEATURES` to read every feature and
//! `ETHTOOL_SFEATURES` to change the requested bits. Kept apart from the public API so the
//! byte offsets and `unsafe` blocks sit in one place; the policy (which features, fixed ones,
//! checking what the kernel kept) stays in the parent module.

use std::os::fd::AsRawFd;

use super::{Ethtool, Features};
use crate::{Error, Result};

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
pub(super) const ETHTOOL_GFEATURES: u32 = 0x3a;
const ETHTOOL_SFEATURES: u32 = 0x3b;
const ETH_SS_FEATURES: u32 = 4;
pub(super) const ETH_GSTRING_LEN: usize = 32;
/// `ETHTOOL_SFEATURES` result flags (a positive ioctl return value).
const ETHTOOL_F_UNSUPPORTED: i32 = 1 << 0;
const ETHTOOL_F_WISH: i32 = 1 << 1;

impl Features {
    /// The `(valid, requested)` words of an `ETHTOOL_SFEATURES` request that sets `changes`.
    pub(super) fn set_blocks(&self, changes: &[(usize, bool)]) -> Vec<(u32, u32)> {
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

/// Splits the `ETHTOOL_GSTRINGS` payload (`count` NUL-padded 32-byte names).
pub(super) fn parse_strings(data: &[u8], count: usize) -> Vec<String> {
    data.chunks(ETH_GSTRING_LEN)
        .take(count)
        .map(|c| {
            let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
            String::from_utf8_lossy(&c[..end]).into_owned()
        })
        .collect()
}

/// A variable-length ethtool command buffer, 8-byte aligned (`ethtool_sset_info` has a u64).
pub(super) struct CmdBuf(pub(super) Vec<u64>);

impl CmdBuf {
    pub(super) fn new(cmd: u32, bytes: usize) -> Self {
        let mut b = CmdBuf(vec![0; bytes.div_ceil(8).max(1)]);
        b.put_u32(0, cmd);
        b
    }
    pub(super) fn bytes(&self) -> &[u8] {
        // SAFETY: u64 storage viewed as bytes; same length in bytes, u8 has no alignment.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast(), self.0.len() * 8) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, with unique access.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast(), self.0.len() * 8) }
    }
    pub(super) fn u32_at(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.bytes()[off..off + 4].try_into().unwrap())
    }
    pub(super) fn put_u32(&mut self, off: usize, v: u32) {
        self.bytes_mut()[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }
}

impl Ethtool {
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
            return Err(Error::unexpected(
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
            return Err(Error::unexpected(
                ifname,
                format!("ETHTOOL_GSTRINGS returned {len} feature names, expected {count}"),
            ));
        }
        Ok(parse_strings(&buf.bytes()[12..], count))
    }

    /// Reads every feature of `ifname`.
    pub(super) fn read_features(&self, ifname: &str) -> Result<Features> {
        let count = self.feature_count(ifname)?;
        let names = self.feature_names(ifname, count)?;
        let words = count.div_ceil(32);
        let mut buf = CmdBuf::new(ETHTOOL_GFEATURES, 8 + words * 16);
        buf.put_u32(4, words as u32);
        self.ioctl("ioctl SIOCETHTOOL ETHTOOL_GFEATURES", ifname, &mut buf)?;
        let kernel_words = buf.u32_at(4) as usize;
        if kernel_words != words {
            return Err(Error::unexpected(
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

    /// Sends `ETHTOOL_SFEATURES` setting `bits` (bit number, on) on top of `before`. An
    /// `ETHTOOL_F_UNSUPPORTED` answer is an error; returns whether the kernel set
    /// `ETHTOOL_F_WISH` (some requested bit is not active).
    pub(super) fn write_features(
        &self,
        ifname: &str,
        before: &Features,
        bits: &[(usize, bool)],
    ) -> Result<bool> {
        let blocks = before.set_blocks(bits);
        let mut buf = CmdBuf::new(ETHTOOL_SFEATURES, 8 + blocks.len() * 8);
        buf.put_u32(4, blocks.len() as u32);
        for (i, (valid, requested)) in blocks.iter().enumerate() {
            buf.put_u32(8 + i * 8, *valid);
            buf.put_u32(12 + i * 8, *requested);
        }
        let flags = self.ioctl("ioctl SIOCETHTOOL ETHTOOL_SFEATURES", ifname, &mut buf)?;
        if flags & ETHTOOL_F_UNSUPPORTED != 0 {
            return Err(Error::unsupported(
                ifname,
                "kernel refused some features as unchangeable",
            ));
        }
        Ok(flags & ETHTOOL_F_WISH != 0)
    }
}

pub(super) fn ifname_bytes(ifname: &str) -> Result<[u8; libc::IFNAMSIZ]> {
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
