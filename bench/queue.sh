#!/usr/bin/env bash
# The queue's cost per image (docs/scale-out.md): one worker taking its
# inputs from a private RabbitMQ broker's queue against a local batch of the
# same files, same pipeline, same machine, in alternating pairs; and the
# broker's publish rate with confirms.
#
#   bash bench/queue.sh [PAIRS]          (default 3; env IMAGES=240 SIZE=1600)
#
# Throughput is images over the time from the first to the last output
# written (from each run's --events), so the worker's wait for an empty
# queue at the end (--until-empty) is not counted. Run as root (the broker
# runs as the rabbitmq user). Prints a Markdown table.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pixline=${PIXLINE:-$here/../build/pixline}
pairs=${1:-3}
images=${IMAGES:-240}
size=${SIZE:-1600}

work=$(mktemp -d /tmp/pixline-queue-bench-XXXXXX)
chmod 755 "$work"  # the broker runs as the rabbitmq user
epmd_port=0
cleanup() {
  if [[ -n ${node:-} ]]; then
    env "${broker_env[@]}" rabbitmqctl -n "$node" stop >/dev/null 2>&1 || true
  fi
  # The broker's epmd outlives it: stopped by its pid, never by name.
  for p in $(pgrep -x epmd || true); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "ERL_EPMD_PORT=$epmd_port"; then
      kill "$p"
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# -- a private broker (docs/scale-out.md, tests/support/broker.cpp) -------------
port=$(free_port); dist=$(free_port); epmd_port=$(free_port)
node=pxbench$$@localhost
mkdir -p "$work/broker/mnesia" "$work/broker/log"
echo '[].' > "$work/broker/plugins"
chown -R rabbitmq: "$work/broker"
broker_env=(RABBITMQ_NODENAME=$node RABBITMQ_NODE_PORT=$port
  RABBITMQ_DIST_PORT=$dist RABBITMQ_MNESIA_BASE=$work/broker/mnesia
  RABBITMQ_LOG_BASE=$work/broker/log
  RABBITMQ_ENABLED_PLUGINS_FILE=$work/broker/plugins
  ERL_EPMD_PORT=$epmd_port HOME=$work/broker)
env "${broker_env[@]}" rabbitmq-server > "$work/broker/server.out" 2>&1 &
# await_startup fails at once while the node is not registered with epmd.
for _ in $(seq 60); do
  env "${broker_env[@]}" rabbitmqctl -n "$node" await_startup >/dev/null 2>&1 && break
  sleep 1
done

# -- the files: distinct photo-like JPEGs, copied to make $images ----------------
root=$work/root
mkdir -p "$root/in"
for i in $(seq 0 11); do
  vips gaussnoise "$work/n$i.v" "$size" $((size * 3 / 4)) --sigma $((20 + i * 3))
  vips bandjoin "$work/n$i.v $work/n$i.v $work/n$i.v" "$work/c$i.v"
  vips colourspace "$work/c$i.v" "$work/base$i.jpg[Q=90]" srgb
done
for i in $(seq 0 $((images - 1))); do
  cp "$work/base$((i % 12)).jpg" "$root/in/img$(printf %05d "$i").jpg"
done

cat > "$work/local.toml" <<EOF
[pipeline]
name = "bench-local"
[source]
path = "$root/in"
[[filter]]
type = "thumbnail"
width = 400
[sink]
path = "$root/out-local"
format = "jpeg"
EOF
cat > "$work/queue.toml" <<EOF
[pipeline]
name = "bench-queue"
[source]
kind = "queue"
url = "amqp://guest:guest@127.0.0.1:$port/"
queue = "bench"
root = "$root"
[[filter]]
type = "thumbnail"
width = 400
[sink]
path = "out-queue"
format = "jpeg"
naming = "{dir}/{stem}.{ext}"
EOF

# Images per second between the first and the last written event.
rate() {
  python3 - "$1" <<'EOF'
import json, sys
from datetime import datetime
times = [datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
         for e in map(json.loads, open(sys.argv[1]))
         if e.get("event") == "written"]
span = (max(times) - min(times)).total_seconds()
# n images in the span between the first and the last: n - 1 intervals.
print(f"{(len(times) - 1) / span:.2f} {len(times)}")
EOF
}

echo "| pair | local batch (images/s) | queue worker (images/s) | queue / local |"
echo "| --- | --- | --- | --- |"
ratios=()
for pair in $(seq 1 "$pairs"); do
  rm -rf "$root/out-local" "$root/out-queue" "$work"/*.events
  "$pixline" run "$work/local.toml" -q --events "$work/local.events" >/dev/null
  read -r local_rate local_n < <(rate "$work/local.events")
  "$pixline" enqueue "$work/queue.toml" -i "$root/in" -q
  "$pixline" run "$work/queue.toml" --until-empty -q \
    --events "$work/queue.events" 2>/dev/null >/dev/null
  read -r queue_rate queue_n < <(rate "$work/queue.events")
  [[ $local_n == "$images" && $queue_n == "$images" ]] || {
    echo "bench/queue.sh: expected $images outputs, got $local_n and $queue_n" >&2
    exit 1
  }
  ratio=$(python3 -c "print(f'{$queue_rate / $local_rate:.3f}')")
  ratios+=("$ratio")
  echo "| $pair | $local_rate | $queue_rate | $ratio |"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo
echo "median queue / local: $median ($images images of ${size}px, $(nproc) cores)"

# -- the broker's rate: publishing 20,000 names with confirms -----------------
mkdir -p "$root/many"
for i in $(seq 0 19999); do : > "$root/many/f$i.jpg"; done
start=$(date +%s.%N)
"$pixline" enqueue "$work/queue.toml" -i "$root/many" -q
end=$(date +%s.%N)
python3 -c "print(f'publish with confirms: {20000 / ($end - $start):.0f} messages/s (20,000 messages, one publisher)')"
