"""Data sets in one call: batches against single calls, and exact shapley_uniform against Monte Carlo.

Run:  python benchmarks/batches.py [--n 1000] [--singles 50] [--quick] [--seed 0]

Tables (figures measured on this machine in this run; nothing is asserted beyond the values
agreeing within their stated bounds):

1. pdp and shapley_uniform of a 4-input [32, 32] network at n random points of the unit cube
   (1,000; 100 with --quick): one batch call ``attribute(model, X, method)`` versus single calls
   (timed on ``--singles`` random rows, 50 by default, and extrapolated per point: the 1,000 single
   calls would take many minutes), seconds per point, their ratio, the largest
   difference and the batch's error bound, enumerations and slices integrated from the stored
   partition.  Batches integrate every row's one-fixed-coordinate slices from the box's triangulated
   partition (polyattr.attribution.slice_batches) and every row's lines from the proven line kernel
   (polyattr.attribution.line_batches); slices with two free coordinates are enumerated per row,
   as single calls enumerate each slice's regions.
2. shapley_uniform at the first point: exact (single call, and per point in the batch) versus a
   plain-numpy Monte Carlo estimate (random permutations with uniform background points, d + 1
   network evaluations per sample, 256-row blocks) run with the sample count whose 95% confidence
   half-width (1.96 sigma / sqrt(N), sigma from a pilot run) is 1e-3 for every feature; printed:
   N, seconds, the half-width reached and the actual error against the exact value.
3. (not with --quick) smaller networks, 200 points: ICE, pdp and shapley_uniform, batch vs loop.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from polyattr import attribute, random_network

SMALL_CASES = [(2, (16, 16), "ice"), (2, (16, 16), "shapley_uniform"), (2, (16, 16), "pdp"), (3, (10, 10), "ice"),
               (3, (10, 10), "shapley_uniform"), (4, (8, 8), "ice"), (4, (8, 8), "pdp")]
BLOCK = 256


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def numpy_forward(net, Z):
    """The network in plain numpy (ReLU hidden layers), 256-row blocks (one BLAS thread each)."""
    layers = [(np.asarray(W, float).T.copy(), np.asarray(b, float)) for W, b in zip(net.weights, net.biases)]
    out = np.empty(len(Z))
    for s in range(0, len(Z), BLOCK):
        h = Z[s:s + BLOCK]
        for i, (WT, b) in enumerate(layers):
            h = h @ WT + b
            if i < len(layers) - 1:
                np.maximum(h, 0.0, out=h)
        out[s:s + BLOCK] = h[:, 0]
    return out


def monte_carlo_shapley_uniform(net, x, n, rng):
    """Interventional Shapley (uniform background on [0, 1]^d) by permutation sampling.

    Per sample: a random order pi and a background point z; x's features are switched in along pi
    and each switch's change of f is that feature's contribution.  Returns (mean (d,), standard
    error (d,)).
    """
    d = len(x)
    Z = rng.uniform(size=(n, d))
    order = np.argsort(rng.uniform(size=(n, d)), axis=1)
    chain = np.repeat(Z[:, None, :], d + 1, axis=1)  # (n, d + 1, d): step k has pi_0..pi_{k-1} from x
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(d)[None, :]
    steps = np.arange(d + 1)[None, :, None]
    switched = rank[:, None, :] < steps
    chain = np.where(switched, x[None, None, :], chain)
    values = numpy_forward(net, chain.reshape(-1, d)).reshape(n, d + 1)
    gains = np.diff(values, axis=1)  # gain of the feature switched at step k
    contrib = np.empty((n, d))
    contrib[np.arange(n)[:, None], order] = gains
    return contrib.mean(axis=0), contrib.std(axis=0, ddof=1) / np.sqrt(n)


def batch_table(n, singles, seed):
    net = random_network([4, 32, 32, 1], rng=np.random.default_rng(seed))
    X = np.random.default_rng(seed + 1).uniform(0.02, 0.98, size=(n, 4))
    attribute(net, X[:3], "pdp")  # compile / load the kernels
    attribute(net, X[:3], "shapley_uniform")
    # single calls take ~1 s each: they are timed on a random subset of the rows (the first row, for
    # the Monte Carlo table, and singles - 1 others) and extrapolated per point
    subset = np.concatenate([[0], np.sort(np.random.default_rng(seed + 2).choice(np.arange(1, n), size=min(singles, n) - 1,
                                                                                replace=False))])
    rows = []
    for method in ("pdp", "shapley_uniform"):
        t_batch, batch = _timed(lambda: attribute(net, X, method, progress=False))
        t_single, res = _timed(lambda: [attribute(net, X[i], method) for i in subset])
        diff = max(float(np.max(np.abs(batch.values[i] - r.values))) for i, r in zip(subset, res))
        bound = batch.error_bound + max(r.error_bound for r in res)
        assert diff <= bound, (method, diff, bound)
        rows.append(dict(method=method, n=n, batch=t_batch / n, single=t_single / len(subset), singles=len(subset),
                         diff=diff, bound=batch.error_bound, enumerations=batch.info["enumerations"],
                         cuts=batch.info["cuts"], result=batch, single_result=res[0]))
    return net, X, rows


def monte_carlo_row(net, x, exact_values, target=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    _, pilot_se = monte_carlo_shapley_uniform(net, x, 4000, rng)
    sigma = float(np.max(pilot_se)) * math.sqrt(4000)
    n = int(math.ceil((1.96 * sigma / target) ** 2))
    t_mc, (mean, se) = _timed(lambda: monte_carlo_shapley_uniform(net, x, n, np.random.default_rng(seed + 1)))
    return dict(n=n, seconds=t_mc, half_width=float(np.max(1.96 * se)),
                error=float(np.max(np.abs(mean - exact_values))))


def print_batch_table(rows):
    print("1. batch vs single calls, 4-input [32, 32] network, points uniform in [0.02, 0.98]^4; single calls timed on "
          f"{rows[0]['singles']} random rows of the batch (row 0 among them) and extrapolated per point; values are floats "
          "with a proven error bound ('bound'), checked against the single calls")
    print(f"   {'method':<17}{'n':>6}{'batch ms/pt':>13}{'single ms/pt':>14}{'ratio':>8}{'max|diff|':>11}"
          f"{'bound':>10}{'enum':>6}{'slices':>8}")
    for r in rows:
        print(f"   {r['method']:<17}{r['n']:>6}{r['batch'] * 1e3:13.2f}{r['single'] * 1e3:14.2f}"
              f"{r['single'] / r['batch']:8.1f}{r['diff']:11.1e}{r['bound']:10.1e}{r['enumerations']:>6}{r['cuts']:>8}")


def small_table(n, seed):
    print(f"3. smaller networks, {n} points: batch vs loop of single calls")
    print(f"   {'d':>2} {'hidden':<9}{'method':<17}{'batch s':>9}{'loop s':>9}{'loop/batch':>11}{'enum':>6}{'slices':>8}")
    for d, hidden, method in SMALL_CASES:
        net = random_network([d, *hidden, 1], rng=seed)
        X = np.random.default_rng(seed).uniform(0.02, 0.98, size=(n, d))
        t_batch, batch = _timed(lambda: attribute(net, X, method, progress=False))
        t_loop, singles = _timed(lambda: [attribute(net, x, method) for x in X])
        diff = max(float(np.max(np.abs(batch.values[i] - s.values))) for i, s in enumerate(singles))
        assert diff <= batch.error_bound + max(s.error_bound for s in singles), (method, diff)
        print(f"   {d:>2} {str(list(hidden)):<9}{method:<17}{t_batch:9.3f}{t_loop:9.3f}{t_loop / t_batch:11.2f}"
              f"{batch.info['enumerations']:>6}{batch.info['cuts']:>8}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="points per batch (default 1000, 100 with --quick)")
    parser.add_argument("--singles", type=int, default=None,
                        help="single calls timed on a random subset of the rows (default 50, 10 with --quick)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n = args.n or (100 if args.quick else 1000)
    singles = args.singles or (10 if args.quick else 50)
    net, X, rows = batch_table(n, singles, args.seed)
    print_batch_table(rows)
    su = next(r for r in rows if r["method"] == "shapley_uniform")
    exact = su["single_result"].values
    mc = monte_carlo_row(net, X[0], exact, seed=args.seed)
    print(f"2. shapley_uniform at x = {np.round(X[0], 3).tolist()} (row 0): polyattr's result is a float with a proven "
          f"error bound (not rationals): {su['single'] * 1e3:.1f} ms per single call, "
          f"{su['batch'] * 1e3:.2f} ms per point in the batch (bound {su['bound']:.1e})")
    print(f"   numpy Monte Carlo to a 95% half-width of 1e-3: N = {mc['n']:,} samples x {X.shape[1] + 1} evaluations, "
          f"{mc['seconds'] * 1e3:.1f} ms (half-width {mc['half_width']:.1e}, actual error {mc['error']:.1e}); "
          f"MC / exact: {mc['seconds'] / su['single']:.2f}x single call, {mc['seconds'] / su['batch']:.1f}x batch point")
    if not args.quick:
        small_table(200, args.seed)


if __name__ == "__main__":
    main()
