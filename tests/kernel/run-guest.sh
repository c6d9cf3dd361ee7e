#!/usr/bin/env bash
# Boot Debian's kernel under qemu (software emulation) with an initramfs of
# busybox, our test binaries and the cogc kernel module, run a job inside,
# and bring the results back over the serial console.  See
# docs/kernel-guest.md.
#
#   run-guest.sh --work DIR --src SRCDIR [--job test|bench|shell]
#                [--list FILE] [--bench FILE] [--mem MiB] BINARY...
#
# test:  runs the lines of --list (tests/kernel/tests.list), prints every
#        result, exits 0 when all passed, 1 otherwise, 77 (skip) only when
#        qemu or the kernel cannot be run at all.
# bench: runs --bench (a shell script) in the guest; its output is printed.
# shell: an interactive shell on the console (by hand).
#
# COGC_GUEST_APPEND: more kernel parameters; name=value ones without a dot
# reach the guest's job as environment variables.
#
# Kernel: the one linux-image-amd64 depends on (COGC_GUEST_KERNEL=<version>
# picks another installed one).  The module is built in DIR/kmod against
# /usr/src/linux-headers-<version>; everything is staged in DIR/root and
# packed to DIR/initramfs.cpio.
set -uo pipefail

work= src= job=test list= bench= mem=${COGC_GUEST_MEM:-4608}
bins=()
while (($#)); do
    case "$1" in
    --work) work=$2; shift 2 ;;
    --src) src=$2; shift 2 ;;
    --job) job=$2; shift 2 ;;
    --list) list=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    *) bins+=("$1"); shift ;;
    esac
done
[[ -n $work && -n $src ]] || { echo "usage: $0 --work DIR --src SRCDIR [--job J] BINARY..." >&2; exit 2; }

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "kernel-guest: $*" >&2; exit 1; }

# ---- what can run ----------------------------------------------------------
qemu=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 not installed (scripts/deps.sh installs qemu-system-x86)"
kver=${COGC_GUEST_KERNEL:-}
if [[ -z $kver ]]; then
    kver=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null |
           grep -o 'linux-image-[0-9][^ ,]*' | head -n1 | sed 's/^linux-image-//')
fi
[[ -n $kver ]] || skip "no Debian kernel package (scripts/deps.sh installs linux-image-amd64)"
vmlinuz=/boot/vmlinuz-$kver
[[ -r $vmlinuz ]] || skip "$vmlinuz not readable (linux-image-$kver not installed?)"
"$qemu" -version >/dev/null 2>&1 || skip "$qemu does not run"
busybox=$(command -v busybox) || skip "busybox not installed (scripts/deps.sh installs busybox-static)"
ldd "$busybox" >/dev/null 2>&1 && skip "$busybox is not statically linked (scripts/deps.sh installs busybox-static)"
command -v cpio >/dev/null || skip "cpio not installed (scripts/deps.sh installs it)"

mkdir -p "$work"
work=$(cd "$work" && pwd)
root=$work/root
rm -rf "$root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp,etc/cogc,lib/modules/dist}

