//! Labs: scenarios from `scenarios/*.toml` built into network namespaces with netlink and
//! ioctls (never by running `ip`), with HTTP responders in the containers, the forwarder
//! deployed on the router node, and named faults applied on top of a healthy setup.
//!
//! Every lab host, the router included, is a namespace named `PREFIX-NODE`; nothing is put in
//! the namespace xdpdoctor runs in. `up` records each thing it makes before making the next,
//! and cleans up through `down` on any error or interrupt.

pub mod catalog;
pub mod down;
pub mod era;
pub mod fleet;
pub mod http;
pub mod process;
pub mod scenario;
pub mod state;
pub mod up;

pub use down::down;
pub use http::LabClient;
pub use scenario::Scenario;
pub use state::LabState;
pub use up::{up, UpOptions};
