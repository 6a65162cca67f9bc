"""Start-up cost of polyattr: imports, a warm ``polyattr regions``, the first demo after set-up, cold runs.

Run:  .venv/bin/python benchmarks/cold_start.py [--quick] [--runs N]

Every figure is measured in fresh subprocesses (the way a user meets them): process wall time and
the child's CPU time (user + sys), medians of N runs.  Wall time on a machine shared with other
work is inflated by waiting for a core; CPU time is what the process itself spent.  Rows:

1. ``import polyattr`` and ``import polyattr.cli`` (in-process import time, then the whole process),
   beside ``python -c pass``, and which heavy modules each import loads.
2. A warm ``polyattr regions`` on the default model (polyattr/data/default_2x16.npz), with the
   enumeration seconds the command reports, and a breakdown of one run (numpy, polyattr, numba's
   import, numba's first cached-kernel load, which initialises its compiler target and imports
   scipy.linalg, and the enumeration itself).  Target: under 0.5 s of process wall time.
3. The first ``polyattr demo`` after set-up: an empty numba cache, the warm-up step of
   scripts/setup.sh (``python -m polyattr.cli.warmup``), then the demo; the enumeration time the demo
   prints.  Target: under 3 s.
4. Cold figures for comparison: the demo and ``polyattr regions`` with an empty numba cache (every
   kernel compiled; --quick skips the cold regions run).

The empty caches are fresh temporary ``NUMBA_CACHE_DIR`` directories (numba looks there first), so the
installed cache is left as it is.  ``PYTHONDONTWRITEBYTECODE`` is dropped from the children's
environment: an installed package has its .pyc files.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY_MODULES = ("numpy", "numba", "scipy", "scipy.optimize", "scipy.linalg", "sympy", "cvxpy", "matplotlib",
                 "dask", "torch", "highspy", "flint")

# one run of `polyattr regions`, timed step by step in one process
_BREAKDOWN = r"""
import sys, time
t0, c0 = time.perf_counter(), time.process_time()
marks = []
def mark(name):
    marks.append((name, time.perf_counter(), time.process_time()))
import numpy
mark("numpy")
import polyattr.cli
mark("polyattr.cli")
from polyattr.geometry.regions import enumerate_regions
from polyattr.models.io import default_model_path, load_model
model = load_model(default_model_path())
mark("polyattr.geometry.regions, load the model")
import numba
mark("numba (import)")
import polyattr.geometry.splitting
mark("polyattr.geometry.splitting (kernel dispatchers)")
from polyattr.geometry.splitting import _split_kernel
first_load = {}
orig = type(_split_kernel)._compile_for_args
def timed(self, *a, **k):
    start = time.perf_counter()
    try:
        return orig(self, *a, **k)
    finally:
        first_load[self.py_func.__name__] = first_load.get(self.py_func.__name__, 0.0) + time.perf_counter() - start
type(_split_kernel)._compile_for_args = timed
regions = enumerate_regions(model)
regions.total_volume
mark("enumerate_regions (with volumes)")
again = time.perf_counter()
enumerate_regions(model).total_volume
second = time.perf_counter() - again
prev, cprev = t0, c0
for name, t, c in marks:
    print(f"{name}\t{t - prev}\t{c - cprev}")
    prev, cprev = t, c
print(f"  of which numba's first kernel loads (wall, summed over threads)\t{sum(first_load.values())}\tnan")
print(f"the same enumeration again (kernels loaded)\t{second}\tnan")
"""


def child_env(**extra) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg", **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(args, env=None, cwd=None) -> tuple[float, float, str]:
    """(process wall seconds, child CPU seconds user + sys, stdout) of one subprocess."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env or child_env(), cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def median_runs(args, runs, env=None, cwd=None):
    walls, cpus, outs = [], [], []
    for _ in range(runs):
        wall, cpu, out = run(args, env, cwd)
        walls.append(wall)
        cpus.append(cpu)
        outs.append(out)
    return statistics.median(walls), statistics.median(cpus), min(walls), outs


def _demo_enumeration_ms(stdout: str) -> float:
    m = re.search(r"linear regions: \d+ .*?([0-9.]+) ms", stdout)
    if m is None:
        raise RuntimeError(f"the demo printed no enumeration time:\n{stdout[:500]}")
    return float(m.group(1))


