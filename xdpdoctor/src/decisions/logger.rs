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
//!
//! A log made with [`DecisionLog::collect`] / [`DecisionLog::collect_from_program`] keeps the
//! records instead of handing them to the global logger, for callers inside the library (a
//! diagnosis window, the bench) that cannot own the process's logger: [`DecisionLog::take`]
//! returns them as [`EbpfRecord`]s, same prefixed target, all levels.

use std::os::fd::{AsFd, BorrowedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aya::Ebpf;
use aya_log::EbpfLogger;
use log::{Log, Metadata, Record};

use crate::bpf::log_abi::LOGS_MAP;
use crate::{Error, Result};

/// Prefix of the `log` target of every record read from eBPF.
pub const TARGET_PREFIX: &str = "ebpf::";

/// One record read from eBPF by a collecting [`DecisionLog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EbpfRecord {
    /// Its level.
    pub level: log::Level,
    /// `ebpf::<target>` ([`TARGET_PREFIX`] + the target the program wrote).
    pub target: String,
    /// The module the program wrote.
    pub module: Option<String>,
    /// The source file of the record (the C file's name).
    pub file: Option<String>,
    /// The line of its `xd_log_begin`.
    pub line: Option<u32>,
    /// The message, as aya-log formatted the arguments.
    pub message: String,
}

impl EbpfRecord {
    /// The target the program wrote (without [`TARGET_PREFIX`]).
    pub fn program_target(&self) -> &str {
        self.target
            .strip_prefix(TARGET_PREFIX)
            .unwrap_or(&self.target)
    }
}

/// A reader of one records ring, attached with aya-log's decoder.
pub struct DecisionLog {
    logger: EbpfLogger<Prefixed>,
    received: Arc<AtomicU64>,
    kept: Option<Arc<Mutex<Vec<EbpfRecord>>>>,
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
        Self::from_ebpf(ebpf, object, false)
    }

    /// [`Self::attach`], keeping the records for [`Self::take`] instead of logging them.
    pub fn collect(ebpf: &mut Ebpf, object: &str) -> Result<Self> {
        Self::from_ebpf(ebpf, object, true)
    }

    /// Reads the records ring of the running program `program_id` (one that includes
    /// aya_log.h: a deployed, pinned forwarder, from another process).
    pub fn attach_to_program(program_id: u32) -> Result<Self> {
        Self::from_program(program_id, false)
    }

    /// [`Self::attach_to_program`], keeping the records for [`Self::take`].
    pub fn collect_from_program(program_id: u32) -> Result<Self> {
        Self::from_program(program_id, true)
    }

    fn from_ebpf(ebpf: &mut Ebpf, object: &str, keep: bool) -> Result<Self> {
        Self::wrap(format!("{LOGS_MAP} in {object}"), keep, |p| {
            EbpfLogger::init_with_logger(ebpf, p)
        })
    }

    fn from_program(program_id: u32, keep: bool) -> Result<Self> {
        Self::wrap(format!("{LOGS_MAP} of program {program_id}"), keep, |p| {
            EbpfLogger::init_from_id_with_logger(program_id, p)
        })
    }

    /// aya-log's logger over `source` (made by `init`), writing to a [`Prefixed`] facade.
    fn wrap<E>(
        source: String,
        keep: bool,
        init: impl FnOnce(Prefixed) -> std::result::Result<EbpfLogger<Prefixed>, E>,
    ) -> Result<Self>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let (prefixed, received, kept) = Prefixed::new(keep);
        let logger = init(prefixed).map_err(|e| Error::bpf("attach aya-log", source.clone(), e))?;
        Ok(DecisionLog {
            logger,
            received,
            kept,
            source,
        })
    }

    /// Decodes every record now in the ring and returns the records kept since the last
    /// call (a log that forwards to the global logger keeps none).
    pub fn take(&mut self) -> Result<Vec<EbpfRecord>> {
        self.flush()?;
        Ok(self
            .kept
            .as_ref()
            .map(|k| std::mem::take(&mut *k.lock().unwrap_or_else(|p| p.into_inner())))
            .unwrap_or_default())
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

/// The logger aya-log writes to: forwards to the global logger under the prefixed target, or
/// keeps the records (`kept`).
struct Prefixed {
    received: Arc<AtomicU64>,
    kept: Option<Arc<Mutex<Vec<EbpfRecord>>>>,
}

type Parts = (
    Prefixed,
    Arc<AtomicU64>,
    Option<Arc<Mutex<Vec<EbpfRecord>>>>,
);

impl Prefixed {
    fn new(keep: bool) -> Parts {
        let received = Arc::new(AtomicU64::new(0));
        let kept = keep.then(|| Arc::new(Mutex::new(Vec::new())));
        (
            Prefixed {
                received: received.clone(),
                kept: kept.clone(),
            },
            received,
            kept,
        )
    }
}

impl Log for Prefixed {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.kept.is_some() || metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        self.received.fetch_add(1, Ordering::Relaxed);
        if !self.enabled(record.metadata()) {
            return;
        }
        let target = format!("{TARGET_PREFIX}{}", record.target());
        if let Some(kept) = &self.kept {
            kept.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(EbpfRecord {
                    level: record.level(),
                    target,
                    module: record.module_path().map(str::to_string),
                    file: record.file().map(str::to_string),
                    line: record.line(),
                    message: record.args().to_string(),
                });
            return;
        }
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
