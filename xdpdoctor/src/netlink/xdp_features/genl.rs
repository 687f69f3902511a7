//! The generic netlink wire format and socket, as far as `netdev` needs it: `nlmsghdr` +
//! `genlmsghdr` + attributes built and parsed by hand (pure functions, unit-tested), one
//! request/reply exchange over a synchronous `netlink-sys` socket, and nlctrl
//! `CTRL_CMD_GETFAMILY` to turn a family name into its id. Kept apart from the `netdev`
//! specifics so the byte layout can be read (and tested) on its own.

use std::{os::fd::AsRawFd, time::Duration};

use rtnetlink::sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

use crate::{Error, Result};

pub(super) const NLMSG_HDRLEN: usize = 16;
pub(super) const GENL_HDRLEN: usize = 4;
const NLA_HDRLEN: usize = 4;
pub(super) const NLMSG_ERROR: u16 = 2;
pub(super) const NLMSG_DONE: u16 = 3;
pub(super) const NLM_F_REQUEST: u16 = 0x1;
pub(super) const NLM_F_ACK: u16 = 0x4;
pub(super) const NLM_F_DUMP: u16 = 0x300;
const NLA_TYPE_MASK: u16 = 0x3fff;

pub(super) const GENL_ID_CTRL: u16 = 0x10;
pub(super) const CTRL_CMD_GETFAMILY: u8 = 3;
pub(super) const CTRL_ATTR_FAMILY_ID: u16 = 1;
pub(super) const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// `netdev` is version 1; nlctrl accepts any version.
const GENL_VERSION: u8 = 1;

const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound `NETLINK_GENERIC` socket with its own sequence numbers.
pub(super) struct GenlSocket {
    sock: Socket,
    seq: u32,
}

impl GenlSocket {
    /// Opens and binds a socket in the calling thread's namespace, with a receive timeout.
    /// `target` names what it is for in errors.
    pub(super) fn open(target: &str) -> Result<Self> {
        let mut sock = Socket::new(NETLINK_GENERIC)
            .map_err(|e| sys_err("socket(NETLINK_GENERIC)", target, e))?;
        sock.bind_auto()
            .map_err(|e| sys_err("bind netlink socket", target, e))?;
        let tv = libc::timeval {
            tv_sec: RECV_TIMEOUT.as_secs() as _,
            tv_usec: 0,
        };
        // SAFETY: valid fd and a timeval of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(Error::last_os("setsockopt SO_RCVTIMEO", target));
        }
        Ok(GenlSocket { sock, seq: 0 })
    }

    /// The id of generic netlink family `name` (nlctrl `CTRL_CMD_GETFAMILY`); `None` if the
    /// kernel has no such family (ENOENT).
    pub(super) fn family_id(&mut self, name: &str) -> Result<Option<u16>> {
        let name_z = nul_terminated(name);
        let attrs = [(CTRL_ATTR_FAMILY_NAME, name_z.as_slice())];
        let replies = match self.transact(
            "nlctrl CTRL_CMD_GETFAMILY",
            name,
            (GENL_ID_CTRL, NLM_F_ACK, CTRL_CMD_GETFAMILY),
            &attrs,
        ) {
            Ok(r) => r,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        };
        replies
            .iter()
            .find_map(|p| family_id(p))
            .map(Some)
            .ok_or_else(|| Error::netlink("CTRL_CMD_GETFAMILY", name, "reply has no family id"))
    }

    /// Sends one request and collects the generic netlink payloads (after `genlmsghdr`) of
    /// the replies, until the ack, `NLMSG_DONE` or an error.
    pub(super) fn transact(
        &mut self,
        op: &'static str,
        target: &str,
        (family, flags, cmd): (u16, u16, u8),
        attrs: &[(u16, &[u8])],
    ) -> Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let req = genl_request(
            family,
            NLM_F_REQUEST | flags,
            self.seq,
            cmd,
            GENL_VERSION,
            attrs,
        );
        self.sock
            .send_to(&req, &SocketAddr::new(0, 0), 0)
            .map_err(|e| sys_err("send generic netlink request", target, e))?;
        let mut payloads = Vec::new();
        loop {
            let (buf, _) = self
                .sock
                .recv_from_full()
                .map_err(|e| sys_err("receive generic netlink reply", target, e))?;
            for msg in parse_messages(&buf)
                .map_err(|m| Error::netlink("parse reply", target.to_string(), m))?
            {
                if msg.seq != self.seq {
                    log::debug!(
                        "skipping netlink message with seq {} (want {})",
                        msg.seq,
                        self.seq
                    );
                    continue;
                }
                match msg.kind {
                    Reply::Data(p) => {
                        payloads.push(p.get(GENL_HDRLEN..).unwrap_or_default().to_vec())
                    }
                    Reply::Done | Reply::Error(0) => return Ok(payloads),
                    Reply::Error(errno) => {
                        let e = std::io::Error::from_raw_os_error(errno);
                        return Err(sys_err(op, target, e));
                    }
                }
            }
            if flags & (NLM_F_ACK | NLM_F_DUMP) == 0 && !payloads.is_empty() {
                return Ok(payloads);
            }
        }
    }
}

