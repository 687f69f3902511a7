//! The fleet path (deploy/, docs/fleet.md), tested for real:
//!
//! - `promtool check rules` and `promtool test rules` on the shipped rules and their tests;
//! - `systemd-analyze verify` on the shipped service and timer (warnings count as failures);
//! - the DaemonSet parses (python3's YAML) and runs what the timer and the `docker run` line
//!   run, with the same mounts;
//! - end to end: node_exporter (textfile collector) and Prometheus, both on loopback ports of
//!   their own, Prometheus loading the shipped rules with `for:` shortened; the timer's own
//!   command runs on a broken seed lab; Prometheus's HTTP API shows the root cause and the
//!   alert firing; a run that cannot diagnose shows as `xdpdoctor_check_success 0` with the
//!   root cause kept; `fix --apply`, one more run, and the series falls to 0 and the alert
//!   resolves;
//! - the container image, built offline by deploy/container/build-image.sh from this build's
//!   binary, run by deploy/container/run.sh, diagnoses the host's lab from inside Docker.
//!
//! The tools come from Debian (scripts/setup.sh installs them): a missing one fails the test
//! naming the package, it never passes unrun. Every process a test starts is stopped by its
//! PID when the test ends, also when it panics ([`Daemon`]); images and containers it makes
//! are removed the same way.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bin, require_root, xdpdoctor, Lab};
use crate::pcapng::TempFile;
use crate::prom::{sum, validate, value};

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn deploy(rel: &str) -> PathBuf {
    repo().join("deploy").join(rel)
}

/// The path of `tool`, or a failure naming the Debian package that has it.
fn tool(tool: &str, package: &str) -> String {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(tool);
        if p.is_file() {
            return p.display().to_string();
        }
    }
    panic!("{tool} is not installed: run scripts/setup.sh (apt-get install {package})");
}

/// Runs a command to its end: (exit code, stdout, stderr).
fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    eprintln!("$ {cmd:?}\n[exit {:?}]\n{o}{e}", out.status.code());
    (out.status.code(), o, e)
}

#[test]
fn promtool_checks_and_tests_the_shipped_rules() {
    let promtool = tool("promtool", "prometheus");
    let dir = deploy("prometheus");
    let (code, out, _) = run(Command::new(&promtool)
        .args(["check", "rules", "xdpdoctor.rules.yml"])
        .current_dir(&dir));
    assert_eq!(code, Some(0));
    assert!(out.contains("SUCCESS: 9 rules found"), "{out}");
    let (code, out, _) = run(Command::new(&promtool)
        .args(["test", "rules", "xdpdoctor.rules.test.yml"])
        .current_dir(&dir));
    assert_eq!(code, Some(0));
    assert!(out.contains("SUCCESS"), "{out}");
    // Every alert of the file is tested.
    let rules = std::fs::read_to_string(dir.join("xdpdoctor.rules.yml")).unwrap();
    let tests = std::fs::read_to_string(dir.join("xdpdoctor.rules.test.yml")).unwrap();
    let alerts: Vec<_> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(alerts.len(), 5, "{alerts:?}");
    for a in alerts {
        assert!(
            tests.contains(&format!("alertname: {a}\n")),
            "{a} has no promtool test"
        );
    }
}

/// The shipped units with ExecStart's binary replaced by this build's (verify wants it to be
/// there), in `dir`.
fn units_in(dir: &Path) -> (PathBuf, PathBuf) {
    let service = std::fs::read_to_string(deploy("systemd/xdpdoctor-check.service")).unwrap();
    assert!(service.contains("ExecStart=/usr/local/bin/xdpdoctor "));
    let service = service.replace(
        "ExecStart=/usr/local/bin/xdpdoctor ",
        &format!("ExecStart={} ", bin()),
    );
    let (s, t) = (
        dir.join("xdpdoctor-check.service"),
        dir.join("xdpdoctor-check.timer"),
    );
    std::fs::write(&s, service).unwrap();
    std::fs::copy(deploy("systemd/xdpdoctor-check.timer"), &t).unwrap();
    (s, t)
}

