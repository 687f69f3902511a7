//! Interface names as the kernel accepts them (`dev_valid_name`). Here, in the lowest layer
//! that names devices (their sysfs paths, [`super::set_device_attrs`]), so that every layer
//! above checks a name by the same rule: a lab's scenario, a forwarder's config.

/// Why `s` cannot be an interface name, if it cannot: what the kernel accepts
/// (`dev_valid_name`: 1-15 bytes, not `.` or `..`, no `/`, `:` or whitespace), without
/// control characters.
pub fn bad_ifname(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > 15 {
        return Some("use 1-15 bytes".into());
    }
    if s == "." || s == ".." {
        return Some("reserved".into());
    }
    s.chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
        .map(|c| format!("{c:?} is not allowed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_kernel_refuses_are_bad() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "a\tb",
            "0123456789abcdef",
        ] {
            assert!(bad_ifname(bad).is_some(), "{bad:?}");
        }
        for good in ["eth0", "ve-m1", "xdb123-br", "0123456789abcde"] {
            assert_eq!(bad_ifname(good), None, "{good:?}");
        }
    }
}
