"""Baseline Shapley of a [32, 32] network at one point: polyattr beside shap's ExactExplainer.

Run:  python benchmarks/shapley_vs_shap.py [--dims 8,12,16] [--repeats 3]

shap's ExactExplainer with a one-row background (the baseline) computes baseline Shapley values;
both get the same network as a numpy function.  Printed: median seconds of each, the ratio
shap / polyattr (> 1: polyattr faster), the largest difference of the values, the exact-mode time
(dyadic weights, integer kernel) and the budget refusal's estimate at d = 30.
"""

import argparse
import time
from fractions import Fraction

import numpy as np

import polyattr
from polyattr.attribution import shapley_kernel
from polyattr.models import ReLUNetwork


def dyadic_network(d, hidden, rng):
    sizes = [d, *hidden, 1]
    W = [np.round(rng.normal(size=(o, i)) / np.sqrt(i) * 256) / 256 for i, o in zip(sizes[:-1], sizes[1:])]
    B = [np.round(rng.normal(size=o) * 0.1 * 256) / 256 for o in sizes[1:]]
    return ReLUNetwork(W, B)


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def rows(dims=(8, 12, 16), repeats=3, seed=0):
    import shap

    out = []
    for d in dims:
        rng = np.random.default_rng(seed + d)
        net = dyadic_network(d, (32, 32), rng)
        x = np.round(rng.uniform(size=d) * 64) / 64
        b = np.round(rng.uniform(size=d) * 64) / 64
        fn = lambda X: net(np.asarray(X, dtype=float))  # noqa: E731
        polyattr.attribute(net, x, "shapley", baseline=b)  # warm
        t_ours, ours = median_seconds(lambda: polyattr.attribute(net, x, "shapley", baseline=b), repeats)
        explainer = shap.explainers.Exact(fn, b[None, :])
        explainer(x[None, :])  # warm (shap caches its masks per size)
        t_shap, theirs = median_seconds(lambda: explainer(x[None, :]).values[0], repeats)
        diff = float(np.max(np.abs(ours.values - theirs)))
        ex = net.to_exact()
        xq, bq = [Fraction(v) for v in x], [Fraction(v) for v in b]
        t_exact, _ = median_seconds(lambda: polyattr.attribute(ex, xq, "shapley", baseline=bq, exact=True), 1)
        out.append(dict(d=d, polyattr=t_ours, shap=t_shap, ratio=t_shap / t_ours, diff=diff, exact=t_exact))
    return out


def print_rows(table):
    print(f"{'d':>3}{'polyattr s':>12}{'shap s':>10}{'shap/ours':>11}{'max |diff|':>12}{'exact s':>10}")
    for r in table:
        print(f"{r['d']:>3}{r['polyattr']:12.4f}{r['shap']:10.4f}{r['ratio']:11.2f}{r['diff']:12.1e}{r['exact']:10.3f}")
    try:
        shapley_kernel.check_budget(30, [32, 32, 1])
    except polyattr.PolyattrError as exc:
        print(f"d = 30: refused up front: {exc}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="8,12,16")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print_rows(rows(tuple(int(v) for v in args.dims.split(",")), args.repeats))


if __name__ == "__main__":
    main()
