//! `forwarder-ebpf/include/aya_log.h` against the real decoder: `log_selftest.bpf.c` runs with
//! BPF_PROG_TEST_RUN on a crafted frame, aya-log's own `EbpfLogger` (through
//! `xdpdoctor::decisions::DecisionLog`) decodes its records, and a test logger captures what
//! the `log` facade receives. Then the header's switch and its per-CPU rate limit, changed
//! live through `decisions::Control`.
//!
//! The frame: 0a:bc:de:f0:12:34 <- 02:11:22:33:44:55, 10.0.0.1:40000 -> 10.123.1.1:80, TTL 64,
//! seq 3000000000, ack 0xdeadbeef, 16 payload bytes holding 2001:db8::1.

use std::net::Ipv6Addr;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use aya::programs::Xdp;
use aya::Ebpf;
use log::{Level, LevelFilter, Log, Metadata, Record};
use xdpdoctor::bpf::forwarder_abi::PROG_PASS;
use xdpdoctor::bpf::log_abi::{self as abi, PROG_SELFTEST, PROG_SELFTEST_RATE};
use xdpdoctor::bpf::object;
use xdpdoctor::bpf::objects::{LOG_SELFTEST, PASSTHROUGH};
use xdpdoctor::bpf::test_run::run_xdp;
use xdpdoctor::decisions::{Control, DecisionLog, Settings, Stats, TARGET_PREFIX};

use crate::common::require_root;

const OBJECT: &str = "log_selftest.bpf.o";
const SOURCE: &str = include_str!("../../../forwarder-ebpf/log_selftest.bpf.c");
const XDP_PASS: u32 = 2;

const SEQ: u32 = 3_000_000_000;
const ACK: u32 = 0xdead_beef;
const TTL: u8 = 64;

#[test]
#[ignore = "needs root: loads and runs a BPF program"]
fn aya_log_decodes_every_argument_type_the_header_writes() {
    require_root();
    let mut t = Selftest::load();
    let lines = begin_lines();
    assert_eq!(lines.len(), 11, "xd_log_begin calls in log_selftest.bpf.c");
    let record = |line: u32, level: Level, message: &str| Captured {
        target: format!("{TARGET_PREFIX}{}", abi::SELFTEST_TARGET),
        level,
        message: message.to_string(),
        module: Some("log_selftest".into()),
        file: Some("log_selftest.bpf.c".into()),
        line: Some(line),
    };
    let u64_value = (u64::from(SEQ) << 32) | u64::from(ACK);
    let all = vec![
        record(
            lines[1],
            Level::Info,
            "eth 02:11:22:33:44:55 -> 0a:bc:de:f0:12:34",
        ),
        record(
            lines[2],
            Level::Info,
            "tcp 10.0.0.1:40000 -> 10.123.1.1:80 payload 2001:db8::1",
        ),
        record(
            lines[3],
            Level::Debug,
            &format!(
                "u8 64 u16 56 u32 3000000000 u64 {u64_value} i32 -64 i64 -3000000000000 \
                 hex deadbeef"
            ),
        ),
        record(lines[4], Level::Error, "level error"),
        record(lines[5], Level::Warn, "level warn"),
        record(lines[6], Level::Info, "level info"),
        record(lines[7], Level::Debug, "level debug"),
        record(lines[8], Level::Trace, "level trace"),
    ];

    // Everything on: every record but the one longer than XD_LOG_MAX, which is counted.
    t.ctl.set(&Settings::on(Level::Trace)).unwrap();
    assert_eq!(t.run(PROG_SELFTEST, &frame(), 1), XDP_PASS);
    let got = t.flush();
    assert_eq!(got, all);
    eprintln!(
        "aya_log: {} records decoded by aya-log, e.g. {:?}",
        got.len(),
        got[2]
    );
    let s = t.ctl.stats().unwrap();
    assert_eq!((s.overflow, s.lost, s.allowed), (1, 0, 0), "{s:?}");

    // Up to warn: the gate drops the rest in the kernel (the long trace record is not tried).
    t.ctl.set(&Settings::on(Level::Warn)).unwrap();
    t.run(PROG_SELFTEST, &frame(), 1);
    assert_eq!(t.flush(), all[3..5].to_vec());
    assert_eq!(t.ctl.stats().unwrap().overflow, 1);

    // The error path, on a frame too short for the program.
    t.run(PROG_SELFTEST, &frame()[..54], 1);
    assert_eq!(
        t.flush(),
        vec![record(
            lines[0],
            Level::Error,
            "not Ethernet/IPv4/TCP with 16 payload bytes"
        )]
    );

    // Off: nothing, and the settings read back as written.
    t.ctl.set(&Settings::default()).unwrap();
    assert_eq!(t.ctl.settings().unwrap(), Settings::default());
    t.run(PROG_SELFTEST, &frame(), 100);
    assert_eq!(t.flush(), Vec::new());
}

