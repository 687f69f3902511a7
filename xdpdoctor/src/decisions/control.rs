//! The switch of the eBPF records: on or off (and up to which level), and the per-CPU rate
//! limit, written into the program's `xd_log_ctl` map while it runs; and what happened to the
//! records (allowed, rate-limited, lost for a full ring, too long), summed over CPUs from
//! `xd_log_state`. Off is the default of a freshly loaded object (the map starts zeroed).
//!
//! The switch is a map, not a `.data` global: aya rewrites a data section's map with the
//! object's initial bytes at every load, pinned or not, so reloading a program that shares
//! pinned maps (the forwarder does) would silently turn logging off again.

use std::path::Path;

use aya::maps::{Array, Map, MapData, MapInfo, PerCpuArray};
use aya::programs::loaded_programs;
use aya::Ebpf;
use serde::Serialize;

use crate::bpf::log_abi::{self as abi, CTL_MAP, STATE_MAP};
use crate::bpf::object;
use crate::{Error, Result};

/// What the programs log, and how fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Records of this level or more severe are written; `None`: logging off.
    pub level: Option<log::Level>,
    /// Records per second, per CPU, once the burst is spent (1 ..= 1,000,000).
    pub rate: u64,
    /// Records a CPU may write at once after a quiet period (1 ..= 1,000,000).
    pub burst: u64,
}

impl Default for Settings {
    /// Off, with the header's default rate (1,000/s) and burst (100).
    fn default() -> Self {
        Settings {
            level: None,
            rate: abi::DEFAULT_RATE,
            burst: abi::DEFAULT_BURST,
        }
    }
}

impl Settings {
    /// On up to `level`, at the default rate and burst.
    pub fn on(level: log::Level) -> Self {
        Settings {
            level: Some(level),
            ..Settings::default()
        }
    }

    /// Checks the bounds the kernel side relies on (it would clamp, silently).
    pub fn validate(&self) -> Result<()> {
        for (what, v, max) in [
            (
                "eBPF log rate (records/s per CPU)",
                self.rate,
                abi::RATE_MAX,
            ),
            ("eBPF log burst (records)", self.burst, abi::BURST_MAX),
        ] {
            if v == 0 || v > max {
                return Err(Error::invalid(what, format!("{v}: must be 1 ..= {max}")));
            }
        }
        Ok(())
    }

    fn to_abi(self) -> abi::Settings {
        abi::Settings {
            // log::Level is Error = 1 .. Trace = 5, as aya-log-common's Level.
            max_level: self.level.map_or(0, |l| l as u32),
            pad: 0,
            rate: self.rate,
            burst: self.burst,
        }
    }

    fn from_abi(s: abi::Settings) -> Self {
        let level = log::Level::iter().find(|l| *l as u32 == s.max_level);
        let or = |v: u64, default: u64| if v == 0 { default } else { v };
        Settings {
            level,
            rate: or(s.rate, abi::DEFAULT_RATE),
            burst: or(s.burst, abi::DEFAULT_BURST),
        }
    }
}

/// What became of the records the programs tried to write, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Records the rate limit let through.
    pub allowed: u64,
    /// Records the rate limit refused.
    pub limited: u64,
    /// Records dropped because the ring was full (the reader is behind).
    pub lost: u64,
    /// Records dropped because they were longer than the header's maximum (a bug in the
    /// program that wrote them).
    pub overflow: u64,
}

