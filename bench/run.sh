#!/usr/bin/env bash
# THE benchmark command: pixline against Pillow, vipsthumbnail, ImageMagick
# and plain-libvips floors, on the same files, alternating, several times.
#
#   bash bench/run.sh                 # from any folder; ~25-30 min on 2 quiet cores
#   BENCH_REPS=3 bash bench/run.sh    # quicker
#   BENCH_WORKLOADS=small BENCH_REPS=1 bash bench/run.sh   # a smoke run, ~2 min
#
# 1. installs the Debian packages it needs and unpacks the wallpapers
#    (bench/install-bench-deps.sh; skips what is there),
# 2. builds pixline in Release into bench/.cache/build (incremental; set
#    PIXLINE=/path/to/pixline to use another binary) and the floor program
#    bench/floor.cpp (with pixline's actors/filters/resample.cpp and
#    actors/io/{jpeg,png,webp}_decoder.cpp compiled in)
#    into bench/.cache/floor,
# 3. makes the corpus in bench/.cache/corpus when missing (bench/make-corpus.sh),
# 4. runs bench/bench.py: every workload, every contender, BENCH_REPS times,
#    each run under bench/measure.py; writes bench/results/latest.{json,md}
#    (both committed), docs/performance.png and the generated part of
#    docs/performance.md.
#
# Environment: BENCH_REPS (5), BENCH_EXP_REPS (2), BENCH_FLAT_REPS (2),
# BENCH_PAIR_REPS (10), BENCH_WORKLOADS (w1,small,w1floor,w2,w2photo,w3,w1x10,exp),
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
floor_sources=("$here/floor.cpp" "$root/actors/filters/resample.cpp")
floor_headers=("$root/actors/filters/resample.hpp")
for format in jpeg png webp; do
  floor_sources+=("$root/actors/io/${format}_decoder.cpp")
  floor_headers+=("$root/actors/io/${format}_decoder.hpp")
done
rebuild_floor=0
[[ -x $floor ]] || rebuild_floor=1
for f in "${floor_sources[@]}" "${floor_headers[@]}"; do
  if [[ $f -nt $floor ]]; then rebuild_floor=1; fi
done
if [[ $rebuild_floor == 1 ]]; then
  echo "run: building the floor program"
  # shellcheck disable=SC2046
  g++ -O3 -std=c++20 -I"$root" "${floor_sources[@]}" -o "$floor" \
    $(pkg-config --cflags --libs vips-cpp libpng16 libwebp libwebpdemux) -ljpeg -lfmt -pthread
fi
export FLOOR=$floor

bash "$here/make-corpus.sh"

exec /usr/bin/python3 "$here/bench.py"
