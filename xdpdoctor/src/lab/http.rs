//! The lab's traffic: a tiny HTTP responder that runs inside a container namespace, and a
//! client that opens one TCP connection per NAT entry from the client namespace, POSTs 3000
//! bytes and says, per entry, whether an HTTP answer (3000 bytes) came back and how long it
//! took (the Docker lab's busybox httpd refuses POST to a file: there it GETs `/`, [`Exchange`]).
//! [`LabClient`] offers the client to diagnosis as its [`TrafficSource`].

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::LabState;
use crate::diagnose::evidence::{ConnectResult, TrafficSource};
use crate::netns::Netns;
use crate::{Error, Result};

/// Bytes of the lab client's request body and (at least) of the responder's answer: larger
/// than any MTU of a lab link, so a request or an answer needs full-size segments and a path
/// that drops them (a redirect target with a smaller MTU, EMSGSIZE) fails the exchange the
/// way a real upload or page does. A SYN and a GET would cross it.
pub const EXCHANGE_BYTES: usize = 3000;

/// Serves `HTTP/1.0 200` with `body` (padded to [`EXCHANGE_BYTES`]) on `port` of every IPv4
/// and IPv6 address forever, after
/// reading each request whole (its `Content-Length`). Call on a thread already inside the
/// namespace (the responder process enters it first).
pub fn serve(port: u16, body: &str) -> Result<()> {
    // Both families where the namespace has IPv6 (a `[::]` socket takes IPv4 too), else IPv4.
    let l = match TcpListener::bind(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port))) {
        Ok(l) => l,
        Err(_) => TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
            .map_err(|e| Error::io("bind", format!("0.0.0.0:{port}"), e))?,
    };
    let mut body = body.to_string();
    while body.len() < EXCHANGE_BYTES {
        body.push_str(&".".repeat((EXCHANGE_BYTES - body.len()).min(63)));
        body.push('\n');
    }
    let resp = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    for conn in l.incoming() {
        let Ok(mut s) = conn else { continue };
        let resp = resp.clone();
        std::thread::spawn(move || {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            read_request(&mut s);
            let _ = s.write_all(resp.as_bytes());
        });
    }
    Ok(())
}

/// Reads one request: its header and as much body as its `Content-Length` says (until the
/// read times out or the peer closes).
fn read_request(s: &mut TcpStream) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let want = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + want {
                return;
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// What the lab's client sends per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// POST [`EXCHANGE_BYTES`] and expect as many back: full-size segments both ways (the
    /// namespace labs' responders echo).
    Upload,
    /// GET `/`: the Docker lab's responders are busybox httpd serving a file, which answers
    /// a POST to a file with 501 Not Implemented.
    Get,
}

impl Exchange {
    /// The exchange the responders of lab `st` answer.
    pub fn of(st: &LabState) -> Exchange {
        if st.docker.is_some() {
            Exchange::Get
        } else {
            Exchange::Upload
        }
    }
}

fn http_get(
    target: SocketAddrV4,
    timeout: Duration,
    exchange: Exchange,
) -> std::result::Result<String, String> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::V4(target), timeout)
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    let req = match exchange {
        Exchange::Upload => {
            let mut req = format!(
                "POST / HTTP/1.0\r\nHost: {target}\r\nContent-Length: {EXCHANGE_BYTES}\r\n\r\n"
            )
            .into_bytes();
            req.resize(req.len() + EXCHANGE_BYTES, b'x');
            req
        }
        Exchange::Get => format!("GET / HTTP/1.0\r\nHost: {target}\r\n\r\n").into_bytes(),
    };
    s.write_all(&req)
        .map_err(|e| format!("send request: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut {
            format!(
                "connected, but no HTTP answer within {} ms",
                timeout.as_millis()
            )
        } else {
            format!("read answer: {e}")
        }
    })?;
    let text = String::from_utf8_lossy(&out);
    if !text.starts_with("HTTP/1.") || !text.lines().next().unwrap_or("").contains(" 200") {
        return Err(format!(
            "unexpected answer: {:?}",
            text.lines().next().unwrap_or("")
        ));
    }
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // The first line says who answered; the rest is padding.
    Ok(format!(
        "{} ({} bytes)",
        body.lines().next().unwrap_or(""),
        body.len()
    ))
}

