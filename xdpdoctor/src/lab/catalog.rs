//! Which scenarios exist: the ones shipped in the binary (`scenarios/*.toml`), the generated
//! `fleet` (sized with `--containers`), and any file given by path.

use std::path::{Path, PathBuf};

use super::fleet;
use super::scenario::Scenario;
use crate::{Error, Result};

/// Scenarios shipped with xdpdoctor: (name, TOML).
pub const BUILTIN: &[(&str, &str)] = &[
    ("seed", include_str!("../../../scenarios/seed.toml")),
    ("docker", include_str!("../../../scenarios/docker.toml")),
    ("router", include_str!("../../../scenarios/router.toml")),
];

/// A built-in scenario by name, the generated `fleet`, or a scenario file by path, with where
/// it came from (for messages and the lab state). `containers` sizes the generated `fleet`
/// scenario and is refused for any other.
pub fn load(name_or_path: &str, containers: Option<usize>) -> Result<(Scenario, PathBuf)> {
    if name_or_path == fleet::NAME {
        let n = containers.unwrap_or(10);
        let s = fleet::fleet(n)?;
        return Ok((
            s,
            PathBuf::from(format!("(generated) fleet --containers {n}")),
        ));
    }
    if containers.is_some() {
        return Err(Error::invalid(
            "--containers",
            format!("only the generated `{}` scenario takes it", fleet::NAME),
        ));
    }
    if let Some((n, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
        let origin = PathBuf::from(format!("scenarios/{n}.toml"));
        return Ok((Scenario::parse(text, &origin)?, origin));
    }
    let p = Path::new(name_or_path);
    if !p.exists() {
        return Err(Error::not_found(
            format!("scenario {name_or_path}"),
            Some(format!(
                "built-in scenarios: {}, {}; or give a path to a .toml file",
                BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
                fleet::NAME
            )),
        ));
    }
    let text = crate::files::read_to_string(p, crate::files::READ_LIMIT)?;
    Ok((Scenario::parse(&text, p)?, p.to_path_buf()))
}
