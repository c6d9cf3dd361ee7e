#!/usr/bin/env bash
# The whole test suite: install what is missing, then for each preset
# configure, build and run ctest.  Presets: COGC_TEST_PRESETS, default
# "default asan" (the normal build, then AddressSanitizer + UBSan: see
# docs/sanitizers.md); e.g. COGC_TEST_PRESETS=default for the normal build
# only, or "ubsan tsan".  Extra arguments go to every ctest run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
read -r -a presets <<<"${COGC_TEST_PRESETS:-default asan}"
for preset in "${presets[@]}"; do
  echo "== preset $preset"
  cmake --preset "$preset"
  cmake --build --preset "$preset" -j"$(nproc)"
  ctest --preset "$preset" -j"$(nproc)" "$@"
done