# ---- the module ------------------------------------------------------------
# Built in a copy of backends/kmod (kbuild writes beside the sources).
if [[ -d $src/backends/kmod ]]; then
    headers=/usr/src/linux-headers-$kver
    [[ -d $headers ]] || die "$headers missing (scripts/deps.sh installs linux-headers-amd64)"
    mkdir -p "$work/kmod"
    cp -u "$src"/backends/kmod/*.[ch] "$src"/backends/kmod/Kbuild "$work/kmod/" 2>/dev/null
    make -s -C "$headers" M="$work/kmod" modules >"$work/kmod/build.log" 2>&1 ||
        { cat "$work/kmod/build.log"; die "module build failed"; }
    cp "$work/kmod/cogc.ko" "$root/lib/modules/cogc.ko"
fi

# Distribution modules: zram (and what it needs) for a swap device.
mods=/lib/modules/$kver
for m in kernel/mm/zsmalloc.ko kernel/drivers/block/zram/zram.ko; do
    for ext in "" .xz .zst; do
        if [[ -e $mods/$m$ext ]]; then
            n=$(printf '%02d' "$(ls "$root/lib/modules/dist" | wc -l)")
            case "$ext" in
            .xz) xz -dc "$mods/$m$ext" >"$root/lib/modules/dist/$n-$(basename "$m")" ;;
            .zst) zstd -qdc "$mods/$m$ext" >"$root/lib/modules/dist/$n-$(basename "$m")" ;;
            *) cp "$mods/$m" "$root/lib/modules/dist/$n-$(basename "$m")" ;;
            esac
        fi
    done
done

# ---- binaries and their libraries (at their host paths, so RPATHs work) ----
cp "$busybox" "$root/bin/busybox"
copy_lib() {
    local lib=$1
    [[ -e $root$lib ]] && return
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
}
for b in "${bins[@]}"; do
    [[ -x $b ]] || die "binary $b missing (build first)"
    cp "$b" "$root/bin/"
    while read -r lib; do
        copy_lib "$lib"
    done < <(ldd "$b" | awk '/=> \// {print $3} /^\t\// {print $1}')
done
# glibc loads libgcc_s at run time (pthread_exit, cancellation): ldd does
# not list it.
while read -r lib; do
    copy_lib "$lib"
done < <(ldconfig -p | awk '/libgcc_s\.so\.1 .*x86-64/ {print $NF}' | head -n1)
cp "$src/tests/kernel/guest-init.sh" "$root/init"
chmod +x "$root/init"
[[ -n $list ]] && cp "$list" "$root/etc/cogc/tests.list"
[[ -n $bench ]] && cp "$bench" "$root/etc/cogc/bench.sh" && cp "$src/tests/kernel/gcbench-guest.sh" "$root/etc/cogc/"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initramfs.cpio" || die "cpio failed"

# ---- boot --------------------------------------------------------------------
log=$work/guest-$job.log
limit=${COGC_GUEST_TIMEOUT:-840}
# no_timer_check: on a loaded host the emulated IO-APIC timer can miss the
# kernel's early check, which then panics ("IO-APIC + timer doesn't work";
# seen once with load average 13).
args=(-m "$mem" -smp 2 -nographic -no-reboot -kernel "$vmlinuz" -initrd "$work/initramfs.cpio"
      -append "console=ttyS0 quiet panic=-1 oops=panic no_timer_check cogc.job=$job ${COGC_GUEST_APPEND:-}")
echo "kernel-guest: $vmlinuz, qemu ${mem} MiB, 2 CPUs, job $job, log $log"
if [[ $job == shell ]]; then
    exec "$qemu" "${args[@]}"
fi
t0=$(date +%s)
timeout "$limit" "$qemu" "${args[@]}" </dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$log"
qrc=${PIPESTATUS[0]}
t1=$(date +%s)
echo "kernel-guest: guest ran $((t1 - t0)) s, qemu exit status $qrc"
if ! grep -q '@@COGC-GUEST kernel' "$log"; then
    # qemu itself failed (no firmware output at all): nothing can run here.
    if [[ $qrc != 0 && $qrc != 124 ]] && ! grep -q 'Booting from' "$log"; then
        skip "qemu-system-x86_64 cannot run here (exit status $qrc): $(tail -n 3 "$log" | tr '\n' ' ')"
    fi
    die "the guest kernel did not reach our init (qemu exit status $qrc): see $log"
fi
grep -q '@@COGC-END' "$log" || die "guest did not finish (timeout after ${limit}s or crash): see $log"
[[ $job == test ]] || exit 0

# ---- results -------------------------------------------------------------------
pass=0 fail=0 known=0
failed=()
while read -r _ name verdict rc secs; do
    if [[ $verdict == PASS ]]; then
        pass=$((pass + 1))
    elif [[ $verdict == KNOWN ]]; then
        known=$((known + 1))   # a documented intermittent failure (tests.list)
    else
        fail=$((fail + 1))
        failed+=("$name (exit $rc)")
    fi
    printf 'kernel-guest: %-32s %s  %3ss\n' "$name" "$verdict" "$secs"
done < <(grep -o '@@COGC-RESULT .*' "$log")
expected=$(grep -cvE '^[[:space:]]*(#|$)' "$root/etc/cogc/tests.list")
ran=$((pass + fail + known - 1)) # dmesg-clean is not in the list
if ((ran != expected)); then
    fail=$((fail + 1))
    failed+=("only $ran of $expected tests reported")
fi
((fail)) && echo "kernel-guest: failed: ${failed[*]}"
echo "kernel-guest: $pass passed, $fail failed, $known known intermittent failures (not passes: see tests.list)"
((fail == 0))
