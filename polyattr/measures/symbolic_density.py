"""A measure whose density is a sympy polynomial in the coordinates, with symbolic coefficients.

``SymbolicDensity(expr, variables, box)``: density ``expr`` (a polynomial in ``variables``, the
box's coordinates z_1..z_d in order) with respect to Lebesgue measure on ``box``; its coefficients
may contain other symbols (parameters).  Because the integral of a model against it is linear in
the coefficients, everything numeric is done once per *monomial* of the density:

    integral f * expr = sum_alpha c_alpha(params) * integral f z^alpha,

and :meth:`SymbolicDensity.monomial_moments` returns, for every region and every monomial z^alpha
of the density, the exact rational mass integral_P z^alpha and first moment integral_P z z^alpha
(one vectorised pass of :func:`polyattr.integrate.polynomial.integrate_polynomials` for all of
them).  The contraction with a model's local affine maps lives above, in
:func:`polyattr.symbolic.integrate_density`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy

from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box
from polyattr.measures.core import Measure, PolynomialDensity
from polyattr.numbers import to_fraction

__all__ = ["SymbolicDensity"]


def _rational(v) -> Fraction:
    v = sympy.nsimplify(v) if not getattr(v, "is_Rational", False) else v
    if not v.is_Rational:
        raise PolyattrError(f"value {v} is not rational")
    return Fraction(int(v.p), int(v.q))


class SymbolicDensity:
    """A polynomial density with (possibly symbolic) coefficients on a box.

    Parameters
    ----------
    expr : sympy expression or string
        Polynomial in ``variables``; coefficients may involve other symbols.
    variables : sequence of sympy Symbols (or names)
        The coordinates z_1..z_d of the box, in order.
    box : Box or (lower, upper)
        The support (converted to exact rationals).

    Attributes
    ----------
    coefficients : dict {exponent tuple: sympy expression in the parameters}
    parameters : tuple of sympy Symbols (sorted by name)
    """

    def __init__(self, expr, variables, box):
        try:
            self.variables = tuple(sympy.Symbol(v) if isinstance(v, str) else v for v in variables)
        except TypeError:
            raise PolyattrError("variables: expected a sequence of sympy symbols or names") from None
        if not all(isinstance(v, sympy.Symbol) for v in self.variables) or len(set(self.variables)) != len(self.variables):
            raise PolyattrError("variables: expected distinct sympy symbols (the box's coordinates, in order)")
        if not isinstance(box, Box):
            try:
                lower, upper = box
            except (TypeError, ValueError):
                raise PolyattrError("box: expected a Box or (lower, upper)") from None
            box = Box([to_fraction(v) for v in lower], [to_fraction(v) for v in upper], exact=True)
        elif not box.exact:
            box = Box([to_fraction(v) for v in box.lower], [to_fraction(v) for v in box.upper], exact=True)
        if box.dim != len(self.variables):
            raise PolyattrError(f"variables: expected {box.dim} coordinates for a box in R^{box.dim}, got {len(self.variables)}")
        self.box = box
        try:
            self.expr = sympy.sympify(expr)
            poly = sympy.Poly(self.expr, *self.variables)
        except (sympy.SympifyError, sympy.PolynomialError, TypeError) as exc:
            raise PolyattrError(f"expr: expected a polynomial in {', '.join(map(str, self.variables))} ({exc})") from None
        coefficients = {}
        for alpha, c in poly.terms():
            c = sympy.sympify(c)
            if c.free_symbols & set(self.variables):
                raise PolyattrError("expr: coefficients must not depend on the coordinates")
            if c.has(sympy.oo, sympy.zoo, sympy.nan) or any(isinstance(a, sympy.Float) for a in c.atoms(sympy.Number)):
                raise PolyattrError(f"expr: coefficient {c} must be exact (rationals and symbols; no floats)")
            coefficients[tuple(int(a) for a in alpha)] = c
        self.coefficients = coefficients or {tuple([0] * box.dim): sympy.Integer(0)}
        self.parameters = tuple(sorted(set().union(*(c.free_symbols for c in self.coefficients.values())), key=str))

    @property
    def degree(self) -> int:
        return max(sum(a) for a in self.coefficients)

    def __repr__(self) -> str:
        return f"SymbolicDensity({self.expr}, box={list(self.box.lower)}..{list(self.box.upper)})"

    def total_mass(self) -> sympy.Expr:
        """integral of the density over the box, exactly (a sympy expression in the parameters)."""
        total = sympy.Integer(0)
        for alpha, c in self.coefficients.items():
            term = c
            for a, lo, hi in zip(alpha, self.box.lower, self.box.upper):
                lo, hi = sympy.Rational(lo.numerator, lo.denominator), sympy.Rational(hi.numerator, hi.denominator)
                term *= (hi ** (a + 1) - lo ** (a + 1)) / (a + 1)
            total += term
        return sympy.simplify(total)

    def substitute(self, values) -> Measure:
        """The numeric measure with the parameters replaced by rationals (``{symbol or name: value}``)."""
        subs = {}
        for k, v in dict(values).items():
            sym = sympy.Symbol(k) if isinstance(k, str) else k
            subs[sym] = sympy.Rational(to_fraction(v).numerator, to_fraction(v).denominator)
        missing = [p for p in self.parameters if p not in subs]
        if missing:
            raise PolyattrError(f"values: missing parameters {', '.join(map(str, missing))}")
        polynomial = {alpha: _rational(c.subs(subs)) for alpha, c in self.coefficients.items()}
        return PolynomialDensity(self.box, polynomial)

    def monomial_moments(self, regions):
        """Exact integral_P z^alpha and integral_P z z^alpha for every region P and monomial alpha.

        ``regions``: the exactly confirmed region set of a model on ``self.box``.
        Returns (monomials list, m0 (n_regions, n_monomials), m1 (n_regions, n_monomials, d)) of Fractions.
        """
        from polyattr.integrate.polynomial import integrate_polynomials
        from polyattr.measures.core import region_triangulations

        d = self.box.dim
        monomials = sorted(self.coefficients)
        polys = [{alpha: 1} for alpha in monomials]
        for alpha in monomials:
            for i in range(d):
                e = list(alpha)
                e[i] += 1
                polys.append({tuple(e): 1})
        V, S, groups = region_triangulations(regions, exact=True)
        values = integrate_polynomials(V, S, polys, True, groups=groups, n_groups=len(regions))
        n, m = len(regions), len(monomials)
        m0 = values[:, :m]
        m1 = values[:, m:].reshape(n, m, d)
        return monomials, m0, m1
