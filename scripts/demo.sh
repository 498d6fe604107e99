#!/usr/bin/env bash
# README command 1: installs the dependencies, builds pixline, generates a
# demo photo set and runs examples/demo.toml over it.
#
#   bash scripts/demo.sh          (as root on Debian 12)
#
# Inputs go to build/demo/in (12 generated images: jpeg, png, webp, tiff,
# gif, avif, svg, in sub-folders too); outputs to build/demo/out (webp
# thumbnails, 512 pixels wide, in the same sub-folders). Needs no network
# beyond Debian's packages. Exits with pixline's status: 0 all images
# written, 1 some failed, 2 config or usage error, 3 fatal error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${PIXLINE_BUILD_DIR:-build}
demo=$build_dir/demo

echo "== installing dependencies"
bash scripts/install-deps.sh

echo "== building"
bash scripts/build.sh

echo "== making demo images in $demo/in"
rm -rf "$demo"
bash scripts/make-samples.sh "$demo/in"

echo "== running: $build_dir/pixline run examples/demo.toml --input $demo/in --output $demo/out"
status=0
"$build_dir/pixline" run examples/demo.toml \
  --input "$demo/in" --output "$demo/out" || status=$?

echo
echo "== outputs in $demo/out"
if [[ -d $demo/out ]]; then
  (cd "$demo/out" && find . -type f -printf '%P\n' | sort | while read -r f; do
    printf '%10s  %s\n' "$(stat -c %s "$f")" "$f"
  done)
  in_bytes=$(du -sb "$demo/in" | cut -f1)
  out_bytes=$(du -sb "$demo/out" | cut -f1)
  echo "inputs: $in_bytes bytes, outputs: $out_bytes bytes"
  echo
  echo "== vipsheader of two of them"
  find "$demo/out" -type f | sort | head -n 2 | xargs -r vipsheader
else
  echo "(none)"
fi

echo
echo "pixline exited with status $status"
exit "$status"
