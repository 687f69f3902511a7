//! [`Netns`]: a way into a network namespace (a path to open and a name for messages), and
//! the only `setns` calls: a thread ([`Netns::run`]), a child before `exec`
//! ([`Netns::spawn_in`]) or a process that exists only to serve inside one namespace
//! ([`Netns::enter_process`]). A `Netns` is not an identity: the path may not exist yet (a
//! lab's namespace before `create`), or lead elsewhere later; [`super::NsRef`] is the
//! identity, taken when it is opened.

use std::{
    fs::File,
    os::fd::{AsRawFd, FromRawFd},
    os::unix::fs::MetadataExt,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
};

use crate::state::NsKey;
use crate::{Error, Result};

/// Where `ip netns` (and this tool) keep named namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// `NS_GET_NSTYPE` (linux/nsfs.h): `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// `SO_NETNS_COOKIE` (asm-generic/socket.h, Linux 5.14).
const SO_NETNS_COOKIE: libc::c_int = 71;

/// A handle to a network namespace: a path to open plus a name for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns {
    /// Human name: the netns name, `pid:N`, or the path when it has none.
    pub name: String,
    /// The path to open (`/run/netns/NAME`, `/proc/N/ns/net`, anything the user gave).
    pub path: PathBuf,
}

impl Netns {
    /// The namespace this process started in, named after its /run/netns entry if it has one
    /// (so a command started under `nsenter --net=/run/netns/NAME` reports NAME), else `host`
    /// when it is PID 1's, else the container it is in (`docker:web1`) or `pid:PID`.
    pub fn current() -> Self {
        let path = PathBuf::from("/proc/self/ns/net");
        let ino = std::fs::metadata(&path).map(|m| m.ino()).ok();
        let name = ino
            .and_then(|ino| {
                list_named().into_iter().find(|n| {
                    std::fs::metadata(Path::new(NETNS_RUN_DIR).join(n))
                        .map(|m| m.ino())
                        .ok()
                        == Some(ino)
                })
            })
            .unwrap_or_else(|| match ino {
                Some(i) if Some(i) == super::names::host_inode() => super::names::HOST.to_string(),
                _ => {
                    let pid = std::process::id();
                    crate::runtime::container_of_pid(pid)
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| format!("pid:{pid}"))
                }
            });
        Netns { name, path }
    }

    /// A namespace named as `ip netns` names them: `/run/netns/NAME`.
    pub fn named(name: &str) -> Self {
        Netns {
            name: name.to_string(),
            path: Path::new(NETNS_RUN_DIR).join(name),
        }
    }

    /// Parses a `--netns` argument: a path if it contains '/', else a name under /run/netns.
    /// Nothing is opened yet; [`Netns::open`] and [`Netns::inode`] check it.
    pub fn from_arg(arg: &str) -> Self {
        if arg.contains('/') {
            Netns {
                name: arg.to_string(),
                path: PathBuf::from(arg),
            }
        } else {
            Self::named(arg)
        }
    }

    /// `--netns` if given, else the current namespace.
    pub fn from_opt(arg: Option<&str>) -> Self {
        arg.map(Self::from_arg).unwrap_or_else(Self::current)
    }

    /// Whether the namespace can be opened (and is a network namespace).
    pub fn exists(&self) -> bool {
        self.open().is_ok()
    }

    /// The namespace's inode number: its identity (what tp_btf probes report as `ns.inum`).
    pub fn inode(&self) -> Result<u64> {
        let f = self.open()?;
        f.metadata()
            .map(|m| m.ino())
            .map_err(|e| self.os_err(format!("cannot stat {}", self.path.display()), e))
    }

    /// The namespace's netns cookie: `SO_NETNS_COOKIE` of a socket opened inside it (on a
    /// thread that entered it). A 64-bit number the kernel gives each namespace at creation
    /// and never reuses, unlike the inode. `None` on kernels without the option (before
    /// 5.14: ENOPROTOOPT).
    pub fn cookie(&self) -> Result<Option<u64>> {
        self.run(|| cookie_here().map_err(|e| self.os_err("getsockopt SO_NETNS_COOKIE".into(), e)))
    }

    /// The namespace's identity as state is keyed by it: inode and cookie.
    pub fn key(&self) -> Result<NsKey> {
        Ok(NsKey::new(self.inode()?, self.cookie()?))
    }

    /// Opens the namespace file, checking that it is a network namespace. Anything else
    /// (nothing there, an empty name, a directory, a regular file, another kind of
    /// namespace) is [`Error::NotANetns`], saying what it is instead.
    pub fn open(&self) -> Result<File> {
        let named = self.is_named();
        if self.path.as_os_str().is_empty() || self.name.is_empty() {
            return Err(self.not_netns("empty name".into()));
        }
        if named && (self.name == "." || self.name == "..") {
            return Err(self.not_netns(format!("{:?} is not a namespace name", self.name)));
        }
        let f = File::open(&self.path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                self.not_netns(format!(
                    "no {}: never created, or deleted",
                    self.path.display()
                ))
            } else {
                self.os_err(format!("cannot open {}", self.path.display()), e)
            }
        })?;
        // SAFETY: ioctl on an fd we own; NS_GET_NSTYPE takes no argument.
        let t = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_NSTYPE as _) };
        if t != libc::CLONE_NEWNET {
            let what = match (t, f.metadata()) {
                (-1, Ok(m)) if m.is_dir() => "a directory".to_string(),
                (-1, Ok(m)) if m.is_file() && m.len() == 0 && named => {
                    "an empty file: a namespace whose creation was interrupted".to_string()
                }
                (-1, Ok(m)) if m.is_file() => "a regular file".to_string(),
                (-1, _) => "not a namespace file".to_string(),
                (t, _) => format!("a {} namespace", ns_type_name(t)),
            };
            return Err(self.not_netns(if named {
                format!("{} is {what}", self.path.display())
            } else {
                what
            }));
        }
        Ok(f)
    }

    /// Creates a named namespace (`/run/netns/NAME`, bind-mounted like `ip netns add`).
    pub fn create(name: &str) -> Result<Self> {
        let ns = Self::named(name);
        if ns.exists() {
            return Err(Error::busy(
                format!("namespace {name}"),
                "already exists; pick another name or prefix",
            ));
        }
        netns_rs::NetNs::new(name).map_err(|e| ns.err_from("create", e))?;
        log::debug!("created netns {name}");
        Ok(ns)
    }

    /// Removes a named namespace (unmounts and unlinks `/run/netns/NAME`, like `ip netns
    /// del`). Devices inside it are destroyed by the kernel once no process holds it. Also
    /// removes the empty file a creation left when it was killed before mounting, and is a
    /// no-op if nothing is there (a lab recorded the name but was killed before creating it).
    pub fn remove(&self) -> Result<()> {
        if !self.is_named() || self.name.is_empty() || self.name == "." || self.name == ".." {
            return Err(self.err(format!(
                "only namespaces named under {NETNS_RUN_DIR} can be removed, not {}",
                self.path.display()
            )));
        }
        let c = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes())
            .map_err(|_| self.err("name contains a NUL byte".into()))?;
        // SAFETY: umount2 on a valid C string; MNT_DETACH only detaches this mount point.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            let e = std::io::Error::last_os_error();
            // EINVAL: not a mount point (a creation killed before it mounted); ENOENT: gone.
            if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOENT)) {
                return Err(self.os_err(format!("unmount {}", self.path.display()), e));
            }
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &self.path, e)),
        }
        log::debug!("removed netns {}", self.name);
        Ok(())
    }

    /// Whether anything is at the namespace's path (a namespace, or a leftover file).
    pub fn path_exists(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok()
    }

    /// Runs `f` on a fresh OS thread that has entered this namespace.
    pub fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: FnOnce() -> Result<T> + Send,
    {
        let file = self.open()?;
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: plain syscall on a valid fd; affects only this thread.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(self.os_err("setns".into(), std::io::Error::last_os_error()));
                }
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(self.err("worker thread panicked".into())))
        })
    }

    /// Runs an async job inside this namespace on a current-thread tokio runtime owned by
    /// the namespace thread.
    pub fn block_on<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: FnOnce() -> Fut + Send,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.run(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::io("start runtime", "tokio", e))?;
            rt.block_on(f())
        })
    }

    /// Makes `cmd` enter this namespace in the child, before `exec`. The namespace file is
    /// opened now (errors are reported here) and kept open by the returned guard, which must
    /// live until the child is spawned.
    pub fn spawn_in(&self, cmd: &mut std::process::Command) -> Result<File> {
        let f = self.open()?;
        let fd = f.as_raw_fd();
        // SAFETY: setns(2) is async-signal-safe; it moves only the child, before exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(f)
    }

    /// Moves the calling thread into this namespace for good. For a process that exists only
    /// to work inside one namespace (the lab's HTTP responder), called before it starts any
    /// other thread.
    pub fn enter_process(&self) -> Result<()> {
        let f = self.open()?;
        // SAFETY: setns on a valid namespace fd; the caller is still single-threaded.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(self.os_err("setns".into(), std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Whether this is `/run/netns/NAME` (a name, as `ip netns` names them).
    fn is_named(&self) -> bool {
        !self.name.contains('/') && self.path == Path::new(NETNS_RUN_DIR).join(&self.name)
    }

    fn not_netns(&self, why: String) -> Error {
        // What the user typed: the name for named namespaces, else the path.
        let shown = if self.is_named() || self.name.is_empty() {
            self.name.clone()
        } else {
            self.path.display().to_string()
        };
        Error::NotANetns {
            path: shown.into(),
            why,
        }
    }

    fn err(&self, message: String) -> Error {
        Error::Netns {
            name: self.name.clone(),
            message,
            source: None,
        }
    }

    /// `message` failed with `source` (its errno kept as the source).
    fn err_from(&self, message: &str, source: impl Into<crate::error::BoxError>) -> Error {
        Error::Netns {
            name: self.name.clone(),
            message: message.to_string(),
            source: Some(source.into()),
        }
    }

    /// An OS error on the namespace file: EACCES or EPERM mean missing privileges (a
    /// namespace of another user's process, `setns` or `umount` without CAP_SYS_ADMIN), said
    /// as such; anything else keeps its errno as the source.
    fn os_err(&self, message: String, e: std::io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => Error::NeedsRoot {
                what: format!("network namespace {}: {message}", self.name),
                source: Some(e.into()),
            },
            _ => self.err_from(&message, e),
        }
    }
}

