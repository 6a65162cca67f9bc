"""Exact attributions versus the sampled schemes they replace: seconds and absolute errors.

Run:  python benchmarks/attribution.py [--quick] [--max-cells 2e7]

For random networks with 2, 3, 4 inputs and hidden layers [16,16] and [32,32] on [0,1]^d, and the
global methods fafp_global, pdp and shapley_uniform at a fixed x:

* polyattr's exact value (median seconds over repeats, after one warm-up call that excludes the
  numba JIT compilation), and the number of regions it enumerated; "nb s" is the same call with
  ``max_regions=None`` (no region budget, hence no up-front region-count estimate per support);
* the authors' Riemann-Stieltjes grid (polyattr.attribution.approximate) at N = 100 and N = 1000:
  seconds and max_j |error|.  The grid costs N^d cells per distribution function; grids above
  --max-cells cells are not run and the table says so ("n/a: N^d = ...");
* Monte Carlo with 10^4 and 10^6 samples (random permutations and background points for
  shapley_uniform): seconds and max_j |error|;
* the ratio (grid N = 1000 seconds) / (exact seconds) where the N = 1000 grid ran.

Then exact Integrated Gradients (segment walk) versus a 50-step midpoint Riemann sum.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from polyattr import attribute, random_network
from polyattr.attribution.approximate import riemann_ig, riemann_stieltjes_grid, sampled_attribution

METHODS = ("fafp_global", "pdp", "shapley_uniform")


def median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def fmt_cell(seconds, error):
    return f"{seconds:8.3f} {error:8.1e}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no 10^6 Monte Carlo")
    parser.add_argument("--max-cells", type=float, default=2e7, help="largest grid (N^d cells) to run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    grid_repeats = 1 if args.quick else 3
    mc_sizes = (10**4,) if args.quick else (10**4, 10**6)

    print("exact polyattr vs Riemann-Stieltjes grid (RS) vs Monte Carlo (MC): seconds (median) and max |error|")
    head = (f"{'d':>2} {'hidden':>8} {'method':<16} {'exact s':>8} {'nb s':>7} {'regions':>7} | {'RS N=100 s':>10} {'err':>7} | "
            f"{'RS N=1000 s':>11} {'err':>7} | " + " | ".join(f"{'MC ' + f'{n:.0e}' + ' s':>10} {'err':>7}" for n in mc_sizes)
            + f" | {'RS1000/exact':>12}")
    print(head)
    print("-" * len(head))
    ratios_2d = []
    for d in (2, 3, 4):
        for hidden in ((16, 16), (32, 32)):
            rng = np.random.default_rng(args.seed + 10 * d + hidden[0])
            net = random_network([d, *hidden, 1], rng=rng)
            x = np.round(rng.uniform(0.1, 0.9, size=d), 3)
            for method in METHODS:
                attribute(net, x, method)  # warm-up: numba JIT, imports
                t_exact, res = median_time(lambda: attribute(net, x, method), repeats)
                t_nb, _ = median_time(lambda: attribute(net, x, method, max_regions=None), repeats)
                exact = res.values
                cells = []
                t_1000 = None
                for N in (100, 1000):
                    if float(N) ** d > args.max_cells:
                        cells.append(f"{'n/a: N^d=' + f'{float(N) ** d:.0e}':>19}")
                        continue
                    t_grid, grid = median_time(
                        lambda: riemann_stieltjes_grid(net, {"method": method, "x": x}, N, max_cells=int(args.max_cells)),
                        grid_repeats)
                    err = float(np.max(np.abs(grid.values - exact)))
                    cells.append(f"{t_grid:{10 if N == 100 else 11}.3f} {err:7.1e}")
                    if N == 1000:
                        t_1000 = t_grid
                mc_cells = []
                for n in mc_sizes:
                    t_mc, est = median_time(lambda: sampled_attribution(net, x, method, n=n, rng=args.seed), 1)
                    mc_cells.append(f"{t_mc:10.3f} {float(np.max(np.abs(est.values - exact))):7.1e}")
                ratio = f"{t_1000 / t_exact:11.0f}x" if t_1000 is not None else f"{'-':>12}"
                if t_1000 is not None and d == 2:
                    ratios_2d.append((method, hidden, t_1000 / t_exact, t_1000 / t_nb))
                print(f"{d:>2} {'x'.join(map(str, hidden)):>8} {method:<16} {t_exact:8.4f} {t_nb:7.4f} {res.regions:7d} | "
                      f"{cells[0]} | {cells[1]} | " + " | ".join(mc_cells) + f" | {ratio}")
    print("\nn/a: the grid has N^d cells (model evaluations); above --max-cells it is not run.")
    for method in METHODS:
        rs = [r for m, _, r, _ in ratios_2d if m == method]
        nb = [r for m, _, _, r in ratios_2d if m == method]
        if rs:
            target = " (issue target for the global attribution: >= 100x -> " + ("met)" if min(rs) >= 100 else "NOT met)")
            print(f"2-input networks, {method}: exact is {min(rs):.0f}x to {max(rs):.0f}x faster than the N = 1000 grid "
                  f"({min(nb):.0f}x to {max(nb):.0f}x without the region budget)" + (target if method == "fafp_global" else ""))

    print("\nIntegrated Gradients: exact (segment walk) vs 50-step midpoint Riemann sum, baseline 0")
    print(f"{'d':>2} {'hidden':>8} {'exact ms':>8} {'breakpoints':>11} | {'riemann50 ms':>12} {'max |err|':>9} | "
          f"{'completeness gap exact':>22} {'riemann':>9}")
    for d in (2, 3, 4):
        for hidden in ((16, 16), (32, 32)):
            rng = np.random.default_rng(args.seed + 10 * d + hidden[0])
            net = random_network([d, *hidden, 1], rng=rng)
            x = np.round(rng.uniform(0.1, 0.9, size=d), 3)
            attribute(net, x, "ig")
            t_exact, res = median_time(lambda: attribute(net, x, "ig"), repeats)
            t_r, approx = median_time(lambda: riemann_ig(net, x, np.zeros(d), 50), repeats)
            gap = float(net(x) - net(np.zeros(d)))
            breakpoints = res.info.get("breakpoints", res.info.get("pieces", "?"))
            if isinstance(breakpoints, (list, tuple, np.ndarray)):
                breakpoints = len(breakpoints)
            print(f"{d:>2} {'x'.join(map(str, hidden)):>8} {t_exact * 1e3:8.3f} {str(breakpoints):>11} | {t_r * 1e3:12.3f} "
                  f"{float(np.max(np.abs(approx - res.values))):9.1e} | {abs(res.values.sum() - gap):22.1e} "
                  f"{abs(approx.sum() - gap):9.1e}")


if __name__ == "__main__":
    main()
