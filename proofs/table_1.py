#!/usr/bin/env python
"""Table 1 of [FAFP] (THEORY.md §3.3): classic methods are integrals against measures mu_{j,x}.

Run: ``python proofs/table_1.py``. Prints a table and exits non-zero if a claim fails.

For random ReLU networks, inputs x and baselines x' on two domains (the unit cube and a box with
unequal sides), three computations of each method must agree:

* **measure form**: ``attribute(model, x, method="measure", measures=family)`` with polyattr's
  families ``occlusion_measures``, ``shapley_measures`` (baseline Shapley), ``pdp_measures``,
  ``shapley_uniform_measures`` (interventional Shapley, uniform background), integrated exactly
  over the linear regions (Corollary 4.1);
* **direct implementation**: ``attribute(model, x, method="occlusion" | "shapley" | "pdp" |
  "shapley_uniform")``, which takes its own route (e.g. baseline Shapley evaluates the 2^d hybrid
  points once instead of building 2^d measures per feature);
* **independent numpy implementation**, written below from the definitions with its own forward
  pass: occlusion and baseline Shapley (the latter by the d! permutations) up to rounding; PDP and
  interventional Shapley by Monte Carlo over the uniform law with common random numbers, which
  must contain the exact value in a 5-sigma interval; for d = 2 the PDP's one-dimensional
  integrals also exactly, by integrating the piecewise-linear section between its kinks.

Measure form vs direct must agree within the sum of their reported error bounds; for the point
methods, exact mode (rationals) must give identical values.
"""

from __future__ import annotations

import itertools
import math
import sys
import time

import numpy as np

from polyattr.attribution.api import attribute
from polyattr.attribution.measure_methods import (
    occlusion_measures,
    pdp_measures,
    shapley_measures,
    shapley_uniform_measures,
)
from polyattr.geometry.domains import Box
from polyattr.models.io import random_network

FAILURES: list[str] = []
MC_SAMPLES = 50_000
SIGMAS = 5.0


def claim(ok: bool, message: str) -> None:
    if not ok:
        FAILURES.append(message)
        print(f"  CLAIM FAILED: {message}")


# ------------------------------------------------------------------ independent numpy reference
def forward(weights, biases, Z):
    """The network at the rows of Z (own code: no polyattr)."""
    h = np.atleast_2d(Z)
    for W, b in zip(weights[:-1], biases[:-1]):
        h = np.maximum(h @ W.T + b, 0.0)
    return (h @ weights[-1].T + biases[-1])[:, 0]


def numpy_occlusion(net, x, xb):
    f = lambda Z: forward(net.weights, net.biases, Z)  # noqa: E731
    Z = np.repeat(x[None, :], len(x), axis=0)
    Z[np.arange(len(x)), np.arange(len(x))] = xb
    return f(x)[0] - f(Z)


def numpy_shapley_permutations(value, d):
    """Shapley value as the average marginal contribution over all d! orderings."""
    phi = np.zeros(d)
    orders = list(itertools.permutations(range(d)))
    for order in orders:
        S = ()
        prev = value(S)
        for j in order:
            S = tuple(sorted(S + (j,)))
            cur = value(S)
            phi[j] += cur - prev
            prev = cur
    return phi / len(orders)


def numpy_shapley(net, x, xb):
    cache = {}

    def value(S):
        if S not in cache:
            z = xb.copy()
            z[list(S)] = x[list(S)]
            cache[S] = forward(net.weights, net.biases, z)[0]
        return cache[S]
    return numpy_shapley_permutations(value, len(x))


