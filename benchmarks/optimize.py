"""Optimal aggregation and optimal measures: what the certificate and the exact Gram matrices cost.

Run:  python benchmarks/optimize.py [--repeats N]

1. Simplex QP, K = 2..12 methods, random Gram matrices of full rank (integer entries, exactly
   PSD) and of rank 3 (float, rounding-indefinite: certified through the shifted bracket):
   cvxpy (Clarabel) solve time, exact KKT certificate time, the number of supports the certificate
   tried, and the gap |cvxpy - exact| relative to max |G|.
2. aggregate() on the shipped default model at one input: float vs exact Gram matrices
   (objective "faith", methods gradient, gradient_x_input, occlusion, shapley), wall time and ratio.
3. Optimal measures on random ReLU networks: the LP over region vertices vs particle ascent
   (300 steps): times, atoms, and the share of the gap the ascent closes.
Times are medians over repeats (wall clock; the machine is shared, compare ratios within a run).
"""

from __future__ import annotations

import argparse
import statistics
import time
from fractions import Fraction

import numpy as np

import polyattr
from polyattr.models.io import default_model_path
from polyattr.optimize import aggregate, optimal_atomic_measures, particle_ascent
from polyattr.optimize.objectives import LinearMetric
from polyattr.optimize.simplex import certify_on_simplex, solve_on_simplex


def median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def simplex_table(repeats, rng):
    print("1. simplex QP: cvxpy vs the exact KKT certificate")
    print(f"   {'K':>3} {'Gram':<18} {'cvxpy ms':>9} {'certificate ms':>15} {'supports':>9} {'|gap|/max|G|':>13}  certified")
    for K in (2, 3, 4, 6, 8, 10, 12):
        for kind in ("full rank, exact", "rank 3, float"):
            if kind.startswith("full"):
                A = rng.integers(-5, 6, size=(K, K + 1))
                G = [[Fraction(int(v)) for v in row] for row in A @ A.T]
            else:
                A = rng.normal(size=(K, 3))
                G = A @ A.T
            t_solve, sol = median_time(lambda: solve_on_simplex(G), repeats)
            t_cert, cert = median_time(lambda: certify_on_simplex(G, sol), repeats)
            scale = max(abs(float(v)) for row in G for v in row)
            gap = abs(sol.value - float(cert.lower)) / scale
            tried = cert.certificate.supports_tried if cert.certificate else "-"
            print(f"   {K:>3} {kind:<18} {1e3 * t_solve:9.1f} {1e3 * t_cert:15.1f} {tried:>9} {gap:13.1e}  {cert.certified}")


def aggregate_table(repeats):
    model = polyattr.load_model(default_model_path())
    methods = ["gradient", "gradient_x_input", "occlusion", "shapley"]
    print("\n2. aggregate(default model, x = (0.3, 0.7), faith, 4 methods): float vs exact Gram")
    t_float, res_f = median_time(lambda: aggregate(model, [0.3, 0.7], methods, "faith"), repeats)
    t_exact, res_e = median_time(lambda: aggregate(model, [0.3, 0.7], methods, "faith", exact=True), repeats)
    print(f"   float {t_float:.3f} s (certified {res_f.certified}), exact {t_exact:.3f} s (certified {res_e.certified}, "
          f"exact Gram {res_e.exact}), ratio exact/float {t_exact / t_float:.1f}")
    print(f"   optimum float {res_f.value:.10e}, exact {float(res_e.certification.lower):.10e}")


def measures_table(repeats, rng):
    print("\n3. optimal measures on random ReLU networks: LP over region vertices vs particle ascent")
    print(f"   {'network':<10} {'supports':<8} {'atoms':>6} {'LP s':>7} {'ascent s':>9} {'LP optimum':>11} {'gap closed':>11}")
    for sizes, seed in (([2, 16, 16, 1], 1), ([3, 16, 16, 1], 2), ([4, 16, 16, 1], 3)):
        net = polyattr.random_network(sizes, rng=seed)
        d = sizes[0]
        x = rng.uniform(0.2, 0.8, size=d)
        g = tuple(rng.normal(size=d))
        for supports in ("line", "domain"):
            t_lp, lp = median_time(lambda: optimal_atomic_measures(net, LinearMetric(g), x=x, supports=supports), repeats)
            t_pa, run = median_time(lambda: particle_ascent(net, LinearMetric(g), x=x, supports=supports, steps=300, rng=0),
                                    repeats)
            closed = (run.value - run.trace[0]) / (lp.value - run.trace[0]) if lp.value != run.trace[0] else 1.0
            print(f"   {'x'.join(map(str, sizes)):<10} {supports:<8} {sum(len(a) for a in lp.atoms):>6} {t_lp:7.2f} "
                  f"{t_pa:9.2f} {lp.value:11.5f} {closed:11.4f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    simplex_table(args.repeats, rng)
    aggregate_table(args.repeats)
    measures_table(1, rng)


if __name__ == "__main__":
    main()
