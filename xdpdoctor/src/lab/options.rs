//! What `lab up` is asked for besides the scenario: the CLI's flags, as the namespace labs
//! (`up.rs`) and the Docker lab (`docker/up.rs`) take them.

use std::path::PathBuf;

use crate::forwarder::AttachMode;
use crate::progress::Progress;

/// What `lab up` is asked for besides the scenario (the CLI's flags).
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Prefix of every name the lab makes (namespaces `PREFIX-node`): 1-24 letters, digits, '-'
    /// or '_'.
    pub prefix: String,
    /// Faults to apply, by name; empty: the scenario's default faults.
    pub faults: Vec<String>,
    /// Build the healthy lab; refused together with `faults`.
    pub no_faults: bool,
    /// The xdpdoctor binary, re-executed as the HTTP responder.
    pub exe: PathBuf,
    /// Attach mode of the forwarder.
    pub mode: AttachMode,
    /// Deploy the scenario's forwarder (false: write its config only, for a user's own XDP
    /// program).
    pub forwarder: bool,
    /// Where the build reports its steps (namespaces, links, nodes, responders, forwarder).
    pub progress: Progress,
}
