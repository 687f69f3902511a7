//! The third security and reliability pass, one regression test per finding of the attack on
//! the landed build (docs/reliability.md, "Security"): writers that followed planted links,
//! a predictable temporary name, device nodes renamed over, a plan file another user owns,
//! terminal escapes in names, SIGHUP leaving the decision log on, a reused namespace inode
//! inheriting a dead lab's records, unbounded and blocking reads, reports lost with their
//! evidence, redirect claims about a program with no maps, and scenario names that reached
//! the kernel. Each reproduces the attack and checks what must happen instead.
//!
//! The attacks never aim at the host: planted links point at files of the test's own scratch
//! directory, device nodes are made there with `mknod`, "full disks" are small tmpfs mounts
//! of the test, removed on drop.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// A directory of one test (mode 0755), removed on drop with everything in it.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("xt-sec-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `name` as a string argument.
    fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// A file holding "precious", and a symbolic link `link` to it: the attacker's plant.
    fn plant_link(&self, link: &str) -> PathBuf {
        let victim = self.path(&format!("{link}.victim"));
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, self.path(link)).unwrap();
        victim
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // A tmpfs of the test mounted inside goes first.
        if self.path("full").is_dir() {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.path("full"))
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts `o` refused an output (exit 2) saying `why`, and `victim` still holds "precious".
#[track_caller]
fn refused(o: &Output, why: &str, victim: &Path) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains(why), "expected {why:?} in: {e}");
    assert_eq!(
        std::fs::read_to_string(victim).unwrap(),
        "precious",
        "{} was written through the link",
        victim.display()
    );
}

/// A namespace with a veth pair and xdpdoctor's pass-through program attached natively to
/// `xa`: enough XDP for `check`, `diagnose` and `snapshot` to work on, in a second.
fn xdp_ns(tag: &str, node: &str, scratch: &Scratch) -> ScratchNs {
    let ns = ScratchNs::new(tag, node);
    ns.ip(&["link", "add", "xa", "type", "veth", "peer", "name", "xb"]);
    ns.ip(&["link", "set", "xa", "up"]);
    ns.ip(&["link", "set", "xb", "up"]);
    let obj = scratch.arg("pass.o");
    let out = xdpdoctor(&["object", "passthrough", "--output", &obj]);
    assert!(out.status.success());
    ns.ip(&[
        "link", "set", "dev", "xa", "xdpdrv", "obj", &obj, "sec", "xdp",
    ]);
    ns
}

/// `n` TCP connection attempts to a closed port on the loopback of namespace `net` (a path
/// such as /proc/PID/ns/net or /run/netns/NAME): `n` SYNs dropped with NO_SOCKET there,
/// events for `trace`, quickly.
fn syn_flood(net: &str, n: u32) {
    let st = Command::new("nsenter")
        .arg(format!("--net={net}"))
        .args(["python3", "-c"])
        .arg(format!(
            "import socket\nfor i in range({n}):\n    s = socket.socket()\n    \
             s.setblocking(False)\n    s.connect_ex(('127.0.0.1', 9))\n    s.close()\n"
        ))
        .status()
        .expect("nsenter python3");
    assert!(st.success(), "syn flood in {net}");
}

/// Runs xdpdoctor with `args` in namespace `ns`.
fn in_netns(ns: &str, args: &[&str]) -> Output {
    let mut all = vec!["--netns", ns];
    all.extend_from_slice(args);
    xdpdoctor(&all)
}

// ---- 1. Every evidence writer followed symlinks. ----

/// `object --output` (no root needed) and `man --dir`: a planted link is refused, its
/// target untouched.
#[test]
fn f1_object_and_man_never_write_through_a_link() {
    let s = Scratch::new("f1o");
    let victim = s.plant_link("pass.o");
    let out = xdpdoctor(&["object", "passthrough", "--output", &s.arg("pass.o")]);
    refused(&out, "is a symbolic link", &victim);
    std::fs::create_dir(s.path("man")).unwrap();
    let page = s.path("man/xdpdoctor-diagnose.1");
    std::fs::write(s.path("page.victim"), "precious").unwrap();
    std::os::unix::fs::symlink(s.path("page.victim"), &page).unwrap();
    let out = xdpdoctor(&["man", "--dir", &s.arg("man")]);
    refused(&out, "is a symbolic link", &s.path("page.victim"));
    // Without the plant, the pages are written.
    std::fs::remove_file(&page).unwrap();
    let out = xdpdoctor(&["man", "--dir", &s.arg("man")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&page).unwrap().contains(".TH"));
}

