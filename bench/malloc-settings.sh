#!/bin/bash
# pixline's malloc settings against alternatives, on W1 and on W1x10 (the
# 349 W1 inputs ten times), alternating, ROUNDS rounds: wall seconds, user
# and system CPU seconds, maximum RSS (KiB) and minor page faults per run
# (/usr/bin/time), then the medians of each and each setting's speed over
# the defaults in each round (bench/medians.awk). bench/HISTORY.md, "malloc
# settings on this machine", quotes runs of it.
#
#   bash bench/malloc-settings.sh [ROUNDS]
#   (default 2; PIXLINE=/path/to/pixline, else bench/.cache/build/pixline;
#    needs the corpus of bench/make-corpus.sh)
#
# The settings: pixline's defaults (pipeline/memory.hpp: one arena per 4
# cores, at least 1, and a 32 MiB mmap threshold); and, through glibc's own
# variables (pixline then tunes nothing): a 4 MiB threshold; glibc's
# transparent huge pages for what malloc maps (GLIBC_TUNABLES=
# glibc.malloc.hugetlb=1) with a 4 MiB (pixline's default for an hour on
# 2026-12-02), 8 MiB or 32 MiB threshold; and an arena per core (at least
# 2) with 4 MiB (the defaults from 2026-11-30 to 2026-12-02).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=${1:-2}
pixline=${PIXLINE:-$here/.cache/build/pixline}
config=$here/configs/w1-thumbnail.toml
corpus=$here/.cache/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

percore=$(($(nproc) > 2 ? $(nproc) : 2))
arenas=$(($(nproc) / 4 > 1 ? $(nproc) / 4 : 1))
mib() { echo MALLOC_MMAP_THRESHOLD_=$(($1 << 20)) MALLOC_TRIM_THRESHOLD_=$((256 << 20)); }
huge=GLIBC_TUNABLES=glibc.malloc.hugetlb=1
run() { # name corpus env...
  local name=$1 set=$2
  shift 2
  rm -rf "$work/out"
  mkdir "$work/out"
  sync # the run before's outputs must not be flushed by this run's fsyncs
  env "$@" /usr/bin/time -o "$work/t" -f "%e %U %S %M %R" "$pixline" run "$config" \
    --input "$corpus/$set" --output "$work/out" >/dev/null 2>&1
  echo "$set $name $(tail -1 "$work/t")" | tee -a "$work/table"
}

echo "corpus setting wall_s user_s sys_s max_rss_kib minor_faults"
for ((r = 1; r <= rounds; r++)); do
  for set in w1 w1x10; do
    run default "$set"
    run mmap-4MiB "$set" $(mib 4) MALLOC_ARENA_MAX=$arenas
    run mmap-4MiB-huge "$set" $(mib 4) MALLOC_ARENA_MAX=$arenas $huge
    run mmap-8MiB-huge "$set" $(mib 8) MALLOC_ARENA_MAX=$arenas $huge
    run mmap-32MiB-huge "$set" $(mib 32) MALLOC_ARENA_MAX=$arenas $huge
    run "arenas-$percore-mmap-4MiB" "$set" $(mib 4) MALLOC_ARENA_MAX=$percore
  done
done

echo
awk -f "$here/medians.awk" "$work/table"
