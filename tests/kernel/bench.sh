# Benchmarks in the guest (run-guest.sh --job bench; docs/kernel-guest.md).
# busybox sh; the sizes below keep the whole job to a few minutes.
runs=${RUNS:-3}
echo "== bench_dirty: ns per dirtied page (arm + first write + collect), medians"
bench_dirty --reps 5 --max-pages 262144 --backends plain,soft-dirty,mprotect,gcdev,none
# uffd: every fault is a round trip to the handler thread, ~1 ms under
# emulation (the idle vCPU must be woken): small sizes only.
bench_dirty --reps 3 --max-pages 4096 --backends uffd

echo "== gcbench-cogc per backend and mode: medians of $runs runs"
printf '%-12s %-26s %8s %10s %10s %6s\n' backend mode wall_s max_ms p99_ms gcs
for mode in stw generational incremental incremental+generational; do
    case $mode in
    stw) env="COGC_GENERATIONAL=0 COGC_INCREMENTAL=0" ;;
    generational) env="COGC_GENERATIONAL=1 COGC_INCREMENTAL=0" ;;
    incremental) env="COGC_GENERATIONAL=0 COGC_INCREMENTAL=1" ;;
    incremental+generational) env="COGC_GENERATIONAL=1 COGC_INCREMENTAL=1" ;;
    esac
    backends="none mprotect uffd soft-dirty gcdev"
    # uffd with generational/incremental collection: too slow under
    # emulation (every fault a handler round trip; docs/kernel-guest.md)
    [ $mode = stw ] || backends="mprotect soft-dirty gcdev"
    for b in $backends; do
        : > /tmp/res
        i=0
        while [ $i -lt "$runs" ]; do
            env $env COGC_DIRTY=$b timeout 120 gcbench-cogc 2>/dev/null | grep '^RESULT' >> /tmp/res
            i=$((i + 1))
        done
        # median of each field over the runs
        med() { sed -n "s/.* $1=\([0-9.NA]*\).*/\1/p" /tmp/res | sort -n | awk '{v[NR]=$1} END {print NR ? v[int((NR+1)/2)] : "-"}'; }
        printf '%-12s %-26s %8s %10s %10s %6s\n' $b $mode "$(med wall_s)" "$(med max_pause_ms)" \
            "$(med p99_pause_ms)" "$(med collections)"
    done
done
