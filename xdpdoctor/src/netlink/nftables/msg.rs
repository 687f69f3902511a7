//! The nf_tables wire format (linux/netfilter/nfnetlink.h, nf_tables.h): netlink attributes
//! (big-endian numbers inside, as nf_tables wants them), messages with their `nfgenmsg`,
//! attribute parsing, and the `NETLINK_NETFILTER` socket that sends a batch (one
//! transaction, acked message by message) or a dump (answered in parts until `NLMSG_DONE`).

use std::os::fd::AsRawFd;
use std::time::Duration;

use rtnetlink::sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use crate::{Error, Result};

// nfnetlink / nf_tables UAPI.
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
pub const NFNL_MSG_BATCH_END: u16 = 0x11;
pub const NFT_MSG_NEWTABLE: u16 = 0;
pub const NFT_MSG_GETTABLE: u16 = 1;
pub const NFT_MSG_NEWCHAIN: u16 = 3;
pub const NFT_MSG_GETCHAIN: u16 = 4;
pub const NFT_MSG_NEWRULE: u16 = 6;
pub const NFT_MSG_GETRULE: u16 = 7;
pub const NFT_MSG_DELRULE: u16 = 8;
pub const NFPROTO_UNSPEC: u8 = 0;
pub const NFPROTO_INET: u8 = 1;
pub const NFPROTO_IPV4: u8 = 2;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// `(subsystem << 8) | message`: an nf_tables message type.
pub fn nft(m: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | m
}

/// A NUL-terminated string attribute's payload.
pub fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// A netlink attribute (header, payload, padding to 4 bytes).
pub fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(4 + payload.len() + 3);
    a.extend(((4 + payload.len()) as u16).to_ne_bytes());
    a.extend(ty.to_ne_bytes());
    a.extend(payload);
    a.resize((a.len() + 3) & !3, 0);
    a
}

/// A nested attribute.
pub fn nested(ty: u16, inner: &[u8]) -> Vec<u8> {
    attr(ty | NLA_F_NESTED, inner)
}

/// A 32-bit attribute: nf_tables numbers are big-endian.
pub fn u32_attr(ty: u16, v: u32) -> Vec<u8> {
    attr(ty, &v.to_be_bytes())
}

/// A 64-bit (big-endian) attribute: rule handles and positions.
pub fn u64_attr(ty: u16, v: u64) -> Vec<u8> {
    attr(ty, &v.to_be_bytes())
}

/// `nlmsghdr` + `nfgenmsg` (version 0, res_id = the nf_tables subsystem) + attributes.
pub fn message(ty: u16, flags: u16, seq: u32, family: u8, attrs: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(20 + attrs.len());
    m.extend(((20 + attrs.len()) as u32).to_ne_bytes());
    m.extend(ty.to_ne_bytes());
    m.extend(flags.to_ne_bytes());
    m.extend(seq.to_ne_bytes());
    m.extend(0u32.to_ne_bytes());
    m.extend([family, 0]);
    m.extend(NFNL_SUBSYS_NFTABLES.to_be_bytes());
    m.extend(attrs);
    m
}

/// One message of an answer: type, flags, sequence number, the `nfgenmsg` family, and the
/// attribute bytes (for `NLMSG_ERROR`, the errno as a positive number in `errno`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// `nlmsg_type`.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nfgen_family`.
    pub family: u8,
    /// The attributes after the `nfgenmsg`.
    pub attrs: Vec<u8>,
    /// For `NLMSG_ERROR`: the error (positive), 0 for an ack.
    pub errno: i32,
}

/// Every message in `buf`.
pub fn parse_messages(buf: &[u8]) -> Vec<Msg> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let u32_at = |o: usize| u32::from_ne_bytes(buf[o..o + 4].try_into().unwrap_or([0; 4]));
        let len = u32_at(off) as usize;
        if len < 16 || off + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        let flags = u16::from_ne_bytes([buf[off + 6], buf[off + 7]]);
        let seq = u32_at(off + 8);
        let (errno, family, attrs) = if ty == NLMSG_ERROR && len >= 20 {
            (-(u32_at(off + 16) as i32), 0, Vec::new())
        } else if len >= 20 {
            (0, buf[off + 16], buf[off + 20..off + len].to_vec())
        } else {
            (0, 0, Vec::new())
        };
        out.push(Msg {
            ty,
            flags,
            seq,
            family,
            attrs,
            errno,
        });
        off += (len + 3) & !3;
    }
    out
}

