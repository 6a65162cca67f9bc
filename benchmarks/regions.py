"""Region enumeration speed: both backends on random networks, printed as a table.

Run:  .venv/bin/python benchmarks/regions.py [--quick] [--targets-only]

First the issue-11 targets (4-input [32,32] with volumes, 8-input [32,32] patterns and affine maps,
1 and 2 threads; :func:`target_rows`), then the table below.

For inputs 2, 4, 8 and hidden layers [16,16], [32,32], [64,64] on the unit box, and a 2-D slice of
an 8-input [64,64] network: regions found, seconds (median of repeats after JIT warm-up), regions
per second, and LPs solved per region (LP backend).  Where the full count is out of reach, a region
budget stops the run and the table says "budget" (the rate is then measured up to the budget).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from polyattr import AffineSlice, Box, enumerate_regions, random_network
from polyattr.errors import RegionBudgetExceeded
from polyattr.geometry.regions import estimate_region_count


def timed(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        try:
            out = fn()
        except RegionBudgetExceeded as exc:
            out = exc
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def run(net, domain, backend, budget, repeats):
    seconds, out = timed(lambda: enumerate_regions(net, domain, backend=backend, max_regions=budget, check_estimate=False), repeats)
    if isinstance(out, RegionBudgetExceeded):
        return out.found, seconds, "budget", None
    lps = out.lp_count / len(out) if backend == "lp" else None
    return len(out), seconds, "full", lps


def target_rows(quick: bool = False, workers_list=(1, 2)) -> list[dict]:
    """The throughput targets of issue 11: 4-input [32,32] on [-1,1]^4 with volumes (goal 10^5
    regions/s) and 8-input [32,32] on [0,1]^8, patterns and affine maps only (goal 5,000/s), with
    1 and 2 threads; wall and process CPU seconds of one run after a warm-up.

    The 8-input partition of [0,1]^8 is out of reach, so that row stops at a region budget: its
    rate is that of proving the run over budget (the first layer's cells, which hold hundreds of
    vertices each), with no affine maps.  The row on [0,1/4]^8 is a complete run (9,658 regions):
    enumeration, the partition proof and the affine maps, the rate the target is about."""
    warm = random_network([3, 8, 8, 1], rng=0)
    enumerate_regions(warm, backend="split")
    enumerate_regions(warm, backend="split", volumes=False)
    out = []
    cases = [("4-input [32,32], volumes", 4, -1.0, 1.0, True, 20_000 if quick else None),
             ("8-input [32,32], patterns + affine maps", 8, 0.0, 1.0, False, 2_000 if quick else 20_000),
             ("8-input [0,1/4]^8, complete, + affine maps" if not quick else "8-input [0,1/5]^8, complete, + affine maps",
              8, 0.0, 0.2 if quick else 0.25, False, None)]
    for name, d, low, high, volumes, budget in cases:
        net = random_network([d, 32, 32, 1], rng=2026)
        box = Box(np.full(d, low), np.full(d, high))
        for workers in workers_list:
            w, c = time.perf_counter(), time.process_time()
            try:
                # the split backend on both (automatic choice would take the LP traversal at d = 8)
                regions = enumerate_regions(net, box, max_regions=budget, check_estimate=False,
                                            volumes=volumes, workers=workers, backend="split")
                n, kind = len(regions), "full"
                if volumes:
                    regions.total_volume
                else:
                    regions.affine_maps()
            except RegionBudgetExceeded as exc:
                n, kind = exc.found, "budget"
            wall, cpu = time.perf_counter() - w, time.process_time() - c
            out.append({"case": name, "workers": workers, "regions": n, "run": kind, "seconds": wall,
                        "cpu_seconds": cpu, "regions_per_second": n / wall})
    return out


def print_target_rows(table) -> None:
    print(f"{'case':<42} {'threads':>7} {'regions':>9} {'run':>6} {'wall s':>8} {'cpu s':>8} {'regions/s':>10} "
          f"{'2 vs 1 thread':>13}")
    one = {}
    for r in table:
        if r["workers"] == 1:
            one[r["case"]] = r["regions_per_second"]
        ratio = r["regions_per_second"] / one[r["case"]] if r["case"] in one else float("nan")
        print(f"{r['case']:<42} {r['workers']:>7} {r['regions']:>9} {r['run']:>6} {r['seconds']:8.3f} "
              f"{r['cpu_seconds']:8.3f} {r['regions_per_second']:10.0f} {ratio:12.2f}x")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller budgets, one repeat")
    parser.add_argument("--targets-only", action="store_true", help="only the issue-11 throughput rows")
    args = parser.parse_args()
    print_target_rows(target_rows(args.quick))
    if args.targets_only:
        return
    warm = random_network([3, 8, 8, 1], rng=0)
    enumerate_regions(warm, backend="split")  # JIT warm-up
    rows = []
    for d in (2, 4, 8):
        for hidden in ([16, 16], [32, 32], [64, 64]):
            net = random_network([d, *hidden, 1], rng=2026)
            box = Box.unit(d)
            est = estimate_region_count(net, box)
            # budgets keep each row to seconds (run_all.py runs this table under a time limit): the
            # LP traversal costs ~0.05-0.1 s per region at d = 4 and ~0.1-0.6 s at d = 8, and
            # split with volumes ~1-5 ms per region at d = 8
            split_budget = (200_000 if d <= 4 else 2_000) if not args.quick else 2_000
            lp_budget = {2: 300, 4: 100, 8: 20}[d] if not args.quick else {2: 100, 4: 30, 8: 10}[d]
            repeats = 1 if args.quick or d == 8 else 3
            rows.append((d, hidden, "split", est, *run(net, box, "split", split_budget, repeats)))
            rows.append((d, hidden, "lp", est, *run(net, box, "lp", lp_budget, 1)))
    repeats = 1 if args.quick else 3
    net = random_network([8, 64, 64, 1], rng=2026)
    x = np.full(8, 0.5)
    sl = AffineSlice(Box.unit(8), {i: x[i] for i in range(2, 8)})
    rows.append(("8 (2-D slice)", [64, 64], "split", estimate_region_count(net, sl), *run(net, sl, "split", None, repeats)))
    rows.append(("8 (2-D slice)", [64, 64], "lp", estimate_region_count(net, sl), *run(net, sl, "lp", 300 if not args.quick else 100, 1)))

    # patterns only (no volumes), the split backend's enumeration cost alone, at d = 8
    from polyattr.geometry.splitting import split_enumerate

    net8 = random_network([8, 32, 32, 1], rng=2026)
    t = time.perf_counter()
    try:
        split_enumerate(net8.weights, net8.biases, np.zeros(8), np.ones(8), max_regions=5_000, compute_volumes=False)
    except RegionBudgetExceeded:
        pass
    patterns_only = 5_000 / (time.perf_counter() - t)

    print(f"{'inputs':>14} {'hidden':>9} {'backend':>7} {'estimate':>10} {'regions':>9} {'run':>6} "
          f"{'seconds':>9} {'regions/s':>10} {'LPs/region':>10}")
    for d, hidden, backend, est, n, seconds, kind, lps in rows:
        lps_s = f"{lps:10.1f}" if lps is not None else f"{'-':>10}"
        print(f"{str(d):>14} {str(hidden):>9} {backend:>7} {est:10.3g} {n:9d} {kind:>6} {seconds:9.4f} "
              f"{n / seconds:10.0f} {lps_s}")
    print(f"8 inputs [32,32], split backend, patterns only (no volumes): {patterns_only:.0f} regions/s")


if __name__ == "__main__":
    main()
