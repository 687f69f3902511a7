//! The one loader of `forwarder.bpf.o`: tunables set, and either fresh maps (deploy) or the
//! deployment's pinned maps (switching programs live, the bench's fresh instances). Every
//! place that needs the forwarder's programs gets them here, so the tunables and the set of
//! shared maps cannot drift apart.

use std::path::Path;

use aya::programs::Xdp;
use aya::{Ebpf, EbpfLoader};

use super::config::Role;
use crate::bpf::forwarder_abi as abi;
use crate::bpf::{object, objects};
use crate::{Error, Result};

/// The object, for messages.
pub const OBJECT: &str = "forwarder.bpf.o";

/// Maps a deployment pins and every later instance shares (NAT entries and their index,
/// devmap, counters). `fib_cache` is private to each instance and never pinned.
pub const PINNED_MAPS: [&str; 6] = [
    abi::DNAT_MAP,
    abi::SNAT_MAP,
    abi::NAT_INDEX_MAP,
    abi::NAT_ACTIVE_MAP,
    abi::DEVMAP,
    abi::COUNTERS_MAP,
];

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

/// Loads the forwarder object (programs not yet loaded). With `pins`, the maps of
/// [`PINNED_MAPS`] are the ones pinned in that directory, which must all exist: aya would
/// create and pin a missing one, and a reuse must never add pins.
pub fn load(t: Tunables, pins: Option<&Path>) -> Result<Ebpf> {
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
    let what = if pins.is_some() {
        "forwarder.bpf.o (pinned maps)"
    } else {
        OBJECT
    };
    loader
        .load(objects::FORWARDER)
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