/// `check --junit`, `check --prometheus`, `diagnose --pcap DIR`, `snapshot --output` and
/// `trace --pcap`: each refuses a planted link before it does any work, the link's target
/// untouched.
#[test]
#[ignore = "needs root: attaches XDP in a namespace, runs check, diagnose, snapshot, trace"]
fn f1_every_writer_refuses_a_planted_link() {
    require_root();
    let s = Scratch::new("f1");
    let ns = xdp_ns("s1", "vm", &s);
    let n = ns.name.as_str();
    let v = s.plant_link("report.xml");
    refused(
        &in_netns(
            n,
            &["check", "--observe", "0", "--junit", &s.arg("report.xml")],
        ),
        "is a symbolic link",
        &v,
    );
    let v = s.plant_link("xdpdoctor.prom");
    refused(
        &in_netns(
            n,
            &[
                "check",
                "--observe",
                "0",
                "--prometheus",
                &s.arg("xdpdoctor.prom"),
            ],
        ),
        "is a symbolic link",
        &v,
    );
    std::fs::create_dir(s.path("pcaps")).unwrap();
    let v = s.plant_link(&format!("pcaps/{n}.pcapng"));
    refused(
        &in_netns(
            n,
            &["diagnose", "--observe", "1", "--pcap", &s.arg("pcaps")],
        ),
        "is a symbolic link",
        &v,
    );
    let v = s.plant_link("snap.json");
    refused(
        &in_netns(n, &["snapshot", "--output", &s.arg("snap.json")]),
        "is a symbolic link",
        &v,
    );
    let v = s.plant_link("trace.pcapng");
    refused(
        &in_netns(
            n,
            &["trace", "--duration", "1", "--pcap", &s.arg("trace.pcapng")],
        ),
        "is a symbolic link",
        &v,
    );
    // --force replaces a regular file of ours, never a link.
    refused(
        &in_netns(
            n,
            &[
                "trace",
                "--duration",
                "1",
                "--pcap",
                &s.arg("trace.pcapng"),
                "--force",
            ],
        ),
        "is a symbolic link",
        &v,
    );
}

// ---- 2. The Prometheus temporary file had a predictable name and no O_EXCL. ----

