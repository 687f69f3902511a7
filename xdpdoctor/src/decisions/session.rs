//! A reading session: one reader turns a program's log on, reads its records, and turns it off
//! again whatever happens. The log is shared state in the kernel (one switch, one ring per
//! object, pinned), so a session owns it while it runs:
//!
//! - **One reader at a time**: a ring buffer has one consumer position, so two readers would
//!   each get part of the records, and the first to finish would turn the log off under the
//!   other. A session holds the lock `decisions-<key>` ([`crate::state::LockKey`]) for its
//!   whole life; a second one is refused (`Error::Busy`, naming the holder). The kernel drops
//!   the lock when its holder dies.
//! - **Off on every exit**: [`Session::finish`] turns the log off and reads what was written
//!   until then; dropping a session (an error, Ctrl-C unwinding the caller, a panic) turns it
//!   off too. Only `kill -9` can leave it on; the next session takes over (it does not care
//!   what it finds) and turns it off at its end.
//! - **Only its own records**: records left in the ring by an earlier reader are read and
//!   discarded before the log is switched on.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use super::{Control, DecisionLog, EbpfRecord, Settings, Stats};
use crate::state::{self, LockGuard, LockKey, NsKey};
use crate::Result;

/// The log of one program (object), on for as long as this lives.
#[derive(Debug)]
pub struct Session {
    control: Control,
    log: DecisionLog,
    off: Settings,
    stats_at_start: Stats,
    on: bool,
    _lock: LockGuard,
}

impl Session {
    /// Takes the reader lock of the forwarder whose pins are `pins` (its namespace: the key
    /// the directory is named after, `fwd-<key>`; else the namespace with inode `inode`; the
    /// lock is not taken if another session holds it), opens the switch pinned there and the
    /// ring of the running program `program_id`, drains stale records, and turns the log on
    /// with `settings`.
    pub fn open(inode: u64, pins: &Path, program_id: u32, settings: &Settings) -> Result<Self> {
        let key = pins
            .file_name()
            .and_then(|n| state::forwarder_pin_key(&n.to_string_lossy()))
            .unwrap_or(NsKey::new(inode, None));
        Self::open_locked(Self::lock(key)?, pins, program_id, settings)
    }

    /// The reader lock of the forwarder in namespace `key` alone, for a caller that wants to
    /// know it may read before it prepares anything else (`trace` attaches its probes in
    /// between); `Error::Busy` naming the holder if another session has it.
    pub fn lock(key: NsKey) -> Result<LockGuard> {
        let key = LockKey::DecisionLog(key);
        state::try_lock(key.clone())?.ok_or_else(|| {
            crate::Error::busy(
                key.to_string(),
                format!(
                    "another xdpdoctor reads it ({}); one reader at a time",
                    state::lock::holder(&key)
                ),
            )
        })
    }

    /// [`Session::open`] with the lock already taken ([`Session::lock`]).
    pub fn open_locked(
        lock: LockGuard,
        pins: &Path,
        program_id: u32,
        settings: &Settings,
    ) -> Result<Self> {
        settings.validate()?;
        let mut control = Control::from_pins(pins)?;
        let mut log = DecisionLog::collect_from_program(program_id)?;
        let stale = log.take()?.len();
        if stale > 0 {
            log::debug!("discarded {stale} record(s) left in the ring by an earlier reader");
        }
        let off = Settings {
            level: None,
            ..*settings
        };
        let stats_at_start = control.stats()?;
        control.set(settings)?;
        Ok(Session {
            control,
            log,
            off,
            stats_at_start,
            on: true,
            _lock: lock,
        })
    }

    /// Decodes what is in the ring now and returns the records since the last call.
    pub fn take(&mut self) -> Result<Vec<EbpfRecord>> {
        self.log.take()
    }

    /// What happened to records since the session started (allowed, rate-limited, lost for
    /// a full ring, too long), summed over CPUs.
    pub fn stats(&self) -> Result<Stats> {
        let now = self.control.stats()?;
        let s = self.stats_at_start;
        Ok(Stats {
            allowed: now.allowed.saturating_sub(s.allowed),
            limited: now.limited.saturating_sub(s.limited),
            lost: now.lost.saturating_sub(s.lost),
            overflow: now.overflow.saturating_sub(s.overflow),
        })
    }

    /// Records read since the session started (stale ones included).
    pub fn received(&self) -> u64 {
        self.log.received()
    }

    /// Turns the log off, then returns the records written until then and the session's
    /// [`Stats`].
    pub fn finish(mut self) -> Result<(Vec<EbpfRecord>, Stats)> {
        self.turn_off()?;
        Ok((self.log.take()?, self.stats()?))
    }

    fn turn_off(&mut self) -> Result<()> {
        if self.on {
            self.control.set(&self.off)?;
            self.on = false;
        }
        Ok(())
    }
}

impl AsFd for Session {
    /// The ring's fd: readable when records wait.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.log.as_fd()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Err(e) = self.turn_off() {
            log::error!(
                "turning the eBPF decision log off failed: {e}; it stays on (rate-limited) \
                 until `xdpdoctor trace --decisions` runs again or the forwarder is redeployed"
            );
        }
    }
}
