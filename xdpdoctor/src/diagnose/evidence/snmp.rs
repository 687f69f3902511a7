//! The kernel's MIB counters the window compares, of the calling thread's namespace: checksum
//! drops (`Tcp: InCsumErrors`, IPv4 and IPv6 together since TCP has one MIB; `Udp:
//! InCsumErrors` and `Udp6InCsumErrors`) and reverse-path drops (`TcpExt:
//! IPReversePathFilter`, counted by `ip_rcv_finish_core` on every -EXDEV from the source
//! check). Read from `/proc/thread-self/net/...`: `/proc/net/...` follows the thread-group
//! leader's namespace, not the thread's.

use crate::netns::Netns;
use crate::{Error, Result};

/// The counters of one namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mib {
    /// `Tcp: InCsumErrors` (IPv4 and IPv6 segments).
    pub tcp_csum: u64,
    /// `Udp: InCsumErrors` + `Udp6InCsumErrors`.
    pub udp_csum: u64,
    /// `TcpExt: IPReversePathFilter`; None on a kernel without it.
    pub rp_filter: Option<u64>,
}

/// The value of `field` in the `prefix:` header/value line pair of an snmp or netstat file.
pub fn parse_pair(text: &str, prefix: &str, field: &str) -> Option<u64> {
    let tag = format!("{prefix}:");
    let mut lines = text
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(&tag));
    let names: Vec<&str> = lines.next()?.split_whitespace().collect();
    let vals: Vec<&str> = lines.next()?.split_whitespace().collect();
    let i = names.iter().position(|n| *n == field)?;
    vals.get(i)?.parse().ok()
}

/// Parses the `Tcp:` header/value pair of an snmp file and returns `InCsumErrors`.
pub fn parse_in_csum_errors(text: &str) -> Option<u64> {
    parse_pair(text, "Tcp", "InCsumErrors")
}

/// The value of `name` in an snmp6 file (one `Name value` per line).
pub fn parse_snmp6(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == name).then(|| it.next()?.parse().ok())?
    })
}

fn read(p: &str) -> Result<String> {
    std::fs::read_to_string(p).map_err(|e| Error::io("read", p, e))
}

/// The counters of the calling thread's namespace.
fn mib_here() -> Result<Mib> {
    let p = "/proc/thread-self/net/snmp";
    let snmp = read(p)?;
    let tcp_csum =
        parse_in_csum_errors(&snmp).ok_or_else(|| Error::unexpected(p, "no Tcp InCsumErrors"))?;
    let udp4 = parse_pair(&snmp, "Udp", "InCsumErrors").unwrap_or(0);
    // No IPv6 (ipv6.disable=1): no snmp6 file, and no IPv6 UDP to count.
    let udp6 = read("/proc/thread-self/net/snmp6")
        .ok()
        .and_then(|t| parse_snmp6(&t, "Udp6InCsumErrors"))
        .unwrap_or(0);
    let rp_filter = read("/proc/thread-self/net/netstat")
        .ok()
        .and_then(|t| parse_pair(&t, "TcpExt", "IPReversePathFilter"));
    Ok(Mib {
        tcp_csum,
        udp_csum: udp4 + udp6,
        rp_filter,
    })
}

/// The counters of `ns`.
pub fn mib(ns: &Netns) -> Result<Mib> {
    ns.run(mib_here)
}

/// `TcpInCsumErrors` in `ns`.
pub fn in_csum_errors(ns: &Netns) -> Result<u64> {
    mib(ns).map(|m| m.tcp_csum)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_in_csum_errors() {
        let s = "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin InCsumErrors OutRsts\nTcp: 1 200 7 3\nUdp: InDatagrams InCsumErrors\nUdp: 5 2\nUdpLite: InDatagrams InCsumErrors\nUdpLite: 0 9\n";
        assert_eq!(super::parse_in_csum_errors(s), Some(7));
        assert_eq!(super::parse_pair(s, "Udp", "InCsumErrors"), Some(2));
        assert_eq!(super::parse_pair(s, "UdpLite", "InCsumErrors"), Some(9));
        let n = "TcpExt: SyncookiesSent IPReversePathFilter\nTcpExt: 0 12\nIpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(
            super::parse_pair(n, "TcpExt", "IPReversePathFilter"),
            Some(12)
        );
        let s6 = "Ip6InReceives                   \t9\nUdp6InCsumErrors                \t3\nUdpLite6InCsumErrors 1\n";
        assert_eq!(super::parse_snmp6(s6, "Udp6InCsumErrors"), Some(3));
        assert_eq!(super::parse_snmp6(s6, "Nope"), None);
    }
}
