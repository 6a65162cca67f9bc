"""Fast region enumeration of ReLU networks on a box by double-description cell splitting.

This is the numba backend ("backend (b)") of region enumeration; the LP-based traversal in
:mod:`polyattr.geometry.regions` is the reference it is tested against.

Algorithm
---------
A *cell* is a convex polytope stored in double-description form: its vertices, and for each vertex
a bitmask of the constraints that are tight there.  Constraint ids are ``0..d-1`` for the lower
box faces (``z_i = lower_i``), ``d..2d-1`` for the upper box faces and ``2d + n`` for hidden unit
``n`` (all units numbered layer by layer; identity units, slope 1, are passed through without a
cut and never tight, and the returned patterns keep only the cutting units, as in
:meth:`ReLUNetwork.activation_pattern`).  A leaky unit (slope alpha) cuts like a ReLU and passes
alpha times its value when inactive.

We start with the box as a single cell and process the hidden neurons in order.  Inside a cell the
activation pattern of all earlier layers is fixed, so the pre-activation of the current neuron is
an affine function there; its values at the vertices decide everything:

* no vertex strictly on one side (within a tolerance, see below): the cell lies on the other side,
  we record the neuron's bit in the pattern and mark the neuron tight at the vertices where the
  value is (numerically) zero.  A cell on which the pre-activation vanishes identically is
  inactive (the pattern uses ``> 0``).
* vertices strictly on both sides: the cell is split in two.  Each half keeps its own vertices and
  the vertices on the hyperplane, and gains one new vertex on every *edge* whose end points lie on
  opposite sides (linear interpolation of the coordinates and of the layer's pre-activations).

Edges are found combinatorially from the tight sets (edge subdivision, Berzins 2023): vertices
``a`` and ``b`` span an edge iff no third vertex is tight on every constraint that is tight at both
(the smallest face containing ``a`` and ``b`` then has only these two vertices).  Requiring at least
``d - 1`` common constraints is a cheap necessary filter.  The scan for a third vertex is skipped
when one end point, say ``a``, is *simple* (exactly d tight constraints) and exactly d - 1 are
common: a vertex's tight rows have rank d, so a's d rows are linearly independent, and so are the
d - 1 common ones; they cut a line out of the space, its intersection with the cell is a face of
dimension <= 1 holding the distinct vertices a and b, hence an edge whose only vertices are its two
end points, a and b.  The scan would have found no third vertex either, so the two tests agree
whenever the masks are the true tight sets (always in exact arithmetic; in a float run that is
what :mod:`~polyattr.geometry.verify_partition` proves, whose argument treats the edge test as a
function of the masks).  Without the scan the test costs O(words) per pair instead of O(k words).
Large cells (d = 8: hundreds of vertices, 10^4 pairs, ~100 edges per split) do not test every
pair: two simple vertices have >= d - 1 common constraints iff they share a (d - 1)-subset of
their masks, so a hash table of the positive simple vertices' d subsets, looked up with the
negative ones', lists those pairs; pairs with a degenerate end point are all tested; every listed
pair gets the same test, in the same order (:func:`_crossing_edges_hashed`).  A new vertex on
edge ``ab`` is tight exactly on ``mask(a) & mask(b)`` plus the splitting neuron, because a point strictly between two
points of a half-space is on its boundary iff both points are; so tight sets stay exact and no
linear algebra is ever needed to maintain the face structure.

The pre-activations of the current layer are stored at every vertex.  At the first neuron of a
layer they are recomputed from the vertex coordinates through the network with the cell's pattern
(so rounding does not accumulate across layers); inside a layer new vertices interpolate them.

Cells are processed depth first: a split pushes one half on an explicit stack and continues with
the other, so memory stays proportional to (number of neurons) x (vertices per cell) plus the
output.  Everything lives in flat numpy arrays inside ``@njit`` kernels.

When a cell has seen all neurons it is emitted with its volume and centroid, computed by a
*pulling triangulation* driven by the same tight sets: pick the first vertex of a face as apex and
cone it over the facets of the face that do not contain it, recursively.  The facets of a face F
are the inclusion-maximal sets ``{v in F : constraint c tight at v}`` over the constraints tight
at some but not all vertices of F, again a purely combinatorial test.  No qhull is involved.

Tolerance: a vertex value ``v`` of neuron ``n`` counts as zero when
``|v| <= ABS_TOL * s_n + REL_TOL * max_cell |v|`` where ``s_n`` is an interval-arithmetic bound of
``|pre-activation of n|`` over the box (so the threshold scales with the rounding error of
evaluating the neuron) and the second term scales with the values inside the cell.  Pieces
thinner than that are never created: a split happens only when both sides hold a vertex beyond
the tolerance, so no zero-volume region is emitted and the volumes still tile the box.  The band
is a margin, not a proof: every value that falls inside it without being exactly 0 is counted
(``SplitResult.n_ambiguous``).  :func:`~polyattr.geometry.regions.enumerate_regions` proves the
result a posteriori (:mod:`polyattr.geometry.verify_partition`: every decision the run made is
checked at the exact vertices, with rigorous float bounds and exact arithmetic where they do not
decide) and re-decides the partition in exact arithmetic (:mod:`polyattr.geometry.exact_regions`)
only when that proof fails; ``n_ambiguous`` only matters out of the verifier's scope.

Cost and limits
---------------
* The first cell has 2^d vertices, so the backend is meant for d <= ~10 (d > 20 is refused).
* Splitting costs about (regions) x (neurons per path) x (vertices per cell) x (layer width);
  the edge test is quadratic in the vertices of the cell being split (cubic for pairs of
  degenerate vertices, which need the scan).
* The pulling triangulation (volumes, centroids) visits a face once per chain of facets leading
  to it, which grows steeply with d.  From d = 6 on a memoised cone recursion (each face once,
  heights by Gram-Schmidt) replaces it and is 2-3x faster there, but volumes still cost ~6x the
  splitting at d = 6 and ~30x at d = 8 (cells with hundreds of vertices).
  ``compute_volumes=False`` skips them (patterns, vertices and interior points only).
* :func:`estimate_region_count` assumes every pair of effective hyperplanes meets in the box; on
  small boxes (where the hyperplanes are nearly an arrangement of parallel families) it can
  overestimate by 100x or more in high d.
* Both cores: the run goes in levels.  The cells of the first 12 units' arrangement are found
  first (depth first, one thread); then blocks of consecutive cells run through the rest of the
  first layer, and the first layer's cells through the deeper layers, in threads (the kernels
  release the GIL); the volumes are a second threaded pass over the stored cells.  A frontier
  inside a layer hands over the cells' layer values, so each level computes exactly what one
  run would, and the outputs are concatenated in cell order: the result is the same, bit for bit
  and in the same order, for any number of threads (and as one depth-first run).  With a region
  budget the blocks of a level share it (their counts are of disjoint subtrees, so their sum is a
  number of distinct regions) and all stop when it is reached: a budgeted run that the first
  layer alone exceeds (8 inputs) uses both cores too.
  The whole output is kept in memory.  The run is a pure function of (weights, box), so large
  jobs can be cut into sub-boxes and the results concatenated.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from polyattr.errors import PolyattrError, RegionBudgetExceeded
from polyattr.jit import njit
from polyattr.memory import check_allocation

#: a value is "on the hyperplane" below ABS_TOL x (interval bound of the neuron over the box) ...
ABS_TOL = 1e-11
#: ... plus REL_TOL x (largest |value| over the cell's vertices).
REL_TOL = 1e-12

_U1 = np.uint64(1)


# ----------------------------------------------------------------------------- bit helpers
@njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, inline="always")
def _set_bit(M, row, c):
    M[row, c >> 6] |= np.uint64(1) << np.uint64(c & 63)


@njit(cache=True)
def _grow_rows(A, need):
    """A copy of 2-D array A with at least ``need`` rows (capacity doubles; new rows are zero).

    One generic kernel: numba compiles a specialisation per dtype (float, uint64 masks, bool).
    """
    cap = A.shape[0]
    if need <= cap:
        return A
    B = np.zeros((max(need, 2 * cap), A.shape[1]), A.dtype)
    B[:cap] = A
    return B


@njit(cache=True)
def _grow_vec(a, need):
    """A copy of 1-D array a with at least ``need`` entries (capacity doubles; new entries are zero)."""
    cap = a.shape[0]
    if need <= cap:
        return a
    b = np.zeros(max(need, 2 * cap), a.dtype)
    b[:cap] = a
    return b


# ----------------------------------------------------------------------------- network values
@njit(cache=True)
def _layer_values(X, k, pat, W_all, b_all, slope_all, w_off, in_dim, out_dim, nstart, layer, V, h, h2):
    """Pre-activations of hidden layer ``layer`` at vertices X[:k], with the units of earlier
    layers fixed by ``pat`` (the cell's pattern over all units: a unit passes its value, or
    ``slope_all`` times it when inactive), written to V[:k, :width]."""
    for v in range(k):
        for i in range(in_dim[0]):
            h[i] = X[v, i]
        for l in range(layer + 1):
            wo = w_off[l]
            ni = in_dim[l]
            no = out_dim[l]
            s = nstart[l]
            for j in range(no):
                acc = b_all[s + j]
                base = wo + j * ni
                for i in range(ni):
                    acc += W_all[base + i] * h[i]
                h2[j] = acc
            if l == layer:
                for j in range(no):
                    V[v, j] = h2[j]
            else:
                for j in range(no):
                    h[j] = h2[j] if pat[s + j] else slope_all[s + j] * h2[j]


# ----------------------------------------------------------------------------- volume
@njit(cache=True)
def _det_abs(A, d):
    """|det A[:d, :d]| by Gaussian elimination with partial pivoting (A is overwritten)."""
    det = 1.0
    for c in range(d):
        p = c
        best = abs(A[c, c])
        for r in range(c + 1, d):
            if abs(A[r, c]) > best:
                best = abs(A[r, c])
                p = r
        if best == 0.0:
            return 0.0
        if p != c:
            for j in range(c, d):
                t = A[c, j]
                A[c, j] = A[p, j]
                A[p, j] = t
        piv = A[c, c]
        det *= piv
        for r in range(c + 1, d):
            f = A[r, c] / piv
            if f != 0.0:
                for j in range(c + 1, d):
                    A[r, j] -= f * A[c, j]
    return abs(det)


@njit(cache=True, inline="always")
def _lowest_bit(x):
    """Index of the lowest set bit of a non-zero uint64."""
    return _popcount((x & (~x + _U1)) - _U1)


@njit(cache=True)
def _maximal_sets(cand, m, kw, ok):
    """ok[i] = cand[i] is inclusion-maximal among cand[:m] (equal sets: only the first is kept)."""
    for i in range(m):
        good = True
        for j in range(m):
            if j == i:
                continue
            sub = True
            eq = True
            for w in range(kw):
                ci = cand[i, w]
                cj = cand[j, w]
                if (ci & cj) != ci:
                    sub = False
                    break
                if ci != cj:
                    eq = False
            if sub and (not eq or j < i):
                good = False
                break
        ok[i] = good


@njit(cache=True)
def _cell_facets(M, k, nw, kw, d, cand, ok, fac):
    """Write the facets of a cell (as vertex bitsets) into ``fac``; return how many.

    A constraint tight at >= d of the cell's k vertices gives a candidate vertex set; the
    inclusion-maximal candidates are the facets.  ``cand`` and ``ok`` are work space.
    """
    m = 0
    for w in range(nw):
        bits = np.uint64(0)
        for v in range(k):
            bits |= M[v, w]
        while bits != np.uint64(0):
            low = bits & (~bits + _U1)
            bits ^= low
            for ww in range(kw):
                cand[m, ww] = np.uint64(0)
            cnt = 0
            for v in range(k):
                if M[v, w] & low:
                    cand[m, v >> 6] |= _U1 << np.uint64(v & 63)
                    cnt += 1
            if cnt >= d:  # a facet has at least d vertices
                m += 1
    _maximal_sets(cand, m, kw, ok)
    n_fac = 0
    for i in range(m):
        if ok[i]:
            for ww in range(kw):
                fac[n_fac, ww] = cand[i, ww]
            n_fac += 1
    return n_fac


@njit(cache=True, inline="always")
def _gather_simplex(f_set, top, kw, chain, n_ap, simplex):
    """A simplex face of a pulling run: the apexes pulled so far (chain[:n_ap]) then the face's
    vertices, in increasing order, written to ``simplex``."""
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


@njit(cache=True, inline="always")
def _push_facets(f_set, f_dim, f_apex, top, fac, n_fac, cand, cand_ok, kw, dim, nv, apex, chain, n_ap):
    """Push onto the pulling stack (from slot ``top``) the facets of face f_set[top] (nv vertices,
    dimension dim) that do not hold its apex: the maximal proper intersections with the cell's
    facets; each carries the apex chain so far plus ``apex``.  Returns the new stack top."""
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
    return top


@njit(cache=True)
def _volume_centroid(X, M, k, d, nw, cen, fac, cand, cand_ok, f_set, f_dim, f_apex, A, simplex, chain):
    """Volume of the cell with vertices X[:k] and tight sets M[:k]; its centroid goes to ``cen``.

    Pulling triangulation driven by the tight sets.  Faces are vertex bitsets.  The facets of the
    cell are the maximal sets {v : c tight at v}; every face of the cell is its intersection with
    some facets, so the facets of a face F are the maximal proper sets F & facet_i.  The other
    arrays are caller-provided work space (rows >= 64 nw, d (64 nw + 1) + 2; columns >= words of k).
    """
    kw = (k + 63) // 64
    fact = 1.0
    for i in range(2, d + 1):
        fact *= i
    # ---- facets of the cell
    n_fac = _cell_facets(M, k, nw, kw, d, cand, cand_ok, fac)
    # ---- depth-first pulling
    for ww in range(kw):
        f_set[0, ww] = np.uint64(0)
    for v in range(k):
        f_set[0, v >> 6] |= _U1 << np.uint64(v & 63)
    f_dim[0] = d
    top = 1
    vol = 0.0
    for i in range(d):
        cen[i] = 0.0
    while top > 0:
        top -= 1
        dim = f_dim[top]
        n_ap = d - dim
        for a in range(n_ap):
            chain[a] = f_apex[top, a]  # the children overwrite this stack slot
        nv = 0
        apex = -1
        for ww in range(kw):
            x = f_set[top, ww]
            nv += _popcount(x)
            if apex < 0 and x != np.uint64(0):
                apex = 64 * ww + _lowest_bit(x)
        if nv == dim + 1:
            # a simplex face: the apexes pulled so far plus its vertices span one d-simplex
            _gather_simplex(f_set, top, kw, chain, n_ap, simplex)
            p0 = simplex[0]
            for r in range(d):
                q = simplex[r + 1]
                for c in range(d):
                    A[r, c] = X[q, c] - X[p0, c]
            sv = _det_abs(A, d) / fact
            vol += sv
            for r in range(d + 1):
                q = simplex[r]
                for c in range(d):
                    cen[c] += sv * X[q, c]
            continue
        if nv < dim + 1:
            continue  # cannot happen with consistent tight sets; ignore defensively
        # facets of this face: maximal proper intersections with the cell's facets
        top = _push_facets(f_set, f_dim, f_apex, top, fac, n_fac, cand, cand_ok, kw, dim, nv, apex, chain, n_ap)
    if vol > 0.0:
        for c in range(d):
            cen[c] /= (d + 1) * vol
    return vol


@njit(cache=True)
def _hash_slot(keys, stamp, cur, F, kw):
    """Open-addressing slot of face bitset F in the memo table: its slot, or the free one."""
    mask = keys.shape[0] - 1
    hsh = np.uint64(1469598103934665603)
    for w in range(kw):
        hsh = (hsh ^ F[w]) * np.uint64(1099511628211)
    s = np.int64(hsh >> np.uint64(20)) & mask
    while True:
        if stamp[s] != cur:
            return s
        same = True
        for w in range(kw):
            if keys[s, w] != F[w]:
                same = False
                break
        if same:
            return s
        s = (s + 1) & mask


@njit(cache=True)
def _distance_to_hull(X, verts, nv, a, d, Q, R, dim):
    """Distance from point X[a] to the affine hull (of dimension ``dim``) of X[verts[:nv]].

    Gram-Schmidt on the first vertices that add a well-conditioned direction (residual above 1/10
    of the edge scale: cheap, usually dim + 1 vertices are read); if that does not reach ``dim``
    directions (a thin face), redo it with full pivoting over all vertices."""
    h0 = verts[0]
    nq = 0
    scale = 0.0
    r = np.empty(d)
    for t in range(1, nv):
        if nq == dim:
            break
        s0 = 0.0
        for c in range(d):
            r[c] = X[verts[t], c] - X[h0, c]
            s0 += r[c] * r[c]
        if s0 > scale:
            scale = s0
        for q in range(nq):
            p = 0.0
            for c in range(d):
                p += r[c] * Q[q, c]
            for c in range(d):
                r[c] -= p * Q[q, c]
        s = 0.0
        for c in range(d):
            s += r[c] * r[c]
        if s > 1e-2 * scale:
            nrm = math.sqrt(s)
            for c in range(d):
                Q[nq, c] = r[c] / nrm
            nq += 1
    if nq == dim:
        for c in range(d):
            r[c] = X[a, c] - X[h0, c]
        for q in range(nq):
            p = 0.0
            for c in range(d):
                p += r[c] * Q[q, c]
            for c in range(d):
                r[c] -= p * Q[q, c]
        s = 0.0
        for c in range(d):
            s += r[c] * r[c]
        return math.sqrt(s)
    return _distance_to_hull_pivoted(X, verts, nv, a, d, Q, R)


@njit(cache=True)
def _distance_to_hull_pivoted(X, verts, nv, a, d, Q, R):
    """Distance from point X[a] to the affine hull of X[verts[:nv]] (Gram-Schmidt with pivoting)."""
    h0 = verts[0]
    for t in range(1, nv):
        for c in range(d):
            R[t, c] = X[verts[t], c] - X[h0, c]
    nq = 0
    scale = 0.0
    for t in range(1, nv):
        s = 0.0
        for c in range(d):
            s += R[t, c] * R[t, c]
        if s > scale:
            scale = s
    used = np.zeros(nv, np.bool_)
    while nq < nv - 1:
        best = -1
        bn = 0.0
        for t in range(1, nv):
            if used[t]:
                continue
            s = 0.0
            for c in range(d):
                s += R[t, c] * R[t, c]
            if s > bn:
                bn = s
                best = t
        if best < 0 or bn <= 1e-24 * scale:
            break
        used[best] = True
        nrm = math.sqrt(bn)
        for c in range(d):
            Q[nq, c] = R[best, c] / nrm
        for t in range(1, nv):
            if not used[t]:
                p = 0.0
                for c in range(d):
                    p += R[t, c] * Q[nq, c]
                for c in range(d):
                    R[t, c] -= p * Q[nq, c]
        nq += 1
    # residual of the apex
    r = np.empty(d)
    for c in range(d):
        r[c] = X[a, c] - X[h0, c]
    for q in range(nq):
        p = 0.0
        for c in range(d):
            p += r[c] * Q[q, c]
        for c in range(d):
            r[c] -= p * Q[q, c]
    s = 0.0
    for c in range(d):
        s += r[c] * r[c]
    return math.sqrt(s)


@njit(cache=True)
def _volume_centroid_memo(X, M, k, d, nw, cen, keys, stamp, m_vol, m_cen, cur):
    """Volume and centroid by the cone (Lasserre) recursion with memoised faces.

    vol_j(G) = sum over facets H of G not containing the apex a = min(G) of
    dist(a, aff H) * vol_{j-1}(H) / j, and the centroid of each cone is (a + j c_H) / (j + 1).  A
    face is identified by its vertex bitset, so each face is evaluated once (hash table ``keys``,
    entries valid where ``stamp == cur``) instead of once per chain of facets as in pulling.
    Faces and facets come from the tight sets exactly as in :func:`_volume_centroid`.
    """
    kw = (k + 63) // 64
    nbits = nw * 64
    cand = np.zeros((nbits, kw), np.uint64)
    ok = np.zeros(nbits, np.bool_)
    fac = np.zeros((nbits, kw), np.uint64)
    n_fac = _cell_facets(M, k, nw, kw, d, cand, ok, fac)
    # explicit post-order stack of frames, one per dimension
    fr_set = np.zeros((d + 1, kw), np.uint64)
    fr_child = np.zeros((d + 1, nbits, kw), np.uint64)
    fr_nchild = np.zeros(d + 1, np.int64)
    fr_next = np.zeros(d + 1, np.int64)
    fr_apex = np.zeros(d + 1, np.int64)
    fr_vol = np.zeros(d + 1)
    fr_m1 = np.zeros((d + 1, d))
    verts = np.empty(k, np.int64)
    Q = np.empty((d, d))
    R = np.empty((k, d))
    res_cen = np.empty(d)
    # frame f has dimension d - f
    for ww in range(kw):
        fr_set[0, ww] = np.uint64(0)
    for v in range(k):
        fr_set[0, v >> 6] |= _U1 << np.uint64(v & 63)
    top = 0
    opened = True  # the top frame still needs its children listed
    n_ins = 0
    while True:
        f = top
        dim = d - f
        if opened:
            opened = False
            nv = 0
            apex = -1
            for ww in range(kw):
                x = fr_set[f, ww]
                nv += _popcount(x)
                if apex < 0 and x != np.uint64(0):
                    apex = 64 * ww + _lowest_bit(x)
            fr_apex[f] = apex
            fr_vol[f] = 0.0
            for c in range(d):
                fr_m1[f, c] = 0.0
            fr_next[f] = 0
            fr_nchild[f] = 0
            if dim == 0:
                fr_vol[f] = 1.0  # a point has 0-dimensional volume 1
                for c in range(d):
                    fr_m1[f, c] = X[apex, c]
            else:
                mm = 0
                aw = apex >> 6
                abit = _U1 << np.uint64(apex & 63)
                for i in range(n_fac):
                    g = 0
                    for ww in range(kw):
                        cand[mm, ww] = fr_set[f, ww] & fac[i, ww]
                        g += _popcount(cand[mm, ww])
                    if g >= dim and g < nv:
                        mm += 1
                    elif dim == 1 and g == 1:
                        mm += 1  # the end points of an edge
                _maximal_sets(cand, mm, kw, ok)
                nc = 0
                for i in range(mm):
                    if ok[i] and (cand[i, aw] & abit) == np.uint64(0):
                        for ww in range(kw):
                            fr_child[f, nc, ww] = cand[i, ww]
                        nc += 1
                fr_nchild[f] = nc
        if fr_next[f] < fr_nchild[f]:
            i = fr_next[f]
            fr_next[f] = i + 1
            s = _hash_slot(keys, stamp, cur, fr_child[f, i], kw)
            if stamp[s] == cur:
                # known face: add its cone now
                child_vol = m_vol[s]
                for c in range(d):
                    res_cen[c] = m_cen[s, c]
                child = i
            else:
                for ww in range(kw):
                    fr_set[f + 1, ww] = fr_child[f, i, ww]
                top = f + 1
                opened = True
                continue
        else:
            # frame finished: its volume and centroid
            vol_f = fr_vol[f]
            for c in range(d):
                res_cen[c] = fr_m1[f, c] / vol_f if vol_f > 0.0 else X[fr_apex[f], c]
            if f == 0:
                for c in range(d):
                    cen[c] = res_cen[c]
                return vol_f
            if dim > 0 and n_ins < keys.shape[0] // 2:  # a cache: stop filling at half load
                n_ins += 1
                s = _hash_slot(keys, stamp, cur, fr_set[f], kw)
                stamp[s] = cur
                for ww in range(kw):
                    keys[s, ww] = fr_set[f, ww]
                m_vol[s] = vol_f
                for c in range(d):
                    m_cen[s, c] = res_cen[c]
            child_vol = vol_f
            top = f - 1
            f = top
            dim = d - f
            child = fr_next[f] - 1
        # add the cone from frame f's apex over its child `child` (volume child_vol, centroid res_cen)
        nv = 0
        for ww in range(kw):
            x = fr_child[f, child, ww]
            while x != np.uint64(0):
                low = x & (~x + _U1)
                x ^= low
                verts[nv] = 64 * ww + _popcount(low - _U1)
                nv += 1
        a = fr_apex[f]
        hgt = _distance_to_hull(X, verts, nv, a, d, Q, R, dim - 1)
        cv = hgt * child_vol / dim
        fr_vol[f] += cv
        for c in range(d):
            fr_m1[f, c] += cv * (X[a, c] + dim * res_cen[c]) / (dim + 1)


# ----------------------------------------------------------------------------- the splitting kernel
#: from this many (positive, negative) vertex pairs on, a split finds its crossing edges through a
#: hash table of the simple vertices' (d - 1)-subsets instead of testing every pair
_HASH_MIN_PAIRS = 256


@njit(cache=True, inline="always")
def _is_edge(M, k, nw, d, p, q, pc, common):
    """Do vertices p and q (tight-set sizes in pc) span an edge of the cell M[:k]?  ``common``
    receives mask(p) & mask(q).  At least d - 1 common constraints; then the fast path for a
    simple end point, else no third vertex tight on all of them (module docstring, "Edges")."""
    cnt = 0
    for w in range(nw):
        common[w] = M[p, w] & M[q, w]
        cnt += _popcount(common[w])
    if cnt < d - 1:
        return False
    if cnt == d - 1 and (pc[p] == d or pc[q] == d):
        return True
    return _no_third_vertex(M, k, nw, p, q, common)


@njit(cache=True, inline="always")
def _mask_hash(key, nw, size):
    hh = np.uint64(1469598103934665603)
    for w in range(nw):
        hh = (hh ^ key[w]) * np.uint64(1099511628211)
    return np.int64(hh >> np.uint64(17)) & (size - 1)


@njit(cache=True)
def _crossing_edges_hashed(M, k, nw, d, pos, npos, neg, nneg, pc, common):
    """The pairs (ip, iq) for which ``_is_edge(pos[ip], neg[iq])`` holds, as sorted codes
    ip * nneg + iq (the order of the plain double loop), without testing every pair.

    Two simple vertices (exactly d tight constraints) have >= d - 1 common constraints iff they
    share a (d - 1)-subset of their masks, so those candidates come from a hash table of the
    positive simple vertices' d subsets, looked up with the negative ones'; pairs with a degenerate
    end point (more than d) are all tested.  Every candidate then gets the same test as in the
    double loop, so the accepted set is the same function of the masks.  Returns (codes, count).
    """
    n_ins = 0
    for ip in range(npos):
        if pc[pos[ip]] == d:
            n_ins += d
    size = 2
    while size < 2 * n_ins:
        size *= 2
    head = np.full(size, -1, np.int64)
    e_key = np.empty((max(n_ins, 1), nw), np.uint64)
    e_ip = np.empty(max(n_ins, 1), np.int64)
    e_next = np.empty(max(n_ins, 1), np.int64)
    key = np.empty(nw, np.uint64)
    t = 0
    for ip in range(npos):
        p = pos[ip]
        if pc[p] != d:
            continue
        for w in range(nw):
            word = M[p, w]
            while word != np.uint64(0):
                low = word & (~word + _U1)
                word ^= low
                for ww in range(nw):
                    e_key[t, ww] = M[p, ww]
                e_key[t, w] ^= low
                s = _mask_hash(e_key[t], nw, size)
                e_ip[t] = ip
                e_next[t] = head[s]
                head[s] = t
                t += 1
    cand = np.empty(max(16, 2 * (npos + nneg)), np.int64)
    nc = 0
    for iq in range(nneg):
        q = neg[iq]
        if pc[q] != d:
            continue
        for w in range(nw):
            word = M[q, w]
            while word != np.uint64(0):
                low = word & (~word + _U1)
                word ^= low
                for ww in range(nw):
                    key[ww] = M[q, ww]
                key[w] ^= low
                e = head[_mask_hash(key, nw, size)]
                while e >= 0:
                    same = True
                    for ww in range(nw):
                        if e_key[e, ww] != key[ww]:
                            same = False
                            break
                    if same:
                        cand = _grow_vec(cand, nc + 1)
                        cand[nc] = e_ip[e] * nneg + iq
                        nc += 1
                    e = e_next[e]
    # pairs with a degenerate end point
    deg_neg = np.empty(nneg, np.int64)
    n_dn = 0
    for iq in range(nneg):
        if pc[neg[iq]] != d:
            deg_neg[n_dn] = iq
            n_dn += 1
    for ip in range(npos):
        if pc[pos[ip]] != d:
            cand = _grow_vec(cand, nc + nneg)
            for iq in range(nneg):
                cand[nc] = ip * nneg + iq
                nc += 1
        elif n_dn > 0:
            cand = _grow_vec(cand, nc + n_dn)
            for t in range(n_dn):
                cand[nc] = ip * nneg + deg_neg[t]
                nc += 1
    cand = np.sort(cand[:nc])
    out = np.empty(max(nc, 1), np.int64)
    n_out = 0
    for c in range(nc):
        if c > 0 and cand[c] == cand[c - 1]:
            continue  # equal masks meet in every subset
        ip = cand[c] // nneg
        if _is_edge(M, k, nw, d, pos[ip], neg[cand[c] - ip * nneg], pc, common):
            out[n_out] = cand[c]
            n_out += 1
    return out, n_out


@njit(cache=True, inline="always")
def _no_third_vertex(M, k, nw, p, q, common):
    """No vertex of M[:k] but p and q is tight on every constraint of ``common``: pq is an edge."""
    for v in range(k):
        if v == p or v == q:
            continue
        inside = True
        for w in range(nw):
            if (M[v, w] & common[w]) != common[w]:
                inside = False
                break
        if inside:
            return False
    return True


# state[] slots shared between the Python driver and the kernel (so a run can be resumed)
_N_STACK, _STACK_ROWS, _N_OUT, _N_VOUT, _N_SPLIT, _N_AMBIGUOUS = 0, 1, 2, 3, 4, 5
#: from this dimension on, volumes use the memoised cone recursion instead of pulling
#: (measured per cell: d = 5 pulling 31 us vs 40 us; d = 7 6.5 ms vs 2.5 ms; d = 8 27 vs 14 ms)
_MEMO_MIN_DIM = 6


@njit(cache=True, nogil=True)
def _split_kernel(
    d, nw, n_neurons, W_all, b_all, slope_all, w_off, in_dim, out_dim, nstart, layer_of, abs_tol, rel_tol,
    sX, sM, sV, s_row0, s_nrow, s_neuron, s_pat, state,
    oX, oM, oV, o_off, o_pat, stop_at,
):
    """Process stacked cells depth first until the stack is empty or ``stop_at`` cells are out.

    The stack holds pending cells: rows s_row0[e]:s_row0[e]+s_nrow[e] of (sX, sM, sV), the next
    neuron to examine and the pattern so far.  A cell is finished when it has seen the first
    ``n_neurons`` units (fewer than the network's: the cells of the first layers' arrangement).
    Emitted cells (vertices, tight sets, pattern) go to the CSR output arrays; volumes are a
    separate pass (:func:`_volumes_kernel`).  Arrays that may have grown are returned; counters
    live in ``state``.  ``nogil``: independent stacks run in parallel threads.
    """
    wmax = sV.shape[1]
    hmax = max(wmax, d)
    h = np.empty(hmax)
    h2 = np.empty(hmax)
    cap0 = 64
    cX = np.empty((cap0, d))
    cM = np.zeros((cap0, nw), np.uint64)
    cV = np.empty((cap0, wmax))
    aX = np.empty((cap0, d))
    aM = np.zeros((cap0, nw), np.uint64)
    aV = np.empty((cap0, wmax))
    bX = np.empty((cap0, d))
    bM = np.zeros((cap0, nw), np.uint64)
    bV = np.empty((cap0, wmax))
    side = np.empty(cap0, np.int64)
    pos = np.empty(cap0, np.int64)
    neg = np.empty(cap0, np.int64)
    pc = np.empty(cap0, np.int64)
    ecode = np.empty(cap0, np.int64)
    cpat = np.zeros(max(n_neurons, 1), np.bool_)
    common = np.empty(nw, np.uint64)
    while state[_N_STACK] > 0 and state[_N_OUT] < stop_at:
        # ---- pop the top cell into the scratch cell c
        e = state[_N_STACK] - 1
        r0 = s_row0[e]
        k = s_nrow[e]
        neuron = s_neuron[e]
        cX = _grow_rows(cX, k)
        cM = _grow_rows(cM, k)
        cV = _grow_rows(cV, k)
        for v in range(k):
            for i in range(d):
                cX[v, i] = sX[r0 + v, i]
            for w in range(nw):
                cM[v, w] = sM[r0 + v, w]
        # the layer values still to be read: those of the units from ``neuron`` on in its layer (a
        # layer's first unit recomputes them from the coordinates; a frontier inside a layer emits them)
        v_lo = 0
        v_hi = 0
        if neuron < layer_of.shape[0]:
            v_lo = neuron - nstart[layer_of[neuron]]
            if v_lo > 0:
                v_hi = out_dim[layer_of[neuron]]
        for v in range(k):
            for j in range(v_lo, v_hi):
                cV[v, j] = sV[r0 + v, j]
        for n in range(n_neurons):
            cpat[n] = s_pat[e, n]
        state[_N_STACK] = e
        state[_STACK_ROWS] = r0
        # ---- run the cell through the remaining neurons
        while neuron < n_neurons:
            layer = layer_of[neuron]
            j = neuron - nstart[layer]
            if j == 0:
                _layer_values(cX, k, cpat, W_all, b_all, slope_all, w_off, in_dim, out_dim, nstart, layer, cV, h, h2)
            if slope_all[neuron] == 1.0:
                # an identity unit: an affine pass-through, no hyperplane, never split or tight
                cpat[neuron] = True
                neuron += 1
                continue
            if side.shape[0] < k:
                side = np.empty(2 * k, np.int64)
                pos = np.empty(2 * k, np.int64)
                neg = np.empty(2 * k, np.int64)
                pc = np.empty(2 * k, np.int64)
            scale = 0.0
            for v in range(k):
                a = abs(cV[v, j])
                if a > scale:
                    scale = a
            tol = abs_tol[neuron] + rel_tol * scale
            npos = 0
            nneg = 0
            for v in range(k):
                val = cV[v, j]
                if val > tol:
                    side[v] = 1
                    pos[npos] = v
                    npos += 1
                elif val < -tol:
                    side[v] = -1
                    neg[nneg] = v
                    nneg += 1
                else:
                    side[v] = 0
                    if val != 0.0:
                        # inside the zero band but not 0: rounding or a sliver thinner than the
                        # band; the float run cannot tell, the caller re-decides exactly
                        state[_N_AMBIGUOUS] += 1
            cbit = 2 * d + neuron
            if npos == 0 or nneg == 0:
                # the cell lies on one side: keep it whole (also when one side would only hold
                # on-hyperplane vertices, i.e. have zero volume)
                cpat[neuron] = npos > 0
                if npos + nneg > 0:
                    for v in range(k):
                        if side[v] == 0:
                            _set_bit(cM, v, cbit)
                neuron += 1
                continue
            # ---- split: a = positive half, b = negative half
            width = out_dim[layer]
            ka = 0
            kb = 0
            aX = _grow_rows(aX, k)
            aM = _grow_rows(aM, k)
            aV = _grow_rows(aV, k)
            bX = _grow_rows(bX, k)
            bM = _grow_rows(bM, k)
            bV = _grow_rows(bV, k)
            for v in range(k):
                if side[v] >= 0:
                    for i in range(d):
                        aX[ka, i] = cX[v, i]
                    for w in range(nw):
                        aM[ka, w] = cM[v, w]
                    for jj in range(j + 1, width):
                        aV[ka, jj] = cV[v, jj]
                    if side[v] == 0:
                        _set_bit(aM, ka, cbit)
                        aV[ka, j] = 0.0
                    ka += 1
                if side[v] <= 0:
                    for i in range(d):
                        bX[kb, i] = cX[v, i]
                    for w in range(nw):
                        bM[kb, w] = cM[v, w]
                    for jj in range(j + 1, width):
                        bV[kb, jj] = cV[v, jj]
                    if side[v] == 0:
                        _set_bit(bM, kb, cbit)
                        bV[kb, j] = 0.0
                    kb += 1
            # new vertices on the edges that cross the hyperplane
            for ip in range(npos):
                p = pos[ip]
                pc[p] = 0
                for w in range(nw):
                    pc[p] += _popcount(cM[p, w])
            for iq in range(nneg):
                q = neg[iq]
                pc[q] = 0
                for w in range(nw):
                    pc[q] += _popcount(cM[q, w])
            if npos * nneg <= _HASH_MIN_PAIRS:
                n_edges = 0
                for ip in range(npos):
                    p = pos[ip]
                    for iq in range(nneg):
                        q = neg[iq]
                        if _is_edge(cM, k, nw, d, p, q, pc, common):
                            ecode = _grow_vec(ecode, n_edges + 1)
                            ecode[n_edges] = ip * nneg + iq
                            n_edges += 1
            else:
                ecode, n_edges = _crossing_edges_hashed(cM, k, nw, d, pos, npos, neg, nneg, pc, common)
            for t_e in range(n_edges):
                ip = ecode[t_e] // nneg
                p = pos[ip]
                q = neg[ecode[t_e] - ip * nneg]
                for w in range(nw):
                    common[w] = cM[p, w] & cM[q, w]
                vp = cV[p, j]
                vq = cV[q, j]
                t = vp / (vp - vq)
                aX = _grow_rows(aX, ka + 1)
                aM = _grow_rows(aM, ka + 1)
                aV = _grow_rows(aV, ka + 1)
                bX = _grow_rows(bX, kb + 1)
                bM = _grow_rows(bM, kb + 1)
                bV = _grow_rows(bV, kb + 1)
                for i in range(d):
                    x = cX[p, i] + t * (cX[q, i] - cX[p, i])
                    aX[ka, i] = x
                    bX[kb, i] = x
                for jj in range(j + 1, width):
                    y = cV[p, jj] + t * (cV[q, jj] - cV[p, jj])
                    aV[ka, jj] = y
                    bV[kb, jj] = y
                aV[ka, j] = 0.0
                bV[kb, j] = 0.0
                for w in range(nw):
                    aM[ka, w] = common[w]
                    bM[kb, w] = common[w]
                _set_bit(aM, ka, cbit)
                _set_bit(bM, kb, cbit)
                ka += 1
                kb += 1
            state[_N_SPLIT] += 1
            # push the negative half, continue with the positive one
            e = state[_N_STACK]
            r0 = state[_STACK_ROWS]
            s_row0 = _grow_vec(s_row0, e + 1)
            s_nrow = _grow_vec(s_nrow, e + 1)
            s_neuron = _grow_vec(s_neuron, e + 1)
            s_pat = _grow_rows(s_pat, e + 1)
            sX = _grow_rows(sX, r0 + kb)
            sM = _grow_rows(sM, r0 + kb)
            sV = _grow_rows(sV, r0 + kb)
            for v in range(kb):
                for i in range(d):
                    sX[r0 + v, i] = bX[v, i]
                for w in range(nw):
                    sM[r0 + v, w] = bM[v, w]
                for jj in range(j + 1, width):
                    sV[r0 + v, jj] = bV[v, jj]
            s_row0[e] = r0
            s_nrow[e] = kb
            s_neuron[e] = neuron + 1
            for n in range(n_neurons):
                s_pat[e, n] = cpat[n]
            s_pat[e, neuron] = False
            state[_N_STACK] = e + 1
            state[_STACK_ROWS] = r0 + kb
            cX, aX = aX, cX
            cM, aM = aM, cM
            cV, aV = aV, cV
            k = ka
            cpat[neuron] = True
            neuron += 1
        # ---- emit the finished cell
        c = state[_N_OUT]
        nv0 = state[_N_VOUT]
        o_off = _grow_vec(o_off, c + 2)
        o_pat = _grow_rows(o_pat, c + 1)
        oX = _grow_rows(oX, nv0 + k)
        oM = _grow_rows(oM, nv0 + k)
        for v in range(k):
            for i in range(d):
                oX[nv0 + v, i] = cX[v, i]
            for w in range(nw):
                oM[nv0 + v, w] = cM[v, w]
        if n_neurons < layer_of.shape[0] and n_neurons > nstart[layer_of[n_neurons]]:
            # a frontier inside a layer: the cell leaves with the layer values still to be read
            oV = _grow_rows(oV, nv0 + k)
            for v in range(k):
                for jj in range(n_neurons - nstart[layer_of[n_neurons]], out_dim[layer_of[n_neurons]]):
                    oV[nv0 + v, jj] = cV[v, jj]
        for n in range(n_neurons):
            o_pat[c, n] = cpat[n]
        o_off[c + 1] = nv0 + k
        state[_N_OUT] = c + 1
        state[_N_VOUT] = nv0 + k
    return sX, sM, sV, s_row0, s_nrow, s_neuron, s_pat, oX, oM, oV, o_off, o_pat


@njit(cache=True, nogil=True)
def _volumes_kernel(X, M, offsets, first, last, d, nw, vol_out, cen_out):
    """Volumes and centroids of the stored cells first..last-1 (vertices X[offsets[i]:offsets[i+1]],
    tight sets M likewise), written to vol_out[i], cen_out[i].  A pure function of each cell's
    stored data, so any split of the range over threads gives the same numbers."""
    nbits = 64 * nw
    vkw = 1
    v_fac = np.zeros((nbits, vkw), np.uint64)
    v_cand = np.zeros((nbits, vkw), np.uint64)
    v_ok = np.zeros(nbits, np.bool_)
    v_set = np.zeros((d * (nbits + 1) + 2, vkw), np.uint64)
    v_dim = np.zeros(d * (nbits + 1) + 2, np.int64)
    v_apex = np.zeros((d * (nbits + 1) + 2, d + 1), np.int64)
    v_A = np.empty((d, d))
    v_simplex = np.empty(d + 1, np.int64)
    v_chain = np.empty(d + 1, np.int64)
    cen = np.empty(d)
    # memo table of face volumes for d >= _MEMO_MIN_DIM (entries valid where stamp == cell number)
    m_size = 1 << 16 if d >= _MEMO_MIN_DIM else 1
    m_keys = np.zeros((m_size, 1), np.uint64)
    m_stamp = np.full(m_size, -1, np.int64)
    m_vol = np.zeros(m_size)
    m_cen = np.zeros((m_size, d))
    for r in range(first, last):
        lo = offsets[r]
        k = offsets[r + 1] - lo
        cX = X[lo:lo + k]
        cM = M[lo:lo + k]
        if d >= _MEMO_MIN_DIM:
            if m_keys.shape[1] < (k + 63) // 64:
                m_keys = np.zeros((m_keys.shape[0], (k + 63) // 64), np.uint64)
                m_stamp[:] = -1
            vol = _volume_centroid_memo(cX, cM, k, d, nw, cen, m_keys, m_stamp, m_vol, m_cen, r)
        else:
            if (k + 63) // 64 > vkw:
                vkw = (k + 63) // 64
                v_fac = np.zeros((nbits, vkw), np.uint64)
                v_cand = np.zeros((nbits, vkw), np.uint64)
                v_set = np.zeros((d * (nbits + 1) + 2, vkw), np.uint64)
            vol = _volume_centroid(
                cX, cM, k, d, nw, cen, v_fac, v_cand, v_ok, v_set, v_dim, v_apex, v_A, v_simplex, v_chain
            )
        vol_out[r] = vol
        for i in range(d):
            cen_out[r, i] = cen[i]


# ----------------------------------------------------------------------------- Python API
@dataclass(frozen=True)
class SplitResult:
    """The linear regions of a ReLU network on a box, as plain numpy arrays.

    Attributes
    ----------
    patterns : (n, n_neurons) bool
        Activation pattern of each region (pre-activation > 0 in its interior).
    interior_points : (n, d)
        A point strictly inside each region (the mean of its vertices).
    volumes : (n,)
        Lebesgue volume of each region.
    centroids : (n, d)
        Centre of mass of each region.
    vertex_offsets : (n + 1,) int64
        Region i has the vertices ``vertices[vertex_offsets[i]:vertex_offsets[i + 1]]``.
    vertices : (V, d)
    vertex_masks : (V, n_words) uint64
        Bit ``c`` of row v is set when constraint ``c`` is tight at vertex v: ``c < d`` lower box
        face ``c``, ``d <= c < 2d`` upper face ``c - d``, ``c >= 2d`` hidden neuron ``c - 2d``.
    lower, upper : (d,)
        The box.
    n_cells_split : int
        How many times a cell was cut in two.
    n_ambiguous : int
        How many vertex values fell inside the zero band without being exactly 0 (see the module
        docstring): when positive, a sign was decided by the tolerance, not proven, and
        :func:`~polyattr.geometry.regions.enumerate_regions` re-decides the partition exactly.
    seconds : float
        Wall-clock time of the enumeration (including JIT compilation on a first call).
    """

    patterns: np.ndarray
    interior_points: np.ndarray
    volumes: np.ndarray
    centroids: np.ndarray
    vertex_offsets: np.ndarray
    vertices: np.ndarray
    vertex_masks: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_cells_split: int
    seconds: float
    n_ambiguous: int = 0

    @property
    def n_regions(self) -> int:
        return int(self.patterns.shape[0])

    def __len__(self) -> int:
        return self.n_regions

    def region_vertices(self, i: int) -> np.ndarray:
        """The vertices of region ``i`` (rows of a (k, d) array)."""
        return self.vertices[self.vertex_offsets[i] : self.vertex_offsets[i + 1]]

    def region_masks(self, i: int) -> np.ndarray:
        return self.vertex_masks[self.vertex_offsets[i] : self.vertex_offsets[i + 1]]


def _prepare(weights, biases, lower, upper):
    """Validate the inputs at the boundary; return float64 arrays of the hidden layers and box."""
    weights, biases = list(weights), list(biases)
    if len(weights) == 0 or len(weights) != len(biases):
        raise PolyattrError(
            f"weights/biases: expected the same positive number of weight matrices and bias vectors, "
            f"got {len(weights)} and {len(biases)}"
        )
    Ws, bs = [], []
    for i, (W, b) in enumerate(zip(weights, biases)):
        try:
            W = np.asarray(np.asarray(W, dtype=object).astype(float) if np.asarray(W).dtype == object else W, dtype=np.float64)
            b = np.asarray(np.asarray(b, dtype=object).astype(float) if np.asarray(b).dtype == object else b, dtype=np.float64)
        except (TypeError, ValueError):
            raise PolyattrError(f"W{i}/b{i}: expected arrays of numbers") from None
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise PolyattrError(f"W{i}/b{i}: expected shapes (out, in) and (out,), got {W.shape} and {b.shape}")
        if i > 0 and W.shape[1] != Ws[-1].shape[0]:
            raise PolyattrError(f"W{i}: expected {Ws[-1].shape[0]} input columns, got shape {W.shape}")
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise PolyattrError(f"W{i}/b{i}: contain NaN or infinite values")
        Ws.append(W)
        bs.append(b)
    d = Ws[0].shape[1]
    lo = np.asarray(lower, dtype=np.float64).reshape(-1)
    up = np.asarray(upper, dtype=np.float64).reshape(-1)
    if lo.shape != (d,) or up.shape != (d,):
        raise PolyattrError(f"lower/upper: expected {d} values each (the network has {d} inputs), got {lo.shape} and {up.shape}")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(up))) or np.any(lo >= up):
        raise PolyattrError(f"lower/upper: expected finite bounds with lower < upper, got {lo} and {up}")
    return Ws[:-1], bs[:-1], lo, up


def _prepare_slopes(negative_slopes, hidden_W) -> list[np.ndarray]:
    """Per hidden layer the float64 unit slopes (0 ReLU, 1 identity, else leaky); None: all ReLU."""
    if negative_slopes is None:
        return [np.zeros(W.shape[0]) for W in hidden_W]
    slopes = list(negative_slopes)
    if len(slopes) != len(hidden_W):
        raise PolyattrError(f"negative_slopes: expected one array per hidden layer ({len(hidden_W)}), got {len(slopes)}")
    out = []
    for i, (a, W) in enumerate(zip(slopes, hidden_W)):
        try:
            arr = np.asarray(np.asarray(a, dtype=object).astype(float), dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise PolyattrError(f"negative_slopes[{i}]: expected numbers") from None
        if arr.shape != (W.shape[0],) or not np.all(np.isfinite(arr)):
            raise PolyattrError(f"negative_slopes[{i}]: expected {W.shape[0]} finite numbers, got shape {arr.shape}")
        out.append(arr)
    return out


def _interval_scales(hidden_W, hidden_b, slopes, lo, up) -> np.ndarray:
    """Per hidden neuron, an interval-arithmetic bound of |pre-activation| over the box: the size
    of the numbers whose rounding errors the zero tolerance must absorb."""
    h = np.maximum(np.abs(lo), np.abs(up))
    out = []
    for W, b, a in zip(hidden_W, hidden_b, slopes):
        s = np.abs(W) @ h + np.abs(b)
        out.append(s)
        h = s * np.maximum(1.0, np.abs(a))
    return np.concatenate(out) if out else np.zeros(0)


def split_enumerate(
    weights, biases, lower, upper, max_regions: int | None = None, progress: bool = False,
    compute_volumes: bool = True, negative_slopes=None, workers: int | None = None,
) -> SplitResult:
    """Enumerate the linear regions of a ReLU network on the box [lower, upper].

    Parameters
    ----------
    weights, biases : sequences of arrays
        The layers, ``weights[i]`` of shape (out, in) as in :class:`~polyattr.models.relu.ReLUNetwork`
        (``network.weights, network.biases``); ReLU after every layer but the last.  Only the hidden
        layers matter, so multi-output networks need no special treatment.
    lower, upper : array-like (d,)
        The box.
    max_regions : int, optional
        Stop with :class:`~polyattr.errors.RegionBudgetExceeded` as soon as more regions are found.
    progress : bool
        Show a tqdm progress bar of regions found.
    compute_volumes : bool
        When False, skip the triangulation: ``volumes`` and ``centroids`` are NaN (patterns,
        vertices and interior points only; about twice as fast in 5+ dimensions).
        :func:`region_volumes` computes them later from the result's vertices.
    workers : int or None
        Threads for the deeper layers and the volumes (None: the machine's cores, at most 8).
        The result does not depend on it: the same regions in the same order, the same numbers.

    Returns
    -------
    SplitResult
    """
    t0 = time.perf_counter()
    hW, hb, lo, up = _prepare(weights, biases, lower, upper)
    slopes = _prepare_slopes(negative_slopes, hW)
    d = lo.shape[0]
    if max_regions is not None:
        if isinstance(max_regions, bool) or not isinstance(max_regions, (int, np.integer)) or max_regions < 1:
            raise PolyattrError(f"max_regions: expected a positive integer or None, got {max_regions!r}")
    if d > 20:
        raise PolyattrError(f"lower/upper: the splitting backend starts from the 2^d box vertices; d = {d} is too large")
    sizes = [W.shape[0] for W in hW]
    n_neurons = int(sum(sizes))
    n_layers = len(hW)
    nw = (2 * d + n_neurons + 63) // 64
    wmax = max(sizes) if sizes else 1
    W_all = np.concatenate([W.ravel() for W in hW]) if hW else np.zeros(1)
    b_all = np.concatenate(hb) if hb else np.zeros(1)
    slope_all = np.concatenate(slopes) if slopes else np.zeros(1)
    cut = slope_all[:n_neurons] != 1.0
    in_dim = np.array([W.shape[1] for W in hW] or [d], dtype=np.int64)
    out_dim = np.array(sizes or [1], dtype=np.int64)
    w_off = np.zeros(max(n_layers, 1), dtype=np.int64)
    nstart = np.zeros(max(n_layers, 1), dtype=np.int64)
    for l in range(1, n_layers):
        w_off[l] = w_off[l - 1] + hW[l - 1].size
        nstart[l] = nstart[l - 1] + sizes[l - 1]
    layer_of = np.repeat(np.arange(n_layers, dtype=np.int64), sizes) if sizes else np.zeros(0, np.int64)
    abs_tol = ABS_TOL * _interval_scales(hW, hb, slopes, lo, up)
    if abs_tol.size == 0:
        abs_tol = np.zeros(1)

    net = _KernelNetwork(d, nw, n_neurons, W_all, b_all, slope_all, w_off, in_dim, out_dim, nstart, layer_of,
                         abs_tol, wmax)
    # the first cell holds the 2^d box corners (coordinates, incidence words, layer values), and the
    # kernel's scratch cells can grow as large: refuse up front what the memory budget cannot hold
    check_allocation(4.0 * 2**d * 8 * (d + nw + wmax + 1), f"splitting the {d}-dimensional box (2^{d} corners)")
    # the box as the first cell: corner bits choose lower/upper per coordinate
    corners = ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1).astype(bool)
    box_X = np.where(corners, up, lo).astype(np.float64)
    box_M = np.zeros((2**d, nw), dtype=np.uint64)
    for i in range(d):
        face = np.where(corners[:, i], d + i, i)
        for v, c in enumerate(face):
            box_M[v, c >> 6] |= np.uint64(1) << np.uint64(c & 63)
    box_pat = np.zeros((1, max(n_neurons, 1)), np.bool_)
    limit = None if max_regions is None else int(max_regions) + 1
    workers = _worker_count(workers)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="regions", unit=" regions")
    try:
        # Levels with the same output order as one depth-first run: the cells of the first
        # _FIRST_UNITS units' arrangement (depth first, one thread), then every cell's subtree
        # through the rest of the first layer, then every first-layer cell's subtree through the
        # deeper layers; a level runs blocks of consecutive cells (independent: threads run them in
        # parallel, nogil) whose outputs are concatenated in cell order.  A frontier inside a layer
        # carries the cells' layer values (so nothing is recomputed that one run would not).
        layer1 = int(nstart[1]) if n_layers > 1 else n_neurons
        pre = min(layer1, _FIRST_UNITS)
        first = _run_stack(net, pre, box_X, box_M, np.array([0, 2**d]), box_pat, 0, limit,
                           bar if pre == n_neurons else None)
        cells, found, over = first, len(first.offsets) - 1, False
        n_ambiguous, n_split = first.n_ambiguous, first.n_split
        for start, end in ((pre, layer1), (layer1, n_neurons)):
            # every cell of a frontier holds at least one region: past the budget there, the run is over
            if start == end or over or (limit is not None and len(cells.offsets) - 1 >= limit):
                continue
            cells, found, over = _run_level(net, cells, start, end, limit, workers,
                                            bar if end == n_neurons else None)
            n_ambiguous += cells.n_ambiguous
            n_split += cells.n_split
    finally:
        if bar is not None:
            bar.close()
    n = len(cells.offsets) - 1
    if over or (limit is not None and n >= limit):
        n = limit  # at least this many (threads may have found a few more, by timing)
    if max_regions is not None and n > max_regions:
        raise RegionBudgetExceeded(
            f"max_regions: found {n} regions and enumeration was not finished "
            f"(budget {max_regions}); raise max_regions or shrink the domain",
            found=n,
        )
    vertices, masks, offsets = cells.X, cells.M, cells.offsets  # already trimmed copies: no second copy
    patterns = cells.patterns[:, :n_neurons]
    counts = np.diff(offsets)
    interior = np.add.reduceat(vertices, offsets[:-1], axis=0) / counts[:, None]
    if compute_volumes:
        volumes, centroids = region_volumes(vertices, masks, offsets, workers=workers)
    else:
        volumes, centroids = np.full(n, np.nan), np.full((n, d), np.nan)
    return SplitResult(
        patterns=patterns[:, cut].copy(),
        interior_points=interior,
        volumes=volumes,
        centroids=centroids,
        vertex_offsets=offsets,
        vertices=vertices,
        vertex_masks=masks,
        lower=lo,
        upper=up,
        n_cells_split=n_split,
        seconds=time.perf_counter() - t0,
        n_ambiguous=n_ambiguous,
    )


@dataclass(frozen=True)
class _KernelNetwork:
    """The flat arrays the splitting kernel reads (the hidden layers and per-unit tolerances)."""

    d: int
    nw: int
    n_neurons: int
    W_all: np.ndarray
    b_all: np.ndarray
    slope_all: np.ndarray
    w_off: np.ndarray
    in_dim: np.ndarray
    out_dim: np.ndarray
    nstart: np.ndarray
    layer_of: np.ndarray
    abs_tol: np.ndarray
    wmax: int


@dataclass(frozen=True)
class _StackRun:
    """The cells a kernel run emitted (CSR vertices and tight sets, patterns) and its counters."""

    X: np.ndarray
    M: np.ndarray
    offsets: np.ndarray
    patterns: np.ndarray
    n_split: int
    n_ambiguous: int
    V: np.ndarray | None = None  # the layer values, for a frontier inside a layer
    complete: bool = True  # every cell ran to the end (no region limit or shared budget stopped it)

    @property
    def nbytes(self) -> int:
        return self.X.nbytes + self.M.nbytes + self.offsets.nbytes + self.patterns.nbytes


#: the first level of the threaded runs: the cells of the first layer's first units (at most
#: sum_{k <= d} C(12, k) cells, enough blocks for the threads and cheap in one)
_FIRST_UNITS = 12
#: fewest regions per kernel call when blocks share a region budget (how far a block can overshoot it)
_SHARED_CHUNK = 2_000


class _SharedBudget:
    """The region counts of blocks running in parallel against one budget.  Blocks are disjoint
    subtrees, so the counts' sum is a number of distinct regions: once it reaches the limit the
    whole run is over budget, and every block may stop.  Each block writes only its own slot."""

    def __init__(self, limit: int, n_blocks: int, already: int = 0):
        self.limit = limit
        self.already = already
        self.counts = [0] * n_blocks

    def slot(self, i: int) -> "_BudgetSlot":
        return _BudgetSlot(self, i)

    def total(self) -> int:
        return self.already + sum(self.counts)


@dataclass(frozen=True)
class _BudgetSlot:
    shared: _SharedBudget
    index: int

    def report(self, found: int) -> None:
        self.shared.counts[self.index] = found

    def left(self) -> int:
        """Regions still allowed before all blocks together reach the limit."""
        return self.shared.limit - self.shared.total()


def _run_stack(net: _KernelNetwork, n_neurons, cells_X, cells_M, cells_offsets, cells_patterns, start_neuron,
               limit, bar, cells_V=None, budget=None) -> _StackRun:
    """Run the cells (CSR rows, all at ``start_neuron``) depth first through the first ``n_neurons``
    units; the output lists the first cell's regions first.  ``cells_V``: the cells' layer values
    when ``start_neuron`` is inside a layer (a frontier run's ``V``).  ``budget``: a
    :class:`_SharedBudget` slot; the run stops early (``complete`` False) once all runs sharing it
    have found ``limit`` regions together."""
    d, nw = net.d, net.nw
    n_cells = len(cells_offsets) - 1
    n_all = max(net.n_neurons, 1)
    # stack entry e holds cell n_cells - 1 - e, so the first cell is on top and is finished first
    sizes = np.diff(cells_offsets)[::-1]
    s_row0 = np.zeros(n_cells + n_all + 2, np.int64)
    s_row0[1:n_cells] = np.cumsum(sizes)[:-1]
    s_nrow = np.zeros(n_cells + n_all + 2, np.int64)
    s_nrow[:n_cells] = sizes
    s_neuron = np.full(n_cells + n_all + 2, start_neuron, np.int64)
    s_pat = np.zeros((n_cells + n_all + 2, n_all), np.bool_)
    s_pat[:n_cells, :cells_patterns.shape[1]] = cells_patterns[::-1]
    order = np.concatenate([np.arange(cells_offsets[c], cells_offsets[c + 1]) for c in range(n_cells - 1, -1, -1)])
    rows = max(int(cells_offsets[-1]), 1)
    sX = np.empty((2 * rows, d))
    sM = np.zeros((2 * rows, nw), np.uint64)
    sX[:len(order)] = cells_X[order]
    sM[:len(order)] = cells_M[order]
    sV = np.zeros((2 * rows, net.wmax))
    if cells_V is not None:
        sV[:len(order)] = cells_V[order]
    state = np.zeros(6, np.int64)
    state[_N_STACK] = n_cells
    state[_STACK_ROWS] = len(order)
    cap = 1024
    oX = np.empty((cap * 4, d))
    oM = np.zeros((cap * 4, nw), np.uint64)
    o_off = np.zeros(cap + 1, np.int64)
    o_pat = np.zeros((cap, n_all), np.bool_)
    inside = 0 < n_neurons < net.n_neurons and n_neurons != net.nstart[net.layer_of[n_neurons]]
    oV = np.zeros((cap * 4 if inside else 1, net.wmax))
    stop = np.iinfo(np.int64).max if limit is None else limit
    # back to Python now and then: progress, Ctrl-C, the memory budget of the growing arrays, and
    # the region budget shared with the other blocks
    chunk = 20_000 if bar is not None else 100_000
    complete = True
    while state[_N_STACK] > 0 and state[_N_OUT] < stop:
        before = int(state[_N_OUT])
        stop_now = min(stop, before + chunk)
        if budget is not None:
            left = budget.left()
            if left <= 0:
                complete = False
                break
            # far from the budget, long kernel calls; near it, short ones (a block overshoots it by
            # at most one call's regions)
            stop_now = min(stop_now, before + max(_SHARED_CHUNK, left // 8), before + left)
        (sX, sM, sV, s_row0, s_nrow, s_neuron, s_pat, oX, oM, oV, o_off, o_pat) = _split_kernel(
            d, nw, n_neurons, net.W_all, net.b_all, net.slope_all, net.w_off, net.in_dim, net.out_dim, net.nstart,
            net.layer_of, net.abs_tol, REL_TOL, sX, sM, sV, s_row0, s_nrow, s_neuron, s_pat, state,
            oX, oM, oV, o_off, o_pat, stop_now,
        )
        if bar is not None:
            bar.update(int(state[_N_OUT]) - before)
        held = sum(a.nbytes for a in (sX, sM, sV, s_pat, oX, oM, oV, o_off, o_pat))
        check_allocation(2 * held, f"the region enumeration ({int(state[_N_OUT])} regions so far, "
                                   f"{int(state[_N_VOUT])} vertices)")
        if budget is not None:
            budget.report(int(state[_N_OUT]))
    n, nv = int(state[_N_OUT]), int(state[_N_VOUT])
    return _StackRun(oX[:nv].copy(), oM[:nv].copy(), o_off[:n + 1].copy(), o_pat[:n].copy(),
                     int(state[_N_SPLIT]), int(state[_N_AMBIGUOUS]), oV[:nv].copy() if inside else None,
                     complete and state[_N_STACK] == 0)


def _run_level(net: _KernelNetwork, cells: _StackRun, start, end, limit, workers, bar):
    """Run the cells of a frontier (all at unit ``start``) from ``start`` to ``end`` in blocks of
    consecutive cells, in threads, sharing the region budget; the blocks' outputs concatenated in
    cell order, the number of cells found (a lower bound of the run's regions when it stopped
    early) and whether the budget was reached."""
    n_cells = len(cells.offsets) - 1
    # serial runs take big blocks (each block is a Python round trip: on a small slice the round
    # trips cost more than the kernel)
    n_blocks = min(n_cells, max(1, 16 * workers)) if workers > 1 else max(1, min(16, n_cells // 256))
    edges = np.linspace(0, n_cells, n_blocks + 1).round().astype(np.int64)
    tasks = [(i, int(a), int(b)) for i, (a, b) in enumerate(zip(edges[:-1], edges[1:])) if b > a]
    budget = _SharedBudget(limit, len(tasks)) if limit is not None else None

    def run_block(task):
        i, a, b = task
        off = cells.offsets[a:b + 1]
        lo, hi = off[0], off[-1]
        return _run_stack(net, end, cells.X[lo:hi], cells.M[lo:hi], off - lo, cells.patterns[a:b], start, limit,
                          None, None if cells.V is None else cells.V[lo:hi],
                          None if budget is None else budget.slot(i))

    parts = []
    found = held = 0
    for part in _map_ordered(run_block, tasks, workers):
        parts.append(part)
        found += len(part.offsets) - 1
        held += part.nbytes
        check_allocation(2 * held, f"the region enumeration ({found} regions so far)")
        if bar is not None:
            bar.update(len(part.offsets) - 1)
        if limit is not None and (found >= limit or budget.total() >= limit or not part.complete):
            break
    total = max(found, budget.total()) if budget is not None else found
    over = limit is not None and (total >= limit or not all(p.complete for p in parts) or len(parts) < len(tasks))
    return _concat_runs(parts), total, over


def _concat_runs(parts) -> _StackRun:
    """Kernel runs of consecutive cells as one run (CSR rows shifted)."""
    if len(parts) == 1:
        return parts[0]
    offsets = [np.zeros(1, np.int64)]
    at = 0
    for p in parts:
        offsets.append(p.offsets[1:] + at)
        at += int(p.offsets[-1])
    V = None if parts[0].V is None else np.concatenate([p.V for p in parts])
    return _StackRun(np.concatenate([p.X for p in parts]), np.concatenate([p.M for p in parts]),
                     np.concatenate(offsets), np.concatenate([p.patterns for p in parts]),
                     sum(p.n_split for p in parts), sum(p.n_ambiguous for p in parts), V,
                     all(p.complete for p in parts))


def _worker_count(workers) -> int:
    import os

    if workers is None:
        return max(1, min(os.cpu_count() or 1, 8))
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise PolyattrError(f"workers: expected a positive integer or None, got {workers!r}")
    return int(workers)


def _map_ordered(fn, tasks, workers):
    """fn over tasks, results yielded in task order; threads when workers > 1 (the kernels release the GIL)."""
    if workers == 1 or len(tasks) <= 1:
        for t in tasks:
            yield fn(t)
        return
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        # each task runs in a copy of the caller's context: the memory budget (a ContextVar) holds there too
        futures = [pool.submit(contextvars.copy_context().run, fn, t) for t in tasks]
        try:
            for f in futures:
                yield f.result()
        finally:
            for f in futures:
                f.cancel()


def region_volumes(vertices, masks, offsets, workers=None) -> tuple[np.ndarray, np.ndarray]:
    """Volumes (n,) and centroids (n, d) of cells stored in double description (CSR rows of
    ``vertices`` with their tight-set bitmasks ``masks``, as in :class:`SplitResult`).

    Pulling triangulation on the tight sets (memoised cone recursion from d = 6); cells are
    independent, so blocks of them run in threads; the numbers do not depend on ``workers``.
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    masks = np.ascontiguousarray(masks, dtype=np.uint64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n, d = len(offsets) - 1, vertices.shape[1]
    volumes, centroids = np.full(n, np.nan), np.full((n, d), np.nan)
    if n == 0:
        return volumes, centroids
    workers = _worker_count(workers)
    n_blocks = min(n, 4 * workers)
    edges = np.linspace(0, n, n_blocks + 1).round().astype(np.int64)

    def run(task):
        a, b = task
        _volumes_kernel(vertices, masks, offsets, a, b, d, masks.shape[1], volumes, centroids)

    for _ in _map_ordered(run, [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a], workers):
        pass
    return volumes, centroids


#: calibration of :func:`estimate_region_count` (ratio regions / sum_k<=d C(N_eff, k) measured
#: 0.53-0.95 on 2-3 layer networks with N(0, 1/fan_in) weights, d = 2..5, widths 8..64)
_ESTIMATE_FACTOR = 0.7


def estimate_region_count(weights, biases, lower, upper, n_samples: int = 4096, rng=None,
                          negative_slopes=None) -> float:
    """A cheap up-front estimate of the number of linear regions on the box [lower, upper].

    Counts the *effective* neurons N_eff: hidden neurons whose pre-activation changes sign over
    the box, decided on ``n_samples`` uniform points plus the box corners (a neuron that only
    changes sign on a tiny set can be missed).  Then, as for an arrangement of N_eff hyperplanes
    in general position in d dimensions and in line with Hanin & Rolnick's N^d/d! scaling,

        estimate = 0.7 * sum_{k=0}^{d} C(N_eff, k),

    with the factor 0.7 calibrated on random 2-3 layer networks (measured ratios 0.5-0.95).  The
    result is the larger of this and the number of distinct patterns seen in the samples.  Treat
    it as an order of magnitude (expect a factor of ~2-3 either way); it costs a few milliseconds.
    """
    hW, hb, lo, up = _prepare(weights, biases, lower, upper)
    slopes = _prepare_slopes(negative_slopes, hW)
    d = lo.shape[0]
    if not hW:
        return 1.0
    gen = np.random.default_rng(0 if rng is None else rng)
    X = gen.uniform(lo, up, size=(int(n_samples), d))
    if d <= 12:
        corners = ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1).astype(bool)
        X = np.concatenate([X, np.where(corners, up, lo)])
    h, parts = X, []
    for W, b, a in zip(hW, hb, slopes):
        pre = h @ W.T + b
        parts.append(pre[:, a != 1.0])  # identity units cut nothing
        h = np.where(pre > 0, pre, a * pre)
    pre = np.concatenate(parts, axis=1)
    changes = (pre > 0).any(axis=0) & (pre < 0).any(axis=0)
    n_eff = int(changes.sum())
    arrangement = sum(math.comb(n_eff, k) for k in range(d + 1))
    distinct = len({row.tobytes() for row in np.packbits(pre > 0, axis=1)})
    return float(max(_ESTIMATE_FACTOR * arrangement, distinct, 1))
