#!/usr/bin/env bash
# Install the Debian packages cogc needs to build, test and benchmark,
# only those that are missing.  Runs as root (apt-get), as on our machines.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libatomic-ops-dev libunwind-dev check valgrind libgc-dev
      # the bdwgc drop-in's tests: Debian's libgc1 and two of its users
      libgc1 guile-3.0 w3m
      # the preload library's tests: real programs run under it
      python3 perl sqlite3 git
      # the kernel-guest test (tests/kernel): a Debian kernel and its headers
      # (for the cogc module), qemu to boot it, busybox and cpio for the initramfs
      linux-image-amd64 linux-headers-amd64 qemu-system-x86 busybox-static cpio)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