/// Connects from `ns` to every target concurrently (threads inherit the namespace).
pub fn connect_all(
    ns: &Netns,
    targets: &[(SocketAddrV4, Option<SocketAddrV4>)],
    timeout: Duration,
    exchange: Exchange,
) -> Result<Vec<ConnectResult>> {
    ns.run(|| {
        Ok(std::thread::scope(|s| {
            let hs: Vec<_> = targets
                .iter()
                .map(|(t, b)| {
                    s.spawn(move || {
                        let t0 = Instant::now();
                        let r = http_get(*t, timeout, exchange);
                        ConnectResult {
                            target: *t,
                            backend: *b,
                            ok: r.is_ok(),
                            elapsed_ms: t0.elapsed().as_millis() as u64,
                            detail: r.unwrap_or_else(|e| e),
                        }
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().expect("connect thread"))
                .collect()
        }))
    })
}

/// Waits until something accepts TCP on `addr` inside `ns` (a responder came up).
pub fn wait_listening(ns: &Netns, addr: SocketAddrV4, within: Duration) -> Result<()> {
    ns.run(|| {
        let t0 = Instant::now();
        loop {
            if TcpStream::connect_timeout(&SocketAddr::V4(addr), Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if t0.elapsed() > within {
                return Err(Error::not_found(
                    format!("responder listening on {addr} in {ns}"),
                    Some(format!("it did not start within {} s", within.as_secs())),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// A lab's traffic client, as diagnosis' traffic source.
#[derive(Debug, Clone)]
pub struct LabClient {
    /// The lab's prefix.
    pub prefix: String,
    /// The client's namespace.
    pub client: Netns,
    /// What it sends.
    pub exchange: Exchange,
}

impl LabClient {
    /// The client of the lab with this prefix.
    pub fn of_prefix(prefix: &str) -> Result<Self> {
        let st = LabState::load(prefix)?
            .ok_or_else(|| Error::not_found(format!("lab with prefix {prefix}"), None))?;
        Self::of_state(&st)
            .ok_or_else(|| Error::not_found(format!("traffic client of lab {prefix}"), None))
    }

    /// The client of the lab whose forwarder runs in the namespace with this inode, if any.
    pub fn of_forwarder_netns(inode: u64) -> Option<Self> {
        LabState::all().into_iter().find_map(|l| {
            let f = l.forwarder_netns.as_deref()?;
            if Netns::from_arg(f).inode().ok()? != inode {
                return None;
            }
            Self::of_state(&l)
        })
    }

    fn of_state(st: &LabState) -> Option<Self> {
        Some(LabClient {
            prefix: st.prefix.clone(),
            client: Netns::named(st.client_netns.as_deref()?),
            exchange: Exchange::of(st),
        })
    }
}

impl TrafficSource for LabClient {
    fn label(&self) -> String {
        format!("lab {} (client {})", self.prefix, self.client)
    }

    fn client_netns(&self) -> Option<Netns> {
        Some(self.client.clone())
    }

    fn run(
        &self,
        targets: &[(SocketAddrV4, Option<SocketAddrV4>)],
        budget: Duration,
    ) -> Result<Vec<ConnectResult>> {
        let first = connect_all(&self.client, targets, budget, self.exchange)?;
        let again: Vec<_> = first
            .iter()
            .filter(|r| !r.ok)
            .map(|r| (r.target, r.backend))
            .collect();
        if again.is_empty() {
            return Ok(first);
        }
        let retried = connect_all(&self.client, &again, budget, self.exchange)?;
        Ok(first
            .into_iter()
            .map(|r| {
                retried
                    .iter()
                    .find(|x| x.target == r.target)
                    .cloned()
                    .unwrap_or(r)
            })
            .collect())
    }
}
