//! Issue 10 (reliability), one regression test per item: crash-safe fixes and labs, one
//! writer at a time, strict input, errors that say why. Each test names its item. The crash
//! tests make their window wide and deterministic by running xdpdoctor under `strace` with
//! every rename(2) (state and journal writes) delayed (`common::Traced`), then kill or
//! interrupt it inside the window. `XDPDOCTOR_BIN=/path/to/old/xdpdoctor` runs them against
//! another build (they fail on the build before the fixes). The randomized kill -9 stress
//! test is `stress.rs`.

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The journal of the forwarder namespace `vm`, parsed (None if there is none).
pub fn journal(vm: &str) -> Option<serde_json::Value> {
    let p = format!("/run/xdpdoctor/fixes/{}.json", crate::common::netns_key(vm));
    let text = std::fs::read_to_string(&p).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{p} does not parse: {e}")))
}

fn journal_kinds(j: &serde_json::Value) -> Vec<String> {
    j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"]["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The seed lab's containers' fix pins, XDP on their host0, and the journal are all gone;
/// the vm's veths have no address again (the `no-address` fault is back).
pub fn assert_seed_fixes_gone(lab: &Lab) {
    let vm = lab.ns("vm");
    let inodes = [netns_inode(&lab.ns("m1")), netns_inode(&lab.ns("m2"))];
    let left: Vec<String> = leftovers_of(&inodes)
        .into_iter()
        .filter(|l| l.starts_with("pin fix-"))
        .collect();
    assert!(left.is_empty(), "fix pins left: {left:?}");
    for m in ["m1", "m2"] {
        assert!(!has_xdp(&lab.ns(m), "host0"), "XDP left on {m}/host0");
    }
    assert!(journal(&vm).is_none(), "journal left: {:?}", journal(&vm));
    let addrs = in_ns(&vm, &["ip", "-4", "-br", "addr"]);
    assert!(
        !addrs.contains("10.123.1.254") && !addrs.contains("10.123.2.254"),
        "fix addresses left: {addrs}"
    );
}

/// Item 1: `fix --apply` killed right after it pinned a pass-through program (and before it
/// could journal that) leaves nothing `fix --revert` cannot remove.
#[test]
#[ignore = "needs root: builds namespace labs, attaches XDP"]
fn item1_fix_apply_killed_after_pinning_is_fully_reverted() {
    require_root();
    let lab = Lab::up("r1", &[]);
    let vm = lab.ns("vm");
    let pin = format!(
        "/sys/fs/bpf/xdpdoctor/fix-{}-host0",
        crate::common::netns_key(&lab.ns("m1"))
    );
    let t = Traced::spawn(
        &["--netns", &vm, "fix", "--apply"],
        Duration::from_millis(400),
    );
    let pinned = wait_for(30, || std::path::Path::new(&pin).exists());
    t.signal(libc::SIGKILL);
    let out = t.wait();
    assert!(pinned, "fix --apply never pinned {pin}");
    assert_eq!(out.status.code(), None, "killed");
    assert!(
        has_xdp(&lab.ns("m1"), "host0"),
        "the kill landed after the attach"
    );
    if let Some(j) = journal(&vm) {
        eprintln!("journal after the kill: {:?}", journal_kinds(&j));
    }

    let out = xdpdoctor(&["--netns", &vm, "fix", "--revert"]);
    assert_eq!(out.status.code(), Some(0));
    assert_seed_fixes_gone(&lab);
    // And a new apply journals everything again (nothing is "already" there).
    let out = xdpdoctor(&["--netns", &vm, "fix", "--apply", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let j = journal(&vm).expect("journal");
    assert_eq!(
        journal_kinds(&j)
            .iter()
            .filter(|k| *k == "attach-xdp-pass")
            .count(),
        2
    );
    assert_eq!(
        xdpdoctor(&["--netns", &vm, "fix", "--revert"])
            .status
            .code(),
        Some(0)
    );
    assert_seed_fixes_gone(&lab);
}

/// Item 2: two `fix --apply` at once: one writer at a time, no lost journal entry, and
/// revert leaves no XDP program on either container.
#[test]
#[ignore = "needs root: builds namespace labs, attaches XDP"]
fn item2_two_fix_applies_at_once_lose_nothing() {
    require_root();
    let lab = Lab::up("r2", &[]);
    let vm = lab.ns("vm");
    let spawn = || {
        Command::new(bin())
            .args(["--netns", &vm, "fix", "--apply"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        eprintln!("[exit {:?}]\n{}{}", o.status.code(), stdout(o), stderr(o));
    }
    assert_eq!(a.status.code(), Some(0), "first apply");
    assert_eq!(b.status.code(), Some(0), "second apply");
    let j = journal(&vm).expect("journal");
    let kinds = journal_kinds(&j);
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "attach-xdp-pass").count(), 2);
    assert!(lab.connect().iter().all(|(_, ok)| *ok), "fixed lab answers");

    assert_eq!(
        xdpdoctor(&["--netns", &vm, "fix", "--revert"])
            .status
            .code(),
        Some(0)
    );
    assert_seed_fixes_gone(&lab);
}

/// Item 3: `lab up` killed right after creating a namespace (before it could record it)
/// leaves nothing `lab down` cannot remove, and the prefix is usable again.
#[test]
#[ignore = "needs root: builds namespace labs, attaches XDP"]
fn item3_lab_up_killed_after_creating_a_namespace_is_fully_removed() {
    require_root();
    let prefix = unique_prefix("r3");
    // `lab down` on drop, also if an assertion below fails.
    let _guard = Lab {
        prefix: prefix.clone(),
    };
    let first = format!("/run/netns/{prefix}-client");
    let t = Traced::spawn(
        &["lab", "up", "seed", "--prefix", &prefix],
        Duration::from_millis(300),
    );
    let created = wait_for(30, || is_netns(&first));
    t.signal(libc::SIGKILL);
    t.wait();
    assert!(created, "lab up never created {first}");
    let out = xdpdoctor(&["lab", "down", "--prefix", &prefix]);
    assert_eq!(out.status.code(), Some(0), "lab down of a killed lab up");
    assert_nothing_left(&prefix);
    // The prefix is free: a new lab comes up (and goes down) under it.
    let out = xdpdoctor(&["lab", "up", "seed", "--prefix", &prefix, "--no-faults"]);
    let up = out.status.code();
    let down = xdpdoctor(&["lab", "down", "--prefix", &prefix])
        .status
        .code();
    assert_eq!(up, Some(0), "prefix blocked after the crash");
    assert_eq!(down, Some(0));
    assert_nothing_left(&prefix);
}

/// A config file in a fresh temporary directory; interfaces that exist nowhere, so no
/// build can deploy it on this host whatever it accepts.
fn bad_config(name: &str, text: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!(
        "xdt-cfg-{}-{}",
        std::process::id(),
        unique_prefix("c")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    let s = p.display().to_string();
    (dir, s)
}

fn deploy_error(name: &str, text: &str) -> String {
    let (dir, path) = bad_config(name, text);
    let out = xdpdoctor(&["deploy", "--config", &path]);
    std::fs::remove_dir_all(dir).ok();
    assert_eq!(out.status.code(), Some(2), "{name} must be refused");
    let e = stderr(&out);
    assert!(e.contains(name), "{name}: the message names the file: {e}");
    e
}

const IFS: &str = r#""interfaces":{"external":["xdpdnope0"],"internal":["xdpdnope1"]}"#;

/// Item 4: unknown keys at every level, signed ports, loopback endpoints, duplicate keys and
/// entries that loop are refused, naming file, field and value. Needs no root.
#[test]
fn item4_strict_config() {
    let entry = r#"{"from":"192.168.9.1:8080","to":"10.123.1.1:80"}"#;
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "typo.json",
            r#"{"interfaces":{"external":["xdpdnope0"],"interal":["xdpdnope1"]},"entries":[]}"#
                .into(),
            &["interfaces.interal", "unknown field"],
        ),
        (
            "entry-key.json",
            format!(
                r#"{{{IFS},"entries":[{{"from":"192.168.9.1:8080","to":"10.123.1.1:80","proto":"tcp"}}]}}"#
            ),
            &["entries[0].proto", "unknown field"],
        ),
        (
            "endpoint-key.json",
            format!(
                r#"{{{IFS},"entries":[{{"from":"192.168.9.1:8080","to":{{"addr":"10.123.1.1","port":80,"prt":1}}}}]}}"#
            ),
            &["entries[0].to.prt", "unknown field"],
        ),
        (
            "plus-port.json",
            format!(r#"{{{IFS},"entries":[{{"from":"1.2.3.4:+80","to":"10.123.1.1:80"}}]}}"#),
            &["entries[0].from", "+80"],
        ),
        (
            "loopback.json",
            format!(r#"{{{IFS},"entries":[{{"from":"192.168.9.1:8080","to":"127.0.0.1:80"}}]}}"#),
            &["entries[0].to", "127.0.0.1", "loopback"],
        ),
        (
            "dup-key.json",
            format!(r#"{{{IFS},"entries":[{entry}],"entries":[]}}"#),
            &["field `entries`", "given twice"],
        ),
        (
            "loop.json",
            format!(
                r#"{{{IFS},"entries":[{entry},{{"from":"10.123.1.1:80","to":"10.123.2.1:80"}}]}}"#
            ),
            &["entries[1].from", "10.123.1.1:80", "loop"],
        ),
    ];
    for (name, text, want) in cases {
        let e = deploy_error(name, &text);
        for w in want {
            assert!(e.contains(w), "{name}: expected {w:?} in: {e}");
        }
    }
}

/// Item 5: more entries than the maps hold are refused before the kernel, naming the limit;
/// an endless file is not read without bound. Needs no root.
#[test]
fn item5_limits_are_named() {
    let entries: Vec<String> = (0..4097)
        .map(|i| {
            format!(
                r#"{{"from":"192.168.{}.{}:80","to":"10.1.{}.{}:80"}}"#,
                i / 250,
                i % 250 + 1,
                i / 250,
                i % 250 + 1
            )
        })
        .collect();
    let e = deploy_error(
        "big.json",
        &format!(r#"{{{IFS},"entries":[{}]}}"#, entries.join(",")),
    );
    assert!(
        e.contains("field `entries`") && e.contains("4097") && e.contains("at most 4096"),
        "{e}"
    );

    // /dev/zero: refused after the size limit (16 MiB, the one limit of every input file).
    // The child gets 1 GiB of address space, so a build that reads without bound dies
    // instead of eating the machine.
    let out = Command::new(bin())
        .args(["deploy", "--config", "/dev/zero"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .pre_exec_limit_memory(1 << 30)
        .output()
        .unwrap();
    let e = stderr(&out);
    eprintln!("[exit {:?}] {e}", out.status.code());
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("/dev/zero") && e.contains("larger than 16777216 bytes"),
        "{e}"
    );
}

trait LimitMemory {
    fn pre_exec_limit_memory(&mut self, bytes: u64) -> &mut Self;
}

impl LimitMemory for Command {
    fn pre_exec_limit_memory(&mut self, bytes: u64) -> &mut Self {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; it limits only the child, before exec.
        unsafe {
            self.pre_exec(move || {
                let l = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
    }
}

/// Item 6: deploying onto an interface that already runs someone's XDP program says the
/// interface is busy and names the program, and deploys nothing.
#[test]
#[ignore = "needs root: builds namespace labs, attaches XDP"]
fn item6_busy_interface_is_named_with_its_program() {
    require_root();
    let lab = Lab::up("r6", &["--fault", "peer-no-xdp"]);
    let (vm, m1) = (lab.ns("vm"), lab.ns("m1"));
    // Someone's XDP program on m1's host0: the pass-through fix.
    assert_eq!(
        xdpdoctor(&["--netns", &vm, "fix", "--apply"]).status.code(),
        Some(0)
    );
    let link = in_ns(&m1, &["ip", "-d", "link", "show", "dev", "host0"]);
    let id: u32 = link
        .split("prog/xdp id ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no XDP program on host0: {link}"));
    let (dir, cfg) = bad_config(
        "busy.json",
        r#"{"interfaces":{"external":["host0"]},"entries":[{"from":"10.123.1.1:8080","to":"10.9.9.9:80"}]}"#,
    );
    let out = xdpdoctor(&["--netns", &m1, "-vv", "deploy", "--config", &cfg]);
    std::fs::remove_dir_all(dir).ok();
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    let want = format!("interface busy: host0 in {m1}: another XDP program is attached (id {id})");
    assert!(e.contains(&want), "expected {want:?} in: {e}");
    assert!(
        leftovers_of(&[netns_inode(&m1)])
            .iter()
            .all(|l| !l.starts_with("pin fwd-")),
        "nothing deployed"
    );
    assert_eq!(
        xdpdoctor(&["--netns", &vm, "fix", "--revert"])
            .status
            .code(),
        Some(0)
    );
}

/// A file the test writes, removed when the test ends (also when it fails).
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str, text: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("xdt-{name}-{}.json", std::process::id()));
        std::fs::write(&p, text).unwrap();
        Scratch(p)
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

/// Item 7: a `--netns` that is not a network namespace is named as such by every command.
/// Needs no root.
#[test]
fn item7_not_a_network_namespace_for_every_command() {
    // A namespace path that existed and is gone: a finished child's.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = format!("/proc/{}/ns/net", child.id());
    child.wait().unwrap();
    let cfg = Scratch::new(
        "item7",
        r#"{"interfaces":{"external":["xdpdnope0"]},"entries":[]}"#,
    );
    let cfg_s = cfg.path();
    let commands: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["teardown"],
        vec!["deploy", "--config", &cfg_s],
        vec!["fix"],
        vec!["fix", "--apply"],
        vec!["fix", "--revert"],
        vec!["diagnose", "--observe", "0"],
        vec!["snapshot"],
        vec!["check"],
        vec!["probes"],
        vec!["trace", "--duration", "1"],
    ];
    let bad: Vec<(&str, String, &str)> = vec![
        ("/etc/passwd", "/etc/passwd".into(), "a regular file"),
        ("", "''".into(), "empty name"),
        (".", ".".into(), "not a namespace name"),
        (
            "/proc/self/ns/mnt",
            "/proc/self/ns/mnt".into(),
            "mount namespace",
        ),
        (&dead, dead.clone(), "deleted"),
        (
            "xdpd-no-such-namespace",
            "xdpd-no-such-namespace".into(),
            "deleted",
        ),
    ];
    for (arg, shown, why) in &bad {
        for c in &commands {
            let mut args = vec!["--netns", arg];
            args.extend(c.iter().copied());
            let out = xdpdoctor(&args);
            let e = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let want = format!("xdpdoctor: error: not a network namespace: {shown} (");
            assert!(
                e.starts_with(&want) && e.contains(why),
                "{args:?}: expected {want:?} ... {why:?}, got: {e}"
            );
        }
    }
}

/// Runs `args` with stdout a pipe whose reader is already gone.
fn with_closed_stdout(args: &[&str]) -> std::process::Output {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two fds we then own.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fresh fds from pipe(2), owned from here on.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(r);
    let out = Command::new(bin())
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::from(w))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    eprintln!(
        "$ xdpdoctor {} >closed-pipe\n[status {:?}]\n{}",
        args.join(" "),
        out.status,
        stderr(&out)
    );
    out
}

fn assert_quiet_epipe(out: &std::process::Output) {
    use std::os::unix::process::ExitStatusExt;
    assert_ne!(out.status.code(), Some(101), "panicked");
    assert!(
        out.status.signal() == Some(libc::SIGPIPE) || out.status.code() == Some(0),
        "ends like other Unix tools (SIGPIPE): {:?}",
        out.status
    );
    assert!(stderr(out).trim().is_empty(), "quiet: {}", stderr(out));
}

/// Item 8: a closed stdout (`| head -1`) ends quietly, like other Unix tools. Needs no root.
#[test]
fn item8_closed_stdout_is_quiet() {
    assert_quiet_epipe(&with_closed_stdout(&["lab", "list"]));
}

/// Item 8, the commands of the report: `status` and `diagnose` on a lab.
#[test]
#[ignore = "needs root: builds namespace labs, attaches XDP"]
fn item8_status_and_diagnose_into_a_closed_pipe() {
    require_root();
    let lab = Lab::up("r8", &[]);
    let vm = lab.ns("vm");
    assert_quiet_epipe(&with_closed_stdout(&["--netns", &vm, "status"]));
    assert_quiet_epipe(&with_closed_stdout(&[
        "--netns",
        &vm,
        "diagnose",
        "--observe",
        "0",
    ]));
}

/// Item 9: Ctrl-C during `fix --apply` stops between steps, leaves a journal of exactly the
/// steps done, and exits 2; revert then undoes them.
#[test]
#[ignore = "needs root: builds namespace labs, attaches XDP"]
fn item9_sigint_stops_fix_apply_between_steps() {
    require_root();
    let lab = Lab::up("r9", &[]);
    let vm = lab.ns("vm");
    let path = format!(
        "/run/xdpdoctor/fixes/{}.json",
        crate::common::netns_key(&vm)
    );
    let t = Traced::spawn(
        &["--netns", &vm, "fix", "--apply"],
        Duration::from_millis(300),
    );
    // The first journal write is under way or done: the steps have started.
    let started = wait_for(30, || std::path::Path::new(&path).exists());
    t.signal(libc::SIGINT);
    let out = t.wait();
    assert!(started, "fix --apply never wrote its journal");
    assert_eq!(out.status.code(), Some(2), "interrupted -> 2");
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    let j = journal(&vm).expect("journal of the steps done");
    let entries = j["entries"].as_array().unwrap();
    assert!(
        !entries.is_empty() && entries.len() < 6,
        "stopped between steps: {entries:?}"
    );
    assert!(
        entries.iter().all(|e| e["state"] == "done"),
        "every journaled step completed: {entries:?}"
    );
    assert_eq!(
        xdpdoctor(&["--netns", &vm, "fix", "--revert"])
            .status
            .code(),
        Some(0)
    );
    assert_seed_fixes_gone(&lab);
}

/// Item 10: revert after hand changes says per step what it found and did or skipped, and
/// shows the undo command.
#[test]
#[ignore = "needs root: builds namespace labs, attaches XDP"]
fn item10_revert_reports_hand_changes_and_shows_the_undo() {
    require_root();
    let lab = Lab::up("r10", &[]);
    let vm = lab.ns("vm");
    assert_eq!(
        xdpdoctor(&["--netns", &vm, "fix", "--apply"]).status.code(),
        Some(0)
    );
    let ip = |args: &[&str]| {
        let st = Command::new("ip")
            .args(["-n", &vm])
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "ip {args:?}");
    };
    // By hand: ve-m1's address deleted and the link set down; ve-m2's /24 replaced by a /16.
    ip(&["address", "del", "10.123.1.254/24", "dev", "ve-m1"]);
    ip(&["link", "set", "ve-m1", "down"]);
    ip(&["address", "del", "10.123.2.254/24", "dev", "ve-m2"]);
    ip(&["address", "add", "10.123.2.254/16", "dev", "ve-m2"]);

    let out = xdpdoctor(&["--netns", &vm, "fix", "--revert", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let res = v["results"].as_array().unwrap();
    let row = |fix: &str, text: &str| {
        res.iter()
            .find(|r| r["fix"] == fix && r["command"].as_str().unwrap().contains(text))
            .unwrap_or_else(|| panic!("no {fix} row with {text:?}: {v}"))
    };
    let m1 = row("add-address", "address del 10.123.1.254/24 dev ve-m1");
    assert_eq!(m1["result"], "skipped", "{m1}");
    let d = m1["detail"].as_str().unwrap();
    assert!(d.contains("already gone") && d.contains("down"), "{d}");
    let m2 = row("add-address", "address del 10.123.2.254/24 dev ve-m2");
    assert_eq!(m2["result"], "skipped", "{m2}");
    assert!(
        m2["detail"].as_str().unwrap().contains("10.123.2.254/16"),
        "{m2}"
    );
    for (fix, undo) in [
        ("attach-xdp-pass", "rm /sys/fs/bpf/xdpdoctor/fix-"),
        ("set-tx-csum", "tx on"),
    ] {
        for r in res.iter().filter(|r| r["fix"] == fix) {
            assert!(r["command"].as_str().unwrap().contains(undo), "{r}");
            assert_eq!(r["result"], "reverted", "{r}");
            assert!(r["detail"].as_str().is_some_and(|d| !d.is_empty()), "{r}");
        }
    }
    // The /16 put there by hand stays.
    assert!(in_ns(&vm, &["ip", "-4", "-br", "addr"]).contains("10.123.2.254/16"));
    // Text output: the undo column and what was found.
    ip(&["address", "del", "10.123.2.254/16", "dev", "ve-m2"]);
    ip(&["link", "set", "ve-m1", "up"]);
    assert_eq!(
        xdpdoctor(&["--netns", &vm, "fix", "--apply"]).status.code(),
        Some(0)
    );
    let out = xdpdoctor(&["--netns", &vm, "fix", "--revert"]);
    let text = stdout(&out);
    assert!(text.contains("undo") && text.contains("found"), "{text}");
    assert!(
        !text.contains("address add"),
        "the undo, not the apply: {text}"
    );
}

/// Runs `cmd` as uid/gid 65534 without supplementary groups when the tests run as root
/// (dropping every capability before exec); as another user it runs as that user.
fn as_nobody(cmd: &mut Command) {
    if is_root() {
        use std::os::unix::process::CommandExt;
        // SAFETY: setgroups/setgid/setuid are async-signal-safe; they drop the child's
        // privileges (uid 0 -> 65534 clears its capabilities) before exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// Item 11: without root, one message: needs root. No EPERM warnings, no map names.
#[test]
fn item11_needs_root_once() {
    let cfg = Scratch::new(
        "item11",
        r#"{"interfaces":{"external":["eth0"]},"entries":[{"from":"192.168.9.1:8080","to":"10.123.1.1:80"}]}"#,
    );
    let cfg_s = cfg.path();
    let commands: Vec<Vec<&str>> = vec![
        vec!["probes"],
        vec!["trace", "--duration", "1"],
        vec!["teardown"],
        vec!["status"],
        vec!["deploy", "--config", &cfg_s],
        vec!["fix", "--revert"],
        vec!["diagnose", "--observe", "0"],
        vec!["lab", "up", "--prefix", "xdpd-nonroot"],
        vec!["lab", "down", "--prefix", "xdpd-nonroot"],
        vec!["lab", "connect", "--prefix", "xdpd-nonroot"],
    ];
    for c in &commands {
        let mut cmd = Command::new(bin());
        cmd.args(c).env("NO_COLOR", "1");
        as_nobody(&mut cmd);
        let out = cmd.output().unwrap();
        let e = stderr(&out);
        eprintln!(
            "$ (nobody) xdpdoctor {}\n[exit {:?}]\n{e}",
            c.join(" "),
            out.status.code()
        );
        assert_eq!(out.status.code(), Some(2), "{c:?}");
        let lines: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{c:?}: one message: {e}");
        assert!(
            lines[0].contains(&format!(
                "xdpdoctor {} needs root (CAP_BPF, CAP_NET_ADMIN",
                c[..if c[0] == "lab" { 2 } else { 1 }].join(" ")
            )),
            "{c:?}: {e}"
        );
    }
}

/// A namespace the user may not open (another user's process) is "needs root", not a
/// garbled OS error: the EACCES is kept as the source, and said in one line.
#[test]
fn netns_of_another_user_needs_root() {
    let mut cmd = Command::new(bin());
    cmd.args(["--netns", "/proc/1/ns/net", "probes"])
        .env("NO_COLOR", "1");
    as_nobody(&mut cmd);
    let out = cmd.output().unwrap();
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{e}");
    let lines: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one message: {e}");
    assert!(
        lines[0]
            .contains("network namespace /proc/1/ns/net: cannot open /proc/1/ns/net needs root")
            && lines[0].contains("Permission denied"),
        "{e}"
    );
}

/// The pin root is removed when its last pin goes, but never under a command that has made it
/// and not pinned yet (the race a parallel `fix --apply` once lost with ENOENT): while a
/// hold is alive, removal leaves the root; once the hold is gone, an empty root goes (unless
/// a test running in parallel has a pin there, which this checks too).
#[test]
#[ignore = "needs root: creates a directory on bpffs"]
fn pin_root_goes_with_its_last_pin_but_not_under_a_pinner() {
    require_root();
    use xdpdoctor::state::{bpffs, PIN_ROOT};
    let root = std::path::Path::new(PIN_ROOT);
    let hold = bpffs::hold_dir(root).expect("hold the pin root");
    assert!(root.is_dir());
    bpffs::remove_root_if_empty();
    assert!(root.is_dir(), "removed under a pinner's hold");
    drop(hold);
    bpffs::remove_root_if_empty();
    let others = std::fs::read_dir(root).map(|rd| rd.count()).unwrap_or(0);
    assert!(
        !root.exists() || others > 0,
        "{PIN_ROOT} stays empty after its last pin went"
    );
}
