//! Small JSON state files (deployed forwarders, labs, fix journals): one reader and one writer
//! so every kind of state fails the same way, naming the file. Writes go to a temporary file
//! that is then renamed over the old one, so a reader (or a crash) never sees half a file.

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};

use crate::{Error, Result};

/// Reads `path` as JSON; `Ok(None)` if it does not exist.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| Error::corrupt(path, format!("corrupt state file: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Writes `value` as pretty JSON, atomically (temporary file + rename), creating the parent
/// directory.
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    let text = serde_json::to_string_pretty(value).expect("state serializes");
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))
}

/// An exclusive advisory lock (`flock`) on a directory, held until dropped: serializes the
/// writers of what the directory holds across xdpdoctor processes.
#[derive(Debug)]
pub struct DirLock(#[allow(dead_code)] std::fs::File);

/// Takes [`DirLock`] on `dir`, waiting for another holder to release it.
pub fn lock_dir(dir: &Path) -> Result<DirLock> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(dir).map_err(|e| Error::io("open", dir, e))?;
    // SAFETY: flock on an fd this function owns; no memory is passed to the kernel.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    if rc != 0 {
        return Err(Error::io("lock", dir, std::io::Error::last_os_error()));
    }
    Ok(DirLock(f))
}
