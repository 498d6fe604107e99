#!/bin/bash
# W1 (bench/configs/w1-thumbnail.toml against the Pillow pool's w1) on the
# shape corpora of bench/make-shapes.py: the same 40 photographs as
# greyscale, CMYK, 16-bit, palette, GIF, TIFF... one form at a time,
# alternating pixline and Pillow, ROUNDS rounds. Prints each run, then the
# medians and pixline's speed over Pillow's (Pillow's wall time over
# pixline's) per round (bench/medians.awk). Outputs go to a scratch folder
# on the same disk as the corpus. The benchmark's corpora are photographs
# in RGB; this is how a form nobody tuned for is found slow.
#
#   bash bench/shapes.sh ROUNDS [FORM...]
#   (needs bench/make-corpus.sh's corpus w2photo; builds the shapes in
#    bench/.cache/shapes on first use. PIXLINE=path measures another binary.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ $# -lt 1 ]]; then
  echo "usage: $0 ROUNDS [FORM...]" >&2
  exit 2
fi
rounds=$1
shift
pixline=${PIXLINE:-$here/.cache/build/pixline}
config=$here/configs/w1-thumbnail.toml
shapes=$here/.cache/shapes
if [[ ! -d $shapes ]]; then
  /usr/bin/python3 "$here/make-shapes.py" "$here/.cache/corpus/w2photo" "$shapes.tmp"
  mv "$shapes.tmp" "$shapes"
fi
forms=("$@")
if [[ ${#forms[@]} -eq 0 ]]; then
  mapfile -t forms < <(cd "$shapes" && ls)
fi
work=$(mktemp -d "$here/.cache/shapes-out.XXXXXX")
trap 'rm -rf "$work"' EXIT

run() { # name form command...
  local name=$1 form=$2
  shift 2
  rm -rf "$work/out"
  mkdir "$work/out"
  sync
  if ! /usr/bin/time -o "$work/t" -f "%e %U %S %M %R" "$@" >"$work/log" 2>&1; then
    echo "$form $name: failed:" >&2
    tail -5 "$work/log" >&2
    exit 1
  fi
  local made
  made=$(find "$work/out" -type f | wc -l)
  if [[ $made -ne $(find "$shapes/$form" -type f | wc -l) ]]; then
    echo "$form $name: $made outputs, not one per input" >&2
    exit 1
  fi
  echo "$form $name $(tail -1 "$work/t")" | tee -a "$work/table"
}

echo "form contender wall_s user_s sys_s max_rss_kib minor_faults"
for ((r = 1; r <= rounds; r++)); do
  for form in "${forms[@]}"; do
    # Which goes first alternates from round to round.
    for who in $( ((r % 2)) && echo "pillow pixline" || echo "pixline pillow"); do
      if [[ $who == pillow ]]; then
        run pillow "$form" /usr/bin/python3 "$here/competitors/pillow_pool.py" w1 \
          "$shapes/$form" "$work/out"
      else
        run pixline "$form" "$pixline" run "$config" --input "$shapes/$form" \
          --output "$work/out"
      fi
    done
  done
done

echo
# Pillow first in each form's table, so the ratios are pixline's speed.
awk '$2 == "pillow"' "$work/table" >"$work/ordered"
awk '$2 == "pixline"' "$work/table" >>"$work/ordered"
awk -f "$here/medians.awk" "$work/ordered"
