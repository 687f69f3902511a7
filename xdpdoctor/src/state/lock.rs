//! One writer at a time. Every command that changes a namespace's forwarder, its fixes or its
//! journal holds the exclusive lock of that namespace (`netns-<key>`, [`NsKey`]); `lab up` and
//! `lab down` hold the lock of their prefix (`lab-<prefix>`); `bench` holds `bench`, one per
//! machine, since two benches share the CPUs and each would measure the other. Readers (`status`, `diagnose`,
//! `lab status`) take none: state files are replaced atomically, so they never see half a file.
//!
//! A lock is `flock(2)` on `/run/xdpdoctor/locks/<key>.lock`. The kernel drops it when its
//! holder dies, so a `kill -9` never leaves a namespace locked. The holder writes its PID and
//! command line into the file, so a waiting command can say whom it waits for. The file is
//! unlinked by the holder on release; a waiter that got the lock on a file that was unlinked
//! meanwhile notices (the path no longer leads to its file) and tries again, so two commands
//! never hold "the same" lock on two different files. A lock left by a killed holder is
//! removed by the next command that takes it.
//!
//! Locks are re-entrant within one process (`lab down` holds its namespaces' locks and calls
//! `teardown`, which takes the forwarder namespace's lock again). Order, to stay free of
//! deadlocks: the bench lock before lab locks; a lab lock before namespace locks; a command holding several namespace locks
//! takes them in ascending key (inode) order; nothing that holds a namespace lock takes a lab lock.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::NsKey;
use crate::{Error, Result};

/// How long a writer waits for another one before giving up with [`Error::Busy`].
pub const WAIT: Duration = Duration::from_secs(120);

/// What a lock protects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LockKey {
    /// Everything xdpdoctor changes in this network namespace: its forwarder (deploy,
    /// teardown, live map edits), the fixes applied from it and their journal.
    Netns(NsKey),
    /// A lab's state and the namespaces it creates.
    Lab(String),
    /// Reading the decision log of the forwarder in this namespace (`decisions::Session`):
    /// one reader at a time, since the records ring has one consumer and the reader switches
    /// the log on and off. Not a writer's lock: deploy and teardown do not take it.
    DecisionLog(NsKey),
    /// Measuring (`xdpdoctor bench`): one bench per machine. Two would share the CPUs, and
    /// each one's CPU readings would hold the other's work (the af-packet method's batched
    /// polls run in whichever task the timer interrupts).
    Bench,
}

impl LockKey {
    fn file_name(&self) -> String {
        match self {
            LockKey::Netns(ino) => format!("netns-{ino}.lock"),
            LockKey::Lab(prefix) => format!("lab-{prefix}.lock"),
            LockKey::DecisionLog(ino) => format!("decisions-{ino}.lock"),
            LockKey::Bench => "bench.lock".to_string(),
        }
    }

    /// The lock file.
    pub fn path(&self) -> PathBuf {
        super::locks_dir().join(self.file_name())
    }
}

impl std::fmt::Display for LockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockKey::Netns(k) => write!(f, "network namespace (inode {})", k.inode),
            LockKey::Lab(prefix) => write!(f, "lab {prefix}"),
            LockKey::DecisionLog(k) => {
                write!(
                    f,
                    "decision log of the forwarder in namespace inode {}",
                    k.inode
                )
            }
            LockKey::Bench => write!(f, "benchmark (one per machine)"),
        }
    }
}

/// A held lock; released when the last guard of its key in this process is dropped.
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct LockGuard {
    key: LockKey,
}

impl LockGuard {
    /// What it protects.
    pub fn key(&self) -> &LockKey {
        &self.key
    }
}

struct Held {
    file: File,
    path: PathBuf,
    count: usize,
}

