//! Rust mirror of `forwarder-ebpf/include/aya_log.h`: the names of the maps every object that
//! includes it carries, the layouts of their values, the header's limits and defaults, and the
//! self-test program's names. The record format itself is aya-log-common's and is decoded by
//! the `aya-log` crate, not here: this file only pins which versions the header was written
//! against ([`WIRE_FORMAT_AYA_LOG`], [`WIRE_FORMAT_AYA_LOG_COMMON`]); its tests fail when
//! Cargo.lock moves away from them or when aya-log-common's tags differ from the header's.
//!
//! Change this file and the header together; the size assertions catch layout drift.

// ---- Versions the header's wire format was learned from (docs/decision-log.md) ----

/// The `aya-log` release whose `EbpfLogger` decodes the header's records.
pub const WIRE_FORMAT_AYA_LOG: &str = "0.3.0";
/// The `aya-log-common` release whose record format the header writes.
pub const WIRE_FORMAT_AYA_LOG_COMMON: &str = "0.2.0";

// ---- Map names ----

/// RINGBUF of records; the name aya-log's `EbpfLogger` takes (from an object or a program).
pub const LOGS_MAP: &str = "AYA_LOGS";
/// ARRAY with one [`Settings`]: the switch, level and rate, written at any time.
pub const CTL_MAP: &str = "xd_log_ctl";
/// PERCPU_ARRAY with one [`Bucket`] per CPU: the token bucket and record counters.
pub const STATE_MAP: &str = "xd_log_state";
/// PERCPU_ARRAY scratch buffer a record is built in; internal to the programs.
pub const SCRATCH_MAP: &str = "xd_log_buf";

// ---- The self-test object (`log_selftest.bpf.c`) ----

/// Writes one record of every argument type, one per level and one too long to fit.
pub const PROG_SELFTEST: &str = "xd_log_selftest";
/// Writes one short record per run through the token bucket.
pub const PROG_SELFTEST_RATE: &str = "xd_log_selftest_rate";
/// The target the self-test's records carry.
pub const SELFTEST_TARGET: &str = "selftest";

// ---- Sizes and defaults from the header ----

/// `XD_LOG_MAX`: the longest record in bytes; longer ones are dropped in the kernel.
pub const RECORD_MAX: u32 = 512;
/// `XD_LOG_RINGBUF_BYTES` (the header's default).
pub const RINGBUF_BYTES: u32 = 128 * 1024;
/// `XD_LOG_DEFAULT_RATE`: records per second per CPU when [`Settings::rate`] is 0.
pub const DEFAULT_RATE: u64 = 1000;
/// `XD_LOG_DEFAULT_BURST`: bucket size in records when [`Settings::burst`] is 0.
pub const DEFAULT_BURST: u64 = 100;
/// `XD_LOG_RATE_MAX`: the kernel clamps larger rates to this.
pub const RATE_MAX: u64 = 1_000_000;
/// `XD_LOG_BURST_MAX`: the kernel clamps larger bursts to this.
pub const BURST_MAX: u64 = 1_000_000;

/// `struct xd_log_settings`, the value of [`CTL_MAP`].
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settings {
    /// Records of level <= this pass the gate (1 error .. 5 trace); 0: logging off.
    pub max_level: u32,
    /// Always 0.
    pub pad: u32,
    /// Records per second per CPU; 0: [`DEFAULT_RATE`].
    pub rate: u64,
    /// Bucket size in records; 0: [`DEFAULT_BURST`].
    pub burst: u64,
}

/// `struct xd_log_bucket`, one per CPU in [`STATE_MAP`].
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Tokens left, in 1e-9 records.
    pub tokens: u64,
    /// `bpf_ktime_get_ns()` of the last refill; 0 before the first record.
    pub last_ns: u64,
    /// Records the bucket allowed.
    pub allowed: u64,
    /// Records the bucket refused (rate limit).
    pub limited: u64,
    /// Records dropped because the ring buffer was full.
    pub lost: u64,
    /// Records dropped because they were longer than [`RECORD_MAX`].
    pub overflow: u64,
}

// SAFETY: repr(C), only integer fields, no implicit padding (sizes asserted below).
unsafe impl aya::Pod for Settings {}
// SAFETY: as above.
unsafe impl aya::Pod for Bucket {}

