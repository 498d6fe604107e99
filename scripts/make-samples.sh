#!/usr/bin/env bash
# Generates pixline's demo photo set into OUTDIR with the `vips` command-line
# tool (Debian package libvips-tools) and nothing else: no download.
#
#   bash scripts/make-samples.sh build/demo/in
#
# Twelve images in several formats, sizes and folders:
#
#   landscape.jpg              3000x2000  jpeg, the largest
#   portrait.jpg               1200x1800  jpeg
#   testcard.jpg                640x480   jpeg, colour bars
#   rotated-exif6.jpg          1600x1200  jpeg stored on its side with EXIF
#                                         orientation 6 (upright: 1200x1600)
#   logo.png                    800x800   png with an alpha channel
#   texture.webp               1024x768   webp
#   scan.tif                   1700x2200  greyscale tiff (deflate), a text page
#   banner.gif                  600x200   gif (palette)
#   sunset.avif                1024x683   avif (heif container, av1)
#   vector/badge.svg            640x480   svg, written by hand
#   holiday/beach.jpg          2400x1600  jpeg, in a sub-folder
#   holiday/evening/night.jpg  1920x1080  jpeg, two folders down
#
# The landscapes are SVG drawings (gradients, hills, a sun) that libvips
# renders, with seeded noise added as film grain; the rest come from libvips'
# pattern generators (xyz, zone, eye, sines, gaussnoise, text). Every run
# writes the same files. Each `vips` call starts a process (~0.1 s), so the
# script keeps their number low: the whole set takes a few seconds.
set -Eeuo pipefail

if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi

if ! command -v vips >/dev/null; then
  echo "make-samples: the 'vips' tool is missing (apt-get install" \
       "libvips-tools, or run scripts/install-deps.sh)" >&2
  exit 1
fi

mkdir -p "$1"
out=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pixline-samples.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'echo "make-samples: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# `v OP ARGS...`: runs `vips OP`, with options written --name=value or
# --flag. Options go before a `--` and the other arguments after it, so that
# negative numbers pass as arguments instead of unknown options.
v() {
  local op=$1 arg
  local -a opts=() args=()
  shift
  for arg in "$@"; do
    if [[ $arg == --[a-zA-Z]* ]]; then
      opts+=("$arg")
    else
      args+=("$arg")
    fi
  done
  vips "$op" "${opts[@]}" -- "${args[@]}"
}

# Prints an SVG landscape W x H pixels: a sky gradient, a sun with a halo,
# two ranges of hills (or sea and sand) and a caption.
#   scene_svg W H STYLE SKY_TOP SKY_HORIZON FAR_TOP FAR_BOTTOM NEAR_TOP
#             NEAR_BOTTOM SUN SUN_X SUN_Y SUN_R CAPTION
# STYLE: hills, hills-mirrored or beach. Colours are SVG colours; SUN_X and
# SUN_Y are fractions of the width and height, SUN_R of the smaller side.
# The hills are drawn in a 1000x1000 box stretched to the image; the sun and
# the caption in pixels, so they keep their shape.
scene_svg() {
  local w=$1 h=$2 style=$3 sky_top=$4 sky_horizon=$5 far_top=$6 far_bottom=$7
  local near_top=$8 near_bottom=$9 sun=${10} sx=${11} sy=${12} sr=${13}
  local caption=${14}
  local small=$((w < h ? w : h))
  local cx cy r font far near flip=""
  cx=$(awk "BEGIN { print int($w * $sx) }")
  cy=$(awk "BEGIN { print int($h * $sy) }")
  r=$(awk "BEGIN { print int($small * $sr) }")
  font=$((small / 22))
  case $style in
    hills | hills-mirrored)
      far="M0 560 C170 470 300 520 470 580 S800 480 1000 540 V1000 H0 Z"
      near="M0 700 C200 600 400 640 570 700 S870 640 1000 660 V1000 H0 Z"
      [[ $style == hills-mirrored ]] && flip='transform="translate(1000 0) scale(-1 1)"'
      ;;
    beach)
      far="M0 600 H1000 V1000 H0 Z"
      near="M0 760 C250 700 500 720 700 740 S900 700 1000 720 V1000 H0 Z"
      ;;
    *)
      echo "scene_svg: unknown style $style" >&2
      return 1
      ;;
  esac
  cat <<EOF
