#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz with clang, libFuzzer, ASan and
# UBSan into build-fuzz/ and runs them side by side for FUZZ_SECONDS
# (default 60): the config parser, the inline chain parser, the naming
# template and pixline's own JPEG, PNG and WebP decoders, checked against
# libvips' jpegload, pngload and webpload. A crash, a sanitizer report or an
# undocumented exception fails the script; the input that caused it is left
# in build-fuzz/findings/<target>/ (replay it with
# `build-fuzz/tests/fuzz/fuzz_<target> FILE`).
# scripts/test.sh runs it for 20 s.
#
#   bash scripts/fuzz.sh                  (as root on Debian 12)
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh config
#
# Environment: FUZZ_SECONDS, PIXLINE_FUZZ_DIR (default build-fuzz),
# PIXLINE_JOBS (default nproc). Arguments: the targets to run (config,
# chain, naming, jpeg, png, webp; default all).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${FUZZ_SECONDS:-60}
build_dir=${PIXLINE_FUZZ_DIR:-build-fuzz}
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(config chain naming jpeg png webp)
for t in "${targets[@]}"; do
  [[ -d tests/fuzz/corpus/$t ]] || { echo "fuzz.sh: no target '$t'" >&2; exit 2; }
done

# clang and its libFuzzer runtime come with the other dependencies.
if ! command -v clang++ >/dev/null; then
  bash scripts/install-deps.sh
fi

echo "== building the fuzzers (clang, libFuzzer, ASan, UBSan) in $build_dir"
# -O1 and line tables only: fast to build, still readable stack traces.
cmake -G Ninja -S . -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only" \
  -DPIXLINE_FUZZ=ON -DPIXLINE_WERROR=ON \
  -DPIXLINE_BUILD_TESTS=OFF -DPIXLINE_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build_dir" -j "${PIXLINE_JOBS:-$(nproc)}" --target pixline_fuzzers

# GLib keeps process-lifetime allocations that are not leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The targets run at the same time, each on one thread: FUZZ_SECONDS is
# the wall time of the whole run.
pids=()
for t in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/$t
  # The corpus grows in the build folder; the seeds in the tree stay as
  # they are.
  corpus=$build_dir/corpus/$t
  findings=$build_dir/findings/$t
  mkdir -p "$corpus" "$findings"
  echo "== fuzzing $t for ${seconds}s (log: $build_dir/fuzz_$t.log)"
  "$build_dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$corpus" "$seeds" \
    >"$build_dir/fuzz_$t.log" 2>&1 &
  pids+=($!)
done

failed=()
for i in "${!targets[@]}"; do
  t=${targets[$i]}
  if wait "${pids[$i]}"; then
    echo "$t: $(grep -E '^Done' "$build_dir/fuzz_$t.log" || echo done)"
  else
    tail -n 60 "$build_dir/fuzz_$t.log"
    failed+=("$t")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "== fuzzing found problems in: ${failed[*]} (inputs in $build_dir/findings/)"
  exit 1
fi
echo "== fuzzing found nothing"
