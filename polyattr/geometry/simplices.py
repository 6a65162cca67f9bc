"""A triangulation of a stored box partition: every region cut into simplices, once.

The split backend stores each region in double description (vertices and, per vertex, the set of
tight constraints).  The pulling triangulation that :func:`~polyattr.geometry.splitting.region_volumes`
runs to get volumes is run here once more, but the simplices are *kept* (as rows of vertex indices)
instead of summed: a batch of slice integrals (partial dependence, interventional Shapley) then
integrates the model over any slice of the box from the simplices alone, without enumerating the
slice's regions again (:mod:`polyattr.integrate.slices`).

The simplices of one region tile it (pulling triangulation on its face lattice), so the simplices of
all regions tile the box; each simplex carries the index of its region, hence the network's affine
map on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from polyattr.jit import njit

from polyattr.geometry.splitting import _U1, _cell_facets, _lowest_bit, _maximal_sets, _popcount


@dataclass(frozen=True)
class Triangulation:
    """Simplices tiling a region set (input coordinates).

    Attributes
    ----------
    vertices : (V, d) float
        The stored vertices of the regions (region i's are a contiguous block).
    simplices : (T, d + 1) int64
        Rows of indices into ``vertices``.
    region : (T,) int64
        The region each simplex belongs to.
    volumes : (T,) float
        |det(v_1 - v_0, ..., v_d - v_0)| / d! of each simplex.
    """

    vertices: np.ndarray
    simplices: np.ndarray
    region: np.ndarray
    volumes: np.ndarray

    def __len__(self) -> int:
        return self.simplices.shape[0]


@njit(cache=True)
def _cell_simplices(M, k, d, nw, base, fac, cand, cand_ok, f_set, f_dim, f_apex, simplex, chain, out, count, write):
    """Pull the cell with tight sets M[:k]; each simplex's vertex indices (+ ``base``) go to
    ``out[count], out[count + 1], ...`` when ``write``.  Returns the new count.

    The same depth-first pulling as splitting's ``_volume_centroid`` (faces are vertex bitsets,
    the facets of a face are its maximal proper intersections with the cell's facets).
    """
    kw = (k + 63) // 64
    n_fac = _cell_facets(M, k, nw, kw, d, cand, cand_ok, fac)
    for ww in range(kw):
        f_set[0, ww] = np.uint64(0)
    for v in range(k):
        f_set[0, v >> 6] |= _U1 << np.uint64(v & 63)
    f_dim[0] = d
    top = 1
    while top > 0:
        top -= 1
        dim = f_dim[top]
        n_ap = d - dim
        for a in range(n_ap):
            chain[a] = f_apex[top, a]
        nv = 0
        apex = -1
        for ww in range(kw):
            x = f_set[top, ww]
            nv += _popcount(x)
            if apex < 0 and x != np.uint64(0):
                apex = 64 * ww + _lowest_bit(x)
        if nv == dim + 1:
            if write:
                for i in range(n_ap):
                    simplex[i] = chain[i]
                t = n_ap
                for ww in range(kw):
                    x = f_set[top, ww]
                    while x != np.uint64(0):
                        low = x & (~x + _U1)
                        x ^= low
                        simplex[t] = 64 * ww + _popcount(low - _U1)
                        t += 1
                for i in range(d + 1):
                    out[count, i] = base + simplex[i]
            count += 1
            continue
        if nv < dim + 1:
            continue
        mm = 0
        for i in range(n_fac):
            g = 0
            for ww in range(kw):
                cand[mm, ww] = f_set[top, ww] & fac[i, ww]
                g += _popcount(cand[mm, ww])
            if g >= dim and g < nv:
                mm += 1
        _maximal_sets(cand, mm, kw, cand_ok)
        aw = apex >> 6
        abit = _U1 << np.uint64(apex & 63)
        for i in range(mm):
            if cand_ok[i] and (cand[i, aw] & abit) == np.uint64(0):
                for ww in range(kw):
                    f_set[top, ww] = cand[i, ww]
                f_dim[top] = dim - 1
                for a in range(n_ap):
                    f_apex[top, a] = chain[a]
                f_apex[top, n_ap] = apex
                top += 1
    return count


@njit(cache=True)
def _all_simplices(M, offsets, d, out, region_out, write):
    """Triangulate every stored cell; returns the simplex count (rows written when ``write``)."""
    nw = M.shape[1]
    nbits = 64 * nw
    kmax = 1
    for r in range(len(offsets) - 1):
        kmax = max(kmax, offsets[r + 1] - offsets[r])
    kw = (kmax + 63) // 64
    fac = np.zeros((nbits, kw), np.uint64)
    cand = np.zeros((nbits, kw), np.uint64)
    cand_ok = np.zeros(nbits, np.bool_)
    f_set = np.zeros((d * (nbits + 1) + 2, kw), np.uint64)
    f_dim = np.zeros(d * (nbits + 1) + 2, np.int64)
    f_apex = np.zeros((d * (nbits + 1) + 2, d + 1), np.int64)
    simplex = np.empty(d + 1, np.int64)
    chain = np.empty(d + 1, np.int64)
    count = 0
    for r in range(len(offsets) - 1):
        lo = offsets[r]
        before = count
        count = _cell_simplices(M[lo:offsets[r + 1]], offsets[r + 1] - lo, d, nw, lo, fac, cand, cand_ok, f_set,
                                f_dim, f_apex, simplex, chain, out, count, write)
        if write:
            for s in range(before, count):
                region_out[s] = r
    return count


def triangulate_regions(regions) -> Triangulation | None:
    """The simplices of every region of ``regions`` (a full-dimensional RegionSet of a box from the
    split backend), in input coordinates; None when the set stores no vertices (other backends) or
    lives in reduced coordinates."""
    if regions.vertex_table is None or not regions.reduction.is_identity or len(regions) == 0:
        return None
    cached = regions.__dict__.get("_triangulation")
    if cached is not None:
        return cached
    X = np.ascontiguousarray(regions.vertex_table, dtype=np.float64)
    M = np.ascontiguousarray(regions.vertex_masks, dtype=np.uint64)
    offsets = np.ascontiguousarray(regions.vertex_offsets, dtype=np.int64)
    d = X.shape[1]
    empty = np.zeros((1, d + 1), np.int64)
    n = _all_simplices(M, offsets, d, empty, np.zeros(1, np.int64), False)
    simplices = np.zeros((n, d + 1), np.int64)
    region = np.zeros(n, np.int64)
    _all_simplices(M, offsets, d, simplices, region, True)
    edges = X[simplices[:, 1:]] - X[simplices[:, :1]]
    fact = float(np.prod(np.arange(1, d + 1)))
    volumes = np.abs(np.linalg.det(edges)) / fact if n else np.zeros(0)
    tri = Triangulation(X, simplices, region, volumes)
    object.__setattr__(regions, "_triangulation", tri)  # frozen RegionSet: cache once
    return tri
