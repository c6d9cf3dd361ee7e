#!/bin/sh
# Run a Debian program built against libgc1 twice, on Debian's libgc.so.1
# and on cogc's (LD_LIBRARY_PATH only), and compare the outputs.
#   run_programs.sh guile|w3m <dir of cogc's libgc.so.1> <this source dir>
set -u
what=$1 lib=$2 src=$3
skip() { echo "SKIP: $*"; exit 77; }
[ -e /usr/lib/x86_64-linux-gnu/libgc.so.1 ] || skip "Debian's libgc1 is not installed (scripts/deps.sh)"
if ldd "$lib/libgc.so.1" | grep -q 'lib[at]san'; then
  skip "sanitizer build: a program not built with the sanitizer cannot load this libgc.so.1"
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
compare() {   # name, then the command
  name=$1; shift
  "$@" >"$tmp/$name.ref" 2>&1; rc_ref=$?
  LD_LIBRARY_PATH=$lib "$@" >"$tmp/$name.cogc" 2>&1; rc=$?
  if ! LD_LIBRARY_PATH=$lib ldd "$(command -v "$1")" | grep -q "$lib/libgc.so.1" &&
     ! LD_LIBRARY_PATH=$lib ldd "$(readlink -f "$(command -v "$1")")" | grep -q "$lib/libgc.so.1"; then
    echo "FAIL $name: $1 does not load $lib/libgc.so.1"; fail=1; return
  fi
  if [ $rc -ne $rc_ref ] || ! cmp -s "$tmp/$name.ref" "$tmp/$name.cogc"; then
    echo "FAIL $name: exit $rc (libgc1: $rc_ref); output differs:"
    diff "$tmp/$name.ref" "$tmp/$name.cogc" | head -40
    fail=1
  else
    echo "ok $name ($(wc -l <"$tmp/$name.cogc") lines, exit $rc)"
  fi
}
case $what in
guile)
  command -v guile >/dev/null || skip "guile (guile-3.0) is not installed (scripts/deps.sh)"
  compare guile-gc guile --no-auto-compile "$src/guile-gc.scm"
  # The same under the heap verifier: output must not change.
  export COGC_VERIFY=1
  compare guile-gc-verify guile --no-auto-compile "$src/guile-gc.scm"
  unset COGC_VERIFY
  ;;
w3m)
  command -v w3m >/dev/null || skip "w3m is not installed (scripts/deps.sh)"
  "$src/w3m/gen.sh" >"$tmp/large.html"
  compare w3m-basic w3m -T text/html -cols 80 -dump "$src/w3m/basic.html"
  compare w3m-large w3m -T text/html -cols 80 -dump "$tmp/large.html"
  compare w3m-large-narrow w3m -T text/html -cols 40 -dump "$tmp/large.html"
  ;;
*) echo "usage: $0 guile|w3m libdir srcdir"; exit 2 ;;
esac
exit $fail
