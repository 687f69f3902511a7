//! The key under which state about one network namespace is filed (pin directories, state
//! files, journals, locks): its nsfs inode and, where the kernel has one, its netns cookie.
//!
//! An inode alone is not an identity: the kernel reuses the number of a namespace that is
//! gone for the next one created (`ip netns del A; ip netns add B` gave B A's inode), so a
//! record keyed by the inode alone would describe the new namespace. The netns cookie
//! (`SO_NETNS_COOKIE`, Linux 5.14+; 6.1, 6.12 and 6.18 have it) is a 64-bit number the kernel
//! gives each namespace at creation from a counter that never goes back, so `inode_cookie`
//! names one namespace for the life of the machine. On kernels without it (5.10) the key is
//! the inode alone, and the records' own anchors decide (a forwarder whose pinned links are
//! all defunct describes nothing that runs: `forwarder::pins`).
//!
//! Written `4026532300_17` (inode, `_`, cookie) or `4026532300` in file names: `fwd-KEY`,
//! `fix-KEY-IFNAME`, `KEY.json`, `netns-KEY.lock`. A key never holds `-`, so a fix pin's
//! interface name (which may) starts after the first `-` following the key.

use serde::{Deserialize, Serialize};

/// Which namespace a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NsKey {
    /// Its nsfs inode.
    pub inode: u64,
    /// Its netns cookie; None on a kernel without `SO_NETNS_COOKIE` (before 5.14).
    pub cookie: Option<u64>,
}

impl NsKey {
    /// A key from its parts.
    pub fn new(inode: u64, cookie: Option<u64>) -> NsKey {
        NsKey { inode, cookie }
    }

    /// Whether `self` (a record's key) describes the namespace whose key is `now`: same
    /// inode and, when both have a cookie, the same cookie. A key without a cookie (a kernel
    /// without one) matches on the inode alone.
    pub fn matches(&self, now: &NsKey) -> bool {
        self.inode == now.inode
            && match (self.cookie, now.cookie) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl std::fmt::Display for NsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cookie {
            Some(c) => write!(f, "{}_{c}", self.inode),
            None => write!(f, "{}", self.inode),
        }
    }
}

impl std::str::FromStr for NsKey {
    type Err = ();
    /// `INODE` or `INODE_COOKIE`, decimal.
    fn from_str(s: &str) -> Result<NsKey, ()> {
        let digits = |t: &str| {
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u64>().ok())
                .flatten()
        };
        match s.split_once('_') {
            Some((i, c)) => Ok(NsKey::new(digits(i).ok_or(())?, Some(digits(c).ok_or(())?))),
            None => Ok(NsKey::new(digits(s).ok_or(())?, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_match() {
        let k = NsKey::new(4026532300, Some(17));
        assert_eq!(k.to_string(), "4026532300_17");
        assert_eq!("4026532300_17".parse::<NsKey>(), Ok(k));
        assert_eq!(
            "4026532300".parse::<NsKey>(),
            Ok(NsKey::new(4026532300, None))
        );
        for bad in ["", "x", "1_", "_1", "1_2_3", "1-2", "+1", "1_+2"] {
            assert!(bad.parse::<NsKey>().is_err(), "{bad}");
        }
        // The same inode reused by a new namespace: another cookie, not the same one.
        assert!(!k.matches(&NsKey::new(4026532300, Some(18))));
        assert!(k.matches(&k));
        assert!(!k.matches(&NsKey::new(4026532301, Some(17))));
        // Without a cookie (5.10), the inode decides.
        assert!(NsKey::new(4026532300, None).matches(&k));
    }
}
