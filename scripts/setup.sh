#!/usr/bin/env bash
# Installs what xdpdoctor needs on a fresh Debian machine of this kind (idempotent):
#   clang (compiles the eBPF C programs), libbpf-dev (bpf_helpers.h), linux-libc-dev (UAPI
#   headers), libpcap-dev (capture), pkg-config; and, for tests and benchmarks only, the
#   independent tools iproute2, ethtool and nftables (the bench writes its rules over netlink;
#   the tests read them back with nft), strace (the crash tests delay syscalls with it to
#   kill xdpdoctor inside a window, deterministically; the bench test fails one with it), the
#   pcapng readers tcpdump
#   and tshark (the tests read xdpdoctor's pcapng files with them) and man-db (`man -l`
#   renders the generated manual pages); for the Docker lab (`lab up docker`) and its tests,
#   Debian's docker.io (the daemon, iptables-nft) and busybox-static (the lab image's only
#   binary: a static busybox runs in an image without libc); for the fleet path (deploy/,
#   docs/fleet.md) and its tests, Debian's prometheus (with promtool) and
#   prometheus-node-exporter (without their recommends: no service is started, no
#   collectors' cron jobs), systemd for systemd-analyze (it does not become init) and
#   python3-yaml (the tests parse the Kubernetes manifest).
set -euo pipefail

need=()
# One glob at a time: `ls A B` fails when either is missing (clang-16 alone was never found).
have_clang() { command -v clang >/dev/null || compgen -G '/usr/bin/clang-1[6-9]' >/dev/null || compgen -G '/usr/bin/clang-2[0-9]' >/dev/null; }
have_clang || need+=(clang-16)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
[ -f /usr/include/linux/bpf.h ] || need+=(linux-libc-dev)
[ -f /usr/include/pcap/pcap.h ] || need+=(libpcap-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v ip >/dev/null || need+=(iproute2)
command -v ethtool >/dev/null || need+=(ethtool)
command -v nft >/dev/null || need+=(nftables)
command -v bpftool >/dev/null || need+=(bpftool)
command -v nsenter >/dev/null || need+=(util-linux)
command -v sysctl >/dev/null || need+=(procps)
command -v strace >/dev/null || need+=(strace)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v tshark >/dev/null || need+=(tshark)
command -v man >/dev/null || need+=(man-db)
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || need+=(docker.io)
command -v iptables-save >/dev/null || need+=(iptables)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v systemd-analyze >/dev/null || need+=(systemd)
python3 -c 'import yaml' >/dev/null 2>&1 || need+=(python3-yaml)
lean=()
command -v promtool >/dev/null || lean+=(prometheus)
command -v prometheus-node-exporter >/dev/null || lean+=(prometheus-node-exporter)

if [ ${#need[@]} -gt 0 ] || [ ${#lean[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} ${lean[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  [ ${#need[@]} -eq 0 ] || apt-get install -y -qq "${need[@]}" >/dev/null
  [ ${#lean[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
fi

# bpffs and tracefs: xdpdoctor mounts them itself when missing; nothing to do here.
echo "setup: ok ($(uname -r); $(command -v clang || ls /usr/bin/clang-1* | head -1))"
