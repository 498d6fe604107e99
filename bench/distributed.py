#!/usr/bin/env python3
"""Throughput of a coordinator with one and two `pixline node`s on loopback
against a local run, for W1 and W2 of bench/run.sh, in one run, alternating.

  python3 bench/distributed.py [--reps 3] [--pixline PATH]

Needs the corpus of bench/run.sh (bench/.cache/corpus). Prints a Markdown
table of median images/s and ratios to the local run (copied into
docs/performance.md, "Across nodes"). On one machine the nodes share its
cores with the coordinator, so this measures what distribution costs (the
transfers and the extra hops), not what more machines gain.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, ".cache", "corpus")


def start_node(pixline, log):
    out = open(log, "w")
    proc = subprocess.Popen([pixline, "node", "--listen", "127.0.0.1:0"],
                            stdout=out, stderr=subprocess.STDOUT)
    for _ in range(500):
        m = re.search(r"listening on (127\.0\.0\.1:\d+)", open(log).read())
        if m:
            return proc, m.group(1)
        time.sleep(0.02)
    raise RuntimeError("node did not start: " + open(log).read())


def variants(nodes):
    """name -> (source workers, sink workers, nodes used)."""
    a, b = nodes
    return [
        ("local", None, None, []),
        ("1 node: load+save there", "{ n1 = 2 }", "{ n1 = 2 }", [("n1", a)]),
        ("1 node: load there, save here (raw back)", "{ n1 = 2 }",
         "{ local = 2 }", [("n1", a)]),
        ("1 node: load there, save here (png back)", "{ n1 = 2 }",
         "{ local = 2 }", [("n1", a, "png")]),
        ("2 nodes: load+save there", "{ n1 = 1, n2 = 1 }",
         "{ n1 = 1, n2 = 1 }", [("n1", a), ("n2", b)]),
    ]


def config_text(base, source, sink, used):
    text = open(base).read()
    if sink:
        text = re.sub(r"^(\[\[?sink\]\]?)$", lambda m: f"{m.group(1)}\nworkers = {sink}",
                      text, flags=re.M)
    if source:
        text += f"\n[source]\npath = \".\"  # replaced by --input\nworkers = {source}\n"
    for name, address, *wire in used:
        text += f'\n[[node]]\nname = "{name}"\naddress = "{address}"\n'
        if wire:
            text += f'wire = "{wire[0]}"\n'
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pixline", default=shutil.which("pixline")
                    or os.path.join(HERE, "..", "build", "pixline"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pixline-dist-")
    procs = []
    try:
        nodes = []
        for i in range(2):
            proc, address = start_node(args.pixline,
                                       os.path.join(work, f"node{i}.log"))
            procs.append(proc)
            nodes.append(address)
        workloads = [("W1", "w1-thumbnail.toml", "w1"),
                     ("W2", "w2-fanout.toml", "w2")]
        rows = []
        for wname, cfg, corpus in workloads:
            inputs = os.path.join(CORPUS, corpus)
            count = len(os.listdir(inputs))
            times = {}
            for rep in range(args.reps):
                for vname, source, sink, used in variants(nodes):
                    path = os.path.join(work, "c.toml")
                    with open(path, "w") as f:
                        f.write(config_text(os.path.join(HERE, "configs", cfg),
                                            source, sink, used))
                    out = os.path.join(work, "out")
                    shutil.rmtree(out, ignore_errors=True)
                    start = time.monotonic()
                    r = subprocess.run([args.pixline, "run", "-q", path,
                                        "--input", inputs, "--output", out],
                                       capture_output=True, text=True,
                                       timeout=600)
                    took = time.monotonic() - start
                    if r.returncode != 0:
                        sys.exit(f"{wname} {vname}: {r.stderr}")
                    times.setdefault(vname, []).append(count / took)
                    print(f"{wname} rep {rep + 1} {vname}: {count / took:.1f} "
                          "img/s", file=sys.stderr)
            local = statistics.median(times["local"])
            for vname, _, _, _ in variants(nodes):
                m = statistics.median(times[vname])
                rows.append((wname, vname, m, m / local))
        print(f"| workload | placement | images/s (median of {args.reps}) "
              "| vs local |")
        print("| --- | --- | --- | --- |")
        for w, v, m, ratio in rows:
            print(f"| {w} | {v} | {m:.1f} | {ratio:.2f}x |")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
