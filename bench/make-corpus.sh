#!/usr/bin/env bash
# Builds the benchmark corpus in bench/.cache/corpus from the wallpapers that
# bench/install-bench-deps.sh unpacked (gnome-backgrounds, mate-backgrounds):
#
#   w1/     349 files, flat, every name unique, prefixed by subset:
#             base_*   baseline JPEG q90, long edge 800 .. 4000 px (no upscaling)
#             prog_*   progressive JPEG q90, 1600 and 2400 px
#             webp_*   WebP q85, 1600 and 3000 px
#             alpha_*  PNG with an alpha band, 1600 px
#             exif_*   JPEG q90 stored sideways/upside down with EXIF
#                      orientation 6, 8 or 3, 1600 and 3000 px
#             tiny_*   JPEG q90, 320 and 600 px long edge (< 0.3 megapixel)
#   w1x10/  3490 names: w1 ten times (hard links r0_* .. r9_*), for the
#           memory-flatness check
#   w2/     every third w1 file with a long edge >= 2000 px, PNGs left out
#           (hard links)
#   w3/     large.jpg: 12288x12288 baseline JPEG q90, a 3x3 tiling of nine
#           4096x4096 gnome wallpapers (decoded: 453 MB as 8-bit RGB)
#   small/  small images, where the cost per image (not per pixel) decides:
#           ten versions of each picture of three OTHER packages
#           (lomiri-wallpapers-16.04 and -20.04: photographs; ukui-wallpapers:
#           rendered art), long edge 400 .. 1000 px, every name unique:
#             sbase_*  baseline JPEG q85, 400, 520, 680, 840, 1000 px
#             sprog_*  progressive JPEG q85, 440 and 760 px
#             spng_*   PNG (RGB, no alpha), 600 px
#             swebp_*  WebP q80, 480 and 900 px
#   tiny/   every file of small/ and w1/ of at most 0.3 megapixel (JPEG
#           baseline and progressive, PNG, WebP), four times under new names
#           (hard links t0_* .. t3_*): W1 where the cost per image decides
#           most, as thumbnail services see avatars and previews
#   w2photo/  large photographs as their authors saved them, not re-encoded:
#           every JPEG of the five packages with a long edge of 2400 px or
#           more (2560x1600 to 6028x3391; 4:2:0 and 4:4:4; many of them
#           progressive), metadata dropped losslessly (jpegtran -copy none),
#           each twice, as the same coefficients:
#             pbase_*  baseline (sequential)
#             pprog_*  progressive (jpegtran -progressive)
#           W2 on photographs with more detail than w2's re-encoded files,
#           half of them progressive, which libjpeg decodes whole into a
#           coefficient buffer before the first row comes out.
#
#   bash bench/make-corpus.sh [--force]
#
# Deterministic: the same packages give the same files. Takes about a minute.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=$here/.cache
corpus=$cache/corpus
stamp=$corpus/.complete-v5

if [[ ${1:-} == --force ]]; then rm -rf "$corpus"; fi
if [[ -f $stamp ]]; then
  echo "make-corpus: $corpus is complete (--force rebuilds it)"
  exit 0
fi
for tool in vips vipsheader jpegtran /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "make-corpus: $tool missing; run bench/install-bench-deps.sh" >&2; exit 1; }
done
gnome=$cache/debs/gnome-backgrounds/usr/share/backgrounds/gnome
mate=$cache/debs/mate-backgrounds/usr/share/backgrounds/mate
small_pkgs=(lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 ukui-wallpapers)
for p in "${small_pkgs[@]}"; do
  [[ -d $cache/debs/$p/usr/share/backgrounds ]] || gnome=/nonexistent
done
if [[ ! -d $gnome || ! -d $mate ]]; then
  echo "make-corpus: wallpapers missing; run bench/install-bench-deps.sh" >&2
  exit 1
fi

# w1 files already made by an interrupted run are kept (each is written
# under .src/ and moved into place, so none is half-written); the rest is
# made afresh.
rm -rf "$corpus"/{w1x10,w2,w2photo,tiny,.src}
mkdir -p "$corpus"/{w1,w1x10,w2,w2photo,w3,small,tiny} "$corpus/.src"
export VIPS_CONCURRENCY=1

