//! The library's one error type. Every variant says *what* was being done and *to what*
//! (interface, namespace, file, map) so the CLI can print a chain a user can act on.

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or ioctl failed. `op` names the call, `target` the object it acted on.
    #[error("{op} on {target}")]
    Sys {
        op: &'static str,
        target: String,
        #[source]
        source: std::io::Error,
    },

    /// A netlink request (rtnetlink or generic netlink) failed.
    #[error("netlink {op} for {target}: {message}")]
    Netlink {
        op: &'static str,
        target: String,
        message: String,
    },

    /// Loading, attaching or accessing an eBPF object failed.
    #[error("bpf {op} ({target}): {message}")]
    Bpf {
        op: &'static str,
        target: String,
        message: String,
    },

    /// A network namespace could not be found, created, entered or removed.
    #[error("network namespace {name}: {message}")]
    Netns { name: String, message: String },

    /// Bad input in a file the user gave us. Names the file, the field and the value.
    #[error("{}: field `{field}`: {message}", file.display())]
    Config {
        file: PathBuf,
        field: String,
        message: String,
    },

    /// Bad input on the command line or in state, naming the offending thing.
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },

    /// Something the command needs does not exist (interface, forwarder, lab, ...).
    #[error("{what} not found{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    NotFound { what: String, hint: Option<String> },

    /// Reading or writing a file failed.
    #[error("{op} {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The user pressed Ctrl-C (or we got SIGTERM); what was made has been cleaned up.
    #[error("interrupted")]
    Interrupted,

    /// Several independent steps failed (teardown keeps going and reports all of them).
    #[error("{} step(s) failed: {}", .0.len(), .0.iter().map(|e| format!("{e:#}")).collect::<Vec<_>>().join("; "))]
    Many(Vec<Error>),
}

impl Error {
    /// Wraps the last OS error for a failed syscall.
    pub fn last_os(op: &'static str, target: impl Into<String>) -> Self {
        Error::Sys {
            op,
            target: target.into(),
            source: std::io::Error::last_os_error(),
        }
    }

    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub fn bpf(op: &'static str, target: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Error::Bpf {
            op,
            target: target.into(),
            message: err.to_string(),
        }
    }

    pub fn netlink(
        op: &'static str,
        target: impl Into<String>,
        err: impl std::fmt::Display,
    ) -> Self {
        Error::Netlink {
            op,
            target: target.into(),
            message: err.to_string(),
        }
    }

    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>, hint: Option<String>) -> Self {
        Error::NotFound {
            what: what.into(),
            hint,
        }
    }

    /// The OS errno behind this error, if there is one (used to tell EPERM from ENOENT etc.).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Sys { source, .. } | Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// Collects errors from steps that must all be attempted (teardown, cleanup).
#[derive(Default, Debug)]
pub struct ErrorList(Vec<Error>);

impl ErrorList {
    pub fn push(&mut self, r: Result<()>) {
        if let Err(e) = r {
            log::warn!("{e}");
            self.0.push(e);
        }
    }

    pub fn into_result(self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.into_iter().next().unwrap()),
            _ => Err(Error::Many(self.0)),
        }
    }
}

/// `e: source: source...` on one line. aya's errors keep the errno in their source chain,
/// which `Display` alone drops.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        s.push_str(": ");
        s.push_str(&src.to_string());
        cur = src.source();
    }
    s
}
