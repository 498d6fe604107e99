#!/usr/bin/env bash
# Bytes that cross the network per image, for each placement of a pipeline's
# stages on one node (docs/distributed.md, "What crosses the network").
#
#   sudo bash bench/distributed-bytes.sh [PIXLINE] [IMAGES]
#
# Runs the node in a network namespace joined by a veth pair and reads the
# pair's byte counters (TCP/IP headers included) around each run, so only
# this pipeline's traffic is counted. The inputs are IMAGES (default 8)
# photo-like 3000 x 2000 JPEGs (quality 90); the pipeline is
# load -> thumbnail 1600 (fused into load) -> sharpen -> save (WebP).
# Prints a Markdown table: bytes per image each way, and the run's time.
# Consecutive stages on the node run there as one job ("sharpen and save",
# "every stage"), so only the first one's input and the last one's output
# cross.
set -euo pipefail
pixline=$(realpath "${1:-build/pixline}")
images=${2:-8}
ns=pxbytes-$$
host_if=pxbh$$
here=10.231.$(($$ % 250)).1
there=10.231.$(($$ % 250)).2
dir=$(mktemp -d)
node_pid=
cleanup() {
  [[ -n $node_pid ]] && kill "$node_pid" 2>/dev/null || true
  ip link del "$host_if" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

ip netns add "$ns"
ip link add "$host_if" type veth peer name pxbn netns "$ns"
ip addr add "$here/24" dev "$host_if"
ip link set "$host_if" up
ip netns exec "$ns" ip addr add "$there/24" dev pxbn
ip netns exec "$ns" ip link set pxbn up
ip netns exec "$ns" ip link set lo up

mkdir -p "$dir/in"
for i in $(seq 1 "$images"); do
  for b in 0 1 2; do
    vips gaussnoise "$dir/n$b.v" 3000 2000 --sigma 60 --mean 128
  done
  vips bandjoin "$dir/n0.v $dir/n1.v $dir/n2.v" "$dir/rgb.v"
  vips gaussblur "$dir/rgb.v" "$dir/soft.v" 1.5
  vips cast "$dir/soft.v" "$dir/in/photo$i.jpg[Q=90]" uchar
done
rm -f "$dir"/*.v

ip netns exec "$ns" "$pixline" node --listen "$there:7400" --insecure \
  > "$dir/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$dir/node.log" && break
  sleep 0.1
done

counter() { cat "/sys/class/net/$host_if/statistics/$1"; }

# name, then the workers of load, sharpen and save.
run() {
  local name=$1 load=$2 sharpen=$3 save=$4
  cat > "$dir/c.toml" << EOF
[source]
path = "$dir/in"
workers = $load
[[filter]]
type = "thumbnail"
width = 1600
[[filter]]
type = "sharpen"
workers = $sharpen
[sink]
path = "$dir/out"
format = "webp"
workers = $save
[[node]]
name = "n"
address = "$there:7400"
EOF
  rm -rf "$dir/out"
  local tx0 rx0 t0 t1
  tx0=$(counter tx_bytes)
  rx0=$(counter rx_bytes)
  t0=$(date +%s.%N)
  "$pixline" run -q "$dir/c.toml" 2>> "$dir/runs.log"
  t1=$(date +%s.%N)
  local tx=$(($(counter tx_bytes) - tx0)) rx=$(($(counter rx_bytes) - rx0))
  awk -v n="$name" -v tx="$tx" -v rx="$rx" -v k="$images" -v t0="$t0" \
    -v t1="$t1" 'BEGIN { printf "| %s | %.2f MB | %.2f MB | %.1f s |\n",
      n, tx / k / 1e6, rx / k / 1e6, t1 - t0 }'
}

echo "| placement (on node n) | coordinator -> node, per image | node -> coordinator, per image | run ($images images) |"
echo "| --- | --- | --- | --- |"
run "nothing (local run)" 1 1 1
run "load (with the fused thumbnail)" "{ n = 1 }" 1 1
run "sharpen" 1 "{ n = 1 }" 1
run "save" 1 1 "{ n = 1 }"
run "sharpen and save" 1 "{ n = 1 }" "{ n = 1 }"
run "load and save" "{ n = 1 }" 1 "{ n = 1 }"
run "every stage" "{ n = 1 }" "{ n = 1 }" "{ n = 1 }"
