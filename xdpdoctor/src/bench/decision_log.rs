//! The decision log's figures: what the forwarder's log costs when off (against
//! the build without it: the forwarder-nolog variant and the ns/packet table) and on, and
//! whether its rate limit holds under the bench's load.
//!
//! During the forwarder+log measurement the log of the bench lab's forwarder is on at the
//! default rate (`decisions::Session`, the same switch `trace --decisions` uses) and a thread
//! reads the records as they come, as `trace` would on the other CPU. Each CPU's token bucket
//! allows at most `burst + rate * T` records in T seconds, so with N CPUs the log can write at
//! most `N * (burst + rate * T)`; [`LogRow::holds`] checks the count of records the bucket let
//! through against that, with T the wall time from switching the log on to switching it off
//! (longer than the time it was on, so the bound is not too tight).

use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Instant;

use serde::Serialize;

use crate::decisions::{Session, Settings};
use crate::{Error, Result};

/// Where the reader finds the log: the lab forwarder's pins and the bench instance's program.
#[derive(Debug, Clone)]
pub struct LogTarget {
    /// The forwarder's namespace (the reader's lock).
    pub netns_inode: u64,
    /// Its pin directory (the switch).
    pub pin_dir: PathBuf,
    /// The program whose ring is read (the pinned ring every instance shares).
    pub prog_id: u32,
}

/// What the log did during one measurement.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LogSample {
    /// Wall time from switching the log on to switching it off.
    pub seconds: f64,
    /// Records the reader decoded.
    pub received: u64,
    /// Records the buckets let through.
    pub allowed: u64,
    /// Records the buckets refused.
    pub limited: u64,
    /// Records dropped for a full ring.
    pub lost: u64,
}

/// The log on and its reader running; [`LogOn::stop`] turns it off.
pub struct LogOn {
    stop: Arc<AtomicBool>,
    reader: JoinHandle<Result<LogSample>>,
}

impl LogOn {
    /// Turns the log of `t` on at the default rate and starts reading; returns once it is on.
    pub fn start(t: &LogTarget) -> Result<LogOn> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (t, flag) = (t.clone(), stop.clone());
        let reader = std::thread::spawn(move || read(&t, &flag, tx));
        match rx.recv() {
            Ok(()) => Ok(LogOn { stop, reader }),
            // The reader ended before the log was on: its error says why.
            Err(_) => Err(join(reader).err().unwrap_or_else(|| {
                Error::unexpected("decision log reader", "ended before the log was on")
            })),
        }
    }

    /// Turns the log off and returns what it did.
    pub fn stop(self) -> Result<LogSample> {
        self.stop.store(true, Ordering::SeqCst);
        join(self.reader)
    }
}

fn join(h: JoinHandle<Result<LogSample>>) -> Result<LogSample> {
    h.join()
        .unwrap_or_else(|_| Err(Error::unexpected("decision log reader", "panicked")))
}

/// The reader thread: on, read until told to stop, off.
fn read(t: &LogTarget, stop: &AtomicBool, on: mpsc::Sender<()>) -> Result<LogSample> {
    let t0 = Instant::now();
    let mut s = Session::open(
        t.netns_inode,
        &t.pin_dir,
        t.prog_id,
        &Settings::on(log::Level::Info),
    )?;
    let _ = on.send(());
    let mut received = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let mut p = libc::pollfd {
            fd: s.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut p, 1, 20) };
        received += s.take()?.len() as u64;
    }
    let (last, stats) = s.finish()?;
    Ok(LogSample {
        seconds: t0.elapsed().as_secs_f64(),
        received: received + last.len() as u64,
        allowed: stats.allowed,
        limited: stats.limited,
        lost: stats.lost,
    })
}

/// The log at one frame size, over the forwarder+log measurements.
#[derive(Debug, Clone, Serialize)]
pub struct LogRow {
    /// Bytes per frame.
    pub frame_size: usize,
    /// Frames pushed through the forwarder with the log on.
    pub frames: u64,
    /// Measurements with the log on (one per round).
    pub measurements: u64,
    /// Sum of the measurements' [`LogSample`]s.
    pub log: LogSample,
    /// Records per second per CPU the log was set to.
    pub rate: u64,
    /// Records a CPU may write at once.
    pub burst: u64,
    /// CPUs that could have run the program (each has its own bucket).
    pub cpus: u64,
    /// `cpus * (burst * measurements + rate * seconds)`: the most the buckets can allow.
    pub bound: f64,
    /// `allowed <= bound`: the rate limit held under the bench's load.
    pub holds: bool,
    /// Records received per second of log-on time.
    pub received_per_s: f64,
}

impl LogRow {
    /// The row as a report note: records let through against the rate limit's bound.
    pub fn note(&self) -> String {
        format!(
            "{}forwarder+log {}B: the log let {} records through ({} received, {} refused, {} \
             lost for a full ring) in {:.2} s on ({} measurement(s)) at {}/s per CPU; bound \
             {} CPUs x ({} x {} + {}/s x {:.2} s) = {:.0}: {}",
            if self.holds { "" } else { "WARNING " },
            self.frame_size,
            self.log.allowed,
            self.log.received,
            self.log.limited,
            self.log.lost,
            self.log.seconds,
            self.measurements,
            self.rate,
            self.cpus,
            self.burst,
            self.measurements,
            self.rate,
            self.log.seconds,
            self.bound,
            if self.holds { "holds" } else { "EXCEEDED" }
        )
    }

    /// The row of one frame size from its forwarder+log measurements' samples.
    pub fn new(frame_size: usize, frames: u64, samples: &[LogSample], cpus: usize) -> Self {
        let d = Settings::default();
        let mut log = LogSample::default();
        for l in samples {
            log.seconds += l.seconds;
            log.received += l.received;
            log.allowed += l.allowed;
            log.limited += l.limited;
            log.lost += l.lost;
        }
        let measurements = samples.len() as u64;
        let cpus = cpus.max(1) as u64;
        // Each measurement starts with full buckets (a quiet log refills them).
        let bound =
            cpus as f64 * (d.burst as f64 * measurements as f64 + d.rate as f64 * log.seconds);
        LogRow {
            frame_size,
            frames,
            measurements,
            log,
            rate: d.rate,
            burst: d.burst,
            cpus,
            bound,
            holds: log.allowed as f64 <= bound,
            received_per_s: if log.seconds > 0.0 {
                log.received as f64 / log.seconds
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_is_burst_per_measurement_plus_rate_times_time_per_cpu() {
        let sample = |allowed: u64, seconds: f64| LogSample {
            seconds,
            received: allowed,
            allowed,
            limited: 1000 - allowed,
            lost: 0,
        };
        let r = LogRow::new(64, 2000, &[sample(300, 0.1), sample(250, 0.15)], 2);
        assert_eq!((r.measurements, r.frames, r.log.allowed), (2, 2000, 550));
        // 2 CPUs x (100 x 2 + 1000/s x 0.25 s) = 900.
        assert!((r.bound - 900.0).abs() < 1e-6, "{}", r.bound);
        assert!(r.holds);
        assert!((r.received_per_s - 2200.0).abs() < 1e-6);
        let over = LogRow::new(64, 1000, &[sample(400, 0.1)], 1);
        assert!(!over.holds, "{over:?}");
    }
}
