#!/usr/bin/env bash
# Soak run: N images (default 20,000) dropped into a watched folder in
# batches, through `pixline watch`, with pixline's resident memory sampled
# every second. Writes bench/results/soak.tsv (seconds, images done, RSS KiB)
# and prints RSS at each tenth of the run; docs/operations.md ("Soak") has a
# run's numbers.
#
#   bash bench/soak.sh [N]         PIXLINE=/path/to/pixline (default build/pixline)
#
# Inputs are 40 generated JPEGs (0.1 to 2 MP), copied under new names and
# renamed into the folder (as a well-behaved uploader does); every original
# is deleted once written (on_success = "delete"), so the folder and the
# journal stay small and only pixline's own memory can grow.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
n=${1:-20000}
batch=${SOAK_BATCH:-500}
pixline=${PIXLINE:-$root/build/pixline}
results=$here/results
mkdir -p "$results"
work=$(mktemp -d /tmp/pixline-soak.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/seed" "$work/in" "$work/out"
for i in $(seq 0 39); do
  w=$((320 + i * 40)); h=$((240 + i * 25))
  vips gaussnoise "$work/seed/n.v" "$w" "$h" --sigma 40 --mean 128
  vips cast "$work/seed/n.v" "$work/seed/c.v" uchar
  vips bandjoin "$work/seed/c.v $work/seed/c.v $work/seed/c.v" "$work/seed/rgb.v"
  vips copy "$work/seed/rgb.v" "$work/seed/s$i.jpg[Q=85]"
done
rm -f "$work/seed/"*.v

cat > "$work/soak.toml" <<TOML
[pipeline]
name = "soak"

[source]
kind = "watch"
path = "$work/in"
settle_ms = 50
on_success = "delete"
state_dir = "$work/state"

[[filter]]
type = "thumbnail"
width = 160

[sink]
path = "$work/out"
format = "jpeg"
quality = 80
TOML

"$pixline" watch "$work/soak.toml" -q --log-level warn > "$work/log" 2>&1 &
pid=$!
start=$(date +%s.%N)
done_count() { find "$work/out" -maxdepth 1 -name '*.jpg' | wc -l; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
printf 'seconds\tdone\trss_kib\n' > "$results/soak.tsv"
( while kill -0 "$pid" 2>/dev/null; do
    printf '%.1f\t%s\t%s\n' "$(echo "$(date +%s.%N) - $start" | bc)" \
      "$(done_count)" "$(rss 2>/dev/null || echo 0)" >> "$results/soak.tsv"
    sleep 1
  done ) &
sampler=$!

for ((i = 0; i < n; i += batch)); do
  for ((j = i; j < i + batch && j < n; j++)); do
    cp "$work/seed/s$((j % 40)).jpg" "$work/in/.part-$j"
    mv "$work/in/.part-$j" "$work/in/img-$j.jpg"
  done
  # Keep at most two batches queued, so the run measures a steady state.
  until (( $(done_count) >= i - batch )); do sleep 0.2; done
done
until (( $(done_count) >= n )); do
  sleep 0.5
  kill -0 "$pid" 2>/dev/null || { echo "soak: pixline died" >&2; cat "$work/log" >&2; exit 1; }
done
sleep 2
kill -TERM "$pid"; wait "$pid" || true
kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
left=$(find "$work/in" -maxdepth 1 -name 'img-*' | wc -l)
echo "soak: $n images dropped, $(done_count) written, $left originals left"
python3 - "$results/soak.tsv" "$n" <<'PY'
import sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n')[1:] if l]
rows = [(float(s), int(d), int(r)) for s, d, r in rows if int(r) > 0]
n = int(sys.argv[2])
print("done      seconds  RSS MiB")
for tenth in range(1, 11):
    target = n * tenth // 10
    row = next((r for r in rows if r[1] >= target), rows[-1])
    print(f"{row[1]:>6}  {row[0]:>9.1f}  {row[2] / 1024:7.1f}")
warm = [r[2] for r in rows if r[1] >= n // 10]
print(f"after the first tenth: RSS min {min(warm)/1024:.1f} MiB, max {max(warm)/1024:.1f} MiB, "
      f"last {warm[-1]/1024:.1f} MiB; peak over the run {max(r[2] for r in rows)/1024:.1f} MiB")
PY
