//! The records of the state before a change that several fixes share, as the journal keeps
//! them: `{"was": "flag", "on": true}`, `{"was": "absent"}`, `{"was": "value", ...}`. Each
//! is an enum of the records its fixes can write, so a journal entry of one shape is never
//! read as another.

use std::net::SocketAddrV4;

use serde::{Deserialize, Serialize};

/// A feature or flag had this value (ethtool features, the forwarder's `full_checksum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", rename_all = "kebab-case")]
pub enum Flag {
    /// The value.
    Flag {
        /// On or off.
        on: bool,
    },
}

/// The thing (address, map entry) did not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", rename_all = "kebab-case")]
pub enum Absent {
    /// Nothing was there.
    Absent,
}

/// A sysctl had this text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", rename_all = "kebab-case")]
pub enum Text {
    /// The text, as read.
    Value {
        /// The text.
        value: String,
    },
}

/// A NAT map entry held this value, or did not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", rename_all = "kebab-case")]
pub enum Endpoint {
    /// No entry.
    Absent,
    /// The entry's value (`ADDR:PORT`).
    Value {
        /// The endpoint.
        value: SocketAddrV4,
    },
}

impl From<Option<SocketAddrV4>> for Endpoint {
    fn from(v: Option<SocketAddrV4>) -> Self {
        match v {
            Some(value) => Endpoint::Value { value },
            None => Endpoint::Absent,
        }
    }
}

impl Endpoint {
    /// The value, if there was one.
    pub fn value(self) -> Option<SocketAddrV4> {
        match self {
            Endpoint::Value { value } => Some(value),
            Endpoint::Absent => None,
        }
    }
}
