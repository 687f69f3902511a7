//! The TCP sockets listening in the calling thread's namespace, from
//! `/proc/thread-self/net/tcp` and `tcp6` (`/proc/net` follows the thread-group leader's
//! namespace, not the thread's). Used to tell a NAT target whose port nothing listens on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// `TCP_LISTEN` in the `st` column.
const LISTEN: &str = "0A";

/// Every listening TCP socket of this thread's namespace.
pub fn listening() -> Result<Vec<Listener>> {
    let mut out = Vec::new();
    for (file, v6) in [("tcp", false), ("tcp6", true)] {
        let p = format!("/proc/thread-self/net/{file}");
        match std::fs::read_to_string(&p) {
            Ok(text) => out.extend(parse(&text, v6)),
            // No IPv6 in this kernel: nothing listens on it.
            Err(e) if v6 && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read", p, e)),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Parses a `/proc/net/tcp` (or `tcp6`) table: the listeners.
pub fn parse(text: &str, v6: bool) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let local = cols.nth(1)?;
            let state = cols.nth(1)?;
            if state != LISTEN {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let addr = if v6 {
                IpAddr::V6(hex_v6(addr)?)
            } else {
                IpAddr::V4(Ipv4Addr::from(
                    u32::from_str_radix(addr, 16).ok()?.to_le_bytes(),
                ))
            };
            Some(Listener { addr, port })
        })
        .collect()
}

/// The kernel prints an IPv6 address as four native-endian (little) 32-bit words in hex.
fn hex_v6(s: &str) -> Option<Ipv6Addr> {
    if s.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for w in 0..4 {
        let word = u32::from_str_radix(&s[w * 8..w * 8 + 8], 16).ok()?;
        b[w * 4..w * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    Some(Ipv6Addr::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listeners_of_both_tables() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0101010A:0050 0201010A:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
";
        let l = parse(v4, false);
        assert_eq!(l.len(), 2, "{l:?}");
        assert!(l[0].accepts("10.123.1.1".parse().unwrap(), 80));
        assert!(!l[1].accepts("10.123.1.1".parse().unwrap(), 8080));
        assert!(l[1].accepts("127.0.0.1".parse().unwrap(), 8080));
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0
";
        let l = parse(v6, true);
        assert_eq!(l.len(), 1);
        assert!(l[0].accepts("10.0.0.1".parse().unwrap(), 22));
    }
}
