"""Pulling triangulations of convex polytopes from their vertex–facet incidences.

A *pulling* (or *placing-from-a-vertex*) triangulation of a full-dimensional k-polytope P picks the
lowest-index vertex v0 and cones it over triangulations of the facets of P that do not contain v0;
each facet is triangulated the same way, recursively, down to single vertices.  Because every face
is triangulated by the same deterministic rule (pull its own lowest-index vertex), the triangulations
of two facets agree on their common ridge, so the cones fit together into a triangulation of P.

Only the combinatorics of P is used: a face is a set of vertex indices.  The facets of a face F are
the *maximal* sets among ``F ∩ G`` for the other facets G of the parent face (in a polytope every
proper face of F lies in a facet of F, and every facet of F is F ∩ G for a facet G of the parent).
This needs no rank test and no tolerance, so it works unchanged for degenerate (non-simple)
polytopes — pyramids, cubes cut through vertices, many hyperplanes through one point — and in exact
and float mode alike.  The geometry enters once, when the facets of P are found from the incidences
(:func:`polyattr.geometry.vertices.facets_from_incidence`, which does use affine rank tests).

qhull is deliberately not used (DESIGN.md: it is not robust on degenerate ReLU regions).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.exact_linalg import rank
from polyattr.memory import check_allocation, current_budget

__all__ = ["pulling_triangulation", "pulling_simplex_count", "affine_rank"]


def pulling_triangulation(V, facets: Iterable[Iterable[int]]) -> np.ndarray:
    """Triangulate a full-dimensional polytope by pulling its lowest-index vertices.

    Parameters
    ----------
    V : array (n, k)
        The vertices of the polytope (float64, or an object array of Fractions).  Only the shape is
        used: the triangulation is computed from the facet vertex sets alone.
    facets : iterable of iterables of int
        Each facet of the polytope as the set of indices (into ``V``) of the vertices it contains.
        Duplicates are ignored.  Must be the complete, correct facet list of a full-dimensional
        k-polytope (e.g. from :func:`polyattr.geometry.vertices.facets_from_incidence`).

    Returns
    -------
    simplices : int64 array (m, k+1)
        Vertex indices of the simplices; their interiors are disjoint and their union is the
        polytope.  Each row starts with the vertex pulled first.  For k = 0 (a point) this is
        ``[[0]]``.
    """
    V = np.asarray(V)
    if V.ndim != 2:
        raise PolyattrError(f"V: expected a 2-D array of vertices, got shape {V.shape}")
    n, k = V.shape
    if n == 0:
        raise PolyattrError("V: expected at least one vertex")
    if k == 0:
        return np.zeros((1, 1), dtype=np.int64)
    unique: dict[frozenset, None] = {}
    for f in facets:
        fs = frozenset(int(i) for i in f)
        if fs and any(i < 0 or i >= n for i in fs):
            raise PolyattrError(f"facets: vertex index out of range [0, {n}) in facet {sorted(fs)}")
        if fs:
            unique[fs] = None
    facet_list = list(unique)
    if len(facet_list) < k + 1:
        raise PolyattrError(
            f"facets: a full-dimensional {k}-polytope has at least {k + 1} facets, got {len(facet_list)}"
        )
    whole = frozenset().union(*facet_list)
    # a pulling triangulation of a cube-like k-polytope has up to k! simplices (3.6 million at
    # k = 10): count them on the face lattice first and refuse what the memory budget cannot hold
    per_simplex = _BYTES_PER_SIMPLEX + 24 * (k + 1)
    count = pulling_simplex_count(facet_list, k, limit=current_budget() // per_simplex + 1)
    check_allocation(count * per_simplex,
                     f"the pulling triangulation of a {k}-dimensional region "
                     f"({count}{' or more' if count > current_budget() // per_simplex else ''} simplices)")
    memo: dict[frozenset, list[tuple[int, ...]]] = {}
    simplices = _pull(whole, facet_list, k, memo)
    if not simplices:
        raise PolyattrError("facets: the triangulation is empty; the facet list does not describe a full-dimensional polytope")
    return np.asarray(simplices, dtype=np.int64).reshape(-1, k + 1)


#: Python bytes per simplex held while triangulating (a tuple object and a list slot), before the
#: 8 (k + 1) bytes of each of the three int64 copies (the array, its offset copy, the concatenation).
_BYTES_PER_SIMPLEX = 120


def pulling_simplex_count(facets, k: int, limit: int | None = None) -> int:
    """Number of simplices :func:`pulling_triangulation` makes from these facets, without making them.

    The same recursion as the triangulation with a count per face instead of a list, so the cost is
    the number of faces visited (3^k for a k-cube) rather than the number of simplices (k!).  With
    ``limit``, counting stops as soon as a face is known to need more than ``limit`` simplices, and
    that face's partial count (> limit) is returned.
    """
    facet_list = list(dict.fromkeys(frozenset(int(i) for i in f) for f in facets if len(f)))
    if k == 0:
        return 1
    if not facet_list:
        return 0
    whole = frozenset().union(*facet_list)
    memo: dict[frozenset, int] = {}

    def count(face, face_facets, dim):
        if dim == 0:
            return 1
        cached = memo.get(face)
        if cached is not None:
            return cached
        v0 = min(face)
        total = 0
        for F in face_facets:
            if v0 not in F:
                total += count(F, _facets_of_facet(F, face_facets), dim - 1)
                if limit is not None and total > limit:
                    raise _LimitReached(total)
        memo[face] = total
        return total

    try:
        return count(whole, facet_list, k)
    except _LimitReached as stop:
        return stop.count


class _LimitReached(Exception):
    def __init__(self, count: int):
        self.count = count


def _pull(face: frozenset, face_facets: Sequence[frozenset], dim: int, memo) -> list[tuple[int, ...]]:
    """Triangulate ``face`` (of dimension ``dim``, with facets ``face_facets``) by pulling min(face)."""
    if dim == 0:
        if len(face) != 1:
            raise PolyattrError(f"facets: inconsistent face lattice (a vertex face with indices {sorted(face)})")
        return [(next(iter(face)),)]
    cached = memo.get(face)
    if cached is not None:
        return cached
    v0 = min(face)
    out: list[tuple[int, ...]] = []
    for F in face_facets:
        if v0 in F:
            continue  # cones over facets through v0 would be flat
        for simplex in _pull(F, _facets_of_facet(F, face_facets), dim - 1, memo):
            out.append((v0,) + simplex)
    memo[face] = out
    return out


def _facets_of_facet(F: frozenset, siblings: Sequence[frozenset]) -> list[frozenset]:
    """The facets of F: maximal non-empty sets among F ∩ G for the other facets G of the parent."""
    candidates = {F & G for G in siblings if G != F}
    candidates.discard(frozenset())
    candidates.discard(F)
    ordered = sorted(candidates, key=len, reverse=True)
    maximal: list[frozenset] = []
    for c in ordered:
        if not any(c < m for m in maximal):
            maximal.append(c)
    return maximal


def affine_rank(points, rtol: float = 1e-10) -> int:
    """Dimension of the affine hull of the rows of ``points``.

    Exact (:func:`polyattr.exact_linalg.rank`) when ``points`` is an object array,
    otherwise numerically by SVD: singular values above ``rtol`` times the largest one count.
    Returns -1 for an empty set.
    """
    P = np.asarray(points)
    if P.shape[0] == 0:
        return -1
    if P.shape[0] == 1 or P.shape[1] == 0:
        return 0
    D = P[1:] - P[0]
    if P.dtype == object:
        return exact_rank(D)
    s = np.linalg.svd(np.asarray(D, dtype=np.float64), compute_uv=False)
    if s.size == 0 or s[0] == 0.0:
        return 0
    return int(np.sum(s > rtol * s[0]))


def exact_rank(M) -> int:
    """Rank of a matrix of rationals (:func:`polyattr.exact_linalg.rank`)."""
    return rank(np.asarray(M, dtype=object).tolist())