/// Records delivered by a tight loop (BPF_PROG_TEST_RUN with repeat) on one CPU never exceed
/// `burst + rate * elapsed`, where `elapsed` is the wall time around all the runs. No
/// tolerance is needed for rounding: the bucket counts 1e-9 records, so it never grants a
/// fraction early, and bpf_ktime_get_ns and `Instant` read the same monotonic clock, the
/// runs lying inside the measured interval. One record is allowed for the two clock reads
/// (the kernel's NMI-safe read can trail CLOCK_MONOTONIC by a few ns); at 1,000/s that is
/// 1 ms. From below, the bucket must let through at least `rate * t` for the time t the kernel
/// spent running the program (it refills while the program runs and every run drains it),
/// minus 1% and one record, so a limiter that is too strict fails too; and a fresh bucket
/// must start full (the first chunk delivers at least `burst`).
#[test]
#[ignore = "needs root: loads and runs a BPF program"]
fn aya_log_rate_limit_bounds_records_and_off_writes_none() {
    require_root();
    let _pin = PinnedCpu::current();
    let mut t = Selftest::load();
    let frame = frame();

    let pass = xdp_pass_ns_per_run(&frame);

    // Off (a fresh object): no record, and the bucket is never touched.
    let off = t.run_for(Duration::from_millis(300), &frame);
    assert_eq!(off.delivered, 0);
    assert_eq!(t.ctl.stats().unwrap(), Stats::default());

    let mut runs = 0;
    let mut delivered = 0;
    for (rate, burst) in [(1000, 50), (20_000, 200)] {
        // Set live, between runs of the loaded program: no reload.
        t.ctl
            .set(&Settings {
                level: Some(Level::Info),
                rate,
                burst,
            })
            .unwrap();
        let on = t.run_for(Duration::from_secs(1), &frame);
        let bound = burst + rate * on.elapsed.as_nanos() as u64 / 1_000_000_000 + 1;
        let floor = rate as f64 * on.kernel.as_secs_f64() * 0.99 - 1.0;
        eprintln!(
            "aya_log rate limit: rate {rate}/s burst {burst}: {} runs in {:?} (kernel {:?}, \
             {:.0} ns/run; off {:.0} ns/run, xdp_pass {pass:.0} ns/run): {} records \
             delivered, bound {bound}, floor {floor:.0}",
            on.runs,
            on.elapsed,
            on.kernel,
            on.kernel.as_nanos() as f64 / on.runs as f64,
            off.kernel.as_nanos() as f64 / off.runs as f64,
            on.delivered
        );
        assert!(on.delivered <= bound, "{} > {bound}", on.delivered);
        assert!(on.delivered as f64 >= floor, "{} < {floor}", on.delivered);
        assert!(
            on.runs > 10 * on.delivered,
            "the loop must outrun the limit"
        );
        if runs == 0 {
            assert!(on.first_chunk >= burst, "a fresh bucket starts full");
        }
        runs += on.runs;
        delivered += on.delivered;
    }
    let s = t.ctl.stats().unwrap();
    // Every run is counted once: let through (then delivered, or lost to a full ring) or
    // rate-limited; no record is too long.
    assert_eq!(s.allowed, delivered + s.lost, "{s:?}");
    assert_eq!(s.allowed + s.limited, runs, "{s:?}");
    assert_eq!(s.overflow, 0, "{s:?}");
    assert_eq!(s.lost, 0, "the reader keeps up with short chunks: {s:?}");

    // Off again, live: nothing more.
    t.ctl.set(&Settings::default()).unwrap();
    assert_eq!(t.run_for(Duration::from_millis(100), &frame).delivered, 0);
    assert_eq!(t.ctl.stats().unwrap(), s);
}