def _regions_seconds(stdout: str) -> float:
    m = re.search(r"^seconds\s+([0-9.]+)", stdout, re.M)
    return float(m.group(1)) if m else float("nan")


def import_rows(runs: int) -> list[dict]:
    """In-process import time and whole-process figures of ``import polyattr`` / ``polyattr.cli``."""
    rows = []
    base_wall, base_cpu, _, _ = median_runs(["-c", "pass"], runs)
    rows.append({"what": "python -c pass", "wall": base_wall, "cpu": base_cpu, "import": None, "loaded": []})
    for module in ("polyattr", "polyattr.cli"):
        code = (f"import sys, time; t = time.perf_counter(); import {module}; t = time.perf_counter() - t; "
                f"print(t); print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))")
        wall, cpu, _, outs = median_runs(["-c", code], runs)
        imports = [float(o.split()[0]) for o in outs]
        loaded = outs[0].splitlines()[1].split(",") if outs[0].splitlines()[1:] else []
        rows.append({"what": f"import {module}", "wall": wall, "cpu": cpu, "import": statistics.median(imports),
                     "loaded": [m for m in loaded if m]})
    return rows


def regions_rows(runs: int, env=None) -> dict:
    from polyattr.models.io import default_model_path

    wall, cpu, best, outs = median_runs(["-m", "polyattr.cli", "regions", str(default_model_path())], runs, env)
    return {"wall": wall, "cpu": cpu, "best": best, "enumeration": statistics.median(_regions_seconds(o) for o in outs)}


def breakdown(env=None) -> list[tuple[str, float, float]]:
    """(step, wall seconds, CPU seconds or NaN) of one warm ``polyattr regions``, step by step."""
    _, _, out = run(["-c", _BREAKDOWN], env)
    rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
    return [(name, float(wall), float(cpu)) for name, wall, cpu in rows]


# numba's own start-up, which any command running a cached kernel pays before its first line of work:
# the import, the BLAS check its array support makes on first use (it imports scipy.linalg), and the
# set-up of its compilation target (typing and lowering registries), which loading a cached kernel
# triggers.  No polyattr code runs here: it is the floor under the warm `polyattr regions` figure.
_NUMBA_FLOOR = r"""
import time
t0, c0 = time.perf_counter(), time.process_time()
import numpy
import numba
import scipy.linalg.cython_blas
from numba.core.registry import cpu_target
cpu_target.target_context.refresh()
cpu_target.typing_context.refresh()
print(f"{time.perf_counter() - t0}\t{time.process_time() - c0}")
"""


def numba_floor(runs: int, env=None) -> dict:
    """Process wall and CPU seconds of numba's start-up alone (numpy, numba, scipy.linalg, target
    set-up), medians of ``runs`` subprocesses, with the in-process part the child measures."""
    wall, cpu, best, outs = median_runs(["-c", _NUMBA_FLOOR], runs, env)
    inner = [tuple(float(v) for v in o.split("\t")) for o in outs]
    return {"wall": wall, "cpu": cpu, "best": best, "inner_wall": statistics.median(w for w, _ in inner),
            "inner_cpu": statistics.median(c for _, c in inner)}


def demo_after_warmup(workdir: Path) -> dict:
    """An empty cache, the set-up's warm-up step, then the first demo (its enumeration time)."""
    cache = Path(tempfile.mkdtemp(prefix="numba-cache-", dir=workdir))
    env = child_env(NUMBA_CACHE_DIR=str(cache))
    warm_wall, warm_cpu, warm_out = run(["-m", "polyattr.cli.warmup"], env)
    wall, cpu, out = run(["-m", "polyattr.cli", "demo", "--out", str(workdir / "demo.png")], env, cwd=workdir)
    return {"warmup_wall": warm_wall, "warmup_cpu": warm_cpu, "warmup_says": warm_out.strip(),
            "demo_enumeration": _demo_enumeration_ms(out) / 1e3, "demo_wall": wall, "demo_cpu": cpu, "env": env}


