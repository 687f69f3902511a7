//! IPv4 and IPv6 addresses with their prefix length as scenario files write them
//! (`10.123.1.254/24`, `fd00:10::1/64`): parsed when the file is read, written back the same way.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// An IPv4 address with its prefix length, written "a.b.c.d/len".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    /// The address.
    pub addr: Ipv4Addr,
    /// The prefix length (0..=32).
    pub prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("\"{s}\" is not a.b.c.d/len"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("\"{a}\" is not an IPv4 address"))?;
        let prefix: u8 = l
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("bad prefix length \"{l}\""))?;
        Ok(Cidr { addr, prefix })
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        format!("{}/{}", c.addr, c.prefix)
    }
}

/// An IPv6 address with its prefix length, written "x:y::z/len".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr6 {
    /// The address.
    pub addr: Ipv6Addr,
    /// The prefix length (0..=128).
    pub prefix: u8,
}

impl TryFrom<String> for Cidr6 {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| format!("\"{s}\" is not x:y::z/len"))?;
        let addr: Ipv6Addr = a
            .parse()
            .map_err(|_| format!("\"{a}\" is not an IPv6 address"))?;
        let prefix: u8 = l
            .parse()
            .ok()
            .filter(|l| *l <= 128)
            .ok_or_else(|| format!("bad prefix length \"{l}\""))?;
        Ok(Cidr6 { addr, prefix })
    }
}

impl From<Cidr6> for String {
    fn from(c: Cidr6) -> String {
        format!("{}/{}", c.addr, c.prefix)
    }
}
