"""Every table of issue 11's "Where it stands", in one run: ``python benchmarks/run_all.py [--quick]``.

Each table runs in a child process of its own (``run_all.py --section NAME``, the other benchmark
scripts' functions; this directory is put on sys.path) with a hard time limit, so the run always
ends: a section that runs past its limit is stopped (with everything it started) and prints
"timed out after N s"; one that fails prints its error and the run goes on.  A script that is not
present in this checkout is skipped with a printed note.  Every section prints as soon as it
measures, and its wall time is printed after it and in a summary at the end.

The sizes and region budgets are chosen so that on an idle 2-core machine the full run takes about
20-25 minutes and ``--quick`` about 4; the time limits (:data:`SECTIONS`, seconds, quick / full)
sum to 8.8 and 32.5 minutes.  On a loaded machine, scale them with ``--limit-scale`` (``--quick`` took
525 s at load 6-7 with every section inside 4x its limit) rather than lose the figures;
``--only edge_subdivision,dask`` runs some sections.

The edge-subdivision rows need a checkout of github.com/arturs-berzins/relu_edge_subdivision outside
the repository, named by ``POLYATTR_EDGE_SUBDIVISION=PATH`` (without it they print a note).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# name: (title, time limit with --quick, time limit of the full run) in seconds
SECTIONS = {
    "ig": ("IG: exact batch vs Captum IntegratedGradients (n_steps=50, batched)", 40, 60),
    "shapley": ("baseline Shapley, [32,32]: polyattr vs shap ExactExplainer (benchmarks/shapley_vs_shap.py)", 45, 120),
    "peers": ("interventional Shapley and pdp, 4-input [32,32]: exact vs Monte Carlo reaching 1e-3 vs shap", 40, 60),
    "batches": ("data sets in one call: batch vs single calls, exact vs Monte Carlo (benchmarks/batches.py)", 90, 330),
    "regions": ("region enumeration (benchmarks/regions.py)", 45, 240),
    "edge_subdivision": ("same partition as the edge-subdivision enumerator (Berzins 2023)", 60, 420),
    "exact": ("exact mode vs float (benchmarks/exact.py)", 30, 120),
    "cold_start": ("cold start (benchmarks/cold_start.py)", 150, 180),
    "dask": ("both cores / Dask: 1 vs 2 workers", 30, 420),
}


def _script_main(name, quick, extra=()):
    """Run benchmarks/<name>.py's main (with --quick when it takes argv and has that flag), or say it is absent."""
    if not (HERE / f"{name}.py").exists():
        print(f"  benchmarks/{name}.py is not present in this checkout: skipped")
        return
    module = importlib.import_module(name)
    params = inspect.signature(module.main).parameters
    argv = (["--quick"] if quick and "--quick" in inspect.getsource(module) else []) + list(extra)
    if params:
        module.main(argv)
    else:
        saved = sys.argv
        sys.argv = [f"{name}.py", *argv]
        try:
            module.main()
        finally:
            sys.argv = saved


def _run_section(name, quick, scale=1.0):
    """The body of one section (in the child process); ``scale`` is --limit-scale."""
    if name == "ig":
        _ig()
    elif name == "shapley":
        import shapley_vs_shap

        shapley_vs_shap.main(["--quick"] if quick else [])
    elif name == "peers":
        _peers()
    elif name == "batches":
        import batches

        batches.main(["--quick"] if quick else [])
    elif name == "regions":
        _script_main("regions", quick)
    elif name == "edge_subdivision":
        # the peer's runs have their own limits inside the section's; 2 threads only in the full run
        _script_main("edge_subdivision", False,
                     ["--dims", "2,3,4", "--peer-threads", "1", "--timeout", f"{45 * scale:.0f}"] if quick else
                     ["--dims", "2,3,4,5", "--peer-threads", "1,2", "--timeout", f"{200 * scale:.0f}"])
    elif name == "exact":
        _script_main("exact", quick, ["--repeats", "1"] if quick else [])
    elif name == "cold_start":
        _script_main("cold_start", quick)
    elif name == "dask":
        _dask(quick)
    else:
        raise SystemExit(f"run_all.py: unknown section {name!r}; expected one of {', '.join(SECTIONS)}")


