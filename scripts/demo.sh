#!/usr/bin/env bash
# The main job on the built-in lab: build the seed incident in namespaces, show connections
# failing, diagnose, fix, show traffic flowing, diagnose clean, and clean up. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release -q
X=./target/release/xdpdoctor
P=${PREFIX:-demo}
cleanup() { "$X" lab down --prefix "$P" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  step() { printf '\n== %s\n' "$*"; }
fi
step "lab up: the seed incident (no address on ve-m1/ve-m2, no XDP/GRO on host0, tx checksum offload on)"
"$X" lab up seed --prefix "$P"
step "connections from the client through the forwarder: they fail"
"$X" lab connect --prefix "$P" || true
step "diagnose"
"$X" --netns "$P-vm" diagnose || true
step "fix --apply"
"$X" --netns "$P-vm" fix --apply
step "connections again: they succeed"
"$X" lab connect --prefix "$P"
step "diagnose again: clean"
"$X" --netns "$P-vm" diagnose
step "forwarder status"
"$X" --netns "$P-vm" status
step "lab down"
"$X" lab down --prefix "$P"
trap - EXIT INT TERM