/// The locks this process holds (a few at most).
static HELD: Mutex<Vec<(LockKey, Held)>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<(LockKey, Held)>> {
    HELD.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes the exclusive lock of `key`, waiting up to [`WAIT`] for another writer.
/// `interrupted` is polled while waiting (Ctrl-C ends the wait with [`Error::Interrupted`]).
pub fn lock(key: LockKey, interrupted: fn() -> bool) -> Result<LockGuard> {
    acquire(key, Some(interrupted), WAIT)
}

/// Takes the lock of `key` only if nobody holds it now (`Ok(None)` if someone does).
pub fn try_lock(key: LockKey) -> Result<Option<LockGuard>> {
    match acquire(key, None, Duration::ZERO) {
        Ok(g) => Ok(Some(g)),
        Err(Error::Busy { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes the lock files of namespaces no longer alive (`alive` says whether a key's
/// namespace still exists) that nobody holds: a writer killed while holding one leaves its
/// file, which is otherwise only removed by the next writer of that namespace.
pub fn sweep(alive: &dyn Fn(&NsKey) -> bool) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(super::locks_dir()) else {
        return Ok(());
    };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let key = |prefix: &str, make: fn(NsKey) -> LockKey| {
            name.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(".lock"))
                .and_then(|i| i.parse::<NsKey>().ok())
                .filter(|k| !alive(k))
                .map(make)
        };
        if let Some(k) =
            key("netns-", LockKey::Netns).or_else(|| key("decisions-", LockKey::DecisionLog))
        {
            // Taking and dropping it unlinks it; held by someone: theirs to remove.
            drop(try_lock(k)?);
        }
    }
    Ok(())
}

fn acquire(key: LockKey, interrupted: Option<fn() -> bool>, wait: Duration) -> Result<LockGuard> {
    if let Some((_, h)) = held().iter_mut().find(|(k, _)| *k == key) {
        h.count += 1;
        return Ok(LockGuard { key });
    }
    let path = key.path();
    let dir = super::locks_dir();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    let t0 = Instant::now();
    let mut told = false;
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("open lock", &path, e))?;
        // SAFETY: flock on an fd we own; LOCK_NB never blocks.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            if same_file(&file, &path) {
                record_holder(&file);
                held().push((
                    key.clone(),
                    Held {
                        file,
                        path,
                        count: 1,
                    },
                ));
                return Ok(LockGuard { key });
            }
            // The holder we waited for unlinked it on release: take the new file.
            continue;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(Error::io("lock", &path, err));
        }
        let holder = holder_of(&path);
        if t0.elapsed() >= wait {
            return Err(Error::busy(
                key.to_string(),
                format!(
                    "another xdpdoctor is changing it ({holder}){}; try again when it is done",
                    if wait.is_zero() {
                        String::new()
                    } else {
                        format!("; waited {} s", wait.as_secs())
                    }
                ),
            ));
        }
        if !told {
            log::warn!("{key}: waiting for {holder}, which is changing it");
            told = true;
        }
        if interrupted.is_some_and(|f| f()) {
            return Err(Error::Interrupted);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `path` still names the file `f` is open on (it was not unlinked and recreated).
fn same_file(f: &File, path: &Path) -> bool {
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

fn record_holder(mut f: &File) {
    let cmd = std::fs::read("/proc/self/cmdline")
        .map(|c| {
            c.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let _ = f.set_len(0);
    let _ = writeln!(f, "pid {}: {cmd}", std::process::id());
}

/// Who holds the lock of `key` now, as its holder wrote it ("pid N: command line").
pub fn holder(key: &LockKey) -> String {
    holder_of(&key.path())
}

fn holder_of(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "a process that has not said who it is yet".into())
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let mut all = held();
        let Some(i) = all.iter().position(|(k, _)| *k == self.key) else {
            return;
        };
        all[i].1.count -= 1;
        if all[i].1.count == 0 {
            let (_, h) = all.swap_remove(i);
            // Unlink while still holding it, then close (which releases the flock).
            let _ = std::fs::remove_file(&h.path);
            drop(h.file);
        }
    }
}

#[cfg(test)]
#[allow(clippy::print_stderr)] // a skipped test says so
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    /// The tests use the real lock directory (keys unique to this process), so they need
    /// root: ignored with that reason otherwise (`scripts/test.sh` runs them as root).
    fn require_root() {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        assert_eq!(
            uid, 0,
            "writes /run/xdpdoctor/locks: run as root or leave it ignored"
        );
    }

    #[test]
    #[ignore = "needs root: writes the lock directory /run/xdpdoctor/locks"]
    fn reentrant_then_released_and_unlinked() {
        require_root();
        let key = LockKey::Lab(format!("unit-{}", std::process::id()));
        let a = lock(key.clone(), never).unwrap();
        let b = lock(key.clone(), never).unwrap();
        assert!(key.path().exists());
        let text = std::fs::read_to_string(key.path()).unwrap();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(a);
        assert!(key.path().exists(), "still held by b");
        drop(b);
        assert!(!key.path().exists(), "released locks are unlinked");
    }

    #[test]
    #[ignore = "needs root: writes the lock directory /run/xdpdoctor/locks"]
    fn another_holder_makes_try_lock_fail() {
        require_root();
        // Another open file description holding the flock stands for another process.
        let key = LockKey::Lab(format!("unit2-{}", std::process::id()));
        // A fresh machine has no lock directory until a first lock is taken.
        std::fs::create_dir_all(super::super::locks_dir()).unwrap();
        let other = File::create(key.path()).unwrap();
        // SAFETY: flock on an fd we own.
        let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, 0);
        std::fs::write(key.path(), "pid 1: someone else\n").unwrap();
        assert!(try_lock(key.clone()).unwrap().is_none());
        match acquire(key.clone(), None, Duration::from_millis(60)) {
            Err(Error::Busy { message, .. }) => {
                assert!(message.contains("pid 1: someone else"), "{message}")
            }
            other => panic!("expected busy, got {other:?}"),
        }
        drop(other);
        let g = try_lock(key.clone()).unwrap().expect("free now");
        drop(g);
        assert!(!key.path().exists());
    }
}