#[test]
fn systemd_analyze_verifies_the_shipped_units() {
    let analyze = tool("systemd-analyze", "systemd");
    let dir = TempFile::new("units");
    std::fs::create_dir_all(&dir.0).unwrap();
    let (s, t) = units_in(&dir.0);
    let verify = |s: &Path, t: &Path| {
        run(Command::new(&analyze)
            .args(["verify", "--man=no"])
            .arg(s)
            .arg(t))
    };
    let (code, out, err) = verify(&s, &t);
    assert_eq!(code, Some(0));
    // systemd-analyze exits 0 on unknown keys and bad values it ignores: any message fails.
    assert_eq!((out.trim(), err.trim()), ("", ""), "verify said something");

    // The check can fail: a misspelt key and a bad timer value are reported.
    let bad = std::fs::read_to_string(&s)
        .unwrap()
        .replace("Nice=", "Nicer=");
    std::fs::write(&s, bad).unwrap();
    let bad = std::fs::read_to_string(&t)
        .unwrap()
        .replace("OnUnitActiveSec=1min", "OnUnitActiveSec=banana");
    std::fs::write(&t, bad).unwrap();
    let (_, _, err) = verify(&s, &t);
    assert!(err.contains("Nicer") && err.contains("banana"), "{err}");
}

/// The timer's command (ExecStart of the shipped service): the binary replaced by this
/// build's, the textfile path by `prom`, the environment file's arguments by `extra`.
fn timer_command(prom: &Path, extra: &[&str]) -> Vec<String> {
    let service = std::fs::read_to_string(deploy("systemd/xdpdoctor-check.service")).unwrap();
    let line = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let mut words: Vec<String> = Vec::new();
    let mut it = line.split_whitespace();
    assert_eq!(it.next(), Some("/usr/local/bin/xdpdoctor"));
    while let Some(w) = it.next() {
        match w {
            "--prometheus" => {
                let p = it.next().unwrap();
                assert_eq!(p, "/var/lib/prometheus/node-exporter/xdpdoctor.prom");
                words.extend(["--prometheus".into(), prom.display().to_string()]);
            }
            "$XDPDOCTOR_CHECK_ARGS" => words.extend(extra.iter().map(|s| s.to_string())),
            w => words.push(w.to_string()),
        }
    }
    assert_eq!(words[0], "check", "{words:?}");
    words
}

/// The DaemonSet, as JSON (python3's YAML parser).
fn daemonset() -> serde_json::Value {
    let python = tool("python3", "python3");
    let (code, out, _) = run(Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(deploy("kubernetes/xdpdoctor-daemonset.yaml")));
    assert_eq!(
        code,
        Some(0),
        "the DaemonSet does not parse (python3-yaml: scripts/setup.sh installs it)"
    );
    let docs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(docs.as_array().unwrap().len(), 1);
    docs[0].clone()
}

#[test]
fn the_daemonset_runs_what_the_timer_runs_with_the_docker_lines_mounts() {
    let ds = daemonset();
    assert_eq!(ds["apiVersion"], "apps/v1");
    assert_eq!(ds["kind"], "DaemonSet");
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(
        ds["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        ds["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
    );
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["hostPID"], true);
    let c = &spec["containers"][0];
    // The capabilities and the unconfined seccomp and AppArmor of the docker run line.
    let run_sh = std::fs::read_to_string(deploy("container/run.sh")).unwrap();
    let caps = c["securityContext"]["capabilities"]["add"]
        .as_array()
        .unwrap();
    let docker_caps: Vec<_> = run_sh
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split("--cap-add ").skip(1))
        .map(|w| w.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(docker_caps.len(), 4, "{docker_caps:?}");
    assert_eq!(caps.len(), docker_caps.len(), "{caps:?} {docker_caps:?}");
    for cap in &docker_caps {
        assert!(caps.iter().any(|c| c == cap), "{cap} not added");
    }
    assert_eq!(c["securityContext"]["seccompProfile"]["type"], "Unconfined");
    assert!(run_sh.contains("--security-opt seccomp=unconfined"));
    assert!(run_sh.contains("--security-opt apparmor=unconfined"));
    assert_eq!(
        ds["spec"]["template"]["metadata"]["annotations"]
            ["container.apparmor.security.beta.kubernetes.io/check"],
        "unconfined"
    );
    assert_eq!(c["name"], "check");
    // The loop runs the timer's check, into the mounted textfile directory.
    let script = c["args"][0].as_str().unwrap();
    let check = timer_command(Path::new("/textfile/xdpdoctor.prom"), &[]).join(" ");
    assert!(
        script.contains(&format!("xdpdoctor {check}\n")),
        "{script:?} does not run {check:?}"
    );
    // Every host path the docker run line mounts (but the optional socket) is mounted, at
    // the same place.
    let vols = spec["volumes"].as_array().unwrap();
    let mounts = c["volumeMounts"].as_array().unwrap();
    for (host, inside) in [
        ("/sys/fs/bpf", "/sys/fs/bpf"),
        ("/run/netns", "/run/netns"),
        ("/run/xdpdoctor", "/run/xdpdoctor"),
        ("/var/lib/prometheus/node-exporter", "/textfile"),
    ] {
        assert!(
            run_sh.contains(&format!("-v {host}:{inside}"))
                || run_sh.contains(&format!("TEXTFILE_DIR:-{host}}}")),
            "run.sh does not mount {host}"
        );
        let v = vols
            .iter()
            .find(|v| v["hostPath"]["path"] == host)
            .unwrap_or_else(|| panic!("no volume for {host}"));
        let m = mounts
            .iter()
            .find(|m| m["name"] == v["name"])
            .unwrap_or_else(|| panic!("{host} is not mounted"));
        assert_eq!(m["mountPath"], inside);
    }
    let netns = mounts
        .iter()
        .find(|m| m["mountPath"] == "/run/netns")
        .unwrap();
    assert_eq!(netns["mountPropagation"], "HostToContainer");
}

