# Benchmarks in the guest (run-guest.sh --job bench; docs/kernel-guest.md).
# busybox sh; the sizes below keep the whole job to a few minutes.
echo "== bench_dirty: ns per dirtied page (arm + first write + collect), medians"
bench_dirty --reps 5 --max-pages 262144 --backends plain,soft-dirty,mprotect,gcdev,none
# uffd: every fault is a round trip to the handler thread, ~1 ms under
# emulation (the idle vCPU must be woken): small sizes only.
bench_dirty --reps 3 --max-pages 4096 --backends uffd

echo "== gcbench-cogc per backend and mode, every backend in every mode (one run each;"
echo "== tests/kernel/gcbench-boots.sh gives medians over several boots)"
GCBENCH_RUNS=${RUNS:-1} sh /etc/cogc/gcbench-guest.sh
