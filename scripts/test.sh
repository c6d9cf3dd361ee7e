#!/usr/bin/env bash
# The whole test suite: install what is missing, configure, build, run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset default
cmake --build --preset default -j"$(nproc)"
ctest --preset default -j"$(nproc)" "$@"
