//! Shared helpers of the integration tests: the root guard of privileged tests, running the
//! real `xdpdoctor` binary, and a `Lab` guard that brings a scenario up under a unique prefix
//! and always takes it down (also when the test panics).

#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_xdpdoctor");

/// The binary under test: `XDPDOCTOR_BIN` if set (to run a test against another build, e.g.
/// to check that a regression test fails on the code before the fix), else this build's.
pub fn bin() -> String {
    std::env::var("XDPDOCTOR_BIN").unwrap_or_else(|_| BIN.to_string())
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// First statement of every privileged test. Privileged tests are marked
/// `#[ignore = "needs root: <reason>"]`, so without root the runner reports them as ignored,
/// with that reason; one that is run anyway without root (`--include-ignored` as a normal
/// user) fails here with a message saying so, instead of passing without having run.
#[track_caller]
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert!(
        uid == 0,
        "privileged test run without root (uid {uid}): it builds namespaces or loads BPF \
         programs and cannot run here; run it as root (./scripts/test.sh) or leave it ignored"
    );
}

/// A unique lab prefix: short (namespace names), per process and per call.
pub fn unique_prefix(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    // pid and a clock tick, so leftovers of an earlier crashed run never collide.
    let tick = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() % 1000)
        .unwrap_or(0);
    format!(
        "xt{}{}{:03}-{}",
        tag,
        std::process::id() % 100000,
        tick,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Runs xdpdoctor with `args`; returns the output (never panics on a non-zero exit).
pub fn xdpdoctor(args: &[&str]) -> Output {
    let out = Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run xdpdoctor");
    eprintln!(
        "$ xdpdoctor {}\n[exit {:?}]\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a tool inside a namespace (`ip netns exec NS ...`), for independent checks.
pub fn in_ns(ns: &str, cmd: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(cmd)
        .output()
        .expect("ip netns exec");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// A running lab; `lab down` on drop.
pub struct Lab {
    pub prefix: String,
}

impl Lab {
    /// `lab up seed --prefix <unique> <extra args>`; panics if it fails.
    pub fn up(tag: &str, extra: &[&str]) -> Lab {
        Lab::up_scenario("seed", tag, extra)
    }

    /// `lab up SCENARIO --prefix <unique> <extra args>`; panics if it fails.
    pub fn up_scenario(scenario: &str, tag: &str, extra: &[&str]) -> Lab {
        let prefix = unique_prefix(tag);
        let mut args = vec!["lab", "up", scenario, "--prefix", &prefix];
        args.extend_from_slice(extra);
        let out = xdpdoctor(&args);
        let lab = Lab {
            prefix: prefix.clone(),
        };
        assert!(out.status.success(), "lab up failed");
        lab
    }

    pub fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    /// `lab connect --json`: per entry (target, ok).
    pub fn connect(&self) -> Vec<(String, bool)> {
        connect_lab(&self.prefix)
    }

    /// `lab connect`: per entry, in the scenario's order, whether it answered.
    pub fn answers(&self) -> Vec<bool> {
        self.connect().into_iter().map(|(_, ok)| ok).collect()
    }
}

/// The MTU of `ifname` in namespace `ns`, as `ip -j link` reports it (an independent check).
pub fn mtu_of(ns: &str, ifname: &str) -> u64 {
    let out = in_ns(ns, &["ip", "-j", "link", "show", ifname]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j link");
    v[0]["mtu"].as_u64().expect("mtu")
}

/// A sysctl's value in namespace `ns`, as `sysctl -n` prints it.
pub fn sysctl(ns: &str, key: &str) -> String {
    in_ns(ns, &["sysctl", "-n", key]).trim().to_string()
}

impl Drop for Lab {
    fn drop(&mut self) {
        let out = Command::new(bin())
            .args(["lab", "down", "--prefix", &self.prefix])
            .output()
            .expect("lab down");
        if !out.status.success() {
            eprintln!(
                "lab down {} failed: {}",
                self.prefix,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Asserts nothing of lab `prefix` is left: namespaces, pins, state, processes.
pub fn assert_nothing_left(prefix: &str) {
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let ns = String::from_utf8_lossy(&ns.stdout);
    assert!(!ns.contains(&format!("{prefix}-")), "namespaces left: {ns}");
    assert!(
        !std::path::Path::new(&format!("/run/xdpdoctor/labs/{prefix}.json")).exists(),
        "lab state left"
    );
    // Our responders, by their command line (no `ps` needed).
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("serve-http") && c.contains(prefix))
        .collect();
    assert!(left.is_empty(), "responder left: {left:?}");
}

/// The inode of namespace `name` (`/run/netns/NAME`).
pub fn netns_inode(name: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{name}"))
        .unwrap_or_else(|e| panic!("/run/netns/{name}: {e}"))
        .ino()
}

/// Whether `path` is a network namespace (NS_GET_NSTYPE says CLONE_NEWNET).
pub fn is_netns(path: &str) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    // SAFETY: ioctl NS_GET_NSTYPE (_IO(0xb7, 3)) on an fd we own; no argument.
    unsafe { libc::ioctl(f.as_raw_fd(), 0xb703 as _) == libc::CLONE_NEWNET }
}

/// `xdpdoctor ARGS` run under `strace`, which delays every rename(2) by `delay`: each state
/// file or journal write then takes that long, which widens the windows between "the kernel
/// changed" and "it was recorded" enough for a test to kill or interrupt the command inside
/// one, deterministically. The strace process is the test's child; `tracee` is xdpdoctor.
pub struct Traced {
    pub strace: std::process::Child,
    pub tracee: i32,
}

impl Traced {
    pub fn spawn(args: &[&str], delay: std::time::Duration) -> Traced {
        let calls = "rename,renameat,renameat2";
        let strace = Command::new("strace")
            .args(["-qq", "-o", "/dev/null", "-e"])
            .arg(format!("trace={calls}"))
            .arg("-e")
            .arg(format!("inject={calls}:delay_enter={}", delay.as_micros()))
            .arg(bin())
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("strace (apt-get install strace)");
        let children = format!("/proc/{0}/task/{0}/children", strace.id());
        let t0 = std::time::Instant::now();
        // strace forks a short-lived helper first: the tracee is the child running xdpdoctor.
        let exe = bin();
        let tracee = loop {
            let pid = std::fs::read_to_string(&children).ok().and_then(|s| {
                s.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                    .find(|p| {
                        std::fs::read(format!("/proc/{p}/cmdline"))
                            .is_ok_and(|c| c.starts_with(exe.as_bytes()))
                    })
            });
            if let Some(pid) = pid {
                break pid;
            }
            assert!(t0.elapsed().as_secs() < 10, "strace started no child");
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        Traced { strace, tracee }
    }

    /// Sends `sig` to xdpdoctor (by its PID: a process this test started).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the PID of our strace's child.
        unsafe { libc::kill(self.tracee, sig) };
    }

    /// Waits for strace (which exits with xdpdoctor's status) and returns its output.
    pub fn wait(self) -> Output {
        let out = self.strace.wait_with_output().expect("wait strace");
        eprintln!(
            "[traced xdpdoctor exit {:?}]\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

/// Polls `cond` every millisecond for up to `secs` seconds.
pub fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = std::time::Instant::now();
    while t0.elapsed().as_secs() < secs {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    false
}

/// Whether interface `ifname` in namespace `ns` has an XDP program (per `ip -d link`).
pub fn has_xdp(ns: &str, ifname: &str) -> bool {
    let out = Command::new("ip")
        .args(["-n", ns, "-d", "link", "show", "dev", ifname])
        .output()
        .expect("ip link");
    String::from_utf8_lossy(&out.stdout).contains("prog/xdp")
}

/// Whether `key` (a state key as written in file names: `INODE` or `INODE_COOKIE`) is one of
/// the namespace with inode `inode`.
pub fn is_key_of(key: &str, inode: u64) -> bool {
    let i = inode.to_string();
    key == i
        || key
            .strip_prefix(&i)
            .and_then(|r| r.strip_prefix('_'))
            .is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
}

/// The state key of namespace `name` (`/run/netns/NAME`), computed here independently of
/// xdpdoctor: its inode, `_`, and its netns cookie (`SO_NETNS_COOKIE` of a socket opened
/// inside it, on a thread that entered it); the inode alone on a kernel without the option.
pub fn netns_key(name: &str) -> String {
    use std::os::fd::AsRawFd;
    let inode = netns_inode(name);
    let path = format!("/run/netns/{name}");
    let cookie = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on a namespace fd we own; affects this thread only.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        // SAFETY: socket(2) with constant arguments.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0) };
        assert!(fd >= 0);
        let mut c: u64 = 0;
        let mut len = 8 as libc::socklen_t;
        // SAFETY: getsockopt writes at most 8 bytes into `c`.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                71,
                (&mut c as *mut u64).cast(),
                &mut len,
            )
        };
        // SAFETY: closing the socket we opened.
        unsafe { libc::close(fd) };
        (r == 0).then_some(c)
    })
    .join()
    .expect("cookie thread");
    match cookie {
        Some(c) => format!("{inode}_{c}"),
        None => inode.to_string(),
    }
}

/// The names in `dir` of the form `PREFIX<key>SUFFIX` whose key is one of `inodes`.
pub fn keyed(dir: &str, prefix: &str, suffix: &str, inodes: &[u64]) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.strip_prefix(prefix)
                        .and_then(|r| r.strip_suffix(suffix))
                        .is_some_and(|k| inodes.iter().any(|i| is_key_of(k, *i)))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every entry under /sys/fs/bpf/xdpdoctor that belongs to one of these namespace inodes
/// (`fwd-<key>`, with the decision log's maps; `fix-<key>-*`), plus state files, journals
/// and lock files keyed by them (a key is the inode, or inode and netns cookie).
pub fn leftovers_of(inodes: &[u64]) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/fs/bpf/xdpdoctor") {
        for e in rd.filter_map(|e| e.ok()) {
            let n = e.file_name().to_string_lossy().into_owned();
            let fwd = n.strip_prefix("fwd-");
            let fix = n
                .strip_prefix("fix-")
                .and_then(|r| r.split_once('-'))
                .map(|(k, _)| k);
            if inodes.iter().any(|i| {
                fwd.is_some_and(|k| is_key_of(k, *i)) || fix.is_some_and(|k| is_key_of(k, *i))
            }) {
                out.push(format!("pin {n}"));
            }
        }
    }
    for dir in ["forwarders", "fixes"] {
        let d = format!("/run/xdpdoctor/{dir}");
        out.extend(
            keyed(&d, "", ".json", inodes)
                .into_iter()
                .map(|n| format!("{d}/{n}")),
        );
    }
    // The writers' lock, and the decision log reader's (trace --decisions, diagnose).
    let d = "/run/xdpdoctor/locks";
    for prefix in ["netns-", "decisions-"] {
        out.extend(
            keyed(d, prefix, ".lock", inodes)
                .into_iter()
                .map(|n| format!("{d}/{n}")),
        );
    }
    for dir in ["forwarders", "fixes"] {
        out.extend(temporaries_of(dir, inodes));
    }
    out
}

/// `/run/xdpdoctor/DIR/KEY.tmp.PID` files of these inodes: state writes a killed writer left.
pub fn temporaries_of(dir: &str, inodes: &[u64]) -> Vec<String> {
    let d = format!("/run/xdpdoctor/{dir}");
    std::fs::read_dir(&d)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.split_once(".tmp.")
                        .is_some_and(|(k, _)| inodes.iter().any(|i| is_key_of(k, *i)))
                })
                .map(|n| format!("{d}/{n}"))
                .collect()
        })
        .unwrap_or_default()
}

