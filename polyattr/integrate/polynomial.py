"""Exact integration of polynomials over simplices and triangulated polytopes.

A polynomial in the k coordinates z_1..z_k is a dict ``{alpha: c}`` mapping exponent tuples
(length k, non-negative ints) to coefficients, i.e. sum_alpha c_alpha z^alpha.

Derivation (the Dirichlet / barycentric formula).  Write a point of the simplex
Delta = conv(v_0..v_k) in barycentric coordinates, z = sum_i lambda_i v_i with lambda_i >= 0 and
sum_i lambda_i = 1.  Then each coordinate z_j = sum_i lambda_i v_ij is a *linear form* in lambda,
so z^alpha expands into a homogeneous polynomial sum_beta d_beta lambda^beta of degree |alpha| in
the k+1 barycentric coordinates.  The map (lambda_1..lambda_k) -> z from the standard simplex
{lambda_i >= 0, lambda_1 + ... + lambda_k <= 1} (with lambda_0 = 1 - sum) is affine with Jacobian
|det(v_1 - v_0, ..., v_k - v_0)| = k! vol(Delta), and the Dirichlet integral is

    int_{standard simplex} lambda_0^b0 ... lambda_k^bk  d lambda_1..d lambda_k = b0! ... bk! / (|b| + k)!

so   int_Delta lambda^beta dz = k! vol(Delta) beta! / (|beta| + k)!   (beta = 0 gives vol(Delta)).

Everything is exact in Fraction arithmetic; the float path runs the same algorithm on floats.
Cost: one multiplication of polynomials in k+1 variables per monomial, i.e. O(C(d+k, k)^2) for
degree d — intended for the low degrees (<= 4) that densities and degree-2 metrics need.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Mapping

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.integrate.exact import bareiss_determinant, to_fractions

__all__ = ["integrate_polynomial_simplex", "integrate_polynomial_polytope", "monomial_integral_simplex"]


def integrate_polynomial_simplex(vertices, coeffs: Mapping[tuple, object], exact: bool | None = None):
    """Integral of a polynomial over one k-simplex in R^k (Lebesgue measure).

    Parameters
    ----------
    vertices : array (k+1, k)
        The simplex's vertices.
    coeffs : dict {exponent tuple (length k): coefficient}
        The polynomial sum_alpha c_alpha z^alpha.
    exact : bool, optional
        Exact Fraction arithmetic (floats are converted exactly).  Default: exact when every vertex
        coordinate and coefficient is an int or a Fraction, float arithmetic otherwise.

    Returns
    -------
    Fraction or float
        The integral.  For k = 0 (a point) the value of the polynomial there (mass-1 convention).
    """
    V, poly, exact = _prepare(vertices, coeffs, exact)
    if V.shape[0] != V.shape[1] + 1:
        raise PolyattrError(f"vertices: a k-simplex in R^k has k+1 vertices, got shape {V.shape}")
    return _integrate_one(V, poly, exact)


def integrate_polynomial_polytope(V, simplices, coeffs: Mapping[tuple, object], exact: bool | None = None):
    """Integral of a polynomial over a polytope given as a triangulation (sum over its simplices).

    Parameters
    ----------
    V : array (n, k)
        Vertices.
    simplices : int array (m, k+1)
        Simplices with disjoint interiors covering the polytope (e.g. :func:`pulling_triangulation`).
    coeffs : dict {exponent tuple: coefficient}
        The polynomial.
    exact : bool, optional
        As in :func:`integrate_polynomial_simplex`.

    Returns
    -------
    Fraction or float
    """
    Vp, poly, exact = _prepare(V, coeffs, exact)
    S = np.asarray(simplices)
    k = Vp.shape[1]
    if S.size == 0:
        S = S.reshape(0, k + 1)
    if S.ndim != 2 or S.shape[1] != k + 1 or not np.issubdtype(S.dtype, np.integer):
        raise PolyattrError(f"simplices: expected an integer array of shape (m, {k + 1}), got {S.shape}")
    if S.size and (S.min() < 0 or S.max() >= Vp.shape[0]):
        raise PolyattrError(f"simplices: vertex index out of range [0, {Vp.shape[0]})")
    total = Fraction(0) if exact else 0.0
    for row in S:
        total += _integrate_one(Vp[row], poly, exact)
    return total


def monomial_integral_simplex(beta, k: int) -> Fraction:
    """int over the standard k-simplex of lambda^beta (beta has k+1 entries): beta! / (|beta| + k)!."""
    num = 1
    for b in beta:
        num *= math.factorial(b)
    return Fraction(num, math.factorial(sum(beta) + k))


def _prepare(vertices, coeffs, exact):
    if not isinstance(coeffs, Mapping):
        raise PolyattrError(f"coeffs: expected a dict {{exponent tuple: coefficient}}, got {type(coeffs).__name__}")
    raw = np.asarray(vertices, dtype=object)
    if raw.ndim != 2:
        raise PolyattrError(f"vertices: expected shape (n, k), got {raw.shape}")
    k = raw.shape[1]

    def is_rational(x):
        return isinstance(x, (int, np.integer, Fraction)) and not isinstance(x, bool)

    if exact is None:
        exact = all(is_rational(x) for x in raw.reshape(-1)) and all(is_rational(c) for c in coeffs.values())
    poly = {}
    for alpha, c in coeffs.items():
        alpha = tuple(alpha) if not isinstance(alpha, tuple) else alpha
        if len(alpha) != k or not all(isinstance(a, (int, np.integer)) and a >= 0 for a in alpha):
            raise PolyattrError(f"coeffs: expected exponent tuples of {k} non-negative ints, got {alpha!r}")
        alpha = tuple(int(a) for a in alpha)
        if exact:
            c = to_fractions([c])[0]
        else:
            c = float(c)
            if not math.isfinite(c):
                raise PolyattrError(f"coeffs: coefficient of {alpha} is not finite")
        poly[alpha] = poly.get(alpha, 0) + c
    if exact:
        V = to_fractions(raw)
    else:
        try:
            V = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise PolyattrError("vertices: expected numbers") from None
        if not np.all(np.isfinite(V)):
            raise PolyattrError("vertices: contains NaN or infinite values")
    return V, poly, bool(exact)


def _integrate_one(V, poly, exact):
    """int over conv(V) (k+1 vertices in R^k) of the polynomial ``poly``."""
    k = V.shape[1]
    if exact:
        jac = abs(bareiss_determinant(V[1:] - V[0])) if k else Fraction(1)
    else:
        jac = abs(float(np.linalg.det(np.asarray(V[1:] - V[0], dtype=np.float64)))) if k else 1.0
    if jac == 0:
        return Fraction(0) if exact else 0.0
    one = Fraction(1) if exact else 1.0
    # Cache the powers of the linear forms z_j = sum_i lambda_i v_ij in barycentric coordinates.
    power_cache: dict[tuple[int, int], dict] = {}

    def linear_power(j, p):
        key = (j, p)
        if key not in power_cache:
            if p == 0:
                power_cache[key] = {(0,) * (k + 1): one}
            else:
                power_cache[key] = _multiply(linear_power(j, p - 1), _linear_form(V[:, j], k), exact)
        return power_cache[key]

    total = Fraction(0) if exact else 0.0
    for alpha, c in poly.items():
        if c == 0:
            continue
        expansion = {(0,) * (k + 1): one}
        for j, p in enumerate(alpha):
            if p:
                expansion = _multiply(expansion, linear_power(j, p), exact)
        s = Fraction(0) if exact else 0.0
        for beta, d in expansion.items():
            w = monomial_integral_simplex(beta, k)
            s += d * (w if exact else float(w))
        total += c * s
    return total * jac


def _linear_form(column, k):
    """sum_i column[i] lambda_i as a dict polynomial in lambda_0..lambda_k."""
    out = {}
    for i in range(k + 1):
        if column[i] != 0:
            beta = [0] * (k + 1)
            beta[i] = 1
            out[tuple(beta)] = column[i]
    return out


def _multiply(p, q, exact):
    out: dict = {}
    for a, ca in p.items():
        for b, cb in q.items():
            key = tuple(x + y for x, y in zip(a, b))
            out[key] = out.get(key, 0) + ca * cb
    return out
