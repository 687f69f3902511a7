#!/usr/bin/env bash
# One kernel's row of the kernel matrix (scripts/kernel-matrix.sh), run as root inside a QEMU
# guest (or on the host for the host row). Uses the host-built binaries only; writes every
# result as a file under OUT (the guest's stdout is lost under vng) and never stops at a
# failed step: the host script judges the files against docs/kernel-matrix.expected.json.
#
#   guest.sh OUT XDPDOCTOR TESTBIN
#   env: KM_PREFIX   lab prefix (default km; unique on a shared host)
#        KM_FAULTS   faults to diagnose one at a time (space-separated)
#        KM_LOAD_FAULTS  those of them diagnosed under a burst (`lab burst`) with a passive window
#        KM_ONLY_FAULTS  set: only each fault alone (and the tests), no probes, trace or seed
#        KM_TRACE_FAULT  the fault the trace step runs (default peer-no-xdp-m1: one broken
#                    container beside a healthy one, so attribution is checked too)
#        KM_TESTS    integration test filters (space-separated; empty: the whole binary;
#                    "none": skip)
#        KM_SKIP     tests that cannot apply to this kernel (space-separated exact names): not
#                    run; the host script reports them as skipped with their reasons
#        KM_TEST_THREADS  test threads (default 1: concurrent labs under emulation are slow
#                    enough to widen races the host run covers anyway)
#
# Files in OUT: steps.tsv (step, exit code, seconds), kernel.txt, probes-before.json (before
# any veth exists), probes.json (after), trace.jsonl + trace.err (trace started before the lab),
# trace-kretprobe.jsonl (the same traffic, trace --without fexit), seed-*.json/txt,
# fault-*.json (+ fault-*-up.txt: a lab that did not come up says why there), load-* (a load
# fault's burst and the router's link counters around its window), tests.txt, dmesg.txt.
set -uo pipefail
out=$1 x=$2 testbin=$3
p=${KM_PREFIX:-km}
trace_fault=${KM_TRACE_FAULT:-peer-no-xdp-m1}
mkdir -p "$out"
cd "$(dirname "$0")/../.."   # the project tree: scenarios/ are found from here
export NO_COLOR=1
: >"$out/steps.tsv"
uname -r >"$out/kernel.txt"

# step NAME CMD...: runs CMD (which writes its own files) and records its exit code and time.
step() {
  local name=$1 t0 rc; shift
  t0=$(date +%s%N)
  "$@"; rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf '%s\t%s\t%d.%d\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000 / 100)) >>"$out/steps.tsv"
  return $rc
}

down() { "$x" lab down --prefix "$p" >>"$out/lab-down.txt" 2>&1 || true; }
trap down EXIT

# wait_line PATTERN FILE PID: returns once FILE has a line matching PATTERN (what a
# background command says when it is ready), PID has exited, or 120 s have passed.
wait_line() {
  local t0
  t0=$(date +%s)
  until grep -q -e "$1" "$2" 2>/dev/null || ! kill -0 "$3" 2>/dev/null \
        || [ $(( $(date +%s) - t0 )) -gt 120 ]; do sleep 0.5; done
}

# Steps 1-4 (probes, trace, the seed lab) unless KM_ONLY_FAULTS is set: a rerun of some
# faults beside a whole run (kernel-matrix.sh --only-faults).
if [ -n "${KM_ONLY_FAULTS:-}" ]; then
  touch "$out/only-faults"
else
# 1. Probes before any veth exists: on a kernel with veth as a module, veth_xdp_xmit waits.
step probes-before sh -c "'$x' probes --json >'$out/probes-before.json' 2>'$out/probes-before.err'"

# 2. trace, started before the lab (so before the veth module loads), during failing traffic.
"$x" trace --json --duration 600 >"$out/trace.jsonl" 2>"$out/trace.err" &
tpid=$!
wait_line '^tracing ' "$out/trace.err" "$tpid"
step trace-lab-up sh -c "'$x' lab up seed --prefix '$p' --fault '$trace_fault' >'$out/trace-lab-up.txt' 2>&1"
sleep 3   # the pending veth probe attaches within a second of the module loading
step trace-connect sh -c "'$x' lab connect --prefix '$p' --json >'$out/trace-connect.json' 2>&1"
sleep 1
step trace sh -c "kill -INT $tpid; while kill -0 $tpid 2>/dev/null; do sleep 0.2; done"

# 2b. The same traffic with fexit set aside: the kretprobe pair's turn (where kprobes exist).
"$x" trace --json --duration 600 --without fexit >"$out/trace-kretprobe.jsonl" 2>"$out/trace-kretprobe.err" &
tpid=$!
wait_line '^tracing ' "$out/trace-kretprobe.err" "$tpid"
step trace-kretprobe-connect sh -c "'$x' lab connect --prefix '$p' --json >'$out/trace-kretprobe-connect.json' 2>&1"
sleep 1
step trace-kretprobe sh -c "kill -INT $tpid; while kill -0 $tpid 2>/dev/null; do sleep 0.2; done"
down

# 3. Probes now that the veth module is loaded.
step probes sh -c "'$x' probes --json >'$out/probes.json' 2>'$out/probes.err'"

