#!/bin/sh
# Every symbol that Debian's libgc.so.1, libgccpp.so.1 and libgctba.so.1
# export is exported by ours too, except those docs/bdwgc.md lists as left
# out (its "Symbols left out" table); and each listed one is really absent
# (the list stays true).
#   exports.sh <dir of cogc's libgc.so.1> <docs/bdwgc.md>
set -u
lib=$1 doc=$2
debdir=/usr/lib/x86_64-linux-gnu
skip() { echo "SKIP: $*"; exit 77; }
[ -e $debdir/libgc.so.1 ] || skip "Debian's libgc1 is not installed (scripts/deps.sh)"
command -v nm >/dev/null || skip "nm (binutils) is not installed"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# The table rows of the section: | `GC_name` | why |
sed -n '/^## Symbols left out/,/^## /p' "$doc" | sed -n 's/^| `\([A-Za-z_][A-Za-z0-9_]*\)` |.*/\1/p' | sort -u >"$tmp/left_out"
[ -s "$tmp/left_out" ] || { echo "FAIL: no 'Symbols left out' table in $doc"; exit 1; }

exports() {   # the defined dynamic symbols of a library, linker-made ones dropped
  nm -D --defined-only "$1" | awk '{print $3}' | grep -v -x -e _end -e _edata -e __bss_start -e _init -e _fini | sort -u
}

fail=0
for so in libgc.so.1 libgccpp.so.1 libgctba.so.1; do
  [ -e "$debdir/$so" ] || { echo "note: Debian's $so is not installed"; continue; }
  [ -e "$lib/$so" ] || { echo "FAIL: $lib/$so was not built"; fail=1; continue; }
  exports "$debdir/$so" >"$tmp/deb"
  exports "$lib/$so" >"$tmp/ours"
  comm -23 "$tmp/deb" "$tmp/ours" >"$tmp/missing"
  comm -23 "$tmp/missing" "$tmp/left_out" >"$tmp/undocumented"
  if [ -s "$tmp/undocumented" ]; then
    echo "FAIL $so: exported by Debian's, missing from ours and not listed as left out:"
    sed 's/^/  /' "$tmp/undocumented"
    fail=1
  fi
  comm -12 "$tmp/left_out" "$tmp/ours" >"$tmp/stale"
  if [ -s "$tmp/stale" ]; then
    echo "FAIL $so: listed as left out in $doc but exported:"
    sed 's/^/  /' "$tmp/stale"
    fail=1
  fi
  echo "$so: $(wc -l <"$tmp/deb") symbols in Debian's, $(wc -l <"$tmp/missing") missing from ours (all listed as left out)"
done
exit $fail
