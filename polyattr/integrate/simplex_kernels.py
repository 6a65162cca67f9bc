"""Numba kernels: volume, first and second moments of many simplices at once, with error bounds.

For a k-simplex with vertices v_0..v_k in R^k (Lebesgue measure):

    vol = |det(D)| / k!,             D = (v_1 - v_0, ..., v_k - v_0) (rows)
    m1  = vol * (sum_i v_i) / (k+1)
    M2  = vol / ((k+1)(k+2)) * (sum_i v_i v_i^T + (sum_i v_i)(sum_i v_i)^T)

The kernels run over m simplices, adding each into the polytope (``group``) it belongs to.  k = 1
(segments) needs nothing special.  k = 0 (points) has mass 1 per point by convention: the counting
measure on a point, which is also det(empty matrix) / 0! = 1.

Rounding-error bound
--------------------
Every float result comes with an absolute error bound against the exact value for the *given*
float vertices (the value :func:`polyattr.integrate.exact.exact_simplex_moments` returns).  With
u = 2^-53 and gamma_n = n u / (1 - n u):

* det by Gaussian elimination with partial pivoting: the computed factors satisfy
  L U = P D + E with |E| <= gamma_k |L||U| (Higham, Thm 9.3), and forming D = v_j - v_0 perturbs
  each entry by at most u relatively.  Let r_j be the 2-norm of row j of |L||U|.  Multilinearity
  and Hadamard's inequality bound the change of det under row perturbations of norm <= delta r_j by
  ((1 + delta)^k - 1) prod r_j, and the product of the pivots adds gamma_k |det|.  Hence
  |det_float - det| <= (k (gamma_k + 2u) + gamma_k) prod_j r_j  (first order in u).
* vol, m1, M2 inherit that relative-to-prod r_j error, plus the rounding of the vertex sums
  (gamma_{k+3} on sum_i |v_i|) and of the degree-2 sums (gamma_{2k+6} on
  sum_i |v_i||v_i|^T + (sum_i |v_i|)(sum_i |v_i|)^T).
* Summing the m_g simplices of a group adds gamma_{m_g} times the sum of the absolute terms.

The bound is first order in u; the returned value is multiplied by 2 to cover the O(u^2) terms
(harmless whenever (m + k) u << 1).  It is conservative (usually 10^2–10^4 times the actual error)
but cheap, and it scales with the inputs, so it is meaningful for thin, badly scaled regions too.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.jit import njit
from polyattr.numerics import UNIT_ROUNDOFF

__all__ = ["SimplexMoments", "simplex_moments", "simplex_moments_kernel"]


class SimplexMoments(NamedTuple):
    """Per-group moments and absolute error bounds (arrays of the same shapes)."""

    m0: np.ndarray  # (G,)
    m1: np.ndarray | None  # (G, k)
    M2: np.ndarray | None  # (G, k, k)
    m0_error: np.ndarray
    m1_error: np.ndarray | None
    M2_error: np.ndarray | None


@njit(cache=True)
def _gamma(n):
    """gamma_n inside numba kernels (the compiled twin of :func:`polyattr.numerics.gamma`)."""
    nu = n * UNIT_ROUNDOFF
    return nu / (1.0 - nu)


@njit(cache=True)
def _det_with_bound(D, LU, absL):
    """det(D) by Gaussian elimination with partial pivoting and a first-order error bound.

    ``LU`` and ``absL`` are (k, k) scratch arrays.  Returns (det, bound).
    """
    k = D.shape[0]
    u = UNIT_ROUNDOFF
    for i in range(k):
        for j in range(k):
            LU[i, j] = D[i, j]
    det = 1.0
    singular = False
    for p in range(k):
        piv = p
        best = abs(LU[p, p])
        for r in range(p + 1, k):
            if abs(LU[r, p]) > best:
                best = abs(LU[r, p])
                piv = r
        if piv != p:
            for j in range(k):
                tmp = LU[p, j]
                LU[p, j] = LU[piv, j]
                LU[piv, j] = tmp
            det = -det
        if LU[p, p] == 0.0:
            singular = True  # the whole column below is zero too: nothing to eliminate
            continue
        for r in range(p + 1, k):
            f = LU[r, p] / LU[p, p]
            LU[r, p] = f  # store the multiplier (strict lower part is L)
            for j in range(p + 1, k):
                LU[r, j] -= f * LU[p, j]
    for p in range(k):
        det *= LU[p, p]
    if singular:
        det = 0.0
    # r_j = || row j of |L||U| ||_2, with L unit lower triangular.
    prod_r = 1.0
    for i in range(k):
        for j in range(k):
            absL[i, j] = 0.0
        for l in range(i + 1):
            lil = 1.0 if l == i else abs(LU[i, l])
            for j in range(l, k):
                absL[i, j] += lil * abs(LU[l, j])
        s = 0.0
        for j in range(k):
            s += absL[i, j] * absL[i, j]
        prod_r *= math.sqrt(s) * (1.0 + 2.0 * u)  # round the norm upwards
    gk = _gamma(k)
    bound = (k * (gk + 2.0 * u) + gk) * prod_r
    return det, bound


@njit(cache=True)
def simplex_moments_kernel(vertices, simplices, group, n_groups, order):
    """Accumulate per-group moments and error bounds (see the module docstring for the formulas).

    Parameters
    ----------
    vertices : float64 (n, k)
    simplices : int64 (m, k+1)
    group : int64 (m,), values in [0, n_groups)
    n_groups : int
    order : int, 0, 1 or 2

    Returns
    -------
    m0, m1, M2, m0_err, m1_err, M2_err : float64 arrays (G,), (G, k), (G, k, k) twice
        Moments and absolute error bounds.  m1 / M2 arrays are zero-filled when ``order`` is lower.
    """
    n, k = vertices.shape
    m = simplices.shape[0]
    u = UNIT_ROUNDOFF
    m0 = np.zeros(n_groups)
    m1 = np.zeros((n_groups, k))
    M2 = np.zeros((n_groups, k, k))
    # absolute sums of the terms (for summation error) and accumulated per-term errors
    a0 = np.zeros(n_groups)
    a1 = np.zeros((n_groups, k))
    a2 = np.zeros((n_groups, k, k))
    e0 = np.zeros(n_groups)
    e1 = np.zeros((n_groups, k))
    e2 = np.zeros((n_groups, k, k))
    count = np.zeros(n_groups, dtype=np.int64)
    D = np.empty((k, k))
    LU = np.empty((k, k))
    absL = np.empty((k, k))
    total = np.empty(k)
    abs_total = np.empty(k)
    kfact = 1.0
    for i in range(2, k + 1):
        kfact *= i
    c1 = 1.0 / (k + 1)
    c2 = 1.0 / ((k + 1) * (k + 2))
    g_sum1 = _gamma(k + 3)
    g_sum2 = _gamma(2 * k + 6)
    for s in range(m):
        g = group[s]
        count[g] += 1
        v0 = simplices[s, 0]
        for i in range(k):
            vi = simplices[s, i + 1]
            for j in range(k):
                D[i, j] = vertices[vi, j] - vertices[v0, j]
        det, det_err = _det_with_bound(D, LU, absL)
        vol = abs(det) / kfact
        vol_err = det_err / kfact + 2.0 * u * vol
        m0[g] += vol
        a0[g] += vol
        e0[g] += vol_err
        if order >= 1:
            for j in range(k):
                t = 0.0
                at = 0.0
                for i in range(k + 1):
                    x = vertices[simplices[s, i], j]
                    t += x
                    at += abs(x)
                total[j] = t
                abs_total[j] = at
            for j in range(k):
                term = vol * total[j] * c1
                m1[g, j] += term
                a1[g, j] += abs(term)
                e1[g, j] += (vol_err + vol * g_sum1) * abs_total[j] * c1
        if order >= 2:
            for a in range(k):
                for b in range(a, k):
                    t = total[a] * total[b]
                    at = abs_total[a] * abs_total[b]
                    for i in range(k + 1):
                        xa = vertices[simplices[s, i], a]
                        xb = vertices[simplices[s, i], b]
                        t += xa * xb
                        at += abs(xa * xb)
                    term = vol * t * c2
                    err = (vol_err + vol * g_sum2) * at * c2
                    M2[g, a, b] += term
                    a2[g, a, b] += abs(term)
                    e2[g, a, b] += err
                    if b != a:
                        M2[g, b, a] += term
                        a2[g, b, a] += abs(term)
                        e2[g, b, a] += err
    for g in range(n_groups):
        gs = _gamma(count[g] + 1)
        e0[g] = 2.0 * (e0[g] + gs * a0[g])
        for a in range(k):
            e1[g, a] = 2.0 * (e1[g, a] + gs * a1[g, a])
            for b in range(k):
                e2[g, a, b] = 2.0 * (e2[g, a, b] + gs * a2[g, a, b])
    return m0, m1, M2, e0, e1, e2


def simplex_moments(vertices, simplices, group=None, n_groups=None, order: int = 2) -> SimplexMoments:
    """Volumes, first and second moments of groups of simplices, with rounding-error bounds.

    Parameters
    ----------
    vertices : float array (n, k)
        Vertex coordinates.
    simplices : int array (m, k+1)
        Vertex indices of each simplex (a triangulation, or several).
    group : int array (m,), optional
        Index of the polytope each simplex belongs to; default: all in one group.
    n_groups : int, optional
        Number of groups (polytopes); default ``max(group) + 1``.  Groups without simplices get 0.
    order : {0, 1, 2}
        Highest moment to compute; ``m1``/``M2`` (and their errors) are None above it.

    Returns
    -------
    SimplexMoments
        ``m0`` (G,), ``m1`` (G, k), ``M2`` (G, k, k) and the absolute error bounds ``m0_error``,
        ``m1_error``, ``M2_error`` of the same shapes (see the module docstring).  For k = 0 each
        simplex (a point) has mass 1.
    """
    from polyattr.integrate.exact import _check_simplices

    V = np.asarray(vertices)
    if V.dtype == object:
        try:
            V = V.astype(np.float64)
        except (TypeError, ValueError):
            raise PolyattrError("vertices: expected numbers") from None
    V = np.ascontiguousarray(V, dtype=np.float64)
    if V.ndim != 2:
        raise PolyattrError(f"vertices: expected shape (n, k), got {V.shape}")
    if not np.all(np.isfinite(V)):
        raise PolyattrError("vertices: contains NaN or infinite values")
    S, group, n_groups = _check_simplices(V, simplices, group, n_groups, order)
    k = V.shape[1]
    if k == 0:
        m0 = np.bincount(group, minlength=n_groups).astype(np.float64)
        z = np.zeros(n_groups)
        e1 = np.zeros((n_groups, 0)) if order >= 1 else None
        e2 = np.zeros((n_groups, 0, 0)) if order >= 2 else None
        return SimplexMoments(m0, e1, e2, z, e1, e2)
    m0, m1, M2, e0, e1, e2 = simplex_moments_kernel(
        V, np.ascontiguousarray(S), np.ascontiguousarray(group), n_groups, int(order)
    )
    if order < 2:
        M2 = e2 = None
    if order < 1:
        m1 = e1 = None
    return SimplexMoments(m0, m1, M2, e0, e1, e2)
