//! Every command xdpdoctor prints runs as printed: the equivalent commands of `fix` plans
//! (ip, ethtool, sysctl, bpftool, `xdpdoctor object`) and the manual fixes that are commands,
//! executed with `sh -c` on labs, then checked by a fresh diagnosis (and traffic). Also the
//! form for namespaces without a name (`nsenter --net=/proc/PID/ns/net ...`).

use std::process::Command;

use serde_json::Value;

use crate::common::{require_root, stdout, xdpdoctor, Lab, BIN};
use crate::diagnose::findings;

/// Runs `cmd` with `sh -c`, with the tested binary first on PATH (plans say `xdpdoctor ...`).
pub(crate) fn sh(cmd: &str) {
    let dir = std::path::Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args(["-c", cmd])
        .env("PATH", path)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "printed command failed: {cmd}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The plan `fix --json` prints (dry run): its equivalent commands.
fn plan_commands(lab: &Lab, extra: &[&str]) -> Vec<String> {
    let ns = lab.ns("vm");
    let mut args = vec!["--netns", ns.as_str(), "fix", "--json"];
    args.extend_from_slice(extra);
    let out = xdpdoctor(&args);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("fix --json");
    let cmds: Vec<String> = v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert!(!cmds.is_empty(), "no plan: {v:#}");
    cmds
}

fn healthy_after(lab: &Lab) {
    let (got, code) = findings(lab, &["--observe", "0"]);
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(code, Some(0));
}

#[test]
#[ignore = "needs root: builds namespace labs, attaches XDP"]
fn plan_commands_run_as_printed_and_fix_the_seed() {
    require_root();
    // ip address, `xdpdoctor object` + ip link xdpdrv, ethtool tx.
    let lab = Lab::up("cm", &[]);
    for c in plan_commands(&lab, &[]) {
        sh(&c);
    }
    healthy_after(&lab);
    assert!(lab.connect().iter().all(|(_, ok)| *ok));
    drop(lab);
    // ethtool gro: a fix from 5.13 only (before, GRO gives the peer no NAPI and `fix --prefer
    // gro` refuses: tests/integration/fix.rs checks that).
    if crate::common::kernel_version() < (5, 13) {
        return;
    }
    let lab = Lab::up("cg", &["--fault", "peer-no-xdp"]);
    let cmds = plan_commands(&lab, &["--prefer", "gro"]);
    assert!(cmds.iter().all(|c| c.contains("gro on")), "{cmds:?}");
    for c in cmds {
        sh(&c);
    }
    healthy_after(&lab);
}

#[test]
#[ignore = "needs root: builds namespace labs, attaches XDP"]
fn forwarder_map_and_sysctl_commands_run_as_printed() {
    require_root();
    // sysctl, bpftool on the devmap (from inside the namespace), bpftool on the SNAT map.
    for fault in ["forwarding-disabled", "devmap-missing", "nat-asymmetric"] {
        let lab = Lab::up("cf", &["--fault", fault]);
        for c in plan_commands(&lab, &[]) {
            sh(&c);
        }
        healthy_after(&lab);
    }
}

#[test]
#[ignore = "needs root: builds a namespace lab"]
fn manual_commands_run_as_printed_in_named_and_unnamed_namespaces() {
    require_root();
    let lab = Lab::up("cl", &["--fault", "peer-down-m1"]);
    let ns = lab.ns("vm");
    let out = xdpdoctor(&["--netns", &ns, "diagnose", "--observe", "0", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let manual = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "peer-link-down")
        .and_then(|f| f["manual_fix"].as_str())
        .expect("peer-link-down's manual fix")
        .to_string();
    assert!(manual.starts_with("ip -n "), "{manual}");
    sh(&manual);
    healthy_after(&lab);

    // A namespace reached only through a process (a container's): the printed form enters it
    // by /proc/PID/ns/net. A process of ours sits in m1 for the test.
    let m1 = lab.ns("m1");
    let mut sleeper = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{m1}"))
        .args(["sleep", "60"])
        .spawn()
        .expect("sleep in m1");
    let path = format!("/proc/{}/ns/net", sleeper.id());
    // nsenter execs sleep in the same process: wait until it is in the namespace.
    let want = std::fs::metadata(format!("/run/netns/{m1}")).unwrap();
    for _ in 0..100 {
        if std::fs::metadata(&path).is_ok_and(|m| {
            std::os::unix::fs::MetadataExt::ino(&m) == std::os::unix::fs::MetadataExt::ino(&want)
        }) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let r = xdpdoctor::netns::NsRef {
        name: format!("pid:{}", sleeper.id()),
        path: path.clone(),
        inode: 0,
        cookie: None,
    };
    let down = r.shell("ip link set host0 down");
    assert!(
        down.starts_with(&format!("nsenter --net={path} ")),
        "{down}"
    );
    sh(&down);
    let (got, _) = findings(&lab, &["--observe", "0"]);
    assert_eq!(got.len(), 1, "{got:?}");
    sh(&r.shell("ip link set host0 up"));
    healthy_after(&lab);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}