def cold_rows(workdir: Path, with_regions: bool) -> dict:
    """The demo, and ``polyattr regions``, each with an empty numba cache (every kernel compiled)."""
    from polyattr.models.io import default_model_path

    out = {}
    env = child_env(NUMBA_CACHE_DIR=tempfile.mkdtemp(prefix="numba-cold-", dir=workdir))
    wall, cpu, stdout = run(["-m", "polyattr.cli", "demo", "--out", str(workdir / "cold.png")], env, cwd=workdir)
    out["demo"] = {"wall": wall, "cpu": cpu, "enumeration": _demo_enumeration_ms(stdout) / 1e3}
    if with_regions:
        env = child_env(NUMBA_CACHE_DIR=tempfile.mkdtemp(prefix="numba-cold-", dir=workdir))
        wall, cpu, stdout = run(["-m", "polyattr.cli", "regions", str(default_model_path())], env)
        out["regions"] = {"wall": wall, "cpu": cpu, "enumeration": _regions_seconds(stdout)}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs per median, no cold `polyattr regions`")
    parser.add_argument("--runs", type=int, default=None, help="runs per median (default 7, --quick 3)")
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 7)
    print(f"  machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
          f"(wall time includes waiting for a core; CPU = user + sys of the process); medians of {runs} runs")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("  (PYTHONDONTWRITEBYTECODE is set here; the children run without it, as an installed package)")

    for r in import_rows(runs):
        imp = "" if r["import"] is None else f"import {r['import'] * 1e3:6.1f} ms | "
        loaded = "" if r["import"] is None else f" | loads: {', '.join(r['loaded']) or 'none of ' + ', '.join(HEAVY_MODULES)}"
        print(f"  {r['what']:<28} {imp}process wall {r['wall']:.3f} s, CPU {r['cpu']:.3f} s{loaded}")

    with tempfile.TemporaryDirectory(prefix="polyattr-cold-start-") as tmp:
        workdir = Path(tmp)
        # the first demo after set-up, in its own empty cache (the installed cache is not touched)
        first = demo_after_warmup(workdir)
        print(f"  set-up warm-up step (empty cache)  process wall {first['warmup_wall']:.1f} s, CPU "
              f"{first['warmup_cpu']:.1f} s | {first['warmup_says']}")
        print(f"  first `polyattr demo` after it     enumeration {first['demo_enumeration']:.2f} s (target < 3 s), "
              f"process wall {first['demo_wall']:.1f} s, CPU {first['demo_cpu']:.1f} s")
        warm = regions_rows(runs, first["env"])
        print(f"  warm `polyattr regions` (default)  process wall median {warm['wall']:.3f} s (min {warm['best']:.3f}), "
              f"CPU {warm['cpu']:.3f} s (target wall < 0.5 s); enumeration as printed {warm['enumeration']:.3f} s")
        floor = numba_floor(runs, first["env"])
        print(f"  numba's start-up alone (no polyattr) process wall median {floor['wall']:.3f} s (min {floor['best']:.3f}), "
              f"CPU {floor['cpu']:.3f} s: the floor of any command that runs a kernel (numpy + numba import, "
              f"scipy.linalg for numba's BLAS check, numba's target set-up)")
        print(f"  warm `polyattr regions` above that floor: {warm['wall'] - floor['wall']:.3f} s wall, "
              f"{warm['cpu'] - floor['cpu']:.3f} s CPU")
        print("  one warm `polyattr regions`, step by step (wall | CPU of the process):")
        for name, wall, cpu in breakdown(first["env"]):
            cpu_text = "" if cpu != cpu else f" | {cpu * 1e3:7.1f} ms"
            print(f"    {name:<66} {wall * 1e3:7.1f} ms{cpu_text}")
        cold = cold_rows(workdir, with_regions=not args.quick)
        c = cold["demo"]
        print(f"  cold `polyattr demo` (empty cache) enumeration {c['enumeration']:.1f} s, process wall {c['wall']:.1f} s, "
              f"CPU {c['cpu']:.1f} s")
        if "regions" in cold:
            c = cold["regions"]
            print(f"  cold `polyattr regions` (default)  process wall {c['wall']:.1f} s, CPU {c['cpu']:.1f} s, "
                  f"enumeration as printed {c['enumeration']:.1f} s")
    print(f"  load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
