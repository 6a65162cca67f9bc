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
from polyattr.integrate.simplex_kernels import SimplexMoments, simplex_moments
from polyattr.integrate.triangulate import affine_rank, pulling_triangulation

__all__ = [
    "polytope_vertices",
    "facets_from_incidence",
    "polytope_triangulation",
    "polytope_volume",
    "polytope_moments",
    "polytopes_moments",
    "VERTEX_MERGE_RTOL",
]

#: Float mode: two vertices returned by cdd are the same vertex when they differ by at most
#: ``VERTEX_MERGE_RTOL * max(1, max |U|)`` in every coordinate, where U are the vertices in the
#: normalised coordinates u = (z - center) / radius (the polytope contains the unit ball).  cdd's floating-point double
#: description can return a degenerate vertex (one where more than k rows are tight) several times,
#: once per basis, with differences at the 1e-15 relative level; 1e-10 merges those while keeping
#: apart genuinely distinct vertices closer than the inradius by a factor up to ~1e10.
VERTEX_MERGE_RTOL = 1e-10


def polytope_vertices(A, b, exact: bool = False, center=None, radius=None):
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
    center, radius : array (k,), float, optional
        Float mode only: an interior ball of the polytope (e.g. its Chebyshev ball, which region
        enumeration already knows).  cdd's floating-point zero tests are absolute (about 1e-7
        here), so a small polytope would lose vertices and incidences; the polytope is therefore
        moved to ``center`` and scaled by ``1/radius`` before calling cdd, and the vertices are
        mapped back.  Default: the Chebyshev ball from one LP (HiGHS).  If cdd's float arithmetic
        still fails (it raises on some long thin slivers), the vertices are computed exactly with
        ``cdd.gmp`` from the same data and rounded to float64.

    Returns
    -------
    V : array (n, k)
        The vertices: float64, or an object array of Fractions when ``exact``.
    incidence : list of frozenset
        ``incidence[i]`` = indices of the rows of A with A_r v_i = b_r (tight).  Zero rows with
        b_r = 0 are tight everywhere.  In float mode tightness is cdd's, the incidences of
        near-duplicate vertices that are merged (see ``VERTEX_MERGE_RTOL``) are united, and the
        result is checked against residual tests (see ``TIGHT_RTOL``); when the two disagree or a
        residual is ambiguous, vertices and incidences are recomputed exactly (``cdd.gmp``) from
        the same data and the vertices rounded to float64.

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
    zero_set = set(zero_rows)
    kept = [r for r in range(m) if r not in zero_set]
    always_tight = frozenset(r for r in zero_rows if b[r] == 0)
    if not kept:
        raise PolyattrError("A/b: the polytope is unbounded (no non-zero constraint rows)")

    if exact:
        import cdd.gmp as cddmod

        rows = [[b[r]] + [-A[r, j] for j in range(k)] for r in kept]
    else:
        import cdd as cddmod

        center, radius = _interior_ball(A[kept], b[kept], center, radius)
        # Work in u = (z - center) / radius, where the polytope contains the unit ball, and scale
        # each row to unit norm: this changes nothing mathematically but makes cdd's absolute zero
        # tests meaningful for small, far-away or badly scaled polytopes.
        norms = np.linalg.norm(A[kept], axis=1)
        offsets = (b[kept] - A[kept] @ center) / (radius * norms)
        rows = np.hstack([offsets[:, None], -A[kept] / norms[:, None]]).tolist()
    mat = cddmod.matrix_from_array(rows, rep_type=cddmod.RepType.INEQUALITY)
    try:
        poly = cddmod.polyhedron_from_matrix(mat)
    except RuntimeError:
        if exact:
            raise
        # cdd's float arithmetic gave up ("numerical inconsistency", e.g. on a long thin sliver):
        # redo it exactly on the same (exactly converted) float data and round the vertices.
        V, incidence = polytope_vertices(A, b, exact=True)
        return V.astype(np.float64), incidence
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
    U = np.array([row[1:] for row in gens.array], dtype=np.float64).reshape(-1, k)
    U, incidence = _merge_near_duplicates(U, incidence)  # in the well-scaled coordinates
    if not _incidence_is_clear(U, incidence, offsets, A[kept] / norms[:, None], kept):
        V, incidence = polytope_vertices(A, b, exact=True)
        return V.astype(np.float64), incidence
    return center + radius * U, incidence


#: Float incidences are checked against the residuals r = offset - a.u of the unit-norm rows in the
#: normalised coordinates u (distances in units of the inradius): a row must be tight in cdd's
#: incidence exactly when |r| <= TIGHT_RTOL * s, and no residual may fall in the grey zone
#: (TIGHT_RTOL * s, LOOSE_RTOL * s], where s = |offset| + ||u||_1 bounds the magnitudes summed.
#: Otherwise the float combinatorics is not trustworthy and the exact path is used instead.
TIGHT_RTOL = 1e-9
LOOSE_RTOL = 1e-6


