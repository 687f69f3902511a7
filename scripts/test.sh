#!/usr/bin/env bash
# Runs every test: unit tests, and the privileged lab tests (namespaces, XDP, probes), which
# need root. Not root: the privileged tests print "SKIP <name>: needs root" and the unit tests
# still run. As root under CI=true nothing may be skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if [ "$(id -u)" != 0 ]; then
  echo "test: not root: privileged tests will SKIP (run $0 as root)" >&2
fi
# Labs build namespaces on 2 cores: keep test threads modest.
cargo test --workspace -- --test-threads="${XDPDOCTOR_TEST_THREADS:-2}" "$@"
