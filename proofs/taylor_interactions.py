#!/usr/bin/env python
"""THEORY.md §9: the Taylor-interaction view of attributions ([SURVEY], Deng et al.).

Run: ``python proofs/taylor_interactions.py``. Prints tables and exits non-zero if a claim fails.

For a polynomial f and a baseline b, expand g(y) = f(b + y) - f(b) = sum_alpha a_alpha y^alpha:
the *independent effect* psi(i) collects the monomials in y_i alone, the *interaction* J(S) those
whose variables are exactly S (|S| >= 2).  Every method here is linear in f, so its allocation of
each effect is the method applied to that effect alone (as a polynomial model, exactly, with
:class:`polyattr.symbolic.PolynomialModel`): a_i = sum_j w_ij psi(j) + sum_S w_iS J(S).  Principles:

* precision: psi(i) goes to i only, entirely (w_ii = 1, w_ij = 0);
* federation: J(S) goes only to members of S (w_iS = 0 for i not in S);
* zero discrepancy: every effect is allocated completely (sum_i w_iS = 1), so the allocations add
  up to f(x) - f(b).

Checked: (1) the allocations of J({1,2}) for f = x1^2 x2, b = 0 -- IG (2/3, 1/3), baseline Shapley
(1/2, 1/2), Gradient x Input (2, 1), occlusion (1, 1); (2) on monomials of degree <= 4 in 3
variables and on random polynomials (random rational x, b), which principles hold for each method,
against the survey's verdicts: IG and baseline Shapley satisfy all three; occlusion satisfies
precision and federation but not zero discrepancy; Gradient x Input satisfies only federation
(with a non-zero baseline it even misallocates independent effects).  A principle "holds" for a
method when it holds exactly (sympy, rationals) on every test case; "fails" when some case breaks it.
"""

from __future__ import annotations

import itertools
import sys
import time

import numpy as np
import sympy

from polyattr.symbolic import PolynomialModel

METHODS = ("ig", "shapley", "occlusion", "gradient_x_input")
EXPECTED = {  # (precision, federation, zero discrepancy)
    "ig": (True, True, True),
    "shapley": (True, True, True),
    "occlusion": (True, True, False),
    "gradient_x_input": (False, True, False),
}
FAILURES: list[str] = []


def claim(ok: bool, message: str) -> None:
    if not ok:
        FAILURES.append(message)
        print("FAILED:", message)


def effects(expr, variables, baseline):
    """{frozenset S: effect polynomial in z} from the expansion of f(z) - f(b) in y = z - b."""
    ys = sympy.symbols(f"_y0:{len(variables)}")
    g = sympy.expand(expr.subs({z: b + y for z, b, y in zip(variables, baseline, ys)}, simultaneous=True))
    out = {}
    for monom, coeff in sympy.Poly(g, *ys).terms():
        support = frozenset(i for i, a in enumerate(monom) if a)
        if not support:
            continue  # the constant f(b) cancels in f(x) - f(b)
        term = coeff * sympy.Mul(*[(z - b) ** a for z, b, a in zip(variables, baseline, monom)])
        out[support] = out.get(support, 0) + term
    return out


def allocation(method, effect, variables, x, baseline):
    """w_i: the share of ``effect`` (a polynomial) the method gives to each feature at x."""
    model = PolynomialModel(effect, variables)
    value = model.at(x)
    phi = model.attribute(x, method, baseline=baseline)
    return [sympy.nsimplify(sympy.simplify(p / value)) if value != 0 else None for p in phi], phi, value


def principles(method, expr, variables, x, baseline):
    """(precision, federation, zero discrepancy) on one polynomial, exactly."""
    precision = federation = discrepancy_ok = True
    for S, effect in effects(expr, variables, baseline).items():
        model = PolynomialModel(effect, variables)
        phi = model.attribute(x, method, baseline=baseline)
        value = sympy.simplify(model.at(x))
        for i, p in enumerate(phi):
            if i not in S and sympy.simplify(p) != 0:
                federation = False
                if len(S) == 1:
                    precision = False
        if len(S) == 1:
            (i,) = S
            if sympy.simplify(phi[i] - value) != 0:
                precision = False
        if sympy.simplify(sum(phi) - value) != 0:
            discrepancy_ok = False
    return precision, federation, discrepancy_ok