/// Links planted for the next 300 PIDs under the old temporary name (`.NAME.tmp.PID`) catch
/// nothing, and strace shows the temporary opened `O_EXCL | O_NOFOLLOW` under a random name.
#[test]
#[ignore = "needs root: attaches XDP in a namespace, runs check"]
fn f2_the_prometheus_temporary_is_unpredictable_and_exclusive() {
    require_root();
    let s = Scratch::new("f2");
    let ns = xdp_ns("s2", "vm", &s);
    std::fs::create_dir(s.path("textfile")).unwrap();
    let victim = s.path("victim");
    std::fs::write(&victim, "precious").unwrap();
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for pid in last..last + 300 {
        let link = s.path(&format!("textfile/.xdpdoctor.prom.tmp.{pid}"));
        std::os::unix::fs::symlink(&victim, link).unwrap();
    }
    let prom = s.arg("textfile/xdpdoctor.prom");
    let trace = s.arg("strace.out");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=openat", "-o", &trace])
        .arg(bin())
        .args(["--netns", &ns.name, "check", "--observe", "0"])
        .args(["--prometheus", &prom])
        .output()
        .expect("strace (scripts/setup.sh installs it)");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(std::fs::read_to_string(&prom)
        .unwrap()
        .contains("xdpdoctor_check_healthy"));
    let calls = std::fs::read_to_string(&trace).unwrap();
    let tmp: Vec<&str> = calls
        .lines()
        .filter(|l| l.contains("textfile/.xdpdoctor.prom.") && l.contains("O_CREAT"))
        .collect();
    assert_eq!(tmp.len(), 1, "one temporary: {calls}");
    assert!(
        tmp[0].contains("O_EXCL") && tmp[0].contains("O_NOFOLLOW"),
        "{}",
        tmp[0]
    );
    assert!(!tmp[0].contains(".tmp."), "predictable name: {}", tmp[0]);
    // The planted links are still there, untouched; no temporary of ours is left.
    let left: Vec<String> = std::fs::read_dir(s.path("textfile"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.contains(".tmp.") && n != "xdpdoctor.prom")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

// ---- 3. `check --prometheus PATH` renamed over anything. ----

/// A device node (made here, like /dev/full) and a link to /proc/self/fd/1 as the target:
/// both refused, the node still a device.
#[test]
#[ignore = "needs root: mknod, attaches XDP in a namespace, runs check"]
fn f3_a_device_node_as_prometheus_is_refused() {
    require_root();
    let s = Scratch::new("f3");
    let ns = xdp_ns("s3", "vm", &s);
    let node = s.path("full");
    let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
    // SAFETY: mknod of a character device (1, 7: what /dev/full is) in our scratch dir.
    let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 7)) };
    assert_eq!(r, 0, "mknod: {}", std::io::Error::last_os_error());
    let out = in_netns(
        &ns.name,
        &[
            "check",
            "--observe",
            "0",
            "--prometheus",
            node.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a character device"),
        "{}",
        stderr(&out)
    );
    let m = std::fs::symlink_metadata(&node).unwrap();
    assert!(m.file_type().is_char_device(), "replaced: {m:?}");
    std::os::unix::fs::symlink("/proc/self/fd/1", s.path("stdout")).unwrap();
    let out = in_netns(
        &ns.name,
        &["check", "--observe", "0", "--prometheus", &s.arg("stdout")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(std::fs::symlink_metadata(s.path("stdout"))
        .unwrap()
        .file_type()
        .is_symlink());
}

// ---- 4. Printed fix plans used a fixed /tmp path another user could own. ----

/// A file another user made where the object is to go (0666, in a sticky directory like
/// /tmp) is refused and keeps its content; the printed plan writes into a `mktemp` file.
#[test]
#[ignore = "needs root: chown to another user"]
fn f4_a_plan_file_of_another_user_is_refused() {
    require_root();
    let s = Scratch::new("f4");
    std::fs::set_permissions(&s.0, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let theirs = s.path("xdpdoctor-passthrough.bpf.o");
    std::fs::write(&theirs, "precious").unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let out = xdpdoctor(&[
        "object",
        "passthrough",
        "--output",
        theirs.to_str().unwrap(),
    ]);
    refused(&out, "owned by uid 65534", &theirs);
    assert_eq!(std::fs::metadata(&theirs).unwrap().uid(), 65534);
    // A file of ours (what `mktemp` makes) is replaced.
    let ours = s.path("ours.o");
    std::fs::write(&ours, "").unwrap();
    let out = xdpdoctor(&["object", "passthrough", "--output", ours.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(&std::fs::read(&ours).unwrap()[..4], b"\x7fELF");
}

// ---- 5. Terminal escapes passed through. ----

/// A process in its own namespace calls itself `ESC[31mEVIL ESC[0m BEL`; `trace` of every
/// namespace names that namespace after it. Text output shows the escapes, never the bytes;
/// JSON escapes them too.
#[test]
#[ignore = "needs root: a process in its own namespace, BPF probes"]
fn f5_escapes_in_a_process_name_never_reach_the_terminal() {
    require_root();
    let evil = "\u{1b}[31mEVIL\u{1b}[0m\u{7}";
    let proc = Command::new("unshare")
        .args(["-n", "bash", "-c"])
        // No children after the rename: `read` blocks on the pipe the test holds (a `sleep`
        // loop's children, given low PIDs once PIDs wrap, named the namespace instead).
        .arg(format!(
            "ip link set lo up; printf '{}' > /proc/$$/comm; read -r _",
            "\\033[31mEVIL\\033[0m\\007"
        ))
        .stdin(Stdio::piped())
        .spawn()
        .expect("unshare");
    let pid = proc.id();
    /// The process of the test, killed (by PID) and reaped at the end.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _kill = Kill(proc);
    assert!(wait_for(5, || std::fs::read_to_string(format!(
        "/proc/{pid}/comm"
    ))
    .is_ok_and(|c| c.contains("EVIL"))));
    let netns = format!("/proc/{pid}/ns/net");
    for json in [false, true] {
        let mut cmd = Command::new(bin());
        cmd.args(["trace", "--all-netns", "--duration", "5"]);
        if json {
            cmd.arg("--json");
        }
        let child = cmd
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
        // SYNs to a closed port inside: NO_SOCKET drops in the evil namespace.
        syn_flood(&netns, 20);
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        eprintln!("[trace json={json}]\n{text}{}", stderr(&out));
        assert!(out.status.success());
        assert!(
            !out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07),
            "raw escape bytes on stdout"
        );
        assert!(!out.stderr.contains(&0x1b), "raw escape bytes on stderr");
        let want = if json {
            "\\u001b[31mEVIL\\u001b[0m\\u0007"
        } else {
            "\\x1b[31mEVIL\\x1b[0m\\x07"
        };
        assert!(
            text.contains(want),
            "the namespace is named, escaped: {want}"
        );
        assert!(!text.contains(evil));
    }
}

/// Error messages: a config whose key holds NUL and U+202E (a right-to-left override) is
/// refused naming the key, shown escaped.
#[test]
fn f5_error_messages_show_nul_and_bidi_escaped() {
    let s = Scratch::new("f5e");
    let cfg = s.path("cfg.json");
    std::fs::write(
        &cfg,
        "{\"interfaces\":{\"external\":[\"eth0\"],\"internal\":[]},\"entries\":[],\
         \"x\\u0000\\u202ey\":1}",
    )
    .unwrap();
    let out = xdpdoctor(&["deploy", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(!e.contains('\0') && !e.contains('\u{202e}'), "{e:?}");
    assert!(e.contains("x\\x00\\u{202e}y"), "{e}");
}

/// A namespace whose name holds ESC and BEL: `check --junit` writes XML that parses.
#[test]
#[ignore = "needs root: attaches XDP in a namespace, runs check"]
fn f5_junit_is_valid_xml_whatever_the_namespace_is_called() {
    require_root();
    let s = Scratch::new("f5j");
    let ns = xdp_ns("s5", "vm\u{1b}[2K\u{7}", &s);
    let junit = s.arg("junit.xml");
    let out = in_netns(&ns.name, &["check", "--observe", "0", "--junit", &junit]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(!xml.contains('\u{1b}') && !xml.contains('\u{7}'), "{xml}");
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom as m; m.parse(sys.argv[1]); print('ok')",
        ])
        .arg(&junit)
        .output()
        .unwrap();
    assert!(parsed.status.success(), "{}", stderr(&parsed));
    assert!(xml.contains("vm\\x1b[2K\\x07"), "{xml}");
}

// ---- 6. SIGHUP and SIGUSR1 left the decision log on. ----

/// `trace --decisions` ended by SIGHUP (an ssh session dropped), SIGQUIT or SIGUSR1 turns the
/// forwarder's decision log off on its way out, like Ctrl-C and SIGTERM.
#[test]
#[ignore = "needs root: builds a namespace lab with the forwarder, reads its decision log"]
fn f6_sighup_during_trace_decisions_turns_the_log_off() {
    require_root();
    let lab = Lab::up("s6", &["--no-faults"]);
    let vm = lab.ns("vm");
    let pins = format!("/sys/fs/bpf/xdpdoctor/fwd-{}", netns_key(&vm));
    let ctl = xdpdoctor::decisions::Control::from_pins(Path::new(&pins)).unwrap();
    for sig in [libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1] {
        let mut child = Command::new(bin())
            .args(["--netns", &vm, "trace", "--decisions"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(
            wait_for(30, || ctl.settings().unwrap().level.is_some()),
            "the log never went on"
        );
        // SAFETY: kill(2) of the trace this test started.
        unsafe { libc::kill(child.id() as i32, sig) };
        let t0 = Instant::now();
        let status = child.wait().unwrap();
        eprintln!("signal {sig}: {status:?} after {:?}", t0.elapsed());
        assert_eq!(
            ctl.settings().unwrap().level,
            None,
            "decision log left on after signal {sig}"
        );
        assert_eq!(status.code(), Some(0), "ended through its summary");
    }
}

// ---- 7. A namespace that reused a dead lab's inode inherited its records. ----

/// `ip netns del` of a lab's router, then a new namespace that gets its inode: the new one
/// has no forwarder (status), nothing to diagnose, and `lab down` removes the dead router's
/// pins and state file.
///
/// The kernel hands out namespace inodes and /proc entries from one pool, lowest free number
/// first (a namespace takes one, its /proc/net entries about sixty more). So a new namespace
/// gets a dead one's inode when no lower number is free: the test first fills the holes
/// below the router's inode with namespaces of its own, then deletes the router and creates
/// namespaces until one takes the number (the kernel frees it asynchronously). On a busy
/// host someone else may take it, or a hole may open below: then the whole attack is tried
/// again with a new lab, up to three times.
#[test]
#[ignore = "needs root: builds a namespace lab, deletes and recreates namespaces"]
fn f7_a_namespace_that_reuses_an_inode_inherits_nothing() {
    require_root();
    for attempt in 1..=2 {
        if reuse_attempt(attempt) {
            return;
        }
    }
    // The kernel did not hand the number out again here (seen on a fresh CI machine: three
    // tries of 30 s each). What reuse leaves behind is then made by hand, so the property is
    // still checked: the dead router's records renamed to a live namespace's inode with the
    // dead one's cookie, exactly what the live one would meet had it taken the inode.
    eprintln!("the inode was not reused in 2 attempts: simulating the reuse");
    simulated_reuse();
}

/// The dead router's records moved to a new namespace's inode (keeping the router's cookie):
/// the new namespace has no forwarder and nothing to diagnose.
fn simulated_reuse() {
    let lab = Lab::up("s7", &["--no-faults"]);
    let vm = lab.ns("vm");
    let key = netns_key(&vm);
    let (_, cookie) = key
        .split_once('_')
        .expect("this kernel gives namespaces a cookie (5.14+)");
    let (pins, state) = (
        format!("/sys/fs/bpf/xdpdoctor/fwd-{key}"),
        format!("/run/xdpdoctor/forwarders/{key}.json"),
    );
    assert!(Path::new(&pins).exists() && Path::new(&state).exists());
    let mut ours = Ours(Vec::new());
    run_ip(&["netns", "del", &vm]);
    let inode = ours.add(&lab.prefix);
    let name = ours.0[0].clone();
    let fake = format!("{inode}_{cookie}");
    assert_ne!(netns_key(&name), fake, "the cookie tells them apart");
    let (fake_pins, fake_state) = (
        format!("/sys/fs/bpf/xdpdoctor/fwd-{fake}"),
        format!("/run/xdpdoctor/forwarders/{fake}.json"),
    );
    /// The moved records, removed at the end whatever happens.
    struct Moved(String, String);
    impl Drop for Moved {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
            let _ = std::fs::remove_file(&self.1);
        }
    }
    let _moved = Moved(fake_pins.clone(), fake_state.clone());
    std::fs::rename(&pins, &fake_pins).expect("rename the pins on bpffs");
    let text = std::fs::read_to_string(&state).unwrap();
    let old = netns_inode_of_state(&text);
    std::fs::write(
        &fake_state,
        text.replace(&old.to_string(), &inode.to_string())
            .replace(&format!("fwd-{key}"), &format!("fwd-{fake}")),
    )
    .unwrap();
    std::fs::remove_file(&state).unwrap();
    let holder = format!("/run/netns/{name}");
    let out = in_netns(&holder, &["status"]);
    assert!(
        !stdout(&out).contains(&lab.prefix),
        "the dead lab's forwarder is shown: {}",
        stdout(&out)
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let out = in_netns(&holder, &["diagnose", "--observe", "0", "--json"]);
    assert_eq!(out.status.code(), Some(2), "nothing to diagnose here");
    assert!(stderr(&out).contains("XDP program attached in namespace"));
    let out = xdpdoctor(&["lab", "down", "--prefix", &lab.prefix]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The `netns_inode` a forwarder state file records.
fn netns_inode_of_state(text: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(text).expect("state JSON");
    v["netns_inode"].as_u64().expect("netns_inode")
}

/// Namespaces of the test, deleted (by name) on drop.
struct Ours(Vec<String>);

impl Drop for Ours {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

impl Ours {
    /// Creates `PREFIX-oN`; returns its inode.
    fn add(&mut self, prefix: &str) -> u64 {
        let name = format!("{prefix}-o{}", self.0.len());
        run_ip(&["netns", "add", &name]);
        self.0.push(name.clone());
        netns_inode(&name)
    }
}

/// One try of the attack; false when the inode went elsewhere (nothing checked then).
fn reuse_attempt(attempt: u32) -> bool {
    let lab = Lab::up("s7", &["--no-faults"]);
    let vm = lab.ns("vm");
    let (inode, key) = (netns_inode(&vm), netns_key(&vm));
    let pins = format!("/sys/fs/bpf/xdpdoctor/fwd-{key}");
    let state = format!("/run/xdpdoctor/forwarders/{key}.json");
    assert!(Path::new(&pins).exists() && Path::new(&state).exists());
    let mut ours = Ours(Vec::new());
    while ours.add(&lab.prefix) < inode {
        assert!(ours.0.len() < 500, "could not fill the holes below {inode}");
    }
    run_ip(&["netns", "del", &vm]);
    let t0 = Instant::now();
    let holder = loop {
        if let Some(p) = holder_of(inode) {
            break Some(p);
        }
        if t0.elapsed() > Duration::from_secs(30) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(300));
        ours.add(&lab.prefix);
    };
    let Some(holder) = holder else {
        eprintln!("attempt {attempt}: inode {inode} not reused within 30 s; again");
        return false;
    };
    let mine = ours.0.iter().any(|n| holder == format!("/run/netns/{n}"));
    eprintln!("attempt {attempt}: {holder} reuses inode {inode} (ours: {mine})");
    let out = in_netns(&holder, &["status"]);
    assert!(
        !stdout(&out).contains(&lab.prefix),
        "the dead lab's forwarder is shown: {}",
        stdout(&out)
    );
    if mine {
        let name = holder.trim_start_matches("/run/netns/");
        assert_ne!(netns_key(name), key, "the cookie tells them apart");
        assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
        let out = in_netns(&holder, &["diagnose", "--observe", "0", "--json"]);
        assert_eq!(out.status.code(), Some(2), "nothing to diagnose here");
        assert!(stderr(&out).contains("XDP program attached in namespace"));
    }
    let out = xdpdoctor(&["lab", "down", "--prefix", &lab.prefix]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!Path::new(&pins).exists(), "{pins} left");
    assert!(!Path::new(&state).exists(), "{state} left");
    true
}

/// A path to the namespace with this inode now, if any: /run/netns first, then /proc.
fn holder_of(inode: u64) -> Option<String> {
    let named = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path());
    let procs = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("ns/net"));
    named
        .chain(procs)
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.ino() == inode))
        .map(|p| p.display().to_string())
}

// ---- 8. Unbounded and blocking reads. ----

/// `lab up /dev/urandom` and `diagnose --from /dev/zero` under a 1 GiB address-space limit:
/// refused at the read limit, nothing created.
#[test]
#[ignore = "needs root: lab up"]
fn f8_endless_files_stop_at_the_read_limit() {
    require_root();
    let prefix = unique_prefix("s8");
    for args in [
        vec!["lab", "up", "/dev/urandom", "--prefix", prefix.as_str()],
        vec!["diagnose", "--from", "/dev/zero"],
    ] {
        let t0 = Instant::now();
        let out = limited(&args, 1 << 30);
        let e = stderr(&out);
        eprintln!("{args:?}: {:?} {e}", t0.elapsed());
        assert_eq!(out.status.code(), Some(2), "{e}");
        assert!(e.contains("larger than 16777216 bytes"), "{e}");
    }
    assert_nothing_left(&prefix);
}

/// Runs xdpdoctor with an address-space limit: a build that reads without bound dies
/// instead of eating the machine.
fn limited(args: &[&str], bytes: u64) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bin());
    cmd.args(args);
    // SAFETY: setrlimit is async-signal-safe; it limits only the child, before exec.
    unsafe {
        cmd.pre_exec(move || {
            let l = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// `deploy --config FIFO` with no writer: SIGTERM ends it at once (it used to block in
/// open(2) forever).
#[test]
fn f8_a_fifo_as_config_does_not_hold_the_command() {
    let s = Scratch::new("f8f");
    let fifo = s.path("config.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo in our scratch dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // A writer that opens it and then says nothing: the reader waits for data.
    let w = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    let mut child = Command::new(bin())
        .args(["deploy", "--config", fifo.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "it waits for the writer"
    );
    let t0 = Instant::now();
    // SAFETY: kill(2) of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    drop(w);
    eprintln!("ended {:?} after SIGTERM: {}", t0.elapsed(), stderr(&out));
    assert!(t0.elapsed() < Duration::from_secs(3), "SIGTERM ignored");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
}

/// `trace` whose stdout nobody reads (a pipe that filled up): SIGINT ends it within seconds,
/// its probes detached (it used to take 18 s).
#[test]
#[ignore = "needs root: BPF probes, events from a scratch namespace"]
fn f8_an_unread_stdout_does_not_hold_trace_after_sigint() {
    require_root();
    let ns = ScratchNs::new("s8t", "n");
    // stdout: a pipe this test never reads.
    let mut child = Command::new(bin())
        .args(["trace", "--all-netns"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // Many NO_SOCKET drops in the scratch namespace: more lines than a pipe holds.
    syn_flood(&format!("/run/netns/{}", ns.name), 5000);
    let t0 = Instant::now();
    // SAFETY: kill(2) of the trace this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = t0.elapsed();
    if status.is_none() {
        let _ = child.kill();
    }
    let _ = child.wait();
    eprintln!("trace ended {took:?} after SIGINT: {status:?}");
    assert!(status.is_some(), "trace still running 10 s after SIGINT");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

// ---- 9. A failed evidence file lost the report. ----

/// A tmpfs of `size` mounted at `dir` (removed with the scratch directory), filled up.
fn full_tmpfs(dir: &Path, size: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    // Fill it: writes until ENOSPC.
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
}

/// On a full disk: `diagnose --pcap` still prints its report (JSON with `outputs` saying
/// what failed) and exits 3; `check --pcap` still writes its Prometheus file elsewhere;
/// `check --junit` leaves the old JUnit file whole instead of 0 bytes.
#[test]
#[ignore = "needs root: builds a namespace lab, mounts a tmpfs"]
fn f9_reports_survive_a_full_disk() {
    require_root();
    let lab = Lab::up("s9", &["--fault", "tx-csum"]);
    let vm = lab.ns("vm");
    let s = Scratch::new("f9");
    let full = s.path("full");
    full_tmpfs(&full, "64k");
    let out = in_netns(
        &vm,
        &["diagnose", "--json", "--pcap", full.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("the report, whole");
    assert_eq!(v["healthy"], false);
    assert!(!v["findings"].as_array().unwrap().is_empty());
    assert_eq!(v["exit_code"], 3);
    let o = &v["outputs"][0];
    assert_eq!(o["kind"], "pcap");
    assert!(
        o["error"].as_str().unwrap().contains("No space left"),
        "{o}"
    );
    assert!(stderr(&out).contains("the report above is complete"));

    // check: the pcap fails, the Prometheus file (another directory) and the report do not.
    let prom = s.arg("xdpdoctor.prom");
    let out = in_netns(
        &vm,
        &[
            "check",
            "--pcap",
            full.to_str().unwrap(),
            "--force",
            "--prometheus",
            &prom,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("xdpdoctor_check_exit_code{netns=") && text.contains("} 3"),
        "{text}"
    );
    assert!(stdout(&out).contains("finding(s) in"), "{}", stdout(&out));

    // JUnit on the full disk: the old file stays whole.
    let junit = full.join("junit.xml");
    std::fs::remove_file(full.join("filler")).unwrap();
    std::fs::write(&junit, "<old/>").unwrap();
    full_fill(&full);
    let out = in_netns(&vm, &["check", "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&junit).unwrap(), "<old/>");
    assert!(stderr(&out).contains("--junit"), "{}", stderr(&out));
}

/// Fills the tmpfs at `dir` again (after room was made).
fn full_fill(dir: &Path) {
    let mut f = std::fs::File::create(dir.join("filler2")).unwrap();
    let chunk = vec![0u8; 1024];
    while f.write_all(&chunk).is_ok() {}
}

/// `trace --pcap` on a disk that fills during the trace: the summary is printed, exit 3,
/// and the file is cut at a whole block that tcpdump reads. `--pcap-limit` caps the file and
/// the summary says so. An existing file is refused without `--force`.
#[test]
#[ignore = "needs root: BPF probes, mounts a tmpfs"]
fn f9_trace_pcap_is_cut_validly_and_capped() {
    require_root();
    let ns = ScratchNs::new("s9t", "n");
    let s = Scratch::new("f9t");
    let small = s.path("small");
    // 64 KiB: the first flush of the records (64 KiB) does not fit.
    std::fs::create_dir_all(&small).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=32k", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(st.success());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _u = Unmount(small.clone());
    let file = small.join("trace.pcapng");
    let run = |extra: &[&str], n: u32| {
        let child = Command::new(bin())
            .args(["--netns", &ns.name, "trace", "--duration", "8", "--json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
        syn_flood(&format!("/run/netns/{}", ns.name), n);
        let out = child.wait_with_output().unwrap();
        eprintln!("{}", stderr(&out));
        out
    };
    let out = run(&["--pcap", file.to_str().unwrap()], 1500);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    let summary: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let p = &summary["summary"]["pcap"];
    assert!(
        p["error"].as_str().unwrap().contains("No space left"),
        "{p}"
    );
    assert!(p["events"].as_u64().unwrap() > 0 && p["not_written"].as_u64().unwrap() > 0);
    let dump = Command::new("tcpdump")
        .args(["-r", file.to_str().unwrap(), "-nn"])
        .output()
        .expect("tcpdump");
    assert!(
        dump.status.success(),
        "tcpdump rejects it: {}",
        stderr(&dump)
    );
    // The summary counts what the file holds, not what was handed to the full disk.
    assert_eq!(
        stdout(&dump).lines().count() as u64,
        p["events"].as_u64().unwrap(),
        "{p}"
    );

    // An existing file: refused, then replaced with --force; capped at 1 MiB.
    let big = s.path("trace2.pcapng");
    std::fs::write(&big, "precious").unwrap();
    let out = in_netns(
        &ns.name,
        &["trace", "--duration", "1", "--pcap", big.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("exists; use --force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&big).unwrap(), "precious");
    let out = run(
        &[
            "--pcap",
            big.to_str().unwrap(),
            "--force",
            "--pcap-limit",
            "1",
        ],
        20000,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let summary: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let p = &summary["summary"]["pcap"];
    eprintln!("{p}");
    assert_eq!(p["limit"], 1 << 20);
    assert!(p["bytes"].as_u64().unwrap() <= (1 << 20) + 4096, "{p}");
    assert_eq!(p["capped"], true, "{p}");
    assert!(p["not_written"].as_u64().unwrap() > 0, "{p}");
    let dump = Command::new("tcpdump")
        .args(["-r", big.to_str().unwrap(), "-nn"])
        .output()
        .unwrap();
    assert!(dump.status.success(), "{}", stderr(&dump));
}

// ---- 10. A foreign program with no maps was said to redirect. ----

/// A native XDP program that only passes packets (no map at all) on the lab's router, with
/// the seed's NAT config given: no "can redirect" claim, no pass-through program attached
/// to the containers by `fix --apply`.
#[test]
#[ignore = "needs root: builds a namespace lab, attaches XDP"]
fn f10_a_mapless_foreign_program_gets_no_redirect_findings() {
    require_root();
    let lab = Lab::up(
        "s10",
        &[
            "--no-forwarder",
            "--fault",
            "peer-no-xdp",
            "--fault",
            "tx-csum",
        ],
    );
    let s = Scratch::new("f10");
    let obj = s.arg("pass.o");
    assert!(xdpdoctor(&["object", "passthrough", "--output", &obj])
        .status
        .success());
    let vm = lab.ns("vm");
    for dev in ["eth0", "ve-m1", "ve-m2"] {
        run_ip(&[
            "-n", &vm, "link", "set", "dev", dev, "xdpdrv", "obj", &obj, "sec", "xdp",
        ]);
    }
    let cfg = format!("/run/xdpdoctor/labs/{}/forwarder.json", lab.prefix);
    let out = in_netns(
        &vm,
        &["diagnose", "--observe", "0", "--json", "--config", &cfg],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.contains(&"veth-peer-no-xdp") && !ids.contains(&"veth-tx-csum-offload"),
        "{ids:?}"
    );
    assert!(!stdout(&out).contains("can redirect"), "{}", stdout(&out));
    let out = in_netns(&vm, &["fix", "--apply", "--config", &cfg]);
    assert!(out.status.code() == Some(0), "{}", stderr(&out));
    for m in ["m1", "m2"] {
        assert!(
            !has_xdp(&lab.ns(m), "host0"),
            "pass-through attached in {m}"
        );
    }
}

// ---- 12. Scenario files reached the kernel before they were checked. ----

/// A node `vm/../../etc`, and two nodes of one name: refused naming the field, no namespace
/// made, no lab state left.
#[test]
#[ignore = "needs root: lab up"]
fn f12_scenario_names_and_duplicates_are_checked_first() {
    require_root();
    let s = Scratch::new("f12");
    let prefix = unique_prefix("s12");
    for (body, field) in [
        ("[[node]]\nname = \"vm/../../etc\"\n", "node[0].name"),
        (
            "[[node]]\nname = \"vm\"\n[[node]]\nname = \"vm\"\n",
            "node[1].name",
        ),
    ] {
        let file = s.path("bad.toml");
        std::fs::write(&file, format!("name = \"bad\"\n{body}")).unwrap();
        let out = xdpdoctor(&["lab", "up", file.to_str().unwrap(), "--prefix", &prefix]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(field), "{}", stderr(&out));
        assert_nothing_left(&prefix);
        assert!(!Path::new("/run/netns/etc").exists());
    }
}
