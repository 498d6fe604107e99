#!/usr/bin/python3
"""The benchmark driver (bench/run.sh calls it after building and making the
corpus; run it directly only with the same environment).

For each workload it runs every contender on the same files, alternating
(the order rotates each repetition), BENCH_REPS times, each run under
measure.py; checks every output; writes bench/results/latest.json,
bench/results/latest.md, docs/performance.png and the generated block of
docs/performance.md.

Environment:
  BENCH_REPS=5             repetitions of each main workload
  BENCH_EXP_REPS=2         repetitions of the experiments
  BENCH_FLAT_REPS=2        repetitions of the 3,490-image memory run
  BENCH_PAIR_REPS=10       pairs in the W1 floor comparison (w1floor)
  BENCH_WORKLOADS=w1,small,tiny,w1floor,w2,w2photo,w3,w1x10,exp   which parts to run
                           (small: the W1 contenders on the small-image
                           corpus, bench/.cache/corpus/small; tiny: the same
                           on its images of at most 0.3 MP; w2photo: the
                           W2 contenders on the photographs of
                           bench/.cache/corpus/w2photo, each half, baseline
                           and progressive, in a run of its own)
  PIXLINE, FLOOR           the binaries (run.sh sets them)

Every setting that differs from these defaults, and the pixline binary
(its path in the repository, the commit it was built from, its SHA-256),
is printed in the generated header.

  bench.py --render        only re-render the documents from
                           bench/results/latest.json (after a change to
                           how results are shown; nothing is measured)
"""
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import measure  # noqa: E402

from PIL import Image  # noqa: E402

Image.MAX_IMAGE_PIXELS = None

CACHE = os.path.join(HERE, ".cache")
CORPUS = os.path.join(CACHE, "corpus")
OUT = os.path.join(CACHE, "out")
CFG = os.path.join(HERE, "configs")
GEN_CFG = os.path.join(CACHE, "configs")
RESULTS = os.path.join(HERE, "results")
DOC = os.path.join(ROOT, "docs", "performance.md")
PLOT = os.path.join(ROOT, "docs", "performance.png")
PY = "/usr/bin/python3"
JEMALLOC = next((p for p in ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
                             "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2") if os.path.exists(p)), None)
PIXLINE = os.environ.get("PIXLINE", os.path.join(CACHE, "build", "pixline"))
FLOOR = os.environ.get("FLOOR", os.path.join(CACHE, "floor"))
NPROC = os.cpu_count() or 1
REPS = int(os.environ.get("BENCH_REPS", "5"))
EXP_REPS = int(os.environ.get("BENCH_EXP_REPS", "2"))
FLAT_REPS = int(os.environ.get("BENCH_FLAT_REPS", "2"))
PAIR_REPS = int(os.environ.get("BENCH_PAIR_REPS", "10"))
DEFAULT_PARTS = "w1,small,tiny,w1floor,w2,w2photo,w3,w1x10,exp"
PARTS = os.environ.get("BENCH_WORKLOADS", DEFAULT_PARTS).split(",")
# The knobs and their defaults, for the generated header.
KNOBS = {"BENCH_REPS": "5", "BENCH_EXP_REPS": "2", "BENCH_FLAT_REPS": "2", "BENCH_PAIR_REPS": "10",
         "BENCH_WORKLOADS": DEFAULT_PARTS}
# Contenders that write no outputs (the decode floor).
NO_OUTPUTS = {"decode"}
# W1 on each corpus: workload name -> corpus folder.
W1_CORPORA = {"w1": "w1", "small": "small", "tiny": "tiny"}
# W2 on each corpus, the same way.
W2_CORPORA = {"w2": "w2", "w2photo": "w2photo"}
# Corpora whose halves run separately (each contender on one half, then on
# the other): corpus -> [(file name prefix, what the half is)].
SUBSETS = {"w2photo": [("pbase_", "baseline JPEG"), ("pprog_", "progressive JPEG")]}
# What each workload makes of an input, for the output checks.
KIND = {"w1": "w1", "small": "w1", "tiny": "w1", "w1floor": "w1", "w1x10": "w1", "w2": "w2", "w2photo": "w2", "w3": "w3"}
W3_DECODED = 12288 * 12288 * 3  # bytes, 8-bit RGB
BEGIN, END = "<!-- BEGIN GENERATED RESULTS (bench/bench.py) -->", "<!-- END GENERATED RESULTS -->"


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def inputs(d):
    return sorted(f for f in os.listdir(d) if not f.startswith("."))


def stem(f):
    return os.path.splitext(f)[0]


def sh(script):
    return ["/bin/sh", "-c", script]


def q(s):
    return "'" + s.replace("'", "'\\''") + "'"


def pixline(cfg, ind, out, *extra):
    return [PIXLINE, "run", cfg, "--input", ind, "--output", out, *extra]


def pixline_cfg_variant(base, name, pipeline_lines):
    """A copy of a config with lines added to its [pipeline] table."""
    os.makedirs(GEN_CFG, exist_ok=True)
    text = open(os.path.join(CFG, base)).read()
    text = text.replace("[pipeline]\n", "[pipeline]\n" + "".join(l + "\n" for l in pipeline_lines), 1)
    path = os.path.join(GEN_CFG, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def pixline_cfg_edit(base, name, old, new):
    """A copy of a config with one piece of text replaced (which must be there)."""
    os.makedirs(GEN_CFG, exist_ok=True)
    text = open(os.path.join(CFG, base)).read()
    if old not in text:
        raise SystemExit(f"bench: {base} has no {old!r} to replace")
    path = os.path.join(GEN_CFG, name)
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))
    return path


def xargs(ind, per_call):
    return (f"find {q(ind)} -maxdepth 1 -type f ! -name '.*' -print0 | sort -z | "
            f"xargs -0 -P {NPROC} -n {per_call} ")


# -- contenders -----------------------------------------------------------------
# Each: name, label, argv builder (in, out) -> argv, extra env.

