//! Where xdpdoctor keeps what outlives a command, in one place: state files under
//! `/run/xdpdoctor` (deployed forwarders, labs, fix journals) and pins under
//! `/sys/fs/bpf/xdpdoctor` (forwarder links and maps, fix links). Everything is keyed by the
//! namespace inode (or the lab prefix), so forwarders in different namespaces never collide
//! and a command started under `nsenter` finds the same state as one given `--netns`.
//!
//! This module only names paths and reads/writes files; what the files mean belongs to the
//! modules that write them.

pub mod bpffs;
pub mod file;

use std::path::{Path, PathBuf};

pub use file::{lock_dir, read, write, DirLock};

/// Root of xdpdoctor's state files.
pub const STATE_ROOT: &str = "/run/xdpdoctor";
/// Root of everything xdpdoctor pins.
pub const PIN_ROOT: &str = "/sys/fs/bpf/xdpdoctor";

/// Pin directory of the forwarder deployed in namespace `inode`.
pub fn forwarder_pin_dir(inode: u64) -> PathBuf {
    Path::new(PIN_ROOT).join(format!("fwd-{inode}"))
}

/// Directory of the deployed forwarders' state files.
pub fn forwarders_dir() -> PathBuf {
    Path::new(STATE_ROOT).join("forwarders")
}

/// State file of the forwarder deployed in namespace `inode`.
pub fn forwarder_file(inode: u64) -> PathBuf {
    forwarders_dir().join(format!("{inode}.json"))
}

/// Pin of the bpf_link a fix attached to `ifname` in namespace `inode`.
pub fn fix_pin(inode: u64, ifname: &str) -> PathBuf {
    Path::new(PIN_ROOT).join(format!("fix-{inode}-{ifname}"))
}

/// The namespace inode a `fix-<inode>-<ifname>` pin name belongs to.
pub fn fix_pin_inode(pin_name: &str) -> Option<u64> {
    pin_name
        .strip_prefix("fix-")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Directory of the fix journals.
pub fn journals_dir() -> PathBuf {
    Path::new(STATE_ROOT).join("fixes")
}

/// Journal of the fixes applied from the namespace with this inode.
pub fn journal_file(inode: u64) -> PathBuf {
    journals_dir().join(format!("{inode}.json"))
}

/// Directory of the labs' state files.
pub fn labs_dir() -> PathBuf {
    Path::new(STATE_ROOT).join("labs")
}

/// The inode in a `<inode>.json` state file name.
pub fn inode_of_file(name: &str) -> Option<u64> {
    name.strip_suffix(".json")?.parse().ok()
}

/// Removes a file; a file that is already gone is not an error.
pub fn remove_file(p: &Path) -> crate::Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(crate::Error::io("remove", p, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let p = fix_pin(4026532300, "host0");
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(fix_pin_inode(name), Some(4026532300));
        assert_eq!(fix_pin_inode("fwd-12"), None);
        let f = journal_file(77);
        assert_eq!(
            inode_of_file(f.file_name().unwrap().to_str().unwrap()),
            Some(77)
        );
        assert_eq!(inode_of_file("x.json"), None);
    }
}
