//! A network device's sysfs attributes (`/sys/class/net/DEV/ATTR`), read and written inside
//! the device's namespace.
//!
//! sysfs lists the devices of the network namespace that mounted it, so the host's `/sys`
//! does not show a lab's veths, and some per-device settings have no netlink attribute on
//! older kernels (`gro_flush_timeout`, `napi_defer_hard_irqs`: netlink has them per NAPI
//! only from Linux 6.13). As `ip netns exec` does, the work runs on a thread that entered
//! the namespace ([`Netns::run`]); that thread unshares its mount namespace, makes every
//! mount a slave (nothing it mounts propagates back) and mounts a sysfs of its own on
//! `/sys`. The mount exists only in the thread's own mount namespace: no other thread or
//! process sees it, and it is gone when the thread ends, also when the process is killed.

use std::path::PathBuf;

use super::Netns;
use crate::{Error, Result};

/// One attribute of one device: its name under `/sys/class/net/DEV/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceAttr(pub &'static str);

impl DeviceAttr {
    fn path(self, dev: &str) -> PathBuf {
        PathBuf::from("/sys/class/net").join(dev).join(self.0)
    }
}

/// Writes `values` to device `dev`'s attributes in `ns`, in order, and returns what each
/// held before (to write back later). An attribute the kernel lacks or refuses is an error
/// naming it; the attributes written before it are written back first, so a failure
/// changes nothing.
pub fn set_device_attrs(
    ns: &Netns,
    dev: &str,
    values: &[(DeviceAttr, u64)],
) -> Result<Vec<(DeviceAttr, u64)>> {
    check_name(dev)?;
    ns.run(|| {
        own_sysfs(ns, dev)?;
        let mut old = Vec::with_capacity(values.len());
        for &(attr, v) in values {
            let done = read(attr, dev).and_then(|before| {
                write(attr, dev, v)?;
                Ok(before)
            });
            match done {
                Ok(before) => old.push((attr, before)),
                Err(e) => {
                    for &(a, b) in old.iter().rev() {
                        if let Err(e) = write(a, dev, b) {
                            log::error!("{}", crate::error::chain(&e));
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(old)
    })
}

/// Reads device `dev`'s attributes in `ns`.
pub fn device_attrs(ns: &Netns, dev: &str, attrs: &[DeviceAttr]) -> Result<Vec<u64>> {
    check_name(dev)?;
    ns.run(|| {
        own_sysfs(ns, dev)?;
        attrs.iter().map(|&a| read(a, dev)).collect()
    })
}

/// A device name the kernel would accept: one path component.
fn check_name(dev: &str) -> Result<()> {
    match super::bad_ifname(dev) {
        Some(why) => Err(Error::invalid(format!("interface name {dev:?}"), why)),
        None => Ok(()),
    }
}

/// On the calling (namespace) thread: a private mount namespace with a sysfs of this network
/// namespace on /sys.
fn own_sysfs(ns: &Netns, dev: &str) -> Result<()> {
    let target = format!("sysfs of namespace {} (for {dev})", ns.name);
    // SAFETY: plain syscalls with constant or NUL-terminated static arguments; unshare and
    // the mounts affect only this thread's (new) mount namespace.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(Error::last_os("unshare(CLONE_NEWNS)", target));
        }
        let none = std::ptr::null();
        if libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_SLAVE | libc::MS_REC,
            std::ptr::null(),
        ) != 0
        {
            return Err(Error::last_os("mount(/, MS_SLAVE | MS_REC)", target));
        }
        if libc::mount(
            c"sysfs".as_ptr(),
            c"/sys".as_ptr(),
            c"sysfs".as_ptr(),
            0,
            std::ptr::null(),
        ) != 0
        {
            return Err(Error::last_os("mount(sysfs, /sys)", target));
        }
    }
    Ok(())
}

fn read(attr: DeviceAttr, dev: &str) -> Result<u64> {
    let path = attr.path(dev);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    text.trim().parse().map_err(|_| {
        Error::unexpected(
            path.display().to_string(),
            format!("not a number: {:?}", text.trim()),
        )
    })
}

fn write(attr: DeviceAttr, dev: &str, v: u64) -> Result<()> {
    let path = attr.path(dev);
    std::fs::write(&path, format!("{v}\n")).map_err(|e| Error::io("write", &path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_one_path_component() {
        for bad in ["", ".", "..", "a/b", "0123456789abcdef"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("eth0").is_ok());
        assert_eq!(
            DeviceAttr("gro_flush_timeout").path("eth0"),
            PathBuf::from("/sys/class/net/eth0/gro_flush_timeout")
        );
    }
}
