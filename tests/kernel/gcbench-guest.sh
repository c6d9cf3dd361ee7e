# GCBench per backend and collection mode, inside the guest (busybox sh):
# one line per run,
#   @@GCBENCH <backend> <mode> <run> wall_s=W max_pause_ms=M p99_pause_ms=P collections=C
# tests/kernel/gcbench-boots.sh boots the guest several times with this
# script and prints the medians over every run of every boot.
# GCBENCH_RUNS runs per cell (default 1); GCBENCH_BACKENDS, GCBENCH_MODES
# narrow the table; GCBENCH_ARGS is passed to gcbench-cogc.
runs=${GCBENCH_RUNS:-1}
backends=${GCBENCH_BACKENDS:-none mprotect uffd soft-dirty gcdev}
modes=${GCBENCH_MODES:-stw generational incremental incremental+generational}
i=0
while [ $i -lt "$runs" ]; do
    for mode in $modes; do
        case $mode in
        stw) env="COGC_GENERATIONAL=0 COGC_INCREMENTAL=0" ;;
        generational) env="COGC_GENERATIONAL=1 COGC_INCREMENTAL=0" ;;
        incremental) env="COGC_GENERATIONAL=0 COGC_INCREMENTAL=1" ;;
        incremental+generational) env="COGC_GENERATIONAL=1 COGC_INCREMENTAL=1" ;;
        esac
        for b in $backends; do
            # none watches nothing: the watching modes need a backend
            [ $b = none ] && [ $mode != stw ] && continue
            t0=$(date +%s)
            r=$(env $env COGC_DIRTY=$b timeout 300 gcbench-cogc $GCBENCH_ARGS 2>/dev/null | grep '^RESULT')
            t1=$(date +%s)
            [ -n "$r" ] || r="wall_s=- max_pause_ms=- p99_pause_ms=- collections=- (failed or timed out after $((t1 - t0)) s)"
            echo "@@GCBENCH $b $mode $i ${r#* workload=* }"
        done
    done
    i=$((i + 1))
done
