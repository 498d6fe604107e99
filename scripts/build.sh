#!/usr/bin/env bash
# Configures and builds pixline into build/ (Ninja, RelWithDebInfo), one
# compile job per core. The binary is build/pixline.
#
#   bash scripts/build.sh [--werror] [-- EXTRA CMAKE ARGS...]
#
# Environment:
#   PIXLINE_WERROR=ON      same as --werror: warnings are errors (the test
#                          script builds this way); =OFF turns it off. Unset,
#                          build/ keeps what it was configured with (OFF the
#                          first time), so switching between the demo and the
#                          test script does not rebuild everything.
#   PIXLINE_BUILD_DIR=DIR  build somewhere else than build/
#   PIXLINE_JOBS=N         compile jobs (default: nproc)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

werror=${PIXLINE_WERROR:-}
build_dir=${PIXLINE_BUILD_DIR:-build}
jobs=${PIXLINE_JOBS:-$(nproc)}
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --werror) werror=ON ;;
    --) shift; extra=("$@"); break ;;
    -h | --help)
      awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
      exit 0
      ;;
    *)
      echo "build: unknown argument '$1' (try --help)" >&2
      exit 2
      ;;
  esac
  shift
done
werror_arg=()
case ${werror^^} in
  "") ;;
  ON | 1 | TRUE | YES) werror_arg=(-DPIXLINE_WERROR=ON) ;;
  OFF | 0 | FALSE | NO) werror_arg=(-DPIXLINE_WERROR=OFF) ;;
  *)
    echo "build: PIXLINE_WERROR must be ON or OFF, got '$werror'" >&2
    exit 2
    ;;
esac

for tool in cmake ninja pkg-config c++; do
  if ! command -v "$tool" >/dev/null; then
    echo "build: '$tool' is missing; run scripts/install-deps.sh first" >&2
    exit 1
  fi
done

# A build folder made with another generator (say, plain `cmake -B build`
# with Makefiles) cannot be reused with Ninja: start its cache afresh.
fresh=()
cache=$build_dir/CMakeCache.txt
if [[ -f $cache ]] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' "$cache"; then
  echo "build: $build_dir was configured with another generator;" \
       "reconfiguring it for Ninja" >&2
  fresh=(--fresh)
fi

cmake "${fresh[@]}" -S . -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "${werror_arg[@]}" \
  "${extra[@]}"
cmake --build "$build_dir" --parallel "$jobs"
