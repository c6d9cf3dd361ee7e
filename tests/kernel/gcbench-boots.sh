#!/usr/bin/env bash
# GCBench in the qemu guest on every dirty backend and collection mode,
# over several boots: medians over every run of every boot (docs/kernel-guest.md).
#
#   gcbench-boots.sh --work DIR --src SRCDIR [--boots N] GCBENCH-COGC-BINARY
#
# Each boot runs tests/kernel/gcbench-guest.sh once (GCBENCH_RUNS runs per
# cell, default 1; GCBENCH_BACKENDS, GCBENCH_MODES, GCBENCH_ARGS narrow or
# size it), the backends interleaved, so every cell of one boot shares the
# same host load.  The per-boot logs stay in DIR/gcbench-boot-<i>.log.
set -uo pipefail

work= src= boots=3
bins=()
while (($#)); do
    case "$1" in
    --work) work=$2; shift 2 ;;
    --src) src=$2; shift 2 ;;
    --boots) boots=$2; shift 2 ;;
    *) bins+=("$1"); shift ;;
    esac
done
[[ -n $work && -n $src && ${#bins[@]} -gt 0 ]] || { echo "usage: $0 --work DIR --src SRCDIR [--boots N] gcbench-cogc" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)

# The guest's /init exports unknown name=value kernel parameters to the
# script: the knobs travel on the command line.
append="GCBENCH_RUNS=${GCBENCH_RUNS:-1}"
[[ -n ${GCBENCH_BACKENDS:-} ]] && append+=" GCBENCH_BACKENDS=\"$GCBENCH_BACKENDS\""
[[ -n ${GCBENCH_MODES:-} ]] && append+=" GCBENCH_MODES=\"$GCBENCH_MODES\""
[[ -n ${GCBENCH_ARGS:-} ]] && append+=" GCBENCH_ARGS=\"$GCBENCH_ARGS\""

mkdir -p "$work"
all=$work/gcbench-all.txt
: >"$all"
for ((b = 1; b <= boots; b++)); do
    COGC_GUEST_APPEND=$append bash "$here/run-guest.sh" --work "$work" --src "$src" --job bench \
        --bench "$here/gcbench-guest.sh" "${bins[@]}" >/dev/null
    rc=$?
    cp "$work/guest-bench.log" "$work/gcbench-boot-$b.log"
    ((rc == 0)) || { echo "gcbench-boots: boot $b failed (exit $rc): see $work/gcbench-boot-$b.log" >&2; exit 1; }
    grep -o '@@GCBENCH .*' "$work/gcbench-boot-$b.log" | sed "s/^@@GCBENCH /$b /" >>"$all"
    echo "gcbench-boots: boot $b done ($(grep -c . "$all") runs so far)" >&2
done

# Medians per backend and mode, over every run of every boot.
printf '| backend | mode | wall s | max pause ms | p99 pause ms | collections | runs |\n|---|---|---|---|---|---|---|\n'
awk '
function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    if (n == 0) return "-"
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
    key = $2 " " $3
    if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
    runs[key]++
    if ($5 == "wall_s=-") { failed[key]++; next }
    for (f = 5; f <= NF; f++) {
        split($f, kv, "=")
        if (kv[2] == "NA") continue
        vals[key, kv[1]] = vals[key, kv[1]] " " kv[2]
    }
}
END {
    for (k = 1; k <= nk; k++) {
        key = order[k]; split(key, bm, " ")
        printf "| %s | %s | %s | %s | %s | %s | %d%s |\n", bm[1], bm[2], median(vals[key, "wall_s"]),
            median(vals[key, "max_pause_ms"]), median(vals[key, "p99_pause_ms"]),
            median(vals[key, "collections"]), runs[key], failed[key] ? ", " failed[key] " failed" : ""
    }
}' "$all"
