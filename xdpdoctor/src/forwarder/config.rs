//! The forwarder's config file, in the seed's `config.json` shape:
//!
//! ```json
//! { "interfaces": { "external": ["eth0"], "internal": ["ve-m1"] },
//!   "entries": [ { "from": "192.168.9.1:8080", "to": "10.123.1.1:80" } ] }
//! ```
//!
//! Optional: `"full_checksum": bool` and `"fib_cache_ms": N` (next-hop cache lifetime,
//! 0..=10000, 0 = off; see docs/forwarder.md).
//!
//! Endpoints are `"a.b.c.d:port"` or `{"addr": "a.b.c.d", "port": N}`. Parsing walks the JSON
//! by hand so every error names the file, the field path (`entries[1].to`) and the value.
//! Checks that need the kernel (do the interfaces exist?) are in `validate_interfaces`, which
//! the deployer calls before it changes anything.
//!
//! Strict: an unknown key at any level is an error (a typo such as `"interal"` would
//! otherwise deploy without the SNAT side), and so is a key given twice (JSON parsers keep
//! the last one silently); ports are plain decimal digits; addresses that cannot be a NAT
//! endpoint (loopback, unspecified, multicast, broadcast, reserved) are refused; an entry
//! whose target is another entry's public endpoint (a loop) is refused; there may be at most
//! as many entries as the forwarder's maps hold ([`MAX_ENTRIES`]); and the file is read only
//! up to [`MAX_FILE_BYTES`].

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::bpf::forwarder_abi::MAX_ENTRIES;
use crate::{files, Error, Result};

/// Largest config file read: the one limit of every input file ([`files::READ_LIMIT`]; a
/// config with [`MAX_ENTRIES`] entries in the verbose `{addr, port}` form, pretty-printed,
/// is about 1 MiB).
pub const MAX_FILE_BYTES: u64 = files::READ_LIMIT;

/// Which side of the NAT an interface is on, and so which program it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Clients arrive here: DNAT (`xdp_fwd_external`).
    External,
    /// Containers reply from here: SNAT (`xdp_fwd_internal`).
    Internal,
}

impl Role {
    /// `external` / `internal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::External => "external",
            Role::Internal => "internal",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One NAT entry: connections to `from` are translated to `to` (DNAT), and replies from `to`
/// are translated back to `from` (SNAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Public endpoint clients connect to, on an external interface; replies leave with it as
    /// their source.
    pub from: SocketAddrV4,
    /// The target connections are translated to (a container's address and port).
    pub to: SocketAddrV4,
}

/// A validated forwarder configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwarderConfig {
    /// Interfaces clients arrive on (DNAT side, `xdp_fwd_external`); at least one.
    pub external: Vec<String>,
    /// Interfaces towards the containers (SNAT side, `xdp_fwd_internal`); empty: replies are not
    /// translated back.
    pub internal: Vec<String>,
    /// NAT entries in file order, at most [`MAX_ENTRIES`]; no `from` or `to` appears twice and no
    /// entry's `to` is another's `from`.
    pub entries: Vec<Entry>,
    /// Recompute TCP checksums fully instead of incrementally (fixes partial checksums).
    #[serde(default)]
    pub full_checksum: bool,
    /// Lifetime of the forwarder's per-CPU next-hop cache in ms (0 = off, the default).
    #[serde(default)]
    pub fib_cache_ms: u32,
}

/// Largest accepted `fib_cache_ms`: route and neighbour changes take effect after at most
/// this long.
pub const FIB_CACHE_MS_MAX: u32 = 10_000;

struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Config {
            file: self.file.to_path_buf(),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl ForwarderConfig {
    /// Reads and validates a config file (syntax and consistency; not the kernel state).
    /// Reads at most [`MAX_FILE_BYTES`] (so `--config /dev/zero` fails at once).
    pub fn load(path: &Path) -> Result<Self> {
        let text = files::read_to_string(path, MAX_FILE_BYTES)?;
        Self::parse(&text, path)
    }

    /// Parses config text; `file` is only used to name the source in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self> {
        let cx = Ctx { file };
        let root = strict_json(&cx, text)?;
        let obj = root
            .as_object()
            .ok_or_else(|| cx.err("(document)", "must be a JSON object"))?;
        only_keys(
            &cx,
            obj,
            "",
            &["interfaces", "entries", "full_checksum", "fib_cache_ms"],
        )?;
        let ifs = obj
            .get("interfaces")
            .and_then(Value::as_object)
            .ok_or_else(|| cx.err("interfaces", "missing or not an object"))?;
        only_keys(&cx, ifs, "interfaces", &["external", "internal"])?;
        let external = iface_list(&cx, ifs.get("external"), "interfaces.external")?;
        let internal = iface_list(&cx, ifs.get("internal"), "interfaces.internal")?;
        if external.is_empty() {
            return Err(cx.err("interfaces.external", "needs at least one interface"));
        }
        for (i, name) in internal.iter().enumerate() {
            if external.contains(name) {
                return Err(cx.err(
                    format!("interfaces.internal[{i}]"),
                    format!("\"{name}\" is also listed as external; an interface gets one program"),
                ));
            }
        }
        let entries_v = obj
            .get("entries")
            .and_then(Value::as_array)
            .ok_or_else(|| cx.err("entries", "missing or not an array"))?;
        if entries_v.len() > MAX_ENTRIES as usize {
            return Err(cx.err(
                "entries",
                format!(
                    "{} entries, but the forwarder's NAT maps hold at most {MAX_ENTRIES} (FWD_MAX_ENTRIES in forwarder-ebpf)",
                    entries_v.len()
                ),
            ));
        }
        let mut entries = Vec::new();
        let mut by_from: HashMap<SocketAddrV4, usize> = HashMap::new();
        let mut by_to: HashMap<SocketAddrV4, usize> = HashMap::new();
        for (i, e) in entries_v.iter().enumerate() {
            let field = format!("entries[{i}]");
            let eo = e
                .as_object()
                .ok_or_else(|| cx.err(&field, "must be an object with `from` and `to`"))?;
            only_keys(&cx, eo, &field, &["from", "to"])?;
            let from = endpoint(&cx, eo.get("from"), &format!("{field}.from"))?;
            let to = endpoint(&cx, eo.get("to"), &format!("{field}.to"))?;
            if from == to {
                return Err(cx.err(format!("{field}.to"), format!("\"{to}\" equals `from`")));
            }
            // A target that is another entry's public endpoint (or the reverse) would be
            // translated twice: DNAT to it, then DNAT again; replies likewise.
            if let Some(j) = by_from.get(&to) {
                return Err(cx.err(
                    format!("{field}.to"),
                    format!("\"{to}\" is the `from` of entries[{j}]: translated packets would be translated again (entries loop)"),
                ));
            }
            if let Some(j) = by_to.get(&from) {
                return Err(cx.err(
                    format!("{field}.from"),
                    format!("\"{from}\" is the `to` of entries[{j}]: translated packets would be translated again (entries loop)"),
                ));
            }
            if let Some(j) = by_from.insert(from, i) {
                return Err(cx.err(
                    format!("{field}.from"),
                    format!("\"{from}\" is already translated by entries[{j}] (duplicate or conflicting entry)"),
                ));
            }
            if let Some(j) = by_to.insert(to, i) {
                return Err(cx.err(
                    format!("{field}.to"),
                    format!("\"{to}\" is already the target of entries[{j}]: replies could not be translated back unambiguously"),
                ));
            }
            entries.push(Entry { from, to });
        }
        let full_checksum = match obj.get("full_checksum") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                return Err(cx.err("full_checksum", format!("expected true or false, got {v}")))
            }
        };
        let fib_cache_ms = match obj.get("fib_cache_ms") {
            None => 0,
            Some(v) => match v.as_u64() {
                Some(n) if n <= u64::from(FIB_CACHE_MS_MAX) => n as u32,
                _ => {
                    return Err(cx.err(
                        "fib_cache_ms",
                        format!(
                            "expected an integer 0..={FIB_CACHE_MS_MAX} (milliseconds; 0 = next-hop cache off), got {v}"
                        ),
                    ))
                }
            },
        };
        Ok(ForwarderConfig {
            external,
            internal,
            entries,
            full_checksum,
            fib_cache_ms,
        })
    }

    /// Checks that every interface exists in `existing` (names in the target namespace).
    pub fn validate_interfaces(&self, file: &Path, existing: &HashSet<String>) -> Result<()> {
        let cx = Ctx { file };
        for (list, key) in [(&self.external, "external"), (&self.internal, "internal")] {
            for (i, name) in list.iter().enumerate() {
                if !existing.contains(name) {
                    let mut known: Vec<_> = existing.iter().cloned().collect();
                    known.sort();
                    return Err(cx.err(
                        format!("interfaces.{key}[{i}]"),
                        format!(
                            "no interface \"{name}\" in the target namespace (it has: {})",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every interface the forwarder attaches to, external first.
    pub fn interfaces(&self) -> impl Iterator<Item = (&str, Role)> {
        self.external
            .iter()
            .map(|n| (n.as_str(), Role::External))
            .chain(self.internal.iter().map(|n| (n.as_str(), Role::Internal)))
    }

    /// The config in the seed's JSON shape (what `load` reads back).
    pub fn to_json(&self) -> String {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|e| serde_json::json!({"from": e.from.to_string(), "to": e.to.to_string()}))
            .collect();
        let mut v = serde_json::json!({
            "interfaces": {"external": self.external, "internal": self.internal},
            "entries": entries,
        });
        if self.full_checksum {
            v["full_checksum"] = Value::Bool(true);
        }
        if self.fib_cache_ms != 0 {
            v["fib_cache_ms"] = Value::from(self.fib_cache_ms);
        }
        serde_json::to_string_pretty(&v).expect("json") + "\n"
    }
}

fn iface_list(cx: &Ctx, v: Option<&Value>, field: &str) -> Result<Vec<String>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let arr = v
        .as_array()
        .ok_or_else(|| cx.err(field, "must be an array of interface names"))?;
    let mut out: Vec<String> = Vec::new();
    for (i, x) in arr.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let name = x
            .as_str()
            .ok_or_else(|| cx.err(&f, format!("expected an interface name, got {x}")))?;
        if let Some(why) = crate::netns::bad_ifname(name) {
            return Err(cx.err(
                &f,
                format!("\"{name}\" is not a valid interface name: {why}"),
            ));
        }
        if out.iter().any(|n| n == name) {
            return Err(cx.err(&f, format!("\"{name}\" is listed twice")));
        }
        out.push(name.to_string());
    }
    Ok(out)
}

fn endpoint(cx: &Ctx, v: Option<&Value>, field: &str) -> Result<SocketAddrV4> {
    match v {
        None => Err(cx.err(field, "missing")),
        Some(Value::String(s)) => {
            let (a, p) = s
                .rsplit_once(':')
                .ok_or_else(|| cx.err(field, format!("\"{s}\" is not \"a.b.c.d:port\"")))?;
            let addr = parse_addr(cx, a, field)?;
            // Plain decimal digits only: `str::parse` would also take "+80".
            let digits = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
            if !digits || (p.len() > 1 && p.starts_with('0')) {
                return Err(cx.err(
                    field,
                    format!("\"{s}\": port \"{p}\" is not a decimal number 1-65535 (digits only, no sign or leading zero)"),
                ));
            }
            let port: u64 = p.parse().expect("1-5 digits");
            Ok(SocketAddrV4::new(addr, check_port(cx, port, field)?))
        }
        Some(Value::Object(o)) => {
            only_keys(cx, o, field, &["addr", "port"])?;
            let a = o
                .get("addr")
                .and_then(Value::as_str)
                .ok_or_else(|| cx.err(format!("{field}.addr"), "missing or not a string"))?;
            let addr = parse_addr(cx, a, &format!("{field}.addr"))?;
            let port = o.get("port").and_then(Value::as_u64).ok_or_else(|| {
                cx.err(
                    format!("{field}.port"),
                    "missing or not a non-negative integer",
                )
            })?;
            Ok(SocketAddrV4::new(
                addr,
                check_port(cx, port, &format!("{field}.port"))?,
            ))
        }
        Some(other) => Err(cx.err(
            field,
            format!("expected \"a.b.c.d:port\" or {{addr, port}}, got {other}"),
        )),
    }
}

fn parse_addr(cx: &Ctx, a: &str, field: &str) -> Result<Ipv4Addr> {
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| cx.err(field, format!("\"{a}\" is not an IPv4 address")))?;
    let [first, ..] = addr.octets();
    let why = if addr.is_loopback() {
        Some("a loopback address: packets to it never leave the host")
    } else if first == 0 {
        Some("in 0.0.0.0/8 (\"this network\"): not an address packets are sent to")
    } else if addr.is_broadcast() {
        Some("the broadcast address")
    } else if addr.is_multicast() {
        Some("a multicast address")
    } else if first >= 240 {
        Some("in 240.0.0.0/4, reserved: the kernel does not route it")
    } else {
        None
    };
    match why {
        Some(why) => Err(cx.err(
            field,
            format!("{addr} is {why}; it cannot be a NAT endpoint"),
        )),
        None => Ok(addr),
    }
}

/// Refuses keys of `obj` (at field path `at`) not in `allowed`.
fn only_keys(
    cx: &Ctx,
    obj: &serde_json::Map<String, Value>,
    at: &str,
    allowed: &[&str],
) -> Result<()> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(cx.err(
                join(at, k),
                format!("unknown field \"{k}\" (expected {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// Parses JSON into a `Value`, refusing a key given twice in one object (`serde_json`
/// keeps the last one silently), and names where it is.
fn strict_json(cx: &Ctx, text: &str) -> Result<Value> {
    let dup = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = serde::de::DeserializeSeed::deserialize(
        Strict {
            path: String::new(),
            dup: &dup,
        },
        &mut de,
    )
    .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match dup.into_inner() {
        Some(field) => cx.err(
            field,
            format!(
                "given twice (line {} column {}); JSON parsers would keep only the last one",
                e.line(),
                e.column()
            ),
        ),
        None => cx.err(
            "(document)",
            format!(
                "not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        ),
    })
}

/// A `Value` builder that remembers its field path and fails on duplicate keys.
struct Strict<'a> {
    path: String,
    dup: &'a std::cell::RefCell<Option<String>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, v.len()),
            dup: self.dup,
        })? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let path = join(&self.path, &k);
            if obj.contains_key(&k) {
                *self.dup.borrow_mut() = Some(path.clone());
                return Err(serde::de::Error::custom(format!("duplicate key {path}")));
            }
            let v = map.next_value_seed(Strict {
                path,
                dup: self.dup,
            })?;
            obj.insert(k, v);
        }
        Ok(Value::Object(obj))
    }
}

fn check_port(cx: &Ctx, port: u64, field: &str) -> Result<u16> {
    match port {
        1..=65535 => Ok(port as u16),
        _ => Err(cx.err(field, format!("port {port} is out of range 1-65535"))),
    }
}

/// Where a config file given on the command line is resolved from, for messages.
pub fn display_path(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ForwarderConfig> {
        ForwarderConfig::parse(s, Path::new("cfg.json"))
    }

    fn err(s: &str) -> String {
        format!("{}", parse(s).unwrap_err())
    }

    const OK: &str = r#"{"interfaces":{"external":["eth0"],"internal":["ve-m1","ve-m2"]},
        "entries":[{"from":"192.168.9.1:8080","to":"10.123.1.1:80"},
                   {"from":{"addr":"192.168.9.1","port":8081},"to":{"addr":"10.123.2.1","port":80}}]}"#;

    #[test]
    fn parses_both_endpoint_forms() {
        let c = parse(OK).unwrap();
        assert_eq!(c.entries.len(), 2);
        assert_eq!(c.entries[1].from, "192.168.9.1:8081".parse().unwrap());
        assert_eq!(c.internal, vec!["ve-m1", "ve-m2"]);
        assert!(!c.full_checksum);
    }

    #[test]
    fn round_trips_through_to_json() {
        let c = parse(OK).unwrap();
        assert_eq!(parse(&c.to_json()).unwrap(), c);
    }

    #[test]
    fn bad_port_names_field_and_value() {
        let e = err(
            r#"{"interfaces":{"external":["eth0"]},"entries":[{"from":"1.2.3.4:70000","to":"10.0.0.1:80"}]}"#,
        );
        assert!(
            e.contains("cfg.json") && e.contains("entries[0].from") && e.contains("70000"),
            "{e}"
        );
    }

    #[test]
    fn bad_address_names_field_and_value() {
        let e = err(
            r#"{"interfaces":{"external":["eth0"]},"entries":[{"from":"1.2.3.4:80","to":{"addr":"10.0.0.300","port":80}}]}"#,
        );
        assert!(
            e.contains("entries[0].to.addr") && e.contains("10.0.0.300"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_from_is_rejected() {
        let e = err(r#"{"interfaces":{"external":["eth0"]},"entries":[
            {"from":"1.2.3.4:80","to":"10.0.0.1:80"},{"from":"1.2.3.4:80","to":"10.0.0.2:80"}]}"#);
        assert!(
            e.contains("entries[1].from") && e.contains("entries[0]"),
            "{e}"
        );
    }

    #[test]
    fn shared_target_is_a_conflict() {
        let e = err(r#"{"interfaces":{"external":["eth0"]},"entries":[
            {"from":"1.2.3.4:80","to":"10.0.0.1:80"},{"from":"1.2.3.4:81","to":"10.0.0.1:80"}]}"#);
        assert!(
            e.contains("entries[1].to") && e.contains("10.0.0.1:80"),
            "{e}"
        );
    }

    #[test]
    fn interface_in_both_lists_is_rejected() {
        let e = err(r#"{"interfaces":{"external":["eth0"],"internal":["eth0"]},"entries":[]}"#);
        assert!(
            e.contains("interfaces.internal[0]") && e.contains("eth0"),
            "{e}"
        );
    }

    #[test]
    fn missing_sections_and_bad_json() {
        assert!(err(r#"{"entries":[]}"#).contains("interfaces"));
        assert!(err(r#"{"interfaces":{"external":["eth0"]}}"#).contains("entries"));
        assert!(err("{ nope").contains("not valid JSON"));
        assert!(
            err(r#"{"interfaces":{"external":["eth0"]},"entries":[],"extra":1}"#).contains("extra")
        );
        assert!(
            err(r#"{"interfaces":{"external":["this-name-is-too-long"]},"entries":[]}"#)
                .contains("interfaces.external[0]")
        );
    }

    #[test]
    fn fib_cache_ms_is_optional_and_bounded() {
        assert_eq!(parse(OK).unwrap().fib_cache_ms, 0);
        let with = |v: &str| {
            format!(r#"{{"interfaces":{{"external":["eth0"]}},"entries":[],"fib_cache_ms":{v}}}"#)
        };
        assert_eq!(parse(&with("0")).unwrap().fib_cache_ms, 0);
        assert_eq!(parse(&with("100")).unwrap().fib_cache_ms, 100);
        assert_eq!(parse(&with("10000")).unwrap().fib_cache_ms, 10_000);
        for bad in ["10001", "-1", "1.5", "\"100\"", "true", "null"] {
            let e = err(&with(bad));
            assert!(
                e.contains("fib_cache_ms") && e.contains("0..=10000") && e.contains(bad),
                "{bad}: {e}"
            );
        }
        let c = parse(&with("250")).unwrap();
        assert!(c.to_json().contains("\"fib_cache_ms\": 250"));
        assert_eq!(parse(&c.to_json()).unwrap(), c);
        assert!(!parse(OK).unwrap().to_json().contains("fib_cache_ms"));
    }

    /// Issue 10 item 4: unknown keys at every level, signed ports, loopback and other
    /// non-endpoint addresses, keys given twice, entries that loop.
    #[test]
    fn strict_unknown_keys_everywhere() {
        let e = err(r#"{"interfaces":{"external":["eth0"],"interal":["ve-m1"]},"entries":[]}"#);
        assert!(
            e.contains("interfaces.interal") && e.contains("unknown field"),
            "{e}"
        );
        let e = err(
            r#"{"interfaces":{"external":["eth0"]},"entries":[{"from":"1.2.3.4:80","to":"10.0.0.1:80","too":"x"}]}"#,
        );
        assert!(e.contains("entries[0].too"), "{e}");
        let e = err(
            r#"{"interfaces":{"external":["eth0"]},"entries":[{"from":"1.2.3.4:80","to":{"addr":"10.0.0.1","port":80,"prot":6}}]}"#,
        );
        assert!(e.contains("entries[0].to.prot"), "{e}");
    }

    #[test]
    fn strict_ports_and_addresses() {
        let one = |from: &str, to: &str| {
            err(&format!(
                r#"{{"interfaces":{{"external":["eth0"]}},"entries":[{{"from":"{from}","to":"{to}"}}]}}"#
            ))
        };
        for (from, bad) in [
            ("1.2.3.4:+80", "+80"),
            ("1.2.3.4:080", "080"),
            ("1.2.3.4: 80", " 80"),
            ("1.2.3.4:", "\"\""),
        ] {
            let e = one(from, "10.0.0.1:80");
            assert!(
                e.contains("entries[0].from") && e.contains(bad),
                "{from}: {e}"
            );
        }
        for addr in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
        ] {
            let e = one(&format!("{addr}:80"), "10.0.0.1:80");
            assert!(
                e.contains("entries[0].from")
                    && e.contains(addr)
                    && e.contains("cannot be a NAT endpoint"),
                "{addr}: {e}"
            );
            let e = one("1.2.3.4:80", &format!("{addr}:80"));
            assert!(e.contains("entries[0].to"), "{addr}: {e}");
        }
    }

    #[test]
    fn strict_duplicate_keys_are_named() {
        let e = err(
            r#"{"interfaces":{"external":["eth0"]},"entries":[],"interfaces":{"external":["eth1"]}}"#,
        );
        assert!(
            e.contains("field `interfaces`") && e.contains("given twice"),
            "{e}"
        );
        let e = err(
            r#"{"interfaces":{"external":["eth0"]},"entries":[{"from":"1.2.3.4:80","to":"10.0.0.1:80","to":"10.0.0.2:80"}]}"#,
        );
        assert!(
            e.contains("entries[0].to") && e.contains("given twice"),
            "{e}"
        );
        // Not a duplicate: the same key in two objects.
        parse(OK).unwrap();
    }

    #[test]
    fn strict_entries_that_loop() {
        let e = err(r#"{"interfaces":{"external":["eth0"]},"entries":[
            {"from":"1.2.3.4:80","to":"10.0.0.1:80"},{"from":"10.0.0.1:80","to":"10.0.0.2:80"}]}"#);
        assert!(e.contains("entries[1].from") && e.contains("loop"), "{e}");
        let e = err(r#"{"interfaces":{"external":["eth0"]},"entries":[
            {"from":"10.0.0.1:80","to":"10.0.0.2:80"},{"from":"1.2.3.4:80","to":"10.0.0.1:80"}]}"#);
        assert!(
            e.contains("entries[1].to") && e.contains("entries[0]") && e.contains("loop"),
            "{e}"
        );
    }

    /// Issue 10 item 5: more entries than the maps hold are refused naming the limit.
    #[test]
    fn entries_beyond_map_capacity_name_the_limit() {
        let entries = |n: usize| {
            (0..n)
                .map(|i| {
                    format!(
                        r#"{{"from":"192.168.{}.{}:80","to":"10.1.{}.{}:80"}}"#,
                        i / 250,
                        i % 250 + 1,
                        i / 250,
                        i % 250 + 1
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let cfg = |n| {
            format!(
                r#"{{"interfaces":{{"external":["eth0"]}},"entries":[{}]}}"#,
                entries(n)
            )
        };
        assert_eq!(
            parse(&cfg(MAX_ENTRIES as usize)).unwrap().entries.len(),
            4096
        );
        let e = err(&cfg(MAX_ENTRIES as usize + 1));
        assert!(
            e.contains("field `entries`") && e.contains("4097") && e.contains("4096"),
            "{e}"
        );
    }

    #[test]
    fn file_size_is_bounded() {
        let e = ForwarderConfig::load(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/dev/zero") && e.contains(&MAX_FILE_BYTES.to_string()),
            "{e}"
        );
        let e = ForwarderConfig::load(Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("directory"), "{e}");
    }

    #[test]
    fn unknown_interface_is_named() {
        let c = parse(OK).unwrap();
        let have: HashSet<String> = ["eth0", "ve-m1"].iter().map(|s| s.to_string()).collect();
        let e = format!(
            "{}",
            c.validate_interfaces(Path::new("cfg.json"), &have)
                .unwrap_err()
        );
        assert!(
            e.contains("interfaces.internal[1]") && e.contains("ve-m2"),
            "{e}"
        );
    }
}
