//! Docker's Engine API over its unix socket (`/var/run/docker.sock`, or `DOCKER_HOST` when it
//! names a `unix://` socket), API version 1.41 (Docker 20.10; later daemons still serve it).
//! What xdpdoctor needs and nothing more: a container's name, process and addresses by id;
//! for the Docker lab, bridge networks, containers and an image imported from a tar, all
//! labelled so they can be found again. Podman serves the same API on its own socket
//! (`/run/podman/podman.sock`, when `podman system service` runs): [`Docker::podman`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use super::http::{escape, Body, Endpoint, Response};
use crate::{Error, Result};

/// Docker's default socket.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// Podman's (rootful) API socket.
pub const PODMAN_SOCKET: &str = "/run/podman/podman.sock";
/// The API version every request names.
const API: &str = "/v1.41";

/// A client of one daemon's API.
#[derive(Debug, Clone)]
pub struct Docker {
    http: Endpoint,
    /// `docker` or `podman`, for messages and names.
    pub runtime: &'static str,
}

/// One network a container is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The network's name.
    pub network: String,
    /// The container's address in it.
    pub ip: Option<Ipv4Addr>,
    /// Its prefix length.
    pub prefix: u8,
    /// The container's MAC address in it.
    pub mac: String,
    /// The network's gateway (the bridge's address).
    pub gateway: Option<Ipv4Addr>,
}

/// What `GET /containers/{id}/json` says that xdpdoctor uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Full id.
    pub id: String,
    /// Name, without Docker's leading `/`.
    pub name: String,
    /// Its main process (0 when not running).
    pub pid: u32,
    /// Running now.
    pub running: bool,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its networks.
    pub networks: Vec<Attachment>,
}

/// What `lab up` asks a container to be.
#[derive(Debug, Clone)]
pub struct NewContainer {
    /// Its name.
    pub name: String,
    /// The image reference.
    pub image: String,
    /// The command (`Cmd`).
    pub cmd: Vec<String>,
    /// The network it joins (`NetworkMode`).
    pub network: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Published TCP ports: (container port, host port).
    pub publish: Vec<(u16, u16)>,
}

