#!/usr/bin/env python3
"""Watch-mode bursts: how long a burst of N images takes to show its first
and its last output, for one or more pixline binaries, alternating.

    python3 bench/burst_latency.py [--files 16] [--bursts 4] [--gap 3]
        [--set KEY=VALUE ...] [--corpus DIR] PIXLINE[,KEY=VALUE...] ...

For each binary in turn (the order rotates every round): starts
`pixline watch` (W1's thumbnail config, settle_ms 50) on an empty folder,
waits until it is idle, then drops --bursts bursts of --files images (the
first files of --corpus, renamed into the watched folder at once), --gap
seconds apart, and polls the output folder every millisecond. A
binary may carry its own settings after commas (`build/pixline,
pipeline.worker_idle_stop=1`), passed as --set to its watches only. Prints, per
binary, the median time from the burst to its first output and to its last,
for the first burst (the watch just started) and the later ones (after
--gap seconds of idleness: worker processes that stop when idle must start
again). --set passes `--set KEY=VALUE` to every watch (say
pipeline.worker_idle_stop=1, so that the gap is longer than it).
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CONFIG = """
[pipeline]
name = "burst"

[source]
kind = "watch"
path = "{inp}"
settle_ms = 50
state_dir = "{state}"

[[filter]]
type = "thumbnail"
width = 256
height = 256

[sink]
path = "{out}"
format = "jpeg"
quality = 80
optimize = "off"
strip = true
naming = "{{stem}}.{{ext}}"
"""


def one_watch(contender, sets, files, bursts, gap):
    """[(first_ms, last_ms)] per burst."""
    work = tempfile.mkdtemp(prefix="pixline-burst-")
    inp, out, stage, state = (os.path.join(work, d)
                              for d in ("in", "out", "stage", "state"))
    for d in (inp, out, stage):
        os.makedirs(d)
    cfg = os.path.join(work, "burst.toml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(inp=inp, out=out, state=state))
    pixline, *own = contender.split(",")
    argv = [pixline, "watch", cfg, "--quiet"]
    for s in sets + own:
        argv += ["--set", s]
    log = open(os.path.join(work, "log"), "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    results = []
    try:
        time.sleep(1.5)  # started, folder scanned, first worker ready
        for b in range(bursts):
            names = []
            for i, src in enumerate(files):
                name = f"b{b}_{i:03}{os.path.splitext(src)[1]}"
                shutil.copyfile(src, os.path.join(stage, name))
                names.append(name)
            start = time.monotonic()
            for name in names:
                os.rename(os.path.join(stage, name), os.path.join(inp, name))
            want = {f"b{b}_{i:03}" for i in range(len(names))}
            first = None
            deadline = start + 60
            while True:
                done = {os.path.splitext(n)[0] for n in os.listdir(out)
                        if not n.startswith(".")} & want
                now = time.monotonic()
                if done and first is None:
                    first = (now - start) * 1000
                if done == want:
                    results.append((first, (now - start) * 1000))
                    break
                if now > deadline:
                    raise SystemExit(f"{pixline}: burst {b} not done in 60 s")
                time.sleep(0.001)
            time.sleep(gap)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pixline", nargs="+")
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--bursts", type=int, default=4)
    ap.add_argument("--gap", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--corpus",
                    default=os.path.join(HERE, ".cache", "corpus", "small"))
    a = ap.parse_args()
    files = sorted(os.path.join(a.corpus, n) for n in os.listdir(a.corpus)
                   if n.lower().endswith((".jpg", ".jpeg")))[:a.files]
    runs = {p: [] for p in a.pixline}
    for r in range(a.rounds):
        order = a.pixline[r % len(a.pixline):] + a.pixline[:r % len(a.pixline)]
        for p in order:
            runs[p].append(one_watch(p, a.set, files, a.bursts, a.gap))
    print(f"{len(files)} JPEGs per burst, {a.bursts} bursts {a.gap} s apart, "
          f"{a.rounds} watches each; medians in ms (first output / last)")
    for p, watches in runs.items():
        fresh = [w[0] for w in watches]
        later = [x for w in watches for x in w[1:]]
        med = lambda xs, k: statistics.median(x[k] for x in xs)
        line = f"{p}: first burst {med(fresh, 0):.0f} / {med(fresh, 1):.0f}"
        if later:
            line += (f"; later bursts {med(later, 0):.0f} / "
                     f"{med(later, 1):.0f} (first output range "
                     f"{min(x[0] for x in later):.0f}-"
                     f"{max(x[0] for x in later):.0f})")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
