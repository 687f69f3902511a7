//! The decision record's grammar against the exact messages `fwd_decision.h` writes.

use super::*;

/// Exactly what fwd_decision.h writes for a DNATed SYN redirected to ve-m1 (the message as
/// aya-log formats the record's arguments).
const REDIRECT: &str = "ingress=2 dir=dnat src=10.99.0.2:40000 dst=192.168.9.1:8080 \
    nat=10.123.1.1:80 new_src=10.99.0.2:40000 new_dst=10.123.1.1:80 fib=0 egress=4 \
    smac=02:00:5e:10:00:01 dmac=02:00:5e:10:00:02 verdict=redirect";

fn ep(s: &str) -> Endpoint {
    let a: SocketAddrV4 = s.parse().unwrap();
    Endpoint {
        addr: *a.ip(),
        port: a.port(),
    }
}

#[test]
fn redirect_record_parses_into_typed_fields() {
    let d = Decision::parse(REDIRECT).unwrap();
    assert_eq!(d.ingress_ifindex, 2);
    assert_eq!(d.translation, Translation::Dnat);
    assert_eq!(d.received.src, ep("10.99.0.2:40000"));
    assert_eq!(d.received.dst, ep("192.168.9.1:8080"));
    assert_eq!(d.nat, Some(ep("10.123.1.1:80")));
    assert_eq!(d.sent.dst, ep("10.123.1.1:80"));
    assert!(d.translated());
    assert_eq!(
        d.fib,
        Some(Fib::Lookup {
            code: 0,
            name: Some("success")
        })
    );
    let h = d.next_hop.unwrap();
    assert_eq!(h.ifindex, 4);
    assert_eq!(h.dmac.to_string(), "02:00:5e:10:00:02");
    assert_eq!(d.verdict, Verdict::Redirect);
    assert_eq!(d.redirected_to(), Some(4));
    assert_eq!(d.reason, None);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["received"]["dst"]["port"], 8080);
    assert_eq!(json["received"]["dst"]["addr"], "192.168.9.1");
    assert_eq!(json["fib"]["source"], "lookup");
    assert_eq!(json["fib"]["name"], "success");
    assert_eq!(json["next_hop"]["smac"], "02:00:5e:10:00:01");
    assert_eq!(json["translation"], "dnat");
    assert_eq!(json["verdict"], "redirect");
}

#[test]
fn pass_and_drop_records_parse() {
    let d = Decision::parse(
        "ingress=3 dir=dnat src=10.99.0.2:1 dst=192.168.9.1:9 nat=none \
         new_src=10.99.0.2:1 new_dst=192.168.9.1:9 verdict=pass reason=no_entry",
    )
    .unwrap();
    assert_eq!((d.nat, d.fib, d.next_hop), (None, None, None));
    assert_eq!(
        (d.verdict, d.reason),
        (Verdict::Pass, Some(Reason::NoEntry))
    );
    assert!(!d.translated());
    let d = Decision::parse(
        "ingress=4 dir=snat src=10.123.1.1:80 dst=10.99.0.2:5 nat=192.168.9.1:8080 \
         new_src=10.123.1.1:80 new_dst=10.99.0.2:5 fib=1 verdict=drop reason=blackhole",
    )
    .unwrap();
    assert_eq!(d.translation, Translation::Snat);
    assert_eq!(d.verdict, Verdict::Drop);
    assert_eq!(d.reason.unwrap().as_str(), "blackhole");
    assert!(matches!(
        d.fib,
        Some(Fib::Lookup {
            code: 1,
            name: Some("blackhole")
        })
    ));
    let d = Decision::parse(
        "ingress=2 dir=dnat src=1.2.3.4:5 dst=5.6.7.8:9 nat=10.0.0.1:80 \
         new_src=1.2.3.4:5 new_dst=10.0.0.1:80 fib=cache egress=7 \
         smac=aa:bb:cc:dd:ee:ff dmac=00:11:22:33:44:55 verdict=pass reason=devmap_miss",
    )
    .unwrap();
    assert_eq!(d.fib, Some(Fib::Cache));
    assert_eq!(d.redirected_to(), None);
    let d = Decision::parse(
        "ingress=2 dir=dnat src=1.2.3.4:5 dst=5.6.7.8:9 nat=10.0.0.1:80 \
         new_src=1.2.3.4:5 new_dst=5.6.7.8:9 fib=-22 verdict=pass reason=fib_error",
    )
    .unwrap();
    assert_eq!(
        d.fib,
        Some(Fib::Lookup {
            code: -22,
            name: None
        })
    );
}

#[test]
fn malformed_records_name_the_word() {
    for (msg, says) in [
        ("ingress=2", "no `dir=`"),
        (&REDIRECT.replace("dir=dnat", "dir=up"), "dir=up"),
        (
            &REDIRECT.replace(":8080", ":80800"),
            "dst=192.168.9.1:80800",
        ),
        (&REDIRECT.replace("egress=4", "egress=x"), "egress=x"),
        (
            &REDIRECT.replace("smac=02:00:5e:10:00:01", "smac=02:00"),
            "smac=02:00",
        ),
        (&format!("{REDIRECT} reason=no_entry"), "with a reason"),
        (&format!("{REDIRECT} extra=1"), "unknown key `extra`"),
        (&format!("{REDIRECT} fib=1"), "`fib` given twice"),
        (
            &REDIRECT.replace(" egress=4", ""),
            "a redirect without egress",
        ),
        ("a b", "`a` is not key=value"),
    ] {
        let e = Decision::parse(msg).unwrap_err().to_string();
        assert!(e.contains(says), "{msg}: {e}");
    }
}

#[test]
fn fib_names_follow_the_kernel_order() {
    assert_eq!(fib_result_name(0), Some("success"));
    assert_eq!(fib_result_name(7), Some("no_neigh"));
    assert_eq!(fib_result_name(9), Some("no_src_addr"));
    assert_eq!(fib_result_name(10), None);
    assert_eq!(fib_result_name(-1), None);
}

/// Every reason the header writes is one the parser knows (and vice versa).
#[test]
fn header_reasons_are_known() {
    let header = include_str!("../../../../forwarder-ebpf/include/fwd_decision.h");
    // Every `reason=<word>"` inside a string literal.
    let mut written: Vec<&str> = header
        .split("reason=")
        .skip(1)
        .filter_map(|s| {
            let n = s
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(s.len());
            (n > 0 && s[n..].starts_with('"')).then(|| &s[..n])
        })
        .collect();
    written.sort_unstable();
    written.dedup();
    let mut known: Vec<&str> = Reason::ALL.iter().map(|(_, n)| *n).collect();
    known.sort_unstable();
    assert_eq!(written, known);
}
