//! The real `xdpdoctor` binary on input that needs no root, no namespace and no BPF, so these
//! tests run everywhere (as a normal user too): `--help`/`--version`, usage errors (exit 2),
//! `diagnose --from` the saved seed snapshots (findings, JSON schema, exit 0/1), unreadable
//! snapshots, bad `deploy` configs (refused before the kernel is touched, naming file, field
//! and value), `lab list`, and `lab up` with an unknown fault (refused, nothing created).
//! Exit codes: docs/cli.md; JSON: docs/diagnose.md.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{assert_nothing_left, stdout, unique_prefix, xdpdoctor};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A directory of files for one test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("xdt-cli-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

const VERBS: [&str; 11] = [
    "deploy", "teardown", "status", "lab", "snapshot", "diagnose", "fix", "check", "probes",
    "trace", "bench",
];

#[test]
fn help_and_version_exit_0() {
    let out = xdpdoctor(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    assert!(help.contains("Usage: xdpdoctor"), "{help}");
    for verb in VERBS {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(verb)),
            "--help does not list {verb}: {help}"
        );
    }
    let out = xdpdoctor(&["diagnose", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("--from <FILE>"), "{}", stdout(&out));

    let out = xdpdoctor(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        format!("xdpdoctor {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2_with_usage() {
    let cases: [(&[&str], &str); 4] = [
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (&["diagnose", "--bogus"], "unexpected argument '--bogus'"),
        (&["deploy"], "--config <CONFIG>"),
        (&[], "Usage: xdpdoctor"),
    ];
    for (args, needle) in cases {
        let out = xdpdoctor(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(err.contains("Usage:"), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}: usage error on stdout");
    }
}

/// Option values checked by xdpdoctor itself (not clap) are refused with exit 2 before any
/// work, naming the option and the value.
#[test]
fn bad_option_value_exits_2_naming_it() {
    let out = xdpdoctor(&["diagnose", "--observe", "700"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("--observe 700") && err.contains("0 to 600"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

/// (id, subject.netns, subject.interface) of every finding, in report order.
fn finding_subjects(v: &Value) -> Vec<(String, String, String)> {
    v["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| {
            (
                f["id"].as_str().expect("findings[].id").to_string(),
                f["subject"]["netns"]
                    .as_str()
                    .expect("subject.netns")
                    .to_string(),
                f["subject"]["interface"]
                    .as_str()
                    .expect("subject.interface")
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn diagnose_from_seed_faults_reports_the_three_causes_exit_1() {
    let out = xdpdoctor(&["diagnose", "--from", &fixture("seed-faults.json"), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).expect("diagnose --json is JSON");
    assert_eq!(v["schema"], "xdpdoctor.diagnose/2");
    assert_eq!(v["deployment"]["xdpdoctor_forwarder"], true);
    assert_eq!(v["deployment"]["nat"]["source"]["from"], "forwarder");
    assert_eq!(
        v["deployment"]["attachments"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(v["healthy"], false);
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["netns"], "fx-vm");
    let own =
        |id: &str, ns: &str, ifname: &str| (id.to_string(), ns.to_string(), ifname.to_string());
    // Packet-path order: fib, then veth, then the reply; per stage in NAT entry order.
    assert_eq!(
        finding_subjects(&v),
        [
            own("interface-no-address", "fx-vm", "ve-m1"),
            own("interface-no-address", "fx-vm", "ve-m2"),
            own("veth-peer-no-xdp", "fx-m1", "host0"),
            own("veth-peer-no-xdp", "fx-m2", "host0"),
            own("veth-tx-csum-offload", "fx-m1", "host0"),
            own("veth-tx-csum-offload", "fx-m2", "host0"),
        ]
    );
    let rules: Vec<&str> = v["rules"]
        .as_array()
        .expect("rules array")
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for f in v["findings"].as_array().unwrap() {
        assert!(rules.contains(&f["id"].as_str().unwrap()), "{f}");
        assert_eq!(f["severity"], "error", "{f}");
        assert!(f["subject"]["netns_inode"].as_u64().is_some(), "{f}");
        assert!(!f["why"].as_str().unwrap_or("").is_empty(), "{f}");
        assert!(f["fix"]["id"].as_str().is_some(), "{f}");
    }
    // Static only: a saved snapshot has no observation window.
    assert_eq!(v["evidence"]["window_ms"], 0);

    // The table for people says the same, with the same exit code.
    let out = xdpdoctor(&["diagnose", "--from", &fixture("seed-faults.json")]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("6 finding(s) in fx-vm"), "{text}");
    for id in [
        "interface-no-address",
        "veth-peer-no-xdp",
        "veth-tx-csum-offload",
    ] {
        assert!(text.contains(id), "{id} missing: {text}");
    }
}

#[test]
fn diagnose_from_seed_healthy_exits_0() {
    let out = xdpdoctor(&[
        "diagnose",
        "--from",
        &fixture("seed-healthy.json"),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("diagnose --json is JSON");
    assert_eq!(v["schema"], "xdpdoctor.diagnose/2");
    assert_eq!(v["healthy"], true);
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["findings"].as_array().map(Vec::len), Some(0), "{v:#}");
    assert!(v["rules"].as_array().is_some_and(|r| !r.is_empty()));

    let out = xdpdoctor(&["diagnose", "--from", &fixture("seed-healthy.json")]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with("XDP in fx-vm: eth0: xdp_fwd_externa"),
        "{text}"
    );
    assert!(text.contains("\nhealthy: no finding in fx-vm"), "{text}");
}

#[test]
fn diagnose_from_missing_or_corrupt_file_exits_2_naming_it() {
    let dir = TempDir::new("snap");
    let missing = dir.0.join("no-such-snapshot.json").display().to_string();
    let truncated = dir.write("truncated.json", "{\"version\": 1, \"kernel\": ");
    let not_snapshot = dir.write("not-a-snapshot.json", "{\"hello\": \"world\"}");
    for file in [&missing, &truncated, &not_snapshot] {
        let out = xdpdoctor(&["diagnose", "--from", file, "--json"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{file}");
        assert!(
            err.contains(&format!("loading snapshot {file}")),
            "{file}: {err}"
        );
        assert!(stdout(&out).is_empty(), "{file}: a report was printed");
    }
    let err = stderr(&xdpdoctor(&["diagnose", "--from", &missing]));
    assert!(err.contains("No such file"), "{err}");
}

/// Forwarder state of the namespace this test runs in: its pin directory, its state file, and
/// the XDP lines of `ip -d link` (other tests only change their own namespaces).
fn forwarder_traces_here() -> (bool, bool, Vec<String>) {
    let inode = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    let links = Command::new("ip")
        .args(["-d", "link", "show"])
        .output()
        .expect("ip -d link");
    assert!(links.status.success(), "ip -d link failed");
    let xdp = String::from_utf8_lossy(&links.stdout)
        .lines()
        .filter(|l| l.contains("xdp"))
        .map(str::to_string)
        .collect();
    (
        !crate::common::keyed("/sys/fs/bpf/xdpdoctor", "fwd-", "", &[inode]).is_empty(),
        !crate::common::keyed("/run/xdpdoctor/forwarders", "", ".json", &[inode]).is_empty(),
        xdp,
    )
}

/// Config errors are found while parsing, before the namespace is opened or the kernel
/// touched, so they need no root. Every config also names an interface that does not exist,
/// so even a broken check could not attach anything to this machine.
#[test]
fn deploy_bad_configs_exit_2_naming_file_field_value_and_change_nothing() {
    let dir = TempDir::new("cfg");
    let unknown_key = dir.write(
        "unknown-key.json",
        r#"{"interfaces":{"external":["xdt-none0"]},"entries":[{"from":"192.0.2.1:8080","to":"10.0.0.1:80"}],"colour":"red"}"#,
    );
    let bad_port = dir.write(
        "bad-port.json",
        r#"{"interfaces":{"external":["xdt-none0"]},"entries":[{"from":"192.0.2.1:80800","to":"10.0.0.1:80"}]}"#,
    );
    let missing = dir.0.join("missing.json").display().to_string();
    let cases = [
        (&unknown_key, &["field `colour`", "unknown field"][..]),
        (&bad_port, &["field `entries[0].from`", "80800"][..]),
        (&missing, &["read ", "No such file"][..]),
    ];
    let before = forwarder_traces_here();
    for (file, needles) in cases {
        let out = xdpdoctor(&["deploy", "--config", file]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(file.as_str()), "{file} not named: {err}");
        for n in needles {
            assert!(err.contains(n), "{file}: `{n}` missing: {err}");
        }
        // Refused while validating, not while deploying.
        assert!(!err.contains("deploying the forwarder"), "{err}");
        assert_eq!(forwarder_traces_here(), before, "{file} changed something");
    }
}

/// Rows of a comfy-table as printed without colour: trimmed cells per row.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with('│'))
        .map(|l| {
            l.trim_matches('│')
                .split('┆')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn lab_list_names_seed_and_its_default_faults() {
    let out = xdpdoctor(&["lab", "list"]);
    assert_eq!(out.status.code(), Some(0));
    let rows = table_rows(&stdout(&out));
    let seed = rows
        .iter()
        .position(|r| r[0] == "seed")
        .unwrap_or_else(|| panic!("no seed row: {rows:?}"));
    assert!(
        rows.iter().any(|r| r[0] == "fleet"),
        "no fleet row: {rows:?}"
    );
    // The seed's faults follow its row, up to the next scenario.
    let faults: Vec<(&str, &str)> = rows[seed + 1..]
        .iter()
        .take_while(|r| r[0].is_empty())
        .map(|r| (r[1].as_str(), r[2].as_str()))
        .collect();
    for f in ["no-address", "peer-no-xdp", "tx-csum"] {
        assert!(
            faults.contains(&(f, "yes")),
            "{f} not a default: {faults:?}"
        );
    }
    for f in ["forwarding-disabled", "devmap-missing", "nat-asymmetric"] {
        assert!(faults.contains(&(f, "")), "{f} missing: {faults:?}");
    }
}

/// Faults are checked against the scenario before anything is made, so this needs no root.
#[test]
fn lab_up_unknown_fault_exits_2_and_creates_nothing() {
    let prefix = unique_prefix("b");
    let out = xdpdoctor(&["lab", "up", "seed", "--prefix", &prefix, "--fault", "nope"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--fault nope"), "{err}");
    assert!(
        err.contains("known: ") && err.contains("peer-no-xdp"),
        "{err}"
    );
    assert_nothing_left(&prefix);
}
