//! Which container a process belongs to, by its cgroup (`/proc/PID/cgroup`): every runtime
//! puts a container's processes in a cgroup named after the container's 64-hex id, in its
//! own spelling. cgroup v1 (one line per hierarchy) and v2 (`0::/...`), cgroupfs and systemd
//! drivers:
//!
//! | runtime | cgroupfs | systemd |
//! |---|---|---|
//! | Docker | `/docker/<id>` | `/system.slice/docker-<id>.scope` |
//! | Podman | `/libpod_parent/libpod-<id>` | `/machine.slice/libpod-<id>.scope` |
//! | containerd (CRI) | `/kubepods/.../pod<uid>/<id>` | `.../cri-containerd-<id>.scope` |
//! | CRI-O | `/kubepods/.../pod<uid>/<id>` | `.../crio-<id>.scope` |
//! | containerd (`ctr`) | `/<namespace>/<id>` | |

/// Who runs the container, as far as the cgroup path tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// `docker-<id>.scope` or `/docker/<id>`.
    Docker,
    /// `libpod-<id>`.
    Podman,
    /// A Kubernetes pod's container (`kubepods`, `cri-containerd-`, `crio-`).
    Cri,
    /// A 64-hex id in a path no runtime above claims (containerd's own namespaces).
    Unknown,
}

/// The container of a process: who runs it (as the path says) and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupId {
    /// The runtime the path points at.
    pub hint: Hint,
    /// The container's full id (64 hex digits).
    pub id: String,
}

/// The container named in the text of a `/proc/PID/cgroup` file; None for a process that is
/// in no container's cgroup (the host's services, a shell).
pub fn parse(text: &str) -> Option<CgroupId> {
    // v2's unified line first, then the v1 hierarchies: all name the same container.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_by_key(|l| !l.starts_with("0::"));
    lines.into_iter().find_map(|l| {
        let path = l.splitn(3, ':').nth(2)?;
        in_path(path)
    })
}

fn in_path(path: &str) -> Option<CgroupId> {
    // The deepest component with an id names the container (a pod's own cgroup is above it).
    path.split('/').rev().find_map(|c| {
        let c = c.strip_suffix(".scope").unwrap_or(c);
        let (hint, id) = if let Some(id) = c.strip_prefix("docker-") {
            (Hint::Docker, id)
        } else if let Some(id) = c.strip_prefix("libpod-") {
            (Hint::Podman, id)
        } else if let Some(id) = c
            .strip_prefix("cri-containerd-")
            .or_else(|| c.strip_prefix("crio-"))
        {
            (Hint::Cri, id)
        } else if path.contains("/docker/") {
            (Hint::Docker, c)
        } else if path.contains("kubepods") {
            (Hint::Cri, c)
        } else if path.contains("libpod") {
            (Hint::Podman, c)
        } else {
            (Hint::Unknown, c)
        };
        is_id(id).then(|| CgroupId {
            hint,
            id: id.to_string(),
        })
    })
}

/// A container id: 64 lower-case hex digits.
pub fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "dc096a1d8f4382f1ba2fd68eda3b72e0c5a4171d4d90d52c330572eb2d3e7d1d";

    fn at(path: &str) -> Option<CgroupId> {
        parse(&format!("0::{path}\n"))
    }

    #[test]
    fn each_runtime_spelling_names_the_container() {
        // Measured on this machine kind: Docker 20.10 on cgroup v1, cgroupfs driver.
        let v1 = format!("9:name=systemd:/docker/{ID}\n8:pids:/docker/{ID}\n0::/\n");
        assert_eq!(
            parse(&v1),
            Some(CgroupId {
                hint: Hint::Docker,
                id: ID.into()
            })
        );
        for (path, hint) in [
            (format!("/system.slice/docker-{ID}.scope"), Hint::Docker),
            (format!("/docker/{ID}"), Hint::Docker),
            (format!("/machine.slice/libpod-{ID}.scope/container"), Hint::Podman),
            (format!("/libpod_parent/libpod-{ID}"), Hint::Podman),
            (
                format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-{ID}.scope"
                ),
                Hint::Cri,
            ),
            (format!("/kubepods/besteffort/pod1234/{ID}"), Hint::Cri),
            (format!("/k8s.io/{ID}"), Hint::Unknown),
        ] {
            assert_eq!(at(&path).map(|c| c.hint), Some(hint), "{path}");
            assert_eq!(at(&path).unwrap().id, ID);
        }
    }

    #[test]
    fn host_processes_are_in_no_container() {
        assert_eq!(parse("0::/init.scope\n"), None);
        assert_eq!(parse("0::/system.slice/ssh.service\n"), None);
        assert_eq!(parse("12:pids:/\n0::/\n"), None);
        assert_eq!(at("/docker/not-an-id"), None);
        assert!(!is_id(&ID.to_uppercase()));
    }
}
