#!/usr/bin/env bash
# README command 2: installs the dependencies, builds pixline with warnings
# as errors and runs the whole test suite. Exits non-zero on any failure.
# .ci/run calls this and nothing else.
#
#   bash scripts/test.sh          (as root on Debian 12)
#
# Environment: PIXLINE_BUILD_DIR (default build), PIXLINE_JOBS (default
# nproc), PIXLINE_TEST_JOBS (tests run at once, default 2), FUZZ_SECONDS
# (how long the fuzzers run, default 20; scripts/fuzz.sh builds them with
# clang in build-fuzz/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${PIXLINE_BUILD_DIR:-build}

echo "== installing dependencies"
bash scripts/install-deps.sh

echo "== building (warnings are errors)"
PIXLINE_WERROR=ON bash scripts/build.sh

echo "== testing"
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error \
  --timeout 600 -j "${PIXLINE_TEST_JOBS:-2}"

echo "== fuzzing the parsers and the image decoders (20 s)"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash scripts/fuzz.sh
echo "== all tests passed"
