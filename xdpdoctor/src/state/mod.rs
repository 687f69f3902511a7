//! Where xdpdoctor keeps what outlives a command, in one place: state files under
//! `/run/xdpdoctor` (deployed forwarders, labs, fix journals) and pins under
//! `/sys/fs/bpf/xdpdoctor` (forwarder links and maps, fix links). Everything is keyed by the
//! namespace's identity ([`NsKey`]: inode and netns cookie) or the lab prefix, so forwarders
//! in different namespaces never collide, a namespace that reuses a dead one's inode never
//! inherits its records, and a command started under `nsenter` finds the same state as one
//! given `--netns`.
//!
//! This module only names paths and reads/writes files; what the files mean belongs to the
//! modules that write them.

pub mod bpffs;
pub mod file;
pub mod key;
pub mod lock;

use std::path::{Path, PathBuf};

pub use file::{read, write};
pub use key::NsKey;
pub use lock::{lock, try_lock, LockGuard, LockKey};

/// Root of xdpdoctor's state files.
pub const STATE_ROOT: &str = "/run/xdpdoctor";
/// Root of everything xdpdoctor pins.
pub const PIN_ROOT: &str = "/sys/fs/bpf/xdpdoctor";

/// Pin directory of the forwarder deployed in namespace `key`.
pub fn forwarder_pin_dir(key: NsKey) -> PathBuf {
    Path::new(PIN_ROOT).join(format!("fwd-{key}"))
}

/// The namespace a `fwd-<key>` pin directory belongs to.
pub fn forwarder_pin_key(name: &str) -> Option<NsKey> {
    name.strip_prefix("fwd-")?.parse().ok()
}

/// Directory of the deployed forwarders' state files.
pub fn forwarders_dir() -> PathBuf {
    Path::new(STATE_ROOT).join("forwarders")
}

/// State file of the forwarder deployed in namespace `key`.
pub fn forwarder_file(key: NsKey) -> PathBuf {
    forwarders_dir().join(format!("{key}.json"))
}

/// Pin of the bpf_link a fix attached to `ifname` in namespace `key`.
pub fn fix_pin(key: NsKey, ifname: &str) -> PathBuf {
    Path::new(PIN_ROOT).join(format!("fix-{key}-{ifname}"))
}

/// The namespace a `fix-<key>-<ifname>` pin name belongs to.
pub fn fix_pin_key(pin_name: &str) -> Option<NsKey> {
    pin_name
        .strip_prefix("fix-")?
        .split_once('-')?
        .0
        .parse()
        .ok()
}

/// Directory of the fix journals.
pub fn journals_dir() -> PathBuf {
    Path::new(STATE_ROOT).join("fixes")
}

/// Journal of the fixes applied from the namespace `key`.
pub fn journal_file(key: NsKey) -> PathBuf {
    journals_dir().join(format!("{key}.json"))
}

/// Directory of the writers' lock files (`state::lock`).
pub fn locks_dir() -> PathBuf {
    Path::new(STATE_ROOT).join("locks")
}

/// Directory of the labs' state files.
pub fn labs_dir() -> PathBuf {
    Path::new(STATE_ROOT).join("labs")
}

/// The namespace key in a `<key>.json` state file name.
pub fn key_of_file(name: &str) -> Option<NsKey> {
    name.strip_suffix(".json")?.parse().ok()
}

/// Removes a state file; a file that is already gone is not an error. Temporaries that
/// killed writers left next to it (`NAME.tmp.PID`) go too.
pub fn remove_file(p: &Path) -> crate::Result<()> {
    file::remove(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for key in [
            NsKey::new(4026532300, Some(17)),
            NsKey::new(4026532300, None),
        ] {
            let p = fix_pin(key, "host-0");
            let name = p.file_name().unwrap().to_str().unwrap();
            assert_eq!(fix_pin_key(name), Some(key), "{name}");
            let f = journal_file(key);
            assert_eq!(
                key_of_file(f.file_name().unwrap().to_str().unwrap()),
                Some(key)
            );
            let d = forwarder_pin_dir(key);
            assert_eq!(
                forwarder_pin_key(d.file_name().unwrap().to_str().unwrap()),
                Some(key)
            );
        }
        assert_eq!(fix_pin_key("fwd-12"), None);
        assert_eq!(key_of_file("x.json"), None);
        assert_eq!(key_of_file("12.tmp.5"), None);
    }
}
