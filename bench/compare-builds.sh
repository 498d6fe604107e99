#!/bin/bash
# Two pixline binaries (a build before a change and one after it) on W1 and
# on W1x10 (the 349 W1 inputs ten times), alternating, ROUNDS rounds: wall
# seconds, user and system CPU seconds, maximum RSS (KiB) and minor page
# faults per run (/usr/bin/time), then the medians of each and AFTER's
# speed over BEFORE's in each round (bench/medians.awk). The benchmark
# (bench/run.sh) measures one binary; this is how bench/HISTORY.md
# compares a change with the code before it on the same machine, in the
# same minutes.
#
#   bash bench/compare-builds.sh ROUNDS BEFORE AFTER
#   (BEFORE and AFTER: paths of two pixline binaries; needs the corpus of
#    bench/make-corpus.sh. Example: build the commit before a change into
#    /tmp/before with cmake -DCMAKE_BUILD_TYPE=Release, then
#    bash bench/compare-builds.sh 4 /tmp/before/pixline bench/.cache/build/pixline)
#   COMPARE_SETS="w1"     only these corpus sets (default "w1 w1x10")
#   COMPARE_FSYNC=off     the W1 config with its sink's fsync = false
#   COMPARE_MATCH=GLOB    only the inputs whose names match GLOB (hard links
#                         in a scratch directory), e.g. '*tiny_*' for the
#                         images under 0.3 MP
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ $# -ne 3 ]]; then
  echo "usage: $0 ROUNDS BEFORE AFTER" >&2
  exit 2
fi
rounds=$1
before=$2
after=$3
config=$here/configs/w1-thumbnail.toml
corpus=$here/.cache/corpus
sets=${COMPARE_SETS:-w1 w1x10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case ${COMPARE_FSYNC:-on} in
  on) ;;
  off)
    sed 's/^\[sink\]$/[sink]\nfsync = false/' "$config" >"$work/config.toml"
    grep -q '^fsync = false$' "$work/config.toml"
    config=$work/config.toml
    ;;
  *)
    echo "$0: COMPARE_FSYNC is on or off" >&2
    exit 2
    ;;
esac

inputs=$corpus
if [[ -n ${COMPARE_MATCH:-} ]]; then
  inputs=$work/in
  for set in $sets; do
    mkdir -p "$inputs/$set"
    find "$corpus/$set" -maxdepth 1 -type f -name "$COMPARE_MATCH" \
      -exec ln {} "$inputs/$set/" \;
    n=$(find "$inputs/$set" -type f | wc -l)
    if ((n == 0)); then
      echo "$0: no input of $set matches '$COMPARE_MATCH'" >&2
      exit 2
    fi
    echo "$set: $n inputs match '$COMPARE_MATCH'"
  done
fi

run() { # name binary corpus
  local name=$1 binary=$2 set=$3
  rm -rf "$work/out"
  mkdir "$work/out"
  sync # the run before's outputs must not be flushed by this run's fsyncs
  /usr/bin/time -o "$work/t" -f "%e %U %S %M %R" "$binary" run "$config" \
    --input "$inputs/$set" --output "$work/out" >/dev/null 2>&1
  echo "$set $name $(tail -1 "$work/t")" | tee -a "$work/table"
}

echo "corpus build wall_s user_s sys_s max_rss_kib minor_faults"
for ((r = 1; r <= rounds; r++)); do
  for set in $sets; do
    # Which build goes first alternates from round to round.
    if ((r % 2)); then
      run before "$before" "$set"
      run after "$after" "$set"
    else
      run after "$after" "$set"
      run before "$before" "$set"
    fi
  done
done

echo
awk -f "$here/medians.awk" "$work/table"