/// The attributes in `b`: (type without the nested flag, payload).
pub fn attrs(b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 4 <= b.len() {
        let len = u16::from_ne_bytes([b[off], b[off + 1]]) as usize;
        let ty = u16::from_ne_bytes([b[off + 2], b[off + 3]]) & NLA_TYPE_MASK;
        if len < 4 || off + len > b.len() {
            break;
        }
        out.push((ty, &b[off + 4..off + len]));
        off += (len + 3) & !3;
    }
    out
}

/// The payload of attribute `ty` in `b`.
pub fn find(b: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(b).into_iter().find(|(t, _)| *t == ty).map(|(_, p)| p)
}

/// A string payload (up to its NUL).
pub fn str_of(p: &[u8]) -> String {
    let end = p.iter().position(|b| *b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(&p[..end]).into_owned()
}

/// A big-endian u32 payload.
pub fn be32(p: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(p.get(..4)?.try_into().ok()?))
}

/// A big-endian u64 payload.
pub fn be64(p: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(p.get(..8)?.try_into().ok()?))
}

/// A `NETLINK_NETFILTER` socket in the calling thread's namespace.
pub struct NfSock {
    sock: Socket,
    what: String,
}

impl NfSock {
    /// Opens and binds it; `what` names the work in errors.
    pub fn open(what: &str) -> Result<Self> {
        let mut sock = Socket::new(NETLINK_NETFILTER)
            .map_err(|e| sys("socket(NETLINK_NETFILTER)", what, e))?;
        sock.bind_auto()
            .map_err(|e| sys("bind netlink socket", what, e))?;
        let tv = libc::timeval {
            tv_sec: Duration::from_secs(5).as_secs() as _,
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
            return Err(Error::last_os("setsockopt SO_RCVTIMEO", what));
        }
        Ok(NfSock {
            sock,
            what: what.to_string(),
        })
    }

    /// Sends `bytes`.
    pub fn send(&self, bytes: &[u8]) -> Result<()> {
        self.sock
            .send_to(bytes, &SocketAddr::new(0, 0), 0)
            .map(drop)
            .map_err(|e| sys("send nf_tables message", &self.what, e))
    }

    /// Sends a batch and waits until every message in `acked` is acked: Ok, or the first
    /// errno the kernel answered (positive); EAGAIN after the kernel loaded a module for it
    /// (as nft does, the caller sends it again). Messages the kernel echoes (`NLM_F_ECHO`)
    /// are returned.
    pub fn batch(&mut self, b: &Batch) -> std::result::Result<Vec<Msg>, i32> {
        self.send(&b.bytes)
            .map_err(|e| e.errno().unwrap_or(libc::EIO))?;
        let mut pending = b.acked.clone();
        let mut echoed = Vec::new();
        while !pending.is_empty() {
            let (buf, _) = self.sock.recv_from_full().map_err(|e| {
                log::debug!("{}: receiving nf_tables acks: {e}", self.what);
                e.raw_os_error().unwrap_or(libc::EIO)
            })?;
            for m in parse_messages(&buf) {
                if m.ty != NLMSG_ERROR {
                    echoed.push(m);
                    continue;
                }
                if m.errno != 0 {
                    return Err(m.errno);
                }
                pending.retain(|s| *s != m.seq);
            }
        }
        Ok(echoed)
    }

    /// Sends a dump request of message `ty` (all families) and returns every answer.
    pub fn dump(&mut self, ty: u16, seq: u32) -> Result<Vec<Msg>> {
        self.send(&message(
            nft(ty),
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            NFPROTO_UNSPEC,
            &[],
        ))?;
        let mut out = Vec::new();
        loop {
            let (buf, _) = self
                .sock
                .recv_from_full()
                .map_err(|e| sys("read nf_tables dump", &self.what, e))?;
            for m in parse_messages(&buf) {
                match m.ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR if m.errno != 0 => {
                        return Err(Error::netlink(
                            "nf_tables dump",
                            self.what.clone(),
                            std::io::Error::from_raw_os_error(m.errno),
                        ))
                    }
                    NLMSG_ERROR => return Ok(out),
                    _ => out.push(m),
                }
            }
        }
    }

    /// Sends `b` until the kernel stops asking for it again (EAGAIN after loading modules),
    /// then returns its echoes, or the kernel's refusal as an error naming `what`.
    pub fn transact(&mut self, b: &Batch, what: &str) -> Result<Vec<Msg>> {
        let mut tries = 0;
        loop {
            match self.batch(b) {
                Err(e) if e == libc::EAGAIN && tries < 5 => tries += 1,
                Err(e) => {
                    return Err(Error::netlink(
                        "nf_tables batch",
                        what.to_string(),
                        std::io::Error::from_raw_os_error(e),
                    ))
                }
                Ok(echo) => return Ok(echo),
            }
        }
    }
}

