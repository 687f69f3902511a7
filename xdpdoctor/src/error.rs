//! The library's one error type. Every variant says *what* was being done and *to what*
//! (interface, namespace, file, map) and keeps the error it came from as its `source`, so the
//! CLI can print a chain a user can act on (`{:#}`) and code can still find the errno
//! ([`Error::errno`]) behind a netlink, bpf or ioctl failure.

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Any error kept as a source: aya's, netlink's, pcap's, an `io::Error`, or a message.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong, by kind; each kind names its subject.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or ioctl failed. `op` names the call, `target` the object it acted on.
    #[error("{op} on {target}")]
    Sys {
        /// The call (`setns`, `SIOCETHTOOL ETHTOOL_SFEATURES`, ...).
        op: &'static str,
        /// What it acted on.
        target: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A netlink request (rtnetlink or generic netlink) failed.
    #[error("netlink {op} for {target}")]
    Netlink {
        /// The request (`link get`, `address add`, ...).
        op: &'static str,
        /// What it was about.
        target: String,
        /// The netlink library's error (carries the kernel's errno).
        #[source]
        source: BoxError,
    },

    /// Loading, attaching or accessing an eBPF object failed.
    #[error("bpf {op} ({target})")]
    Bpf {
        /// The step (`load`, `attach`, `pin`, `insert`, ...).
        op: &'static str,
        /// The program, map, pin or interface.
        target: String,
        /// aya's error (carries the kernel's errno and, for loads, the verifier log).
        #[source]
        source: BoxError,
    },

    /// A network namespace could not be found, created, entered or removed.
    #[error("network namespace {name}: {message}")]
    Netns {
        /// Its name or path, as the user gave it.
        name: String,
        /// What went wrong.
        message: String,
        /// The OS (or netns-rs) error behind it, keeping the errno.
        #[source]
        source: Option<BoxError>,
    },

    /// A name or path given as a network namespace is something else (a regular file,
    /// another kind of namespace, a directory) or nothing at all (deleted, never created).
    #[error("not a network namespace: {} ({why})", shown(path))]
    NotANetns {
        /// The name or path as given.
        path: PathBuf,
        /// What it is instead.
        why: String,
    },

    /// Bad input in a file the user gave us. Names the file, the field and the value.
    #[error("{}: field `{field}`: {message}", file.display())]
    Config {
        /// The file.
        file: PathBuf,
        /// The field path (`entries[1].to`).
        field: String,
        /// What is wrong with the value.
        message: String,
    },

    /// Bad input on the command line or in a value handed to the library, naming it.
    #[error("{what}: {message}")]
    Invalid {
        /// The argument or value.
        what: String,
        /// What is wrong with it.
        message: String,
    },

    /// A state file, journal or saved snapshot cannot be read as what it should be.
    #[error("{}: {message}", path.display())]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// The thing is in use: already deployed, a lab with this prefix is running, another
    /// xdpdoctor holds the lock, an interface already runs another XDP program.
    #[error("{what}: {message}")]
    Busy {
        /// What is busy.
        what: String,
        /// Why, and what to do about it.
        message: String,
    },

    /// An interface already runs an XDP program that is not ours, so attaching one is
    /// refused: seen in IFLA_XDP before trying, or EBUSY/EEXIST from the kernel (kept as the
    /// source).
    #[error(
        "interface busy: {interface} in {netns}: another XDP program is attached{}; detach it first (or leave this interface out)",
        prog_id.map(|p| format!(" (id {p})")).unwrap_or_default()
    )]
    XdpBusy {
        /// The interface.
        interface: String,
        /// Its namespace.
        netns: String,
        /// The program attached there, when known.
        prog_id: Option<u32>,
        /// The kernel's refusal, when there was one.
        #[source]
        source: Option<BoxError>,
    },

    /// The kernel or the device cannot do what was asked (a feature it lacks, a kernel too
    /// old for it).
    #[error("{what}: {message}")]
    Unsupported {
        /// What was asked.
        what: String,
        /// Why it cannot be done.
        message: String,
    },

    /// The kernel answered something we cannot use, or a measurement broke an invariant it
    /// relies on. A bug here or there: the message says what was expected.
    #[error("{what}: unexpected: {message}")]
    Unexpected {
        /// What was read or measured.
        what: String,
        /// What came back, and what was expected.
        message: String,
    },

    /// A packet capture could not be opened or read.
    #[error("capture on {target}")]
    Capture {
        /// `namespace/interface`.
        target: String,
        /// libpcap's error.
        #[source]
        source: BoxError,
    },

    /// The kernel refused for lack of privileges (EPERM, or EACCES on a namespace file).
    #[error("{what} needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)")]
    NeedsRoot {
        /// What was attempted.
        what: String,
        /// The refusal, keeping its errno (None when it was decided before asking the kernel).
        #[source]
        source: Option<BoxError>,
    },

    /// Something the command needs does not exist (interface, forwarder, lab, ...).
    #[error("{what} not found{}", hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    NotFound {
        /// What was looked for.
        what: String,
        /// What the user can do.
        hint: Option<String>,
    },

    /// Reading or writing a file failed.
    #[error("{op} {}", path.display())]
    Io {
        /// `read`, `write`, `create directory`, ...
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The user pressed Ctrl-C (or we got SIGTERM); what was made has been cleaned up.
    #[error("interrupted")]
    Interrupted,

    /// Several independent steps failed (teardown keeps going and reports all of them).
    #[error("{} step(s) failed: {}", .0.len(), .0.iter().map(|e| chain(e)).collect::<Vec<_>>().join("; "))]
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

    /// A file operation failed.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A bpf step failed; `source` is aya's error (or a message when there is none).
    pub fn bpf(op: &'static str, target: impl Into<String>, source: impl Into<BoxError>) -> Self {
        let (target, source) = (target.into(), source.into());
        if is_eperm(&*source) {
            return Error::NeedsRoot {
                what: format!("bpf {op} ({target})"),
                source: Some(source),
            };
        }
        Error::Bpf { op, target, source }
    }

    /// Attaching XDP to `interface` failed: [`Error::XdpBusy`] when the kernel says another
    /// program is there (EBUSY, EEXIST), keeping its error as the source; otherwise
    /// [`Error::bpf`] with op `attach` on `target`. `prog_id` is the program seen attached,
    /// if any.
    pub fn xdp_attach(
        interface: &str,
        netns: &str,
        prog_id: Option<u32>,
        target: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        let source = source.into();
        match errno_in(&*source) {
            Some(libc::EBUSY) | Some(libc::EEXIST) => Error::XdpBusy {
                interface: interface.to_string(),
                netns: netns.to_string(),
                prog_id: prog_id.filter(|p| *p != 0),
                source: Some(source),
            },
            _ => Error::bpf("attach", target, source),
        }
    }

    /// A netlink request failed; `source` is the netlink library's error.
    pub fn netlink(
        op: &'static str,
        target: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        let (target, source) = (target.into(), source.into());
        // EPERM from rtnetlink is a missing CAP_NET_ADMIN: said once, the same way as bpf's.
        if is_eperm(&*source) {
            return Error::NeedsRoot {
                what: format!("netlink {op} ({target})"),
                source: Some(source),
            };
        }
        Error::Netlink { op, target, source }
    }

    /// Bad input naming the offending argument or value.
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }

    /// A state file or saved document that does not parse.
    pub fn corrupt(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::CorruptState {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// Something is in use.
    pub fn busy(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Busy {
            what: what.into(),
            message: message.into(),
        }
    }

    /// The kernel or device cannot do it.
    pub fn unsupported(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Unsupported {
            what: what.into(),
            message: message.into(),
        }
    }

    /// An answer or a measurement we cannot use.
    pub fn unexpected(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Unexpected {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Something is missing; `hint` says what the user can do.
    pub fn not_found(what: impl Into<String>, hint: Option<String>) -> Self {
        Error::NotFound {
            what: what.into(),
            hint,
        }
    }

    /// The OS errno behind this error, found anywhere in its source chain (aya and netlink
    /// errors keep it a few levels down).
    pub fn errno(&self) -> Option<i32> {
        errno_in(self)
    }

    /// Same as [`Error::errno`] (kept for callers that read it as the raw OS error).
    pub fn raw_os_error(&self) -> Option<i32> {
        self.errno()
    }
}

/// A path for messages; an empty one is shown as `''` so it is visible.
fn shown(p: &std::path::Path) -> String {
    if p.as_os_str().is_empty() {
        "''".into()
    } else {
        p.display().to_string()
    }
}

/// The first OS errno in `e`'s source chain: an `io::Error` with a raw code, or a netlink
/// error message (which carries the kernel's negative errno).
pub fn errno_in(e: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(n) = io.raw_os_error() {
                return Some(n);
            }
        }
        if let Some(rtnetlink::Error::NetlinkError(m)) = err.downcast_ref::<rtnetlink::Error>() {
            if let Some(code) = m.code {
                return Some(code.get().abs());
            }
        }
        cur = err.source();
    }
    None
}

fn is_eperm(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    errno_in(e) == Some(libc::EPERM)
}

/// Collects errors from steps that must all be attempted (teardown, cleanup).
#[derive(Default, Debug)]
pub struct ErrorList(Vec<Error>);

impl ErrorList {
    /// Keeps `r`'s error, if any (and logs it).
    pub fn push(&mut self, r: Result<()>) {
        if let Err(e) = r {
            log::warn!("{}", chain(&e));
            self.0.push(e);
        }
    }

    /// `Ok` if nothing failed, the one error, or [`Error::Many`].
    pub fn into_result(self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.into_iter().next().expect("one error")),
            _ => Err(Error::Many(self.0)),
        }
    }
}

