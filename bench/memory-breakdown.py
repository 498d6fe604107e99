#!/usr/bin/python3
"""What the peak memory of a command is made of, per process.

    memory-breakdown.py [--interval-ms 20] [--json FILE] -- COMMAND [ARG...]

Runs COMMAND, samples the proportional set size (PSS, smaps_rollup) of
every process of its tree every --interval-ms, and whenever the sum is
near its peak so far reads every process's /proc/PID/smaps and sorts its
PSS into (keeping the reading with the largest sum):

    heap        the main malloc arena ([heap])
    arenas      other malloc arenas (anonymous mappings inside a 64 MiB
                aligned reservation, glibc's per-thread heaps)
    stacks      thread stacks ([stack], and anonymous mappings of 8 MiB or
                the size RLIMIT_STACK gives, glibc's default)
    anon        other anonymous memory (mmapped blocks of 32 MiB and more,
                libvips' and CAF's own mappings, glib's slices)
    memfd       shared memory files (memfd:..., /dev/shm)
    exe         the program's own file (text, data, relro)
    lib:NAME    each shared library's file-backed pages (NAME without
                the version), the largest ones, the rest in lib:other
    other       anything else ([vdso], [vvar], other files)

and prints the breakdown at the peak, per process (the first column its
role: `main` for the command, its children by their command name), with
the totals. Numbers are MB (10^6 bytes) of PSS, so they add up to what
bench/measure.py reports as pss_sum_peak_mb (within a sample).
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time

ARENA = 64 << 20


def children_tree(root):
    """root and every process whose parent chain leads to it."""
    parent = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                s = f.read()
            parent[int(entry)] = int(s[s.rindex(b")") + 2:].split(b" ", 2)[1])
        except (OSError, ValueError, IndexError):
            pass
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sorted(tree)


def pss_rollup(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def name_of(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


LIB = re.compile(r"/(lib[^/]*?)(?:-[0-9.]+)?\.so[0-9.]*$")


def breakdown(pid, exe):
    """PSS bytes of `pid` by category (see the module's text)."""
    out = collections.Counter()
    try:
        with open(f"/proc/{pid}/smaps") as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    cur = None
    for line in lines:
        head = line.split(None, 5)
        if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            lo, hi = (int(x, 16) for x in head[0].split("-"))
            path = head[5] if len(head) > 5 else ""
            size = hi - lo
            if path == "[heap]":
                cur = "heap"
            elif path == "[stack]":
                cur = "stacks"
            elif path.startswith("/memfd:") or path.startswith("/dev/shm"):
                cur = "memfd"
            elif path == "":
                # glibc's non-main arenas live in 64 MiB aligned heaps; a
                # thread stack is 8 MiB (plus a guard page mapped apart).
                if lo % ARENA == 0 and size <= ARENA and "rw" in head[1]:
                    cur = "arenas"
                elif size in (8 << 20, (8 << 20) + 4096):
                    cur = "stacks"
                else:
                    cur = "anon"
            elif path == exe or path.endswith("/pixline") and "(deleted)" not in path:
                cur = "exe"
            elif ".so" in path:
                m = LIB.search(path)
                cur = "lib:" + (m.group(1) if m else os.path.basename(path))
            else:
                cur = "other"
            continue
        if line.startswith("Pss:") and cur:
            out[cur] += int(line.split()[1]) * 1024
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--interval-ms", type=float, default=20)
    ap.add_argument("--json")
    ap.add_argument("--top-libs", type=int, default=8)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    exe = os.path.realpath(cmd[0]) if os.path.exists(cmd[0]) else ""
    peak, at_peak, peak_rollup = 0, {}, 0
    while p.poll() is None:
        pids = children_tree(p.pid)
        total = sum(pss_rollup(pid) for pid in pids)
        # Near the peak so far: read every process's smaps (slow) and keep
        # the breakdown whose own sum is the largest.
        if total >= 0.95 * peak_rollup:
            peak_rollup = max(peak_rollup, total)
            now = {}
            for pid in pids:
                role = "main" if pid == p.pid else name_of(pid)
                now[f"{role} {pid}"] = breakdown(pid, exe)
            sum_now = sum(sum(b.values()) for b in now.values())
            if sum_now > peak:
                peak, at_peak = sum_now, now
        time.sleep(a.interval_ms / 1000)
    cats = collections.Counter()
    for b in at_peak.values():
        cats.update(b)
    libs = sorted((k for k in cats if k.startswith("lib:")),
                  key=lambda k: -cats[k])
    keep = set(libs[:a.top_libs])

    def folded(b):
        f = collections.Counter()
        for k, v in b.items():
            f[k if not k.startswith("lib:") or k in keep else "lib:other"] += v
        return f

    rows = {who: folded(b) for who, b in at_peak.items()}
    order = ["heap", "arenas", "anon", "stacks", "memfd", "exe"] + \
        libs[:a.top_libs] + ["lib:other", "other"]
    mb = lambda v: v / 1e6
    print(f"peak PSS summed over {len(rows)} processes: {mb(peak):.1f} MB "
          f"(largest smaps_rollup sum seen {mb(peak_rollup):.1f} MB; "
          f"exit {p.returncode})")
    print(f"{'category':24}" + "".join(f"{w[:14]:>15}" for w in rows)
          + f"{'all':>9}")
    for c in order:
        vals = [r.get(c, 0) for r in rows.values()]
        if sum(vals) < 50e3:
            continue
        print(f"{c:24}" + "".join(f"{mb(v):15.1f}" for v in vals)
              + f"{mb(sum(vals)):9.1f}")
    print(f"{'total':24}"
          + "".join(f"{mb(sum(r.values())):15.1f}" for r in rows.values())
          + f"{mb(sum(sum(r.values()) for r in rows.values())):9.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"peak_pss_mb": mb(peak), "returncode": p.returncode,
                       "processes": {w: {k: mb(v) for k, v in r.items()}
                                     for w, r in rows.items()}}, f, indent=1)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