/// The kernel's time per run of `xdp_pass` (passthrough.bpf.c) on `frame`: what a program
/// without the log costs in the same loop, for the figures printed.
fn xdp_pass_ns_per_run(frame: &[u8]) -> f64 {
    let mut ebpf = Ebpf::load(PASSTHROUGH).expect("load passthrough.bpf.o");
    let p: &mut Xdp = object::program_mut(&mut ebpf, "passthrough.bpf.o", PROG_PASS).unwrap();
    p.load().unwrap();
    let r = run_xdp(p, 0, frame, 1_000_000, 0).expect("BPF_PROG_TEST_RUN");
    r.duration.as_nanos() as f64
}

/// The self-test object, loaded, with its records read and its switch at hand.
struct Selftest {
    ebpf: Ebpf,
    log: DecisionLog,
    ctl: Control,
}

/// What a timed loop of runs gave.
struct Loop {
    runs: u64,
    /// Records delivered by the first chunk of runs.
    first_chunk: u64,
    delivered: u64,
    elapsed: Duration,
    /// Time the kernel spent in the program (BPF_PROG_TEST_RUN's average times repeat).
    kernel: Duration,
}

impl Selftest {
    fn load() -> Self {
        capture();
        let mut ebpf = Ebpf::load(LOG_SELFTEST).expect("load log_selftest.bpf.o");
        let log = DecisionLog::attach(&mut ebpf, OBJECT).expect("attach aya-log");
        let ctl = Control::from_ebpf(&mut ebpf, OBJECT).expect("log control maps");
        for name in [PROG_SELFTEST, PROG_SELFTEST_RATE] {
            let p: &mut Xdp = object::program_mut(&mut ebpf, OBJECT, name).unwrap();
            p.load()
                .unwrap_or_else(|e| panic!("verifier refused {name}: {e:?}"));
        }
        take_captured();
        Selftest { ebpf, log, ctl }
    }

    fn run(&mut self, name: &str, frame: &[u8], repeat: u32) -> u32 {
        let p: &mut Xdp = object::program_mut(&mut self.ebpf, OBJECT, name).unwrap();
        run_xdp(p, 0, frame, repeat, 0)
            .expect("BPF_PROG_TEST_RUN")
            .retval
    }

    /// Decodes what is in the ring; returns the records the `log` facade received.
    fn flush(&mut self) -> Vec<Captured> {
        self.log.flush().expect("aya-log decodes every record");
        take_captured()
    }

    /// Runs the rate program in chunks for at least `at_least`, reading the ring between
    /// chunks; checks each record. A chunk is short (about 5 ms of runs here, 10-20 ms under
    /// QEMU's emulation) so that what the bucket lets through during it (burst + rate x the
    /// chunk's wall time, a few hundred records) stays well below the 128 KiB ring: with
    /// 100,000-run chunks the 6.1 guest of the kernel matrix lost 11% of the records to a
    /// full ring.
    fn run_for(&mut self, at_least: Duration, frame: &[u8]) -> Loop {
        const CHUNK: u32 = 10_000;
        let mut l = Loop {
            runs: 0,
            first_chunk: 0,
            delivered: 0,
            elapsed: Duration::ZERO,
            kernel: Duration::ZERO,
        };
        let start = Instant::now();
        while start.elapsed() < at_least {
            let p: &mut Xdp =
                object::program_mut(&mut self.ebpf, OBJECT, PROG_SELFTEST_RATE).unwrap();
            let r = run_xdp(p, 0, frame, CHUNK, 0).expect("BPF_PROG_TEST_RUN");
            l.runs += u64::from(CHUNK);
            l.kernel += r.duration * CHUNK;
            for c in self.flush() {
                assert_eq!(
                    (c.level, c.message.as_str()),
                    (Level::Info, "tick on queue 0")
                );
                l.delivered += 1;
            }
            if l.runs == u64::from(CHUNK) {
                l.first_chunk = l.delivered;
            }
        }
        l.elapsed = start.elapsed();
        l
    }
}