def _child(name, quick, limit, scale):
    """Run one section in a child process (its own process group) for at most ``limit`` seconds."""
    cmd = ([sys.executable, str(Path(__file__).resolve()), "--section", name, "--limit-scale", str(scale)]
           + (["--quick"] if quick else []))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        code = proc.wait(timeout=limit)
        status = "ok" if code == 0 else f"exit {code}"
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the section and all it started (dask workers, the peer)
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue
        status = f"timed out after {limit:.0f} s"
        print(f"  {status} (the section's remaining figures are missing)", flush=True)
    return time.perf_counter() - start, status


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=None, help=f"comma-separated sections ({', '.join(SECTIONS)})")
    parser.add_argument("--limit-scale", type=float, default=1.0,
                        help="multiply every section's time limit (a loaded machine needs more)")
    parser.add_argument("--section", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.section:
        try:
            _run_section(args.section, args.quick, args.limit_scale)
        except Exception:  # printed here, so the parent only sees the exit status
            print("  FAILED:\n" + "".join("  " + line for line in traceback.format_exc().splitlines(True)), flush=True)
            return 1
        sys.stdout.flush()
        return 0
    names = args.only.split(",") if args.only else list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; expected {', '.join(SECTIONS)}")
    load = os.getloadavg()
    print(f"run_all.py{' --quick' if args.quick else ''}: {os.cpu_count()} cores, load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at start", flush=True)
    summary, total = [], time.perf_counter()
    for name in names:
        title, quick_limit, full_limit = SECTIONS[name]
        limit = (quick_limit if args.quick else full_limit) * args.limit_scale
        print(f"\n=== {title} === (limit {limit:.0f} s)", flush=True)
        seconds, status = _child(name, args.quick, limit, args.limit_scale)
        print(f"  ({seconds:.1f} s)", flush=True)
        summary.append((name, seconds, status))
    load = os.getloadavg()
    print(f"\n=== section times (load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end) ===")
    for name, seconds, status in summary:
        print(f"  {name:<18} {seconds:7.1f} s  {status}")
    print(f"  {'total':<18} {time.perf_counter() - total:7.1f} s", flush=True)
    return 0


def _ig():
    import datasets

    r = datasets.ig_rows(100)
    print(f"  8-input [64,64], {r['n']} points: polyattr exact batch {r['polyattr_s']:.3f} s, Captum {r['captum_s']:.3f} s "
          f"(Captum / polyattr {r['ratio']:.2f}x), Captum error {r['captum_err']:.1e}")


def _peers():
    import datasets

    rows = datasets.peer_rows()
    for r in rows:
        line = (f"  {r['method']:<17} exact {r['exact_s'] * 1e3:8.1f} ms | MC n={r['mc_n']:.0e} {r['mc_s'] * 1e3:8.1f} ms "
                f"err {r['mc_err']:.1e}")
        if "shap_s" in r:
            line += f" | shap (1,000-row background) {r['shap_s'] * 1e3:8.1f} ms err {r['shap_err']:.1e}"
        print(line)


def _dask(quick):
    """The issue's row, 5-input [32,32] on [-1,1]^5 (merged patterns and volumes checked),
    enumerated on 1 and 2 workers; then the streamed integral's ratio on 4-input [32,32];
    --quick: 4-input [16,16] only, with the same-pattern check against a local run."""
    import dask_scale

    if not quick:
        r = dask_scale.rows(5, (32, 32), 16, local=False, integral=False, progress=True)
        dask_scale.print_rows(r, [])
    r = dask_scale.rows(4, (16, 16) if quick else (32, 32), 16, local=quick)
    dask_scale.print_rows(r, dask_scale.streaming_rows(3, (16, 16)))


if __name__ == "__main__":
    raise SystemExit(main())
