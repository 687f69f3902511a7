#!/usr/bin/env bash
# The kernel matrix (docs/kernel-matrix.md, docs/testing.md): runs the product on Debian's 5.10
# (bullseye), 6.1 and 6.12 (bookworm) kernels under QEMU (software emulation: KVM cannot boot a
# stock kernel on this machine kind) and on the running kernel (the host row), and checks every
# row against docs/kernel-matrix.expected.json.
#
#   scripts/kernel-matrix.sh [--json FILE] [--rows "5.10 6.1 6.12 host"] [--tests FILTERS|none]
#                            [--jobs N] [--faults "FAULT..."|none] [--only-faults]
#
# --jobs N: guests running at once (default 2; docs/testing.md#kernel-matrix says why).
# --faults: the seed faults diagnosed alone (default: every fault of the expectations' `faults`;
# `none`: that step skipped); only those are checked. --only-faults: no probes, trace or seed
# lab, only each fault alone (and the tests): a rerun of some faults, to be collected beside a
# whole run's row directories (results.py collect ROW=WHOLE ROW=RERUN).
# As root. Installs what it needs (qemu-system-x86, kmod, python3-venv; virtme-ng in a venv;
# the kernel packages, extracted and depmod'ed), all cached under
# ${XDG_CACHE_HOME:-~/.cache}/xdpdoctor/kernel-matrix so reruns only boot. Builds the release
# binary and the integration test binary once on the host; each guest sees the host's root
# filesystem read-only (so the project tree and target/) and writes its files to a shared
# directory, target/kernel-matrix/<row>/. Per row (scripts/kernel-matrix/guest.sh):
# `probes --json` before any veth exists and after; `trace` during failing traffic (started
# before the lab, so a probe waiting for the veth module is seen to attach), again
# `--without fexit` (the kretprobe pair); the seed lab with all faults (diagnose, fix --apply,
# connect, fix --revert, connect, diagnose); each fault alone (ring-m1 under a burst of SYNs,
# `xdpdoctor lab burst`); the kernel-dependent integration tests (guests only:
# scripts/test.sh runs every test on the host).
#
# Output: FILE (default target/kernel-matrix/results.json) and a summary on stdout (also
# target/kernel-matrix/summary.txt). Exit codes: 0 every row agrees with the expectations,
# 1 a row disagrees, 2 the matrix could not run (not root, a download or a build failed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
json=target/kernel-matrix/results.json
rows="5.10 6.1 6.12 host"
jobs=2
faults=
only_faults=
boot_limit=${KM_BOOT_LIMIT:-600}
# The guests run the integration tests whose outcome depends on the kernel and that the
# guest's own steps (guest.sh: the seed lab with all faults, each fault alone, fix and revert,
# trace with and without fexit) do not already cover: the verifier and test runs (checksum,
# decision log, deploy), every probe (trace), netlink and ethtool as each kernel answers them,
# GRO as a fix (5.13+), the full-checksum forwarder, a peer that is down, redirect targets
# learned from tracepoints, the observed (not only static) evidence of diagnose, and IPv6 on
# a foreign dual-stack program (its captures, sysctls and fixes as each kernel has them). Tests
# that do not change with the kernel (the CLI, printed commands, several labs of the same
# shape, stale NAT targets, the fleet, the source checks) run on the host only
# (scripts/test.sh): under TCG a lab takes minutes, and the whole of .ci/run must stay under
# an hour (docs/testing.md#kernel-matrix). `--tests ''` runs them all.
tests="checksum:: decision_log:: deploy:: forwarder_decisions:: trace:: netlink_features:: netlink_rtnl::"
tests+=" fix::fix_prefer_gro_and_lab_down_cleans_pins fix::fix_csum_forwarder_switches_programs_then_reverts"
tests+=" diagnose::diagnose_evidence_is_observed_not_only_static diagnose::peer_down_is_the_one_root_cause"
tests+=" foreign::foreign_bpf_redirect_without_map_targets_learned_from_tracepoints"
tests+=" foreign::foreign_program_broken_and_healthy_containers_diagnose_fix_revert"
tests+=" lab::faults_are_visible_to_ip_and_ethtool"
# IPv6 end to end (issue 23): the router scenario with a foreign dual-stack program, each
# of its faults alone and all three together (tests/integration/dual_stack.rs).
tests+=" dual_stack::"
# A device's sysfs attributes inside its namespace (the bench's batched hand-over writes
# napi_defer_hard_irqs, Linux 5.7+, and gro_flush_timeout that way): a private mount
# namespace per thread on every kernel (tests/integration/netns_sysfs.rs).
tests+=" netns_sysfs::"
while [ $# -gt 0 ]; do
  case $1 in
    --json) json=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --tests) tests=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --faults) faults=$2; [ -n "$faults" ] || faults=none; shift 2 ;;
    --only-faults) only_faults=1; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "kernel-matrix: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then echo "kernel-matrix: must run as root" >&2; exit 2; fi