fn sys_err(op: &'static str, target: &str, source: std::io::Error) -> Error {
    Error::Sys {
        op,
        target: target.to_string(),
        source,
    }
}

// ---- message building and parsing (pure) ----

pub(super) fn align4(n: usize) -> usize {
    (n + 3) & !3
}

pub(super) fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// `nlmsghdr` + `genlmsghdr` + attributes, in host byte order, port id 0 (the kernel fills it).
pub(super) fn genl_request(
    family: u16,
    flags: u16,
    seq: u32,
    cmd: u8,
    version: u8,
    attrs: &[(u16, &[u8])],
) -> Vec<u8> {
    let mut buf = vec![0u8; NLMSG_HDRLEN];
    buf.extend_from_slice(&[cmd, version, 0, 0]);
    for (ty, payload) in attrs {
        buf.extend_from_slice(&((NLA_HDRLEN + payload.len()) as u16).to_ne_bytes());
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(payload);
        buf.resize(align4(buf.len()), 0);
    }
    let len = buf.len() as u32;
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    buf[4..6].copy_from_slice(&family.to_ne_bytes());
    buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    buf
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply<'a> {
    /// A data message's payload (starting with `genlmsghdr`).
    Data(&'a [u8]),
    Done,
    /// `NLMSG_ERROR`: 0 is an ack, otherwise a positive errno.
    Error(i32),
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Message<'a> {
    pub(super) seq: u32,
    pub(super) kind: Reply<'a>,
}

pub(super) fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}
pub(super) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}

/// Splits one datagram into netlink messages.
pub(super) fn parse_messages(mut buf: &[u8]) -> std::result::Result<Vec<Message<'_>>, String> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32_at(buf, 0) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(format!(
                "bad netlink message length {len} ({} bytes left)",
                buf.len()
            ));
        }
        let (ty, seq, payload) = (u16_at(buf, 4), u32_at(buf, 8), &buf[NLMSG_HDRLEN..len]);
        let kind = match ty {
            NLMSG_DONE => Reply::Done,
            NLMSG_ERROR => {
                if payload.len() < 4 {
                    return Err("truncated NLMSG_ERROR".into());
                }
                Reply::Error(-(u32_at(payload, 0) as i32))
            }
            _ => Reply::Data(payload),
        };
        out.push(Message { seq, kind });
        buf = &buf[align4(len).min(buf.len())..];
    }
    Ok(out)
}

/// Iterates `(type, payload)` over netlink attributes; stops at the first malformed one.
pub(super) fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < NLA_HDRLEN {
            return None;
        }
        let len = u16_at(buf, 0) as usize;
        if len < NLA_HDRLEN || len > buf.len() {
            return None;
        }
        let item = (u16_at(buf, 2) & NLA_TYPE_MASK, &buf[NLA_HDRLEN..len]);
        buf = &buf[align4(len).min(buf.len())..];
        Some(item)
    })
}

/// `CTRL_ATTR_FAMILY_ID` from a `CTRL_CMD_GETFAMILY` reply payload (after `genlmsghdr`).
pub(super) fn family_id(payload: &[u8]) -> Option<u16> {
    attrs(payload)
        .find(|(ty, p)| *ty == CTRL_ATTR_FAMILY_ID && p.len() == 2)
        .map(|(_, p)| u16_at(p, 0))
}
