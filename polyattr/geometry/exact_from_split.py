"""Exact regions from a verified float split partition: exact vertices as small integer solves.

:func:`polyattr.geometry.exact_regions.exact_region_set` confirms a float proposal region by region
(cdd.gmp on the pattern's rows).  When the proposal is a split run that
:mod:`polyattr.geometry.verify_partition` has *proven* to be the exact partition, most of that work
is already done: for every region R and every vertex v of R the verification proved that

(a) v's tight constraints (its mask: box faces and cutting units under R's pattern) have full rank on
    the free coordinates and meet at one exact point v*;
(b) every other constraint holds strictly at v* (or its unit vanishes identically on R, inactive).

So the mask of v is the exact tight set of v*, and the region is conv(v* : v in R).  This module
turns such a run into :class:`~polyattr.geometry.exact_regions.ExactRegion` objects without cdd:

1. *Distinct vertices.*  v* depends only on the mask and on the pattern bits of the non-tight units:
   if two regions' patterns differ only on units tight at v, their maps agree on the set where those
   units vanish (layer by layer: a unit's output there is 0 for either bit), so the two systems have
   the same solutions.  Vertices are keyed by (mask, pattern with the tight bits cleared) and each
   key is solved once (the rows of any region carrying it give the same point).
2. *Solve.*  The tight rows of the region's integer-scaled pattern rows, restricted to the free
   coordinates (box faces fix the others), reduced exactly with python-flint (``fmpq_mat.rref``): the
   system must have rank equal to the number of free coordinates and be consistent, which is (a)
   again, checked exactly.  A degenerate vertex (more tight rows than free coordinates: integer
   weights, coincident hyperplanes) is handled the same way, by the rank test on all its tight rows.
3. *Facets.*  With exact incidences, the facets of the (full-dimensional) region are the
   inclusion-maximal sets among the rows' tight vertex sets: every row's tight set is the vertex set
   of a face, every proper face lies in a facet, and distinct facets are incomparable.  Rows with
   equal sets (coincident hyperplanes) keep the first one, as the cdd path does.
4. *Moments.*  The pulling triangulation from the tight masks (:func:`polyattr.geometry.simplices.
   pulling_simplices`, combinatorial, so it triangulates the exact region), simplex volumes from
   (k+1) x (k+1) integer determinants of homogeneous vertex coordinates (``fmpz_mat``), summed over
   one common denominator per region and reduced once.  A region whose exact volume is 0, or whose
   vertices do not solve, goes to the cdd path; so does every region if the result does not tile.
5. *Order.*  Vertices are sorted lexicographically (the cdd path's canonical order) from one exact
   sort of all distinct vertices, pre-sorted by their float twins so that the exact sort meets
   ordered runs; the regions then equal the cdd path's field by field (tests), except that the
   simplices may differ (another valid triangulation of the same polytope).

The region's pattern rows are updated from the previous region's (regions come in depth-first order,
so consecutive patterns differ in few units): a flipped unit changes the next layer's map by one
rank-one term.  Everything is integer or ``fmpq``; Fractions are made once per distinct vertex and per
region's mass and moment, at the boundary.  The exact tiling check of ``exact_region_set`` (volumes
summing exactly to the support's) still runs on the result.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from flint import fmpq, fmpq_mat, fmpz, fmpz_mat

__all__ = ["IncrementalMaps", "applies", "regions_from_verified_split"]


def applies(float_regions, model, domain) -> bool:
    """Whether ``float_regions`` is a verified split run of exactly this (exact) model and domain."""
    from polyattr.geometry.domains import as_domain, domain_key

    if float_regions is None or not hasattr(float_regions, "vertex_table"):
        return False
    if float_regions.vertex_table is None:
        return False  # LP runs, merges, exact repairs: no vertex table
    try:
        if float_regions.model.to_exact().canonical_hash() != model.canonical_hash():
            return False  # e.g. decimal weights: the float run was proven for their float twins
        fdom = as_domain(float_regions.domain, model.n_inputs, exact=True)
    except Exception:  # noqa: BLE001 - any mismatch only means the fast path does not apply
        return False
    if domain_key(fdom) != domain_key(domain):
        return False
    if getattr(float_regions, "_vertex_radius", None) is None and not _verify(float_regions):
        return False
    return bool(getattr(float_regions, "proven", False))


def _verify(regions) -> bool:
    """Verify a split run enumerated without the proof (``exact_fallback=False``, as
    ``exact_region_set`` enumerates its own proposal), recording the result on it as
    :attr:`RegionSet.vertex_radius` does; whether it is the exact partition."""
    from polyattr.geometry.verify_partition import exact_data, verify_split_partition

    data = exact_data(regions.model, regions.domain, regions.reduction, regions._composed)
    if data is None:
        return False
    check = verify_split_partition(data, regions.patterns, regions.vertex_table, regions.vertex_masks,
                                   regions.vertex_offsets)
    if not check.verified:
        return False
    object.__setattr__(regions, "_vertex_radius", check.vertex_radius)
    object.__setattr__(regions, "exact_vertex_checks", check.exact_vertex_checks)
    object.__setattr__(regions, "proven", True)
    return True


# ------------------------------------------------------------------------------- pattern rows
class IncrementalMaps:
    """Integer pattern rows of a sequence of patterns, each updated from the previous one.

    Same values as :meth:`ReLUNetwork.integer_pattern_rows` (canonical pattern; rows A u <= c, one
    per cutting unit, A and c Python integers, positive per-layer scales): per hidden layer l the
    pre-activation map (Gp, hp) depends on the earlier layers' factors F (Q active, the integer
    slope inactive); when only some factors of layer l-1 changed and layer l-1's map did not,
    Gp_l changes by W_l[:, j] (dF_j Gp_{l-1}[j]) per changed unit j.
    """

    def __init__(self, net):
        self.net = net
        self.layers = [(np.asarray(Wi, dtype=object), np.asarray(bi, dtype=object), int(den))
                       for Wi, bi, den in net.integer_affine_layers[:-1]]
        slopes_int, Q = net.integer_slopes
        self.slopes = [np.asarray(s, dtype=object) for s in slopes_int]
        self.Q = Q
        self.cut = np.asarray(net.cut_units, bool)
        self.sizes = [W.shape[0] for W, _, _ in self.layers]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int) if self.sizes else np.zeros(1, int)
        # scales per layer (pattern independent)
        S, self.scales = 1, []
        for _, _, den in self.layers:
            S = S * den
            self.scales.append(S)
            S = S * Q
        self.S_in = [1] + [self.scales[l] * Q for l in range(len(self.layers) - 1)]
        self.prev = None  # per layer: (F, Gp, hp)
        # cut unit j -> (layer, row in the layer)
        self.cut_pos = [(li, o) for li, size in enumerate(self.sizes) for o in range(size)
                        if self.cut[int(self.starts[li]) + o]]

    def rows(self, pattern):
        """(canonical cut pattern, A (n_cut, k) object, c (n_cut,) object, scales list)."""
        full, state = self._advance(pattern)
        A_rows, c_rows, scales = [], [], []
        for li, (F, Gp, hp) in enumerate(state):
            s0 = int(self.starts[li])
            n = Gp.shape[0]
            mask = full[s0:s0 + n]
            layer_cut = self.cut[s0:s0 + n]
            sign = np.where(mask, -1, 1)
            A_rows.append((Gp * sign[:, None])[layer_cut])
            c_rows.append((-hp * sign)[layer_cut])
            scales.extend([self.scales[li]] * int(np.count_nonzero(layer_cut)))
        k = self.net.n_inputs
        A = np.vstack(A_rows) if A_rows else np.zeros((0, k), dtype=object)
        c = np.concatenate(c_rows) if c_rows else np.zeros(0, dtype=object)
        return full[self.cut], A, c, scales

    def unit_rows(self, pattern):
        """(canonical cut pattern, row) with row(j) = (a, c, scale): cut unit j's row a . u <= c
        (Python integers, the values of :meth:`rows`), computed only when asked."""
        full, state = self._advance(pattern)

        def row(j):
            li, o = self.cut_pos[j]
            Gp, hp = state[li][1], state[li][2]
            if full[self.starts[li] + o]:
                return [-int(x) for x in Gp[o]], int(hp[o]), self.scales[li]
            return [int(x) for x in Gp[o]], -int(hp[o]), self.scales[li]

        return full[self.cut], row

    def affine_map(self, pattern, output=None):
        """The exact local map (W (n_out, d), b (n_out,)) as Fractions, or one output's row."""
        _, state = self._advance(pattern)
        Wo, bo, den = self.net.integer_affine_layers[-1]
        if output is not None:
            Wo, bo = Wo[output:output + 1], bo[output:output + 1]
        Wo = np.asarray(Wo, dtype=object)
        bo = np.asarray(bo, dtype=object)
        if state:
            F, Gp, hp = state[-1]
            S = self.scales[-1] * self.Q
            W = Wo @ (Gp * F[:, None])
            b = Wo @ (hp * F) + bo * S
        else:
            S, W, b = 1, Wo, bo
        S *= den
        W = np.array([[Fraction(int(v), S) for v in row] for row in W], dtype=object)
        b = np.array([Fraction(int(v), S) for v in b], dtype=object)
        return (W, b) if output is None else (W[0], b[0])

    def _advance(self, pattern):
        """Update the per-layer maps to ``pattern``: (canonical full pattern, [(F, Gp, hp)])."""
        full = np.ones(self.cut.shape[0], bool)  # identity units count as active (as expand_patterns)
        full[self.cut] = np.asarray(pattern, bool)
        state = []
        map_changed = False  # whether the map of the previous layer differs from the previous call's
        for li, (Wi, bi, den) in enumerate(self.layers):
            n = Wi.shape[0]
            prev = None if self.prev is None else self.prev[li]
            if li == 0:
                Gp, hp = Wi, bi
                map_changed = False
            else:
                F_in, Gp_in, hp_in = state[li - 1]
                diff = None
                if prev is not None and not map_changed:
                    diff = np.flatnonzero(F_in != self.prev[li - 1][0])
                if diff is not None and len(diff) == 0:
                    Gp, hp = prev[1], prev[2]
                    map_changed = False
                elif diff is not None and len(diff) * 4 <= len(F_in):
                    Gp, hp = prev[1].copy(), prev[2].copy()
                    F_old = self.prev[li - 1][0]
                    for j in diff:
                        dF = F_in[j] - F_old[j]
                        Gp += np.multiply.outer(Wi[:, j], dF * Gp_in[j])
                        hp += Wi[:, j] * (dF * hp_in[j])
                    map_changed = True
                else:
                    Gp = Wi @ (Gp_in * F_in[:, None])
                    hp = Wi @ (hp_in * F_in) + bi * self.S_in[li]
                    map_changed = True
            s0 = int(self.starts[li])
            mask = full[s0:s0 + n].copy()
            layer_cut = self.cut[s0:s0 + n]
            for o in np.flatnonzero(layer_cut & mask):
                if hp[o] == 0 and not any(Gp[o]):
                    mask[o] = False  # identically zero: canonical inactive
            full[s0:s0 + n] = mask
            F = np.where(mask, self.Q, self.slopes[li]).astype(object)
            state.append((F, Gp, hp))
        self.prev = state
        return full, state


