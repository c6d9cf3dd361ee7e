#!/usr/bin/env bash
# Build the libFuzzer harnesses (clang + ASan, preset `fuzz`) and run each
# for a fixed budget (COGC_FUZZ_SECONDS, default 600), growing the corpus
# in tests/fuzz/corpus/<harness>.  Not part of the test run: a finding
# stops the script with libFuzzer's crash file, which becomes a corpus
# entry (a regression test replayed by ctest -L fuzz in the fuzz build).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
seconds=${COGC_FUZZ_SECONDS:-600}
cmake --preset fuzz
cmake --build --preset fuzz -j"$(nproc)" --target fuzz_options fuzz_pointers fuzz_api
for h in options pointers api; do
  echo "fuzz: $h for ${seconds}s"
  # The API programs (4 bytes a step) start at full length: with libFuzzer's
  # default length control they stayed at 2 steps for the whole budget.
  extra=()
  [[ $h == api ]] && extra=(-len_control=0 -max_len=512)
  build/fuzz/tests/fuzz/fuzz_$h -max_total_time="$seconds" -rss_limit_mb=4096 "${extra[@]}" \
    -artifact_prefix="tests/fuzz/corpus/$h/crash-" "tests/fuzz/corpus/$h"
done
ctest --test-dir build/fuzz -L fuzz --output-on-failure