/// The name of an errno value (sign ignored): `-95` -> `EOPNOTSUPP`.
pub fn errno_name(code: i32) -> String {
    let n = code.unsigned_abs() as i32;
    let name = match n {
        0 => return "0".into(),
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EFAULT => "EFAULT",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::ERANGE => "ERANGE",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENOTCONN => "ENOTCONN",
        libc::ENOSYS => "ENOSYS",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        // Kernel-internal, never seen by user space except through tracepoints.
        524 => "ENOTSUPP",
        _ => return format!("errno {n}"),
    };
    name.into()
}

/// `e: source: source...` on one line (what anyhow's `{:#}` prints), for messages built
/// inside the library.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let t = src.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = src.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_is_found_down_the_chain() {
        let io = std::io::Error::from_raw_os_error(libc::EBUSY);
        let e = Error::bpf("attach", "xdp_pass to eth0", io);
        assert_eq!(e.errno(), Some(libc::EBUSY));
        assert!(
            chain(&e).contains("Device or resource busy"),
            "{}",
            chain(&e)
        );
        assert!(matches!(
            Error::bpf("load", "x", std::io::Error::from_raw_os_error(libc::EPERM)),
            Error::NeedsRoot { .. }
        ));
        assert_eq!(Error::bpf("find", "x", "missing").errno(), None);
    }

    #[test]
    fn busy_interface_says_so_and_keeps_the_errno() {
        let e = Error::xdp_attach(
            "eth0",
            "vm",
            Some(42),
            "xdp_fwd_external to eth0",
            std::io::Error::from_raw_os_error(libc::EBUSY),
        );
        let s = chain(&e);
        assert!(
            s.starts_with("interface busy: eth0 in vm: another XDP program is attached (id 42)"),
            "{s}"
        );
        assert!(s.contains("Device or resource busy"), "{s}");
        assert_eq!(e.errno(), Some(libc::EBUSY));
        let other = Error::xdp_attach(
            "eth0",
            "vm",
            None,
            "t",
            std::io::Error::from_raw_os_error(libc::EINVAL),
        );
        assert!(matches!(other, Error::Bpf { .. }), "{other}");
        // A map update beyond capacity keeps its errno too.
        let aya_err = aya::maps::MapError::from(aya::sys::SyscallError {
            call: "bpf_map_update_elem",
            io_error: std::io::Error::from_raw_os_error(libc::E2BIG),
        });
        let e = Error::bpf("insert", "a NAT map, key 1.2.3.4:80", aya_err);
        assert_eq!(e.errno(), Some(libc::E2BIG));
        assert!(
            chain(&e).contains("Argument list too long"),
            "{}",
            chain(&e)
        );
    }

    #[test]
    fn many_lists_every_chain() {
        let mut l = ErrorList::default();
        l.push(Err(Error::io(
            "remove",
            "/x",
            std::io::Error::from_raw_os_error(libc::ENOENT),
        )));
        l.push(Ok(()));
        l.push(Err(Error::invalid("a", "b")));
        let e = l.into_result().unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("2 step(s) failed"), "{s}");
        assert!(s.contains("remove /x: No such file"), "{s}");
    }
}
