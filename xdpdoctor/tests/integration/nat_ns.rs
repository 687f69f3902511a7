//! The throwaway namespace the forwarder's checksum tests run in, and the NAT entries it is
//! built for: `ext0` (default route via a permanent gateway neighbour) and `int0` (a
//! permanent neighbour per entry target), both veths, forwarding on, so `bpf_fib_lookup`
//! answers from a real FIB. Removed on drop, so also when an assertion panics.
#![allow(clippy::print_stderr)]

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use xdpdoctor::bpf::forwarder_abi::Endpoint;
use xdpdoctor::netns::Netns;

use crate::frames::{random_client, Rng};

pub const ENTRIES: usize = 32;

pub const EXT_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
pub const GW_MAC: [u8; 6] = [2, 0, 0, 0, 1, 0xfe];
pub const INT_MAC: [u8; 6] = [2, 0, 0, 0, 2, 1];
pub const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

/// One NAT mapping: `from` is the public endpoint, `to` the internal one, `to_mac` its MAC.
#[derive(Clone, Copy)]
pub struct Entry {
    pub from: Endpoint,
    pub to: Endpoint,
    pub to_mac: [u8; 6],
}

pub fn random_entries(rng: &mut Rng) -> Vec<Entry> {
    random_entries_n(rng, ENTRIES)
}

/// `n` entries with distinct `from` endpoints and distinct target addresses (at most the
/// 65,000-odd addresses of 10.200.1-255.1-254).
pub fn random_entries_n(rng: &mut Rng, n: usize) -> Vec<Entry> {
    let mut keys = HashSet::new();
    let mut targets = HashSet::new();
    let mut v = Vec::new();
    while v.len() < n {
        let from = Endpoint::new(random_client(rng), rng.port());
        let to_ip = Ipv4Addr::new(10, 200, 1 + rng.below(255) as u8, 1 + rng.below(254) as u8);
        let to = Endpoint::new(to_ip, rng.port());
        // One entry per target address: each gets its own permanent neighbour (MAC), and a
        // second `neigh add` of the same address would fail the namespace setup.
        if keys.contains(&from) || !targets.insert(to_ip) {
            continue;
        }
        keys.insert(from);
        let mut to_mac = [2, 0, 0, 0, 0, 0];
        rng.fill(&mut to_mac[2..]);
        v.push(Entry { from, to, to_mac });
    }
    v
}

/// The test namespace; removed on drop, so also when an assertion panics.
pub struct TestNs(pub Netns);

impl TestNs {
    pub fn create(entries: &[Entry]) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("xdt-cs-{}-{}", std::process::id(), nanos % 1_000_000);
        let ns = TestNs(Netns::create(&name).expect("create test namespace"));
        let mac = |m: [u8; 6]| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        let mut batch = format!(
            "link set lo up\n\
             link add ext0 address {} type veth peer ext0p\n\
             link add int0 address {} type veth peer int0p\n\
             link set ext0 up\nlink set ext0p up\nlink set int0 up\nlink set int0p up\n\
             addr add 192.0.2.1/24 dev ext0\n\
             addr add 10.200.0.254/16 dev int0\n\
             route add default via {GW} dev ext0\n\
             neigh add {GW} lladdr {} dev ext0 nud permanent\n",
            mac(EXT_MAC),
            mac(INT_MAC),
            mac(GW_MAC)
        );
        for e in entries {
            batch.push_str(&format!(
                "neigh add {} lladdr {} dev int0 nud permanent\n",
                e.to.ip(),
                mac(e.to_mac)
            ));
        }
        ns.ip_batch(&batch);
        // bpf_fib_lookup answers FWD_DISABLED unless the ingress interface forwards.
        run(Command::new("ip").args([
            "netns",
            "exec",
            &name,
            "sysctl",
            "-qw",
            "net.ipv4.conf.all.forwarding=1",
        ]));
        ns
    }

    pub fn ip_batch(&self, batch: &str) {
        use std::io::Write as _;
        let mut child = Command::new("ip")
            .args(["-n", &self.0.name, "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn ip");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(batch.as_bytes())
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "ip -batch failed:\n{batch}");
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if let Err(e) = self.0.remove() {
            eprintln!("checksum: cleanup of namespace {} failed: {e}", self.0.name);
        }
    }
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
}

/// The ifindex of `name` in the calling thread's namespace.
pub fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert_ne!(i, 0, "no interface {name} in the test namespace");
    i
}