/// `/run/xdpdoctor/DIR/STEM.tmp.PID` files: state writes a killed writer left.
pub fn temporaries(dir: &str, stem: &str) -> Vec<String> {
    let prefix = format!("{stem}.tmp.");
    std::fs::read_dir(format!("/run/xdpdoctor/{dir}"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().display().to_string())
                .filter(|p| p.rsplit('/').next().is_some_and(|n| n.starts_with(&prefix)))
                .collect()
        })
        .unwrap_or_default()
}

/// An empty network namespace named `<unique prefix>-<node>` for tests that set up their own
/// links with `ip`; deleted on drop (also when the test panics), which destroys every device
/// inside it. Nothing is created in the root namespace.
pub struct ScratchNs {
    pub name: String,
}

impl ScratchNs {
    /// Creates the namespace with `lo` up; panics if `ip netns add` fails.
    pub fn new(tag: &str, node: &str) -> ScratchNs {
        let ns = ScratchNs {
            name: format!("{}-{node}", unique_prefix(tag)),
        };
        run_ip(&["netns", "add", &ns.name]);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace as the library names it.
    pub fn netns(&self) -> xdpdoctor::netns::Netns {
        xdpdoctor::netns::Netns::named(&self.name)
    }

    /// `ip -n NAME ARGS`; panics if it fails; returns stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ip(&all)
    }
}