impl Docker {
    /// The Docker daemon's socket: `DOCKER_HOST` when it is `unix://PATH`, else
    /// [`DOCKER_SOCKET`].
    pub fn socket_path() -> PathBuf {
        std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DOCKER_SOCKET))
    }

    /// A client of the Docker daemon (nothing is opened yet).
    pub fn new() -> Self {
        Self::at(Self::socket_path(), "docker", Duration::from_secs(30))
    }

    /// A client of Podman's Docker-compatible API.
    pub fn podman() -> Self {
        Self::at(PODMAN_SOCKET, "podman", Duration::from_secs(30))
    }

    /// A client of the daemon at `socket`.
    pub fn at(socket: impl Into<PathBuf>, runtime: &'static str, timeout: Duration) -> Self {
        Docker {
            http: Endpoint::new(socket.into(), timeout),
            runtime,
        }
    }

    /// The same client with another per-request timeout (an image import takes longer).
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.http.timeout = t;
        self
    }

    /// The socket it talks to.
    pub fn socket(&self) -> &std::path::Path {
        &self.http.socket
    }

    fn call(&self, method: &str, path: &str, body: Option<Body>) -> Result<Response> {
        self.http.request(method, &format!("{API}{path}"), body)
    }

    fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Response> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.call(
            method,
            path,
            bytes.as_deref().map(|b| Body {
                content_type: "application/json",
                bytes: b,
            }),
        )
    }

    /// An error for an answer that is not what was asked for.
    fn refused(&self, op: &str, r: &Response) -> Error {
        let msg = serde_json::from_slice::<Value>(&r.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| r.text());
        Error::unexpected(
            format!("{} API: {op}", self.runtime),
            format!("HTTP {}: {msg}", r.status),
        )
    }

    fn parse(&self, op: &str, r: &Response) -> Result<Value> {
        if !r.ok() {
            return Err(self.refused(op, r));
        }
        serde_json::from_slice(&r.body)
            .map_err(|e| Error::unexpected(format!("{} API: {op}", self.runtime), e.to_string()))
    }

    /// Whether the daemon answers (`GET /_ping`).
    pub fn ping(&self) -> Result<()> {
        let r = self.call("GET", "/_ping", None)?;
        if r.ok() {
            Ok(())
        } else {
            Err(self.refused("ping", &r))
        }
    }

    /// The daemon's version (`Version` of `GET /version`).
    pub fn version(&self) -> Result<String> {
        let v = self.parse("version", &self.json("GET", "/version", None)?)?;
        Ok(v["Version"].as_str().unwrap_or("?").to_string())
    }

    /// The container with this id or name; None when the daemon does not know it.
    pub fn container(&self, id: &str) -> Result<Option<ContainerInfo>> {
        let r = self.json("GET", &format!("/containers/{}/json", escape(id)), None)?;
        if r.status == 404 {
            return Ok(None);
        }
        let v = self.parse(&format!("inspect container {id}"), &r)?;
        Ok(Some(container_info(&v)))
    }

    /// Ids of the containers (running or not) carrying label `key=value`.
    pub fn containers_labelled(&self, key: &str, value: &str) -> Result<Vec<String>> {
        let f = json!({ "label": [format!("{key}={value}")] }).to_string();
        let path = format!("/containers/json?all=1&filters={}", escape(&f));
        let v = self.parse("list containers", &self.json("GET", &path, None)?)?;
        Ok(ids(&v))
    }

    /// Ids of the networks carrying label `key=value`.
    pub fn networks_labelled(&self, key: &str, value: &str) -> Result<Vec<String>> {
        let f = json!({ "label": [format!("{key}={value}")] }).to_string();
        let path = format!("/networks?filters={}", escape(&f));
        let v = self.parse("list networks", &self.json("GET", &path, None)?)?;
        Ok(ids(&v))
    }

    /// Creates a bridge network `name` whose bridge device is `bridge` (Docker's
    /// `com.docker.network.bridge.name`), subnet from the daemon's pools. Returns its id.
    pub fn create_network(
        &self,
        name: &str,
        bridge: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<String> {
        let body = json!({
            "Name": name,
            "Driver": "bridge",
            "CheckDuplicate": true,
            "Options": { "com.docker.network.bridge.name": bridge },
            "Labels": labels,
        });
        let v = self.parse(
            &format!("create network {name}"),
            &self.json("POST", "/networks/create", Some(&body))?,
        )?;
        Ok(v["Id"].as_str().unwrap_or_default().to_string())
    }

    /// The subnet and gateway of network `id` (its first IPv4 IPAM config).
    pub fn network_subnet(&self, id: &str) -> Result<Option<(Ipv4Addr, u8, Option<Ipv4Addr>)>> {
        let r = self.json("GET", &format!("/networks/{}", escape(id)), None)?;
        if r.status == 404 {
            return Ok(None);
        }
        let v = self.parse(&format!("inspect network {id}"), &r)?;
        let cfgs = v["IPAM"]["Config"].as_array().cloned().unwrap_or_default();
        Ok(cfgs.iter().find_map(|c| {
            let (net, len) = c["Subnet"].as_str()?.split_once('/')?;
            let gw = c["Gateway"].as_str().and_then(|g| g.parse().ok());
            Some((net.parse().ok()?, len.parse().ok()?, gw))
        }))
    }

    /// Removes network `id`; Ok(false) when it was not there.
    pub fn remove_network(&self, id: &str) -> Result<bool> {
        let r = self.call("DELETE", &format!("/networks/{}", escape(id)), None)?;
        match r.status {
            404 => Ok(false),
            _ if r.ok() => Ok(true),
            _ => Err(self.refused(&format!("remove network {id}"), &r)),
        }
    }

    /// Whether the daemon has image `reference`.
    pub fn image_exists(&self, reference: &str) -> Result<bool> {
        let r = self.call("GET", &format!("/images/{}/json", escape(reference)), None)?;
        match r.status {
            404 => Ok(false),
            _ if r.ok() => Ok(true),
            _ => Err(self.refused(&format!("inspect image {reference}"), &r)),
        }
    }

    /// Imports `tar` (a root filesystem) as image `repo:tag` (what `docker import` does).
    pub fn import_image(&self, tar: &[u8], repo: &str, tag: &str) -> Result<()> {
        let path = format!(
            "/images/create?fromSrc=-&repo={}&tag={}",
            escape(repo),
            escape(tag)
        );
        let r = self.call(
            "POST",
            &path,
            Some(Body {
                content_type: "application/x-tar",
                bytes: tar,
            }),
        )?;
        if !r.ok() {
            return Err(self.refused(&format!("import image {repo}:{tag}"), &r));
        }
        // A progress stream of JSON objects; a failure is one with "error".
        for line in r.body.split(|b| *b == b'\n') {
            if let Ok(v) = serde_json::from_slice::<Value>(line) {
                if let Some(e) = v["error"].as_str() {
                    return Err(Error::unexpected(
                        format!("{} API: import image {repo}:{tag}", self.runtime),
                        e.to_string(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Creates (does not start) a container. Returns its id.
    pub fn create_container(&self, c: &NewContainer) -> Result<String> {
        let mut exposed = serde_json::Map::new();
        let mut bindings = serde_json::Map::new();
        for (cport, hport) in &c.publish {
            exposed.insert(format!("{cport}/tcp"), json!({}));
            bindings.insert(
                format!("{cport}/tcp"),
                json!([{ "HostIp": "", "HostPort": hport.to_string() }]),
            );
        }
        let body = json!({
            "Image": c.image,
            "Cmd": c.cmd,
            "Labels": c.labels,
            "ExposedPorts": exposed,
            "HostConfig": { "NetworkMode": c.network, "PortBindings": bindings },
        });
        let v = self.parse(
            &format!("create container {}", c.name),
            &self.json(
                "POST",
                &format!("/containers/create?name={}", escape(&c.name)),
                Some(&body),
            )?,
        )?;
        Ok(v["Id"].as_str().unwrap_or_default().to_string())
    }

    /// Starts container `id`.
    pub fn start_container(&self, id: &str) -> Result<()> {
        let r = self.call("POST", &format!("/containers/{}/start", escape(id)), None)?;
        // 304: already started.
        if r.ok() || r.status == 304 {
            Ok(())
        } else {
            Err(self.refused(&format!("start container {id}"), &r))
        }
    }

    /// Removes container `id` (killing it if it runs); Ok(false) when it was not there.
    pub fn remove_container(&self, id: &str) -> Result<bool> {
        let r = self.call(
            "DELETE",
            &format!("/containers/{}?force=1&v=1", escape(id)),
            None,
        )?;
        match r.status {
            404 => Ok(false),
            _ if r.ok() => Ok(true),
            _ => Err(self.refused(&format!("remove container {id}"), &r)),
        }
    }
}

impl Default for Docker {
    fn default() -> Self {
        Self::new()
    }
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["Id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The parts of an inspected container xdpdoctor uses.
fn container_info(v: &Value) -> ContainerInfo {
    let networks = v["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(name, n)| Attachment {
                    network: name.clone(),
                    ip: n["IPAddress"].as_str().and_then(|s| s.parse().ok()),
                    prefix: n["IPPrefixLen"].as_u64().unwrap_or(0) as u8,
                    mac: n["MacAddress"].as_str().unwrap_or_default().to_string(),
                    gateway: n["Gateway"].as_str().and_then(|s| s.parse().ok()),
                })
                .collect()
        })
        .unwrap_or_default();
    ContainerInfo {
        id: v["Id"].as_str().unwrap_or_default().to_string(),
        name: v["Name"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        pid: v["State"]["Pid"].as_u64().unwrap_or(0) as u32,
        running: v["State"]["Running"].as_bool().unwrap_or(false),
        labels: v["Config"]["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        networks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspected_container_reads_as_docker_20_10_writes_it() {
        // Trimmed from `GET /v1.41/containers/ID/json` on this machine kind.
        let v: Value = serde_json::from_str(
            r#"{"Id":"dc09","Name":"/i21p-web1","State":{"Running":true,"Pid":20072},
                "Config":{"Labels":{"xdpdoctor.lab":"i21p"}},
                "NetworkSettings":{"Networks":{"i21p-net":{"Gateway":"172.18.0.1",
                "IPAddress":"172.18.0.2","IPPrefixLen":16,"MacAddress":"02:42:ac:12:00:02"}}}}"#,
        )
        .unwrap();
        let c = container_info(&v);
        assert_eq!(
            (c.name.as_str(), c.pid, c.running),
            ("i21p-web1", 20072, true)
        );
        assert_eq!(c.labels["xdpdoctor.lab"], "i21p");
        assert_eq!(
            c.networks,
            vec![Attachment {
                network: "i21p-net".into(),
                ip: Some(Ipv4Addr::new(172, 18, 0, 2)),
                prefix: 16,
                mac: "02:42:ac:12:00:02".into(),
                gateway: Some(Ipv4Addr::new(172, 18, 0, 1)),
            }]
        );
    }
}
