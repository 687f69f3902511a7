//! Docker's daemon for the Docker lab: asked over its socket whether it runs, and started
//! when it does not (a machine without systemd has nothing that starts it). A daemon the lab
//! starts keeps running after `lab down`: other containers and labs may use it by then; the
//! lab's state records that it started it.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::runtime::Docker;
use crate::{Error, Result};

/// How long a starting daemon may take to answer.
const START: Duration = Duration::from_secs(90);

/// Where a daemon the lab starts writes its log.
pub fn log_path() -> PathBuf {
    crate::state::labs_dir().join("dockerd.log")
}

/// The daemon's binary: `dockerd` on `PATH`, or where Debian's docker.io puts it.
fn dockerd() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into(), "/sbin".into()])
        .map(|d| d.join("dockerd"))
        .find(|p| p.is_file())
}

/// Makes sure Docker's daemon answers on its socket. Returns the PID of the daemon it started
/// (None: it was running).
pub fn ensure(d: &Docker) -> Result<Option<u32>> {
    if d.ping().is_ok() {
        return Ok(None);
    }
    let exe = dockerd().ok_or_else(|| {
        Error::not_found(
            "dockerd (Docker's daemon)",
            Some(
                "install Debian's docker.io: apt-get install docker.io (scripts/setup.sh does)"
                    .into(),
            ),
        )
    })?;
    let log = log_path();
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| Error::io("open", &log, e))?;
    let err = out.try_clone().map_err(|e| Error::io("open", &log, e))?;
    let mut cmd = Command::new(&exe);
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: setsid is async-signal-safe; the daemon leaves our session, so Ctrl-C on the
    // command that started it does not stop it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| Error::io("start", &exe, e))?;
    let pid = child.id();
    log::warn!(
        "Docker's daemon was not running: started {} (pid {pid}, log {}); it keeps running \
         after the lab is down",
        exe.display(),
        log.display()
    );
    let t0 = Instant::now();
    loop {
        if d.ping().is_ok() {
            return Ok(Some(pid));
        }
        // Another dockerd started at the same time wins the pid file; this one exits and
        // the other answers.
        if let Ok(Some(st)) = child.try_wait() {
            log::info!("dockerd pid {pid} exited ({st}); waiting for the one that runs");
        }
        if t0.elapsed() > START {
            return Err(Error::unexpected(
                format!("dockerd (pid {pid})"),
                format!(
                    "no answer on {} within {} s; see {}",
                    d.socket().display(),
                    START.as_secs(),
                    log.display()
                ),
            ));
        }
        crate::cancel::check()?;
        std::thread::sleep(Duration::from_millis(200));
    }
}
