"""Integrals of a model against symbolic polynomial densities, as exact sympy expressions."""

from __future__ import annotations

from fractions import Fraction

import sympy

from polyattr.attribution.integrals import Integrator
from polyattr.errors import PolyattrError
from polyattr.measures.symbolic_density import SymbolicDensity

__all__ = ["integrate_density", "density_attribution"]


def _q(v: Fraction) -> sympy.Rational:
    v = Fraction(v)
    return sympy.Rational(v.numerator, v.denominator)


def integrate_density(model, density: SymbolicDensity, output: int | None = None, max_regions=None) -> sympy.Expr:
    """integral of the model's output against ``density`` over its box, exactly, as a sympy expression.

    By Corollary 4.1 and linearity in the coefficients c_alpha(params) of the density:

        integral f * density = sum_alpha c_alpha * sum_P ( w_P . integral_P z z^alpha + b_P integral_P z^alpha ),

    with the inner sums exact rationals over the exactly confirmed regions of the model on the box.
    The result is expanded and simplified (a polynomial in the parameters when the coefficients are).
    """
    if not isinstance(density, SymbolicDensity):
        raise PolyattrError(f"density: expected a SymbolicDensity, got {type(density).__name__}")
    if density.box.dim != model.n_inputs:
        raise PolyattrError(f"density: lives in R^{density.box.dim} but the model has {model.n_inputs} inputs")
    k = model.check_output(output)
    integrator = Integrator(model, k, exact=True, max_regions=max_regions)
    regions = integrator.regions_on(density.box)
    monomials, m0, m1 = density.monomial_moments(regions)
    W, b = regions.affine_maps(k)
    d = model.n_inputs
    total = sympy.Integer(0)
    for a, alpha in enumerate(monomials):
        value = Fraction(0)
        for i in range(len(regions)):
            value += sum((Fraction(W[i, j]) * m1[i, a, j] for j in range(d)), start=Fraction(0)) + Fraction(b[i]) * m0[i, a]
        total += density.coefficients[alpha] * _q(value)
    return sympy.simplify(sympy.expand(total))


def density_attribution(model, densities, output: int | None = None) -> list:
    """The attribution phi_j = integral f d mu_j for a family of symbolic densities (one per feature)."""
    return [integrate_density(model, mu, output) for mu in densities]