# 4. The seed lab with all (default) faults: diagnose, fix, connect, revert.
step seed-up sh -c "'$x' lab up seed --prefix '$p' >'$out/seed-up.txt' 2>&1"
step seed-connect-broken sh -c "'$x' lab connect --prefix '$p' --json >'$out/seed-connect-broken.json' 2>&1"
step seed-diagnose sh -c "'$x' --netns '$p-vm' diagnose --json >'$out/seed-diagnose.json' 2>'$out/seed-diagnose.err'"
step seed-fix sh -c "'$x' --netns '$p-vm' fix --apply >'$out/seed-fix.txt' 2>&1"
step seed-connect-fixed sh -c "'$x' lab connect --prefix '$p' --json >'$out/seed-connect-fixed.json' 2>&1"
step seed-diagnose-fixed sh -c "'$x' --netns '$p-vm' diagnose --json >'$out/seed-diagnose-fixed.json' 2>&1"
step seed-revert sh -c "'$x' --netns '$p-vm' fix --revert >'$out/seed-revert.txt' 2>&1"
step seed-connect-reverted sh -c "'$x' lab connect --prefix '$p' --json >'$out/seed-connect-reverted.json' 2>&1"
step seed-diagnose-reverted sh -c "'$x' --netns '$p-vm' diagnose --json >'$out/seed-diagnose-reverted.json' 2>&1"
step seed-down down
fi   # KM_ONLY_FAULTS

# 5. Each fault alone. A lab that does not come up (a kernel without a driver the fault
# needs) is not diagnosed: its refusal (fault-F-up.txt) is the row's answer. A fault in
# KM_LOAD_FAULTS needs load to show (ring-m1: the lab makes no burst itself): after a connect
# (the neighbours resolved), `lab burst` sends SYNs from the client on every CPU while diagnose
# watches a passive window, and the router's `ip -s link` before and after the window gives
# the kernel's own drop counters beside the diagnosis.
is_load() { case " ${KM_LOAD_FAULTS:-} " in *" $1 "*) return 0 ;; esac; return 1; }
for f in ${KM_FAULTS:-}; do
  if ! step "fault-$f-up" sh -c "'$x' lab up seed --prefix '$p' --fault '$f' >'$out/fault-$f-up.txt' 2>&1"; then
    step "fault-$f-down" down
    continue
  fi
  if is_load "$f"; then
    step "fault-$f-connect" sh -c "'$x' lab connect --prefix '$p' --json >'$out/load-$f-connect.json' 2>&1"
    # Diagnose first, the burst once diagnose says its window is open ("observing for", at
    # -v: every probe and capture attached): attaching patches kernel text (tracepoint keys
    # and static calls, the fexit trampoline), and under QEMU's TCG a 6.12 guest whose other
    # CPU ran that text at the burst's rate died on the patch's int3 ("Oops: int3" in
    # xdp_do_redirect, 2026-12-07, docs/testing.md). Waiting only for the first probe (a
    # `tracing` program) was not enough: on 5.10 the 10 s window had closed before the burst
    # sent (CI, 2026-12-07: TX dropped 12.7k, diagnosis healthy). The burst stops by itself
    # after 15 s (counted from its start), inside the 30 s window, so detaching at the
    # window's end patches no text under it either.
    "$x" -v --netns "$p-vm" diagnose --json --no-traffic --observe 30 >"$out/fault-$f.json" 2>"$out/fault-$f.err" &
    dpid=$!
    wait_line 'observing for .* every observer attached' "$out/fault-$f.err" "$dpid"
    # `lab burst`: SYNs from the lab's client to its first entry, 192.168.9.1:8080 on vm:eth0,
    # one sender per CPU, as tests/integration/ring_overflow.rs sends them; it says on stderr
    # when its senders run, and prints what it sent after 15 s (or when stopped: SIGTERM).
    "$x" lab burst --prefix "$p" --seconds 15 --json >"$out/load-$f-burst.json" 2>"$out/load-$f-burst.err" &
    bpid=$!
    wait_line '^lab burst: sending' "$out/load-$f-burst.err" "$bpid"
    ip -n "$p-vm" -s -j link >"$out/load-$f-links-before.json" 2>&1
    step "fault-$f" wait "$dpid"
    kill -TERM "$bpid" 2>/dev/null; wait "$bpid"
    ip -n "$p-vm" -s -j link >"$out/load-$f-links-after.json" 2>&1
  else
    step "fault-$f" sh -c "'$x' --netns '$p-vm' diagnose --json >'$out/fault-$f.json' 2>'$out/fault-$f.err'"
  fi
  step "fault-$f-down" down
done

# 6. The privileged integration tests (host-built binary; labs get their own prefixes).
if [ "${KM_TESTS:-}" = none ]; then
  touch "$out/tests-skipped"
else
  skips=()
  for t in ${KM_SKIP:-}; do skips+=(--skip "$t"); done
  # --skip matches substrings (--exact would also make the module FILTERS exact): the names
  # are full test paths.
  # shellcheck disable=SC2086
  step tests sh -c "'$testbin' --include-ignored --test-threads=${KM_TEST_THREADS:-1} ${skips[*]} ${KM_TESTS:-} >'$out/tests.txt' 2>&1"
fi
dmesg >"$out/dmesg.txt" 2>&1 || true   # the guest kernel's log (clocksource, BPF warnings)
trap - EXIT
