#!/usr/bin/env python
"""Optimal aggregation ([AGG], THEORY.md §6), checked exactly in rational arithmetic.

Run: ``python proofs/aggregation.py``. Prints a table and exits non-zero if a claim fails.

For a criterion Q(phi) = E||gamma_1 phi - gamma_2||^2 and convex weights w (sum 1), phi^w = sum w_i phi^i:

1. **Decomposition** (the ambiguity decomposition of Krogh & Vedelsby that [AGG] builds on):

       Q(phi^w) = sum_i w_i Q(phi^i) - sum_i w_i E||gamma_1 (phi^i - phi^w)||^2,

   checked *exactly* (Fractions) for infidelity with I uniform on [-r, r]^d -- Q(.) from the exact
   quadratic form (M, m, s) of polyattr.metrics applied to the aggregated vector itself, and
   E||gamma_1 (phi^i - phi^w)||^2 = (phi^i - phi^w)^T M (phi^i - phi^w) -- and for sensitivity of
   gradient-type methods (exact Gram Gamma: Q(phi^w) = w^T Gamma w, the spread term
   (e_i - w)^T Gamma (e_i - w)); at the optimal weights, the uniform weights and random rational weights;
2. **Homogeneity**: w^T Gamma w equals Q(phi^w) computed from the aggregated vector, exactly;
3. **Never worse**: the certified optimum is <= the best single method and <= the uniform mix, exactly;
4. **KKT certificate**: the exact optimum found by support enumeration satisfies stationarity,
   primal/dual feasibility and complementary slackness in Fractions, the Gram matrix is exactly
   PSD, and cvxpy's value (through ``polyattr.optimize.aggregate``) agrees with it.

Random networks with 2 and 3 inputs; methods gradient, gradient_x_input, occlusion, ig, shapley,
smoothgrad_uniform (infidelity, scale-normalised by Yeh's optimal factor) and gradient,
gradient_x_input (sensitivity).
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction

import numpy as np

from polyattr.metrics import gram, infidelity_quadratic_form
from polyattr.models.io import random_network
from polyattr.optimize.aggregation import aggregate
from polyattr.optimize.simplex import exact_simplex_optimum, solve_on_simplex

FAILURES: list[str] = []
RADIUS = Fraction(1, 10)
INFIDELITY_METHODS = ["gradient", "gradient_x_input", "occlusion", "ig", "shapley", "smoothgrad_uniform"]
SENSITIVITY_METHODS = ["gradient", "gradient_x_input"]
CASES = [([2, 8, 1], 1, [Fraction(3, 10), Fraction(7, 10)]), ([2, 8, 8, 1], 2, [Fraction(1, 2), Fraction(1, 4)]),
         ([3, 8, 1], 3, [Fraction(2, 5), Fraction(3, 5), Fraction(1, 5)]),
         ([3, 6, 6, 1], 4, [Fraction(7, 10), Fraction(1, 2), Fraction(3, 10)])]


def claim(ok: bool, message: str) -> None:
    if not ok:
        FAILURES.append(message)
        print(f"  CLAIM FAILED: {message}")


def random_weights(rng, K):
    raw = [Fraction(int(v)) for v in rng.integers(0, 20, size=K)]
    total = sum(raw) or Fraction(1)
    return [v / total for v in raw] if sum(raw) else [Fraction(1, K)] * K


def quad(w, G):
    K = len(w)
    return sum((w[i] * G[i][j] * w[j] for i in range(K) for j in range(K)), start=Fraction(0))


def infidelity_case(net, x, rng):
    form = infidelity_quadratic_form(net, x, RADIUS, exact=True)
    g = gram(net, x, INFIDELITY_METHODS, "infidelity", RADIUS, exact=True)
    claim(g.exact, "infidelity Gram is exact")
    # scale-normalised attributions psi_i = beta_i phi_i (Yeh's optimal beta, exact)
    psis = []
    for phi in g.attributions:
        beta = form.optimal_scale(phi)[0]
        psis.append(np.array([beta * v for v in phi], dtype=object))
    K = len(psis)
    G = [[Fraction(v) for v in row] for row in form.gram(psis)[0]]
    Q = [form.value(p)[0] for p in psis]
    cert = exact_simplex_optimum(G)
    claim(cert.valid, f"KKT certificate of the infidelity optimum ({cert.checks})")
    rows = []
    for label, w in (("optimal", list(cert.weights)), ("uniform", [Fraction(1, K)] * K),
                     ("random", random_weights(rng, K))):
        mix = sum((wi * p for wi, p in zip(w, psis)), start=np.zeros(len(x), dtype=object))
        lhs = form.value(mix)[0]
        spread = sum((wi * ((p - mix) @ form.M @ (p - mix)) for wi, p in zip(w, psis)), start=Fraction(0))
        rhs = sum((wi * qi for wi, qi in zip(w, Q)), start=Fraction(0)) - spread
        claim(lhs == rhs, f"infidelity decomposition at {label} weights: {float(lhs)} != {float(rhs)}")
        claim(quad(w, G) == lhs, f"w^T Gamma w == INFD(phi^w) at {label} weights")
        rows.append((label, lhs))
    best_single = min(Q)
    uniform_value = rows[1][1]
    claim(cert.value <= best_single, "infidelity optimum <= best single method")
    claim(cert.value <= uniform_value, "infidelity optimum <= uniform mix")
    res = aggregate(net, x, INFIDELITY_METHODS, "faith", radius=RADIUS, exact=True)
    claim(res.certified and res.exact, f"aggregate(faith) certified ({res.certification.reason})")
    claim(abs(res.value - float(cert.value)) <= 1e-6 * max(abs(float(v)) for r in G for v in r),
          "aggregate(faith) value equals the exact optimum")
    return cert, best_single, uniform_value, res


def sensitivity_case(net, x, rng):
    g = gram(net, x, SENSITIVITY_METHODS, "sensitivity", RADIUS, exact=True)
    claim(g.exact, "sensitivity Gram of gradient-type methods is exact")
    G = [[Fraction(v) for v in row] for row in g.matrix]
    K = len(G)
    for label, w in (("uniform", [Fraction(1, K)] * K), ("random", random_weights(rng, K))):
        spread = Fraction(0)
        for i in range(K):
            e = [Fraction(int(i == j)) - w[j] for j in range(K)]
            spread += w[i] * quad(e, G)
        rhs = sum((w[i] * G[i][i] for i in range(K)), start=Fraction(0)) - spread
        claim(quad(w, G) == rhs, f"sensitivity decomposition at {label} weights")
    cert = exact_simplex_optimum(G)
    claim(cert.valid, "KKT certificate of the sensitivity optimum")
    claim(cert.value <= min(G[i][i] for i in range(K)), "sensitivity optimum <= best single method")
    claim(cert.value <= quad([Fraction(1, K)] * K, G), "sensitivity optimum <= uniform mix")
    sol = solve_on_simplex(G)
    claim(abs(sol.value - float(cert.value)) <= 1e-6 * max(abs(float(v)) for r in G for v in r),
          "cvxpy agrees with the exact sensitivity optimum")
    return cert


def main() -> int:
    rng = np.random.default_rng(2406_05090)
    start = time.perf_counter()
    print(f"{'network':<14} {'x':<18} {'INFD best single':>17} {'INFD uniform':>13} {'INFD optimum':>13} "
          f"{'support':>8} {'SENS optimum':>13} {'weights (faith)':<40}")
    for sizes, seed, x in CASES:
        net = random_network(sizes, rng=seed)
        cert, best, uniform, res = infidelity_case(net, x, rng)
        sens = sensitivity_case(net, x, rng)
        xs = ",".join(str(v) for v in x)
        print(f"{'x'.join(map(str, sizes)):<14} {xs:<18} {float(best):17.6e} {float(uniform):13.6e} "
              f"{float(cert.value):13.6e} {len(cert.support):>8} {float(sens.value):13.6e} "
              f"{np.array2string(res.weights, precision=3, suppress_small=True):<40}")
    print(f"{len(CASES)} networks, {len(INFIDELITY_METHODS)} methods, exact rationals, "
          f"{time.perf_counter() - start:.1f} s")
    if FAILURES:
        print(f"aggregation: {len(FAILURES)} claims FAILED")
        return 1
    print("aggregation: decomposition, homogeneity, never-worse and KKT certificate hold exactly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
