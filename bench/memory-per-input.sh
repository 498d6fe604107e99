#!/bin/bash
# What each input costs in memory: runs pixline on every file of a corpus
# folder alone and prints its peak RSS (/usr/bin/time), the extra over the
# smallest run, and that extra per pixel of the file's full size, then the
# range per subset (the name's prefix before "_"). bench/HISTORY.md,
# "What pixline's peak memory is made of", quotes a run of this.
#
#   bash bench/memory-per-input.sh [DIR] [CONFIG]
#   (defaults: bench/.cache/corpus/w1, bench/configs/w1-thumbnail.toml;
#    PIXLINE=/path/to/pixline, else bench/.cache/build/pixline)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/.cache/corpus/w1}
config=${2:-$here/configs/w1-thumbnail.toml}
pixline=${PIXLINE:-$here/.cache/build/pixline}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for f in "$dir"/*; do
  rm -rf "$work/in" "$work/out"
  mkdir -p "$work/in"
  cp -l "$f" "$work/in/" 2>/dev/null || cp "$f" "$work/in/"
  /usr/bin/time -o "$work/t" -f %M "$pixline" run "$config" \
    --input "$work/in" --output "$work/out" >/dev/null 2>&1
  echo "$(basename "$f") $(vipsheader -f width "$f") $(vipsheader -f height "$f") $(tail -1 "$work/t")"
done > "$work/table"

awk '
  NR == FNR { if (min == "" || $4 < min) min = $4; next }
  {
    extra = ($4 - min) / 1024; px = $2 * $3
    split($1, part, "_"); s = part[1]
    bpp = extra * 1048576 / px
    printf "%-40s %5dx%-5d peak %6.1f MB  +%5.1f MB  %5.1f B/px\n", $1, $2, $3, $4 / 1024, extra, bpp
    if (!(s in lo) || bpp < lo[s]) lo[s] = bpp
    if (!(s in hi) || bpp > hi[s]) hi[s] = bpp
    if (!(s in top) || extra > top[s]) top[s] = extra
  }
  END {
    printf "\nbaseline (smallest peak): %.1f MB\n", min / 1024
    for (s in lo) printf "%-8s %5.1f to %5.1f bytes per pixel, at most +%.1f MB\n", s, lo[s], hi[s], top[s]
  }' "$work/table" "$work/table"
