//! `TcpInCsumErrors` of the calling thread's namespace. Read from `/proc/thread-self/net/snmp`:
//! `/proc/net/snmp` follows the thread-group leader's namespace, not the thread's.

use crate::netns::Netns;
use crate::{Error, Result};

/// Parses the `Tcp:` header/value pair of an snmp file and returns `InCsumErrors`.
pub fn parse_in_csum_errors(text: &str) -> Option<u64> {
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let names: Vec<&str> = tcp.next()?.split_whitespace().collect();
    let vals: Vec<&str> = tcp.next()?.split_whitespace().collect();
    let i = names.iter().position(|n| *n == "InCsumErrors")?;
    vals.get(i)?.parse().ok()
}

/// `TcpInCsumErrors` in `ns`.
pub fn in_csum_errors(ns: &Netns) -> Result<u64> {
    ns.run(|| {
        let p = "/proc/thread-self/net/snmp";
        let s = std::fs::read_to_string(p).map_err(|e| Error::io("read", p, e))?;
        parse_in_csum_errors(&s).ok_or_else(|| Error::unexpected(p, "no Tcp InCsumErrors"))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_in_csum_errors() {
        let s = "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin InCsumErrors OutRsts\nTcp: 1 200 7 3\n";
        assert_eq!(super::parse_in_csum_errors(s), Some(7));
    }
}
