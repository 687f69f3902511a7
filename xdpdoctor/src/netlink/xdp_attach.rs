//! The kernel's own words for a refused XDP attach. A bpf_link attach (what aya uses) reports
//! only an errno: the kernel's extended-ack message ("veth: Peer MTU is too large to set
//! XDP", "mtu greater than device maximum") goes to a tracepoint, not to the caller. The same
//! attach through rtnetlink (`RTM_SETLINK` with `IFLA_XDP`, `NETLINK_EXT_ACK` on) runs the
//! same driver checks and returns the message in `NLMSGERR_ATTR_MSG`. So, after a failed
//! link attach, [`refusal_message`] asks once more that way, with
//! `XDP_FLAGS_UPDATE_IF_NOEXIST` so it never replaces anyone's program, and detaches again in
//! the unlikely case the kernel accepts this time. Acts on the calling thread's namespace.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::{Error, Result};

const NETLINK_EXT_ACK: libc::c_int = 11;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_FLAGS: u16 = 3;
const NLA_F_NESTED: u16 = 0x8000;
/// `XDP_FLAGS_UPDATE_IF_NOEXIST`: fail rather than replace an attached program.
const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1;

/// XDP attach mode flags (`XDP_FLAGS_SKB_MODE` / `XDP_FLAGS_DRV_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Generic (skb) XDP.
    Skb = 2,
    /// Native (driver) XDP.
    Driver = 4,
}

fn attr(buf: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len().div_ceil(4) * 4, 0);
}

/// An `RTM_SETLINK` request setting `IFLA_XDP { FD = fd, FLAGS = flags }` on `ifindex`.
fn setlink_xdp(ifindex: u32, fd: i32, flags: u32) -> Vec<u8> {
    let mut xdp = Vec::new();
    attr(&mut xdp, IFLA_XDP_FD, &fd.to_ne_bytes());
    attr(&mut xdp, IFLA_XDP_FLAGS, &flags.to_ne_bytes());
    let mut body = Vec::new();
    // struct ifinfomsg: family, pad, type, index, flags, change.
    body.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    body.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    body.extend_from_slice(&[0u8; 8]);
    attr(&mut body, IFLA_XDP | NLA_F_NESTED, &xdp);
    let mut msg = Vec::new();
    let len = 16 + body.len();
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&libc::RTM_SETLINK.to_ne_bytes());
    msg.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // pid
    msg.extend_from_slice(&body);
    msg
}

/// The answer to a request: the errno (0: accepted) and the extack message, if any.
pub fn parse_ack(b: &[u8]) -> Option<(i32, Option<String>)> {
    let u16_at = |o: usize| Some(u16::from_ne_bytes(b.get(o..o + 2)?.try_into().ok()?));
    let len = u32::from_ne_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    if u16_at(4)? != libc::NLMSG_ERROR as u16 || len > b.len() {
        return None;
    }
    let flags = u16_at(6)?;
    let err = i32::from_ne_bytes(b.get(16..20)?.try_into().ok()?);
    // struct nlmsgerr: error, then the request's header (capped: NETLINK_CAP_ACK).
    let mut at = 16 + 4 + 16;
    let mut msg = None;
    if flags & NLM_F_ACK_TLVS != 0 {
        while at + 4 <= len {
            let alen = usize::from(u16_at(at)?);
            let ty = u16_at(at + 2)? & 0x3fff;
            if alen < 4 || at + alen > len {
                break;
            }
            if ty == NLMSGERR_ATTR_MSG {
                let s = &b[at + 4..at + alen];
                let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
                msg = Some(String::from_utf8_lossy(s).into_owned());
            }
            at += alen.div_ceil(4) * 4;
        }
    }
    Some((-err, msg))
}

fn request(sock: &OwnedFd, msg: &[u8]) -> Result<(i32, Option<String>)> {
    let e =
        |what: &'static str| Error::io(what, "rtnetlink socket", std::io::Error::last_os_error());
    // SAFETY: sending a buffer we own on a socket we own.
    if unsafe { libc::send(sock.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) } < 0 {
        return Err(e("send"));
    }
    let mut buf = vec![0u8; 8192];
    // SAFETY: receiving into a buffer we own, of its length.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(e("recv"));
    }
    parse_ack(&buf[..n as usize])
        .ok_or_else(|| Error::unexpected("rtnetlink answer", "not an ack of RTM_SETLINK"))
}

/// Why the kernel refuses to attach the program `prog` to `ifindex` in `mode`, in its own
/// words (`None`: it gave none, or it accepted the netlink attach, which is then undone).
pub fn refusal_message(ifindex: u32, prog: BorrowedFd<'_>, mode: Mode) -> Result<Option<String>> {
    // SAFETY: plain socket(2); the fd is owned right away.
    let raw = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(Error::io(
            "open",
            "rtnetlink socket",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: raw is a new fd nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with an int we own.
        unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_NETLINK,
                opt,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
    }
    let flags = mode as u32;
    let (err, msg) = request(
        &sock,
        &setlink_xdp(
            ifindex,
            prog.as_raw_fd(),
            flags | XDP_FLAGS_UPDATE_IF_NOEXIST,
        ),
    )?;
    if err == 0 {
        // Accepted this way: take it off again (fd -1 in the same mode detaches).
        log::warn!("ifindex {ifindex}: the netlink attach was accepted; detaching it again");
        request(&sock, &setlink_xdp(ifindex, -1, flags))?;
        return Ok(None);
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout_and_ack_parsing() {
        let m = setlink_xdp(7, 9, 4 | 1);
        // header 16 + ifinfomsg 16 + IFLA_XDP (4 + FD 8 + FLAGS 8)
        assert_eq!(m.len(), 16 + 16 + 20);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(i32::from_ne_bytes(m[20..24].try_into().unwrap()), 7);
        assert_eq!(
            u16::from_ne_bytes(m[34..36].try_into().unwrap()),
            43 | 0x8000
        );

        // An error ack with the message attribute, as the kernel sends it (capped).
        let text = b"veth: Peer MTU is too large to set XDP\0";
        let alen = 4 + text.len();
        let total = 16 + 4 + 16 + alen.div_ceil(4) * 4;
        let mut a = Vec::new();
        a.extend_from_slice(&(total as u32).to_ne_bytes());
        a.extend_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        a.extend_from_slice(&(0x100u16 | NLM_F_ACK_TLVS).to_ne_bytes());
        a.extend_from_slice(&[0; 8]);
        a.extend_from_slice(&(-libc::ERANGE).to_ne_bytes());
        a.extend_from_slice(&m[..16]);
        a.extend_from_slice(&(alen as u16).to_ne_bytes());
        a.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        a.extend_from_slice(text);
        a.resize(total, 0);
        assert_eq!(
            parse_ack(&a),
            Some((
                libc::ERANGE,
                Some("veth: Peer MTU is too large to set XDP".into())
            ))
        );
        assert_eq!(parse_ack(&m), None, "a request is no ack");
    }
}