const _: () = assert!(std::mem::size_of::<Settings>() == 24);
const _: () = assert!(std::mem::size_of::<Bucket>() == 48);

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = include_str!("../../../forwarder-ebpf/include/aya_log.h");

    /// The value of `NAME = value` in the header's enum or `#define NAME value`.
    fn header_value(name: &str) -> u64 {
        HEADER
            .lines()
            .map(str::trim)
            .find_map(|l| {
                let rest = l
                    .strip_prefix(&format!("{name} = "))
                    .or_else(|| l.strip_prefix(&format!("#define {name} ")))?;
                let digits: String = rest
                    .trim()
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse().ok()
            })
            .unwrap_or_else(|| panic!("{name} in aya_log.h"))
    }

    /// The crate versions in Cargo.lock must be the ones the header (and
    /// docs/decision-log.md) were checked against.
    #[test]
    fn locked_aya_log_versions_are_the_ones_the_header_encodes() {
        let lock = include_str!("../../../Cargo.lock");
        let doc = include_str!("../../../docs/decision-log.md");
        let locked = |name: &str| {
            let at = lock
                .find(&format!("name = \"{name}\"\n"))
                .unwrap_or_else(|| panic!("{name} in Cargo.lock"));
            lock[at..]
                .lines()
                .nth(1)
                .and_then(|l| l.strip_prefix("version = \""))
                .and_then(|l| l.strip_suffix('"'))
                .unwrap_or_else(|| panic!("version of {name} in Cargo.lock"))
                .to_string()
        };
        for (name, want) in [
            ("aya-log", WIRE_FORMAT_AYA_LOG),
            ("aya-log-common", WIRE_FORMAT_AYA_LOG_COMMON),
        ] {
            let got = locked(name);
            assert_eq!(
                got, want,
                "Cargo.lock has {name} {got}, but forwarder-ebpf/include/aya_log.h encodes the \
                 record format of {name} {want}. Re-read that version's source (record header \
                 fields and order, argument and hint tags, value encodings, the size prefix, \
                 the map name and type), update aya_log.h, docs/decision-log.md and \
                 WIRE_FORMAT_* in src/bpf/log_abi.rs, and run the privileged aya_log \
                 integration tests (the crate's own decoder on the header's records)"
            );
            let mark = format!("{name} {want}");
            assert!(
                doc.contains(&mark),
                "docs/decision-log.md does not say it was written against {mark}"
            );
            assert!(
                HEADER.contains(&mark),
                "aya_log.h does not say it encodes {mark}"
            );
        }
    }

    /// Every tag the header writes has aya-log-common's value.
    #[test]
    fn header_tags_equal_aya_log_common() {
        use aya_log_common::{ArgumentKind as A, DisplayHint as H, Level, RecordFieldKind as F};
        let u = |v: u8| u64::from(v);
        for (name, v) in [
            ("XD_LOG_ERROR", u(Level::Error.into())),
            ("XD_LOG_WARN", u(Level::Warn.into())),
            ("XD_LOG_INFO", u(Level::Info.into())),
            ("XD_LOG_DEBUG", u(Level::Debug.into())),
            ("XD_LOG_TRACE", u(Level::Trace.into())),
            ("XD_LOG_F_TARGET", u(F::Target.into())),
            ("XD_LOG_F_LEVEL", u(F::Level.into())),
            ("XD_LOG_F_MODULE", u(F::Module.into())),
            ("XD_LOG_F_FILE", u(F::File.into())),
            ("XD_LOG_F_LINE", u(F::Line.into())),
            ("XD_LOG_F_NUM_ARGS", u(F::NumArgs.into())),
            ("XD_LOG_A_HINT", u(A::DisplayHint.into())),
            ("XD_LOG_A_I8", u(A::I8.into())),
            ("XD_LOG_A_I16", u(A::I16.into())),
            ("XD_LOG_A_I32", u(A::I32.into())),
            ("XD_LOG_A_I64", u(A::I64.into())),
            ("XD_LOG_A_ISIZE", u(A::Isize.into())),
            ("XD_LOG_A_U8", u(A::U8.into())),
            ("XD_LOG_A_U16", u(A::U16.into())),
            ("XD_LOG_A_U32", u(A::U32.into())),
            ("XD_LOG_A_U64", u(A::U64.into())),
            ("XD_LOG_A_USIZE", u(A::Usize.into())),
            ("XD_LOG_A_F32", u(A::F32.into())),
            ("XD_LOG_A_F64", u(A::F64.into())),
            ("XD_LOG_A_IPV4", u(A::Ipv4Addr.into())),
            ("XD_LOG_A_IPV6", u(A::Ipv6Addr.into())),
            ("XD_LOG_A_ARR_U8_4", u(A::ArrU8Len4.into())),
            ("XD_LOG_A_ARR_U8_6", u(A::ArrU8Len6.into())),
            ("XD_LOG_A_ARR_U8_16", u(A::ArrU8Len16.into())),
            ("XD_LOG_A_ARR_U16_8", u(A::ArrU16Len8.into())),
            ("XD_LOG_A_BYTES", u(A::Bytes.into())),
            ("XD_LOG_A_STR", u(A::Str.into())),
            ("XD_LOG_A_POINTER", u(A::Pointer.into())),
            ("XD_LOG_H_DEFAULT", u(H::Default.into())),
            ("XD_LOG_H_LOWER_HEX", u(H::LowerHex.into())),
            ("XD_LOG_H_UPPER_HEX", u(H::UpperHex.into())),
            ("XD_LOG_H_IP", u(H::Ip.into())),
            ("XD_LOG_H_LOWER_MAC", u(H::LowerMac.into())),
            ("XD_LOG_H_UPPER_MAC", u(H::UpperMac.into())),
            ("XD_LOG_H_POINTER", u(H::Pointer.into())),
        ] {
            assert_eq!(
                header_value(name),
                v,
                "{name} in aya_log.h vs aya-log-common"
            );
        }
        // The value length on the wire is a u16 (the header writes 2 bytes).
        assert_eq!(std::mem::size_of::<aya_log_common::LogValueLength>(), 2);
    }

    #[test]
    fn sizes_and_defaults_match_header() {
        assert_eq!(header_value("XD_LOG_MAX"), u64::from(RECORD_MAX));
        assert_eq!(header_value("XD_LOG_DEFAULT_RATE"), DEFAULT_RATE);
        assert_eq!(header_value("XD_LOG_DEFAULT_BURST"), DEFAULT_BURST);
        assert_eq!(header_value("XD_LOG_RATE_MAX"), RATE_MAX);
        assert_eq!(header_value("XD_LOG_BURST_MAX"), BURST_MAX);
        assert!(HEADER.contains("#define XD_LOG_RINGBUF_BYTES (128 * 1024)"));
        for name in [LOGS_MAP, CTL_MAP, STATE_MAP, SCRATCH_MAP] {
            assert!(
                HEADER.contains(&format!("}} {name} SEC(\".maps\");")),
                "map {name} in aya_log.h"
            );
        }
    }
}