# Sources: the JPEG photographs of mate-backgrounds (nature/ and the largest
# Elephants) and the 4096x4096 raster gnome wallpapers (WebP).
sources=()
for f in "$mate"/nature/*.jpg "$mate"/abstract/Elephants_5640x3172.jpg; do sources+=("$f"); done
for f in "$gnome"/*.webp; do
  w=$(vipsheader -f width "$f")
  (( w >= 4096 )) && sources+=("$f")
done
echo "make-corpus: ${#sources[@]} source pictures"

# One task per output, run in parallel: "KIND SRC NAME SIZE LONGEDGE".
tasks=$corpus/.tasks
: >"$tasks"
for src in "${sources[@]}"; do
  b=$(basename "$src"); b=${b%.*}; b=${b//[^A-Za-z0-9]/}; b=${b,,}
  w=$(vipsheader -f width "$src"); h=$(vipsheader -f height "$src")
  long=$(( w > h ? w : h ))
  for s in 800 1200 1600 2000 2400 3000 4000; do
    (( s <= long )) && echo "base $src base_${b}_$s.jpg $s" >>"$tasks"
  done
  for s in 1600 2400; do (( s <= long )) && echo "prog $src prog_${b}_$s.jpg $s" >>"$tasks"; done
  if [[ $src == *.webp ]]; then
    for s in 1600 3000; do echo "webp $src webp_${b}_$s.webp $s" >>"$tasks"; done
  fi
  echo "alpha $src alpha_${b}_1600.png 1600" >>"$tasks"
  for s in 1600 3000; do (( s <= long )) && echo "exif $src exif_${b}_$s.jpg $s" >>"$tasks"; done
  for s in 320 600; do echo "tiny $src tiny_${b}_$s.jpg $s" >>"$tasks"; done
done
# small/: the pictures of the other packages (none of them is in w1).
nsmall=0
for p in "${small_pkgs[@]}"; do
  for src in "$cache/debs/$p"/usr/share/backgrounds/*.{jpg,png}; do
    [[ -f $src ]] || continue
    b=$(basename "$src"); b=${b%.*}; b=${b//[^A-Za-z0-9]/}; b=${b,,}
    for s in 400 520 680 840 1000; do echo "sbase $src sbase_${b}_$s.jpg $s" >>"$tasks"; done
    for s in 440 760; do echo "sprog $src sprog_${b}_$s.jpg $s" >>"$tasks"; done
    echo "spng $src spng_${b}_600.png 600" >>"$tasks"
    for s in 480 900; do echo "swebp $src swebp_${b}_$s.webp $s" >>"$tasks"; done
    nsmall=$((nsmall + 1))
  done
done
echo "make-corpus: $nsmall source pictures for small/"

make_one() {
  local kind=$1 src=$2 name=$3 size=$4 final=$CORPUS/w1/$3
  [[ $kind == s* ]] && final=$CORPUS/small/$3
  [[ -f $final ]] && return 0
  local out=$CORPUS/.src/out_$name
  case $kind in
    base | tiny) vips thumbnail "$src" "$out[Q=90,strip]" "$size" ;;
    sbase) vips thumbnail "$src" "$out[Q=85,strip]" "$size" ;;
    sprog) vips thumbnail "$src" "$out[Q=85,strip,interlace]" "$size" ;;
    spng)
      # flattened: some of the art has an alpha band, these PNGs have none
      vips thumbnail "$src" "$CORPUS/.src/$name.v" "$size"
      vips flatten "$CORPUS/.src/$name.v" "$out[compression=6,strip]"
      rm -f "$CORPUS/.src/$name.v"
      ;;
    swebp) vips thumbnail "$src" "$out[Q=80,strip]" "$size" ;;
    prog) vips thumbnail "$src" "$out[Q=90,strip,interlace]" "$size" ;;
    webp) vips thumbnail "$src" "$out[Q=85,strip]" "$size" ;;
    alpha)
      # an alpha band that varies: a horizontal ramp from 64 to 255
      local t=$CORPUS/.src/$name.v
      vips thumbnail "$src" "$t" "$size"
      local w h; w=$(vipsheader -f width "$t"); h=$(vipsheader -f height "$t")
      vips xyz "$t.xyz.v" "$w" "$h"
      vips extract_band "$t.xyz.v" "$t.x.v" 0
      vips linear "$t.x.v" "$t.a.v" "$(awk "BEGIN{print 191/$w}")" 64 --uchar
      vips bandjoin "$t $t.a.v" "$out[compression=6,strip]"
      rm -f "$t" "$t".*.v
      ;;
    exif)
      # store the picture turned, with the EXIF orientation that turns it
      # back: 6 (turn 90 cw to view), 8 (90 ccw) or 3 (180), by the name's hash
      local t=$CORPUS/.src/$name
      vips thumbnail "$src" "$t[Q=90,strip]" "$size"
      /usr/bin/python3 - "$t" "$out" <<'PY'
import sys, zlib
from PIL import Image
src, out = sys.argv[1], sys.argv[2]
orient = (6, 8, 3)[zlib.crc32(out.rsplit("/", 1)[1].encode()) % 3]
im = Image.open(src)
stored = im.transpose({6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
                       3: Image.Transpose.ROTATE_180}[orient])
exif = Image.Exif()
exif[0x0112] = orient
stored.save(out, quality=90, exif=exif.tobytes())
PY
      rm -f "$t"
      ;;
  esac
  mv "$out" "$final"
}
export -f make_one
export CORPUS=$corpus
xargs -P "$(nproc)" -L 1 bash -c 'make_one "$@"' _ <"$tasks"

n1=$(( $(find "$corpus/w1" -type f | wc -l) + $(find "$corpus/small" -type f | wc -l) ))
expected=$(wc -l <"$tasks")
if (( n1 != expected )); then
  echo "make-corpus: made $n1 of $expected files" >&2
  exit 1
fi

# w1x10: the same files ten times under new names (hard links).
for r in 0 1 2 3 4 5 6 7 8 9; do
  for f in "$corpus"/w1/*; do ln "$f" "$corpus/w1x10/r${r}_$(basename "$f")"; done
done

# tiny: the files of at most 0.3 megapixel, four times (hard links).
for f in "$corpus"/small/* "$corpus"/w1/*; do
  w=$(vipsheader -f width "$f"); h=$(vipsheader -f height "$f")
  (( w * h <= 300000 )) || continue
  for r in 0 1 2 3; do ln "$f" "$corpus/tiny/t${r}_$(basename "$f")"; done
done

# w2: every third of the non-PNG files with a long edge >= 2000 px, in name
# order (the number before the extension is the long edge).
i=0
for f in "$corpus"/w1/*; do
  case $f in *.png) continue ;; esac
  long=${f##*_}; long=${long%.*}
  if (( long >= 2000 )); then
    if (( i % 3 == 0 )); then ln "$f" "$corpus/w2/$(basename "$f")"; fi
    i=$((i + 1))
  fi
done

# w2photo: the packages' own large JPEGs, lossless copies without metadata.
while IFS= read -r -d '' src; do
  w=$(vipsheader -f width "$src"); h=$(vipsheader -f height "$src")
  (( (w > h ? w : h) >= 2400 )) || continue
  b=$(basename "$src"); b=${b%.*}; b=${b//[^A-Za-z0-9]/}; b=${b,,}
  jpegtran -copy none -outfile "$corpus/w2photo/pbase_$b.jpg" "$src"
  jpegtran -copy none -progressive -outfile "$corpus/w2photo/pprog_$b.jpg" "$src"
done < <(find "$cache/debs" -path '*/usr/share/backgrounds/*' -name '*.jpg' -print0 | sort -z)

# w3: 3x3 tiling of nine 4096x4096 wallpapers, 12288x12288.
tiles=()
for f in "$gnome"/*.webp; do
  w=$(vipsheader -f width "$f")
  (( w >= 4096 )) && tiles+=("$f")
  (( ${#tiles[@]} == 9 )) && break
done
if [[ ! -f $corpus/w3/large.jpg ]]; then
  VIPS_CONCURRENCY=$(nproc) vips arrayjoin "${tiles[*]}" "$corpus/.src/large.jpg[Q=90,strip]" --across 3
  mv "$corpus/.src/large.jpg" "$corpus/w3/large.jpg"
fi
rm -rf "$corpus/.src" "$tasks"

{
  for d in w1 w1x10 w2 w2photo w3 small tiny; do
    printf '%s\t%s files\t%s\n' "$d" "$(find "$corpus/$d" -type f | wc -l)" \
      "$(du -sh --apparent-size "$corpus/$d" | cut -f1)"
  done
  echo "w1 by subset:"
  for p in base prog webp alpha exif tiny; do
    printf '  %s\t%s\n' "$p" "$(find "$corpus/w1" -name "${p}_*" | wc -l)"
  done
  echo "small by subset:"
  for p in sbase sprog spng swebp; do
    printf '  %s\t%s\n' "$p" "$(find "$corpus/small" -name "${p}_*" | wc -l)"
  done
  echo "tiny by format:"
  for e in jpg png webp; do
    printf '  %s\t%s\n' "$e" "$(find "$corpus/tiny" -name "*.$e" | wc -l)"
  done
  echo "w2photo by subset:"
  for p in pbase pprog; do
    printf '  %s\t%s\n' "$p" "$(find "$corpus/w2photo" -name "${p}_*" | wc -l)"
  done
  echo "w3: $(cd "$corpus" && vipsheader w3/large.jpg)"
} | tee "$corpus/SUMMARY.txt"
touch "$stamp"