/// The test frame (see the module doc); no checksums, the program does not read them.
fn frame() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend([0x0a, 0xbc, 0xde, 0xf0, 0x12, 0x34]);
    b.extend([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    b.extend(0x0800u16.to_be_bytes());
    // IPv4: IHL 5, total length 20 + 20 + 16, TTL, TCP, 10.0.0.1 -> 10.123.1.1.
    b.extend([0x45, 0, 0, 56, 0, 1, 0x40, 0, TTL, 6, 0, 0]);
    b.extend([10, 0, 0, 1, 10, 123, 1, 1]);
    // TCP: 40000 -> 80, seq, ack, data offset 5, SYN|ACK.
    b.extend(40000u16.to_be_bytes());
    b.extend(80u16.to_be_bytes());
    b.extend(SEQ.to_be_bytes());
    b.extend(ACK.to_be_bytes());
    b.extend([0x50, 0x12, 0xff, 0xff, 0, 0, 0, 0]);
    b.extend("2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(b.len(), 14 + 56);
    b
}

/// Line numbers of the `xd_log_begin(` calls in log_selftest.bpf.c, in source order.
fn begin_lines() -> Vec<u32> {
    SOURCE
        .lines()
        .zip(1..)
        .filter(|(l, _)| l.contains("xd_log_begin(&r"))
        .map(|(_, n)| n)
        .collect()
}

/// One record as the `log` facade received it.
#[derive(Debug, Clone, PartialEq)]
struct Captured {
    target: String,
    level: Level,
    message: String,
    module: Option<String>,
    file: Option<String>,
    line: Option<u32>,
}

/// The process's logger while these tests run: keeps the records with an eBPF target.
struct Capture(Mutex<Vec<Captured>>);

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, r: &Record<'_>) {
        if r.target().starts_with(TARGET_PREFIX) {
            self.0.lock().unwrap().push(Captured {
                target: r.target().to_string(),
                level: r.level(),
                message: r.args().to_string(),
                module: r.module_path().map(str::to_string),
                file: r.file().map(str::to_string),
                line: r.line(),
            });
        }
    }

    fn flush(&self) {}
}

fn capture() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger in the test binary");
        log::set_max_level(LevelFilter::Trace);
    });
}

fn take_captured() -> Vec<Captured> {
    std::mem::take(&mut *CAPTURE.0.lock().unwrap())
}

/// Keeps the calling thread on the CPU it runs on (the bucket is per CPU: a run that moved
/// to another CPU between repeats would draw on a second bucket); restores on drop.
struct PinnedCpu(libc::cpu_set_t);

impl PinnedCpu {
    fn current() -> Self {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: cpu_set_t is plain data, all zeroes is an empty set; the calls get the size
        // of the set they read or write; pid 0 is the calling thread.
        unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, size, &mut old), 0);
            let cpu = libc::sched_getcpu();
            assert!(cpu >= 0, "sched_getcpu");
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu as usize, &mut one);
            assert_eq!(libc::sched_setaffinity(0, size, &one), 0);
            PinnedCpu(old)
        }
    }
}

impl Drop for PinnedCpu {
    fn drop(&mut self) {
        // SAFETY: restores the set read in `current`, of the size given.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.0);
        }
    }
}
