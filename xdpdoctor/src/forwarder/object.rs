//! The one loader of `forwarder.bpf.o`: tunables set, and either fresh maps (deploy) or the
//! deployment's pinned maps (switching programs live, the bench's fresh instances). Every
//! place that needs the forwarder's programs gets them here, so the tunables and the set of
//! shared maps cannot drift apart.

use std::path::Path;

use aya::programs::Xdp;
use aya::{Ebpf, EbpfLoader};

use super::config::Role;
use crate::bpf::forwarder_abi as abi;
use crate::bpf::{log_abi, object, objects};
use crate::{Error, Result};

/// The object, for messages.
pub const OBJECT: &str = "forwarder.bpf.o";

/// Maps a deployment pins and every later instance shares (NAT entries and their index,
/// devmap, counters, the bridges served and their ports). `fib_cache` is private to each instance and never pinned.
pub const PINNED_MAPS: [&str; 8] = [
    abi::DNAT_MAP,
    abi::SNAT_MAP,
    abi::NAT_INDEX_MAP,
    abi::NAT_ACTIVE_MAP,
    abi::DEVMAP,
    abi::COUNTERS_MAP,
    abi::BRIDGE_PORTS_MAP,
    abi::BRIDGES_MAP,
];

/// The decision log's maps (`aya_log.h`: the records ring, the switch, the per-CPU bucket),
/// pinned next to [`PINNED_MAPS`]: every instance loaded over the pins writes to the one ring
/// under the one switch, so a reload (`fix --csum forwarder`) keeps the log's state and
/// `trace --decisions` finds them by path. Unlike [`PINNED_MAPS`] they may be missing from a
/// pin directory (a forwarder deployed before the log existed): an instance loaded over such
/// pins gets private ones, and the log of that deployment cannot be switched on.
pub const LOG_MAPS: [&str; 3] = [log_abi::LOGS_MAP, log_abi::CTL_MAP, log_abi::STATE_MAP];

/// The forwarder's load-time tunables (`const volatile` globals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tunables {
    /// Recompute TCP checksums fully instead of incrementally.
    pub full_csum: bool,
    /// Lifetime of a next-hop cache entry in ns (0: cache off).
    pub fib_cache_ns: u64,
}

impl Tunables {
    /// The tunables of a config.
    pub fn of(cfg: &super::ForwarderConfig) -> Self {
        Tunables {
            full_csum: cfg.full_checksum,
            fib_cache_ns: u64::from(cfg.fib_cache_ms) * 1_000_000,
        }
    }
}

/// Which build of the forwarder to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Build {
    /// `forwarder.bpf.o`: what deploy runs, decision log compiled in (off until switched on).
    #[default]
    Standard,
    /// `forwarder_nolog.bpf.o`: the same source with `-DXD_NO_DECISION_LOG`, for the bench's
    /// "log compiled out" figure. It has none of [`LOG_MAPS`].
    NoDecisionLog,
}

impl Build {
    fn bytes(self) -> &'static [u8] {
        match self {
            Build::Standard => objects::FORWARDER,
            Build::NoDecisionLog => objects::FORWARDER_NOLOG,
        }
    }

    /// The object's file name, for messages.
    pub fn object(self) -> &'static str {
        match self {
            Build::Standard => OBJECT,
            Build::NoDecisionLog => "forwarder_nolog.bpf.o",
        }
    }
}

/// Loads the forwarder object (programs not yet loaded). With `pins`, the maps of
/// [`PINNED_MAPS`] are the ones pinned in that directory, which must all exist: aya would
/// create and pin a missing one, and a reuse must never add pins. [`LOG_MAPS`] are reused
/// where pinned and private otherwise.
pub fn load(t: Tunables, pins: Option<&Path>) -> Result<Ebpf> {
    load_build(Build::Standard, t, pins)
}

/// [`load`] of a given build.
pub fn load_build(build: Build, t: Tunables, pins: Option<&Path>) -> Result<Ebpf> {
    let mut loader = EbpfLoader::new();
    let full = u32::from(t.full_csum);
    loader.override_global(abi::GLOBAL_FULL_CSUM, &full, true);
    loader.override_global(abi::GLOBAL_FIB_CACHE_NS, &t.fib_cache_ns, true);
    let paths: Vec<(&str, std::path::PathBuf)> = pins
        .map(|dir| PINNED_MAPS.iter().map(|m| (*m, dir.join(m))).collect())
        .unwrap_or_default();
    for (name, p) in &paths {
        if !p.exists() {
            return Err(Error::not_found(
                format!("pinned forwarder map {}", p.display()),
                Some("the deployment is incomplete; redeploy it".into()),
            ));
        }
        loader.map_pin_path(name, p.as_path());
    }
    let log_paths: Vec<(&str, std::path::PathBuf)> = pins
        .map(|dir| LOG_MAPS.iter().map(|m| (*m, dir.join(m))).collect())
        .unwrap_or_default();
    for (name, p) in &log_paths {
        if p.exists() {
            loader.map_pin_path(name, p.as_path());
        } else {
            log::debug!(
                "{} not pinned: this instance's decision log is private",
                p.display()
            );
        }
    }
    let what = if pins.is_some() {
        format!("{} (pinned maps)", build.object())
    } else {
        build.object().to_string()
    };
    loader
        .load(build.bytes())
        .map_err(|e| Error::bpf("load", what, e))
}

/// The program of `role`, loaded into the kernel (verified); returns it and its id.
pub fn load_program(ebpf: &mut Ebpf, role: Role) -> Result<(&mut Xdp, u32)> {
    let name = program_name(role);
    let p: &mut Xdp = object::program_mut(ebpf, OBJECT, name)?;
    p.load().map_err(|e| Error::bpf("load program", name, e))?;
    let id = p
        .info()
        .map_err(|e| Error::bpf("program info", name, e))?
        .id();
    Ok((p, id))
}

/// The program that runs on interfaces of `role`.
pub fn program_name(role: Role) -> &'static str {
    match role {
        Role::External => abi::PROG_EXTERNAL,
        Role::Internal => abi::PROG_INTERNAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps_of(build: Build) -> Vec<String> {
        let obj = aya_obj::Object::parse(build.bytes()).expect("parse the embedded object");
        let mut names: Vec<String> = obj.maps.keys().cloned().collect();
        names.sort();
        names
    }

    /// The standard build carries the decision log's maps (pinned with the others); the
    /// bench's "compiled out" build carries none of them and every other map alike, so it
    /// reuses the same pins.
    #[test]
    fn nolog_build_differs_only_by_the_log_maps() {
        let with = maps_of(Build::Standard);
        let without = maps_of(Build::NoDecisionLog);
        for m in LOG_MAPS.iter().chain([&log_abi::SCRATCH_MAP]) {
            assert!(with.iter().any(|n| n == m), "{m} in {with:?}");
            assert!(!without.iter().any(|n| n == m), "{m} in {without:?}");
        }
        // The records' string literals live in `.rodata.str1.1` (read-only data aya loads as
        // a frozen array map), which only the standard build has.
        let rest: Vec<&String> = with
            .iter()
            .filter(|n| !LOG_MAPS.contains(&n.as_str()) && n.as_str() != log_abi::SCRATCH_MAP)
            .filter(|n| !n.starts_with(".rodata.str"))
            .collect();
        assert_eq!(rest, without.iter().collect::<Vec<_>>());
        for m in PINNED_MAPS {
            assert!(without.iter().any(|n| n == m), "{m}");
        }
    }
}
