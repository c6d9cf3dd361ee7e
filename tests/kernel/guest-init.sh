#!/bin/busybox sh
# /init of the test guest (tests/kernel/run-guest.sh packs it).  Sets up
# the minimum a test needs, loads the modules that were packed, runs the
# job named on the kernel command line (cogc.job=test|bench|shell) and
# powers off.  Results go to the serial console as marker lines that the
# host parses:
#   @@COGC-RESULT <name> PASS|FAIL <exit status> <seconds>
#   @@COGC-END
/bin/busybox --install -s /bin
export PATH=/bin HOME=/tmp TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# /tmp stays the initramfs's own (writable) directory: the test binaries and
# their libraries sit at their host paths, which may be under /tmp.
mkdir -p /tmp
ln -sf /proc/self/fd /dev/fd 2>/dev/null
ulimit -c 0
cd /tmp

job=test
for w in $(cat /proc/cmdline); do
    case "$w" in cogc.job=*) job=${w#cogc.job=} ;; esac
done

echo "@@COGC-GUEST kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"

# Kernel modules packed from the distribution (zram for swap) and ours.
for m in /lib/modules/dist/*.ko; do
    [ -e "$m" ] && insmod "$m"
done
if [ -e /sys/block/zram0 ]; then
    echo "${COGC_GUEST_SWAP:-1024M}" > /sys/block/zram0/disksize &&
        mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 &&
        echo "@@COGC-GUEST swap on zram0: $(awk '/SwapTotal/ {print $2 " kB"}' /proc/meminfo)"
fi
if [ -e /lib/modules/cogc.ko ]; then
    insmod /lib/modules/cogc.ko && echo "@@COGC-GUEST cogc.ko loaded: $(ls -l /dev/cogc)"
fi

# One test: name, expectation ("pass", or "skip:TEXT": exit 77 with TEXT
# in the output), command.
run_one() {
    name=$1 expect=$2
    shift 2
    echo "@@COGC-START $name"
    t0=$(date +%s)
    set -o pipefail
    timeout "${COGC_GUEST_TEST_TIMEOUT:-600}" sh -c "$*" 2>&1 | tee /tmp/out
    rc=$?
    set +o pipefail
    t1=$(date +%s)
    verdict=FAIL
    case "$expect" in
    pass) [ $rc -eq 0 ] && verdict=PASS ;;
    skip:*) [ $rc -eq 77 ] && grep -qF -- "${expect#skip:}" /tmp/out && verdict=PASS ;;
    # A known, documented intermittent failure: a pass is a pass, a failure
    # is reported as KNOWN (neither a pass nor a failure of the entry).
    known:*) if [ $rc -eq 0 ]; then verdict=PASS; else verdict=KNOWN; echo "known issue: ${expect#known:}"; fi ;;
    esac
    echo
    echo "@@COGC-RESULT $name $verdict $rc $((t1 - t0))"
}

case "$job" in
test)
    while IFS='|' read -r name expect cmd; do
        case "$name" in ''|'#'*) continue ;; esac
        run_one "$name" "$expect" "$cmd"
    done < /etc/cogc/tests.list
    # No oops, BUG, warning or lockdep report in the kernel log.
    dmesg > /tmp/dmesg
    if grep -E 'WARNING:|BUG:|Oops|general protection|Call Trace|lockdep|INFO: task' /tmp/dmesg; then
        echo "@@COGC-RESULT dmesg-clean FAIL 1 0"
    else
        echo "@@COGC-RESULT dmesg-clean PASS 0 0"
    fi
    ;;
bench)
    sh /etc/cogc/bench.sh
    ;;
shell)
    setsid sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1'
    ;;
esac
echo "@@COGC-END"
sync
reboot -f    # qemu runs with -no-reboot: this ends it
