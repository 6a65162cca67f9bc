#!/usr/bin/env python
"""THEORY.md §8: attributions of one parameter are piecewise closed forms with exact breakpoints.

Run: ``python proofs/symbolic_curves.py``. Prints a table and exits non-zero if a claim fails.

For small ReLU networks with dyadic weights (d = 2, and d = 3 for some methods) and every method
:func:`polyattr.symbolic.curve` covers, checks:

1. **agreement**: at 6 random rationals per curve (fresh points, not the interpolation nodes), the
   closed form equals ``attribute(..., exact=True)`` exactly;
2. **continuity / jumps at the breakpoints**: with the exact one-sided limits of the two adjacent
   pieces and exact finite differences phi(beta + h) - phi(beta - h) for h = 2^-20 (evaluated by
   ``attribute`` itself): the methods that theory says are continuous in the parameter (every
   integral of the continuous f against a measure moving continuously: occlusion, Shapley, PDP,
   ICE, interventional Shapley, IG, SmoothGrad and LIME with uniform noise, a moving uniform
   measure) have equal one-sided limits and differences O(h); the gradient and gradient x input
   (piecewise constant / linear in x_j) jump at every breakpoint: the limits differ and the
   difference stays above half the jump as h -> 0;
3. the completeness of IG along the curve: sum_j IG_j(t) = f(x(t)) - f(x') as sympy identities
   on every piece (f(x(t)) from the ICE pieces of the output itself).
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction as F

import numpy as np
import sympy

import polyattr
from polyattr import Box, ReLUNetwork
from polyattr.measures.core import Uniform
from polyattr.symbolic import curve

FAILURES: list[str] = []
H = F(1, 2**20)


def claim(ok: bool, message: str) -> None:
    if not ok:
        FAILURES.append(message)
        print("FAILED:", message)


def dyadic_network(sizes, seed):
    """Weights in multiples of 1/4; every hidden neuron's hyperplane passes through the unit cube
    (bias = -w . c for a random dyadic point c of the cube, with the previous layer's values)."""
    rng = np.random.default_rng(seed)
    Ws = [np.round(rng.normal(0, 1, (o, i)) * 4) / 4 for i, o in zip(sizes[:-1], sizes[1:])]
    bs, probe = [], rng.random((64, sizes[0]))
    for li, W in enumerate(Ws):
        pre = probe @ W.T
        c = pre[rng.integers(0, len(probe), W.shape[0]), np.arange(W.shape[0])]
        b = -np.round(c * 8) / 8 if li < len(Ws) - 1 else np.zeros(W.shape[0])
        bs.append(b)
        probe = np.maximum(pre + b, 0)
    return ReLUNetwork(Ws, bs)


def at(method, net, x, vary, t, options):
    z, opts = list(x), dict(options)
    if isinstance(vary, int):
        z[vary] = t
    elif vary == "radius":
        opts["radius"] = t
    elif isinstance(vary, str) and vary.startswith("baseline_"):
        base = list(opts.get("baseline", [0] * len(x)))
        base[int(vary.split("_")[1])] = t
        opts["baseline"] = base
    else:
        opts["measures"] = opts["family"](t)
        opts.pop("family")
    return np.array(polyattr.attribute(net, z, method, exact=True, **opts).values, dtype=object)


def check_curve(net, x, method, vary, over, continuous: bool, rng, **options):
    start = time.perf_counter()
    kwargs = dict(options)
    if "family" in kwargs:
        kwargs["measures"] = kwargs.pop("family")
    c = curve(net, x, method, vary=vary, over=over, **kwargs)
    a, b = (F(v) for v in over)
    mismatches = 0
    for _ in range(6):
        t = a + (b - a) * F(int(rng.integers(1, 9973)), 9973)
        if list(c(t)) != list(at(method, net, x, vary, t, options)):
            mismatches += 1
    claim(mismatches == 0, f"{method} vary={vary}: {mismatches} mismatches with exact attribute")
    verdicts = []
    sym = c.symbol
    for left, right in zip(c.pieces[:-1], c.pieces[1:]):
        beta = left.interval[1]
        if not beta.is_Rational:
            continue
        lim_left = [sympy.nsimplify(sympy.limit(v, sym, beta, "-")) for v in left.values]
        lim_right = [sympy.nsimplify(sympy.limit(v, sym, beta, "+")) for v in right.values]
        jump = max(abs(F(str(u - v))) for u, v in zip(lim_left, lim_right))
        bf = F(int(beta.p), int(beta.q))
        diff = max(abs(u - v) for u, v in zip(at(method, net, x, vary, bf + H, options),
                                               at(method, net, x, vary, bf - H, options)))
        if continuous:
            ok = jump == 0 and diff < 1000 * H
        else:
            ok = jump > 0 and diff > jump / 2
        verdicts.append(ok)
        claim(ok, f"{method} vary={vary} at {beta}: one-sided jump {jump}, finite difference {float(diff):.3g} "
                  f"({'continuous' if continuous else 'jump'} expected)")
    status = "ok" if mismatches == 0 and all(verdicts) else "FAILED"
    print(f"{method:<20} {str(vary):<12} {len(c.pieces):>6} {len(c.breakpoints):>6} {mismatches:>10} "
          f"{('continuous' if continuous else 'jumps'):>11} {sum(verdicts):>4}/{len(verdicts):<4} "
          f"{c.evaluations:>6} {time.perf_counter() - start:7.2f}  {status}")
    return c


def check_ig_completeness(net, x, baseline, j):
    """sum_j IG_j(t) = f(x(t)) - f(x') on every piece, with f(x(t)) from the ICE pieces of f."""
    ig = curve(net, x, "ig", vary=j, over=(0, 1), baseline=baseline)
    f0 = net.to_exact()(np.array([F(v) for v in baseline], dtype=object), output=0)
    # f(x(t)) is affine between the breakpoints of the line: recover it from the ICE curve of f,
    # the point measure delta_{x(t)} integrated by the user family
    from polyattr.measures.core import Dirac

    line = curve(net, x, "measure", vary=j, over=(0, 1),
                 measures=lambda z, i: Dirac(z, exact=True))
    sym_line = line.symbol
    ok = True
    for p in ig.pieces:
        mid = (p.interval[0] + p.interval[1]) / 2
        q = next(q for q in line.pieces if q.interval[0] <= mid <= q.interval[1])
        value_line = q.values[0].subs(sym_line, ig.symbol)
        ok &= sympy.simplify(sum(p.values) - (value_line - f0)) == 0
    claim(bool(ok), f"IG completeness along x_{j} fails on some piece")
    print(f"{'ig completeness':<20} {j:<12} {len(ig.pieces):>6}  sum_j IG_j(t) = f(x(t)) - f(x') on every piece: "
          f"{'ok' if ok else 'FAILED'}")


def main() -> int:
    start = time.perf_counter()
    rng = np.random.default_rng(2026)
    net2 = dyadic_network([2, 6, 4, 1], seed=7)
    net3 = dyadic_network([3, 4, 3, 1], seed=8)
    x2 = [F(3, 10), F(7, 10)]
    x3 = [F(3, 10), F(7, 10), F(1, 2)]
    print(f"{'method':<20} {'vary':<12} {'pieces':>6} {'breaks':>6} {'mismatches':>10} {'theory':>11} "
          f"{'holds':>9} {'evals':>6} {'seconds':>7}")
    cases = [
        (net2, x2, "gradient", 0, (0, 1), False, {}),
        (net2, x2, "gradient_x_input", 1, (0, 1), False, {}),
        (net2, x2, "ig", 0, (0, 1), True, {}),
        (net2, x2, "ig", "baseline_1", (0, 1), True, {"baseline": [F(1, 5), 0]}),
        (net2, x2, "occlusion", 1, (0, 1), True, {}),
        (net2, x2, "shapley", 0, (0, 1), True, {}),
        (net2, x2, "shapley", "baseline_0", (0, 1), True, {}),
        (net2, x2, "shapley_uniform", 0, (0, 1), True, {}),
        (net2, x2, "pdp", 0, (0, 1), True, {}),
        (net2, x2, "ice", 1, (0, F(1, 2)), True, {}),
        (net2, x2, "smoothgrad_uniform", "radius", (F(1, 50), F(1, 2)), True, {}),
        (net2, x2, "smoothgrad_uniform", 0, (0, 1), True, {"radius": F(1, 4)}),
        (net2, x2, "lime_uniform", "radius", (F(1, 50), F(1, 2)), True, {}),
        (net2, x2, "measure", "s", (F(1, 2), 1), True,
         {"family": lambda s: [Uniform(Box([0, 0], [s, 1], exact=True)),
                               Uniform(Box([0, F(1, 2) - s / 2], [1, F(1, 2) + s / 2], exact=True))]}),
        (net3, x3, "pdp", 2, (0, F(1, 2)), True, {}),
        (net3, x3, "ig", 0, (0, 1), True, {}),
        (net3, x3, "gradient", 1, (0, 1), False, {}),
    ]
    for net, x, method, vary, over, continuous, options in cases:
        check_curve(net, x, method, vary, over, continuous, rng, **options)
    check_ig_completeness(net2, x2, [0, 0], 0)
    check_ig_completeness(net3, x3, [F(1, 10), 0, F(1, 5)], 2)
    seconds = time.perf_counter() - start
    if FAILURES:
        print(f"symbolic curves: {len(FAILURES)} claims FAILED ({seconds:.1f} s)")
        return 1
    print(f"symbolic curves: every curve agrees with exact attribution; continuity and jumps as theory says ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
