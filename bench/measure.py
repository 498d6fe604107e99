#!/usr/bin/python3
"""Runs one command and measures it: wall time, CPU seconds and peak memory
summed over every process of the command.

    measure.py [--interval-ms 20] [--json FILE] -- COMMAND [ARG...]

prints (and with --json writes) one JSON object:

    wall_s         wall-clock seconds from start to exit
    user_s, sys_s  CPU seconds of the command and all its descendants that
                   were waited for (os.wait4's rusage: Linux adds in the
                   children each process reaped, so xargs' and a process
                   pool's workers count)
    rss_sum_peak_mb  the largest sum, over one sample, of the resident set
                   sizes of every process in the command's tree (sampled
                   every --interval-ms from /proc/PID/statm; a process pool
                   or xargs counts all its processes)
    pss_sum_peak_mb  the same with the proportional set size
                   (/proc/PID/smaps_rollup): a page shared by several
                   processes of the tree (a pool's forked workers, pixline's
                   worker processes, the libraries) counts once in all, not
                   once per process as in the RSS sum
    rss_max_proc_mb  ru_maxrss: the largest single process (for contrast)
    minor_faults   ru_minflt: page faults served without I/O (a page mapped
                   or zeroed on first touch), summed like the CPU seconds
    cgroup_peak_mb memory.peak of a cgroup v2 made for the command, when
                   the cgroup v2 hierarchy is writable and has the memory
                   controller; null otherwise. It includes the page cache
                   of the files the command reads and writes, so it is not
                   comparable with the RSS figures.
    mem_method     "cgroup-v2+rss-sampling" or "rss-sampling"
    samples, max_procs, returncode

The tree is every process whose parent chain leads to the command; this
program makes itself a child subreaper so orphans stay in the tree. Also
usable as a module: measure.run(argv, env=None, cwd=None) -> dict.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
PR_SET_CHILD_SUBREAPER = 36


def _set_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except Exception:
        pass


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
        # the command name may contain spaces and parentheses: split after the last ')'
        return int(s[s.rindex(b")") + 2:].split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return None


def _rss(pid):
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class _Sampler(threading.Thread):
    """Sums the RSS of the process tree under `root` every `interval` s."""

    def __init__(self, root, interval):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.me = os.getpid()
        self.parent = {}   # pid -> ppid, read once per pid
        self.member = {}   # pid -> bool (in the tree)
        self.peak = 0
        self.pss_peak = 0
        self.samples = 0
        self.max_procs = 0
        self.stop = threading.Event()

    def _in_tree(self, pid, depth=0):
        if pid == self.root:
            return True
        if pid in self.member:
            return self.member[pid]
        if depth > 64:
            return False
        pp = self.parent.get(pid)
        if pp is None:
            pp = _ppid(pid)
            if pp is None:
                return False
            self.parent[pid] = pp
        # an orphan re-parented to this (subreaper) process stays in the tree
        ok = pp == self.root or pp == self.me and pid != self.root or (
            pp > 1 and self._in_tree(pp, depth + 1))
        self.member[pid] = ok
        return ok

    def sample(self):
        total, pss, n = 0, 0, 0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            if pid == self.me:
                continue
            if self._in_tree(pid):
                total += _rss(pid)
                pss += _pss(pid)
                n += 1
        self.samples += 1
        self.peak = max(self.peak, total)
        self.pss_peak = max(self.pss_peak, pss)
        self.max_procs = max(self.max_procs, n)

    def run(self):
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)


def _cgroup_root():
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if os.path.exists(os.path.join(root, "cgroup.controllers")):
            return root
    return None


def _make_cgroup():
    """A fresh cgroup v2 with memory.peak, or None."""
    root = _cgroup_root()
    if root is None:
        return None
    try:
        with open("/proc/self/cgroup") as f:
            rel = next((l.split(":", 2)[2].strip() for l in f if l.startswith("0::")), "/")
        base = os.path.join(root, rel.lstrip("/"))
        path = os.path.join(base, f"pixline-bench-{os.getpid()}-{time.monotonic_ns()}")
        os.mkdir(path)
    except (OSError, StopIteration):
        return None
    if not os.path.exists(os.path.join(path, "memory.peak")):
        try:
            os.rmdir(path)
        except OSError:
            pass
        return None
    return path


def run(argv, env=None, cwd=None, interval=0.02, stdout=None, stderr=None):
    _set_subreaper()
    cg = _make_cgroup()

    def enter_cgroup():
        if cg:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=stdout, stderr=stderr,
                            preexec_fn=enter_cgroup)
    sampler = _Sampler(proc.pid, interval)
    sampler.start()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    # Reap orphans the subreaper inherited (their CPU then lands in RUSAGE_CHILDREN only).
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    proc.returncode = os.waitstatus_to_exitcode(status)
    cg_peak = None
    if cg:
        try:
            with open(os.path.join(cg, "memory.peak")) as f:
                cg_peak = int(f.read()) / 2**20
            os.rmdir(cg)
        except OSError:
            pass
    return {
        "wall_s": wall,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "rss_sum_peak_mb": sampler.peak / 2**20,
        "pss_sum_peak_mb": sampler.pss_peak / 2**20,
        "rss_max_proc_mb": ru.ru_maxrss / 1024,
        "minor_faults": ru.ru_minflt,
        "cgroup_peak_mb": cg_peak,
        "mem_method": "cgroup-v2+rss-sampling" if cg else "rss-sampling",
        "samples": sampler.samples,
        "max_procs": sampler.max_procs,
        "returncode": proc.returncode,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--interval-ms", type=float, default=20)
    ap.add_argument("--json")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command")
    r = run(cmd, interval=a.interval_ms / 1000)
    text = json.dumps(r, indent=2)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    sys.exit(0 if r["returncode"] == 0 else 1)


if __name__ == "__main__":
    main()
