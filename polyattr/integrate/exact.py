"""Exact rational moments of simplices and unions of simplices.

The same formulas as :mod:`polyattr.integrate.simplex_kernels`, evaluated in
:class:`fractions.Fraction` arithmetic: for a k-simplex with vertices v_0..v_k in R^k

    vol = |det(v_1 - v_0, ..., v_k - v_0)| / k!
    m1  = vol * (v_0 + ... + v_k) / (k + 1)
    M2  = vol / ((k+1)(k+2)) * (sum_i v_i v_i^T + (sum_i v_i)(sum_i v_i)^T)

Determinants come from :mod:`polyattr.exact_linalg` (FLINT's integer determinant of the matrix
with its denominators cleared).  A 0-simplex (a point,
k = 0) has mass 1 by convention (the counting measure on a point; also det of the empty matrix / 0!).
Float inputs are converted with ``Fraction(float)``, i.e. exactly as the binary values they are.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.exact_linalg import determinant

__all__ = ["bareiss_determinant", "to_fractions", "exact_simplex_moments"]


def to_fractions(a) -> np.ndarray:
    """Convert an array of numbers to an object array of Fractions (floats exactly, no rounding)."""
    arr = np.asarray(a, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
    for i, v in enumerate(flat_in):
        if isinstance(v, Fraction):
            flat_out[i] = v
        elif isinstance(v, (int, np.integer)):
            flat_out[i] = Fraction(int(v))
        else:
            f = float(v)
            if not math.isfinite(f):
                raise PolyattrError(f"expected finite numbers, got {v!r}")
            flat_out[i] = Fraction(f)
    return out


def bareiss_determinant(M) -> Fraction:
    """Exact determinant of a square matrix of rationals (:func:`polyattr.exact_linalg.determinant`).

    The name is kept for callers; the work is FLINT's fraction-free integer determinant on the
    matrix with its rows' denominators cleared.

    Parameters
    ----------
    M : array-like (k, k)
        Entries convertible to Fraction (ints, Fractions, floats taken exactly).

    Returns
    -------
    Fraction
        det(M); ``Fraction(1)`` for the empty 0 x 0 matrix.
    """
    F = to_fractions(M)
    if F.ndim != 2 or F.shape[0] != F.shape[1]:
        raise PolyattrError(f"M: expected a square matrix, got shape {F.shape}")
    return determinant(F)


def exact_simplex_moments(vertices, simplices, group=None, n_groups=None, order: int = 2):
    """Exact mass, first and second moments of (groups of) simplices under Lebesgue measure.

    Parameters
    ----------
    vertices : array (n, k)
        Vertex coordinates (Fractions, ints or floats; converted exactly).
    simplices : int array (m, k+1)
        Vertex indices of each simplex.
    group : int array (m,), optional
        Group (polytope) index of each simplex; default all in group 0.
    n_groups : int, optional
        Number of groups; default ``max(group) + 1``.
    order : {0, 1, 2}
        Highest moment computed; higher ones are returned as None.

    Returns
    -------
    m0 : object array (G,)
        Volumes (k-dimensional Lebesgue measure; 1 per point when k = 0).
    m1 : object array (G, k) or None
        First moments, integral of z.
    M2 : object array (G, k, k) or None
        Second moment matrices, integral of z z^T.
    """
    V = to_fractions(vertices)
    S, group, n_groups = _check_simplices(V, simplices, group, n_groups, order)
    n, k = V.shape
    zero = Fraction(0)
    m0 = np.array([zero] * n_groups, dtype=object)
    m1 = np.full((n_groups, k), zero, dtype=object) if order >= 1 else None
    M2 = np.full((n_groups, k, k), zero, dtype=object) if order >= 2 else None
    kfact = math.factorial(k)
    for s in range(S.shape[0]):
        verts = V[S[s]]
        g = group[s]
        vol = abs(bareiss_determinant(verts[1:] - verts[0])) / kfact
        m0[g] += vol
        if order >= 1 and vol != 0:
            total = verts.sum(axis=0)
            m1[g] += total * (vol / (k + 1))
            if order >= 2:
                second = verts.T @ verts + np.outer(total, total)
                M2[g] += second * (vol / ((k + 1) * (k + 2)))
    return m0, m1, M2


def _check_simplices(V, simplices, group, n_groups, order):
    if V.ndim != 2:
        raise PolyattrError(f"vertices: expected shape (n, k), got {V.shape}")
    n, k = V.shape
    S = np.asarray(simplices)
    if S.size == 0:
        S = S.reshape(0, k + 1)
    if S.ndim != 2 or S.shape[1] != k + 1:
        raise PolyattrError(f"simplices: expected shape (m, {k + 1}) for {k}-dimensional vertices, got {S.shape}")
    if not np.issubdtype(S.dtype, np.integer):
        raise PolyattrError("simplices: expected integer vertex indices")
    S = S.astype(np.int64, copy=False)
    if S.size and (S.min() < 0 or S.max() >= n):
        raise PolyattrError(f"simplices: vertex index out of range [0, {n})")
    m = S.shape[0]
    if group is None:
        group = np.zeros(m, dtype=np.int64)
    else:
        group = np.asarray(group)
        if group.shape != (m,) or (m and not np.issubdtype(group.dtype, np.integer)):
            raise PolyattrError(f"group: expected {m} integer group indices, got shape {group.shape}")
        group = group.astype(np.int64, copy=False)
        if m and group.min() < 0:
            raise PolyattrError("group: expected non-negative group indices")
    if n_groups is None:
        n_groups = int(group.max()) + 1 if m else 1
    n_groups = int(n_groups)
    if m and group.max() >= n_groups:
        raise PolyattrError(f"group: index {int(group.max())} out of range for n_groups={n_groups}")
    if order not in (0, 1, 2):
        raise PolyattrError(f"order: expected 0, 1 or 2, got {order!r}")
    return S, group, n_groups
