//! The one reader of user-named input files (scenarios, configs, saved snapshots): bounded,
//! and never stuck. The file is opened with `O_NONBLOCK`, so opening a FIFO that has no
//! writer returns at once; waiting for data polls with a short timeout and gives up when a
//! signal asked xdpdoctor to stop. More than [`READ_LIMIT`] bytes is an error naming the
//! limit (`/dev/zero`, `/dev/urandom` end there, after 16 MiB, not after the machine's
//! memory).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use crate::{cancel, Error, Result};

/// The most any input file may hold: 16 MiB (a config with 4,096 NAT entries is about 0.5
/// MiB; a saved snapshot of a host with 1,000 containers about 6 MiB).
pub const READ_LIMIT: u64 = 16 << 20;

/// How long one wait for data lasts before the stop flag is looked at again.
const WAIT: Duration = Duration::from_millis(100);

/// Reads `path` whole, up to `limit` bytes (more is an error naming the limit). A FIFO or a
/// terminal is waited for until it ends, or until SIGINT, SIGTERM, SIGHUP, SIGQUIT (any of
/// `cancel::SIGNALS`) stops the wait with [`Error::Interrupted`].
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io("read", path, e))?;
    let m = f.metadata().map_err(|e| Error::io("read", path, e))?;
    if m.is_dir() {
        return Err(Error::invalid(
            path.display().to_string(),
            "is a directory, not a file",
        ));
    }
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match (&f).read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() as u64 > limit {
                    return Err(too_big(path, limit));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => cancel::check()?,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_readable(&f)?,
            Err(e) => return Err(Error::io("read", path, e)),
        }
    }
    Ok(buf)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path, limit: u64) -> Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|e| Error::invalid(path.display().to_string(), format!("not UTF-8 text: {e}")))
}

fn too_big(path: &Path, limit: u64) -> Error {
    Error::invalid(
        path.display().to_string(),
        format!(
            "larger than {limit} bytes ({} MiB), the limit for an input file; not read further",
            limit >> 20
        ),
    )
}

/// Waits until `f` has data (or its writer went away), checking the stop flag between
/// short polls.
fn wait_readable(f: &File) -> Result<()> {
    loop {
        cancel::check()?;
        let mut p = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, WAIT.as_millis() as libc::c_int) };
        if r > 0 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_inputs_stop_at_the_limit() {
        for dev in ["/dev/zero", "/dev/urandom"] {
            let e = read(Path::new(dev), 1 << 20).unwrap_err().to_string();
            assert!(
                e.contains(dev) && e.contains("larger than 1048576 bytes"),
                "{e}"
            );
        }
    }

    #[test]
    fn files_and_directories() {
        let e = read(Path::new("/"), READ_LIMIT).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        assert!(read(Path::new("/nonexistent/x"), READ_LIMIT).is_err());
        let t = read_to_string(Path::new("/proc/self/comm"), READ_LIMIT).unwrap();
        assert!(!t.is_empty());
    }
}
