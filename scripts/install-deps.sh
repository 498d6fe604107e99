#!/usr/bin/env bash
# Installs the Debian 12 packages pixline needs to build, test and run its
# demo. Run as root (or as a user with sudo). Safe to run again: when every
# package is already installed it does nothing and needs no network.
#
#   bash scripts/install-deps.sh
#
# docs/dependencies.md says why each package is here.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  # libraries
  libcaf-dev libcaf-doc          # C++ Actor Framework 0.17 (actor runtime)
  libvips-dev                    # libvips 8.14 (decode, operations, encode)
  libjpeg62-turbo-dev            # libjpeg-turbo: small jpegs encoded directly
  libwebp-dev                    # libwebp: still WebPs decoded directly
  libpng-dev                     # libpng: small PNGs decoded directly
  liblcms2-dev                   # Little CMS: CMYK imported with one transform per process
  libseccomp-dev                 # worker processes: system-call filter (isolation)
  libxxhash-dev                  # watch journal: XXH3 content hash of each input
  libfmt-dev libspdlog-dev       # formatting, logging
  libtomlplusplus-dev            # config files
  libcli11-dev                   # command line
  nlohmann-json3-dev             # --events JSON lines
  libcpp-httplib-dev             # metrics endpoint (--metrics)
  librabbitmq-dev                # queue source, enqueue (RabbitMQ's C client)
  rabbitmq-server                # the broker the queue tests start privately
  libssl-dev                     # OpenSSL headers CAF's TLS module includes (nodes)
  openssl                        # the TLS tests make their certificates with it
  iproute2                       # the [netns] tests: ip (cut, lossy links), tc (a slow one)
  catch2                         # tests (Catch2 v2)
  clang libclang-rt-14-dev       # fuzzers (scripts/fuzz.sh): libFuzzer runtime
  # demo
  libvips-tools                  # the vips command that makes the samples
  fonts-dejavu-core              # the font the samples' text is drawn in
)

log() { echo "install-deps: $*" >&2; }

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  log "needs a Debian system (dpkg and apt-get); pixline targets Debian 12"
  exit 1
fi
if [[ -r /etc/os-release ]]; then
  # shellcheck disable=SC1091
  . /etc/os-release
  if [[ ${ID:-} != debian || ${VERSION_ID:-} != 12 ]]; then
    log "warning: this is ${PRETTY_NAME:-an unknown system}, not Debian 12;" \
        "package names or versions may differ"
  fi
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ $status == ii* ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all ${#packages[@]} packages are installed"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  log "missing packages: ${missing[*]}"
  log "run this script as root, or install sudo"
  exit 1
fi

log "installing: ${missing[*]}"
# Waits for the dpkg lock (e.g. unattended-upgrades on a fresh machine)
# instead of failing at once.
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
"${apt[@]}" update
"${apt[@]}" install -y --no-install-recommends "${missing[@]}"

still_missing=()
for p in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ $status == ii* ]] || still_missing+=("$p")
done
if [[ ${#still_missing[@]} -gt 0 ]]; then
  log "still not installed: ${still_missing[*]}"
  exit 1
fi
log "done"