def mc_interventional(net, x, lower, upper, rng, n=MC_SAMPLES):
    """Monte Carlo PDP and interventional Shapley (uniform background) with standard errors.

    One sample Z ~ U(box) gives every coalition value v_S(Z) = f(x_S, Z_-S) (common random numbers);
    phi_j = E[sum_S w_S (v_{S+j}(Z) - v_S(Z))] and pdp_j = E[v_{j}(Z)] are means of per-sample
    quantities, whose sample standard deviations give the standard errors.
    """
    d = len(x)
    Z = lower + (upper - lower) * rng.random((n, d))
    values = {}
    for s in range(d + 1):
        for S in itertools.combinations(range(d), s):
            P = Z.copy()
            P[:, list(S)] = x[list(S)]
            values[S] = forward(net.weights, net.biases, P)
    shap = np.zeros((n, d))
    for j in range(d):
        others = [i for i in range(d) if i != j]
        for s in range(d):
            w = math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d)
            for S in itertools.combinations(others, s):
                shap[:, j] += w * (values[tuple(sorted(S + (j,)))] - values[S])
    pdp = np.stack([values[(j,)] for j in range(d)], axis=1)
    se = lambda a: a.std(axis=0, ddof=1) / np.sqrt(n)  # noqa: E731
    return pdp.mean(axis=0), se(pdp), shap.mean(axis=0), se(shap)


def exact_section_mean(net, z, j, lo, hi):
    """(1 / (hi - lo)) int_lo^hi f(z with z_j := t) dt exactly: split at every kink along the line."""
    e = np.zeros(len(z))
    e[j] = 1.0
    base = z.copy()
    base[j] = lo
    direction = (hi - lo) * e

    def kinks(a, b):
        """Sign changes of the pre-activations on (a, b), layer by layer with the pattern at the midpoint."""
        # with the midpoint's pattern, every pre-activation is affine in t: a(t) = a(0) + t a'
        roots = []
        g0, gd, hm = base.copy(), direction.copy(), base + (a + b) / 2 * direction
        for W, bb in zip(net.weights[:-1], net.biases[:-1]):
            pre_m = W @ hm + bb
            slope = W @ gd
            val0 = W @ g0 + bb
            with np.errstate(divide="ignore", invalid="ignore"):
                t = -val0 / slope
            roots.extend(t[(slope != 0) & (t > a + 1e-13) & (t < b - 1e-13)])
            active = pre_m > 0
            g0, gd, hm = np.where(active, val0, 0.0), np.where(active, slope, 0.0), np.maximum(pre_m, 0.0)
        return roots

    pieces, total = [(0.0, 1.0)], 0.0
    while pieces:
        a, b = pieces.pop()
        r = kinks(a, b)
        if r:
            cuts = [a, *sorted(set(r)), b]
            pieces.extend(zip(cuts[:-1], cuts[1:]))
        else:  # affine on [a, b]: the trapezoid rule is exact
            fa, fb = forward(net.weights, net.biases, np.stack([base + a * direction, base + b * direction]))
            total += (b - a) * (fa + fb) / 2
    return total


# ------------------------------------------------------------------------------------- the check
DOMAINS = {
    "unit cube": lambda d: (np.zeros(d), np.ones(d)),
    "box [-1,2]x[0,1/2]x..": lambda d: (np.array([-1.0, 0.0, -0.5, 0.25][:d]), np.array([2.0, 0.5, 1.5, 1.0][:d])),
}
NETWORKS_PER_CASE = 3


def agree(a, b) -> tuple[float, float]:
    """(max |difference|, allowed) for two float Attributions: the sum of their error bounds."""
    diff = float(np.max(np.abs(np.asarray(a.values, float) - np.asarray(b.values, float))))
    allowed = a.error_bound + b.error_bound + 1e-14 * (1 + float(np.max(np.abs(a.values))))
    return diff, allowed


