"""Data sets in one call: batch attributions versus single calls, Monte Carlo, shap and Captum.

Run:  python benchmarks/datasets.py [--quick]

Tables (figures measured on this machine in this run; nothing is asserted):

1. shapley_uniform and pdp of a 4-input [32, 32] network for n points (1,000; 100 with --quick):
   one batch call ``attribute(model, X, method)`` versus single calls (timed on 50 random rows and
   extrapolated per point), seconds per point and the ratio.
2. Exact shapley_uniform / pdp at one point versus a Monte Carlo estimate (polyattr's
   ``sampled_attribution``: random permutations and uniform background points) with the smallest
   sample count of 10^3 .. 10^6 reaching max error 1e-3 (error against the exact value), and shap's
   ExactExplainer with a 1,000-row uniform background (its error against the exact value).
3. Integrated Gradients of an 8-input [64, 64] network at 100 points (baseline 0): polyattr's exact
   batch versus Captum's IntegratedGradients with n_steps=50, batched, and Captum's error.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from polyattr import attribute, random_network
from polyattr.attribution.approximate import sampled_attribution


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def batch_rows(n=1000, singles=50, seed=0):
    net = random_network([4, 32, 32, 1], rng=np.random.default_rng(seed))
    X = np.random.default_rng(seed + 1).uniform(0.02, 0.98, size=(n, 4))
    attribute(net, X[:2], "pdp")  # load kernels
    # single calls on a random subset of the rows, extrapolated per point (1,000 would take many minutes)
    subset = np.sort(np.random.default_rng(seed + 2).choice(n, size=min(singles, n), replace=False))
    out = []
    for method in ("shapley_uniform", "pdp"):
        t_batch, batch = _timed(lambda: attribute(net, X, method, progress=False))
        t_single, res = _timed(lambda: [attribute(net, X[i], method) for i in subset])
        diff = max(float(np.max(np.abs(batch.values[i] - r.values))) for i, r in zip(subset, res))
        out.append(dict(method=method, n=n, batch_per_point=t_batch / n, single_per_point=t_single / len(subset),
                        ratio=(t_single / singles) / (t_batch / n), diff=diff,
                        bound=batch.error_bound + max(r.error_bound for r in res)))
    return out


def peer_rows(seed=0, background=1000):
    import shap

    net = random_network([4, 32, 32, 1], rng=np.random.default_rng(seed))
    x = np.random.default_rng(seed + 2).uniform(0.1, 0.9, size=4)
    attribute(net, x, "pdp")
    out = []
    for method in ("shapley_uniform", "pdp"):
        t_exact, exact = _timed(lambda: attribute(net, x, method))
        row = dict(method=method, exact_s=t_exact)
        for n in (10**3, 10**4, 10**5, 10**6):
            t_mc, est = _timed(lambda: sampled_attribution(net, x, method, n=n, rng=np.random.default_rng(seed)))
            err = float(np.max(np.abs(np.asarray(est.values, float) - exact.values)))
            row.update(mc_n=n, mc_s=t_mc, mc_err=err)
            if err <= 1e-3:
                break
        if method == "shapley_uniform":
            bg = np.random.default_rng(seed + 3).uniform(size=(background, 4))
            explainer = shap.explainers.Exact(lambda Z: net(np.asarray(Z, float)), bg)
            explainer((1.0 - x)[None, :])  # shap's first call compiles its numba kernels: time a warm one
            t_shap, sv = _timed(lambda: explainer(x[None, :]).values[0])
            row.update(shap_s=t_shap, shap_err=float(np.max(np.abs(sv - exact.values))))
        out.append(row)
    return out


def ig_rows(n=100, seed=0):
    import torch
    from captum.attr import IntegratedGradients

    net = random_network([8, 64, 64, 1], rng=np.random.default_rng(seed))
    X = np.random.default_rng(seed + 4).uniform(size=(n, 8))
    layers = []
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        lin = torch.nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.asarray(W, float)))
            lin.bias.copy_(torch.from_numpy(np.asarray(b, float)))
        layers += [lin] + ([torch.nn.ReLU()] if i < len(net.weights) - 1 else [])
    module = torch.nn.Sequential(*layers)
    attribute(net, X[:2], "ig")
    t_ours, ours = _timed(lambda: attribute(net, X, "ig", progress=False))
    ig = IntegratedGradients(lambda t: module(t)[:, 0])
    inputs = torch.from_numpy(X)
    t_captum, theirs = _timed(lambda: ig.attribute(inputs, baselines=torch.zeros_like(inputs), n_steps=50,
                                                   method="riemann_middle").detach().numpy())
    return dict(n=n, polyattr_s=t_ours, captum_s=t_captum, ratio=t_captum / t_ours,
                captum_err=float(np.max(np.abs(theirs - ours.values))), bound=ours.error_bound)


def print_tables(batches, peers, ig):
    print("1. batch vs single calls, 4-input [32,32] network (single calls timed on 50 random rows, extrapolated per point)")
    print(f"   {'method':<17}{'n':>6}{'batch ms/pt':>13}{'single ms/pt':>14}{'ratio':>8}{'max|diff|':>11}")
    for r in batches:
        print(f"   {r['method']:<17}{r['n']:>6}{r['batch_per_point'] * 1e3:13.2f}{r['single_per_point'] * 1e3:14.2f}"
              f"{r['ratio']:8.1f}{r['diff']:11.1e}")
    print("2. exact at one point vs Monte Carlo reaching 1e-3 and shap ExactExplainer (1,000-row uniform background)")
    for r in peers:
        line = (f"   {r['method']:<17} exact {r['exact_s'] * 1e3:8.1f} ms | MC n={r['mc_n']:.0e} {r['mc_s'] * 1e3:8.1f} ms "
                f"err {r['mc_err']:.1e}")
        if "shap_s" in r:
            line += f" | shap {r['shap_s'] * 1e3:8.1f} ms err {r['shap_err']:.1e}"
        print(line)
    print(f"3. IG, 8-input [64,64], {ig['n']} points: polyattr exact batch {ig['polyattr_s']:.3f} s, Captum n_steps=50 "
          f"batched {ig['captum_s']:.3f} s (ratio {ig['ratio']:.2f}x), Captum error {ig['captum_err']:.1e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print_tables(batch_rows(100 if args.quick else 1000), peer_rows(), ig_rows())


if __name__ == "__main__":
    main()
