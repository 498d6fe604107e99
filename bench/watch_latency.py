#!/usr/bin/env python3
"""Watch-mode latency: time from a writer's close() of a 2-megapixel JPEG to
its output appearing (renamed into place) in the output folder.

    python3 bench/watch_latency.py [--pixline build/pixline] [--files 40]

Starts `pixline watch` on a fresh folder, then drops JPEGs one at a time
(written and closed by this process, with pauses in between so each is
measured alone), and polls the output folder every millisecond. Prints each
latency and the median; writes bench/results/watch_latency.json.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CONFIG = """
[pipeline]
name = "latency"

[source]
kind = "watch"
path = "{inp}"
settle_ms = {settle}

[[filter]]
type = "thumbnail"
width = 256

[sink]
path = "{out}"
format = "jpeg"
quality = 80
naming = "{{stem}}.{{ext}}"
"""


def make_jpeg(path, seed):
    # 1632x1224 = 2.0 MP of noise, so it compresses like a busy photo.
    v = path + ".v"
    subprocess.run(["vips", "gaussnoise", v, "1632", "1224", "--mean", "128",
                    "--sigma", "40", "--seed", str(seed)], check=True)
    subprocess.run(["vips", "cast", v, path + ".u.v", "uchar"], check=True)
    subprocess.run(["vips", "bandjoin", f"{path}.u.v {path}.u.v {path}.u.v",
                    path + ".3.v"], check=True)
    subprocess.run(["vips", "copy", path + ".3.v", path + "[Q=90]",
                    "--interpretation", "srgb"], check=True)
    for suffix in (".v", ".u.v", ".3.v"):
        os.remove(path + suffix)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pixline", default=os.path.join(ROOT, "build", "pixline"))
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--settle-ms", type=int, default=100)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="pixline-latency-")
    inp, out, src = (os.path.join(work, d) for d in ("in", "out", "src"))
    for d in (inp, out, src):
        os.makedirs(d)
    sources = []
    for i in range(4):
        p = os.path.join(src, f"photo{i}.jpg")
        make_jpeg(p, i + 1)
        with open(p, "rb") as f:
            sources.append(f.read())
    cfg = os.path.join(work, "latency.toml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(inp=inp, out=out, settle=args.settle_ms))

    log = open(os.path.join(work, "pixline.log"), "w")
    proc = subprocess.Popen([args.pixline, "watch", cfg], stdout=log,
                            stderr=subprocess.STDOUT)
    time.sleep(1.0)  # let it start and scan the empty folder
    latencies = []
    try:
        for i in range(args.files):
            name = f"img{i:03}"
            target = os.path.join(out, name + ".jpg")
            with open(os.path.join(inp, name + ".jpg"), "wb") as f:
                f.write(sources[i % len(sources)])
                f.flush()
            closed = time.monotonic()  # the file is closed here
            deadline = closed + 10
            while not os.path.exists(target):
                if time.monotonic() > deadline:
                    raise SystemExit(f"no output for {name} within 10 s")
                time.sleep(0.001)
            latencies.append((time.monotonic() - closed) * 1000)
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    median = statistics.median(latencies)
    for i, ms in enumerate(latencies):
        print(f"img{i:03}: {ms:7.1f} ms")
    print(f"median {median:.1f} ms, min {min(latencies):.1f}, "
          f"max {max(latencies):.1f} over {len(latencies)} files "
          f"(settle_ms = {args.settle_ms}); target: median <= 200 ms")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "watch_latency.json"), "w") as f:
        json.dump({"settle_ms": args.settle_ms, "latencies_ms": latencies,
                   "median_ms": median, "files": len(latencies),
                   "megapixels": 1632 * 1224 / 1e6}, f, indent=2)
    return 0 if median <= 200 else 1


if __name__ == "__main__":
    sys.exit(main())