impl std::fmt::Display for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// The kind of namespace an `NS_GET_NSTYPE` answer names.
fn ns_type_name(t: libc::c_int) -> &'static str {
    match t {
        libc::CLONE_NEWNS => "mount",
        libc::CLONE_NEWPID => "pid",
        libc::CLONE_NEWUTS => "uts",
        libc::CLONE_NEWIPC => "ipc",
        libc::CLONE_NEWUSER => "user",
        libc::CLONE_NEWCGROUP => "cgroup",
        libc::CLONE_NEWTIME => "time",
        _ => "non-network",
    }
}

/// The netns cookie of the calling thread's namespace (see [`Netns::cookie`]): `None` on a
/// kernel without `SO_NETNS_COOKIE`.
pub fn cookie_here() -> std::io::Result<Option<u64>> {
    // SAFETY: socket(2) with constant arguments; the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nobody else owns.
    let sock = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cookie`.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if r == 0 {
        return Ok(Some(cookie));
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOPROTOOPT) => Ok(None),
        _ => Err(e),
    }
}

/// Lists the names under /run/netns.
pub fn list_named() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(NETNS_RUN_DIR)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::all;

    #[test]
    fn not_a_network_namespace_is_named() {
        let msg = |arg: &str| Netns::from_arg(arg).inode().unwrap_err().to_string();
        for (arg, shown, why) in [
            ("/etc/passwd", "/etc/passwd", "(a regular file)"),
            (
                "/proc/self/ns/mnt",
                "/proc/self/ns/mnt",
                "a mount namespace",
            ),
            ("/", "/", "a directory"),
            ("", "''", "empty name"),
            (".", ".", "not a namespace name"),
            (
                "xdpdoctor-no-such-ns",
                "xdpdoctor-no-such-ns",
                "no /run/netns/",
            ),
            ("/proc/0/ns/net", "/proc/0/ns/net", "deleted"),
        ] {
            let m = msg(arg);
            assert!(
                m.starts_with(&format!("not a network namespace: {shown} (")) && m.contains(why),
                "{arg:?}: {m}"
            );
        }
    }

    /// A permission refusal on the namespace file is "needs root" and keeps its errno; any
    /// other OS error keeps its errno as the source of the namespace error.
    #[test]
    fn os_errors_keep_their_errno() {
        let ns = Netns::named("x");
        let e = ns.os_err("cannot open /run/netns/x".into(), io(libc::EACCES));
        assert!(matches!(e, Error::NeedsRoot { .. }), "{e}");
        assert_eq!(e.errno(), Some(libc::EACCES));
        assert!(
            crate::error::chain(&e)
                .starts_with("network namespace x: cannot open /run/netns/x needs root (CAP_BPF"),
            "{}",
            crate::error::chain(&e)
        );
        let e = ns.os_err("setns".into(), io(libc::EPERM));
        assert!(matches!(e, Error::NeedsRoot { .. }), "{e}");
        let e = ns.os_err("cannot stat /run/netns/x".into(), io(libc::EIO));
        assert!(matches!(e, Error::Netns { .. }), "{e}");
        assert_eq!(e.errno(), Some(libc::EIO));
        assert!(crate::error::chain(&e).ends_with("Input/output error (os error 5)"));
    }

    fn io(errno: i32) -> std::io::Error {
        std::io::Error::from_raw_os_error(errno)
    }

    #[test]
    fn the_current_namespace_is_one() {
        let c = Netns::current();
        assert!(c.inode().is_ok());
        assert!(all().iter().any(|n| Some(n.inode) == c.inode().ok()));
    }
}
