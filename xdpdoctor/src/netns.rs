//! Network namespaces: naming, creation, removal, and running work inside one.
//!
//! Work in another namespace runs on a dedicated OS thread that calls `setns(2)` and exits when
//! the work is done, so no other thread (and never a tokio worker) changes namespace. Sockets
//! opened on that thread (netlink, ethtool ioctl, pcap, bpf map updates that resolve ifindexes)
//! belong to that namespace. Async netlink work gets its own current-thread runtime on that
//! thread (`Netns::block_on`).
//!
//! `Netns::current()` is the namespace the process runs in, so commands started under
//! `nsenter --net=/run/netns/NAME` work without `--netns`.

use std::{
    fs::File,
    os::fd::AsRawFd,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use crate::{Error, Result};

/// Where `ip netns` (and this tool) keep named namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// A handle to a network namespace: a path to open plus a name for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns {
    /// Human name: the netns name, or the path when it has none.
    pub name: String,
    pub path: PathBuf,
}

impl Netns {
    /// The namespace this process started in, named after its /run/netns entry if it has one
    /// (so a command started under `nsenter --net=/run/netns/NAME` reports NAME).
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
            .unwrap_or_else(|| "(current)".into());
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

    pub fn exists(&self) -> bool {
        self.inode().is_ok()
    }

    /// The namespace's inode number: its identity (what tp_btf probes report as `ns.inum`).
    pub fn inode(&self) -> Result<u64> {
        std::fs::metadata(&self.path)
            .map(|m| m.ino())
            .map_err(|e| self.err(format!("cannot open {}: {e}", self.path.display())))
    }

    pub fn open(&self) -> Result<File> {
        File::open(&self.path).map_err(|e| {
            self.err(format!(
                "cannot open {}: {e} (does the namespace exist?)",
                self.path.display()
            ))
        })
    }

    /// Creates a named namespace (`/run/netns/NAME`, bind-mounted like `ip netns add`).
    pub fn create(name: &str) -> Result<Self> {
        let ns = Self::named(name);
        if ns.exists() {
            return Err(ns.err("already exists".into()));
        }
        netns_rs::NetNs::new(name).map_err(|e| ns.err(format!("create: {e}")))?;
        log::debug!("created netns {name}");
        Ok(ns)
    }

    /// Removes a named namespace. Devices inside it are destroyed by the kernel once no
    /// process holds it.
    pub fn remove(&self) -> Result<()> {
        let ns = netns_rs::NetNs::get(&self.name).map_err(|e| self.err(format!("open: {e}")))?;
        ns.remove().map_err(|e| self.err(format!("remove: {e}")))?;
        log::debug!("removed netns {}", self.name);
        Ok(())
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
                    return Err(Error::last_os("setns", self.name.clone()));
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

    fn err(&self, message: String) -> Error {
        Error::Netns {
            name: self.name.clone(),
            message,
        }
    }
}

impl std::fmt::Display for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
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
