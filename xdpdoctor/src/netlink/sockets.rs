//! The TCP sockets listening in the calling thread's namespace, from a `NETLINK_SOCK_DIAG`
//! dump asking for the LISTEN state only (the socket is opened on the calling thread, so the
//! namespace is the thread's). Used to tell a NAT target whose port nothing listens on.
//!
//! Why not `/proc/net/tcp`: every `read(2)` of it walks the kernel's whole established-socket
//! hash table, which all namespaces share, and std reads it in small pieces: 5 to 10 ms per
//! read on this machine, 40 ms for the seed lab's four namespaces. A LISTEN-only dump walks
//! the listening hash alone (`inet_diag_dump_icsk` skips the established table when no other
//! state is asked for): microseconds.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A listening TCP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Listener {
    /// The local address it is bound to (unspecified: every address).
    pub addr: IpAddr,
    /// The port.
    pub port: u16,
}

impl Listener {
    /// Whether a connection to `addr:port` would reach this socket (an IPv6 wildcard also
    /// takes IPv4, as on a default dual-stack socket).
    pub fn accepts(&self, addr: Ipv4Addr, port: u16) -> bool {
        self.port == port
            && match self.addr {
                IpAddr::V4(a) => a.is_unspecified() || a == addr,
                IpAddr::V6(a) => a.is_unspecified() || a.to_ipv4_mapped() == Some(addr),
            }
    }
}

/// `SOCK_DIAG_BY_FAMILY` (linux/sock_diag.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `TCP_LISTEN` (include/net/tcp_states.h).
const TCP_LISTEN: u32 = 10;
/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDR: usize = 16;
/// `sizeof(struct inet_diag_req_v2)`.
const REQ_LEN: usize = 56;
/// Offset of `id.idiag_sport` in `struct inet_diag_msg`.
const MSG_SPORT: usize = 4;
/// Offset of `id.idiag_src` (four 32-bit words; IPv4 uses the first).
const MSG_SRC: usize = 8;
/// `sizeof(struct inet_diag_msg)`: shorter messages are not listeners.
const MSG_LEN: usize = 72;