# ----------------------------------------------------------------------------------- driver
def _mask_matrix(M, n_bits: int) -> np.ndarray:
    """(V, words) uint64 masks -> (V, n_bits) bool."""
    V, words = M.shape
    bytes_ = np.ascontiguousarray(M.astype("<u8")).view(np.uint8).reshape(V, words * 8)
    bits = np.unpackbits(bytes_, axis=1, bitorder="little")
    return bits[:, :n_bits].astype(bool)


def regions_from_verified_split(float_regions, intnet_model, red, A_dom, b_dom, dom_scales):
    """Exact regions (in the float run's order) of a verified split run, or None per region that
    needs the cdd path (a region this path cannot confirm: a rank or volume test failed).

    Returns a list with, per float region, (canonical pattern, ExactRegion) or None.
    """
    from polyattr.geometry.exact_regions import ExactRegion
    from polyattr.geometry.simplices import pulling_simplices

    k = red.inner.dim
    n_neurons = intnet_model.n_neurons
    patterns = np.asarray(float_regions.patterns, bool)
    n = patterns.shape[0]
    offsets = np.asarray(float_regions.vertex_offsets, np.int64)
    M = np.ascontiguousarray(float_regions.vertex_masks, np.uint64)
    # mask ids: box faces 0..2k-1, then 2k + unit over all hidden units (identity units never cut)
    cut = np.asarray(intnet_model.cut_units, bool)
    all_bits = _mask_matrix(M, 2 * k + cut.shape[0])
    if np.any(all_bits[:, 2 * k:][:, ~cut]):
        return [None] * n  # cannot happen in a verified run; leave it to the cdd path
    bits = np.concatenate([all_bits[:, :2 * k], all_bits[:, 2 * k:][:, cut]], axis=1)
    counts = np.diff(offsets)
    row_region = np.repeat(np.arange(n), counts)
    # key: (mask, pattern without the tight units' bits)
    key_pat = patterns[row_region] & ~bits[:, 2 * k:]
    keys = np.concatenate([np.packbits(bits, axis=1), np.packbits(key_pat, axis=1)], axis=1)
    keys = np.ascontiguousarray(keys)
    void = keys.view(np.dtype((np.void, keys.shape[1]))).ravel()
    _, uid = np.unique(void, return_inverse=True)
    uid = uid.ravel()
    n_unique = int(uid.max()) + 1 if len(uid) else 0
    lower = [Fraction(x) for x in red.inner.lower]
    upper = [Fraction(x) for x in red.inner.upper]
    # the pulling triangulation of every region from its masks (combinatorial)
    simplices, simplex_region = pulling_simplices(M, offsets, k)
    s_start = np.searchsorted(simplex_region, np.arange(n + 1))

    maps = IncrementalMaps(intnet_model)
    coords: list = [None] * n_unique  # per distinct vertex: tuple of Fractions
    homog: list = [None] * n_unique  # per distinct vertex: (integer numerators, denominator) as fmpz
    kf = math.factorial(k)
    row_cache: dict = {}
    pending = []
    for r in range(n):
        pat, row = maps.unit_rows(patterns[r])
        if np.any(pat != patterns[r]):
            pending.append(None)
            continue
        lo, hi = int(offsets[r]), int(offsets[r + 1])
        ok = True
        for v in range(lo, hi):
            u = uid[v]
            if coords[u] is not None:
                continue
            res = _solve_vertex(bits[v], k, row, lower, upper)
            if res is None:
                ok = False
                break
            coords[u] = res
            den = math.lcm(*(x.denominator for x in res)) if k else 1
            homog[u] = ([fmpz(x.numerator * (den // x.denominator)) for x in res], fmpz(den))
        if not ok:
            pending.append(None)
            continue
        pending.append(_region_data(k, lo, hi, uid, bits, homog, simplices[s_start[r]:s_start[r + 1]], row,
                                    A_dom, b_dom, dom_scales, n_neurons, kf, row_cache) + (pat,))
    # the canonical (lexicographic) vertex order of every region from one exact order of the
    # distinct vertices: sorted by their float twins first, so the exact sort meets ordered runs
    first = np.full(n_unique, -1, np.int64)
    first[uid[::-1]] = np.arange(len(uid))[::-1]
    X = np.asarray(float_regions.vertex_table, float)
    solved = [u for u in range(n_unique) if coords[u] is not None]
    if solved:
        pre = np.lexsort(tuple(X[first[solved], j] for j in reversed(range(k))))
        order = sorted((solved[i] for i in pre), key=coords.__getitem__)
    else:
        order = []
    rank = np.zeros(n_unique, np.int64)
    rank[order] = np.arange(len(order))
    out = []
    for r, data in enumerate(pending):
        if data is None:
            out.append(None)
            continue
        local, m0, m1, S_local, facets, pat = data
        if m0 == 0:
            out.append(None)  # lower-dimensional: leave it to the cdd path
            continue
        ranks = rank[local]
        if len(set(ranks.tolist())) != len(local):
            out.append(None)  # a vertex listed twice: leave it to the cdd path
            continue
        srt = np.argsort(ranks)
        pos = np.empty(len(local), np.int64)
        pos[srt] = np.arange(len(local))
        V = np.empty((len(local), k), dtype=object)
        for new, old in enumerate(srt):
            V[new, :] = coords[local[old]]
        rows = tuple(f[:3] for f in facets)
        facet_vertices = tuple(tuple(sorted(int(pos[i]) for i in f[3])) for f in facets)
        S_sorted = pos[S_local] if len(S_local) else np.zeros((0, k + 1), np.int64)
        m0_f = _fraction(int(m0.p), int(m0.q))
        m1_f = np.array([_fraction(int(q.p), int(q.q)) for q in m1], dtype=object)
        out.append((pat, ExactRegion(np.asarray(pat, bool), V, rows, S_sorted, m0_f, m1_f, facet_vertices,
                                     (m0, tuple(m1)))))
    return out


def _solve_vertex(bitrow, k, row, lower, upper):
    """The exact point of a vertex's tight constraints (Fractions), or None if they do not define
    one point (rank below the number of free coordinates, or inconsistent).  ``row(j)`` gives cut
    unit j's integer row (a, c, scale) with a . u <= c."""
    fixed = {}
    for i in range(k):
        lo_b, up_b = bool(bitrow[i]), bool(bitrow[k + i])
        if lo_b and up_b:
            return None
        if lo_b:
            fixed[i] = lower[i]
        elif up_b:
            fixed[i] = upper[i]
    free = [i for i in range(k) if i not in fixed]
    tight = np.flatnonzero(bitrow[2 * k:])
    x = [None] * k
    for i, val in fixed.items():
        x[i] = val
    kf = len(free)
    if kf:
        if len(tight) < kf:
            return None
        # fixed coordinates over one denominator L: rhs = (c L - sum_i a_i (L x_i)) / L, integers
        L = math.lcm(*(v.denominator for v in fixed.values())) if fixed else 1
        fixed_int = [(i, int(v.numerator) * (L // v.denominator)) for i, v in fixed.items()]
        Mq = fmpq_mat(len(tight), kf + 1)
        for a_idx, j in enumerate(tight):
            a, c, _ = row(int(j))
            for b_idx, i in enumerate(free):
                Mq[a_idx, b_idx] = a[i]
            rhs = c * L - sum(a[i] * v for i, v in fixed_int)
            Mq[a_idx, kf] = fmpq(rhs, L) if L != 1 else rhs
        R, rank = Mq.rref()
        if rank != kf or any(R[i, i] != 1 for i in range(kf)):
            return None  # not a point, or inconsistent (a pivot in the right-hand side)
        for b_idx, i in enumerate(free):
            q = R[b_idx, kf]
            x[i] = _fraction(int(q.p), int(q.q))
    elif len(tight):
        # a box corner with tight units: each must vanish exactly there
        for j in tight:
            a, c, _ = row(int(j))
            if sum((a[i] * x[i] for i in range(k)), start=Fraction(0)) != c:
                return None
    return tuple(x)


def _fraction(p: int, q: int) -> Fraction:
    """The Fraction p/q for coprime p, q > 0 (python-flint's canonical form) without a second gcd.

    What ``Fraction._from_coprime_ints`` does on Python 3.12+ (3.11 lacks it)."""
    f = object.__new__(Fraction)
    f._numerator = p
    f._denominator = q
    return f


def _region_data(k, lo, hi, uid, bits, homog, simplices, row, A_dom, b_dom, dom_scales, n_neurons, kf,
                 row_cache):
    """Per region (vertex order of the float run): distinct vertex ids, exact m0 and m1 (fmpq),
    simplices (local indices) and facets [(source, a, b, local vertex indices)]."""
    local = [int(uid[v]) for v in range(lo, hi)]
    # exact volume and first moment from the pulling simplices (global vertex rows -> local): with
    # v_i = N_i / D_i, a simplex has volume |det [N_i, D_i]| / (k! prod D_i); over the region's
    # common denominator D_R = prod of its vertices' D_i (and R_i = D_R / D_i), its volume is
    # |det| Q_S / (k! D_R) with Q_S = D_R / prod_S D_i, and its first moment is
    # |det| Q_S sum_S N_i R_i / ((k + 1)! D_R^2): integer sums, one reduction per region at the end
    S_local = np.asarray(simplices, np.int64) - lo
    Ns = [homog[u][0] for u in local]
    Ds = [homog[u][1] for u in local]
    D_R = fmpz(1)
    for den in Ds:
        D_R *= den
    R = [D_R // den for den in Ds]
    NR = [[N[j] * Ri for j in range(k)] for N, Ri in zip(Ns, R)]
    vol_num = fmpz(0)
    m1_num = [fmpz(0)] * k
    for s in S_local.tolist():
        det = fmpz_mat([Ns[i] + [Ds[i]] for i in s]).det()
        if det == 0:
            continue
        if det < 0:
            det = -det
        P = Ds[s[0]]
        for i in s[1:]:
            P *= Ds[i]
        w = det * (D_R // P)
        vol_num += w
        for j in range(k):
            acc = NR[s[0]][j]
            for i in s[1:]:
                acc += NR[i][j]
            m1_num[j] += w * acc
    m0 = fmpq(vol_num, kf * D_R)
    den1 = kf * (k + 1) * D_R * D_R
    m1 = [fmpq(x, den1) for x in m1_num]
    # incidences: sources (unit n, or n_neurons + domain row) -> local vertex indices (bit sets)
    sub = bits[lo:hi]
    sets: dict[int, int] = {}
    for i, b in zip(*np.nonzero(sub)):
        src = int(b) - 2 * k if b >= 2 * k else n_neurons + int(b)
        sets[src] = sets.get(src, 0) | (1 << int(i))
    items = sorted(sets.items())
    facets = []
    seen = set()
    for src, st in items:
        if st in seen:
            continue
        if any(t != st and (st & t) == st for _, t in items):
            continue  # strictly inside another row's tight set: not a facet
        seen.add(st)
        if src < n_neurons:
            a_int, c_int, scale = row(src)
            key = (src, c_int, *a_int)
            cached = row_cache.get(key)
            if cached is None:  # neighbouring regions share most facet rows
                cached = row_cache[key] = (tuple(Fraction(x, scale) for x in a_int), Fraction(c_int, scale))
            a, b = cached
        else:
            dr = src - n_neurons
            a = tuple(Fraction(int(x), dom_scales[dr]) for x in A_dom[dr])
            b = Fraction(int(b_dom[dr]), dom_scales[dr])
        facets.append((src, a, b, [i for i in range(len(local)) if (st >> i) & 1]))
    return local, m0, m1, S_local, facets
