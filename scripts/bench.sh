#!/usr/bin/env bash
# The main job: build, then GCBench against cogc, bdwgc and glibc malloc,
# alternating, medians of 5 runs each.  Extra arguments go to bench/compare
# (e.g. --depth 22, --runs 9, --csv).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset default
cmake --build --preset default -j"$(nproc)"
exec bench/compare --bin-dir build/default/bench "$@"
