#!/usr/bin/env bash
# Builds pixline and its tests with sanitizers (Debug for ASan) and runs
# tests against that build. Neither is part of `scripts/test.sh` (each needs
# a build of its own); run them before changing the actor or watch code.
#
#   bash scripts/test-sanitizers.sh            # ASan + UBSan, whole suite
#   bash scripts/test-sanitizers.sh tsan       # ThreadSanitizer, [credit]
#   bash scripts/test-sanitizers.sh tsan "a flow*"   # some of the actor tests
#
# asan: AddressSanitizer and UndefinedBehaviorSanitizer, build-asan/, the
# whole suite; the e2e tests run the sanitized binary, so a finding in a
# child process fails its test too.
#
# tsan: ThreadSanitizer (-O1 -g), build-tsan/, the actor tests
# (tests/actors/credit.test.cpp, target pixline_credit_tests: the credit
# protocol, its detached worker threads and budgets), by default "[credit]",
# else the Catch2 test specs given. Suppressions, each with its reason, are
# in tests/tsan.supp. It fails today on CAF's message hand-off, which TSan
# cannot see through Debian's uninstrumented CAF (see tests/tsan.supp).
#
# Environment: PIXLINE_ASAN_DIR, PIXLINE_TSAN_DIR (build folders).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-asan}
[[ $# -gt 0 ]] && shift
case $mode in
  asan)
    build_dir=${PIXLINE_ASAN_DIR:-build-asan}
    flags="-fsanitize=address,undefined -fno-omit-frame-pointer"
    config=(-DCMAKE_BUILD_TYPE=Debug)
    target=all
    ;;
  tsan)
    build_dir=${PIXLINE_TSAN_DIR:-build-tsan}
    flags="-fsanitize=thread -fno-omit-frame-pointer"
    config=(-DCMAKE_BUILD_TYPE=RelWithDebInfo
            -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g")
    target=pixline_credit_tests
    ;;
  *)
    echo "test-sanitizers: unknown mode '$mode' (asan or tsan)" >&2
    exit 2
    ;;
esac

bash scripts/install-deps.sh
cmake -G Ninja -S . -B "$build_dir" "${config[@]}" \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags"
cmake --build "$build_dir" -j "$(nproc)" --target "$target"

if [[ $mode == tsan ]]; then
  # halt_on_error: the first report fails the run.
  export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
  [[ $# -gt 0 ]] || set -- "[credit]"
  exec "$build_dir/tests/pixline_credit_tests" "$@"
fi
# CAF and GLib keep process-lifetime allocations; leaks are not checked.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PIXLINE_BINARY="$PWD/$build_dir/pixline"
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 -j 2
