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

from polyattr.numerics import UNIT_ROUNDOFF, gamma
from polyattr.geometry.splitting import _U1, _cell_facets, _gather_simplex, _lowest_bit, _popcount, _push_facets


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
        |det(v_1 - v_0, ..., v_d - v_0)| / d! of each simplex (computed in float).
    volume_errors : (T,) float
        A proven bound on |volumes - the exact volume of the simplex of the stored float vertices|
        (:func:`_volumes_with_bounds`).
    """

    vertices: np.ndarray
    simplices: np.ndarray
    region: np.ndarray
    volumes: np.ndarray
    volume_errors: np.ndarray

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
                _gather_simplex(f_set, top, kw, chain, n_ap, simplex)
                for i in range(d + 1):
                    out[count, i] = base + simplex[i]
            count += 1
            continue
        if nv < dim + 1:
            continue
        top = _push_facets(f_set, f_dim, f_apex, top, fac, n_fac, cand, cand_ok, kw, dim, nv, apex, chain, n_ap)
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


@njit(cache=True)
def _volumes_with_bounds(X, simplices, fact, u, gd, gx, gd1, vol, err):
    """vol[s] = |det A| / d! (A: rows v_i - v_0) by Gaussian elimination with partial pivoting, and
    err[s] >= |vol[s] - |det A*| / d!| for A* the exact differences of the float vertices.

    Derivation (Higham, Accuracy and Stability, 2nd ed.):
    * the computed A = A* + E0, |E0| <= u |A*| <= u / (1 - u) |A| (one rounded subtraction each);
    * Thm 9.3: the computed factors satisfy L U = P A + E1, |E1| <= gamma_d |L| |U|; det(L U) =
      +-prod U_ii, whose float product is within gamma_{d-1} of it (relative);
    * so |fl(prod U_ii)| - |det A*| is bounded by gamma_{d-1} |prod U_ii| + |det(B + E) - det B|
      with B = P A*, E = P E0 + E1; by multilinearity in the rows and Hadamard's inequality
      (||.||_2 <= ||.||_1), |det(B + E) - det B| <= prod (x_i + y_i) - prod x_i
      = sum_i (prod_{j<i} x_j) y_i (prod_{j>i} (x_j + y_j))  (non-negative terms only)
      with x_i >= ||b_i||_1 and y_i >= ||e_i||_1;
    * the division by d! (exact as a float for d <= 18) rounds once more (u relative).
    The float sums of |.| entering x_i and y_i are inflated by (1 + gx), gx = gamma_{2 d + 4} (they
    have <= 2 d + 2 roundings), and the rest of the bound's own arithmetic (non-negative terms,
    <= 4 d + 8 roundings per path) by the factor (1 + gd1), gd1 = gamma_{4 d + 10}.  Underflow is not
    accounted for (the stored vertices are not near 1e-300).
    """
    T, d1 = simplices.shape
    d = d1 - 1
    A = np.empty((d, d))
    absA = np.empty(d)
    xs = np.empty(d)
    ys = np.empty(d)
    for s in range(T):
        for i in range(d):
            for j in range(d):
                A[i, j] = X[simplices[s, i + 1], j] - X[simplices[s, 0], j]
        for i in range(d):
            acc = 0.0
            for j in range(d):
                acc += abs(A[i, j])
            absA[i] = acc
        # elimination with partial pivoting; rows of A are permuted with their norms (x_i follow B = P A*)
        det = 1.0
        singular = False
        for col in range(d):
            piv = col
            for r in range(col + 1, d):
                if abs(A[r, col]) > abs(A[piv, col]):
                    piv = r
            if A[piv, col] == 0.0:
                singular = True
                break
            if piv != col:
                for c in range(d):
                    tmp = A[col, c]
                    A[col, c] = A[piv, c]
                    A[piv, c] = tmp
                tmp = absA[col]
                absA[col] = absA[piv]
                absA[piv] = tmp
            for r in range(col + 1, d):
                A[r, col] = A[r, col] / A[col, col]  # the multiplier l_rc (|l_rc| <= 1)
                for c in range(col + 1, d):
                    A[r, c] -= A[r, col] * A[col, c]
            det *= A[col, col]
        if singular:
            # a zero pivot: no U to bound with; |det A*| <= prod ||a*_i||_2 <= prod ||a_i||_1 / (1 - u)
            p = 1.0
            for i in range(d):
                p *= absA[i] * (1.0 + gx)
            vol[s] = 0.0
            err[s] = p / fact * (1.0 + gd1)
            continue
        # row i of |L| |U|: sum_k |l_ik| (row sum of |U| over row k), with l_ii = 1
        for i in range(d):
            urow = 0.0
            for c in range(i, d):
                urow += abs(A[i, c])
            ys[i] = urow
        for i in range(d - 1, -1, -1):
            acc = ys[i]
            for k in range(i):
                acc += abs(A[i, k]) * ys[k]
            ys[i] = acc  # uses ys[k] for k < i, still the row sums of |U|
        for i in range(d):
            xs[i] = absA[i] * (1.0 + gx)  # >= ||b_i||_1
            ys[i] = (gd * ys[i] + 2.0 * u * absA[i]) * (1.0 + gx)  # >= ||e_i||_1
        diff = 0.0
        for i in range(d):
            term = ys[i]
            for j in range(i):
                term *= xs[j]
            for j in range(i + 1, d):
                term *= xs[j] + ys[j]
            diff += term
        a = abs(det)
        vol[s] = a / fact
        err[s] = ((gd * a + diff) / fact + u * vol[s]) * (1.0 + gd1)


def simplex_volumes(X, simplices):
    """Volumes of the simplices (rows of indices into the points X) and proven bounds on their
    errors (see :func:`_volumes_with_bounds`)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    simplices = np.ascontiguousarray(simplices, dtype=np.int64)
    d = X.shape[1]
    if d > 18:
        raise ValueError("simplex_volumes: d! must be exact in float64 (d <= 18)")
    fact = float(np.prod(np.arange(1, d + 1)))
    vol = np.zeros(len(simplices))
    err = np.zeros(len(simplices))
    if len(simplices):
        _volumes_with_bounds(X, simplices, fact, UNIT_ROUNDOFF, gamma(d), gamma(2 * d + 4), gamma(4 * d + 10), vol, err)
    return vol, err


def pulling_simplices(M, offsets, d: int) -> tuple[np.ndarray, np.ndarray]:
    """The pulling triangulation of every stored cell from its vertices' tight masks alone.

    ``M`` (V, words) uint64 tight masks, ``offsets`` (n + 1,) the cells' vertex ranges, ``d`` the
    dimension.  Returns (simplices (m, d+1) of global vertex indices, cell of each simplex, counted
    from 0 for ``offsets[0]``'s cell).  Combinatorial only: the same simplices with exact vertices
    triangulate the exact cells when the tight masks are the exact ones.
    """
    M = np.ascontiguousarray(M, dtype=np.uint64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n = _all_simplices(M, offsets, d, np.zeros((1, d + 1), np.int64), np.zeros(1, np.int64), False)
    simplices = np.zeros((n, d + 1), np.int64)
    region = np.zeros(n, np.int64)
    _all_simplices(M, offsets, d, simplices, region, True)
    return simplices, region


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
    simplices, region = pulling_simplices(M, offsets, X.shape[1])
    volumes, volume_errors = simplex_volumes(X, simplices)
    tri = Triangulation(X, simplices, region, volumes, volume_errors)
    object.__setattr__(regions, "_triangulation", tri)  # frozen RegionSet: cache once
    return tri
