//! Rendering a diagnosis: a table plus a small packet-path diagram marking where packets die
//! (text, coloured only when asked), the JSON document (schema in docs/diagnose.md), JUnit
//! XML for CI and the Prometheus text format for health checks. Functions return strings; printing is the CLI's business.
//! Every name that comes from the system goes through [`escape`] on its way out: escaped in
//! text, `\uXXXX` in JSON, valid in XML.

pub mod diagram;
pub mod escape;
pub mod json;
pub mod junit;
pub mod prometheus;
pub mod table;
pub mod trace;

pub use diagram::diagram;
pub use json::{to_json, to_value, JSON_SCHEMA};
pub use junit::junit;
pub use prometheus::{prometheus, prometheus_failed};
pub use table::{deployment_line, details, evidence_summary, table};

/// Styles text when colour is on (the CLI decides: NO_COLOR, TTY, --color).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Whether to paint.
    pub color: bool,
}

impl Style {
    fn paint(&self, s: &str, c: owo_colors::AnsiColors) -> String {
        use owo_colors::OwoColorize;
        if self.color {
            s.color(c).bold().to_string()
        } else {
            s.to_string()
        }
    }
    /// Red: what is broken.
    pub fn bad(&self, s: &str) -> String {
        self.paint(s, owo_colors::AnsiColors::Red)
    }
    /// Yellow: what may be.
    pub fn warn(&self, s: &str) -> String {
        self.paint(s, owo_colors::AnsiColors::Yellow)
    }
    /// Green: what works.
    pub fn good(&self, s: &str) -> String {
        self.paint(s, owo_colors::AnsiColors::Green)
    }
    /// A severity in its colour.
    pub fn severity(&self, s: crate::diagnose::Severity) -> String {
        match s {
            crate::diagnose::Severity::Error => self.bad("error"),
            crate::diagnose::Severity::Warning => self.warn("warning"),
        }
    }
}