/// A process a test started, stopped by its PID (SIGTERM, then SIGKILL after 5 s) when the
/// test ends, also on panic; its output goes to `log`, printed when the test failed.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(name: &'static str, cmd: &mut Command, log: PathBuf) -> Daemon {
        let f = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        eprintln!("started {name} (pid {}): {cmd:?}", child.id());
        Daemon { name, child, log }
    }

    /// Waits until `ready` says yes (within `limit`), failing if the process ended.
    fn wait_ready(&mut self, limit: Duration, mut ready: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while !ready() {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "{} exited ({st}) before it was ready:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            assert!(
                t0.elapsed() < limit,
                "{} not ready within {limit:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("{} ready after {:?}", self.name, t0.elapsed());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let t0 = Instant::now();
            while matches!(self.child.try_wait(), Ok(None)) && t0.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<_> = log.lines().rev().take(30).collect();
            eprintln!("--- {} (pid {pid}) log, last lines:", self.name);
            tail.iter().rev().for_each(|l| eprintln!("{l}"));
        }
    }
}

/// A free TCP port on loopback (bound, then released for the daemon to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:`port`: (status, body), None when nothing answers.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let buf = String::from_utf8_lossy(&buf);
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// node_exporter (textfile collector only) and Prometheus (the shipped rules, `for:` cut to
/// 5 s, scraping and evaluating every second), on free loopback ports.
struct Monitoring {
    prom_port: u16,
    _prometheus: Daemon,
    _node: Daemon,
}