def _incidence_is_clear(U, incidence, offsets, unit_rows, kept) -> bool:
    """Do cdd's float incidences agree with clear-cut residual tests (see TIGHT_RTOL)?"""
    residual = np.abs(offsets[None, :] - U @ unit_rows.T)
    scale = np.abs(offsets)[None, :] + np.abs(U).sum(axis=1)[:, None]
    tight = residual <= TIGHT_RTOL * scale
    loose = residual > LOOSE_RTOL * scale
    if not np.all(tight | loose):
        return False
    position = {r: i for i, r in enumerate(kept)}
    cdd_tight = np.zeros_like(tight)
    for i, inc in enumerate(incidence):
        for r in inc:
            if r in position:
                cdd_tight[i, position[r]] = True
    return bool(np.array_equal(cdd_tight, tight))


def _interior_ball(A, b, center, radius):
    """The (given or Chebyshev) interior ball used to normalise a float polytope for cdd."""
    k = A.shape[1]
    if center is None or radius is None:
        from polyattr.geometry.lp import chebyshev_center

        center, radius = chebyshev_center(A, b)
        if radius == np.inf:
            raise PolyattrError("A/b: the polytope is unbounded (expected a bounded polytope)")
        if center is None:
            raise PolyattrError("A/b: the polytope is empty (no point satisfies A z <= b)")
        # The LP's feasibility tolerance may put a tiny polytope's centre slightly outside it;
        # that is harmless: the change of variables below stays exact in meaning.
    center = np.asarray(center, dtype=np.float64).reshape(-1)
    radius = float(radius)
    if center.shape != (k,) or not np.all(np.isfinite(center)):
        raise PolyattrError(f"center: expected {k} finite coordinates, got shape {center.shape}")
    if not (np.isfinite(radius) and radius > 0):
        # no interior (a lower-dimensional polytope): cdd on the unscaled data
        return np.zeros(k), 1.0
    return center, radius


def _merge_near_duplicates(V, incidence):
    """Merge float vertices closer than the stated tolerance, uniting their incidences.

    Called on the normalised coordinates u = (z - center) / radius, so the tolerance is relative
    to the size of the polytope (its inradius), not absolute.
    """
    tol = VERTEX_MERGE_RTOL * max(1.0, float(np.max(np.abs(V))) if V.size else 1.0)
    if V.shape[0] < 2:
        return V, list(incidence)
    from scipy.spatial import cKDTree

    # close pairs in the max-norm from a k-d tree: memory grows with the pairs found, not with the
    # n^2 x k table of all differences (gigabytes for regions with tens of thousands of vertices)
    pairs = cKDTree(V).query_pairs(tol, p=np.inf, output_type="ndarray")
    if len(pairs) == 0:
        return V, list(incidence)  # the usual case: nothing to merge
    neighbours: list[list[int]] = [[] for _ in range(V.shape[0])]
    for a, c in pairs.tolist():
        neighbours[a].append(c)
        neighbours[c].append(a)
    keep: list[int] = []
    merged: list[set] = []
    taken = np.zeros(V.shape[0], dtype=bool)
    for i in range(V.shape[0]):
        if taken[i]:
            continue
        members = [i] + sorted(j for j in neighbours[i] if not taken[j])  # vertices within tol of representative i
        taken[members] = True
        keep.append(i)
        merged.append(set().union(*(incidence[j] for j in members)))
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


def polytope_triangulation(A, b, exact: bool = False, center=None, radius=None):
    """Vertices and a pulling triangulation of the polytope {A z <= b}.

    ``center``/``radius`` (float mode, optional) are passed to :func:`polytope_vertices`.

    In float mode the combinatorics (facets, triangulation) comes from cdd's float incidences.  If
    they are inconsistent, or the float vertices look lower-dimensional (a sliver thinner than
    cdd's or HiGHS's tolerances), the vertices and incidences are recomputed exactly with
    ``cdd.gmp`` on the same data; the triangulation is then exact and the vertices are rounded.

    Returns
    -------
    V : array (n, k)
        Vertices (as :func:`polytope_vertices`).
    simplices : int64 array (m, k+1)
        The triangulation; empty (shape (0, k+1)) when the polytope is not full-dimensional.
    """
    V, incidence = polytope_vertices(A, b, exact=exact, center=center, radius=radius)
    try:
        S = _triangulate(V, incidence)
    except PolyattrError:
        if exact:
            raise
        S = None
    if S is not None or exact:
        return V, (S if S is not None else np.zeros((0, V.shape[1] + 1), dtype=np.int64))
    V, incidence = polytope_vertices(A, b, exact=True)
    S = _triangulate(V, incidence)
    if S is None:
        S = np.zeros((0, V.shape[1] + 1), dtype=np.int64)
    return V.astype(np.float64), S


def _triangulate(V, incidence):
    """Pulling triangulation from incidences, or None when the vertices are not full-dimensional."""
    k = V.shape[1]
    if affine_rank(V) < k:
        return None
    facets = facets_from_incidence(V, incidence, k)
    return pulling_triangulation(V, [f for _, f in facets])


def polytope_volume(A, b, exact: bool = False):
    """Volume of {A z <= b} (0 for a lower-dimensional polytope); a Fraction when ``exact``."""
    return polytope_moments(A, b, order=0, exact=exact)[0]