<svg xmlns="http://www.w3.org/2000/svg" width="$w" height="$h">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="$sky_top"/>
      <stop offset="0.65" stop-color="$sky_horizon"/>
    </linearGradient>
    <radialGradient id="sun">
      <stop offset="0" stop-color="white"/>
      <stop offset="0.1" stop-color="$sun"/>
      <stop offset="0.16" stop-color="$sun" stop-opacity="0.45"/>
      <stop offset="1" stop-color="$sun" stop-opacity="0"/>
    </radialGradient>
    <linearGradient id="far" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0.5" stop-color="$far_top"/>
      <stop offset="1" stop-color="$far_bottom"/>
    </linearGradient>
    <linearGradient id="near" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0.65" stop-color="$near_top"/>
      <stop offset="1" stop-color="$near_bottom"/>
    </linearGradient>
  </defs>
  <rect width="$w" height="$h" fill="url(#sky)"/>
  <circle cx="$cx" cy="$cy" r="$((r * 10))" fill="url(#sun)"/>
  <svg width="$w" height="$h" viewBox="0 0 1000 1000" preserveAspectRatio="none">
    <g $flip>
      <path d="$far" fill="url(#far)"/>
      <path d="$near" fill="url(#near)"/>
    </g>
  </svg>
  <g font-family="DejaVu Sans" font-weight="bold" font-size="$font">
    <text x="$((font + 3))" y="$((font * 2 + 3))" fill="black" fill-opacity="0.35">$caption</text>
    <text x="$font" y="$((font * 2))" fill="white">$caption</text>
  </g>
</svg>
EOF
}

# Renders an SVG landscape and adds film grain: photo SVG OUT W H SEED.
# OUT is any file name vips can write, with save options in brackets, e.g.
# "a.jpg[Q=85]".
photo() {
  local svg=$1 result=$2 w=$3 h=$4 seed=$5
  v flatten "$svg" "$tmp/photo.flat.v"
  v gaussnoise "$tmp/photo.noise.v" "$w" "$h" --sigma=5 --mean=0 --seed="$seed"
  v add "$tmp/photo.flat.v" "$tmp/photo.noise.v" "$result"
}