/// Live access to one object's switch and counters.
pub struct Control {
    ctl: Array<MapData, abi::Settings>,
    state: PerCpuArray<MapData, abi::Bucket>,
    source: String,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Control {
    /// Takes the switch and counter maps out of `ebpf` (loaded from `object`, for messages).
    pub fn from_ebpf(ebpf: &mut Ebpf, object: &str) -> Result<Self> {
        Ok(Control {
            ctl: object::take_map(ebpf, object, CTL_MAP)?,
            state: object::take_map(ebpf, object, STATE_MAP)?,
            source: object.to_string(),
        })
    }

    /// The maps of the running program `program_id`, found by name among its maps.
    pub fn from_program(program_id: u32) -> Result<Self> {
        let source = format!("program {program_id}");
        let info = loaded_programs()
            .filter_map(|p| p.ok())
            .find(|p| p.id() == program_id)
            .ok_or_else(|| Error::not_found(source.clone(), None))?;
        let ids = info
            .map_ids()
            .map_err(|e| Error::bpf("map ids", source.clone(), e))?
            .unwrap_or_default();
        let find = |name: &str| -> Result<MapData> {
            let id = ids
                .iter()
                .copied()
                .find(|id| MapInfo::from_id(*id).is_ok_and(|m| m.name_as_str() == Some(name)))
                .ok_or_else(|| {
                    Error::not_found(
                        format!("map {name} of {source}"),
                        Some("the program was not built with aya_log.h".into()),
                    )
                })?;
            MapData::from_id(id).map_err(|e| Error::bpf("open map", format!("{name} ({id})"), e))
        };
        Self::from_maps(
            Map::Array(find(CTL_MAP)?),
            Map::PerCpuArray(find(STATE_MAP)?),
            source,
        )
    }

    /// The maps pinned in `dir` under their own names.
    pub fn from_pins(dir: &Path) -> Result<Self> {
        Ok(Control {
            ctl: object::pinned_map(&dir.join(CTL_MAP), Map::Array)?,
            state: object::pinned_map(&dir.join(STATE_MAP), Map::PerCpuArray)?,
            source: dir.display().to_string(),
        })
    }

    fn from_maps(ctl: Map, state: Map, source: String) -> Result<Self> {
        let typed = |e| Error::bpf("map type", source.clone(), e);
        Ok(Control {
            ctl: ctl.try_into().map_err(typed)?,
            state: state.try_into().map_err(typed)?,
            source,
        })
    }

    /// Applies `s` now: the next packet on every CPU sees it.
    pub fn set(&mut self, s: &Settings) -> Result<()> {
        s.validate()?;
        self.ctl
            .set(0, s.to_abi(), 0)
            .map_err(|e| Error::bpf("update", format!("{CTL_MAP} of {}", self.source), e))?;
        log::debug!("eBPF log of {}: {s:?}", self.source);
        Ok(())
    }

    /// The settings in force.
    pub fn settings(&self) -> Result<Settings> {
        let s = self
            .ctl
            .get(&0, 0)
            .map_err(|e| Error::bpf("lookup", format!("{CTL_MAP} of {}", self.source), e))?;
        Ok(Settings::from_abi(s))
    }

    /// The record counters, summed over CPUs.
    pub fn stats(&self) -> Result<Stats> {
        let per_cpu = self
            .state
            .get(&0, 0)
            .map_err(|e| Error::bpf("lookup", format!("{STATE_MAP} of {}", self.source), e))?;
        Ok(per_cpu.iter().fold(Stats::default(), |t, b| Stats {
            allowed: t.allowed + b.allowed,
            limited: t.limited + b.limited,
            lost: t.lost + b.lost,
            overflow: t.overflow + b.overflow,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_aya_log_levels_and_back() {
        assert_eq!(Settings::default().to_abi().max_level, 0);
        for (l, n) in [
            (log::Level::Error, 1),
            (log::Level::Warn, 2),
            (log::Level::Info, 3),
            (log::Level::Debug, 4),
            (log::Level::Trace, 5),
        ] {
            let s = Settings::on(l);
            assert_eq!(s.to_abi().max_level, n);
            assert_eq!(Settings::from_abi(s.to_abi()), s);
        }
        // A zeroed map (fresh object) reads as off at the defaults.
        assert_eq!(
            Settings::from_abi(abi::Settings::default()),
            Settings::default()
        );
    }

    #[test]
    fn bounds_are_checked() {
        let ok = Settings::on(log::Level::Info);
        assert!(ok.validate().is_ok());
        for bad in [
            Settings { rate: 0, ..ok },
            Settings { burst: 0, ..ok },
            Settings {
                rate: abi::RATE_MAX + 1,
                ..ok
            },
            Settings {
                burst: abi::BURST_MAX + 1,
                ..ok
            },
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains("1 ..= 1000000"), "{e}");
        }
    }
}
