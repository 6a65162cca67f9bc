"""Baseline Shapley of a [32, 32] network at one point: polyattr beside shap's ExactExplainer.

Run:  python benchmarks/shapley_vs_shap.py [--dims 8,12,16] [--repeats 3] [--rows 50] [--quick]

shap's ExactExplainer with a one-row background (the baseline) computes baseline Shapley values;
both get the same network as a numpy function.  Printed: median seconds of each at one point, the
ratio shap / polyattr (> 1: polyattr faster), the largest difference of the values (the run stops
if it exceeds 1e-12), the exact-mode time (dyadic weights, integer kernel); then a batch of
``--rows`` points at d = 8 and 12 (polyattr vectorises over the rows, shap explains them in one
call), and the budget refusal's estimate at d = 30 (where the 2^d wall is).
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
        assert diff <= 1e-12, (d, diff)
        ex = net.to_exact()
        xq, bq = [Fraction(v) for v in x], [Fraction(v) for v in b]
        t_exact, _ = median_seconds(lambda: polyattr.attribute(ex, xq, "shapley", baseline=bq, exact=True), 1)
        out.append(dict(d=d, polyattr=t_ours, shap=t_shap, ratio=t_shap / t_ours, diff=diff, exact=t_exact))
    return out


def batch_rows(dims=(8, 12), n_rows=50, seed=0):
    """A batch of points: polyattr's vectorised batch versus shap's ExactExplainer on the same rows."""
    import shap

    out = []
    for d in dims:
        rng = np.random.default_rng(seed + d)
        net = dyadic_network(d, (32, 32), rng)
        X = rng.uniform(size=(n_rows, d))
        b = rng.uniform(size=d)
        polyattr.attribute(net, X[:2], "shapley", baseline=b)  # warm
        t_ours, ours = median_seconds(lambda: polyattr.attribute(net, X, "shapley", baseline=b, progress=False), 1)
        explainer = shap.explainers.Exact(lambda Z: net(np.asarray(Z, dtype=float)), b[None, :])
        explainer(X[:1])
        t_shap, theirs = median_seconds(lambda: explainer(X, silent=True).values, 1)
        diff = float(np.max(np.abs(ours.values - theirs)))
        assert diff <= 1e-12, (d, diff)
        out.append(dict(d=d, rows=n_rows, polyattr=t_ours, shap=t_shap, ratio=t_shap / t_ours, diff=diff,
                        bound=ours.error_bound))
    return out


def print_batch_rows(table):
    print(f"{'d':>3}{'rows':>6}{'polyattr ms/row':>17}{'shap ms/row':>13}{'shap/ours':>11}{'max |diff|':>12}{'bound':>10}")
    for r in table:
        print(f"{r['d']:>3}{r['rows']:>6}{r['polyattr'] / r['rows'] * 1e3:17.3f}{r['shap'] / r['rows'] * 1e3:13.3f}"
              f"{r['ratio']:11.2f}{r['diff']:12.1e}{r['bound']:10.1e}")


def print_rows(table):
    print(f"{'d':>3}{'polyattr s':>12}{'shap s':>10}{'shap/ours':>11}{'max |diff|':>12}{'exact s':>10}")
    for r in table:
        print(f"{r['d']:>3}{r['polyattr']:12.4f}{r['shap']:10.4f}{r['ratio']:11.2f}{r['diff']:12.1e}{r['exact']:10.3f}")
    # where the 2^d wall is: the kernel's own estimate per input ([32, 32] network)
    for d in (16, 20, 24, 30):
        memory, seconds = shapley_kernel.cost_estimate(d, [32, 32, 1])
        print(f"d = {d}: estimate {seconds:.3g} s and {memory / 2**30:.3g} GiB per input")
    try:
        shapley_kernel.check_budget(30, [32, 32, 1])
    except polyattr.PolyattrError as exc:
        print(f"d = 30: refused up front: {exc}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="8,12,16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="d = 8, 12 only, 20 rows")
    args = parser.parse_args(argv)
    dims = (8, 12) if args.quick else tuple(int(v) for v in args.dims.split(","))
    print("one point:")
    print_rows(rows(dims, 3 if args.quick else args.repeats))
    print(f"a batch of points (float; shap ExactExplainer explains the same rows in one call):")
    print_batch_rows(batch_rows((8, 12), 20 if args.quick else args.rows))


if __name__ == "__main__":
    main()