def main() -> int:
    start = time.perf_counter()
    rng = np.random.default_rng(41)
    rows = []
    for d in (2, 3, 4):
        for dname, make in DOMAINS.items():
            lower, upper = make(d)
            box = Box(lower, upper)
            stats = {m: [0.0, 0.0, 0.0] for m in ("occlusion", "shapley", "pdp", "shapley_uniform")}
            seconds = {m: 0.0 for m in stats}
            for _ in range(NETWORKS_PER_CASE):
                net = random_network([d, 8, 6, 1], rng=rng)
                x = lower + (upper - lower) * rng.uniform(0.05, 0.95, size=d)
                xb = lower + (upper - lower) * rng.uniform(0.05, 0.95, size=d)
                families = {
                    "occlusion": occlusion_measures(x, xb),
                    "shapley": shapley_measures(x, xb),
                    "pdp": pdp_measures(x, box),
                    "shapley_uniform": shapley_uniform_measures(x, box),
                }
                mc_pdp, se_pdp, mc_shap, se_shap = mc_interventional(net, x, lower, upper, rng)
                independent = {
                    "occlusion": (numpy_occlusion(net, x, xb), None),
                    "shapley": (numpy_shapley(net, x, xb), None),
                    "pdp": (mc_pdp, se_pdp),
                    "shapley_uniform": (mc_shap, se_shap),
                }
                for method, family in families.items():
                    t0 = time.perf_counter()
                    via_measure = attribute(net, x, "measure", baseline=xb, domain=box, measures=family)
                    direct = attribute(net, x, method, baseline=xb, domain=box)
                    seconds[method] += time.perf_counter() - t0
                    diff, allowed = agree(via_measure, direct)
                    claim(diff <= allowed, f"{method} (d={d}, {dname}): measure form vs direct differ by {diff:.3g} > {allowed:.3g}")
                    ref, se = independent[method]
                    if se is None:
                        gap = float(np.max(np.abs(direct.values - ref)))
                        ok = gap <= direct.error_bound + 1e-12 * (1 + float(np.max(np.abs(ref))))
                        z = 0.0
                    else:
                        gap = float(np.max(np.abs(direct.values - ref)))
                        # rounding floor: a section on which f is constant has a zero standard error
                        floor = direct.error_bound + 1e-12 * (1 + float(np.max(np.abs(ref))))
                        z = float(np.max(np.abs(direct.values - ref) / np.maximum(se, floor)))
                        ok = bool(np.all(np.abs(direct.values - ref) <= SIGMAS * se + floor))
                    claim(ok, f"{method} (d={d}, {dname}): direct vs independent numpy differ by {gap:.3g} (z = {z:.2f})")
                    s = stats[method]
                    s[0], s[1], s[2] = max(s[0], diff), max(s[1], gap), max(s[2], z)
                    if method == "pdp" and d == 2:
                        exact = np.array([exact_section_mean(net, x.copy(), 1 - j, lower[1 - j], upper[1 - j])
                                          for j in range(2)])
                        g = float(np.max(np.abs(direct.values - exact)))
                        claim(g <= direct.error_bound + 1e-12, f"pdp (d=2, {dname}): direct vs exact line integral differ by {g:.3g}")
                        s[1] = max(s[1], g)
                if d <= 3:  # exact mode: the point methods must agree to the last bit of a rational
                    for method in ("occlusion", "shapley"):
                        fam = occlusion_measures(x, xb, exact=True) if method == "occlusion" else shapley_measures(x, xb, exact=True)
                        a = attribute(net, x, "measure", baseline=xb, domain=box, measures=fam, exact=True)
                        b = attribute(net, x, method, baseline=xb, domain=box, exact=True)
                        claim(list(a.values) == list(b.values), f"{method} exact (d={d}, {dname}): {a.values} != {b.values}")
            for method, (diff, gap, z) in stats.items():
                rows.append((d, dname, method, diff, gap, z, seconds[method]))
    print(f"{'d':>2}  {'domain':<22}{'method':<17}{'|measure-direct|':>17}{'|direct-numpy|':>16}{'max z (MC)':>12}{'seconds':>9}")
    for d, dname, method, diff, gap, z, sec in rows:
        zs = f"{z:.2f}" if z else "exact"
        print(f"{d:>2}  {dname:<22}{method:<17}{diff:>17.2e}{gap:>16.2e}{zs:>12}{sec:>9.2f}")
    status = "FAILED" if FAILURES else "holds"
    print(f"Table 1 (measure forms = direct methods = independent numpy, {NETWORKS_PER_CASE} networks per row, "
          f"MC {MC_SAMPLES} samples, {SIGMAS:g} sigma): {status}; {len(FAILURES)} failures; "
          f"{time.perf_counter() - start:.1f} s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