impl Drop for ScratchNs {
    fn drop(&mut self) {
        let ok = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("warning: could not delete netns {}", self.name);
        }
    }
}

/// `ip ARGS`; panics (naming the command and its stderr) if it fails; returns stdout.
pub fn run_ip(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The running kernel's (major, minor), from `uname -r` (`6.1.0-56-amd64` -> (6, 1)).
pub fn kernel_version() -> (u32, u32) {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("kernel release");
    let mut it = r
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// How a redirect into a veth whose peer has no XDP (and no GRO) fails on this kernel
/// (docs/kernel-matrix.md): from 6.3 the veth lacks `ndo-xmit` in `xdp_features` and the
/// redirect fails at once (`xdp:xdp_redirect_err` -EOPNOTSUPP); up to 6.2 the frame is queued
/// and `veth_xdp_xmit` refuses it at the flush (`xdp:xdp_devmap_xmit` and the function's
/// return value, -ENXIO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerNoXdpEra {
    /// 6.3+: `redirect_err` EOPNOTSUPP (-95) from eth0 into the veth.
    Eopnotsupp,
    /// Up to 6.2: `devmap_xmit` ENXIO (-6) from eth0 into the veth, and `veth_xdp_xmit` -6 on it.
    Enxio,
}

impl PeerNoXdpEra {
    /// This kernel's.
    pub fn current() -> Self {
        if kernel_version() >= (6, 3) {
            PeerNoXdpEra::Eopnotsupp
        } else {
            PeerNoXdpEra::Enxio
        }
    }

    /// The event kind that shows the drop, and its code.
    pub fn event(self) -> (&'static str, i64, &'static str) {
        match self {
            PeerNoXdpEra::Eopnotsupp => ("redirect_err", -95, "EOPNOTSUPP"),
            PeerNoXdpEra::Enxio => ("devmap_xmit", -6, "ENXIO"),
        }
    }
}

/// `lab connect --json` of lab `prefix`, whatever its scenario: per entry (target, ok); the
/// exit code checked against the answers.
pub fn connect_lab(prefix: &str) -> Vec<(String, bool)> {
    let out = xdpdoctor(&[
        "lab",
        "connect",
        "--prefix",
        prefix,
        "--timeout",
        "3",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("connect json");
    let res: Vec<(String, bool)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().to_string(),
                r["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(!res.is_empty(), "lab connect tried no target");
    let all_ok = res.iter().all(|(_, ok)| *ok);
    assert_eq!(
        out.status.code(),
        Some(if all_ok { 0 } else { 1 }),
        "connect exit code"
    );
    res
}
