#!/bin/sh
# Runs the benchmark (needs root): builds its own lab, measures, prints the tables, cleans up.
# Arguments go to `xdpdoctor bench` (e.g. --quick, --packets N, --json FILE).
# See docs/performance.md for the method.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec ./target/release/xdpdoctor bench "$@"
