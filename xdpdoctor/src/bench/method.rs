//! The bench's measuring methods, what each needs from the kernel, and which of them a run
//! uses. Kernels and sandboxes differ in what they allow (`bpf::capabilities`), so the bench
//! asks the kernel first and runs every method it allows (`--method auto`, the default), or
//! exactly the ones named (`--method program-cost,af-packet`), refusing before it builds
//! anything when a named one is not allowed.
//!
//! | method | what it measures | needs |
//! |---|---|---|
//! | `live-frames` | delivered Mpps per second of the kernel's test-run time: program, redirect, veth, stack, on the generator's CPU | live-frame test runs |
//! | `program-cost` | ns per run of each program alone (non-live test runs, verdict returned) | test runs |
//! | `af-packet` | CPU time per delivered packet of the path, real frames from the client's namespace, minus the generator's own cost | an AF_PACKET socket with QDISC_BYPASS |
//!
//! Ratios are formed within one method, never across methods.

use serde::Serialize;

use crate::bpf::capabilities::{self, Capability, CapabilityName};
use crate::{Error, Result};

/// One way of measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// `BPF_PROG_TEST_RUN` live frames as if received on vm's eth0.
    LiveFrames,
    /// Non-live `BPF_PROG_TEST_RUN`: each program's own ns per run.
    ProgramCost,
    /// Real frames from an AF_PACKET generator in the client's namespace; CPU per packet.
    AfPacket,
}

impl Method {
    /// Every method, in running order.
    pub const ALL: [Method; 3] = [Method::LiveFrames, Method::ProgramCost, Method::AfPacket];

    /// The name in tables, JSON and `--method`.
    pub const fn name(self) -> &'static str {
        match self {
            Method::LiveFrames => "live-frames",
            Method::ProgramCost => "program-cost",
            Method::AfPacket => "af-packet",
        }
    }

    /// The capability the method cannot run without.
    pub const fn needs(self) -> CapabilityName {
        match self {
            Method::LiveFrames => CapabilityName::TestRunLiveFrames,
            Method::ProgramCost => CapabilityName::TestRun,
            Method::AfPacket => CapabilityName::AfPacketTx,
        }
    }

    /// Parses a `--method` name.
    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == s)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum MethodChoice {
    /// Every method the kernel allows.
    #[default]
    Auto,
    /// Exactly these (each must be allowed).
    Only(Vec<Method>),
}

/// Whether a method ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// It ran; its figures are in the report.
    Ran,
    /// The kernel refused what it needs (see `reason`).
    Refused,
    /// `--method` did not name it.
    NotRequested,
}

/// One method in the report: whether it ran, and if not, why.
#[derive(Debug, Clone, Serialize)]
pub struct MethodStatus {
    /// The method.
    pub method: Method,
    /// Ran, refused or not requested.
    pub status: Status,
    /// The capability it needs.
    pub needs: CapabilityName,
    /// Why it did not run (the capability's refusal, errno included).
    pub reason: Option<String>,
}

impl MethodStatus {
    /// True when the method is to run.
    pub fn runs(&self) -> bool {
        self.status == Status::Ran
    }
}

/// Which methods run, given the kernel's `caps`. `Only` with a refused method is an error
/// naming it and the refusal (nothing is built yet); `Auto` runs the allowed ones and fails
/// only if none is.
pub fn select(choice: &MethodChoice, caps: &[Capability]) -> Result<Vec<MethodStatus>> {
    let mut out = Vec::new();
    for m in Method::ALL {
        let cap = capabilities::find(caps, m.needs());
        let requested = match choice {
            MethodChoice::Auto => true,
            MethodChoice::Only(ms) => ms.contains(&m),
        };
        let (status, reason) = match (requested, cap.allowed) {
            (false, _) => (
                Status::NotRequested,
                Some("not requested (--method)".into()),
            ),
            (true, true) => (Status::Ran, None),
            (true, false) => (
                Status::Refused,
                Some(
                    cap.reason
                        .clone()
                        .unwrap_or_else(|| format!("{} refused", cap.name)),
                ),
            ),
        };
        if status == Status::Refused && matches!(choice, MethodChoice::Only(_)) {
            return Err(Error::unsupported(
                format!("bench --method {m}"),
                format!(
                    "this kernel refuses it: {}; `xdpdoctor probes` lists what it allows, \
                     `--method auto` runs every allowed method",
                    reason.unwrap_or_default()
                ),
            ));
        }
        out.push(MethodStatus {
            method: m,
            status,
            needs: m.needs(),
            reason,
        });
    }
    if !out.iter().any(MethodStatus::runs) {
        let why: Vec<String> = out
            .iter()
            .map(|s| format!("{}: {}", s.method, s.reason.as_deref().unwrap_or("")))
            .collect();
        return Err(Error::unsupported(
            "bench",
            format!("no method can run on this kernel ({})", why.join("; ")),
        ));
    }
    Ok(out)
}

