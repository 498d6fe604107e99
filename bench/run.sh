#!/usr/bin/env bash
# THE benchmark command: pixline against Pillow, vipsthumbnail, ImageMagick
# and a plain-libvips floor, on the same files, alternating, several times.
#
#   bash bench/run.sh                 # from any folder; ~25 min on 2 cores
#   BENCH_REPS=3 bash bench/run.sh    # quicker
#
# 1. installs the Debian packages it needs and unpacks the wallpapers
#    (bench/install-bench-deps.sh; skips what is there),
# 2. builds pixline in Release into bench/.cache/build (incremental; set
#    PIXLINE=/path/to/pixline to use another binary) and the floor program
#    bench/floor.cpp into bench/.cache/floor,
# 3. makes the corpus in bench/.cache/corpus when missing (bench/make-corpus.sh),
# 4. runs bench/bench.py: every workload, every contender, BENCH_REPS times,
#    each run under bench/measure.py; writes bench/results/latest.{json,md},
#    docs/performance.png and the generated part of docs/performance.md.
#
# Environment: BENCH_REPS (5), BENCH_EXP_REPS (2), BENCH_FLAT_REPS (2),
# BENCH_PAIR_REPS (10), BENCH_WORKLOADS (w1,w1floor,w1x10,w2,w3,exp),
# PIXLINE, BENCH_SKIP_DEPS=1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
cache=$here/.cache
mkdir -p "$cache"

if [[ ${BENCH_SKIP_DEPS:-0} != 1 ]]; then
  bash "$here/install-bench-deps.sh"
fi

if [[ -z ${PIXLINE:-} ]]; then
  echo "run: building pixline (Release) in $cache/build"
  cmake -G Ninja -S "$root" -B "$cache/build" -DCMAKE_BUILD_TYPE=Release \
    -DPIXLINE_BUILD_TESTS=OFF -DPIXLINE_BUILD_EXAMPLES=OFF >/dev/null
  ninja -C "$cache/build" -j "$(nproc)" pixline_cli
  export PIXLINE=$cache/build/pixline
fi

floor=$cache/floor
if [[ ! -x $floor || $here/floor.cpp -nt $floor ]]; then
  echo "run: building the floor program"
  # shellcheck disable=SC2046
  g++ -O2 -std=c++20 "$here/floor.cpp" -o "$floor" $(pkg-config --cflags --libs vips-cpp) -pthread
fi
export FLOOR=$floor

bash "$here/make-corpus.sh"

exec /usr/bin/python3 "$here/bench.py"
