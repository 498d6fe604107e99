#!/bin/bash
# How pixline's memory moves over a long batch: runs pixline once on a
# corpus folder with bench/heap-probe.c preloaded (RSS and glibc's heap
# figures every 200 ms) and prints, for each tenth of the run, the largest
# RSS, arena heap, separately mmapped blocks and bytes in use. On W1×10
# (the 349 W1 inputs ten times) each tenth is one pass over W1, so a heap
# that grows from tenth to tenth grows with the length of the run, not with
# what the inputs need. docs/performance.md, "What pixline's peak memory
# is made of", quotes runs of this.
#
#   bash bench/heap-timeline.sh [DIR] [CONFIG]
#   (defaults: bench/.cache/corpus/w1x10, bench/configs/w1-thumbnail.toml;
#    PIXLINE=/path/to/pixline, else bench/.cache/build/pixline. Other
#    malloc settings to compare: set MALLOC_ARENA_MAX etc. in the
#    environment, which pixline then leaves alone.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/.cache/corpus/w1x10}
config=${2:-$here/configs/w1-thumbnail.toml}
pixline=${PIXLINE:-$here/.cache/build/pixline}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cc -O2 -shared -fPIC -o "$work/heap-probe.so" "$here/heap-probe.c" -lpthread
# The probe goes into pixline only, not into time.
/usr/bin/time -o "$work/time" -f "%e s wall, %U s user, %S s sys, %M KB max RSS" \
  env HEAP_PROBE_OUT="$work/samples" LD_PRELOAD="$work/heap-probe.so" \
  "$pixline" run "$config" --input "$dir" --output "$work/out" >/dev/null
echo "$(ls "$work/out" | wc -l) outputs; $(cat "$work/time")"
echo "tenth  rss  heap  mmap  inuse   (MiB, largest in that tenth of the run)"
awk '
  { n = NR; rss[NR] = $3; heap[NR] = $5; mm[NR] = $7; use[NR] = $9 }
  END {
    for (i = 1; i <= n; ++i) {
      k = int((i - 1) * 10 / n)
      if (rss[i] > r[k]) r[k] = rss[i]
      if (heap[i] > h[k]) h[k] = heap[i]
      if (mm[i] > m[k]) m[k] = mm[i]
      if (use[i] > u[k]) u[k] = use[i]
    }
    for (k = 0; k < 10; ++k) printf "%5d %5d %5d %5d %5d\n", k + 1, r[k], h[k], m[k], u[k]
  }' "$work/samples"
