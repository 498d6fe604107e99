#!/usr/bin/env python3
"""isolation = "process" against isolation = "thread", same binary, same files.

    python3 bench/isolation.py PIXLINE CONFIG INPUT_DIR [PAIRS]

Runs `PIXLINE run CONFIG -i INPUT_DIR -o TMP` with `[pipeline] isolation`
set to "thread" and to "process", alternating, PAIRS times (default 5),
and prints each run's wall time and peak memory, then the medians and
their ratios. Memory is the peak, over 20 ms samples, of the proportional
set size (PSS, /proc/PID/smaps_rollup) summed over pixline and its worker
processes: a page shared by several processes (libraries, the program)
counts once in all, not once per process as summed RSS would.
bench/run.sh's README section in docs/performance.md says how to get the
corpus (bench/make-corpus.sh).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(pixline, config, inputs, isolation):
    tmp = tempfile.mkdtemp(prefix="pixline-isolation-")
    cfg = os.path.join(tmp, "p.toml")
    with open(config) as f:
        text = f.read()
    # The setting goes first in [pipeline].
    text = text.replace("[pipeline]", f'[pipeline]\nisolation = "{isolation}"', 1)
    with open(cfg, "w") as f:
        f.write(text)
    out = os.path.join(tmp, "out")
    start = time.monotonic()
    proc = subprocess.Popen([pixline, "run", cfg, "-i", inputs, "-o", out,
                             "--quiet"])
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(pss_kib(p) for p in descendants(proc.pid)))
        time.sleep(0.02)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"{isolation}: pixline exited with {proc.returncode}")
    shutil.rmtree(tmp)
    return wall, peak / 1024


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    pixline, config, inputs = sys.argv[1:4]
    pairs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    results = {"thread": [], "process": []}
    for i in range(pairs):
        for isolation in ("thread", "process") if i % 2 == 0 else ("process", "thread"):
            wall, mib = run(pixline, config, inputs, isolation)
            results[isolation].append((wall, mib))
            print(f"pair {i + 1} {isolation:8} {wall:7.2f} s  peak PSS {mib:6.1f} MiB",
                  flush=True)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(m for _, m in v))
           for k, v in results.items()}
    ratios = [t[0] / p[0] for t, p in zip(results["thread"], results["process"])]
    print(f"median wall: thread {med['thread'][0]:.2f} s, process {med['process'][0]:.2f} s: "
          f"process is {med['thread'][0] / med['process'][0]:.3f}x the speed of thread "
          f"(pairs {min(ratios):.3f}-{max(ratios):.3f})")
    print(f"median peak PSS: thread {med['thread'][1]:.1f} MiB, process {med['process'][1]:.1f} MiB: "
          f"{med['process'][1] / med['thread'][1]:.2f}x")


if __name__ == "__main__":
    main()
