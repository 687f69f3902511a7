//! Container names from the runtimes' state files, for containers no API socket names:
//! containerd keeps each task's OCI bundle under
//! `/run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/config.json`, and the CRI
//! plugin (Kubernetes) writes the pod and container names into its annotations; CRI-O keeps
//! them in `/run/containers/storage/overlay-containers/<id>/userdata/config.json`.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// containerd's task bundles, one directory per namespace.
const CONTAINERD_TASKS: &str = "/run/containerd/io.containerd.runtime.v2.task";
/// CRI-O's (and Podman's) container state.
const STORAGE: &str = "/run/containers/storage/overlay-containers";

/// A name from the state files: (runtime, name).
pub fn name_of(id: &str) -> Option<(&'static str, String)> {
    if let Some((ns, cfg)) = containerd_bundle(Path::new(CONTAINERD_TASKS), id) {
        let v = read(&cfg)?;
        return Some(match cri_name(&v) {
            Some(n) => ("cri", n),
            None => ("containerd", format!("{ns}/{}", short(id))),
        });
    }
    let cfg = Path::new(STORAGE).join(id).join("userdata/config.json");
    read(&cfg).and_then(|v| cri_name(&v)).map(|n| ("cri", n))
}

/// The first 12 digits of an id, as runtimes show it.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// (containerd namespace, config.json) of task `id`.
fn containerd_bundle(root: &Path, id: &str) -> Option<(String, PathBuf)> {
    std::fs::read_dir(root).ok()?.flatten().find_map(|ns| {
        let cfg = ns.path().join(id).join("config.json");
        cfg.exists()
            .then(|| (ns.file_name().to_string_lossy().into_owned(), cfg))
    })
}

fn read(p: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(p).ok()?).ok()
}

/// `POD_NAMESPACE/POD` for a pod's sandbox, `POD_NAMESPACE/POD/CONTAINER` for one of its
/// containers, from the CRI annotations (containerd's or CRI-O's spelling).
pub fn cri_name(v: &Value) -> Option<String> {
    let a = &v["annotations"];
    let s = |k: &str| a[k].as_str().filter(|s| !s.is_empty());
    let pod = s("io.kubernetes.cri.sandbox-name").or(s("io.kubernetes.pod.name"))?;
    let ns = s("io.kubernetes.cri.sandbox-namespace")
        .or(s("io.kubernetes.pod.namespace"))
        .unwrap_or("default");
    let sandbox = s("io.kubernetes.cri.container-type") == Some("sandbox")
        || s("io.kubernetes.container.name") == Some("POD");
    match s("io.kubernetes.cri.container-name").or(s("io.kubernetes.container.name")) {
        Some(c) if !sandbox => Some(format!("{ns}/{pod}/{c}")),
        _ => Some(format!("{ns}/{pod}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_annotations_name_pods_and_containers() {
        let sandbox: Value = serde_json::from_str(
            r#"{"annotations":{"io.kubernetes.cri.container-type":"sandbox",
                "io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"shop"}}"#,
        )
        .unwrap();
        assert_eq!(cri_name(&sandbox).as_deref(), Some("shop/web-0"));
        let c: Value = serde_json::from_str(
            r#"{"annotations":{"io.kubernetes.cri.container-type":"container",
                "io.kubernetes.cri.container-name":"nginx",
                "io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"shop"}}"#,
        )
        .unwrap();
        assert_eq!(cri_name(&c).as_deref(), Some("shop/web-0/nginx"));
        let crio: Value = serde_json::from_str(
            r#"{"annotations":{"io.kubernetes.container.name":"POD",
                "io.kubernetes.pod.name":"db-1","io.kubernetes.pod.namespace":"prod"}}"#,
        )
        .unwrap();
        assert_eq!(cri_name(&crio).as_deref(), Some("prod/db-1"));
        assert_eq!(cri_name(&serde_json::json!({"annotations": {}})), None);
    }

    #[test]
    fn containerd_bundles_are_found_by_id() {
        let dir = std::env::temp_dir().join(format!("xdt-oci-{}", std::process::id()));
        let id = "a".repeat(64);
        std::fs::create_dir_all(dir.join("moby").join(&id)).unwrap();
        std::fs::write(dir.join("moby").join(&id).join("config.json"), "{}").unwrap();
        let found = containerd_bundle(&dir, &id);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.map(|(ns, _)| ns).as_deref(), Some("moby"));
        assert_eq!(short(&id), "aaaaaaaaaaaa");
    }
}
