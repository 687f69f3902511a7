//! One typed way to take programs and maps out of a loaded [`Ebpf`] object: look the name up,
//! convert to the expected type, and fail with an error that names the object, the item and
//! what went wrong. Every loader (forwarder, fixes, probes, bench) goes through these instead
//! of repeating `program_mut(..).ok_or(..)?.try_into().map_err(..)?`.

use aya::maps::{Map, MapData, MapError};
use aya::programs::{Program, ProgramError};
use aya::Ebpf;

use crate::{Error, Result};

/// The program `name` of `object` (the `.bpf.o` it came from, for messages) as type `P`
/// (`Xdp`, `BtfTracePoint`, `KProbe`, ...).
pub fn program_mut<'a, P>(ebpf: &'a mut Ebpf, object: &str, name: &str) -> Result<&'a mut P>
where
    &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
{
    let p = ebpf
        .program_mut(name)
        .ok_or_else(|| Error::bpf("find program", item(object, name), "missing from object"))?;
    p.try_into()
        .map_err(|e| Error::bpf("program type", item(object, name), e))
}

/// The map `name` of `object`, borrowed as type `M` (`HashMap<&mut MapData, K, V>`, ...).
pub fn map_mut<'a, M>(ebpf: &'a mut Ebpf, object: &str, name: &str) -> Result<M>
where
    M: TryFrom<&'a mut Map, Error = MapError>,
{
    let m = ebpf
        .map_mut(name)
        .ok_or_else(|| Error::bpf("find map", item(object, name), "missing from object"))?;
    M::try_from(m).map_err(|e| Error::bpf("map type", item(object, name), e))
}

/// The map `name` of `object`, taken out of it (owned) as type `M` (`RingBuf<MapData>`, ...).
pub fn take_map<M>(ebpf: &mut Ebpf, object: &str, name: &str) -> Result<M>
where
    M: TryFrom<Map, Error = MapError>,
{
    let m = ebpf
        .take_map(name)
        .ok_or_else(|| Error::bpf("find map", item(object, name), "missing from object"))?;
    M::try_from(m).map_err(|e| Error::bpf("map type", item(object, name), e))
}

/// A pinned map opened as type `M`; `wrap` says which [`Map`] variant it is
/// (`Map::HashMap`, `Map::DevMapHash`, ...).
pub fn pinned_map<M>(path: &std::path::Path, wrap: fn(MapData) -> Map) -> Result<M>
where
    M: TryFrom<Map, Error = MapError>,
{
    let data = MapData::from_pin(path)
        .map_err(|e| Error::bpf("open pinned map", path.display().to_string(), e))?;
    M::try_from(wrap(data)).map_err(|e| Error::bpf("map type", path.display().to_string(), e))
}

fn item(object: &str, name: &str) -> String {
    format!("{name} in {object}")
}
