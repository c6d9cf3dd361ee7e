#!/bin/sh
# setuid.sh PROBE PROBE_OPTIN OPTIN_FILE: the preload library in a
# set-group-ID program (AT_SECURE) refuses to run (status 127, one line on
# stderr) unless its opt-in file exists, owned by root and writable by root
# only; the environment cannot opt in.  PROBE_OPTIN is linked against a
# build of the library whose opt-in file is OPTIN_FILE (the real one is in
# /etc or the install prefix's etc, which a test must not touch).
probe=$1 probe_optin=$2 optin=$3
if [ "$(id -u)" != 0 ]; then
    echo "SKIP: making a set-group-ID copy owned by another group needs root"
    exit 77
fi
dir=$(mktemp -d "$(dirname "$optin")/setuid.XXXXXX") || exit 1
trap 'rm -rf "$dir"; rm -f "$optin"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
rm -f "$optin"

# Unprivileged: runs.
out=$("$probe" 2>&1) || fail "plain probe failed: $out"
[ "$out" = "ran secure=0" ] || fail "plain probe printed: $out"

for p in "$probe" "$probe_optin"; do
    cp "$p" "$dir/" || exit 1
    chgrp 65534 "$dir/$(basename "$p")" && chmod 2755 "$dir/$(basename "$p")" || exit 1
done
sprobe=$dir/$(basename "$probe") sprobe_optin=$dir/$(basename "$probe_optin")

# On a nosuid file system the copy gains no privilege: nothing to test.
findmnt -no OPTIONS -T "$dir" 2>/dev/null | grep -qw nosuid &&
    { echo "SKIP: $dir is on a nosuid file system"; exit 77; }

expect_refused() {  # label, command...
    label=$1; shift
    out=$("$@" 2>&1); rc=$?
    [ $rc = 127 ] || fail "$label: status $rc, expected 127; output: $out"
    echo "$out" | grep -q "^cogc-preload: refusing to run in a set-user-ID or set-group-ID program" ||
        fail "$label: no refusal message in: $out"
    echo "$out" | grep -q "^ran" && fail "$label: the program ran: $out"
    echo "ok: $label refused"
}
expect_ran() {
    label=$1; shift
    out=$("$@" 2>&1); rc=$?
    [ $rc = 0 ] && [ "$out" = "ran secure=1" ] || fail "$label: status $rc, output: $out"
    echo "ok: $label ran in secure mode"
}

expect_refused "set-group-ID program" "$sprobe"
# Variables meant to steer the collector change nothing.
expect_refused "set-group-ID program with COGC_ variables" \
    env COGC_MALLOC_MODE=none COGC_PRELOAD_SETUID=1 COGC_ALLOW_SETUID=1 "$sprobe"
expect_refused "opt-in build, no opt-in file" "$sprobe_optin"
printf 'allow\n' > "$optin" && chown 0:0 "$optin" && chmod 666 "$optin"
expect_refused "opt-in file writable by others" "$sprobe_optin"
chmod 664 "$optin"
expect_refused "opt-in file writable by its group" "$sprobe_optin"
chmod 644 "$optin"
expect_ran "opt-in file owned by root, mode 644" "$sprobe_optin"
rm -f "$optin"
expect_refused "opt-in file removed" "$sprobe_optin"