/// Parses `--method`'s comma-separated list: `auto`, or method names.
pub fn parse_choice(items: &[String]) -> Result<MethodChoice> {
    let mut only = Vec::new();
    for item in items.iter().flat_map(|s| s.split(',')).map(str::trim) {
        if item == "auto" {
            if items.iter().flat_map(|s| s.split(',')).count() > 1 {
                return Err(Error::invalid(
                    "--method auto",
                    "auto stands alone: it means every method this kernel allows",
                ));
            }
            return Ok(MethodChoice::Auto);
        }
        let m = Method::parse(item).ok_or_else(|| {
            Error::invalid(
                format!("--method {item}"),
                format!(
                    "unknown method; use auto or any of {}",
                    Method::ALL.map(Method::name).join(", ")
                ),
            )
        })?;
        if !only.contains(&m) {
            only.push(m);
        }
    }
    Ok(if only.is_empty() {
        MethodChoice::Auto
    } else {
        MethodChoice::Only(only)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(name: CapabilityName, allowed: bool) -> Capability {
        Capability {
            name,
            allowed,
            probe: "test".into(),
            errno: (!allowed).then(|| "EPERM".into()),
            reason: (!allowed).then(|| format!("{name}: EPERM (Operation not permitted)")),
        }
    }

    /// This machine kind in 2026-12: live frames refused, everything else allowed.
    fn refusing() -> Vec<Capability> {
        CapabilityName::ALL
            .into_iter()
            .map(|n| cap(n, n != CapabilityName::TestRunLiveFrames))
            .collect()
    }

    fn ran(v: &[MethodStatus]) -> Vec<Method> {
        v.iter().filter(|s| s.runs()).map(|s| s.method).collect()
    }

    #[test]
    fn auto_runs_what_the_kernel_allows_and_says_why_not_the_rest() {
        let all: Vec<_> = CapabilityName::ALL
            .into_iter()
            .map(|n| cap(n, true))
            .collect();
        assert_eq!(
            ran(&select(&MethodChoice::Auto, &all).unwrap()),
            Method::ALL
        );

        let s = select(&MethodChoice::Auto, &refusing()).unwrap();
        assert_eq!(ran(&s), [Method::ProgramCost, Method::AfPacket]);
        let live = &s[0];
        assert_eq!(
            (live.method, live.status),
            (Method::LiveFrames, Status::Refused)
        );
        assert!(
            live.reason.as_deref().unwrap().contains("EPERM"),
            "{live:?}"
        );
    }

    #[test]
    fn a_named_refused_method_is_an_error_before_anything_is_built() {
        let only = MethodChoice::Only(vec![Method::LiveFrames]);
        let e = select(&only, &refusing()).unwrap_err().to_string();
        assert!(
            e.contains("--method live-frames") && e.contains("EPERM"),
            "{e}"
        );

        let fallback = MethodChoice::Only(vec![Method::AfPacket, Method::ProgramCost]);
        let s = select(&fallback, &refusing()).unwrap();
        assert_eq!(ran(&s), [Method::ProgramCost, Method::AfPacket]);
        assert_eq!(s[0].status, Status::NotRequested);
    }

    #[test]
    fn nothing_allowed_is_an_error() {
        let none: Vec<_> = CapabilityName::ALL
            .into_iter()
            .map(|n| cap(n, false))
            .collect();
        let e = select(&MethodChoice::Auto, &none).unwrap_err().to_string();
        assert!(e.contains("no method"), "{e}");
    }

    #[test]
    fn method_lists_parse() {
        let p = |v: &[&str]| parse_choice(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(p(&[]).unwrap(), MethodChoice::Auto);
        assert_eq!(p(&["auto"]).unwrap(), MethodChoice::Auto);
        assert_eq!(
            p(&["program-cost,af-packet"]).unwrap(),
            MethodChoice::Only(vec![Method::ProgramCost, Method::AfPacket])
        );
        assert_eq!(
            p(&["af-packet", "af-packet"]).unwrap(),
            MethodChoice::Only(vec![Method::AfPacket])
        );
        assert!(p(&["auto,live-frames"]).is_err());
        let e = p(&["live"]).unwrap_err().to_string();
        assert!(
            e.contains("--method live") && e.contains("live-frames"),
            "{e}"
        );
    }
}
