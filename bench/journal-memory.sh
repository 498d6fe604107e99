#!/bin/bash
# What a watch's journal costs in memory: writes a journal of N done
# inputs of one output each (the lines a watch appends), optionally with
# those outputs on disk, starts `pixline watch` on an empty folder with it,
# and prints the resident memory once it watches (VmRSS) and its peak
# while reading the journal (VmHWM), against an empty journal.
# docs/watch.md ("The journal") quotes a run of this.
#
#   bash bench/journal-memory.sh [N] [outputs|history]
#   (N defaults to 200000; "outputs" also creates the N output files, so
#    their names are live claims; "history" forgets every input after it
#    is done (its original moved or deleted) and creates no output: all
#    history, nothing live; PIXLINE=/path/to/pixline, else build/pixline)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-200000}
with_outputs=${2:-}
pixline=${PIXLINE:-$here/../build/pixline}
work=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT

config() {
  cat > "$work/watch.toml" <<TOML
[source]
kind = "watch"
path = "$work/in"
state_dir = "$1"
on_success = "delete"

[[filter]]
type = "thumbnail"
width = 64

[sink]
path = "$work/out"
format = "webp"
naming = "{dir}/{stem}.{ext}"
TOML
}

# Prints "VmRSS VmHWM" in MB of a watch started on state folder $1.
measure() {
  config "$1"
  local port=$((20000 + RANDOM % 20000))
  "$pixline" watch "$work/watch.toml" --metrics "127.0.0.1:$port" \
    > "$work/log" 2>&1 &
  pid=$!
  # Ready once the journal is read and the pipeline takes files.
  for _ in $(seq 1200); do
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/readyz', timeout=1)" \
      2>/dev/null && break
    sleep 0.1
  done
  sleep 1.5 # past the idle heap trim
  awk '/^VmRSS|^VmHWM/ { v[$1] = $2 } END { printf "%.0f %.0f\n", v["VmRSS:"] / 1024, v["VmHWM:"] / 1024 }' "/proc/$pid/status"
  kill -INT $pid
  wait $pid || true
  pid=
}

mkdir -p "$work/in" "$work/out" "$work/empty" "$work/full"
chmod 700 "$work/empty" "$work/full"
python3 - "$work" "$n" "$with_outputs" <<'PY'
import os, sys
work, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{work}/full/journal.log", "w") as j:
    j.write("pixline-journal\t2\txxh3\t\n")
    for i in range(n):
        d = f"{i // 1000:04d}"
        src = f"{work}/in/batch-{d}/photo-{i:07d}.jpg"
        out = f"{work}/out/batch-{d}/photo-{i:07d}.webp"
        h = (i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        j.write(f"O\t{12000 + i % 5000}\t{h ^ 0xABCDEF:016x}\t{h:016x}\t{src}\t{out}\n")
        j.write(f"D\t{2500000 + i}\t{1700000000000000000 + i}\t{h:016x}\t{src}\n")
        if mode == "history":
            j.write(f"X\t0\t0\t{0:016x}\t{src}\n")
        if mode == "outputs":
            os.makedirs(os.path.dirname(out), exist_ok=True)
            open(out, "w").close()
os.chmod(f"{work}/full/journal.log", 0o600)
PY
echo "journal: $n inputs, one output each ($(du -m "$work/full/journal.log" | cut -f1) MB), ${with_outputs:-no outputs on disk}"
read -r rss0 hwm0 < <(measure "$work/empty")
read -r rss hwm < <(measure "$work/full")
printf "empty journal:   resident %4d MB, peak %4d MB\n" "$rss0" "$hwm0"
printf "%7d inputs:  resident %4d MB, peak %4d MB, %.0f bytes per input resident\n" \
  "$n" "$rss" "$hwm" "$(echo "($rss - $rss0) * 1048576 / $n" | bc -l)"
