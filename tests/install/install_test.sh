#!/usr/bin/env bash
# Install cogc into a scratch prefix, then build and run a program against
# it three ways: pkg-config, CMake find_package (shared), and static.
set -euo pipefail
build_dir=$1
src_dir=$2
# The C flags the library was built with: a sanitizer build's library needs
# its runtime linked into (and loaded first by) the consumers too.
cflags=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
lib=$(ls -d "$work"/prefix/lib*/ | head -1)
export PKG_CONFIG_PATH="$lib/pkgconfig"
# pkg-config, shared
cc -O2 $cflags -o "$work/pc" "$src_dir/consumer/main.c" $(pkg-config --cflags --libs cogc) -Wl,-rpath,"$lib"
"$work/pc"
# pkg-config, static
cc -O2 $cflags -o "$work/pc_static" "$src_dir/consumer/main.c" $(pkg-config --cflags cogc) \
   "$lib/libcogc.a" $(pkg-config --libs-only-l --static cogc | sed 's/-lcogc//')
"$work/pc_static"
# CMake package
cmake -S "$src_dir/consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_C_FLAGS="$cflags" >/dev/null
cmake --build "$work/build" >/dev/null
LD_LIBRARY_PATH="$lib" "$work/build/consumer_shared"
"$work/build/consumer_static"
# bdwgc API: pkg-config bdw-gc, the installed gc.h and libgc.so.1.
# grep reads all of ldd's output (no -q): under pipefail, grep -q exiting
# at its match could kill ldd with SIGPIPE and fail the pipeline.
cc -O2 $cflags -o "$work/bdwgc" "$src_dir/consumer/bdwgc_main.c" $(pkg-config --cflags --libs bdw-gc) \
   -Wl,-rpath,"$lib"
ldd "$work/bdwgc" | grep "$lib/*libgc.so.1" >/dev/null || { echo "bdwgc consumer does not load $lib/libgc.so.1"; ldd "$work/bdwgc"; exit 1; }
"$work/bdwgc"
# C++ allocator header
c++ -O2 -std=c++17 $cflags -o "$work/cxx" "$src_dir/consumer/cxx_main.cpp" $(pkg-config --cflags --libs cogc) \
   -Wl,-rpath,"$lib"
"$work/cxx"
echo "install: pkg-config (cogc, bdw-gc), C++ and find_package(cogc) consumers built and ran"
