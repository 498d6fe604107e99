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
# (tests/actors/flow/credit.test.cpp, target pixline_credit_tests: the credit
# protocol, its detached worker threads and budgets), by default "[credit]",
# else the Catch2 test specs given. Debian's libcaf is built without TSan,
# so TSan cannot see CAF's message hand-off and reports every message as a
# race; this mode therefore first builds CAF 0.17.6 itself with TSan, from
# Debian's source package (actor-framework, from deb.debian.org's deb-src,
# its tarball checked against the .dsc), into build-tsan/caf (about 5
# minutes on 2 cores, once), and builds the tests against that. It adds a
# deb-src entry to /etc/apt/sources.list.d (pixline-debian-src.sources).
# Suppressions, each with its reason, are in tests/tsan.supp.
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
if [[ $mode == tsan ]]; then
  caf_prefix=$(realpath -m "$build_dir/caf")
  bash scripts/build-caf-tsan.sh "$caf_prefix"
  config+=(-DCMAKE_PREFIX_PATH="$caf_prefix")
fi
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
