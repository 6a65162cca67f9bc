"""Vertices, facets, volume and moments of bounded H-polytopes {z : A z <= b}.

Vertices and vertex–row incidences come from pycddlib (double description): ``cdd`` in floating
point, ``cdd.gmp`` in exact rational arithmetic.  Moments are then computed by the pipeline of
DESIGN.md / THEORY.md §4.3: vertices -> facets (from incidences and affine rank tests) -> pulling
triangulation -> simplex kernels (numba, float) or exact Fraction formulas.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.integrate.exact import exact_simplex_moments, to_fractions
from polyattr.integrate.simplex_kernels import simplex_moments
from polyattr.integrate.triangulate import affine_rank, pulling_triangulation

__all__ = [
    "polytope_vertices",
    "facets_from_incidence",
    "polytope_triangulation",
    "polytope_volume",
    "polytope_moments",
    "VERTEX_MERGE_RTOL",
]

#: Float mode: two vertices returned by cdd are the same vertex when they differ by at most
#: ``VERTEX_MERGE_RTOL * max(1, max |V|)`` in every coordinate.  cdd's floating-point double
#: description can return a degenerate vertex (one where more than k rows are tight) several times,
#: once per basis, with differences at the 1e-15 relative level; 1e-10 merges those while keeping
#: genuinely distinct vertices of regions down to ~1e-10 wide apart.
VERTEX_MERGE_RTOL = 1e-10


def polytope_vertices(A, b, exact: bool = False):
    """Vertices of the bounded polytope {z : A z <= b} and the rows of A tight at each.

    Parameters
    ----------
    A : array (m, k)
        Constraint normals.  Rows may be redundant, duplicated or identically zero (a zero row with
        b_i >= 0 is always satisfied; with b_i < 0 the polytope is empty).
    b : array (m,)
        Right-hand sides.
    exact : bool
        Use exact rational arithmetic (``cdd.gmp``); float inputs are converted exactly.

    Returns
    -------
    V : array (n, k)
        The vertices: float64, or an object array of Fractions when ``exact``.
    incidence : list of frozenset
        ``incidence[i]`` = indices of the rows of A with A_r v_i = b_r (tight).  Zero rows with
        b_r = 0 are tight everywhere.  In float mode tightness is cdd's (its tolerance), and the
        incidences of near-duplicate vertices that are merged (see ``VERTEX_MERGE_RTOL``) are united.

    Raises
    ------
    PolyattrError
        If the inputs are malformed, or the polytope is empty or unbounded.
    """
    A, b = _check_halfspaces(A, b, exact)
    m, k = A.shape
    if k == 0:
        raise PolyattrError("A: expected at least one column (a polytope in R^k, k >= 1)")
    zero_rows = [r for r in range(m) if all(A[r, j] == 0 for j in range(k))]
    for r in zero_rows:
        if b[r] < 0:
            raise PolyattrError(f"A/b: the polytope is empty (row {r} reads 0 <= {b[r]})")
    kept = [r for r in range(m) if r not in set(zero_rows)]
    always_tight = frozenset(r for r in zero_rows if b[r] == 0)
    if not kept:
        raise PolyattrError("A/b: the polytope is unbounded (no non-zero constraint rows)")

    if exact:
        import cdd.gmp as cddmod

        rows = [[b[r]] + [-A[r, j] for j in range(k)] for r in kept]
    else:
        import cdd as cddmod

        # Scaling each row to unit norm changes nothing mathematically but makes cdd's absolute
        # zero tests meaningful for badly scaled rows.
        norms = np.linalg.norm(A[kept], axis=1)
        rows = (np.hstack([b[kept, None], -A[kept]]) / norms[:, None]).tolist()
    mat = cddmod.matrix_from_array(rows, rep_type=cddmod.RepType.INEQUALITY)
    poly = cddmod.polyhedron_from_matrix(mat)
    gens = cddmod.copy_generators(poly)
    if len(gens.array) == 0:
        raise PolyattrError("A/b: the polytope is empty (no point satisfies A z <= b)")
    if gens.lin_set or any(row[0] == 0 for row in gens.array):
        raise PolyattrError("A/b: the polytope is unbounded (expected a bounded polytope)")
    cdd_incidence = cddmod.copy_incidence(poly)
    incidence = [frozenset(kept[i] for i in inc) | always_tight for inc in cdd_incidence]
    if exact:
        V = np.array([[Fraction(x) for x in row[1:]] for row in gens.array], dtype=object).reshape(-1, k)
        return V, incidence
    V = np.array([row[1:] for row in gens.array], dtype=np.float64).reshape(-1, k)
    return _merge_near_duplicates(V, incidence)


def _merge_near_duplicates(V, incidence):
    """Merge float vertices closer than the stated tolerance, uniting their incidences."""
    tol = VERTEX_MERGE_RTOL * max(1.0, float(np.max(np.abs(V))) if V.size else 1.0)
    keep: list[int] = []
    merged: list[set] = []
    for i in range(V.shape[0]):
        for slot, j in enumerate(keep):
            if np.max(np.abs(V[i] - V[j])) <= tol:
                merged[slot] |= incidence[i]
                break
        else:
            keep.append(i)
            merged.append(set(incidence[i]))
    return V[keep].copy(), [frozenset(s) for s in merged]


def facets_from_incidence(V, incidence, k: int | None = None, rtol: float = 1e-10):
    """The facets of a full-dimensional polytope from its vertex–row incidences.

    A row is a facet iff the vertices where it is tight affinely span dimension k-1 (exact rank for
    Fraction vertices, SVD rank with relative tolerance ``rtol`` for floats).  Several rows that
    describe the same facet (duplicates, positive multiples) count once: the lowest row index is kept.

    Parameters
    ----------
    V : array (n, k)
        Vertices.
    incidence : sequence of sets
        ``incidence[i]`` = row indices tight at vertex i.
    k : int, optional
        Dimension of the polytope; default ``V.shape[1]``.
    rtol : float
        Relative singular-value threshold of the float rank test.

    Returns
    -------
    list of (int, tuple of int)
        (row index, sorted vertex indices) for each facet, ordered by row index.
    """
    V = np.asarray(V)
    if V.ndim != 2 or len(incidence) != V.shape[0]:
        raise PolyattrError(f"V/incidence: expected one incidence set per vertex, got {len(incidence)} for shape {V.shape}")
    if k is None:
        k = V.shape[1]
    tight: dict[int, list[int]] = {}
    for i, inc in enumerate(incidence):
        for r in inc:
            tight.setdefault(int(r), []).append(i)
    out = []
    seen = set()
    for r in sorted(tight):
        verts = tuple(sorted(tight[r]))
        if len(verts) < k or verts in seen:
            continue  # fewer than k points cannot span a (k-1)-flat
        if affine_rank(V[list(verts)], rtol=rtol) == k - 1:
            seen.add(verts)
            out.append((r, verts))
    return out


def polytope_triangulation(A, b, exact: bool = False):
    """Vertices and a pulling triangulation of the polytope {A z <= b}.

    Returns
    -------
    V : array (n, k)
        Vertices (as :func:`polytope_vertices`).
    simplices : int64 array (m, k+1)
        The triangulation; empty (shape (0, k+1)) when the polytope is not full-dimensional.
    """
    V, incidence = polytope_vertices(A, b, exact=exact)
    k = V.shape[1]
    if affine_rank(V) < k:
        return V, np.zeros((0, k + 1), dtype=np.int64)
    facets = facets_from_incidence(V, incidence, k)
    return V, pulling_triangulation(V, [f for _, f in facets])


def polytope_volume(A, b, exact: bool = False):
    """Volume of {A z <= b} (0 for a lower-dimensional polytope); a Fraction when ``exact``."""
    return polytope_moments(A, b, order=0, exact=exact)[0]


def polytope_moments(A, b, order: int = 2, exact: bool = False):
    """Mass, first moment and second moment matrix of {A z <= b} under Lebesgue measure.

    Parameters
    ----------
    A, b : arrays (m, k), (m,)
        The polytope (bounded, non-empty).
    order : {0, 1, 2}
        Highest moment to compute; the others are returned as None.
    exact : bool
        Exact rational computation (cdd.gmp vertices, Fraction moments).

    Returns
    -------
    m0 : float or Fraction
        Volume.
    m1 : array (k,) or None
        integral of z.
    M2 : array (k, k) or None
        integral of z z^T.
    """
    V, S = polytope_triangulation(A, b, exact=exact)
    if exact:
        m0, m1, M2 = exact_simplex_moments(V, S, n_groups=1, order=order)
    else:
        m0, m1, M2, *_ = simplex_moments(V, S, n_groups=1, order=order)
    return m0[0], (None if m1 is None else m1[0]), (None if M2 is None else M2[0])


def _check_halfspaces(A, b, exact):
    if exact:
        try:
            A = to_fractions(A)
            b = to_fractions(b)
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            raise PolyattrError(f"A/b: expected finite rational numbers ({exc})") from None
    else:
        try:
            A = np.asarray(A, dtype=np.float64)
            b = np.asarray(b, dtype=np.float64)
        except (TypeError, ValueError):
            raise PolyattrError("A/b: expected arrays of numbers") from None
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise PolyattrError("A/b: contains NaN or infinite values")
    if A.ndim != 2 or b.ndim != 1 or A.shape[0] != b.shape[0]:
        raise PolyattrError(f"A/b: expected A of shape (m, k) and b of shape (m,), got {A.shape} and {b.shape}")
    return A, b
