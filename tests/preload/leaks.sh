#!/usr/bin/env bash
# Leak mode on a program with known leaks (leaky.c): the report names
# exactly the three sites, with their counts and sizes, largest first; the
# leak-free run reports nothing; COGC_LEAK_EXIT, COGC_LOG, SIGUSR2 and
# cogc_report_leaks work; valgrind --leak-check=full finds the same leaks:
# the same sites with the same byte totals and counts.
# Usage: leaks.sh <libcogc-preload.so> <leaky>
set -u
lib=$1
prog=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
expect() {   # expect <description> <command...>
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}

log=$work/report.txt
LD_PRELOAD=$lib COGC_MALLOC_MODE=leak COGC_LEAK_EXIT=23 COGC_LOG=$log "$prog" >"$work/out" 2>"$work/err"
rc=$?
cat "$log"
expect "exit status 23 when leaks are found (COGC_LEAK_EXIT)" test $rc = 23
expect "program output intact" test "$(cat "$work/out")" = done
expect "summary: 161000 bytes in 18 objects from 3 sites" \
  grep -q '^cogc: leak report (pid [0-9]*): 161000 bytes in 18 objects unreachable and never freed, from 3 allocation sites$' "$log"
# The group lines in order (largest first), each followed by its frames.
grep -E '^cogc: [0-9]+ bytes in [0-9]+ objects' "$log" >"$work/groups"
printf '%s\n' \
  'cogc: 150000 bytes in 3 objects (50000 bytes each) allocated at:' \
  'cogc: 10000 bytes in 5 objects (2000 bytes each) allocated at:' \
  'cogc: 1000 bytes in 10 objects (100 bytes each) allocated at:' >"$work/want"
expect "three sites with their counts and sizes, largest first" cmp -s "$work/groups" "$work/want"
site_of() {   # the first frame in the program after group line $1
  awk -v n="$1" '/^cogc: [0-9]+ bytes in/ {g++} g == n && / \(.*leaky\)$/ {print $4; exit}' "$log"
}
expect "largest site is leak_big" test "$(site_of 1 | sed 's/+.*//')" = leak_big
expect "second site is leak_nodes" test "$(site_of 2 | sed 's/+.*//')" = leak_nodes
expect "third site is leak_strings (through strdup)" test "$(site_of 3 | sed 's/+.*//')" = leak_strings
expect "no report on stderr when COGC_LOG is set" test ! -s "$work/err"

LD_PRELOAD=$lib COGC_MALLOC_MODE=leak COGC_LEAK_EXIT=23 "$prog" none >"$work/out" 2>"$work/err"
rc=$?
expect "leak-free run: status 0" test $rc = 0
expect "leak-free run: empty report" \
  grep -q '^cogc: leak report (pid [0-9]*): 0 bytes in 0 objects unreachable and never freed, from 0 allocation sites$' "$work/err"
expect "leak-free run: nothing but the summary" test "$(grep -c . "$work/err")" = 1

LD_PRELOAD=$lib COGC_MALLOC_MODE=leak "$prog" mid >"$work/out" 2>"$work/err"
rc=$?
expect "reports while running: status 0 without COGC_LEAK_EXIT" test $rc = 0
expect "cogc_report_leaks returns the 18 leaked objects" grep -q '^cogc_report_leaks: 18$' "$work/out"
expect "three reports (cogc_report_leaks, SIGUSR2, exit)" test "$(grep -c '^cogc: leak report' "$work/err")" = 3

LD_PRELOAD=$lib COGC_MALLOC_MODE=leak COGC_LEAK_SAMPLE=1000 "$prog" >/dev/null 2>"$work/err"
expect "sampling: the leaks are still found, as unsampled" \
  grep -q 'cogc: leak report (pid [0-9]*): [0-9]* bytes in 18 objects' "$work/err"

if command -v valgrind >/dev/null; then
  valgrind --leak-check=full "$prog" >/dev/null 2>"$work/vg"
  def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\1 \2/p' "$work/vg" | tr -d ,)
  ind=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\1 \2/p' "$work/vg" | tr -d ,)
  echo "valgrind: definitely lost $def, indirectly lost $ind"
  expect "valgrind finds the same 161000 bytes in 18 blocks" test "$def" = "161000 18" -a "$ind" = "0 0"
  # Site by site: "<function in leaky> <bytes> <count>" from each report.
  awk '/bytes in [0-9,]+ blocks are (definitely|indirectly) lost/ {
         gsub(",", ""); b = $2; n = $5; want = 1; next }
       want && /(by|at) 0x[0-9A-F]+: / && /\((leaky\.c:[0-9]+|in .*\/leaky)\)$/ {
         sub(/.*: /, ""); sub(/ .*/, ""); print $0, b, n; want = 0 }' "$work/vg" | sort >"$work/vg-sites"
  awk '/^cogc: [0-9]+ bytes in [0-9]+ objects/ { b = $2; n = $5; want = 1; next }
       want && / \(.*leaky\)$/ { f = $4; sub(/\+.*/, "", f); print f, b, n; want = 0 }' "$log" |
    sort >"$work/cogc-sites"
  echo "valgrind's sites:"; cat "$work/vg-sites"
  expect "valgrind reports the three sites" test "$(grep -c . "$work/vg-sites")" = 3
  expect "valgrind and leak mode agree site by site (function, bytes, count)" \
    cmp -s "$work/vg-sites" "$work/cogc-sites"
else
  echo "valgrind is not installed: comparison skipped (scripts/deps.sh installs it)"
fi
exit $fail