# What pixline's tune_malloc() sets (pipeline/memory.hpp), as environment
# variables, so the floor can be measured with the same allocator settings
# (not the heap trimming, which is pixline code).
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20),
                "MALLOC_ARENA_MAX": str(max(1, NPROC // 4))}
# An arena per core and a 4 MiB mmap threshold: the alternative settings.
PER_CORE_ARENAS = max(2, NPROC)
PER_CORE = {"MALLOC_ARENA_MAX": str(PER_CORE_ARENAS)}
MMAP_4MIB = {"MALLOC_MMAP_THRESHOLD_": str(4 << 20)}

# pixline without its heap trimming and with an arena per core and a 4 MiB
# mmap threshold, as W1's experiments and the
# 3,490-image runs measure them: (name, label, env).
NO_TRIM = ("notrim", "pixline without heap trimming (PIXLINE_MALLOC_TRIM_MIB=0)",
           {"PIXLINE_MALLOC_TRIM_MIB": "0"})
BEFORE = ("percore4", f"pixline with {PER_CORE_ARENAS} malloc arenas and a 4 MiB mmap threshold",
          {**TUNED_MALLOC, **PER_CORE, **MMAP_4MIB})
# glibc's transparent huge pages for what malloc maps, with blocks from 4 MiB
# mapped (tried as pixline's default and reverted, bench/HISTORY.md):
# on a machine whose kernel has huge pages, the heap stays small and a long
# run's peak where a short run's is, but every pass maps its large blocks
# again.
HUGE4 = ("huge4", "pixline with huge pages for malloc and a 4 MiB mmap threshold (GLIBC_TUNABLES=glibc.malloc.hugetlb=1)",
         {**TUNED_MALLOC, **MMAP_4MIB, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"})


def pixline_with_env(setting, config):
    """A contender: pixline on `config` with one of the settings above."""
    name, label, env = setting
    return (name, label, lambda i, o: pixline(config, i, o), env)


def w1_floor_pair():
    """pixline and the floor doing the same work: the W1 config with the
    sink's fsync off (the floor's durability), and the floor with the malloc
    settings pixline gives itself. What is left between them is what the
    actors and the protocol cost."""
    return [
        ("pixline_nofsync", "pixline, fsync = false (no fsync, as the floor)",
         lambda i, o: pixline(pixline_cfg_edit("w1-thumbnail.toml", "w1-nofsync.toml", "[sink]\n",
                                               "[sink]\nfsync = false\n"), i, o), {}),
        ("floor_tuned", "floor, pixline's malloc settings", lambda i, o: [FLOOR, i, o], TUNED_MALLOC),
    ]


def in_threads(base, name):
    """A contender: pixline on `base` with isolation = "thread" (images in
    pixline's own process) instead of its default, worker processes."""
    return (name, "pixline, isolation = \"thread\"",
            lambda i, o: pixline(pixline_cfg_edit(base, f"{name}.toml", "[pipeline]\n",
                                                  "[pipeline]\nisolation = \"thread\"\n"), i, o), {})


def w1_contenders(ind):
    nofsync, floor_tuned = w1_floor_pair()
    return [
        ("pixline", "pixline", lambda i, o: pixline(f"{CFG}/w1-thumbnail.toml", i, o), {}),
        in_threads("w1-thumbnail.toml", "pixline_thread"),
        nofsync,
        ("floor", "floor: libvips' thumbnail_image", lambda i, o: [FLOOR, i, o], {}),
        floor_tuned,
        ("floor_pixline", "floor: pixline's resize, pixline's malloc settings",
         lambda i, o: [FLOOR, i, o], {**TUNED_MALLOC, "FLOOR_RESIZE": "pixline"}),
        ("decode", "decode floor: decode only, at pixline's shrink-on-load",
         lambda i, o: [FLOOR, i, o], {"FLOOR_MODE": "decode"}),
        ("pillow", "Pillow pool", lambda i, o: [PY, f"{HERE}/competitors/pillow_pool.py", "w1", i, o], {}),
        ("vipsthumbnail1", "xargs vipsthumbnail (one process per image)",
         lambda i, o: sh(xargs(i, 1) + f"vipsthumbnail -s 256 -o {q(o + '/%s.jpg[Q=80,strip]')}"),
         {"VIPS_CONCURRENCY": "1"}),
        ("vipsthumbnail", "xargs vipsthumbnail -n16",
         lambda i, o: sh(xargs(i, 16) + f"vipsthumbnail -s 256 -o {q(o + '/%s.jpg[Q=80,strip]')}"),
         {"VIPS_CONCURRENCY": "1"}),
        ("mogrify", "xargs mogrify -n16",
         lambda i, o: sh(xargs(i, 16) + f"mogrify -path {q(o)} -format jpg -define jpeg:size=512x512 "
                         "-auto-orient -thumbnail 256x256 -quality 80 -strip"),
         {"MAGICK_THREAD_LIMIT": "1", "OMP_NUM_THREADS": "1"}),
    ]


def w2_contenders():
    three = " && ".join(f'{q(PIXLINE)} run {q(f"{CFG}/w2-{k}.toml")} --input "$IN" --output "$OUT" >/dev/null'
                        for k in ("webp", "jpeg", "thumb"))
    return [
        ("pixline", "pixline (3 sinks, one decode)", lambda i, o: pixline(f"{CFG}/w2-fanout.toml", i, o), {}, False),
        (*in_threads("w2-fanout.toml", "pixline_thread"), False),
        ("pixline3", "pixline, 3 runs (one sink each)", lambda i, o: ["/bin/sh", "-c", three, "sh"], {}, True),
        ("pillow", "Pillow pool", lambda i, o: [PY, f"{HERE}/competitors/pillow_pool.py", "w2", i, o], {}, False),
    ]


def w3_contenders():
    return [
        ("pixline", "pixline", lambda i, o: pixline(f"{CFG}/w3-large.toml", i, o), {}),
        ("pillow", "Pillow", lambda i, o: [PY, f"{HERE}/competitors/pillow_pool.py", "w3", f"{i}/large.jpg", o], {}),
        ("convert", "ImageMagick convert",
         lambda i, o: ["convert", f"{i}/large.jpg", "-resize", "50%", "-unsharp", "0x1+0.8+0.008",
                       "-quality", "85", "-strip", f"{o}/large.jpg"], {}),
    ]


# -- output checks --------------------------------------------------------------

def displayed_size(path):
    with Image.open(path) as im:
        w, h = im.size
        try:
            o = im.getexif().get(0x0112, 1)
        except Exception:
            o = 1
    return (h, w) if o in (5, 6, 7, 8) else (w, h)


_sizes = {}


def expected_outputs(workload, ind):
    """name -> (width, height) the output must have (within 1-2 px)."""
    workload = KIND[workload]
    exp = {}
    for f in inputs(ind):
        key = os.path.join(ind, f)
        if key not in _sizes:
            _sizes[key] = displayed_size(key)
        w, h = _sizes[key]
        if workload == "w1":
            s = 256 / max(w, h)
            exp[stem(f) + ".jpg"] = (round(w * s), round(h * s))
        elif workload == "w2":
            ht = h * 1600 / w
            exp[stem(f) + ".webp"] = (1600, round(ht))
            exp[stem(f) + ".jpg"] = (1600, round(ht))
            exp[stem(f) + "_400.jpg"] = (400, round(h * 400 / w))
        elif workload == "w3":
            exp[stem(f) + ".jpg"] = (w // 2, h // 2)
    return exp


def check_outputs(out, exp):
    missing, bad = [], []
    for name, (w, h) in exp.items():
        p = os.path.join(out, name)
        try:
            if os.path.getsize(p) == 0:
                bad.append(f"{name}: empty")
                continue
            with Image.open(p) as im:
                fmt = im.format
                size = im.size
        except FileNotFoundError:
            missing.append(name)
            continue
        except Exception as e:
            bad.append(f"{name}: {e}")
            continue
        want_fmt = "WEBP" if name.endswith(".webp") else "JPEG"
        if fmt != want_fmt:
            bad.append(f"{name}: {fmt}, not {want_fmt}")
        elif abs(size[0] - w) > 2 or abs(size[1] - h) > 2:
            bad.append(f"{name}: {size[0]}x{size[1]}, expected {w}x{h}")
    extra = sorted(set(os.listdir(out)) - set(exp)) if os.path.isdir(out) else []
    return missing, bad, extra


# -- running --------------------------------------------------------------------

def cpu_busy_s():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def warm(ind):
    for f in inputs(ind):
        with open(os.path.join(ind, f), "rb") as fh:
            while fh.read(1 << 20):
                pass


def run_one(workload, name, argv_fn, env_extra, ind, out_root, exp, shell_vars=False, subset=None):
    tag = f"{workload}-{subset}" if subset else workload
    out = os.path.join(out_root, f"{tag}-{name}")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    os.sync()  # earlier runs' unwritten outputs must not be flushed by this one's fsyncs
    env = dict(os.environ, **env_extra)
    if shell_vars:
        env.update(IN=ind, OUT=out)
    argv = argv_fn(ind, out)
    if name in NO_OUTPUTS:
        exp = {}
    logf = os.path.join(out_root, f"{tag}-{name}.log")
    with open("/proc/loadavg") as f:
        load = float(f.read().split()[0])
    busy0 = cpu_busy_s()
    with open(logf, "w") as lf:
        r = measure.run(argv, env=env, stdout=lf, stderr=subprocess.STDOUT)
    busy = cpu_busy_s() - busy0
    missing, bad, extra = check_outputs(out, exp)
    n_in = len(inputs(ind))
    r.update(
        workload=workload, contender=name, inputs=n_in, outputs_expected=len(exp),
        outputs_missing=len(missing), outputs_bad=len(bad), outputs_extra=len(extra),
        problems=(missing[:3] + bad[:3] + [f"unexpected {x}" for x in extra[:3]]),
        images_per_s=n_in / r["wall_s"], cpu_s_per_image=r["cpu_s"] / n_in,
        loadavg_before=load, other_cpu_s=max(0.0, busy - r["cpu_s"]),
        log_tail=open(logf, errors="replace").read()[-600:] if r["returncode"] else "",
    )
    if subset:
        r["subset"] = subset
    r["ok"] = r["returncode"] == 0 and not missing and not bad
    log(f"  {tag:6} {name:28} {r['wall_s']:7.2f} s  {r['images_per_s']:7.2f} img/s  "
        f"{r['cpu_s_per_image'] * 1000:6.1f} ms CPU/img  {r.get('pss_sum_peak_mb') or 0:7.1f} MB PSS  "
        f"other-cpu {r['other_cpu_s']:5.1f} s  {'ok' if r['ok'] else 'FAILED ' + str(r['problems'][:2]) + ' rc=' + str(r['returncode'])}")
    shutil.rmtree(out, ignore_errors=True)
    return r


def run_workload(workload, contenders, ind, reps):
    exp = expected_outputs(workload, ind)
    warm(ind)
    runs = []
    for rep in range(reps):
        k = rep % len(contenders)
        order = contenders[k:] + contenders[:k]
        log(f"{workload} repetition {rep + 1}/{reps}: {', '.join(c[0] for c in order)}")
        for c in order:
            name, _label, fn, env = c[:4]
            shell_vars = c[4] if len(c) > 4 else False
            r = run_one(workload, name, fn, env, ind, OUT, exp, shell_vars)
            r["rep"] = rep
            runs.append(r)
    return runs


def subset_folders(corpus):
    """The halves of a corpus (SUBSETS) as folders of hard links to its
    files, made afresh from the corpus: [(prefix, what, folder)]."""
    src = os.path.join(CORPUS, corpus)
    halves = []
    for prefix, what in SUBSETS[corpus]:
        d = os.path.join(CACHE, "subsets", f"{corpus}-{prefix.rstrip('_')}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        names = [f for f in inputs(src) if f.startswith(prefix)]
        if not names:
            raise SystemExit(f"bench: corpus {corpus} has no {prefix}* files (bench/make-corpus.sh --force)")
        for f in names:
            os.link(os.path.join(src, f), os.path.join(d, f))
        halves.append((prefix.rstrip("_"), what, d))
    if sum(len(inputs(d)) for _, _, d in halves) != len(inputs(src)):
        raise SystemExit(f"bench: corpus {corpus} has files in no half of {SUBSETS[corpus]}")
    return halves


def run_halves(workload, contenders, reps):
    """Each contender on each half of the corpus in a run of its own, the
    halves back to back (their order swaps every repetition), contenders
    rotating as in run_workload. Returns the runs of each half and, per
    repetition and contender, the corpus as the two runs together: seconds
    added, the larger peak memory."""
    halves = subset_folders(workload)
    exps = {h: expected_outputs(workload, d) for h, _, d in halves}
    for _, _, d in halves:
        warm(d)
    runs = []
    for rep in range(reps):
        k = rep % len(contenders)
        order = contenders[k:] + contenders[:k]
        hs = halves if rep % 2 == 0 else halves[::-1]
        log(f"{workload} repetition {rep + 1}/{reps}: {', '.join(c[0] for c in order)}; "
            f"halves {', '.join(h for h, _, _ in hs)}")
        for c in order:
            name, _label, fn, env = c[:4]
            shell_vars = c[4] if len(c) > 4 else False
            for h, _, d in hs:
                r = run_one(workload, name, fn, env, d, OUT, exps[h], shell_vars, subset=h)
                r["rep"] = rep
                runs.append(r)
    whole = []
    for rep in range(reps):
        for c in contenders:
            parts = [r for r in runs if r["rep"] == rep and r["contender"] == c[0]]
            whole.append(combined_run(parts))
    return {h: {"label": what, "runs": [r for r in runs if r["subset"] == h],
                "summary": summarize([r for r in runs if r["subset"] == h], contenders),
                "formats": input_formats(d)}
            for h, what, d in halves}, whole


def combined_run(parts):
    """Runs of one contender on every half of a corpus as one run on all of
    it: times, CPU, faults and outputs added up, memory the largest peak."""
    total = lambda k: sum(p[k] for p in parts)  # noqa: E731
    peak = lambda k: max(p[k] for p in parts) if all(p.get(k) is not None for p in parts) else None  # noqa: E731
    first = parts[0]
    r = {k: total(k) for k in ("wall_s", "user_s", "sys_s", "cpu_s", "inputs", "outputs_expected",
                               "outputs_missing", "outputs_bad", "outputs_extra", "other_cpu_s")}
    r.update(
        workload=first["workload"], contender=first["contender"], rep=first["rep"],
        subsets=[p["subset"] for p in parts],
        returncode=next((p["returncode"] for p in parts if p["returncode"]), 0),
        problems=[x for p in parts for x in p["problems"]][:6],
        log_tail=" ".join(p["log_tail"] for p in parts if p["log_tail"]),
        rss_sum_peak_mb=peak("rss_sum_peak_mb"), pss_sum_peak_mb=peak("pss_sum_peak_mb"),
        rss_max_proc_mb=peak("rss_max_proc_mb"), cgroup_peak_mb=peak("cgroup_peak_mb"),
        minor_faults=sum(p.get("minor_faults", 0) for p in parts),
        loadavg_before=first["loadavg_before"], mem_method=first["mem_method"],
        ok=all(p["ok"] for p in parts),
    )
    r["images_per_s"] = r["inputs"] / r["wall_s"]
    r["cpu_s_per_image"] = r["cpu_s"] / r["inputs"]
    return r


def summarize(runs, contenders):
    s = {}
    for c in contenders:
        name, label = c[0], c[1]
        rs = [r for r in runs if r["contender"] == name]
        ok = [r for r in rs if r["ok"]]
        d = {"label": label, "runs": len(rs), "ok_runs": len(ok),
             "failures": [{"rep": r["rep"], "returncode": r["returncode"], "problems": r["problems"],
                           "missing": r["outputs_missing"], "bad": r["outputs_bad"], "log_tail": r["log_tail"]}
                          for r in rs if not r["ok"]]}
        if ok:
            med = lambda k: statistics.median(r[k] for r in ok)  # noqa: E731
            d.update(
                wall_s=med("wall_s"), images_per_s=med("images_per_s"), cpu_s=med("cpu_s"),
                cores_busy=statistics.median(r["cpu_s"] / r["wall_s"] for r in ok),
                cpu_s_per_image=med("cpu_s_per_image"), user_s=med("user_s"), sys_s=med("sys_s"),
                rss_sum_peak_mb=med("rss_sum_peak_mb"),
                pss_sum_peak_mb=med("pss_sum_peak_mb") if all("pss_sum_peak_mb" in r for r in ok) else None,
                rss_sum_peak_mb_max=max(r["rss_sum_peak_mb"] for r in ok),
                rss_max_proc_mb=med("rss_max_proc_mb"), other_cpu_s=med("other_cpu_s"),
                ips_all=[round(r["images_per_s"], 2) for r in ok],
            )
        s[name] = d
    return s


# -- report ---------------------------------------------------------------------

def fmt(x, nd=2):
    return "—" if x is None else f"{x:.{nd}f}"


def table(summary, ref="pixline", per_output=None):
    ref_d = summary.get(ref, {})
    ref_ips, ref_cpu = ref_d.get("images_per_s"), ref_d.get("cpu_s")
    lines = ["| contender | runs ok | seconds (median) | images/s (median) | pixline ÷ it | CPU s (median) | "
             "its CPU ÷ pixline's | cores busy | peak PSS, summed over processes (MB, median) | "
             "largest single process RSS (MB) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, d in summary.items():
        status = f"{d['ok_runs']}/{d['runs']}"
        if d["ok_runs"] < d["runs"]:
            status += " **(failed runs: see below)**"
        if "images_per_s" not in d:
            lines.append(f"| {d['label']} | {status} | FAILED | — | — | — | — | — | — | — |")
            continue
        ratio = "1.00" if name == ref else (fmt(ref_ips / d["images_per_s"]) if ref_ips else "—")
        cpu = d.get("cpu_s")
        cpu_ratio = fmt(cpu / ref_cpu) if cpu and ref_cpu else "—"
        lines.append(f"| {d['label']} | {status} | {fmt(d['wall_s'])} | {fmt(d['images_per_s'])} | {ratio} | "
                     f"{fmt(cpu)} | {cpu_ratio} | {fmt(d.get('cores_busy'))} | "
                     f"{fmt(d.get('pss_sum_peak_mb'), 0)} | {fmt(d['rss_max_proc_mb'], 0)} |")
    # Identical failures of one contender (same exit code, same problems,
    # same log) are listed once with the repetitions they happened in.
    groups = {}
    for d in summary.values():
        for f in d["failures"]:
            # Paths relative to the repository, wherever the run was.
            tail = re.sub(r"/\S*?/(bench/\.cache/)", r"\1",
                          " ".join(f["log_tail"].split()).replace(str(ROOT) + "/", ""))[-300:]
            key = (d["label"], f["returncode"], f["missing"], f["bad"], tuple(f["problems"][:3]), tail)
            groups.setdefault(key, []).append(f["rep"] + 1)
    for (label, code, missing, bad, problems, tail), reps in groups.items():
        which = "repetition" + ("s " if len(reps) > 1 else " ") + ", ".join(map(str, sorted(reps)))
        lines.append("")
        lines.append(f"- {label}, {which}: exit code {code}, "
                     f"{missing} outputs missing, {bad} wrong; {', '.join(problems) or ''}"
                     + (f" — log: `{tail}`" if tail else ""))
    return "\n".join(lines)


def per_round_ratios(runs, other, mine="pixline"):
    """`mine`'s images/s over `other`'s in each repetition both finished:
    the pairs ran back to back, so each ratio saw the same machine."""
    by_rep = {}
    for r in runs:
        if r.get("ok"):
            by_rep.setdefault(r["rep"], {})[r["contender"]] = r["images_per_s"]
    return [d[mine] / d[other] for _, d in sorted(by_rep.items()) if mine in d and other in d]


def targets(res):
    t = []

    def ips(w, c):
        return res.get(w, {}).get("summary", {}).get(c, {}).get("images_per_s")

    def add(name, value, goal, met, how):
        t.append({"target": name, "value": value, "goal": goal, "met": met, "how": how})

    # The floor target from the pairs when they ran (BENCH_WORKLOADS), else
    # from W1's rounds.
    pairs = "w1floor" in res
    for w in W1_CORPORA:
        if w not in res:
            continue
        corpus = corpus_name(res, w)
        for mine, other, goal, label in (
                ("pixline", "pillow", 1.05, "pixline ≥ 1.05× Pillow pool"),
                ("pixline_thread", "pillow", 1.05, "pixline, isolation = \"thread\", ≥ 1.05× Pillow pool"),
                ("pixline_nofsync", "floor_pixline", 0.97,
                 "pixline, fsync = false ≥ 0.97× the floor with pixline's resize (orchestration only)")):
            a, b = ips(w, mine), ips(w, other)
            if a and b:
                rounds = per_round_ratios(res[w].get("runs", []), other, mine)
                shown = f"{a / b:.2f}×" + (f" (per round: {', '.join(f'{r:.2f}×' for r in rounds)})" if rounds else "")
                add(f"{corpus}: {label}", shown, f"≥ {goal}×", a / b >= goal, "ratio of median images/s")
            else:
                add(f"{corpus}: {label}", "no data", f"≥ {goal}×", None, "a contender failed or was not run")
        for mine in ("pixline", "pixline_thread"):
            a = res[w]["summary"].get(mine, {}).get("cpu_s")
            b = res[w]["summary"].get("decode", {}).get("cpu_s")
            who = "pixline" if mine == "pixline" else 'pixline, isolation = "thread",'
            label = f"{corpus}: {who} CPU within 10% of the decode floor"
            if a and b:
                add(label, f"{a:.2f} CPU-s vs {b:.2f} = {a / b:.2f}×", "≤ 1.10×", a / b <= 1.10, "ratio of median CPU seconds")
            else:
                add(label, "no data", "≤ 1.10×", None, "a contender failed or was not run")
    w2_targets = []
    for w in W2_CORPORA:
        if w in res:
            w2_targets += [
                (w, "pixline", "pillow", 1.5, f"{corpus_name(res, w)}: pixline ≥ 1.5× Pillow pool"),
                (w, "pixline", "pixline_thread", 0.97,
                 f"{corpus_name(res, w)}: worker processes (isolation = \"process\", the default) "
                 "≥ 0.97× isolation = \"thread\"")]
    for w, mine, other, goal, label in (
            ("w1", "pixline", "vipsthumbnail1", 2.0, "W1 pixline ≥ 2× xargs vipsthumbnail (a process per image)"),
            ("w1", "pixline", "vipsthumbnail", 2.0, "W1 pixline ≥ 2× xargs vipsthumbnail -n16 (16 images per process; our extra row, the issue's target is the row above)"),
            ("w1", "pixline", "floor", 0.97, "W1 pixline ≥ 0.97× floor (libvips' thumbnail_image)"),
            ("w1", "pixline", "pixline_thread", 0.97,
             "W1 worker processes (isolation = \"process\", the default) ≥ 0.97× isolation = \"thread\""),
            ("w1", "pixline", "floor_tuned", 0.97,
             "W1 pixline (fsync on, the default) ≥ 0.97× floor with pixline's malloc settings"),
            ("w1floor" if pairs else "w1", "pixline_nofsync", "floor_tuned", 0.97,
             "W1 pixline with fsync = false (the same work) ≥ 0.97× floor with pixline's malloc settings"
             + (" (the W1 floor pairs)" if pairs else "")),
            *w2_targets):
        a, b = ips(w, mine), ips(w, other)
        if a and b:
            rounds = per_round_ratios(res.get(w, {}).get("runs", []), other, mine)
            shown = f"{a / b:.2f}×"
            if w == "w1floor":
                shown += (f" (per pair: median {statistics.median(rounds):.2f}×, "
                          f"{min(rounds):.2f}× to {max(rounds):.2f}×, {sum(r >= goal for r in rounds)} of "
                          f"{len(rounds)} pairs ≥ {goal}×)")
            elif rounds:
                shown += f" (per round: {', '.join(f'{r:.2f}×' for r in rounds)})"
            add(label, shown, f"≥ {goal}×", a / b >= goal, "ratio of median images/s")
        else:
            add(label, "no data", f"≥ {goal}×", None, "a contender failed or was not run")
    w3 = res.get("w3", {}).get("summary", {}).get("pixline", {})
    if w3.get("pss_sum_peak_mb"):
        frac = w3["pss_sum_peak_mb"] * 2**20 / W3_DECODED
        add("W3 pixline peak memory (PSS) < 25% of the decoded image (453 MB)",
            f"{w3['pss_sum_peak_mb']:.0f} MB = {frac * 100:.0f}%",
            "< 25% (108 MiB)", frac < 0.25, "median of summed-PSS peaks")
    w1p = res.get("w1", {}).get("summary", {}).get("pixline", {})
    flat = res.get("w1x10", {}).get("summary", {}).get("pixline", {})
    if w1p.get("pss_sum_peak_mb") and flat.get("pss_sum_peak_mb"):
        r = flat["pss_sum_peak_mb"] / w1p["pss_sum_peak_mb"]
        add(f"W1 memory: peak over {inputs_of(res, 'w1x10')} images within 10% of the peak over {inputs_of(res, 'w1')}",
            f"{flat['pss_sum_peak_mb']:.0f} MB vs {w1p['pss_sum_peak_mb']:.0f} MB = {r:.2f}×", "≤ 1.10×",
            r <= 1.10, "medians of summed-PSS peaks")
    # Worker processes against threads, memory counted as PSS: pages the
    # processes share (the program, the libraries) count once.
    for w in ("w1", *W2_CORPORA):
        summary = res.get(w, {}).get("summary", {})
        mine, threads = summary.get("pixline", {}), summary.get("pixline_thread", {})
        if mine.get("pss_sum_peak_mb") and threads.get("pss_sum_peak_mb"):
            r = mine["pss_sum_peak_mb"] / threads["pss_sum_peak_mb"]
            who = "W1" if w == "w1" else corpus_name(res, w)
            add(f"{who} memory: worker processes within 30% of isolation = \"thread\" (PSS)",
                f"{mine['pss_sum_peak_mb']:.0f} MB vs {threads['pss_sum_peak_mb']:.0f} MB = {r:.2f}×", "≤ 1.30×",
                r <= 1.30, "medians of summed-PSS peaks")
    for w in W1_CORPORA:
        mine = res.get(w, {}).get("summary", {}).get("pixline", {})
        pil = res.get(w, {}).get("summary", {}).get("pillow", {})
        if mine.get("pss_sum_peak_mb") and pil.get("pss_sum_peak_mb"):
            add(f"{corpus_name(res, w)} memory: pixline's peak below the Pillow pool's (PSS)",
                f"{mine['pss_sum_peak_mb']:.0f} MB vs {pil['pss_sum_peak_mb']:.0f} MB", "pixline lower",
                mine["pss_sum_peak_mb"] < pil["pss_sum_peak_mb"], "medians of summed-PSS peaks")
    return t


def inputs_of(res, w):
    runs = res.get(w, {}).get("runs", [])
    return f"{runs[0]['inputs']:,}" if runs else "?"


def corpus_name(res, w):
    return {"w1": f"W1 ({inputs_of(res, 'w1')} photos, corpus w1)",
            "small": f"W1 on small images ({inputs_of(res, 'small')}, corpus small)",
            "tiny": f"W1 on images of at most 0.3 MP ({inputs_of(res, 'tiny')}, corpus tiny)",
            "w2": f"W2 ({inputs_of(res, 'w2')} images, corpus w2)",
            "w2photo": f"W2 on photographs ({inputs_of(res, 'w2photo')}, corpus w2photo)"}.get(w, w)


def input_formats(d):
    """How many files of a folder are JPEG, PNG, WebP (by their first bytes)."""
    n = {"JPEG": 0, "PNG": 0, "WebP": 0, "other": 0}
    for f in inputs(d):
        with open(os.path.join(d, f), "rb") as fh:
            head = fh.read(12)
        kind = ("JPEG" if head[:2] == b"\xff\xd8" else "PNG" if head[:4] == b"\x89PNG"
                else "WebP" if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else "other")
        n[kind] += 1
    return n


def versions():
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
        except Exception as e:
            return f"? ({e})"

    def dpkg(p):
        return out(["dpkg-query", "-W", "-f=${Version}", p])

    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    git = out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout
    changed = [line[3:] for line in dirty.splitlines() if line.strip()]
    with open("/proc/meminfo") as f:
        mem = f.readline().split()[1]
    return {
        "nproc": NPROC, "cpu": cpu, "mem_gib": round(int(mem) / 2**20, 1), "kernel": platform.release(),
        "pixline": out([PIXLINE, "--version"]).replace("pixline ", ""), "pixline_git": git,
        "pixline_changed": changed,
        "pixline_binary": binary_description(PIXLINE),
        "libvips": dpkg("libvips42"), "caf": dpkg("libcaf-dev"), "pillow": dpkg("python3-pil"),
        "python": platform.python_version(), "imagemagick": dpkg("imagemagick"),
        "libjpeg_turbo": dpkg("libjpeg62-turbo"), "libwebp": dpkg("libwebp7"), "gcc": out(["g++", "--version"]),
    }


def binary_description(path):
    """The binary as the header names it: its path inside the repository
    (or only its name, for one outside), how it was built, its SHA-256."""
    import hashlib
    real = os.path.realpath(path)
    with open(real, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    inside = real.startswith(os.path.realpath(ROOT) + os.sep)
    where = os.path.relpath(real, ROOT) if inside else f"{os.path.basename(real)} from outside the repository (PIXLINE)"
    how = ("Release, built by bench/run.sh from the work tree" if real == os.path.realpath(os.path.join(CACHE, "build", "pixline"))
           else "given by PIXLINE")
    return {"path": where, "build": how, "sha256": digest}


def plot(res):
    if not shutil.which("gnuplot"):
        log("gnuplot missing: no plot")
        return False
    d = os.path.join(CACHE, "plot")
    os.makedirs(d, exist_ok=True)
    panels = []
    for w, title, key, ylabel in (("w1", "W1 thumbnails, corpus w1: images/s (median)", "images_per_s", "images/s"),
                                  ("small", "W1 thumbnails, corpus small: images/s (median)", "images_per_s", "images/s"),
                                  ("tiny", "W1 thumbnails, corpus tiny (≤ 0.3 MP): images/s (median)", "images_per_s", "images/s"),
                                  ("w1", "W1, corpus w1: peak PSS summed over processes", "pss_sum_peak_mb", "MB"),
                                  ("small", "W1, corpus small: CPU seconds (median)", "cpu_s", "CPU s"),
                                  ("w2", "W2 web publish, corpus w2: input images/s", "images_per_s", "images/s"),
                                  ("w2photo", "W2 web publish, corpus w2photo: input images/s", "images_per_s", "images/s"),
                                  ("w3", "W3 12288² image: peak PSS summed", "pss_sum_peak_mb", "MB")):
        s = res.get(w, {}).get("summary")
        if not s:
            continue
        path = os.path.join(d, f"{w}-{key}.dat")
        with open(path, "w") as f:
            for i, (name, v) in enumerate(s.items()):
                val = v.get(key)
                label = v["label"].replace('"', "'") + ("" if val is not None else " (failed)")
                f.write(f'{i} "{label}" {val if val is not None else 0}\n')
        panels.append((path, title, ylabel, w == "w3" and key == "pss_sum_peak_mb"))
    if not panels:
        return False
    rows = (len(panels) + 2) // 3
    size = f"1800,{550 * rows}"
    gp = [f"set terminal pngcairo size {size} font 'sans,9'" if _has_cairo() else f"set terminal png size {size}",
          f"set output '{PLOT}'", f"set multiplot layout {rows},3", "set style fill solid 0.8 border -1",
          "set boxwidth 0.6", "set grid ytics", "set yrange [0:*]", "set xtics rotate by -20 scale 0",
          "unset key"]
    for path, title, ylabel, w3mem in panels:
        gp += [f"set title \"{title}\"", f"set ylabel '{ylabel}'"]
        extra = ""
        if w3mem:
            lim = W3_DECODED * 0.25 / 2**20
            extra = f", {lim} with lines lw 2 dt 2 lc rgb 'red' title '25% of decoded'"
            gp.append("set key top left")
        gp.append(f"plot '{path}' using 1:3:xtic(2) with boxes lc rgb '#4477aa', "
                  f"'' using 1:3:(sprintf('%.1f',$3)) with labels offset 0,0.7{extra}")
        gp.append("unset key")
    gp.append("unset multiplot")
    script = os.path.join(d, "plot.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    r = subprocess.run(["gnuplot", script], capture_output=True, text=True)
    if r.returncode != 0:
        log("gnuplot failed:", r.stderr[-500:])
        return False
    return True


def _has_cairo():
    r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True)
    return "pngcairo" in (r.stdout + r.stderr)


def corpus_summary():
    p = os.path.join(CORPUS, "SUMMARY.txt")
    # Names inside the corpus only: no path of this machine in the page.
    return open(p).read().strip().replace(CORPUS + os.sep, "") if os.path.exists(p) else "?"


def experiments_md(res):
    e = res.get("exp")
    if not e:
        return "_Not run (BENCH_WORKLOADS without `exp`)._"
    lines = [f"All on the W1 inputs unless noted, {res.get('meta', {}).get('exp_reps', EXP_REPS)} repetitions each, alternating with each other "
             f"in the same way as the main runs; the baseline is pixline with its defaults, measured again "
             f"in the same rounds.", "",
             "| variant | runs ok | images/s (median) | ÷ baseline | CPU s / image | user / sys s (median) | peak PSS summed (MB) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    s = e["summary"]
    base = s.get("base", {}).get("images_per_s")
    for name, d in s.items():
        if name.startswith("w3"):
            continue
        if "images_per_s" not in d:
            lines.append(f"| {d['label']} | {d['ok_runs']}/{d['runs']} | FAILED | — | — | — | — |")
            continue
        lines.append(f"| {d['label']} | {d['ok_runs']}/{d['runs']} | {fmt(d['images_per_s'])} | "
                     f"{fmt(d['images_per_s'] / base) if base else '—'} | {fmt(d['cpu_s_per_image'], 3)} | "
                     f"{fmt(d['user_s'], 1)} / {fmt(d['sys_s'], 1)} | {fmt(d.get('pss_sum_peak_mb'), 0)} |")
    w2 = res.get("exp_w2", {}).get("summary")
    if w2:
        lines += ["", f"W2 ({inputs_of(res, 'exp_w2')} inputs, three outputs each), pixline:", "",
                  "| variant | runs ok | images/s (median) | ÷ first row | CPU s / image | peak PSS summed (MB) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        base2 = w2.get("w2base", {}).get("images_per_s")
        for name, d in w2.items():
            if "images_per_s" in d:
                lines.append(f"| {d['label']} | {d['ok_runs']}/{d['runs']} | {fmt(d['images_per_s'])} | "
                             f"{fmt(d['images_per_s'] / base2) if base2 else '—'} | "
                             f"{fmt(d['cpu_s_per_image'], 3)} | {fmt(d.get('pss_sum_peak_mb'), 0)} |")
            else:
                lines.append(f"| {d['label']} | {d['ok_runs']}/{d['runs']} | FAILED | — | — | — |")
    w3 = res.get("exp_w3", {}).get("summary")
    if w3:
        lines += ["", "W3 (the 12288² image), pixline, `[pipeline] vips_concurrency`:", "",
                  "| variant | runs ok | seconds (median) | CPU s | peak PSS summed (MB) |", "| --- | --- | --- | --- | --- |"]
        for name, d in w3.items():
            if "wall_s" in d:
                lines.append(f"| {d['label']} | {d['ok_runs']}/{d['runs']} | {fmt(d['wall_s'])} | "
                             f"{fmt(d['cpu_s_per_image'], 2)} | {fmt(d.get('pss_sum_peak_mb'), 0)} |")
            else:
                lines.append(f"| {d['label']} | {d['ok_runs']}/{d['runs']} | FAILED | — | — |")
    return "\n".join(lines)


def markdown(res, meta, page=False):
    """The results in markdown: in full for bench/results/latest.md; for the
    page (`page`), without the corpus listing and the experiments, which the
    page links to instead."""
    v = meta["versions"]
    knobs = meta.get("knobs", {})
    shown_knobs = ", ".join(f"{k}={val}" for k, val in sorted(knobs.items())) or "none (every BENCH_* at its default)"
    b = v.get("pixline_binary", {})
    changed = v.get("pixline_changed", [])
    tree = (f"at commit {v['pixline_git']}" + (f", with {len(changed)} file(s) changed from it: "
                                                 + ", ".join(f"`{c}`" for c in changed[:8]) + (", …" if len(changed) > 8 else "")
                                                 if changed else ", unmodified"))
    out = [f"_Generated by `bench/run.sh` on {meta['finished']} in {meta['minutes']:.1f} minutes. "
           f"Non-default settings: {shown_knobs}. Every number below is copied by the script from "
           f"`bench/results/latest.json` (committed; `bench/bench.py --render` rewrites this block from it)._", "",
           "### Machine and versions", "",
           f"- {v['nproc']} cores ({v['cpu']}), {v['mem_gib']} GiB RAM, Linux {v['kernel']}",
           f"- pixline {v['pixline']}: `{b.get('path', '?')}`, {b.get('build', '?')} {tree}; SHA-256 {b.get('sha256', '?')}…",
           f"- libvips {v['libvips']}, CAF {v['caf']}, libjpeg-turbo {v['libjpeg_turbo']}, libwebp {v['libwebp']}",
           f"- Pillow {v['pillow']} (Python {v['python']}), ImageMagick {v['imagemagick']}, {v['gcc']}",
           f"- memory: the peak of the proportional set size (PSS) summed over every process of a run "
           f"(a page shared by several processes counts once in all), sampled; load average before the runs: "
           f"{meta['load_min']:.2f} to {meta['load_max']:.2f}; CPU time of other processes during a run: "
           f"median {meta['other_cpu_median']:.1f} s, max {meta['other_cpu_max']:.1f} s (see `other_cpu_s` in the JSON)",
           ""]
    if page:
        out += ["The corpus listing and the experiments of this run are in "
                "[bench/results/latest.md](../bench/results/latest.md).", ""]
    else:
        # The listing of the run's corpus (older results have none: then
        # this machine's).
        out += ["### Corpus", "", "```", meta.get("corpus") or corpus_summary(), "```", ""]
    titles = {"w1": f"W1 thumbnail, corpus w1 ({inputs_of(res, 'w1')} photos)",
              "small": f"W1 thumbnail, corpus small ({inputs_of(res, 'small')} small images)",
              "tiny": f"W1 thumbnail, corpus tiny ({inputs_of(res, 'tiny')} images of at most 0.3 MP)",
              "w2": f"W2 web publish, corpus w2 ({inputs_of(res, 'w2')} images, three outputs each)",
              "w2photo": f"W2 web publish, corpus w2photo ({inputs_of(res, 'w2photo')} photographs, three outputs each)",
              "w3": "W3 large image (one 12288×12288 JPEG)",
              "w1x10": f"W1 over {inputs_of(res, 'w1x10')} images (memory)",
              "w1floor": "W1, pixline against the floor (the same work)"}
    for w in ("w1", "small", "tiny", "w1floor", "w2", "w2photo", "w3", "w1x10"):
        if w in res:
            ref = "pixline_nofsync" if w == "w1floor" else "pixline"
            out += [f"### {titles[w]}", "", notes(w, res, meta), ""]
            if res[w].get("formats"):
                out += [shrink_on_load(res[w]["formats"], w), ""]
            out += [table(res[w]["summary"], ref), ""]
            for h in res[w].get("subsets", {}).values():
                n = h["runs"][0]["inputs"] if h["runs"] else "?"
                out += [f"#### Corpus {w}, the {n} {h['label']} files alone", "", table(h["summary"], ref), ""]
    out += ["### Targets", "", "| target | measured | goal | met? |", "| --- | --- | --- | --- |"]
    for t in res.get("targets", []):
        m = {True: "**met**", False: "**not met**", None: "not measured"}[t["met"]]
        out.append(f"| {t['target']} | {t['value']} | {t['goal']} | {m} |")
    out += ["", "![benchmark plot](performance.png)" if meta.get("plot") else "_(no plot: gnuplot missing or failed, or no W1, W2 or W3 results)_", ""]
    if not page:
        out += ["### Experiments", "", experiments_md(res), ""]
    return "\n".join(out)


def shrink_on_load(formats, w):
    """What each contender decodes at, for this corpus's formats."""
    parts = [f"{n} {k}" for k, n in formats.items() if n]
    text = f"Inputs: {', '.join(parts)}. Shrink-on-load differs between contenders: "
    if w in W2_CORPORA:
        return text + ("pixline decodes JPEGs at the largest DCT scale that keeps 1600 px, as Pillow's "
                       "`draft()` does" + ("; WebP inputs are decoded full size by both." if formats.get("WebP")
                                           else "."))
    text += ("JPEGs are decoded at a reduced DCT scale by every contender (pixline, the floors and Pillow's "
             "`draft()`: the smallest of 1/2, 1/4, 1/8 that stays at least 256 px; vipsthumbnail: libvips' "
             "choice, up to twice as large; mogrify: `jpeg:size=512x512`). ")
    if formats.get("WebP"):
        text += (f"The {formats['WebP']} WebP inputs are decoded at reduced size by pixline, the floors and "
                 "vipsthumbnail (libwebp's scaled decode) but **full size by Pillow and mogrify**: "
                 "there pixline does less work than Pillow. ")
    if formats.get("PNG"):
        text += f"The {formats['PNG']} PNG inputs are decoded full size by everyone."
    return text


def notes(w, res, meta):
    """The description of a workload, with this run's facts."""
    n = inputs_of(res, w)
    cores = meta["versions"]["nproc"]
    if w == "w2photo":
        halves = res[w].get("subsets", {})
        counts = " and ".join(f"{h['runs'][0]['inputs'] if h['runs'] else '?'} {h['label']}"
                              for h in halves.values())
        same = "W2 on corpus w2 above" if "w2" in res else "W2 on corpus w2 (see the section on it)"
        return (f"The same work and contenders as {same}, on the {n} photographs of corpus w2photo: "
                "every JPEG of the wallpaper packages with a long edge of 2400 px or more, as its author saved "
                "it (not re-encoded; metadata dropped losslessly), once as baseline and once as progressive "
                f"JPEG with the same DCT coefficients ({counts}). Each contender runs on the two halves one "
                "after the other, in a run each (which half goes first swaps every repetition), so that each "
                "half can be shown alone; the first table is the corpus, each contender's two runs of a "
                "repetition taken together (their seconds added, the larger of their memory peaks), the "
                "next two the halves.")
    if w in W1_CORPORA:
        first = next(c for c in W1_CORPORA if c in res)
        if w != first:
            return (f"The same work and contenders as on corpus {first} above, for each of the {n} inputs "
                    f"of corpus {w}.")
        return ("Every contender writes a 256×256-box thumbnail (upright from EXIF), JPEG q80, no metadata, "
                f"for each of the {n} inputs, with {cores} images at a time (one per core) and one thread per image. "
                "pixline writes each output to a temporary file, **fsyncs it** and renames it; the competitors "
                "and the floors write directly without fsync; pixline also runs with its sink's `fsync = false`, "
                "which does the same work as the floors, and with `isolation = \"thread\"` (images in pixline's "
                "own process instead of its sandboxed worker processes). Three floors (bench/floor.cpp, a plain "
                "libvips program with a thread per core and no actors): libvips' `thumbnail_image` after the "
                "same shrink-on-load as pixline, as built and with the malloc settings pixline sets for itself "
                "(`pipeline/memory.hpp`); **pixline's own resize** (its resample code compiled in, the same "
                "pixels as pixline), so that pixline against it measures orchestration only; and the **decode "
                "floor**, which decodes every input at pixline's shrink-on-load size (JPEGs by libjpeg-turbo "
                "directly) and does nothing else: the physical limit. vipsthumbnail runs one process per image "
                "(as `xargs -n1` would) and 16 images per process; mogrify 16 per process, one thread each. "
                "*cores busy* is CPU seconds over wall seconds.")
    return {
        "w2": ("Three outputs per input: 1600 px wide, sharpened (an unsharp mask on each RGB band, radius 1, "
               "amount 0.8, threshold 2: Pillow's `UnsharpMask(1, 80, 2)` and pixline's `unsharp` stage), WebP q80 and JPEG q85, and a 400 px wide "
               "JPEG q80 thumbnail made from the sharpened 1600 px image (lanczos3; pixline without a box "
               "shrink first, `gap = 0`, Pillow with its `reducing_gap=2.0`). pixline runs "
               "`bench/configs/w2-fanout.toml`: three `[[sink]]`s, so each input is decoded once and the "
               "1600 px result is kept in memory for the three encodes. For comparison it also runs as "
               "three separate runs with one sink each (`bench/configs/w2-{webp,jpeg,thumb}.toml`), decoding "
               "every input three times. Pillow decodes once (reduced by `draft()` where the JPEG is ≥ 3200 px "
               "wide), makes the 1600 px image, saves it twice and makes the thumbnail from it. images/s "
               "counts inputs."),
        "w3": ("One 12288×12288 JPEG (453 MB decoded as 8-bit RGB): half size, sharpened (the same unsharp "
               "mask as W2), JPEG q85. pixline "
               "uses its defaults (`vips_concurrency` 1, sequential access). Pillow (one process) uses "
               "`draft()`, i.e. libjpeg decodes directly at half size, then sharpens. ImageMagick's `convert` "
               "is run as Debian ships it: its policy.xml caps the pixel cache at 128 megapixels and 1 GiB of "
               "disk, which this image exceeds."),
        "w1floor": ("pixline and the floor on the W1 inputs doing the same work, alternating (which of the two "
                    f"goes first swaps every repetition), {meta.get('pair_reps', PAIR_REPS)} times: more rounds than the main table can "
                    "afford, because the two are close. "
                    "pixline runs the W1 config with its sink's `fsync = false` (the floor does not fsync either), "
                    "the floor runs with the malloc settings pixline gives itself."),
        "w1x10": (f"pixline on {n} inputs (the {inputs_of(res, 'w1')} of W1 ten times under new names), for the "
                  "memory-flatness target, alternating with pixline without its heap trimming "
                  "(`PIXLINE_MALLOC_TRIM_MIB=0`) and with pixline with glibc's huge pages for malloc and a 4 MiB "
                  "mmap threshold (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1` and glibc variables)."),
    }[w]


def write_doc(md):
    if os.path.exists(DOC):
        text = open(DOC).read()
    else:
        text = "# Performance\n\n" + BEGIN + "\n" + END + "\n"
    if BEGIN not in text or END not in text:
        text += "\n" + BEGIN + "\n" + END + "\n"
    a, rest = text.split(BEGIN, 1)
    _, b = rest.split(END, 1)
    with open(DOC, "w") as f:
        f.write(a + BEGIN + "\n" + md + "\n" + END + b)


def publish(res):
    """Writes `res` (with its "meta") to latest.json, latest.md and the
    generated block of docs/performance.md; returns the markdown."""
    with open(os.path.join(RESULTS, "latest.json"), "w") as f:
        json.dump(res, f, indent=1)
    md = markdown(res, res["meta"])
    with open(os.path.join(RESULTS, "latest.md"), "w") as f:
        f.write(md + "\n")
    write_doc(markdown(res, res["meta"], page=True))
    return md


def render():
    """Re-renders docs/performance.md's generated block, the plot and latest.md from
    bench/results/latest.json, as they were measured (nothing is rerun)."""
    with open(os.path.join(RESULTS, "latest.json")) as f:
        res = json.load(f)
    res["targets"] = targets(res)
    res["meta"]["plot"] = plot(res)
    publish(res)
    log("bench: rendered docs/performance.md and docs/performance.png from bench/results/latest.json")


def main():
    if sys.argv[1:] == ["--render"]:
        return render()
    t0 = time.time()
    for b in (PIXLINE, FLOOR):
        if not os.access(b, os.X_OK):
            sys.exit(f"bench: {b} missing (run bench/run.sh)")
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    res = {}
    w1 = os.path.join(CORPUS, "w1")
    for w, folder in W1_CORPORA.items():
        if w in PARTS:
            ind = os.path.join(CORPUS, folder)
            c = w1_contenders(ind)
            runs = run_workload(w, c, ind, REPS)
            res[w] = {"runs": runs, "summary": summarize(runs, c), "formats": input_formats(ind)}
    if "w1floor" in PARTS:
        c = w1_floor_pair()
        runs = run_workload("w1floor", c, w1, PAIR_REPS)
        res["w1floor"] = {"runs": runs, "summary": summarize(runs, c)}
    for w, folder in W2_CORPORA.items():
        if w not in PARTS:
            continue
        c = w2_contenders()
        ind = os.path.join(CORPUS, folder)
        if w in SUBSETS:
            halves, runs = run_halves(w, c, REPS)
            res[w] = {"runs": runs, "summary": summarize(runs, c), "formats": input_formats(ind),
                      "subsets": halves}
        else:
            runs = run_workload(w, c, ind, REPS)
            res[w] = {"runs": runs, "summary": summarize(runs, c), "formats": input_formats(ind)}
    if "w3" in PARTS:
        c = w3_contenders()
        ind = os.path.join(CORPUS, "w3")
        runs = run_workload("w3", c, ind, REPS)
        res["w3"] = {"runs": runs, "summary": summarize(runs, c)}
    if "exp" in PARTS:
        w1cfg = f"{CFG}/w1-thumbnail.toml"
        mif4 = pixline_cfg_variant("w1-thumbnail.toml", "w1-mif4.toml", ["max_in_flight = 4"])
        mif16 = pixline_cfg_variant("w1-thumbnail.toml", "w1-mif16.toml", ["max_in_flight = 16"])
        shm = "/dev/shm/pixline-bench-out"
        careful = pixline_cfg_edit("w1-thumbnail.toml", "w1-careful.toml", "height = 256\n",
                                   "height = 256\nfast_shrink_on_load = false\n")
        cubic = pixline_cfg_edit("w1-thumbnail.toml", "w1-cubic.toml", "height = 256\n",
                                 "height = 256\nkernel = \"cubic\"\n")
        normal = pixline_cfg_variant("w1-thumbnail.toml", "w1-normal.toml", ['cpu_policy = "normal"'])
        c = [
            ("base", f"pixline, defaults (save workers {NPROC}, commit workers 4, max_in_flight {4 * NPROC})",
             lambda i, o: pixline(w1cfg, i, o), {}),
            ("normal", "pixline, [pipeline] cpu_policy = \"normal\" (SCHED_OTHER)",
             lambda i, o: pixline(normal, i, o), {}),
            ("save1", "pixline --workers save=1", lambda i, o: pixline(w1cfg, i, o, "--workers", "save=1"), {}),
            ("save_plus1", f"pixline --workers save={NPROC + 1}",
             lambda i, o: pixline(w1cfg, i, o, "--workers", f"save={NPROC + 1}"), {}),
            ("commit1", "pixline --workers commit=1 (one fsync at a time)",
             lambda i, o: pixline(w1cfg, i, o, "--workers", "commit=1"), {}),
            ("save_2x", f"pixline --workers save={2 * NPROC}",
             lambda i, o: pixline(w1cfg, i, o, "--workers", f"save={2 * NPROC}"), {}),
            ("mif4", "pixline max_in_flight = 4", lambda i, o: pixline(mif4, i, o), {}),
            ("mif16", "pixline max_in_flight = 16", lambda i, o: pixline(mif16, i, o), {}),
            ("load1", "pixline --workers load=1", lambda i, o: pixline(w1cfg, i, o, "--workers", "load=1"), {}),
            ("sysmalloc", "pixline with glibc malloc defaults (PIXLINE_MALLOC=system)",
             lambda i, o: pixline(w1cfg, i, o), {"PIXLINE_MALLOC": "system"}),
            pixline_with_env(NO_TRIM, w1cfg),
            pixline_with_env(BEFORE, w1cfg),
            pixline_with_env(HUGE4, w1cfg),
            ("mmap4", "pixline's malloc settings with the mmap threshold at 4 MiB",
             lambda i, o: pixline(w1cfg, i, o), {**TUNED_MALLOC, **MMAP_4MIB}),
            ("percore32", f"pixline's mmap threshold (32 MiB) with an arena per core ({PER_CORE_ARENAS})",
             lambda i, o: pixline(w1cfg, i, o), {**TUNED_MALLOC, **PER_CORE}),
            ("jemalloc", "pixline with jemalloc (LD_PRELOAD, libjemalloc2)",
             lambda i, o: pixline(w1cfg, i, o), {"LD_PRELOAD": JEMALLOC} if JEMALLOC else {}),
            ("tmpfs", "pixline writing to tmpfs (/dev/shm: fsync is free), then moved",
             lambda i, o: sh(" ".join(q(a) for a in pixline(w1cfg, i, shm)) + f" >/dev/null && mv {q(shm)}/* {q(o)}/ && rmdir {q(shm)}"), {}),
            ("floor3", "floor with 3 threads", lambda i, o: [FLOOR, i, o, "3"], {}),
            ("careful", "pixline, thumbnail fast_shrink_on_load = false (libvips' shrink-on-load)",
             lambda i, o: pixline(careful, i, o), {}),
            ("cubic", "pixline, thumbnail kernel = \"cubic\" (as Pillow's thumbnail(): bicubic)",
             lambda i, o: pixline(cubic, i, o), {}),
            ("floor_careful", "floor with libvips' shrink-on-load (FLOOR_SHRINK=libvips)",
             lambda i, o: [FLOOR, i, o], {"FLOOR_SHRINK": "libvips"}),
            ("floor_tuned_exp", "floor, pixline's malloc settings", lambda i, o: [FLOOR, i, o], TUNED_MALLOC),
            ("floor_batch", "floor, pixline's malloc settings, under SCHED_BATCH (chrt -b 0)",
             lambda i, o: ["chrt", "-b", "0", FLOOR, i, o], TUNED_MALLOC),
            ("pillow_batch", "Pillow pool under SCHED_BATCH (chrt -b 0)",
             lambda i, o: ["chrt", "-b", "0", PY, f"{HERE}/competitors/pillow_pool.py", "w1", i, o], {}),
            ("floor_direct", "floor, pixline's malloc settings, jpegload called directly (FLOOR_LOADER=direct)",
             lambda i, o: [FLOOR, i, o], {**TUNED_MALLOC, "FLOOR_LOADER": "direct"}),
        ]
        if not JEMALLOC:
            c = [x for x in c if x[0] != "jemalloc"]
        runs = run_workload("w1", c, w1, EXP_REPS)
        res["exp"] = {"runs": runs, "summary": summarize(runs, c)}
        c3 = [
            ("w3c1", "vips_concurrency = 1 (default)", lambda i, o: pixline(f"{CFG}/w3-large.toml", i, o), {}),
            ("w3c2", "vips_concurrency = 2",
             lambda i, o: pixline(pixline_cfg_variant("w3-large.toml", "w3-c2.toml", ["vips_concurrency = 2"]), i, o), {}),
        ]
        runs = run_workload("w3", c3, os.path.join(CORPUS, "w3"), EXP_REPS)
        res["exp_w3"] = {"runs": runs, "summary": summarize(runs, c3)}
        w2cfg = f"{CFG}/w2-fanout.toml"
        unsharp = "[[filter]]\ntype = \"unsharp\"\nradius = 1.0\namount = 0.8\nthreshold = 2\n"
        c2 = [
            ("w2base", "W2 as above (unsharp, fast shrink-on-load)", lambda i, o: pixline(w2cfg, i, o), {}),
            ("w2normal", "W2 with [pipeline] cpu_policy = \"normal\" (SCHED_OTHER)",
             lambda i, o: pixline(pixline_cfg_variant("w2-fanout.toml", "w2-normal.toml", ['cpu_policy = "normal"']), i, o), {}),
            ("w2sharpen", "W2 with `sharpen` (libvips' LAB sharpen, sigma 0.5) instead of `unsharp`",
             lambda i, o: pixline(pixline_cfg_edit("w2-fanout.toml", "w2-sharpen.toml", unsharp,
                                                   "[[filter]]\ntype = \"sharpen\"\nsigma = 0.5\n"), i, o), {}),
            ("w2careful", "W2 with thumbnail fast_shrink_on_load = false",
             lambda i, o: pixline(pixline_cfg_edit("w2-fanout.toml", "w2-careful.toml", "height = 100000\n",
                                                   "height = 100000\nfast_shrink_on_load = false\n"), i, o), {}),
            ("w2gap2", "W2 with the 400 px resize's gap = 2 (libvips' default: a box shrink by 2 first)",
             lambda i, o: pixline(pixline_cfg_edit("w2-fanout.toml", "w2-gap2.toml", "  gap = 0\n",
                                                   "  gap = 2\n"), i, o), {}),
        ]
        runs = run_workload("w2", c2, os.path.join(CORPUS, "w2"), EXP_REPS)
        res["exp_w2"] = {"runs": runs, "summary": summarize(runs, c2)}
    if "w1x10" in PARTS:
        c = [("pixline", "pixline", lambda i, o: pixline(f"{CFG}/w1-thumbnail.toml", i, o), {}),
             pixline_with_env(NO_TRIM, f"{CFG}/w1-thumbnail.toml"),
             pixline_with_env(HUGE4, f"{CFG}/w1-thumbnail.toml")]
        ind = os.path.join(CORPUS, "w1x10")
        runs = run_workload("w1x10", c, ind, FLAT_REPS)
        res["w1x10"] = {"runs": runs, "summary": summarize(runs, c)}
    res["targets"] = targets(res)
    # Every run measured (a corpus run in halves counts as its halves).
    all_runs = [r for k, v in res.items() if isinstance(v, dict) and "runs" in v
                for r in ([x for h in v["subsets"].values() for x in h["runs"]] if "subsets" in v else v["runs"])]
    meta = {
        "finished": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "corpus": corpus_summary(),
        "minutes": (time.time() - t0) / 60, "reps": REPS, "exp_reps": EXP_REPS, "pair_reps": PAIR_REPS,
        "knobs": {k: os.environ[k] for k in KNOBS if k in os.environ and os.environ[k] != KNOBS[k]},
        "versions": versions(),
        "mem_method": sorted({r["mem_method"] for r in all_runs}) and ", ".join(sorted({r["mem_method"] for r in all_runs})),
        "load_min": min((r["loadavg_before"] for r in all_runs), default=0),
        "load_max": max((r["loadavg_before"] for r in all_runs), default=0),
        "other_cpu_median": statistics.median([r["other_cpu_s"] for r in all_runs]) if all_runs else 0,
        "other_cpu_max": max((r["other_cpu_s"] for r in all_runs), default=0),
    }
    meta["plot"] = plot(res)
    res["meta"] = meta
    md = publish(res)
    print(md)
    log(f"bench: done in {meta['minutes']:.1f} min; bench/results/latest.json, docs/performance.md, docs/performance.png")


if __name__ == "__main__":
    main()
