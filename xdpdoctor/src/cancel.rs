//! Ctrl-C, SIGTERM, SIGHUP (the terminal or ssh session went away), SIGQUIT and every other
//! signal that would end the process by default ([`SIGNALS`]) as a flag instead of a kill: long operations (`lab up`, `trace`, `diagnose --observe`, a read that
//! waits for a FIFO, output that waits for its reader) poll `check()` between steps and
//! unwind through their cleanup path, so an interrupted command leaves no namespace, pin,
//! attachment or decision log switched on behind. Only `kill -9` skips the cleanup. [`Window`] is the
//! same idea for an observation window that ends early once its evidence is conclusive.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// The signals that end a command through its cleanup: every one whose default action ends
/// the process and that can be caught, except SIGPIPE (a closed stdout ends the command
/// quietly through its own path). SIGKILL cannot be caught: only it skips the cleanup.
pub const SIGNALS: [libc::c_int; 10] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGXCPU,
];

/// Routes [`SIGNALS`] to the flag. Call once, from the CLI.
pub fn install() {
    for sig in SIGNALS {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// Whether one of [`SIGNALS`] arrived since [`install`]; once set it stays set. Lock waits
/// and long loops poll it to give up.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` once a signal arrived.
pub fn check() -> Result<()> {
    if interrupted() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// An observation window that may end early: a length that runs from when the window starts,
/// and a flag the caller raises once what it waits for is conclusive (every connection has its
/// result and the tail drained). Observers on other threads poll [`Window::left`]; cloning
/// shares the start and the flag.
///
/// A window made with [`Window::pending`] starts only when [`Window::start`] is called: the
/// observers attach first (BTF parsing and the verifier can take longer than a short window
/// on a loaded machine or under emulation) and the window's length is all theirs.
#[derive(Debug, Clone)]
pub struct Window {
    len: std::time::Duration,
    started: std::sync::Arc<std::sync::OnceLock<std::time::Instant>>,
    ended: std::sync::Arc<AtomicBool>,
}

impl Window {
    /// A window of `len` from now.
    pub fn new(len: std::time::Duration) -> Self {
        let w = Self::pending(len);
        w.start();
        w
    }

    /// A window of `len` that starts when [`Window::start`] is called; until then
    /// [`Window::left`] says the whole length is left.
    pub fn pending(len: std::time::Duration) -> Self {
        Window {
            len,
            started: Default::default(),
            ended: Default::default(),
        }
    }

    /// Starts the window now (once; later calls change nothing).
    pub fn start(&self) {
        let _ = self.started.set(std::time::Instant::now());
    }

    /// Ends the window for every observer sharing it.
    pub fn end_now(&self) {
        self.ended.store(true, Ordering::SeqCst);
    }

    /// Time left; None once the deadline passed, the window was ended or a signal arrived.
    /// Before a pending window starts, its whole length.
    pub fn left(&self) -> Option<std::time::Duration> {
        if self.ended.load(Ordering::SeqCst) || interrupted() {
            return None;
        }
        let Some(t0) = self.started.get() else {
            return Some(self.len).filter(|d| !d.is_zero());
        };
        (*t0 + self.len)
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_ends_at_its_deadline_or_when_told() {
        let w = Window::new(std::time::Duration::from_secs(60));
        let shared = w.clone();
        assert!(shared.left().is_some());
        w.end_now();
        assert!(shared.left().is_none());
        assert!(Window::new(std::time::Duration::ZERO).left().is_none());
    }

    #[test]
    fn a_pending_window_keeps_its_length_until_it_starts() {
        let len = std::time::Duration::from_millis(200);
        let w = Window::pending(len);
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(
            w.clone().left(),
            Some(len),
            "not started: the whole length left"
        );
        w.start();
        assert!(w.left().is_some_and(|l| l <= len));
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert!(w.left().is_none(), "ended at start + len");
    }
}
