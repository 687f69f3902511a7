//! aya-log's `EbpfLogger` reading the records ring (`AYA_LOGS`) of a loaded object or a
//! running program, and passing each decoded record on to the `log` facade with its target
//! prefixed by [`TARGET_PREFIX`] (a record with target `decision` arrives as
//! `ebpf::decision`). The prefix is not a Rust module path, so a logger can route eBPF records
//! apart from the library's own `xdpdoctor::...` diagnostics.
//!
//! `log`'s global maximum level is honoured, as the `log` macros do (aya-log calls the logger
//! directly and would bypass it). Reading is pull-based: [`DecisionLog::flush`] decodes what is
//! in the ring now; the ring's fd ([`AsFd`]) becomes readable when records arrive, for a
//! caller that waits on it (tokio's `AsyncFd`, `poll`).

use std::os::fd::{AsFd, BorrowedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aya::Ebpf;
use aya_log::EbpfLogger;
use log::{Log, Metadata, Record};

use crate::bpf::log_abi::LOGS_MAP;
use crate::{Error, Result};

/// Prefix of the `log` target of every record read from eBPF.
pub const TARGET_PREFIX: &str = "ebpf::";

/// A reader of one records ring, attached with aya-log's decoder.
pub struct DecisionLog {
    logger: EbpfLogger<Prefixed>,
    received: Arc<AtomicU64>,
    source: String,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog")
            .field("source", &self.source)
            .field("received", &self.received())
            .finish()
    }
}

impl DecisionLog {
    /// Takes the records ring out of `ebpf` (loaded from `object`, named in errors) and reads
    /// it with aya-log. Attach before the programs run: records written earlier wait in the
    /// ring, but nothing reads them otherwise.
    pub fn attach(ebpf: &mut Ebpf, object: &str) -> Result<Self> {
        let (prefixed, received) = Prefixed::new();
        let source = format!("{LOGS_MAP} in {object}");
        let logger = EbpfLogger::init_with_logger(ebpf, prefixed)
            .map_err(|e| Error::bpf("attach aya-log", source.clone(), e))?;
        Ok(DecisionLog {
            logger,
            received,
            source,
        })
    }

    /// Reads the records ring of the running program `program_id` (one that includes
    /// aya_log.h: a deployed, pinned forwarder, from another process).
    pub fn attach_to_program(program_id: u32) -> Result<Self> {
        let (prefixed, received) = Prefixed::new();
        let source = format!("{LOGS_MAP} of program {program_id}");
        let logger = EbpfLogger::init_from_id_with_logger(program_id, prefixed)
            .map_err(|e| Error::bpf("attach aya-log", source.clone(), e))?;
        Ok(DecisionLog {
            logger,
            received,
            source,
        })
    }

    /// Decodes every record now in the ring and logs it; returns how many were read (the
    /// `log` filter may still have dropped some).
    ///
    /// aya-log panics on a record it cannot decode (one the header wrote wrongly, or a ring
    /// shared with a newer format). The panic is caught here and returned as an error; the
    /// bad record has been consumed, so the next flush goes on with the records after it.
    pub fn flush(&mut self) -> Result<u64> {
        let before = self.received();
        let logger = &mut self.logger;
        let decoded = catch_unwind(AssertUnwindSafe(|| logger.flush()));
        log::logger().flush();
        let read = self.received() - before;
        decoded.map(|()| read).map_err(|_| {
            Error::unexpected(
                format!("aya-log record from {}", self.source),
                format!(
                    "aya-log could not decode a record after {read} good one(s); the C \
                     encoder (aya_log.h) and the aya-log crate disagree on the format"
                ),
            )
        })
    }

    /// Records read since attaching.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl AsFd for DecisionLog {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.logger.as_fd()
    }
}

/// The logger aya-log writes to: forwards to the global logger under the prefixed target.
struct Prefixed {
    received: Arc<AtomicU64>,
}

impl Prefixed {
    fn new() -> (Self, Arc<AtomicU64>) {
        let received = Arc::new(AtomicU64::new(0));
        (
            Prefixed {
                received: received.clone(),
            },
            received,
        )
    }
}

impl Log for Prefixed {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        self.received.fetch_add(1, Ordering::Relaxed);
        if !self.enabled(record.metadata()) {
            return;
        }
        let target = format!("{TARGET_PREFIX}{}", record.target());
        log::logger().log(
            &Record::builder()
                .args(*record.args())
                .level(record.level())
                .target(&target)
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    /// aya-log flushes after every record; [`DecisionLog::flush`] flushes once instead.
    fn flush(&self) {}
}