fn sys(op: &'static str, target: &str, source: std::io::Error) -> Error {
    Error::Sys {
        op,
        target: target.to_string(),
        source,
    }
}

/// The bytes of one batch (`BATCH_BEGIN` .. `BATCH_END`, one transaction) and the sequence
/// numbers the kernel acks.
#[derive(Debug, Default)]
pub struct Batch {
    /// The messages.
    pub bytes: Vec<u8>,
    /// Sequence numbers of the messages sent with `NLM_F_ACK`.
    pub acked: Vec<u32>,
    next: u32,
}

impl Batch {
    /// A batch whose first message (`BATCH_BEGIN`) gets sequence number `seq`.
    pub fn begin(seq: u32) -> Self {
        let mut b = Batch {
            next: seq,
            ..Default::default()
        };
        b.push(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, NFPROTO_UNSPEC, &[]);
        b
    }

    /// Appends one message.
    pub fn push(&mut self, ty: u16, flags: u16, family: u8, attrs: &[u8]) {
        self.bytes
            .extend(message(ty, flags, self.next, family, attrs));
        if flags & NLM_F_ACK != 0 {
            self.acked.push(self.next);
        }
        self.next += 1;
    }

    /// Closes the batch (`BATCH_END`).
    pub fn end(mut self) -> Self {
        self.push(NFNL_MSG_BATCH_END, NLM_F_REQUEST, NFPROTO_UNSPEC, &[]);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested_flagged() {
        assert_eq!(attr(1, b"ab"), vec![6, 0, 1, 0, b'a', b'b', 0, 0]);
        let n = nested(4, &attr(1, &[]));
        assert_eq!(u16::from_ne_bytes([n[2], n[3]]), 4 | NLA_F_NESTED);
        assert_eq!(u32_attr(2, 1)[4..], [0, 0, 0, 1], "big-endian");
        assert_eq!(u32_attr(2, -100i32 as u32)[4..], (-100i32).to_be_bytes());
        // Parsed back, the nested flag is masked off.
        let mut b = nested(4, &u32_attr(1, 7));
        b.extend(attr(3, &cstr("x")));
        let a = attrs(&b);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].0, 4);
        assert_eq!(be32(find(a[0].1, 1).unwrap()), Some(7));
        assert_eq!(str_of(find(&b, 3).unwrap()), "x");
    }

    #[test]
    fn kernel_errors_are_read_from_nlmsgerr() {
        let mut m = message(NLMSG_ERROR, 0, 9, 0, &[]);
        m.truncate(16);
        m.extend((-libc::EAGAIN).to_ne_bytes());
        m.extend([0u8; 16]);
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        let p = parse_messages(&m);
        assert_eq!(
            (p[0].ty, p[0].seq, p[0].errno),
            (NLMSG_ERROR, 9, libc::EAGAIN)
        );
    }

    #[test]
    fn a_batch_acks_what_it_asks_to() {
        let mut b = Batch::begin(7);
        b.push(
            nft(NFT_MSG_NEWRULE),
            NLM_F_REQUEST | NLM_F_ACK,
            NFPROTO_IPV4,
            &[],
        );
        let b = b.end();
        let m = parse_messages(&b.bytes);
        assert_eq!(
            m.iter().map(|m| (m.ty, m.seq)).collect::<Vec<_>>(),
            [
                (NFNL_MSG_BATCH_BEGIN, 7),
                (nft(NFT_MSG_NEWRULE), 8),
                (NFNL_MSG_BATCH_END, 9)
            ]
        );
        assert_eq!(b.acked, [8]);
        assert_eq!(m[1].family, NFPROTO_IPV4);
    }
}
