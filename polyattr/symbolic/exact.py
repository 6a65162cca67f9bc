"""Exact helpers of the symbolic layer: rationals <-> sympy, ordering algebraic numbers, small
linear solves, interpolation over the rationals and rational points inside algebraic intervals.
"""

from __future__ import annotations

from fractions import Fraction

import sympy

from polyattr.errors import PolyattrError
from polyattr.numbers import to_fraction

_PRECISION = 60  # digits used to order algebraic numbers (ties are decided exactly, see ``same``)


def to_sympy(v) -> sympy.Expr:
    """A Fraction / int / float (exact binary value) / sympy number as an exact sympy number."""
    if isinstance(v, sympy.Basic):
        return v
    f = to_fraction(v)
    return sympy.Rational(f.numerator, f.denominator)


def to_fraction_exact(v) -> Fraction:
    """A rational sympy number (or anything :func:`to_fraction` accepts) as a Fraction; raises otherwise."""
    if isinstance(v, sympy.Basic):
        v = sympy.nsimplify(v) if not v.is_Rational else v
        if not v.is_Rational:
            raise PolyattrError(f"value {v} is not rational")
        return Fraction(int(v.p), int(v.q))
    return to_fraction(v)


def key(v) -> sympy.Float:
    """A sort key for an exact real number (rational or algebraic)."""
    return sympy.Float(sympy.N(to_sympy(v), _PRECISION), _PRECISION)


def same(a, b) -> bool:
    """Exact equality of two real algebraic numbers."""
    a, b = to_sympy(a), to_sympy(b)
    if a.is_Rational and b.is_Rational:
        return a == b
    return sympy.simplify(a - b) == 0


def less(a, b) -> bool:
    """a < b exactly (algebraic numbers)."""
    a, b = to_sympy(a), to_sympy(b)
    if a.is_Rational and b.is_Rational:
        return a < b
    if same(a, b):
        return False
    return bool(a < b)  # distinct algebraic numbers: sympy refines the numerical comparison until certain


def sorted_unique(values) -> list:
    """Exact numbers sorted increasingly, exact duplicates removed."""
    out = []
    for v in sorted((to_sympy(v) for v in values), key=key):
        if not out or not same(out[-1], v):
            out.append(v)
    return out


def rational_inside(lo, hi, fraction: Fraction = Fraction(1, 2)) -> Fraction:
    """A rational strictly between the exact reals lo < hi, near lo + fraction (hi - lo)."""
    lo, hi = to_sympy(lo), to_sympy(hi)
    if lo.is_Rational and hi.is_Rational:
        return to_fraction_exact(lo) + fraction * (to_fraction_exact(hi) - to_fraction_exact(lo))
    target = sympy.N(lo + sympy.Rational(fraction.numerator, fraction.denominator) * (hi - lo), _PRECISION)
    width = abs(sympy.N(hi - lo, _PRECISION))
    for digits in range(3, _PRECISION):
        q = Fraction(sympy.Rational(sympy.Float(target, digits + 5)).limit_denominator(10 ** digits))
        candidate = sympy.Rational(q.numerator, q.denominator)
        if less(lo, candidate) and less(candidate, hi) and abs(sympy.N(candidate - target, 30)) < width / 4:
            return q
    raise PolyattrError(f"interval ({lo}, {hi}) is too narrow to place rational points in it")


def solve_exact(M, rhs):
    """Solve M y = rhs over the rationals; None when M is singular."""
    n = len(rhs)
    A = [[Fraction(M[i][j]) for j in range(n)] + [Fraction(rhs[i])] for i in range(n)]
    for col in range(n):
        piv = next((r for r in range(col, n) if A[r][col] != 0), None)
        if piv is None:
            return None
        A[col], A[piv] = A[piv], A[col]
        p = A[col][col]
        for r in range(n):
            if r != col and A[r][col] != 0:
                f = A[r][col] / p
                A[r] = [a - f * c for a, c in zip(A[r], A[col])]
    return [A[i][n] / A[i][i] for i in range(n)]


def interpolate(nodes, values, symbol) -> sympy.Expr:
    """The polynomial of degree < len(nodes) through (nodes_i, values_i), exactly (Newton form over Q)."""
    xs = [Fraction(v) for v in nodes]
    coef = [Fraction(v) for v in values]
    n = len(xs)
    for level in range(1, n):
        for i in range(n - 1, level - 1, -1):
            coef[i] = (coef[i] - coef[i - 1]) / (xs[i] - xs[i - level])
    poly = sympy.Integer(0)
    for i in range(n - 1, -1, -1):
        poly = poly * (symbol - to_sympy(xs[i])) + to_sympy(coef[i])
    return sympy.expand(poly)


def evaluate_exact(expr, symbol, t: Fraction) -> Fraction:
    """expr(t) for a rational function expr with rational coefficients, as a Fraction."""
    value = sympy.sympify(expr).subs(symbol, to_sympy(t))
    value = sympy.nsimplify(value) if not value.is_Rational else value
    return to_fraction_exact(value)


def roots_in(coefficients, lo, hi) -> list:
    """Exact real roots in the open interval (lo, hi) of c0 + c1 t + c2 t^2 (Fractions; not all 0).

    Irrational roots are returned as sympy algebraic numbers (a + b sqrt(D)), never rounded.
    """
    c0, c1, c2 = (Fraction(c) for c in (list(coefficients) + [0, 0])[:3])
    if c2 == 0:
        if c1 == 0:
            return []
        roots = [to_sympy(-c0 / c1)]
    else:
        disc = c1 * c1 - 4 * c2 * c0
        if disc < 0:
            return []
        sq = sympy.sqrt(to_sympy(disc))
        roots = [(-to_sympy(c1) - sq) / (2 * to_sympy(c2)), (-to_sympy(c1) + sq) / (2 * to_sympy(c2))]
        roots = [sympy.nsimplify(r) if r.is_Rational else sympy.radsimp(r) for r in roots]
    return [r for r in roots if less(lo, r) and less(r, hi)]
