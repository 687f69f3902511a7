#!/usr/bin/env bash
# Runs every test (docs/testing.md). Privileged integration tests (namespaces, XDP, BPF probes)
# are #[ignore = "needs root: <reason>"]:
#   as root:     cargo test --workspace -- --include-ignored: every test runs, none is ignored;
#   not root:    cargo test --workspace: the privileged tests are reported as "ignored, needs
#                root: <reason>" (not run), everything else runs; under CI=true this refuses.
# Measurements are benches (cargo bench --bench trace_throughput) and never run here.
# Extra arguments go to the test binaries, e.g. ./scripts/test.sh cli:: or --nocapture.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Labs build namespaces on 2 cores: keep test threads modest.
threads="--test-threads=${XDPDOCTOR_TEST_THREADS:-2}"
if [ "$(id -u)" = 0 ]; then
  # bpffs is shared by xdpdoctor and the tests that pin with bpftool: mounted for the whole
  # run when the machine has none (so no test's unmount can race another's pin), and
  # unmounted afterwards, also on failure or Ctrl-C, if only the kernel's own entries
  # (maps.debug, progs.debug) are left in it.
  bpffs_mounted_here=
  if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
    mount -t bpf bpf /sys/fs/bpf && bpffs_mounted_here=1
  fi
  # `ip link set ... xdp obj` (the tests that load an object with iproute2 as an independent
  # loader) creates iproute2's pin directories and leaves them, empty: tc/globals, and ip and
  # xdp as symlinks to tc/. Those the run created are removed (a directory only while empty:
  # never a pin).
  iproute2_dirs="ip xdp tc/globals tc"
  created_dirs=
  for d in $iproute2_dirs; do
    [ -e "/sys/fs/bpf/$d" ] || created_dirs="$created_dirs $d"
  done
  unmount_bpffs() {
    for d in $created_dirs; do
      if [ -L "/sys/fs/bpf/$d" ]; then rm -f "/sys/fs/bpf/$d"; else rmdir "/sys/fs/bpf/$d" 2>/dev/null || true; fi
    done
    if [ -n "$bpffs_mounted_here" ] \
       && [ -z "$(ls -A /sys/fs/bpf | grep -vx -e maps.debug -e progs.debug)" ]; then
      umount /sys/fs/bpf || true
    fi
  }
  trap unmount_bpffs EXIT
  cargo test --workspace -- --include-ignored "$threads" "$@"
  exit
fi
if [ "${CI:-}" = true ]; then
  echo "test: CI=true but not root: the privileged tests would not run; run $0 as root" >&2
  exit 2
fi
echo "test: not root: privileged tests (namespaces, XDP, BPF probes) are not run and show as" \
  "ignored with their reason; run $0 as root to run them" >&2
exec cargo test --workspace -- "$threads" "$@"
