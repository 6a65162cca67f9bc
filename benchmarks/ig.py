"""Exact Integrated Gradients (segment walk) against a 50-step Riemann IG, 8-input [64, 64] network.

Prints, for the same network and the same (x, x') pairs: the median wall time of one exact IG
(float mode, breakpoints of the activation pattern along the path) and of one 50-step Riemann IG
(midpoint rule; one batched forward and backward pass in numpy, no Python loop over steps), and
their errors against the exact rational IG (Fractions, computed once per pair):
max_j |IG_j - IG_exact_j|, plus the completeness gap |sum IG - (f(x) - f(x'))|.

Usage: python benchmarks/ig.py [--pairs 20] [--repeats 200] [--steps 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from polyattr.attribution.gradient_methods import integrated_gradients
from polyattr.models.relu import ReLUNetwork


def random_network(rng, sizes):
    Ws, bs = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        Ws.append(rng.normal(size=(n_out, n_in)) * np.sqrt(2.0 / n_in))
        bs.append(rng.normal(size=n_out) * 0.1)
    return ReLUNetwork(Ws, bs)


def _riemann_ig(weights, biases, x, baseline, steps):
    """Midpoint-rule IG: one batched forward pass over the path points, one batched backward pass."""
    t = (np.arange(steps) + 0.5) / steps
    Z = baseline + t[:, None] * (x - baseline)
    masks, h = [], Z
    for W, b in zip(weights[:-1], biases[:-1]):
        a = h @ W.T + b
        m = a > 0
        masks.append(m)
        h = a * m
    g = weights[-1][0] * masks[-1]
    for li in range(len(masks) - 1, 0, -1):
        g = (g @ weights[li]) * masks[li - 1]
    return (x - baseline) * (g.mean(axis=0) @ weights[0])


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    net = random_network(rng, [8, 64, 64, 1])
    exact_net = net.to_exact()
    Ws, bs = list(net.weights), list(net.biases)
    t_exact, t_riem, err_exact, err_riem, gap_exact, gap_riem, pieces, bounds, t_rational = ([] for _ in range(9))
    for _ in range(args.pairs):
        x, xb = rng.random(8), rng.random(8)
        t0 = time.perf_counter()
        ref, ref_pieces, _ = integrated_gradients(exact_net, x, xb, 0, exact=True)
        t_rational.append(time.perf_counter() - t0)
        ref = np.array([float(v) for v in ref])
        ig, pcs, bound = integrated_gradients(net, x, xb, 0)
        rig = _riemann_ig(Ws, bs, x, xb, args.steps)
        diff = float(net(x) - net(xb))
        err_exact.append(float(np.max(np.abs(ig - ref))))
        err_riem.append(float(np.max(np.abs(rig - ref))))
        gap_exact.append(abs(float(ig.sum()) - diff))
        gap_riem.append(abs(float(rig.sum()) - diff))
        pieces.append(len(pcs))
        bounds.append(bound)
        t_exact.append(median_seconds(lambda: integrated_gradients(net, x, xb, 0), args.repeats))
        t_riem.append(median_seconds(lambda: _riemann_ig(Ws, bs, x, xb, args.steps), args.repeats))
    me, mr = statistics.median(t_exact), statistics.median(t_riem)
    print(f"network 8-[64,64]-1, {args.pairs} random (x, x') pairs in [0,1]^8, {args.repeats} repeats each")
    print(f"pieces along the path: median {statistics.median(pieces)}, max {max(pieces)}")
    print(f"exact IG (float segment walk):  median {me * 1e6:8.1f} us   max error vs rational {max(err_exact):.2e}"
          f"   (stated bound, max {max(bounds):.2e})   completeness gap max {max(gap_exact):.2e}")
    print(f"Riemann IG, {args.steps} midpoint steps: median {mr * 1e6:8.1f} us   max error vs rational {max(err_riem):.2e}"
          f"   median error {statistics.median(err_riem):.2e}   completeness gap max {max(gap_riem):.2e}")
    print(f"exact IG in rationals (Fractions): median {statistics.median(t_rational) * 1e3:.1f} ms")
    from polyattr.attribution.api import attribute

    x, xb = rng.random(8), rng.random(8)
    t_api = median_seconds(lambda: attribute(net, x, "ig", baseline=xb), args.repeats)
    print(f"attribute(net, x, 'ig') end to end (validation, result object): median {t_api * 1e6:.1f} us")
    print(f"speed ratio exact/Riemann: {me / mr:.2f} ({'no slower' if me <= mr else 'SLOWER'})")
    return 0 if me <= mr else 1


if __name__ == "__main__":
    raise SystemExit(main())
