#!/bin/bash
# pixline's malloc settings against three alternatives, on W1 and on W1x10
# (the 349 W1 inputs ten times), alternating, ROUNDS rounds: wall seconds,
# user and system CPU seconds and maximum RSS (KiB, /usr/bin/time) per run.
# docs/performance.md, "malloc settings on this machine", quotes a run.
#
#   bash bench/malloc-settings.sh [ROUNDS]
#   (default 2; PIXLINE=/path/to/pixline, else bench/.cache/build/pixline;
#    needs the corpus of bench/make-corpus.sh)
#
# The settings: pixline's defaults (one arena per 4 cores, at least 1, and
# an mmap threshold of 32 MiB, since 2026-12-02); and, through glibc's own
# variables (pixline then tunes nothing): an arena per core (at least 2) with
# a 4 MiB threshold (the defaults from 2026-11-30 to 2026-12-02), one arena
# with 4 MiB, and an arena per core with 32 MiB (before 2026-11-30).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=${1:-2}
pixline=${PIXLINE:-$here/.cache/build/pixline}
config=$here/configs/w1-thumbnail.toml
corpus=$here/.cache/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

percore=$(($(nproc) > 2 ? $(nproc) : 2))
mmap4=(MALLOC_MMAP_THRESHOLD_=$((4 << 20)) MALLOC_TRIM_THRESHOLD_=$((256 << 20)))
mmap32=(MALLOC_MMAP_THRESHOLD_=$((32 << 20)) MALLOC_TRIM_THRESHOLD_=$((256 << 20)))
run() { # name corpus env...
  local name=$1 set=$2
  shift 2
  rm -rf "$work/out"
  mkdir "$work/out"
  env "$@" /usr/bin/time -o "$work/t" -f "%e %U %S %M" "$pixline" run "$config" \
    --input "$corpus/$set" --output "$work/out" >/dev/null 2>&1
  echo "$set $name $(tail -1 "$work/t")"
}

echo "corpus setting wall_s user_s sys_s max_rss_kib"
for ((r = 1; r <= rounds; r++)); do
  for set in w1 w1x10; do
    run default "$set"
    run "arenas-$percore-mmap-4MiB" "$set" "${mmap4[@]}" MALLOC_ARENA_MAX=$percore
    run arenas-1-mmap-4MiB "$set" "${mmap4[@]}" MALLOC_ARENA_MAX=1
    run "arenas-$percore-mmap-32MiB" "$set" "${mmap32[@]}" MALLOC_ARENA_MAX=$percore
  done
done
