//! `xdpdoctor probes` lists the kernel capabilities the bench's methods depend on after the
//! probes: in the text as a table, in `--json` as rows of kind `capability` in the same array
//! (so readers that pick probes by name and kind are unaffected). Which ones a kernel allows
//! differs; what must hold everywhere: all four are listed, a refusal carries its errno and
//! reason, and as root the two the test suite itself relies on (non-live test runs: the
//! checksum tests; AF_PACKET: the bench) are allowed. The refusal path end to end is in
//! `bench.rs` (live frames refused, by the kernel or by strace).

use serde_json::Value;

use crate::common::{require_root, stdout, xdpdoctor};

const NAMES: [&str; 4] = [
    "test-run",
    "test-run-live-frames",
    "bpf-stats",
    "af-packet-tx",
];

#[test]
#[ignore = "needs root: loads BPF programs and opens an AF_PACKET socket"]
fn probes_lists_the_capabilities_with_the_errno_of_each_refusal() {
    require_root();
    let out = xdpdoctor(&["probes", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("probes json");
    let rows = v.as_array().expect("one array");
    let caps: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "capability").collect();
    let names: Vec<&str> = caps.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, NAMES, "{caps:#?}");
    // The probes come first, unchanged in shape.
    assert!(rows[0]["kind"] != "capability" && rows[0]["active"].is_boolean());
    for c in &caps {
        let allowed = c["active"].as_bool().expect("active");
        assert!(!c["probe"].as_str().unwrap_or_default().is_empty(), "{c}");
        if allowed {
            assert!(c["reason"].is_null() && c["errno"].is_null(), "{c}");
        } else {
            let why = c["reason"].as_str().expect("a refusal has a reason");
            let errno = c["errno"].as_str().expect("a refusal has an errno");
            assert!(errno.starts_with('E') && why.contains(errno), "{c}");
            eprintln!("capability {}: refused here: {why}", c["name"]);
        }
    }
    let allowed = |n: &str| caps.iter().any(|c| c["name"] == n && c["active"] == true);
    assert!(allowed("test-run"), "{caps:#?}");
    assert!(allowed("af-packet-tx"), "{caps:#?}");

    let text = stdout(&xdpdoctor(&["probes"]));
    for n in NAMES {
        assert!(text.contains(n), "{n} missing from:\n{text}");
    }
    assert!(
        text.contains("capability") && text.contains("probed with"),
        "{text}"
    );
}
