#!/usr/bin/python3
"""Where a command leaves the machine's cores idle.

Runs COMMAND under `perf record -a -e sched:sched_switch -g` (every CPU's
context switches, with the user-space stack of the thread that switched
out), then reports:

- the command's wall seconds, and the CPU seconds the cores sat idle while
  it ran (the idle task ran), as a share of cores x wall;
- the idle share per time slice (--slice seconds, default 0.25), so start-up
  and the tail can be told from the steady state;
- the idle CPU seconds by cause: the thread whose switch-out left a core
  idle, its state (S: it waited; D: it waited for the disk) and the top
  --frames frames of its user-space stack (libc's wait functions tell a
  malloc lock, __lll_lock_wait_private, from a glib mutex or condition,
  syscall, from a C++ condition variable, __futex_abstimed_wait_common).

A thread that goes to sleep while another runnable thread takes its core
costs no idle time and does not show; only the switches to the idle task
do. Needs perf (Debian's linux-perf) and, unless
/proc/sys/kernel/perf_event_paranoid is -1, root. Other processes' switches
count too: run it on a quiet machine.

    bench/idle-profile.py -- build/pixline run bench/configs/w1-thumbnail.toml \\
        --input bench/.cache/corpus/w1 --output /tmp/out
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

SWITCH = re.compile(r"\[(\d+)\]\s+([\d.]+): sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+) "
                    r".*?prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)")


def read_switches(script_lines):
    """The sched_switch records of `perf script` output, each with its user
    stack frames (symbol and library), innermost first."""
    records = []
    current = None
    for line in script_lines:
        m = SWITCH.search(line)
        if m:
            current = {"cpu": int(m[1]), "t": float(m[2]), "prev": m[3], "state": m[5],
                       "next_pid": int(m[7]), "prev_pid": int(m[4]), "stack": []}
            records.append(current)
        elif current is not None and line.strip():
            frame = line.strip().split(None, 1)
            if len(frame) == 2 and "kernel.kallsyms" not in frame[1]:
                current["stack"].append(frame[1])
    return records


def idle_periods(records):
    """(start, end, cause) of every stretch a CPU spent in the idle task
    (pid 0), the cause being what switched out to it."""
    open_at = {}
    for r in records:
        if r["prev_pid"] == 0 and r["cpu"] in open_at:
            start, cause = open_at.pop(r["cpu"])
            yield start, r["t"], cause
        if r["next_pid"] == 0:
            open_at[r["cpu"]] = (r["t"], r)


def short(frame):
    """'fn+0x1c (/usr/lib/.../libc.so.6)' -> 'fn (libc.so.6)'."""
    m = re.match(r"(\S+?)(\+0x[0-9a-f]+)? \((.*)\)", frame)
    if not m:
        return frame
    return f"{m[1]} ({os.path.basename(m[3])})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--slice", type=float, default=0.25, help="seconds per timeline slice")
    ap.add_argument("--frames", type=int, default=2, help="user stack frames per cause")
    ap.add_argument("--top", type=int, default=12, help="causes listed")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        run = subprocess.run(["perf", "record", "-q", "-a", "-g", "-e", "sched:sched_switch",
                              "-o", data, "--"] + args.command, stdout=subprocess.DEVNULL)
        if run.returncode != 0:
            sys.exit(f"idle-profile: the command (or perf) failed with exit code {run.returncode}")
        script = subprocess.run(["perf", "script", "-i", data], capture_output=True, text=True)
        if script.returncode != 0:
            sys.exit(f"idle-profile: perf script failed: {script.stderr.strip()}")
    records = read_switches(script.stdout.splitlines())
    if not records:
        sys.exit("idle-profile: perf recorded no context switches")
    t0, t1 = records[0]["t"], records[-1]["t"]
    wall = t1 - t0
    slices = collections.Counter()
    causes = collections.Counter()
    counts = collections.Counter()
    total = 0.0
    for start, end, cause in idle_periods(records):
        total += end - start
        key = (cause["prev"], cause["state"]) + tuple(short(f) for f in cause["stack"][:args.frames])
        causes[key] += end - start
        counts[key] += 1
        t = start
        while t < end:
            i = int((t - t0) / args.slice)
            stop = min(end, t0 + (i + 1) * args.slice)
            slices[i] += stop - t
            t = stop
    print(f"wall {wall:.2f} s (first to last switch), {cores} cores; idle {total:.2f} CPU s "
          f"= {100 * total / (cores * wall):.1f}% of cores x wall, "
          f"cores busy {cores - total / wall:.2f}")
    n = int(wall / args.slice) + 1
    print(f"idle share per {args.slice:g} s: "
          + " ".join(f"{100 * slices[i] / (cores * args.slice):.0f}" for i in range(n)))
    print("idle CPU s by what switched out (thread, state, user stack):")
    for key, secs in causes.most_common(args.top):
        print(f"  {secs:7.3f} s  {counts[key]:6d}x  {key[0]} {key[1]}  " + " < ".join(key[2:]))


if __name__ == "__main__":
    main()