def polytope_moments(A, b, order: int = 2, exact: bool = False, return_error: bool = False):
    """Mass, first moment and second moment matrix of {A z <= b} under Lebesgue measure.

    Parameters
    ----------
    A, b : arrays (m, k), (m,)
        The polytope (bounded, non-empty).
    order : {0, 1, 2}
        Highest moment to compute; the others are returned as None.
    exact : bool
        Exact rational computation (cdd.gmp vertices, Fraction moments).
    return_error : bool
        Float mode: also return the kernel's absolute rounding-error bounds ``(e0, e1, e2)`` (see
        :mod:`polyattr.integrate.simplex_kernels`).  They bound the error of the moments of the
        triangulated float vertices; the rounding of the vertices themselves (about
        eps * |coordinates| each) is not included.  Exact mode returns zeros.

    Returns
    -------
    m0 : float or Fraction
        Volume.
    m1 : array (k,) or None
        integral of z.
    M2 : array (k, k) or None
        integral of z z^T.
    errors : tuple (e0, e1, e2)
        Only with ``return_error``.
    """
    V, S = polytope_triangulation(A, b, exact=exact)
    if exact:
        m0, m1, M2 = exact_simplex_moments(V, S, n_groups=1, order=order)
        errors = (0.0, None if m1 is None else np.zeros(V.shape[1]), None if M2 is None else np.zeros((V.shape[1],) * 2))
    else:
        res = simplex_moments(V, S, n_groups=1, order=order)
        m0, m1, M2 = res.m0, res.m1, res.M2
        errors = tuple(None if e is None else e[0] for e in (res.m0_error, res.m1_error, res.M2_error))
    out = (m0[0], (None if m1 is None else m1[0]), (None if M2 is None else M2[0]))
    return out + (errors,) if return_error else out


def polytopes_moments(polytopes, order: int = 2, exact: bool = False):
    """Moments of many polytopes with one kernel call (the shape region enumeration produces).

    Parameters
    ----------
    polytopes : iterable of (A, b) or (A, b, center, radius)
        The polytopes, all in the same R^k; the optional interior ball (float mode) saves one LP
        per polytope (see :func:`polytope_vertices`).
    order : {0, 1, 2}
        Highest moment computed.
    exact : bool
        Exact rational computation.

    Returns
    -------
    SimplexMoments (float mode) or (m0, m1, M2) object arrays (exact mode)
        One row per polytope, in input order: ``m0`` (G,), ``m1`` (G, k), ``M2`` (G, k, k), and in
        float mode the absolute rounding-error bounds of the kernel.
    """
    chunks, k = [], None
    vertex_blocks, simplex_blocks, group_blocks, offset, n_simplices = [], [], [], 0, 0

    def flush():
        # one kernel call per chunk of whole polytopes, so no allocation grows with the total
        # number of simplices of all regions (each polytope's own size is checked against the budget)
        nonlocal vertex_blocks, simplex_blocks, group_blocks, offset, n_simplices
        if not vertex_blocks:
            return
        V, S = np.concatenate(vertex_blocks), np.concatenate(simplex_blocks)
        group, n_groups = np.concatenate(group_blocks), len(vertex_blocks)
        if exact:
            chunks.append(exact_simplex_moments(V, S, group=group, n_groups=n_groups, order=order))
        else:
            chunks.append(simplex_moments(V, S, group=group, n_groups=n_groups, order=order))
        vertex_blocks, simplex_blocks, group_blocks, offset, n_simplices = [], [], [], 0, 0

    for g, item in enumerate(polytopes):
        if len(item) == 2:
            (A, b), center, radius = item, None, None
        elif len(item) == 4:
            A, b, center, radius = item
        else:
            raise PolyattrError(f"polytopes[{g}]: expected (A, b) or (A, b, center, radius)")
        V, S = polytope_triangulation(A, b, exact=exact, center=center, radius=radius)
        if k is None:
            k = V.shape[1]
        elif V.shape[1] != k:
            raise PolyattrError(f"polytopes[{g}]: expected a polytope in R^{k}, got R^{V.shape[1]}")
        vertex_blocks.append(V)
        simplex_blocks.append(S + offset)
        group_blocks.append(np.full(len(S), len(vertex_blocks) - 1, dtype=np.int64))
        offset += V.shape[0]
        n_simplices += len(S)
        if n_simplices >= _SIMPLICES_PER_KERNEL_CALL:
            flush()
    if k is None:
        raise PolyattrError("polytopes: expected at least one polytope")
    flush()
    if len(chunks) == 1:
        return chunks[0]
    if exact:
        return tuple(None if parts[0] is None else np.concatenate(parts) for parts in zip(*chunks))
    fields = ("m0", "m1", "M2", "m0_error", "m1_error", "M2_error")
    return SimplexMoments(**{f: (None if getattr(chunks[0], f) is None
                                 else np.concatenate([getattr(c, f) for c in chunks])) for f in fields})


#: Simplices gathered before one moment-kernel call (about 100 MB of index and group arrays at k = 10).
_SIMPLICES_PER_KERNEL_CALL = 1 << 20


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