impl Monitoring {
    fn start(dir: &Path, textfile: &Path) -> Monitoring {
        let node_exporter = tool("prometheus-node-exporter", "prometheus-node-exporter");
        let prometheus = tool("prometheus", "prometheus");
        let node_port = free_port();
        let mut node = Daemon::start(
            "node_exporter",
            Command::new(node_exporter)
                .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
                .arg("--collector.disable-defaults")
                .arg("--collector.textfile")
                .arg(format!(
                    "--collector.textfile.directory={}",
                    textfile.display()
                )),
            dir.join("node_exporter.log"),
        );
        node.wait_ready(Duration::from_secs(30), || {
            http_get(node_port, "/metrics")
                .is_some_and(|(c, b)| c == 200 && b.contains("node_textfile_scrape_error"))
        });

        let rules = std::fs::read_to_string(deploy("prometheus/xdpdoctor.rules.yml")).unwrap();
        let mut cut = 0;
        let rules: String = rules
            .lines()
            .map(|l| match l.trim_start().strip_prefix("for: ") {
                Some(_) => {
                    cut += 1;
                    format!("{}for: 5s\n", &l[..l.len() - l.trim_start().len()])
                }
                None => format!("{l}\n"),
            })
            .collect();
        assert_eq!(cut, 5, "every alert's for: is shortened");
        std::fs::write(dir.join("rules.yml"), rules).unwrap();
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\n\
                 scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n"
            ),
        )
        .unwrap();
        let prom_port = free_port();
        let mut p = Daemon::start(
            "prometheus",
            Command::new(prometheus)
                .arg(format!(
                    "--config.file={}",
                    dir.join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
                .current_dir(dir),
            dir.join("prometheus.log"),
        );
        p.wait_ready(Duration::from_secs(60), || {
            http_get(prom_port, "/-/ready").is_some_and(|(c, _)| c == 200)
        });
        Monitoring {
            prom_port,
            _prometheus: p,
            _node: node,
        }
    }

    /// `query`'s instant vector: (labels, value) per series.
    fn query(&self, query: &str) -> Vec<(serde_json::Value, f64)> {
        let path = format!("/api/v1/query?query={}", urlencode(query));
        let Some((200, body)) = http_get(self.prom_port, &path) else {
            return Vec::new();
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let value = r["value"][1].as_str().unwrap().parse().unwrap();
                (r["metric"].clone(), value)
            })
            .collect()
    }

    /// The active alerts named `name`: (labels, state).
    fn alerts(&self, name: &str) -> Vec<(serde_json::Value, String)> {
        let Some((200, body)) = http_get(self.prom_port, "/api/v1/alerts") else {
            return Vec::new();
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["alertname"] == name)
            .map(|a| {
                (
                    a["labels"].clone(),
                    a["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Waits (up to `limit`) until `done` holds; returns how long it took.
    fn until(&self, what: &str, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> Duration {
        let t0 = Instant::now();
        while !done(self) {
            assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
        eprintln!("{what}: after {:?}", t0.elapsed());
        t0.elapsed()
    }
}

#[test]
#[ignore = "needs root: builds a namespace lab, loads BPF probes, applies fixes"]
fn prometheus_scrapes_the_check_and_the_seed_root_cause_alert_fires_and_clears() {
    require_root();
    let strace = tool("strace", "strace");
    let dir = TempFile::new("fleet");
    let textfile = dir.0.join("textfile");
    std::fs::create_dir_all(&textfile).unwrap();
    let mon = Monitoring::start(&dir.0, &textfile);
    let lab = Lab::up("fl", &[]);
    let vm = lab.ns("vm");
    let prom = textfile.join("xdpdoctor.prom");
    let cmd = timer_command(&prom, &["--netns", &vm]);
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();

    // 1. The broken seed: exit 1, the root cause in Prometheus, the alert fires after for:.
    let out = xdpdoctor(&args);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&prom).unwrap();
    let s = validate(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        value(&s, "xdpdoctor_check_success", &[("netns", &vm)]),
        Some(1.0)
    );
    let root =
        format!("xdpdoctor_check_root_causes{{checked_netns=\"{vm}\",rule=\"veth-peer-no-xdp\"}}");
    mon.until(
        "the root cause in Prometheus",
        Duration::from_secs(30),
        |m| m.query(&root).iter().any(|(_, v)| *v >= 1.0),
    );
    // Where it is: the containers' namespaces, named as the lab names them.
    for (labels, v) in mon.query(&root) {
        assert_eq!(v, 1.0);
        assert_eq!(labels["severity"], "error");
        assert!(
            labels["netns"].as_str().unwrap().starts_with(&lab.prefix),
            "{labels}"
        );
    }
    let firing = |m: &Monitoring| {
        m.alerts("XdpdoctorRootCause").iter().any(|(l, st)| {
            st == "firing" && l["rule"] == "veth-peer-no-xdp" && l["checked_netns"] == vm.as_str()
        })
    };
    let took = mon.until("XdpdoctorRootCause firing", Duration::from_secs(60), firing);
    assert!(
        took >= Duration::from_secs(3),
        "fired before its for: ({took:?})"
    );

    // 2. A run that cannot diagnose (every socket refused: no netlink): exit 2, and the
    // metrics say so; the last root causes stay, the alert keeps firing.
    let (code, _, err) = run(Command::new(&strace)
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "trace=socket",
            "-e",
            "inject=socket:error=EMFILE",
        ])
        .arg(bin())
        .args(&args)
        .env("NO_COLOR", "1"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("xdpdoctor_check_success 0"), "{err}");
    let success = format!("xdpdoctor_check_success{{netns=\"{vm}\"}}");
    mon.until(
        "check_success 0 in Prometheus",
        Duration::from_secs(30),
        |m| m.query(&success).iter().any(|(_, v)| *v == 0.0),
    );
    assert!(mon.query(&root).iter().any(|(_, v)| *v >= 1.0));
    assert!(firing(&mon));

    // 3. Fixed: the next run is healthy, the series falls to 0 and the alert resolves.
    let out = xdpdoctor(&["--netns", &vm, "fix", "--apply"]);
    assert_eq!(out.status.code(), Some(0));
    let out = xdpdoctor(&args);
    assert_eq!(out.status.code(), Some(0));
    mon.until(
        "the root cause at 0 in Prometheus",
        Duration::from_secs(30),
        |m| {
            let r = m.query(&root);
            !r.is_empty() && r.iter().all(|(_, v)| *v == 0.0)
        },
    );
    mon.until(
        "XdpdoctorRootCause resolved",
        Duration::from_secs(30),
        |m| !firing(m),
    );
    assert!(mon.query(&success).iter().all(|(_, v)| *v == 1.0));
    let text = std::fs::read_to_string(&prom).unwrap();
    let s = validate(&text).unwrap();
    assert_eq!(
        sum(&s, "xdpdoctor_check_root_causes", &[("checked_netns", &vm)]),
        0.0
    );
    // The probes' watched time is a counter summed over the runs that diagnosed.
    let w = value(
        &s,
        "xdpdoctor_probe_window_seconds_total",
        &[("netns", &vm)],
    )
    .unwrap();
    assert!(w > 0.0, "{text}");
}

/// Docker answers on its socket (started the way the Docker lab starts it when it does not).
fn docker_ready() {
    assert!(
        Path::new("/usr/sbin/dockerd").exists() || Path::new("/usr/bin/dockerd").exists(),
        "Docker is not installed: run scripts/setup.sh (apt-get install docker.io busybox-static)"
    );
    let d = xdpdoctor::runtime::Docker::new();
    if d.ping().is_err() {
        xdpdoctor::lab::docker::daemon::ensure(&d).expect("start dockerd");
    }
}

/// An image and a container name of this test: both removed on drop.
struct DockerThings {
    image: String,
    container: String,
}

impl Drop for DockerThings {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", self.container.as_str()])
            .output();
        let _ = Command::new("docker")
            .args(["rmi", "-f", self.image.as_str()])
            .output();
    }
}

#[test]
#[ignore = "needs root: builds a namespace lab, runs Docker, loads BPF probes"]
fn the_image_built_offline_diagnoses_the_hosts_lab_from_inside_docker() {
    require_root();
    docker_ready();
    let id = std::process::id();
    let things = DockerThings {
        image: format!("xdpdoctor-test:{id}"),
        container: format!("xdpdoctor-test-{id}"),
    };
    let t0 = Instant::now();
    let (code, out, _) = run(Command::new(deploy("container/build-image.sh"))
        .arg(bin())
        .arg(&things.image)
        .current_dir(repo()));
    assert_eq!(code, Some(0));
    assert!(out.contains(&things.image), "{out}");
    eprintln!("image built in {:?}", t0.elapsed());
    // Only the binary, its libraries and busybox: no base image.
    let (_, layers, _) = run(Command::new("docker").args(["history", "-q", things.image.as_str()]));
    assert_eq!(layers.lines().count(), 1, "{layers}");

    let lab = Lab::up("fd", &[]);
    let vm = lab.ns("vm");
    let dir = TempFile::new("fleetd");
    std::fs::create_dir_all(&dir.0).unwrap();
    let t1 = Instant::now();
    let (code, out, err) = run(Command::new(deploy("container/run.sh"))
        .args(["--netns", vm.as_str(), "check", "--observe", "2", "--json"])
        .args(["--prometheus", "/textfile/xdpdoctor.prom"])
        .env("XDPDOCTOR_IMAGE", &things.image)
        .env("XDPDOCTOR_CONTAINER", &things.container)
        .env("TEXTFILE_DIR", &dir.0));
    eprintln!("check in the container took {:?}", t1.elapsed());
    assert_eq!(code, Some(1), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["caused_by"].is_null())
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&"veth-peer-no-xdp".to_string()), "{ids:?}");
    // The same root causes as the binary on the host finds.
    let host = xdpdoctor(&["--netns", &vm, "check", "--observe", "2", "--json"]);
    let hv: serde_json::Value = serde_json::from_slice(&host.stdout).unwrap();
    let mut host_ids: Vec<_> = hv["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["caused_by"].is_null())
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    let mut ids = ids;
    ids.sort();
    host_ids.sort();
    assert_eq!(ids, host_ids);
    // The textfile, written from inside, through the mount.
    let text = std::fs::read_to_string(dir.0.join("xdpdoctor.prom")).unwrap();
    let s = validate(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(
        sum(
            &s,
            "xdpdoctor_check_root_causes",
            &[("checked_netns", &vm), ("rule", "veth-peer-no-xdp")]
        ) >= 1.0,
        "{text}"
    );
    // The container is gone (--rm), the image is removed on drop.
    let (_, ps, _) = run(Command::new("docker").args([
        "ps".to_string(),
        "-aq".into(),
        "--filter".into(),
        format!("name={}", things.container),
    ]));
    assert_eq!(ps.trim(), "");
}