def main() -> int:
    start = time.perf_counter()
    x1, x2, x3 = sympy.symbols("x1 x2 x3")
    # (1) the survey's example
    print("f = x1^2 x2, baseline 0: allocation of the interaction J({1,2}) = x1^2 x2")
    print(f"{'method':<18} {'w_1':>6} {'w_2':>6} {'sum':>6}   expected")
    expected = {"ig": (sympy.Rational(2, 3), sympy.Rational(1, 3)), "shapley": (sympy.Rational(1, 2), sympy.Rational(1, 2)),
                "gradient_x_input": (2, 1), "occlusion": (1, 1)}
    a, b = sympy.Rational(3, 7), sympy.Rational(-5, 4)
    for method in METHODS:
        w, _, _ = allocation(method, x1 ** 2 * x2, [x1, x2], [a, b], [0, 0])
        ok = tuple(w) == tuple(sympy.Integer(v) if isinstance(v, int) else v for v in expected[method])
        claim(ok, f"{method}: allocation {w} of x1^2 x2, expected {expected[method]}")
        # also with symbolic x: the shares do not depend on x
        ws, _, _ = allocation(method, x1 ** 2 * x2, [x1, x2], list(sympy.symbols("a b", positive=True)), [0, 0])
        claim(tuple(ws) == tuple(w), f"{method}: allocation depends on x ({ws} vs {w})")
        print(f"{method:<18} {str(w[0]):>6} {str(w[1]):>6} {str(sum(w)):>6}   {expected[method]}  {'ok' if ok else 'FAILED'}")

    # (2) principles on monomials and random polynomials
    rng = np.random.default_rng(10)
    variables = [x1, x2, x3]

    def rational():
        return sympy.Rational(int(rng.integers(-9, 10)), int(rng.integers(1, 6)))

    cases = []
    for degree in range(1, 5):
        for monom in itertools.product(range(degree + 1), repeat=3):
            if sum(monom) == degree:
                cases.append(sympy.Mul(*[v ** e for v, e in zip(variables, monom)]))
    for _ in range(8):
        terms = [rational() * sympy.Mul(*[v ** int(e) for v, e in zip(variables, rng.integers(0, 3, 3))]) for _ in range(4)]
        cases.append(sympy.Add(*terms))
    print(f"\nprinciples on {len(cases)} polynomials (monomials of degree 1..4 in 3 variables, 8 random polynomials), "
          f"random rational x and baselines (0 and non-zero)")
    print(f"{'method':<18} {'precision':>10} {'federation':>11} {'zero discr.':>12}   theory")
    for method in METHODS:
        verdict = [True, True, True]
        for n, expr in enumerate(cases):
            x = [rational() for _ in variables]
            baseline = [0, 0, 0] if n % 2 == 0 else [rational() for _ in variables]
            for k, ok in enumerate(principles(method, expr, variables, x, baseline)):
                verdict[k] = verdict[k] and ok
        ok = tuple(verdict) == EXPECTED[method]
        claim(ok, f"{method}: principles {verdict}, theory {EXPECTED[method]}")
        fmt = lambda v: "holds" if v else "fails"
        print(f"{method:<18} {fmt(verdict[0]):>10} {fmt(verdict[1]):>11} {fmt(verdict[2]):>12}   "
              f"{', '.join(fmt(v) for v in EXPECTED[method])}  {'ok' if ok else 'FAILED'}")
    seconds = time.perf_counter() - start
    if FAILURES:
        print(f"taylor interactions: {len(FAILURES)} claims FAILED ({seconds:.1f} s)")
        return 1
    print(f"taylor interactions: allocations and principles as the survey states, exactly ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
