"""The previous polynomial integrator (barycentric expansion, one simplex and one monomial at a time).

Kept as an *independent reference* for the tests and ``benchmarks/polynomial_density.py``: it shares
no code with :mod:`polyattr.integrate.polynomial` (it expands z^alpha in barycentric coordinates as
a product of dict polynomials and integrates the Dirichlet monomials lambda^beta one by one).
Exact (Fractions) only; slow: O(C(d + k, k)^2) per monomial and simplex.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from polyattr.integrate.exact import bareiss_determinant, to_fractions

__all__ = ["reference_integrate_simplex"]


def reference_integrate_simplex(vertices, coeffs) -> Fraction:
    """int over conv(vertices) ((k+1) x k) of sum_alpha c_alpha z^alpha, exactly."""
    V = to_fractions(vertices)
    k = V.shape[1]
    jac = abs(bareiss_determinant(V[1:] - V[0])) if k else Fraction(1)
    if jac == 0:
        return Fraction(0)
    total = Fraction(0)
    for alpha, c in coeffs.items():
        expansion = {(0,) * (k + 1): Fraction(1)}
        for j, p in enumerate(alpha):
            for _ in range(p):
                expansion = _multiply(expansion, _linear_form(V[:, j], k))
        s = Fraction(0)
        for beta, d in expansion.items():
            num = math.prod(math.factorial(b) for b in beta)
            s += d * Fraction(num, math.factorial(sum(beta) + k))
        total += Fraction(c) * s
    return total * jac


def _linear_form(column, k):
    out = {}
    for i in range(k + 1):
        if column[i] != 0:
            beta = [0] * (k + 1)
            beta[i] = 1
            out[tuple(beta)] = column[i]
    return out


def _multiply(p, q):
    out: dict = {}
    for a, ca in p.items():
        for b, cb in q.items():
            key = tuple(x + y for x, y in zip(a, b))
            out[key] = out.get(key, 0) + ca * cb
    return out
