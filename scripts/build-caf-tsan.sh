#!/usr/bin/env bash
# Builds CAF 0.17.6 (core, io, openssl) with ThreadSanitizer into PREFIX,
# from Debian 12's source package `actor-framework`, for
# `scripts/test-sanitizers.sh tsan`: Debian's libcaf is built without TSan,
# so TSan cannot see that a message's send happens before its receive.
#
#   bash scripts/build-caf-tsan.sh PREFIX
#
# Does nothing when PREFIX already has it. Needs root (or sudo) to add a
# deb-src entry for bookworm main (/etc/apt/sources.list.d/
# pixline-debian-src.sources) and to run apt-get update. Only the upstream
# tarball is used (Debian's packaging changes nothing in the library
# sources that matters here); its SHA-256 is checked against the .dsc.
# Built with -std=c++11, as Debian builds it, so the ABI matches the headers
# pixline is compiled against.
set -euo pipefail
prefix=${1:?usage: build-caf-tsan.sh PREFIX}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
if [[ -f $prefix/lib/libcaf_core.so && -f $prefix/include/caf/config.hpp ]]; then
  exit 0
fi

sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)

if ! apt-cache showsrc actor-framework 2>/dev/null | grep -q '^Version: 0.17.6'; then
  "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/pixline-debian-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  "${sudo_cmd[@]}" apt-get update -qq
fi

work=$prefix/src
mkdir -p "$work"
cd "$work"
# The Debian part (.debian.tar.xz) is not needed; when the mirror lacks it,
# apt-get fails after fetching the .dsc and the tarball, which is enough.
apt-get source --download-only actor-framework >/dev/null 2>&1 || true
dsc=$(ls actor-framework_0.17.6-*.dsc 2>/dev/null | head -1)
tarball=actor-framework_0.17.6.orig.tar.gz
if [[ -z $dsc || ! -f $tarball ]]; then
  echo "build-caf-tsan: could not download actor-framework 0.17.6 from Debian" >&2
  exit 1
fi
want=$(awk '/^Checksums-Sha256:/ {f=1; next} /^[^ ]/ {f=0} f && $3 == "'"$tarball"'" {print $1}' "$dsc")
have=$(sha256sum "$tarball" | cut -d' ' -f1)
if [[ -z $want || $want != "$have" ]]; then
  echo "build-caf-tsan: $tarball does not match $dsc" >&2
  exit 1
fi
rm -rf actor-framework-0.17.6
tar xzf "$tarball"

# -include limits: CAF 0.17.6 uses std::numeric_limits without including
# <limits> (receive_buffer.hpp), which g++ 12 no longer forgives; Debian's
# packaging fixes the same.
flags="-std=c++11 -include limits -fsanitize=thread -fno-omit-frame-pointer"
cmake -G Ninja -S actor-framework-0.17.6 -B build \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
  -DCAF_NO_EXAMPLES=yes -DCAF_NO_UNIT_TESTS=yes -DCAF_NO_TOOLS=yes \
  -DCAF_NO_PYTHON=yes -DCAF_NO_OPENCL=yes -DCAF_NO_SUMMARY=yes \
  -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build build -j "$(nproc)"
cmake --install build >/dev/null
echo "build-caf-tsan: CAF 0.17.6 with ThreadSanitizer in $prefix"
