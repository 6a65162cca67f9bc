"""Every table of issue 11's "Where it stands", in one run: ``python benchmarks/run_all.py [--quick]``.

Calls the other benchmark scripts' functions (this directory is put on sys.path), each table
printed as soon as it is measured; a script that is not present (enumeration rows and the
edge-subdivision comparison come from another branch) is skipped with a printed note, and a table
that fails prints its error and the run goes on.  --quick uses smaller sizes and fewer repeats so
the whole run takes a few minutes on an idle 2-core machine.

The edge-subdivision rows need a checkout of github.com/arturs-berzins/relu_edge_subdivision outside
the repository, named by ``POLYATTR_EDGE_SUBDIVISION=PATH`` (without it they print a note).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _section(title):
    print(f"\n=== {title} ===", flush=True)


def _guarded(title, fn):
    _section(title)
    start = time.perf_counter()
    try:
        fn()
    except Exception:  # a broken table must not hide the others
        print("  FAILED:\n" + "".join("  " + line for line in traceback.format_exc().splitlines(True)))
    print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    q = args.quick
    import batches
    import shapley_vs_shap

    _guarded("IG: exact batch vs Captum IntegratedGradients (n_steps=50, batched)", _ig)
    _guarded("baseline Shapley, [32,32]: polyattr vs shap ExactExplainer (benchmarks/shapley_vs_shap.py)",
             lambda: shapley_vs_shap.main(["--quick"] if q else []))
    _guarded("interventional Shapley and pdp, 4-input [32,32]: exact vs Monte Carlo reaching 1e-3 vs shap",
             _peers)
    _guarded("data sets in one call: batch vs single calls, exact vs Monte Carlo (benchmarks/batches.py)",
             lambda: batches.main(["--quick"] if q else []))
    _guarded("region enumeration (benchmarks/regions.py)", lambda: _script_main("regions", q))
    _guarded("same partition as the edge-subdivision enumerator (Berzins 2023)",
             lambda: _script_main("edge_subdivision", q, ["--dims", "2,3,4" if q else "2,3,4,5"]))
    _guarded("exact mode vs float (benchmarks/exact.py)", lambda: _script_main("exact", q))
    _guarded("cold start (benchmarks/cold_start.py)", lambda: _script_main("cold_start", q))
    _guarded("both cores / Dask: 1 vs 2 workers", lambda: _dask(q))


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
    import dask_scale

    d, hidden = (4, (16, 16)) if quick else (5, (32, 32))
    r = dask_scale.rows(d, hidden, 16, local=not quick)
    dask_scale.print_rows(r, dask_scale.streaming_rows(3, (16, 16)) if quick else dask_scale.streaming_rows())


if __name__ == "__main__":
    main()