# Adds an EXIF block with Orientation = N (1-8) to a JPEG that has none,
# after its JFIF APP0 segment: exif_orientation FILE N. vips(1) has no option
# to set the tag, so the 34-byte APP1 segment is written by hand: "Exif\0\0",
# a big-endian TIFF header and one IFD with one SHORT entry (tag 0x0112).
exif_orientation() {
  local file=$1 orientation=$2 skip=2 head
  [[ $orientation == [1-8] ]] || return 1
  head=$(head -c 6 "$file" | od -An -tx1 | tr -d ' \n')
  if [[ ${head:0:4} != ffd8 ]]; then
    echo "make-samples: $file is not a JPEG" >&2
    return 1
  fi
  if [[ ${head:4:4} == ffe0 ]]; then # keep the JFIF segment first
    skip=$((4 + 16#$(head -c 6 "$file" | tail -c 2 | od -An -tx1 | tr -d ' \n')))
  fi
  {
    head -c "$skip" "$file"
    printf '\xff\xe1\x00\x22Exif\x00\x00'    # APP1, length 34
    printf 'MM\x00\x2a\x00\x00\x00\x08'       # TIFF header, IFD0 at 8
    printf '\x00\x01'                         # one entry:
    printf '\x01\x12\x00\x03\x00\x00\x00\x01' #   Orientation, SHORT, count 1
    printf '\x00%b\x00\x00' "\\x0$orientation"  #   the value
    printf '\x00\x00\x00\x00'                 # no next IFD
    tail -c "+$((skip + 1))" "$file"
  } >"$file.tmp"
  mv "$file.tmp" "$file"
}

mkdir -p "$out/vector" "$out/holiday/evening"

# -- jpeg: photos of several sizes --------------------------------------------

scene_svg 3000 2000 hills "rgb(60,110,200)" "rgb(175,205,235)" \
  "rgb(120,155,125)" "rgb(75,115,75)" "rgb(85,140,65)" "rgb(30,75,30)" \
  "rgb(255,240,190)" 0.72 0.28 0.03 "pixline demo · landscape.jpg 3000×2000" \
  >"$tmp/landscape.svg"
photo "$tmp/landscape.svg" "$out/landscape.jpg[Q=88,optimize-coding]" 3000 2000 1

scene_svg 1200 1800 hills-mirrored "rgb(40,80,170)" "rgb(205,190,220)" \
  "rgb(125,130,140)" "rgb(95,115,75)" "rgb(95,115,75)" "rgb(40,52,35)" \
  "rgb(255,230,200)" 0.3 0.22 0.035 "portrait.jpg 1200×1800" \
  >"$tmp/portrait.svg"
photo "$tmp/portrait.svg" "$out/portrait.jpg[Q=85]" 1200 1800 2

scene_svg 2400 1600 beach "rgb(70,150,230)" "rgb(195,225,245)" \
  "rgb(40,120,170)" "rgb(90,170,190)" "rgb(230,205,160)" "rgb(200,170,120)" \
  "rgb(255,250,220)" 0.2 0.18 0.03 "holiday/beach.jpg 2400×1600" \
  >"$tmp/beach.svg"
photo "$tmp/beach.svg" "$out/holiday/beach.jpg[Q=85]" 2400 1600 3

# Night: a pale moon, and stars where seeded noise passes 3.4 sigma.
scene_svg 1920 1080 hills-mirrored "rgb(4,8,28)" "rgb(25,35,80)" \
  "rgb(14,20,30)" "rgb(10,14,18)" "rgb(12,18,16)" "rgb(3,5,4)" \
  "rgb(230,235,255)" 0.8 0.2 0.02 "holiday/evening/night.jpg 1920×1080" \
  >"$tmp/night.svg"
v flatten "$tmp/night.svg" "$tmp/night.flat.v"
v gaussnoise "$tmp/night.noise.v" 1920 1080 --sigma=1 --mean=0 --seed=4
v relational_const "$tmp/night.noise.v" "$tmp/night.stars.v" more 3.4
v add "$tmp/night.flat.v" "$tmp/night.stars.v" "$out/holiday/evening/night.jpg[Q=82]"

# Test card: seven colour bars, bar i = floor(7x / 640) looked up in a 7x1
# colour table (a PPM written here) with maplut, and a text label on top.
printf 'P3\n7 1\n255\n%s\n' \
  "191 191 191  191 191 0  0 191 191  0 191 0  191 0 191  191 0 0  0 0 191" \
  >"$tmp/bars.ppm"
v xyz "$tmp/tc.xy.v" 640 480
v extract_band "$tmp/tc.xy.v" "$tmp/tc.x.v" 0
v linear "$tmp/tc.x.v" "$tmp/tc.i.v" "$(awk 'BEGIN { print 7 / 640 }')" 0 --uchar
v maplut "$tmp/tc.i.v" "$tmp/tc.bars.v" "$tmp/bars.ppm"
v text "$tmp/tc.text.v" '<span foreground="white">testcard.jpg 640×480</span>' \
  --rgba --font="DejaVu Sans Bold" --dpi=110
v composite2 "$tmp/tc.bars.v" "$tmp/tc.text.v" "$out/testcard.jpg[Q=90]" over \
  --x=150 --y=220

# Stored on its side: an upright 1200x1600 picture turned 90° anticlockwise
# and tagged "turn 90° clockwise to display" (EXIF orientation 6).
scene_svg 1200 1600 hills "rgb(90,60,150)" "rgb(240,170,120)" \
  "rgb(140,90,90)" "rgb(110,70,70)" "rgb(120,80,70)" "rgb(50,35,45)" \
  "rgb(255,210,150)" 0.5 0.45 0.04 "↑ this way up (EXIF 6)" \
  >"$tmp/upright.svg"
v rot "$tmp/upright.svg" "$out/rotated-exif6.jpg[Q=85]" d270
exif_orientation "$out/rotated-exif6.jpg" 6

# -- png with alpha: a zone plate in a disc -------------------------------------

v zone "$tmp/logo.zone.v" 800 800 --uchar
v xyz "$tmp/logo.xy.v" 800 800
v linear "$tmp/logo.xy.v" "$tmp/logo.gb.v" "0.3 0.3" "20 40" --uchar
cat >"$tmp/disc.svg" <<'EOF'
<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800">
  <!-- alpha only: opaque ring, a hole, and a half-transparent middle -->
  <path fill-rule="evenodd"
        d="M20 400 a380 380 0 1 0 760 0 a380 380 0 1 0 -760 0 Z
           M290 400 a110 110 0 1 0 220 0 a110 110 0 1 0 -220 0 Z"/>
  <circle cx="400" cy="400" r="70" fill-opacity="0.5"/>
</svg>
EOF
v extract_band "$tmp/disc.svg" "$tmp/logo.alpha.v" 3
v bandjoin "$tmp/logo.zone.v $tmp/logo.gb.v $tmp/logo.alpha.v" "$tmp/logo.bands.v"
v copy "$tmp/logo.bands.v" "$tmp/logo.rgba.v" --interpretation=srgb
v text "$tmp/logo.text.v" '<span foreground="#102040">pixline</span>' \
  --rgba --font="DejaVu Sans Bold" --dpi=200
text_width=$(vipsheader -f width "$tmp/logo.text.v")
v composite2 "$tmp/logo.rgba.v" "$tmp/logo.text.v" "$out/logo.png[compression=6]" \
  over --x=$(((800 - text_width) / 2)) --y=560

# -- webp: an eye pattern and sine waves -----------------------------------------

v eye "$tmp/tex.eye.v" 1024 768 --uchar --factor=0.35
v sines "$tmp/tex.wave.v" 1024 768 --uchar --hfreq=0.01 --vfreq=0.005
v sines "$tmp/tex.fine.v" 1024 768 --uchar --hfreq=3 --vfreq=2
v bandjoin "$tmp/tex.eye.v $tmp/tex.wave.v $tmp/tex.fine.v" "$out/texture.webp[Q=85]"

# -- tiff: a greyscale "scanned" page of text ------------------------------------

v text "$tmp/scan.text.v" "$(
  cat <<'EOF'
<b>pixline</b>

pixline runs a pipeline of stages over many images. Each stage is a set of actors; images move between them as messages, and a small credit protocol decides who may send what, so memory stays bounded however fast or slow each stage is.

Images are libvips images: lazy, streamed in strips, and shrunk while they load when the pipeline makes them smaller.

This page is a greyscale TIFF with deflate compression, 1700 × 2200 pixels, as a flatbed scanner writes a letter page at 200 dpi.
EOF
)" --font="DejaVu Serif 15" --width=1450 --dpi=200 --spacing=20
v embed "$tmp/scan.text.v" "$tmp/scan.ink.v" 125 180 1700 2200
v gaussnoise "$tmp/scan.noise.v" 1700 2200 --sigma=4 --mean=0 --seed=7
v add "$tmp/scan.ink.v" "$tmp/scan.noise.v" "$tmp/scan.raw.v"
# dark ink on off-white paper; 7.874 pixels/mm = 200 dpi
v linear "$tmp/scan.raw.v" \
  "$out/scan.tif[compression=deflate,resunit=inch,xres=7.874,yres=7.874]" \
  -0.9 245 --uchar

# -- gif: a banner ----------------------------------------------------------------

cat >"$tmp/banner.svg" <<'EOF'
<svg xmlns="http://www.w3.org/2000/svg" width="600" height="200">
  <defs>
    <linearGradient id="g" x1="0" y1="0" x2="1" y2="0">
      <stop offset="0" stop-color="#e0533d"/>
      <stop offset="0.5" stop-color="#f5b83d"/>
      <stop offset="1" stop-color="#3d8fe0"/>
    </linearGradient>
  </defs>
  <rect width="600" height="200" fill="url(#g)"/>
  <circle cx="520" cy="100" r="60" fill="none" stroke="white" stroke-width="12"/>
  <text x="40" y="120" font-family="DejaVu Sans" font-weight="bold" font-size="48"
        fill="white">banner.gif</text>
</svg>
EOF
v flatten "$tmp/banner.svg" "$out/banner.gif[effort=4]"

# -- avif: a sunset, AV1 in a HEIF container --------------------------------------

scene_svg 1024 683 hills "rgb(40,30,90)" "rgb(250,140,60)" \
  "rgb(70,40,60)" "rgb(45,30,45)" "rgb(40,25,35)" "rgb(15,10,20)" \
  "rgb(255,200,120)" 0.5 0.58 0.05 "sunset.avif 1024×683" \
  >"$tmp/sunset.svg"
v flatten "$tmp/sunset.svg" "$out/sunset.avif[compression=av1,Q=55,effort=2]"

# -- svg: written by hand ----------------------------------------------------------

cat >"$out/vector/badge.svg" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- pixline demo: a vector image; libvips renders it with librsvg. -->
<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480" viewBox="0 0 640 480">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#1d3b8a"/>
      <stop offset="1" stop-color="#f2a65a"/>
    </linearGradient>
    <radialGradient id="sun" cx="0.5" cy="0.5" r="0.5">
      <stop offset="0" stop-color="#fff6c8"/>
      <stop offset="1" stop-color="#ffb347" stop-opacity="0"/>
    </radialGradient>
  </defs>
  <rect width="640" height="480" rx="40" fill="url(#sky)"/>
  <circle cx="440" cy="200" r="120" fill="url(#sun)"/>
  <path d="M0 340 Q160 260 320 330 T640 320 V440 Q640 480 600 480 H40 Q0 480 0 440 Z"
        fill="#2e5e3a"/>
  <path d="M0 400 Q200 350 400 410 T640 400 V440 Q640 480 600 480 H40 Q0 480 0 440 Z"
        fill="#1f4229"/>
  <text x="40" y="90" font-family="DejaVu Sans, sans-serif" font-weight="bold"
        font-size="56" fill="#ffffff">pixline</text>
  <text x="42" y="130" font-family="DejaVu Sans, sans-serif" font-size="22"
        fill="#e8ecff">vector/badge.svg · 640×480</text>
</svg>
EOF

echo "make-samples: wrote $(find "$out" -type f | wc -l) images to $out"
