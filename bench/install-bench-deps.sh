#!/usr/bin/env bash
# Installs what the benchmark (bench/run.sh) needs besides pixline's own build
# dependencies (scripts/install-deps.sh), all from Debian 12:
#
#   python3-pil     Pillow, for the ProcessPoolExecutor competitor
#   imagemagick     mogrify, a competitor
#   libvips-tools   vips and vipsthumbnail (corpus generation, a competitor)
#   gnuplot-nox     the PNG plot in docs/performance.png
#   time            GNU time (handy for reruns by hand; measure.py does not need it)
#   libjemalloc2    jemalloc, for the allocator experiment (LD_PRELOAD)
#   libjpeg-turbo-progs  jpegtran, for the lossless copies of corpus w2photo
#
# and the pictures of the corpus: the wallpaper packages gnome-backgrounds
# (4096x4096 WebP, mostly rendered art) and mate-backgrounds (JPEG photographs
# of nature, 1280 to 5640 pixels wide, and PNGs) for w1, w2 and w3, and
# lomiri-wallpapers-16.04/-20.04 (photographs) and ukui-wallpapers (rendered
# art, JPEG and PNG) for the small-image set, are fetched with
# `apt-get download` and unpacked with `dpkg -x` into bench/.cache/debs
# (they are NOT installed system-wide).
#
#   bash bench/install-bench-deps.sh
#
# A second run does nothing that needs the network when everything is there.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=$here/.cache

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then sudo_cmd=(sudo); else
    echo "install-bench-deps: not root and no sudo" >&2; exit 1
  fi
fi

pkgs=(python3-pil imagemagick libvips-tools gnuplot-nox time libjemalloc2 libjpeg-turbo-progs)
wallpapers=(gnome-backgrounds mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 ukui-wallpapers)

# apt-get update only when a package is unknown to the current lists.
need_update=0
for p in "${pkgs[@]}" "${wallpapers[@]}"; do
  pol=$(apt-cache policy "$p" 2>/dev/null || true)
  if [[ $pol != *"Candidate: "[!\(]* ]]; then
    need_update=1
  fi
done
if (( need_update )); then "${sudo_cmd[@]}" apt-get update; fi

missing=()
for p in "${pkgs[@]}" "${wallpapers[@]}"; do
  cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [[ -z $cand || $cand == "(none)" ]]; then
    echo "install-bench-deps: package '$p' does not exist in the apt sources" >&2
    exit 1
  fi
  echo "install-bench-deps: $p $cand"
done
for p in "${pkgs[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  if [[ $st != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
if (( ${#missing[@]} )); then
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The wallpapers: download each .deb, unpack it into the cache, don't install.
mkdir -p "$cache/debs"
for w in "${wallpapers[@]}"; do
  if [[ ! -d $cache/debs/$w/usr/share/backgrounds ]]; then
    (cd "$cache/debs" && rm -f "${w}"_*.deb && apt-get download "$w")
    rm -rf "${cache:?}/debs/$w"
    dpkg -x "$cache/debs/${w}"_*.deb "$cache/debs/$w"
  fi
  n=$(find "$cache/debs/$w/usr/share/backgrounds" -type f \
        \( -name '*.jpg' -o -name '*.png' -o -name '*.webp' \) | wc -l)
  echo "install-bench-deps: $n raster wallpapers from $w in $cache/debs/$w"
done
