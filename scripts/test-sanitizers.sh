#!/usr/bin/env bash
# Builds pixline and its tests with AddressSanitizer and UndefinedBehavior-
# Sanitizer (Debug) into build-asan/ and runs the whole suite against that
# build; the e2e tests run the sanitized binary, so a finding in a child
# process fails its test too. Not part of `scripts/test.sh` (it doubles the
# build time); run it before changing the actor or watch code.
#
#   bash scripts/test-sanitizers.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
build_dir=${PIXLINE_ASAN_DIR:-build-asan}
flags="-fsanitize=address,undefined -fno-omit-frame-pointer"
cmake -G Ninja -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags"
cmake --build "$build_dir" -j "$(nproc)"
# CAF and GLib keep process-lifetime allocations; leaks are not checked.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PIXLINE_BINARY="$PWD/$build_dir/pixline"
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 -j 2
