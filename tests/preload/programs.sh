#!/usr/bin/env bash
# Real, unmodified Debian programs under libcogc-preload.so in each mode:
# stdout, stderr and the exit status must equal the run without it, byte
# for byte (in leak mode the report lines, "cogc: ...", are set aside from
# stderr first).  Usage: programs.sh <libcogc-preload.so> <workloads dir>
set -u
lib=$1
wl=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
ran=0

# run <dir> <name> <cmd...>: outputs in <dir>/<name>.{out,err,rc}
run() {
  local dir=$1 name=$2
  shift 2
  mkdir -p "$dir"
  (cd "$dir" && "$@" >"$name.out" 2>"$name.err")
  echo $? >"$dir/$name.rc"
}

# check <name> <setup function> <cmd...>
check() {
  local name=$1 setup=$2
  shift 2
  if ! command -v "$1" >/dev/null; then
    echo "SKIP $name: $1 is not installed (scripts/deps.sh installs it)"
    return
  fi
  if ! ldd "$(command -v "$1")" >/dev/null 2>&1; then
    echo "SKIP $name: $(command -v "$1") is statically linked here; LD_PRELOAD cannot apply"
    return
  fi
  ran=$((ran + 1))
  local base=$work/$name/base
  mkdir -p "$base"
  $setup "$base"
  run "$base" "$name" "$@"
  if [ "$(cat "$base/$name.rc")" != 0 ]; then
    echo "FAIL $name: fails even without the preload library:"; cat "$base/$name.err"; fail=1; return
  fi
  for mode in none collect leak; do
    local d=$work/$name/$mode
    mkdir -p "$d"
    $setup "$d"
    local t0=$(date +%s%N)
    run "$d" "$name" env LD_PRELOAD="$lib" COGC_MALLOC_MODE=$mode "$@"
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    if [ $mode = leak ]; then
      grep -v '^cogc: ' "$d/$name.err" >"$d/$name.err.rest"
      mv "$d/$name.err.rest" "$d/$name.err"
    fi
    local bad=""
    cmp -s "$base/$name.out" "$d/$name.out" || bad="$bad stdout"
    cmp -s "$base/$name.err" "$d/$name.err" || bad="$bad stderr"
    cmp -s "$base/$name.rc" "$d/$name.rc" || bad="$bad status($(cat "$d/$name.rc"))"
    if [ -n "$bad" ]; then
      echo "FAIL $name ($mode): differs in$bad"
      diff <(head -c 3000 "$base/$name.out") <(head -c 3000 "$d/$name.out") | head -10
      head -c 2000 "$d/$name.err"
      fail=1
    else
      echo "ok   $name ($mode) ${ms} ms, $(wc -c <"$d/$name.out") bytes of output"
    fi
  done
}

nothing() { :; }
copy_c() { cp "$wl/prog.c" "$1/"; }
git_env() {
  export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t
  export GIT_COMMITTER_EMAIL=t@example.org GIT_AUTHOR_DATE="2020-01-01T00:00:00Z"
  export GIT_COMMITTER_DATE="2020-01-01T00:00:00Z" GIT_CONFIG_NOSYSTEM=1 HOME=$1
}
git_script() {
  git init -q -b main repo && cd repo &&
  for i in 1 2 3 4 5; do
    seq 1 $((i * 500)) >"f$i.txt" && git add "f$i.txt" && git commit -q -m "commit $i" || return 1
  done
  git log --stat --format='%H %s' && git rev-list --count HEAD && git gc -q && git fsck --no-progress && git log --oneline | wc -l
}
export -f git_script
git_setup() { git_env "$1"; }

check python3 nothing /usr/bin/python3 "$wl/dicts.py"
check perl nothing perl "$wl/words.pl"
check sqlite3 nothing sqlite3 db.sqlite ".read $wl/queries.sql"
check git git_setup bash -c git_script
check gcc copy_c sh -c 'gcc -O2 -S -o - prog.c && gcc -O1 -o prog prog.c && ./prog'
check bash nothing bash "$wl/script.sh"
check busybox nothing busybox sh -c 'echo hi | busybox md5sum; busybox seq 1 1000 | busybox sort -r | busybox head -3'

# A malformed mode is reported with the variable, the value and the default.
msg=$(LD_PRELOAD="$lib" COGC_MALLOC_MODE=bogus sh -c 'echo ok' 2>&1 >/dev/null)
case "$msg" in
  *'COGC_MALLOC_MODE="bogus" is not one of none|collect|leak; using the default (none)'*) echo "ok   malformed COGC_MALLOC_MODE reported" ;;
  *) echo "FAIL malformed COGC_MALLOC_MODE: got: $msg"; fail=1 ;;
esac

if [ $ran = 0 ]; then
  echo "SKIP: none of the programs is installed"
  exit 77
fi
exit $fail