/// Every listening TCP socket of this thread's namespace (IPv4 and IPv6).
pub fn listening() -> Result<Vec<Listener>> {
    let sock = open().map_err(|e| Error::io("open", "sock_diag netlink socket", e))?;
    let mut out = Vec::new();
    for family in [libc::AF_INET, libc::AF_INET6] {
        match dump(&sock, family as u8) {
            Ok(msgs) => out.extend(msgs.iter().filter_map(|m| parse_msg(m))),
            // No IPv6 in this kernel: nothing listens on it.
            Err(e) if family == libc::AF_INET6 && e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(Error::io("dump", "listening TCP sockets (sock_diag)", e)),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn open() -> std::io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the fd is owned by the OwnedFd at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The request: a dump of `family` TCP sockets in state LISTEN.
fn request(family: u8) -> [u8; NLMSG_HDR + REQ_LEN] {
    let mut b = [0u8; NLMSG_HDR + REQ_LEN];
    b[0..4].copy_from_slice(&((NLMSG_HDR + REQ_LEN) as u32).to_ne_bytes());
    b[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    b[6..8].copy_from_slice(&flags.to_ne_bytes());
    b[8..12].copy_from_slice(&1u32.to_ne_bytes()); // sequence number
                                                   // struct inet_diag_req_v2: family, protocol, ext, pad, states, id (zero: any).
    b[NLMSG_HDR] = family;
    b[NLMSG_HDR + 1] = libc::IPPROTO_TCP as u8;
    b[NLMSG_HDR + 4..NLMSG_HDR + 8].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    b
}

/// Sends the request and collects the payloads of every answer message until NLMSG_DONE.
fn dump(sock: &OwnedFd, family: u8) -> std::io::Result<Vec<Vec<u8>>> {
    let req = request(family);
    // SAFETY: `req` is a live buffer of its length; the kernel only reads it.
    let n = unsafe { libc::send(sock.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut msgs = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: `buf` is a live, writable buffer of its length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if split(&buf[..n as usize], &mut msgs)? {
            return Ok(msgs);
        }
    }
}

/// Splits one datagram into messages, appending their payloads to `out`; true at NLMSG_DONE.
fn split(mut d: &[u8], out: &mut Vec<Vec<u8>>) -> std::io::Result<bool> {
    while d.len() >= NLMSG_HDR {
        let len = u32::from_ne_bytes(d[0..4].try_into().expect("4 bytes")) as usize;
        let kind = u16::from_ne_bytes(d[4..6].try_into().expect("2 bytes"));
        if len < NLMSG_HDR || len > d.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "truncated netlink message",
            ));
        }
        match kind as i32 {
            libc::NLMSG_DONE => return Ok(true),
            libc::NLMSG_ERROR => {
                let errno = d
                    .get(NLMSG_HDR..NLMSG_HDR + 4)
                    .map(|e| i32::from_ne_bytes(e.try_into().expect("4 bytes")))
                    .unwrap_or(-libc::EIO);
                if errno != 0 {
                    return Err(std::io::Error::from_raw_os_error(-errno));
                }
            }
            _ => out.push(d[NLMSG_HDR..len].to_vec()),
        }
        // Messages are aligned to 4 bytes.
        d = &d[((len + 3) & !3).min(d.len())..];
    }
    Ok(false)
}

/// A listener from one `struct inet_diag_msg` (None: not a listening socket).
fn parse_msg(m: &[u8]) -> Option<Listener> {
    if m.len() < MSG_LEN || u32::from(m[1]) != TCP_LISTEN {
        return None;
    }
    let port = u16::from_be_bytes([m[MSG_SPORT], m[MSG_SPORT + 1]]);
    let src: [u8; 16] = m[MSG_SRC..MSG_SRC + 16].try_into().ok()?;
    let addr = match i32::from(m[0]) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3])),
        libc::AF_INET6 => IpAddr::V6(Ipv6Addr::from(src)),
        _ => return None,
    };
    Some(Listener { addr, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `inet_diag_msg` as the kernel writes it.
    fn msg(family: i32, state: u8, src: &[u8], port: u16) -> Vec<u8> {
        let mut m = vec![0u8; MSG_LEN];
        m[0] = family as u8;
        m[1] = state;
        m[MSG_SPORT..MSG_SPORT + 2].copy_from_slice(&port.to_be_bytes());
        m[MSG_SRC..MSG_SRC + src.len()].copy_from_slice(src);
        m
    }

    fn nlmsg(kind: u16, payload: &[u8]) -> Vec<u8> {
        let len = NLMSG_HDR + payload.len();
        let mut b = vec![0u8; (len + 3) & !3];
        b[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        b[4..6].copy_from_slice(&kind.to_ne_bytes());
        b[NLMSG_HDR..len].copy_from_slice(payload);
        b
    }

    #[test]
    fn parses_listeners_of_both_families() {
        let l = parse_msg(&msg(libc::AF_INET, 10, &[0, 0, 0, 0], 80)).unwrap();
        assert!(l.accepts("10.123.1.1".parse().unwrap(), 80));
        let l = parse_msg(&msg(libc::AF_INET, 10, &[127, 0, 0, 1], 8080)).unwrap();
        assert!(!l.accepts("10.123.1.1".parse().unwrap(), 8080));
        assert!(l.accepts("127.0.0.1".parse().unwrap(), 8080));
        let l = parse_msg(&msg(libc::AF_INET6, 10, &[0; 16], 22)).unwrap();
        assert!(l.accepts("10.0.0.1".parse().unwrap(), 22));
        // An established socket is no listener.
        assert_eq!(parse_msg(&msg(libc::AF_INET, 1, &[10, 1, 1, 1], 80)), None);
    }

    #[test]
    fn splits_a_dump_until_done_and_reports_errors() {
        let mut d = nlmsg(SOCK_DIAG_BY_FAMILY, &msg(libc::AF_INET, 10, &[0; 4], 80));
        d.extend(nlmsg(
            SOCK_DIAG_BY_FAMILY,
            &msg(libc::AF_INET, 10, &[0; 4], 81),
        ));
        let mut out = Vec::new();
        assert!(!split(&d, &mut out).unwrap());
        d.extend(nlmsg(libc::NLMSG_DONE as u16, &[0; 4]));
        out.clear();
        assert!(split(&d, &mut out).unwrap());
        assert_eq!(out.len(), 2);
        let err = nlmsg(libc::NLMSG_ERROR as u16, &(-libc::ENOENT).to_ne_bytes());
        let e = split(&err, &mut out).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn request_asks_for_tcp_listeners_only() {
        let r = request(libc::AF_INET as u8);
        assert_eq!(
            u32::from_ne_bytes(r[0..4].try_into().unwrap()) as usize,
            r.len()
        );
        assert_eq!(r[NLMSG_HDR + 1], libc::IPPROTO_TCP as u8);
        let states = u32::from_ne_bytes(r[NLMSG_HDR + 4..NLMSG_HDR + 8].try_into().unwrap());
        assert_eq!(states, 1 << 10);
    }
}
