//! The files a diagnosis writes besides its report (`--pcap`, `--junit`, `--prometheus`) and
//! what became of each. A file that cannot be written never costs the report: the report is
//! still printed (text or JSON), each file gets a line on stderr and an entry in the JSON's
//! `outputs`, and the exit code is 3 ([`super::EXIT_OUTPUT`]) when one failed or was cut
//! short.
#![allow(clippy::print_stderr)] // the CLI prints; the library never does

use std::path::{Path, PathBuf};

use serde::Serialize;
use xdpdoctor::report::escape;

/// One output file and what happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct OutputFile {
    /// `pcap`, `junit` or `prometheus`.
    pub kind: &'static str,
    /// Where it was to go.
    pub path: PathBuf,
    /// It is there (complete, or cut short but valid).
    pub written: bool,
    /// Why it is not there, or why it ends early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What it holds, in words (`3 packet(s) from 2 capture point(s)`).
    pub detail: String,
}

impl OutputFile {
    /// A file written whole.
    pub fn ok(kind: &'static str, path: &Path, detail: String) -> Self {
        OutputFile {
            kind,
            path: path.to_path_buf(),
            written: true,
            error: None,
            detail,
        }
    }

    /// A file that could not be written (`written: false`) or ends early (`true`).
    pub fn failed(kind: &'static str, path: &Path, written: bool, error: String) -> Self {
        OutputFile {
            kind,
            path: path.to_path_buf(),
            written,
            error: Some(error),
            detail: String::new(),
        }
    }

    /// A file that failed or ends early: the exit code says so.
    pub fn is_failure(&self) -> bool {
        self.error.is_some()
    }

    /// Its line on stderr.
    pub fn say(&self) {
        let line = match (&self.error, self.written) {
            (None, _) => format!("wrote {}: {}", self.path.display(), self.detail),
            (Some(e), true) => format!(
                "--{} {}: cut short ({e}); the file ends after its last whole record and stays \
                 readable",
                self.kind,
                self.path.display()
            ),
            (Some(e), false) => format!(
                "--{} {}: not written: {e}; the report above is complete",
                self.kind,
                self.path.display()
            ),
        };
        eprintln!("{}", escape::text(&line));
    }
}

/// `code`, or 3 when an output failed.
pub fn exit_code(code: i32, outputs: &[OutputFile]) -> i32 {
    if outputs.iter().any(OutputFile::is_failure) {
        super::EXIT_OUTPUT
    } else {
        code
    }
}

/// The report's JSON document with `outputs` added (when there are any).
pub fn with_outputs(mut doc: serde_json::Value, outputs: &[OutputFile]) -> serde_json::Value {
    if !outputs.is_empty() {
        if let Some(o) = doc.as_object_mut() {
            o.insert(
                "outputs".into(),
                serde_json::to_value(outputs).expect("outputs serialize"),
            );
        }
    }
    doc
}

/// A JSON value as printed: pretty, unsafe characters as `\uXXXX`.
pub fn json_text(v: &serde_json::Value) -> String {
    escape::json(serde_json::to_string_pretty(v).expect("JSON serializes"))
}