t_start=$(date +%s)
say() { echo "kernel-matrix: $*" >&2; }
expected=docs/kernel-matrix.expected.json
out=target/kernel-matrix
cache=${XDG_CACHE_HOME:-$HOME/.cache}/xdpdoctor/kernel-matrix
mkdir -p "$out" "$cache"

# 1. Tools: the project's build dependencies, QEMU, depmod, a virtme-ng venv.
./scripts/setup.sh >&2
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v depmod >/dev/null || need+=(kmod)
/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
apt_updated=
apt_update() { [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }; }
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
venv=$cache/venv
if [ ! -x "$venv/bin/vng" ]; then
  say "installing virtme-ng into $venv"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'virtme-ng==1.42' >&2
fi
export PATH=$venv/bin:$PATH   # vng runs virtme-run from here

# 2. Kernels: the newest generic (not -cloud: no 9p) unsigned image of each guest row. A row
# whose kernel is in another Debian release than this machine's (5.10: bullseye) is looked up
# with a private apt configuration under the cache: this machine's own Debian mirrors with that
# release's suites (SUITE, SUITE-security, SUITE-updates), so the machine's apt is not touched.
declare -A vmlinuz
# apt_for SUITE: prints apt-get/apt-cache options for a private configuration of SUITE.
apt_for() {
  local suite=$1 a=$cache/apt/$1
  if [ ! -e "$a/.ready" ]; then
    apt_update
    mkdir -p "$a/lists/partial" "$a/archives/partial"
    # Debian's index targets on this machine: "URI RELEASE" (bookworm, bookworm-security, ...).
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(ORIGIN)' 2>/dev/null \
      | awk -v s="$suite" '$3 == "Debian" { sub(/^[a-z]+/, s, $2); print "deb " $1 " " $2 " main" }' \
      | sort -u >"$a/sources.list"
    [ -s "$a/sources.list" ] || { say "no Debian mirror in this machine's apt sources"; return 1; }
    apt-get $(apt_opts "$a") update -qq >&2 || return 1
    touch "$a/.ready"
  fi
  apt_opts "$a"
}
apt_opts() {
  echo "-o Dir::Etc::SourceList=$1/sources.list -o Dir::Etc::SourceParts=/dev/null" \
       "-o Dir::State::Lists=$1/lists -o Dir::Cache::Archives=$1/archives" \
       "-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache="
}
for r in $rows; do
  [ "$r" = host ] && continue
  read -r regex suite < <(python3 scripts/kernel-matrix/results.py rows "$expected" | awk -v r="$r" '$1 == r { print $2, $3 }')
  [ -n "$regex" ] || { say "no package for row $r in $expected"; exit 2; }
  opts=
  if [ "$suite" != - ]; then
    opts=$(apt_for "$suite") || { say "row $r: no package index for Debian $suite"; exit 2; }
  fi
  # shellcheck disable=SC2086
  pkg=$(apt-cache $opts search --names-only "$regex" 2>/dev/null | awk '{print $1}' | sort -V | tail -1)
  if [ -z "$pkg" ] && [ -z "$opts" ]; then apt_update; pkg=$(apt-cache search --names-only "$regex" | awk '{print $1}' | sort -V | tail -1); fi
  [ -n "$pkg" ] || { say "no Debian package matches $regex"; exit 2; }
  # shellcheck disable=SC2086
  ver=$(apt-cache $opts policy "$pkg" | awk '/Candidate:/ {print $2}')
  dir=$cache/kernels/${pkg}_$ver
  if [ ! -e "$dir/.ready" ]; then
    say "fetching $pkg $ver"
    rm -rf "$dir" && mkdir -p "$dir/deb"
    # shellcheck disable=SC2086
    (cd "$dir/deb" && apt-get $opts download -q "$pkg=$ver" >&2 2>/dev/null) \
      || { if [ -n "$opts" ]; then apt-get $opts update -qq >&2; else apt_update; fi
           (cd "$dir/deb" && apt-get $opts download -q "$pkg=$ver" >&2); }
    dpkg -x "$dir"/deb/*.deb "$dir"
    rm -rf "$dir/deb"
    release=$(ls "$dir/lib/modules")
    depmod -b "$dir" "$release"   # the .deb ships no modules.dep
    touch "$dir/.ready"
  fi
  release=$(ls "$dir/lib/modules")
  vmlinuz[$r]=$dir/boot/vmlinuz-$release
done

# 3. The host-built binaries every row runs.
say "building the release binary and the integration tests"
cargo build --release >&2
testbin=$(cargo test --release --test integration --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "integration" and m.get("executable"):
        print(m["executable"])')
[ -x "$testbin" ] || { say "integration test binary not found"; exit 2; }
x=$root/target/release/xdpdoctor
# The faults diagnosed alone, and those of them that need load to show (a `load` in their
# expectation: guest.sh sends a burst while diagnose watches).
[ -n "$faults" ] || faults=$(python3 scripts/kernel-matrix/results.py faults "$expected")
[ "$faults" != none ] || faults=
load_faults=$(python3 scripts/kernel-matrix/results.py faults "$expected" load)

# 4. Each row. Guests: 2 CPUs, 4 GiB, TCG; output only through the shared directory (without
# udev on the host, vng loses the guest's stdout and returns 255). Up to $jobs guests run at
# once (docs/testing.md#kernel-matrix: how guests share the cores); the host row runs after
# them, alone. Each row records its wall time and the CPU time its QEMU used.
run_row() {
  local r=$1 d=$root/$out/$1 t0 skip
  rm -rf "$d" && mkdir -p "$d"
  t0=$(date +%s)
  if [ "$r" = host ]; then
    prefix=km$$
    echo "$prefix" >"$d/prefix"
    say "row host ($(uname -r)): lab prefix $prefix"
    KM_PREFIX=$prefix KM_FAULTS="$faults" KM_LOAD_FAULTS="$load_faults" KM_ONLY_FAULTS=$only_faults KM_TESTS=none \
      scripts/kernel-matrix/guest.sh "$d/out" "$x" "$testbin" >"$d/guest.log" 2>&1 || true
  else
    say "row $r: booting ${vmlinuz[$r]##*/} under QEMU (TCG)"
    # Tests that cannot apply to this row's kernel (expected.json `skip_tests`, each with its
    # reason): not run, and reported as skipped with the reason.
    skip=$(python3 scripts/kernel-matrix/results.py skips "$expected" "$r")
    # The settings go through a file in the shared directory, not the command: vng passes the
    # command on the kernel command line, which holds 2048 bytes on x86 (a 5.10 guest with a
    # longer one, its skip list inline, hung at boot with its QEMU idle).
    printf "KM_FAULTS='%s'\nKM_LOAD_FAULTS='%s'\nKM_ONLY_FAULTS='%s'\nKM_TESTS='%s'\nKM_SKIP='%s'\n" \
      "$faults" "$load_faults" "$only_faults" "$tests" "$skip" >"$d/env"
    echo "export KM_FAULTS KM_LOAD_FAULTS KM_ONLY_FAULTS KM_TESTS KM_SKIP" >>"$d/env"
    cmd=". $d/env; $root/scripts/kernel-matrix/guest.sh $d/out $x $testbin >$d/guest.log 2>&1; echo \$? >$d/rc"
    # A guest that shows no sign of life (guest.sh writes out/kernel.txt first) within
    # $boot_limit s hung while booting (its QEMU idle): it is killed (timeout's process group)
    # and booted once more. So is a guest that died before guest.sh finished (no rc): under
    # QEMU's TCG the 6.12 guest died in 3 of 5 boots on 2026-12-07: an int3 oops at boot
    # while the kernel patched its own text, and twice in ring-m1's diagnose under a burst
    # (docs/testing.md). The dead try's console is kept as vng-died.log; vng --verbose puts
    # the guest's console in vng.log.
    ( for try in 1 2; do
        timeout 2700 vng --verbose --disable-kvm --disable-microvm -r "${vmlinuz[$r]}" --cpus 2 \
          --memory 4G --rwdir "$d" -- "$cmd" >"$d/vng.log" 2>&1 &
        vpid=$!
        t1=$(date +%s)
        while kill -0 "$vpid" 2>/dev/null && [ ! -e "$d/out/kernel.txt" ] \
              && [ $(( $(date +%s) - t1 )) -lt "$boot_limit" ]; do sleep 5; done
        if [ -e "$d/out/kernel.txt" ] || ! kill -0 "$vpid" 2>/dev/null || [ "$try" = 2 ]; then
          wait "$vpid" || true
          if [ -e "$d/rc" ] || [ "$try" = 2 ]; then break; fi
          why=$(grep -m1 -o -e 'Oops:.*' -e 'Kernel panic.*' "$d/vng.log" || echo "no panic on the console")
          say "row $r: the guest died before it finished ($why): booting it again"
          mv "$d/vng.log" "$d/vng-died.log"
          rm -rf "$d/out" && mkdir -p "$d/out"
          echo "guest died ($why), booted again" >"$d/died-retry"
          continue
        fi
        say "row $r: no sign of the guest after $boot_limit s (a boot hang): booting it again"
        kill -- -"$vpid" 2>/dev/null || true
        wait "$vpid" || true
        echo "boot hang after $boot_limit s, booted again" >"$d/boot-retry"
      done
      times >"$d/times" )
    [ -e "$d/rc" ] || say "row $r: the guest did not finish (see $d/vng.log)"
  fi
  mkdir -p "$d/out"
  echo $(( $(date +%s) - t0 )) >"$d/out/wall_seconds"
  [ ! -e "$d/times" ] || cp "$d/times" "$d/out/times"
  [ ! -e "$d/boot-retry" ] || cp "$d/boot-retry" "$d/out/boot-retry"
  [ ! -e "$d/died-retry" ] || cp "$d/died-retry" "$d/out/died-retry"
  if [ "$r" = host ]; then cp "$d/prefix" "$d/out/prefix"; fi
  say "row $r: done in $(cat "$d/out/wall_seconds") s"
}
collect=()
running=0
for r in $rows; do
  [ "$r" = host ] && continue
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
  run_row "$r" &
  running=$((running + 1))
  sleep 20   # boots apart: the first seconds of a guest are its busiest
done
wait || true
for r in $rows; do
  [ "$r" = host ] && run_row host
  collect+=("$r=$root/$out/$r/out")
done

# 5. One results file, a summary, the verdict.
python3 scripts/kernel-matrix/results.py collect --expected "$expected" --json "$json" \
  --faults "${faults:-none}" \
  --summary "$out/summary.txt" --wall $(( $(date +%s) - t_start )) "${collect[@]}"
