"""A posteriori proof that a float split enumeration is the exact partition (or where it is not).

The split backend (:mod:`polyattr.geometry.splitting`) decides every sign in float64 with a zero
band, a margin and not a proof.  This module checks its *result*: for every region R and every
vertex v of R it proves, with rigorous float error bounds and a per-vertex exact fallback, that
the exact point v* behind v (where v's tight constraints meet, for the exact data) satisfies every
sign the float run decided.  Then the float run made exactly the decisions an exact run would have
made, so its output is the exact partition; its float vertices are within a proven distance
(:attr:`PartitionCheck.vertex_radius`) of the exact ones.

Why checking final regions suffices
-----------------------------------
The split kernel is a sequence of sign decisions at cell vertices; everything else it does is
combinatorial on the tight masks (edge test, new vertex masks, pattern bits).  The edge test is a
function of the masks alone, including its fast path for simple vertices (the splitting module's
docstring: it gives the scan's answer whenever the masks are the true tight sets, as they are in
the exact run), so a float run and an exact run fed the same decisions accept the same edges: an
edge the float run accepts wrongly can only come from masks that differ from the exact ones, i.e.
from a wrong decision, which the checks below catch.  Run the same
algorithm in exact arithmetic on the exact data: by induction over the float run's operations, the
two runs hold the same cells (masks, patterns) as long as every decision agrees, and each float
vertex stands for the exact vertex with the same mask (the unique point of its tight constraints:
box corners are exact, a new vertex on an exact edge pq is the point of ``mask(p) & mask(q)`` plus
the cutting neuron).  A decision for neuron n at vertex v of cell C is side(v) in {+, -, 0}:

* every vertex ever created survives into at least one final region: a split gives a vertex to the
  half of its side (on-hyperplane vertices to both), new edge vertices go to both halves, and an
  unsplit cell keeps all of them; masks only grow and coordinates never change;
* a final region R holding v descends from C, so R's pattern bits for the neurons before n are C's
  (the affine map of n on C is n's map under R's pattern), and R's bit for n is the branch taken;
* side(v) = 0 exactly when bit n is in v's final mask (it is set only there), and then v* must be on
  the hyperplane; side(v) = + (-) puts v only into the active (inactive) half, so R's bit says
  which strict sign v* must have.  In the "no vertex strictly on one side: keep the cell whole"
  branch the cell's bit is active when some vertex is +, else inactive; if *all* vertices are in
  the zero band no bit is set at all: exactly the exact run's behaviour when the neuron vanishes
  identically on the (full-dimensional) cell.

So we require, for every final region R, every vertex v of R and every constraint (lower/upper box
faces, the cutting units under R's pattern; identity units never cut, leaky units cut like ReLUs):

(a) v's tight rows define a point: coordinates fixed by box faces, and the tight neuron rows (maps
    under R's pattern) have full rank on the free coordinates and all vanish at v*; a tight neuron
    is not identically zero on R (the exact run never marks such a neuron tight);
(b) every non-tight box face holds strictly at v*;
(c) every non-tight cutting unit has the strict sign of R's bit at v*, or vanishes identically on R
    (G = 0 and h = 0 under R's pattern) with R's bit inactive.

Since x* then satisfies the (full-rank) constraints of v's mask at any earlier time, it is the exact
run's vertex, and every decision recorded in R agrees with the exact one; every decision of the
run is recorded in some final region, so all agree, and the output is the exact run's: the exact
partition (distinct canonical patterns, full-dimensional cells).  The checks are per region and
need no bookkeeping of the run itself.

The check
---------
Per region the affine maps z = G u + h of all units under R's pattern are computed in floats with a
proven elementwise bound (eG, eh) (Higham, as in :mod:`polyattr.geometry.predicates`, plus the data
error of the float network against the exact one, 0 for float models on boxes).  Consecutive
regions share pattern prefixes (depth-first output), so the maps of a layer are recomputed only
when the earlier layers' pattern changed.  Per vertex, the k x k system of its tight neurons on the
free coordinates is enclosed around the stored float vertex x~ (Rump): with an approximate inverse
R of the float matrix A~, beta >= ||I - R A*||_inf (rounding of R A~ and the data bound eA), and
r* = b* - A* x~ bounded componentwise (float residual, its rounding, eb + eA |x~|),

    ||x* - x~||_inf <= max_i (|R| |r*|)_i / (1 - beta)        when beta < 1,

which also proves A* non-singular.  Every bound is computed from non-negative terms and multiplied
by ``1 + 1e-8`` (rounding of the bound's own arithmetic, relative gamma_{2n+10}) plus a few
subnormal units (underflow).  Then every non-tight constraint must satisfy |value| > its bound
(rounding of the value, data error, and ||G||_1 times the enclosure radius).

A vertex where this does not decide (beta >= 1, more tight constraints than free coordinates, a
bound too large) gets an exact check of that vertex alone: integer rows of R's pattern
(:meth:`ReLUNetwork.integer_pattern_rows` of the exact composed model), an exact solve
(python-flint), exact signs.  A vertex whose proven radius exceeds ``_MAX_RADIUS`` x the box width
counts as unverified too (the float vertex is then no useful approximation; a corrupted table).
Only a failed exact check (or a decided wrong sign) makes the partition unverified; the caller
(:func:`polyattr.geometry.regions._enumerate_regions`) then re-decides it exactly.

Scope and the other backend
---------------------------
Box domains in reduced coordinates whose exact bounds are floats (boxes, slices and segments of
float boxes, with any float or rational model: the data errors of the rounded composition are part
of the bounds), and slopes that are floats.  Other inputs are reported as not verifiable
(:func:`exact_data` returns None) and keep the earlier behaviour (zero-band count and heuristics).

The LP backend is not checked vertex by vertex (it keeps no vertex table).  On boxes of dimension
<= 6, :func:`~polyattr.geometry.regions.enumerate_regions` runs the split backend on the same box
and verifies it: a verified run's pattern set is the exact partition's (completeness included: the
split run covers the box by construction), so an LP run with the same pattern set lists every
exact region once and nothing else; any difference sends the run to the exact repair.  Above
dimension 6 the same cross-check runs when the split run is affordable (an estimated vertex
table of regions x 2^d rows within a budget); otherwise, and on general polytopes, LP runs are
not proven and say so (``RegionSet.proven`` False; see the regions module).

Cost: per region the maps are updated only for layers whose earlier pattern changed; within such
a run of regions each distinct vertex (float bits and mask) is enclosed once; units whose sign is
decided on a region's bounding box (most of them) are not evaluated vertex by vertex.  Measured on
a 4-input [32, 32] network on [-1, 1]^4 (1.3e5 regions, 2.1e6 vertex rows, 7.5e5 distinct per
run): about 0.45-0.5x the time of the split enumeration with volumes, wall clock and CPU
(``benchmarks/verify_partition.py``, on a loaded 2-core machine).  The exact vertex checks cost
about 1 ms each (python-flint).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from polyattr.geometry.splitting import _popcount
from polyattr.jit import njit
from polyattr.numerics import UNIT_ROUNDOFF, gamma

# the float vertices must lie within this fraction of the box width of the exact ones
_MAX_RADIUS = 1e-6
# relative rounding of the bounds' own (non-negative) arithmetic
_SAFETY = 1.0 + 1e-8
# absolute slack of every bound for underflow: each rounding in the subnormal range errs by at most
# 2^-1074, and no bound here has 10^20 roundings; a normal number, because arithmetic on
# subnormal operands is about 100x slower on x86
_TINY = 1e-300
# regions per thread block
_BLOCK = 4096

OK, EXACT, FAIL = 0, 1, 2


@dataclass(frozen=True)
class ExactData:
    """The float network the split run used, with proven data errors against the exact one.

    ``W_all, b_all`` (flattened per layer as in the split kernel) are the float data, ``eW_all,
    eb_all`` bounds of |float - exact| elementwise (0 when the float data are the exact data);
    ``lower, upper`` the reduced box (floats that are the exact bounds); ``exact_net`` the exact
    composed model (for the per-vertex exact checks), built on first use by ``make_exact``.
    """

    d: int
    W_all: np.ndarray
    b_all: np.ndarray
    eW_all: np.ndarray
    eb_all: np.ndarray
    slope_all: np.ndarray
    w_off: np.ndarray
    in_dim: np.ndarray
    out_dim: np.ndarray
    nstart: np.ndarray
    cut: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    make_exact: object


@dataclass(frozen=True)
class PartitionCheck:
    """The outcome of :func:`verify_split_partition`.

    Attributes
    ----------
    verified : bool
        Every region passed: the float partition is the exact one.
    vertex_radius : (n,) float
        Per region a proven bound on the inf-norm distance of its float vertices to the exact ones
        (meaningful when ``verified``).
    exact_vertex_checks : int
        Vertices that needed the exact check.
    failed_regions : (m,) int
        Regions that failed (proven wrong, or not well defined).
    """

    verified: bool
    vertex_radius: np.ndarray
    exact_vertex_checks: int
    failed_regions: np.ndarray


# ----------------------------------------------------------------------------- exact data
def _float_errors(exact_arr) -> tuple[np.ndarray, np.ndarray]:
    """Float twins of an exact array and an upward-rounded bound of |float - exact| elementwise."""
    flat = [Fraction(v) for v in np.asarray(exact_arr, dtype=object).ravel()]
    f = np.array([float(v) for v in flat], dtype=float)
    err = np.array([abs(Fraction(float(x)) - v) for x, v in zip(f, flat)], dtype=object)
    e = np.array([float(v) for v in err], dtype=float)
    e = np.where(e > 0, np.nextafter(e, np.inf), 0.0)  # round-to-nearest can go below; one ulp up covers it
    shape = np.asarray(exact_arr, dtype=object).shape
    return f.reshape(shape), e.reshape(shape)


def exact_data(model, domain, red, composed) -> ExactData | None:
    """The data :func:`verify_split_partition` needs, or None when the input is out of scope.

    ``composed`` is the float network the split run enumerated (the model composed with the
    domain's float reduction); the exact target is the exact model composed exactly with the exact
    domain's reduction, as in :func:`polyattr.geometry.exact_regions.exact_region_set`.
    """
    from polyattr.geometry.domains import AffineSlice, Box, Segment, as_domain

    if not isinstance(domain, (Box, AffineSlice, Segment)) or red.inner is None or not isinstance(red.inner, Box):
        return None
    hidden_W = [np.asarray(W, float) for W in composed.weights[:-1]]
    hidden_b = [np.asarray(b, float) for b in composed.biases[:-1]]
    slopes = [np.broadcast_to(np.asarray(a, float), (W.shape[0],)) for W, a in zip(hidden_W, composed.negative_slopes)]
    lo = np.asarray(red.inner.lower, float)
    up = np.asarray(red.inner.upper, float)
    d = lo.shape[0]
    float_input = not getattr(model, "exact", False) and not getattr(domain, "exact", False)
    if float_input and red.is_identity:
        eWs = [np.zeros_like(W) for W in hidden_W]
        ebs = [np.zeros_like(b) for b in hidden_b]

        def make_exact():
            return composed.to_exact()
    elif float_input and hidden_W:
        # a float model on a slice or segment of a float box: only the first layer was rounded
        # (W0 E and W0 z0 + b0, Higham bounds for any summation order); a slice's E and z0 are its
        # exact floats, a segment's E = fl(end - start) is within u |E| of the exact difference
        W0 = np.asarray(model.to_float().weights[0], float)
        b0 = np.asarray(model.to_float().biases[0], float)
        E = np.asarray(red.embedding, float)
        z0 = np.asarray(red.offset, float)
        dE = np.abs(E) * (UNIT_ROUNDOFF * (1 + 1e-8)) if isinstance(domain, Segment) else np.zeros_like(E)
        n_in = W0.shape[1]
        absW0 = np.abs(W0)
        eW0 = (gamma(n_in) * (absW0 @ np.abs(E)) + absW0 @ dE) * _SAFETY
        eb0 = gamma(n_in + 1) * (absW0 @ np.abs(z0) + np.abs(b0)) * _SAFETY
        # underflow: a slack wherever some term is structurally non-zero
        nzW = (absW0 > 0).astype(float)
        eW0 = eW0 + _TINY * ((nzW @ (np.abs(E) > 0)) > 0)
        eb0 = eb0 + _TINY * (((nzW @ (np.abs(z0) > 0)) > 0) | (b0 != 0))
        eWs = [eW0] + [np.zeros_like(W) for W in hidden_W[1:]]
        ebs = [eb0] + [np.zeros_like(b) for b in hidden_b[1:]]

        def make_exact():
            ex_red = as_domain(domain, model.n_inputs, exact=True).reduce()
            return model.to_exact().compose_affine(ex_red.embedding, ex_red.offset)
    else:
        ex_model = model.to_exact()
        ex_dom = as_domain(domain, model.n_inputs, exact=True)
        ex_red = ex_dom.reduce()
        if ex_red.inner is None or not isinstance(ex_red.inner, Box):
            return None
        if any(Fraction(float(a)) != Fraction(a) for a in ex_red.inner.lower) or \
                any(Fraction(float(a)) != Fraction(a) for a in ex_red.inner.upper):
            return None  # box faces that are not floats: the float vertices cannot sit on them
        if np.any(np.asarray(ex_red.inner.lower, float) != lo) or np.any(np.asarray(ex_red.inner.upper, float) != up):
            return None
        for a_ex, a_f in zip(ex_model.negative_slopes, slopes):
            a_ex = np.broadcast_to(np.asarray(a_ex, dtype=object), a_f.shape)
            if any(Fraction(float(x)) != Fraction(x) or float(x) != y for x, y in zip(a_ex, a_f)):
                return None
        ex_comp = ex_model.compose_affine(ex_red.embedding, ex_red.offset)
        eWs, ebs = [], []
        for W_ex, b_ex, W_f, b_f in zip(ex_comp.weights[:-1], ex_comp.biases[:-1], hidden_W, hidden_b):
            W_ex = np.asarray(W_ex, dtype=object)
            b_ex = np.asarray(b_ex, dtype=object)
            if W_ex.shape != W_f.shape:
                return None
            # bound |W_f - W_ex| = |W_f - float(W_ex)| + |float(W_ex) - W_ex|, all upward
            fW, eW = _float_errors(W_ex)
            fb, eb = _float_errors(b_ex)
            eWs.append(np.nextafter(np.abs(W_f - fW) * _SAFETY + eW, np.inf) * (np.abs(W_f - fW) + eW > 0))
            ebs.append(np.nextafter(np.abs(b_f - fb) * _SAFETY + eb, np.inf) * (np.abs(b_f - fb) + eb > 0))

        def make_exact():
            return ex_comp
    sizes = [W.shape[0] for W in hidden_W]
    n_layers = len(hidden_W)
    w_off = np.zeros(max(n_layers, 1), np.int64)
    nstart = np.zeros(max(n_layers, 1), np.int64)
    for l in range(1, n_layers):
        w_off[l] = w_off[l - 1] + hidden_W[l - 1].size
        nstart[l] = nstart[l - 1] + sizes[l - 1]
    cat = (lambda xs: np.ascontiguousarray(np.concatenate([x.ravel() for x in xs]), float) if xs else np.zeros(1))
    slope_all = cat(slopes)
    return ExactData(
        d=d, W_all=cat(hidden_W), b_all=cat(hidden_b), eW_all=cat(eWs), eb_all=cat(ebs), slope_all=slope_all,
        w_off=w_off, in_dim=np.array([W.shape[1] for W in hidden_W] or [d], np.int64),
        out_dim=np.array(sizes or [0], np.int64), nstart=nstart,
        cut=(slope_all[:sum(sizes)] != 1.0) if sizes else np.zeros(0, bool), lower=lo, upper=up, make_exact=make_exact,
    )


# ----------------------------------------------------------------------------- float kernel
@njit(cache=True, inline="always")
def _bit(M, v, c):
    return (M[v, c >> 6] >> np.uint64(c & 63)) & np.uint64(1)


@njit(cache=True)
def _layer_maps(l, d, pat, W_all, b_all, eW_all, eb_all, slope_all, w_off, in_dim, out_dim, nstart, G, h, eG, eh,
                g_tab, u):
    """Float maps (G, h) of the pre-activations of layer l under ``pat`` (earlier layers), with
    proven bounds (eG, eh) of their distance to the exact maps; rows nstart[l]:nstart[l]+out_dim[l]."""
    no = out_dim[l]
    ni = in_dim[l]
    s = nstart[l]
    wo = w_off[l]
    if l == 0:
        for j in range(no):
            for i in range(d):
                G[s + j, i] = W_all[wo + j * ni + i]
                eG[s + j, i] = eW_all[wo + j * ni + i]
            h[s + j] = b_all[s + j]
            eh[s + j] = eb_all[s + j]
        return
    sp = nstart[l - 1]
    g = g_tab[ni + 1]
    tiny = _TINY
    # P = f * (previous maps): exact for f in {0, 1}; a leaky factor rounds once (u |f G|)
    for j in range(no):
        for i in range(d + 1):
            acc = 0.0
            err = 0.0
            for q in range(ni):
                p = sp + q
                if pat[p]:
                    f = 1.0
                else:
                    f = slope_all[p]
                if f == 0.0:
                    continue
                if i < d:
                    pv = f * G[p, i]
                    pe = abs(f) * eG[p, i]
                else:
                    pv = f * h[p]
                    pe = abs(f) * eh[p]
                if f != 1.0:
                    pe += u * abs(pv)
                w = W_all[wo + j * ni + q]
                acc += w * pv
                err += abs(w) * (g * abs(pv) + pe) + eW_all[wo + j * ni + q] * (abs(pv) + pe)
            if i < d:
                G[s + j, i] = acc
                eG[s + j, i] = err * 1.00000001 + tiny
            else:
                b = b_all[s + j]
                h[s + j] = acc + b
                eh[s + j] = (err + g * abs(b) + eb_all[s + j]) * 1.00000001 + tiny


@njit(cache=True)
def _solve_enclosure(A, eA, rhs, erhs, x, k, Rm, g_tab, T, rr):
    """Proven bound of ||x* - x||_inf for the exact solution x* of A* x* = rhs* (|A* - A| <= eA,
    |rhs* - rhs| <= erhs) around the float point x; -1.0 when A* is not proven non-singular."""
    # approximate inverse by Gauss-Jordan with partial pivoting (T: scratch (k, 2k))
    for a in range(k):
        for b in range(k):
            T[a, b] = A[a, b]
            T[a, k + b] = 1.0 if a == b else 0.0
    for c in range(k):
        p = c
        best = abs(T[c, c])
        for r in range(c + 1, k):
            if abs(T[r, c]) > best:
                best = abs(T[r, c])
                p = r
        if best == 0.0 or not np.isfinite(best):
            return -1.0
        if p != c:
            for j in range(2 * k):
                t = T[c, j]
                T[c, j] = T[p, j]
                T[p, j] = t
        inv = 1.0 / T[c, c]
        for j in range(2 * k):
            T[c, j] *= inv
        for r in range(k):
            if r != c:
                f = T[r, c]
                if f != 0.0:
                    for j in range(2 * k):
                        T[r, j] -= f * T[c, j]
    for a in range(k):
        for b in range(k):
            Rm[a, b] = T[a, k + b]
    gk = g_tab[k + 1]
    tiny = _TINY
    # beta >= || I - R A* ||_inf
    # row a: sum_b |fl(I - R A)_ab| + gk (1 + sum_b (|R| |A|)_ab) + sum_b (|R| eA)_ab, the double
    # sums taken as |R| times the row sums of |A| and eA
    for c in range(k):
        sa = 0.0
        se = 0.0
        for b in range(k):
            sa += abs(A[c, b])
            se += eA[c, b]
        rr[c] = sa
        xf_sum = se
        T[c, 0] = xf_sum  # T is free again after the inversion
    beta = 0.0
    for a in range(k):
        row = 0.0
        mag = 1.0
        dat = 0.0
        for c in range(k):
            mag += abs(Rm[a, c]) * rr[c]
            dat += abs(Rm[a, c]) * T[c, 0]
        for b in range(k):
            acc = 1.0 if a == b else 0.0
            for c in range(k):
                acc -= Rm[a, c] * A[c, b]
            row += abs(acc)
        row = (row + gk * mag + dat) * 1.00000001 + tiny
        if row > beta:
            beta = row
    if not (beta < 1.0):
        return -1.0
    # |r*| <= |fl(rhs - A x)| + rounding + data error
    worst = 0.0
    for a in range(k):
        acc = rhs[a]
        mag = abs(rhs[a])
        dat = erhs[a]
        for b in range(k):
            acc -= A[a, b] * x[b]
            mag += abs(A[a, b]) * abs(x[b])
            dat += eA[a, b] * abs(x[b])
        rr[a] = (abs(acc) + gk * mag + dat) * 1.00000001 + tiny
    for a in range(k):
        acc = 0.0
        for b in range(k):
            acc += abs(Rm[a, b]) * rr[b]
        if acc > worst:
            worst = acc
    worst = worst * 1.00000001 + tiny
    den = (1.0 - beta) * (1.0 - 1e-15)
    out = worst / den * 1.00000001
    if not np.isfinite(out):
        return -1.0
    return out


@njit(cache=True)
def _vertex_check(v, d, n_units, nw, X, M, G, h, eG, eh, cut, lo, up, max_rad, g_tab, u, A, eA, Rm, T, rr, rhs,
                  erhs, xf, free, fixed_val, is_fixed, tight):
    """The proven radius of vertex v: the exact point of its tight constraints (maps G, h with
    bounds eG, eh, the same for all regions with the same earlier layers) is within it of the float
    vertex, lies strictly inside the box faces not in its mask, and its tight rows are proven to
    have full rank.  Returns (OK, radius), or (EXACT, -1) when the float bounds do not decide, or
    (FAIL, -1) for a mask that cannot belong to a vertex (both faces of a coordinate, an identity
    unit or no unit)."""
    nu = G.shape[0]
    gd = g_tab[d + 1]
    tiny = _TINY
    kf = 0
    bad = False
    for i in range(d):
        is_fixed[i] = False
        lo_b = _bit(M, v, i) != 0
        up_b = _bit(M, v, d + i) != 0
        if lo_b and up_b:
            bad = True
        if lo_b:
            is_fixed[i] = True
            fixed_val[i] = lo[i]
        elif up_b:
            is_fixed[i] = True
            fixed_val[i] = up[i]
        else:
            free[kf] = i
            kf += 1
    # tight units: the set bits from 2d on (word by word)
    t = 0
    for w in range(nw):
        word = M[v, w]
        while word != 0:
            low = word & (~word + np.uint64(1))
            c = 64 * w + _popcount(low - np.uint64(1))
            word ^= low
            if c < 2 * d:
                continue
            q = c - 2 * d
            if q >= n_units or not cut[q]:
                bad = True  # beyond the units, or an identity unit (never cuts)
            elif t < nu:
                tight[t] = q
            t += 1
    if bad:
        return FAIL, -1.0
    if t != kf:
        return EXACT, -1.0  # degenerate (or too few rows: the exact check says which)
    # distance of the stored fixed coordinates to the exact box faces (normally 0)
    rv = 0.0
    for i in range(d):
        if is_fixed[i] and X[v, i] != fixed_val[i]:
            e = abs(X[v, i] - fixed_val[i]) * (1.0 + 4 * u)
            if e > rv:
                rv = e
    if kf > 0:
        for a in range(kf):
            q = tight[a]
            acc = h[q]
            mag = abs(h[q])
            dat = eh[q]
            for i in range(d):
                if is_fixed[i]:
                    acc += G[q, i] * fixed_val[i]
                    mag += abs(G[q, i]) * abs(fixed_val[i])
                    dat += eG[q, i] * abs(fixed_val[i])
            rhs[a] = -acc
            erhs[a] = (gd * mag + dat) * 1.00000001 + tiny
            for b in range(kf):
                A[a, b] = G[q, free[b]]
                eA[a, b] = eG[q, free[b]]
        for b in range(kf):
            xf[b] = X[v, free[b]]
        e = _solve_enclosure(A, eA, rhs, erhs, xf, kf, Rm, g_tab, T, rr)
        if e < 0.0:
            return EXACT, -1.0
        if e > rv:
            rv = e
    if rv > max_rad:
        return EXACT, -1.0
    # box faces not in the mask hold strictly
    for i in range(d):
        if _bit(M, v, i) == 0:
            if not ((X[v, i] - lo[i]) * (1.0 - 4 * u) > rv * (1.0 + 4 * u)):
                return EXACT, -1.0
        if _bit(M, v, d + i) == 0:
            if not ((up[i] - X[v, i]) * (1.0 - 4 * u) > rv * (1.0 + 4 * u)):
                return EXACT, -1.0
    return OK, rv


@njit(cache=True)
def _vertex_signs(v, d, X, M, G, h, aGT, h0, hbox, xabs, gnorm, rv, u, need_w, done_w, pos_w, neg_w, und_w):
    """Decide, at vertex v (proven radius rv), the signs of the exact values of the units in
    ``need_w`` not yet in ``done_w`` (bit words over units; tight units are left in no word):
    proven > 0 (pos_w), < 0 (neg_w) or undecided (und_w).  aGT = gd |G| + eG (transposed) and
    h0 = gd |h| + eh bound rounding and data error in one product; hbox is that bound over the
    whole box, used when the vertex lies in the box (it does unless the table is corrupt)."""
    tiny = _TINY
    in_box = True
    for i in range(d):
        if not (abs(X[v, i]) <= xabs[i]):
            in_box = False
    grow = rv * (1.0 + 4 * u)
    for w in range(need_w.shape[0]):
        word = need_w[w] & ~done_w[w]
        done_w[w] |= word
        while word != 0:
            low = word & (~word + np.uint64(1))
            word ^= low
            q = 64 * w + _popcount(low - np.uint64(1))
            c = 2 * d + q
            if (M[v, c >> 6] >> np.uint64(c & 63)) & np.uint64(1):
                continue  # tight: its zero is part of the vertex's definition
            val = h[q]
            for i in range(d):
                val += G[q, i] * X[v, i]
            ext = gnorm[q] * grow
            if in_box and abs(val) > (hbox[q] + ext) * 1.00000001 + tiny:
                if val > 0.0:
                    pos_w[w] |= low
                else:
                    neg_w[w] |= low
                continue
            m = h0[q]
            for i in range(d):
                m += aGT[i, q] * abs(X[v, i])
            bound = (m + ext) * 1.00000001 + tiny
            if val > bound:
                pos_w[w] |= low
            elif val < -bound:
                neg_w[w] |= low
            else:
                und_w[w] |= low


@njit(cache=True, inline="always")
def _slot(Xb, M, v, d, nw, keys_x, keys_m, stamp, group):
    """Slot of vertex v (float bits and mask) in the per-group table: (index, found)."""
    hh = np.uint64(1469598103934665603)
    for i in range(d):
        hh = (hh ^ np.uint64(Xb[v, i])) * np.uint64(1099511628211)
    for w in range(nw):
        hh = (hh ^ M[v, w]) * np.uint64(1099511628211)
    size = stamp.shape[0]
    s = np.int64(hh & np.uint64(size - 1))
    while True:
        if stamp[s] != group:
            return s, False
        same = True
        for i in range(d):
            if keys_x[s, i] != Xb[v, i]:
                same = False
                break
        if same:
            for w in range(nw):
                if keys_m[s, w] != M[v, w]:
                    same = False
                    break
        if same:
            return s, True
        s = (s + 1) & (size - 1)


@njit(cache=True, nogil=True)
def _verify_kernel(d, n_units, W_all, b_all, eW_all, eb_all, slope_all, w_off, in_dim, out_dim, nstart, n_layers,
                   cut, cutpos, lo, up, max_rad, patterns, X, Xb, M, offsets, first, last, g_tab, u, radius, vstatus,
                   rstatus):
    """Check regions first..last-1 (see the module docstring); per vertex OK / EXACT / FAIL in
    ``vstatus``, per region the worst status in ``rstatus`` and the proven radius in ``radius``.

    Regions in depth-first order share their earlier layers' pattern in runs (a *group*): the maps
    are the same, so a vertex that appears in several regions of a group (same float bits, same
    mask) is enclosed once, and each unit's sign there decided at most once (a hash table, cleared
    per group).  Per region, the units whose sign is decided on the bounding box of its vertices
    (most of them: a region is small next to the distance of most hyperplanes) are compared with
    its bits once; only the others are decided vertex by vertex."""
    nu = max(n_units, 1)
    nw = M.shape[1]
    G = np.zeros((nu, d))
    h = np.zeros(nu)
    eG = np.zeros((nu, d))
    eh = np.zeros(nu)
    gnorm = np.zeros(nu)  # ||G_n||_1 + ||eG_n||_1
    A = np.zeros((d, d))
    eA = np.zeros((d, d))
    Rm = np.zeros((d, d))
    T = np.zeros((d, 2 * d))
    rr = np.zeros(d)
    rhs = np.zeros(d)
    erhs = np.zeros(d)
    xf = np.zeros(d)
    free = np.zeros(d, np.int64)
    fixed_val = np.zeros(d)
    is_fixed = np.zeros(d, np.bool_)
    tight = np.zeros(nu, np.int64)
    prev = np.zeros(nu, np.bool_)
    size = 4096
    keys_x = np.zeros((size, d), np.int64)
    keys_m = np.zeros((size, nw), np.uint64)
    stamp = np.full(size, -1, np.int64)
    c_status = np.zeros(size, np.int8)
    c_rad = np.zeros(size)
    nwu = (nu + 63) // 64
    c_done = np.zeros((size, nwu), np.uint64)
    c_pos = np.zeros((size, nwu), np.uint64)
    c_neg = np.zeros((size, nwu), np.uint64)
    c_und = np.zeros((size, nwu), np.uint64)
    pat_w = np.zeros(nwu, np.uint64)
    cut_w = np.zeros(nwu, np.uint64)
    zero_w = np.zeros(nwu, np.uint64)
    rpos = np.zeros(nwu, np.uint64)
    rneg = np.zeros(nwu, np.uint64)
    need = np.zeros(nwu, np.uint64)
    for q in range(n_units):
        if cut[q]:
            cut_w[q >> 6] |= np.uint64(1) << np.uint64(q & 63)
    aGT = np.zeros((d, nu))
    h0 = np.zeros(nu)
    hbox = np.zeros(nu)
    xabs = np.zeros(d)
    for i in range(d):
        xabs[i] = max(abs(lo[i]), abs(up[i]))
    xmin = np.zeros(d)
    xmax = np.zeros(d)
    group = 0
    used = 0
    have = -1  # layers 0..have are valid for the pattern prefix in ``prev``
    pat = np.ones(nu, np.bool_)
    for r in range(first, last):
        # the region's bits over all units (identity units pass their value: "active")
        for q in range(n_units):
            pat[q] = True if cutpos[q] < 0 else patterns[r, cutpos[q]]
        # the maps of layer l depend on the pattern of the layers before l only
        keep = 0
        if have >= 0:
            keep = have + 1
            for l in range(1, have + 1):
                same = True
                for q in range(nstart[l - 1], nstart[l - 1] + out_dim[l - 1]):
                    if pat[q] != prev[q]:
                        same = False
                        break
                if not same:
                    keep = l
                    break
        if keep < n_layers or have < 0:
            for l in range(keep, n_layers):
                _layer_maps(l, d, pat, W_all, b_all, eW_all, eb_all, slope_all, w_off, in_dim, out_dim, nstart,
                            G, h, eG, eh, g_tab, u)
            gd = g_tab[d + 1]
            for w in range(nwu):
                zero_w[w] = 0
            for q in range(n_units):
                sm = 0.0
                z = h[q] == 0.0 and eh[q] == 0.0
                for i in range(d):
                    sm += abs(G[q, i]) + eG[q, i]
                    if G[q, i] != 0.0 or eG[q, i] != 0.0:
                        z = False
                gnorm[q] = sm * 1.00000001
                if z and cut[q]:
                    zero_w[q >> 6] |= np.uint64(1) << np.uint64(q & 63)
                for i in range(d):
                    aGT[i, q] = gd * abs(G[q, i]) + eG[q, i]
                h0[q] = gd * abs(h[q]) + eh[q]
                hb = h0[q]
                for i in range(d):
                    hb += aGT[i, q] * xabs[i]
                hbox[q] = hb
            group += 1
            used = 0
        have = n_layers - 1
        for w in range(nwu):
            pat_w[w] = 0
            rpos[w] = 0
            rneg[w] = 0
        for q in range(n_units):
            prev[q] = pat[q]
            if pat[q]:
                pat_w[q >> 6] |= np.uint64(1) << np.uint64(q & 63)
        v0 = offsets[r]
        v1 = offsets[r + 1]
        status = OK
        # units identically zero on the region must be inactive (the exact run marks them so)
        for w in range(nwu):
            if zero_w[w] & pat_w[w]:
                status = FAIL
        # units whose sign is the same at every vertex, decided from the vertices' bounding box:
        # at an exact vertex x* (within max_rad of a float vertex in the box) the exact value is
        # >= fl(min over the box of G x + h) - 2 hbox - ||G||_1 max_rad
        in_box = v1 > v0
        for i in range(d):
            xmin[i] = np.inf
            xmax[i] = -np.inf
        for v in range(v0, v1):
            for i in range(d):
                x = X[v, i]
                if x < xmin[i]:
                    xmin[i] = x
                if x > xmax[i]:
                    xmax[i] = x
        for i in range(d):
            if not (abs(xmin[i]) <= xabs[i] and abs(xmax[i]) <= xabs[i]):
                in_box = False
        if in_box:
            for q in range(n_units):
                if not cut[q]:
                    continue
                low = h[q]
                high = h[q]
                for i in range(d):
                    a = G[q, i] * xmin[i]
                    b = G[q, i] * xmax[i]
                    if a < b:
                        low += a
                        high += b
                    else:
                        low += b
                        high += a
                margin = (2.0 * hbox[q] + gnorm[q] * max_rad * (1.0 + 4 * u)) * 1.00000001 + _TINY
                bit = np.uint64(1) << np.uint64(q & 63)
                if low > margin:
                    rpos[q >> 6] |= bit
                elif high < -margin:
                    rneg[q >> 6] |= bit
        for w in range(nwu):
            if (rpos[w] & ~pat_w[w]) | (rneg[w] & pat_w[w]):
                status = FAIL
            need[w] = cut_w[w] & ~rpos[w] & ~rneg[w] & ~zero_w[w]
        worst = 0.0
        for v in range(v0, v1):
            if status == FAIL:
                vstatus[v] = FAIL
                continue
            if used > size // 2:
                group += 1
                used = 0
            s, found = _slot(Xb, M, v, d, nw, keys_x, keys_m, stamp, group)
            if not found:
                st, rv = _vertex_check(v, d, n_units, nw, X, M, G, h, eG, eh, cut, lo, up, max_rad, g_tab, u, A, eA,
                                       Rm, T, rr, rhs, erhs, xf, free, fixed_val, is_fixed, tight)
                stamp[s] = group
                for i in range(d):
                    keys_x[s, i] = Xb[v, i]
                for w in range(nw):
                    keys_m[s, w] = M[v, w]
                for w in range(nwu):
                    c_done[s, w] = 0
                    c_pos[s, w] = 0
                    c_neg[s, w] = 0
                    c_und[s, w] = 0
                c_status[s] = st
                c_rad[s] = rv
                used += 1
            st = c_status[s]
            if st == OK:
                _vertex_signs(v, d, X, M, G, h, aGT, h0, hbox, xabs, gnorm, c_rad[s], u, need, c_done[s], c_pos[s],
                              c_neg[s], c_und[s])
                # the decided signs against this region's bits: > 0 where active, < 0 where inactive
                for w in range(nwu):
                    if (c_pos[s, w] & need[w] & ~pat_w[w]) | (c_neg[s, w] & need[w] & pat_w[w]):
                        st = FAIL
                        break
                    if c_und[s, w] & need[w]:
                        st = EXACT
            vstatus[v] = st
            if st == OK and c_rad[s] > worst:
                worst = c_rad[s]
            if st > status:
                status = st
        radius[r] = worst
        rstatus[r] = status


# ----------------------------------------------------------------------------- exact fallback
def _exact_vertex(rows, lo, up, x, mask_bits, pat_cut, cut_index, d):
    """Exact check of one vertex: (ok, distance bound of the float vertex x to the exact one)."""
    from flint import fmpq, fmpq_mat

    G, H = rows
    if not np.all(np.isfinite(x)):
        return False, np.inf
    fixed = {}
    for i in range(d):
        lo_b, up_b = i in mask_bits, (d + i) in mask_bits
        if lo_b and up_b:
            return False, np.inf
        if lo_b:
            fixed[i] = Fraction(float(lo[i]))
        elif up_b:
            fixed[i] = Fraction(float(up[i]))
    free = [i for i in range(d) if i not in fixed]
    tight_units = sorted(c - 2 * d for c in mask_bits if c >= 2 * d)
    tight = []
    for unit in tight_units:
        j = cut_index[unit]
        if j < 0:
            return False, np.inf  # an identity unit never cuts
        tight.append(j)
    k = len(free)
    xs = [None] * d
    for i, val in fixed.items():
        xs[i] = val
    if k:
        if len(tight) < k:
            return False, np.inf
        M = fmpq_mat(len(tight), k + 1)
        for a, j in enumerate(tight):
            for b, i in enumerate(free):
                M[a, b] = fmpq(G[j][i].numerator, G[j][i].denominator)
            rhs = -(H[j] + sum((G[j][i] * val for i, val in fixed.items()), start=Fraction(0)))
            M[a, k] = fmpq(rhs.numerator, rhs.denominator)
        R, rank = M.rref()
        if rank != k or any(R[i, i] != 1 for i in range(k)):
            return False, np.inf
        for b, i in enumerate(free):
            q = R[b, k]
            xs[i] = Fraction(int(q.p), int(q.q))
    for i in range(d):
        if i not in fixed and not (Fraction(float(lo[i])) < xs[i] < Fraction(float(up[i]))):
            return False, np.inf
    tight_set = set(tight)
    for j in range(len(H)):
        val = H[j] + sum((G[j][i] * xs[i] for i in range(d) if G[j][i]), start=Fraction(0))
        ident_zero = H[j] == 0 and not any(G[j])
        if j in tight_set:
            if val != 0 or ident_zero:
                return False, np.inf
        elif val == 0:
            if not (ident_zero and not pat_cut[j]):
                return False, np.inf
        elif (val > 0) != bool(pat_cut[j]):
            return False, np.inf
    dist = max((abs(Fraction(float(x[i])) - xs[i]) for i in range(d)), default=Fraction(0))
    dd = float(dist)
    if Fraction(dd) < dist:
        dd = float(np.nextafter(dd, np.inf))
    return True, dd


def _exact_rows(exact_net, pattern):
    """Exact pre-activation maps (G, h) of the cutting units under ``pattern`` (Fractions; rows
    scaled by positive per-layer integers, which changes no sign) and the canonical pattern."""
    canon, A, c, scales = exact_net.integer_pattern_rows(np.asarray(pattern, bool))
    canon = np.asarray(canon, bool)
    G, H = [], []
    for j in range(len(c)):
        sgn = -1 if canon[j] else 1  # active rows are -G u <= h, inactive G u <= -h
        G.append([Fraction(int(a)) * sgn for a in A[j]])
        H.append(Fraction(int(c[j])) * -sgn)
    return canon, (G, H)


# ----------------------------------------------------------------------------- driver
def verify_split_partition(data: ExactData, patterns, vertices, masks, offsets, workers=None) -> PartitionCheck:
    """Prove that the split result (patterns over the cutting units, CSR vertices and tight masks)
    is the exact partition of ``data``'s exact network on its box (see the module docstring)."""
    from polyattr.geometry.splitting import _map_ordered, _worker_count

    patterns = np.asarray(patterns, bool)
    n = patterns.shape[0]
    d = data.d
    n_units = int(data.cut.shape[0])
    cutpos = -np.ones(max(n_units, 1), np.int64)
    cutpos[np.flatnonzero(data.cut)] = np.arange(int(data.cut.sum()))
    pat_arr = np.ascontiguousarray(patterns if patterns.shape[1] else np.zeros((n, 1), bool))
    X = np.ascontiguousarray(vertices, float)
    M = np.ascontiguousarray(masks, np.uint64)
    Xb = X.view(np.int64)
    offsets = np.ascontiguousarray(offsets, np.int64)
    radius = np.zeros(n)
    vstatus = np.zeros(X.shape[0], np.int8)
    rstatus = np.zeros(n, np.int8)
    if n == 0:
        return PartitionCheck(False, radius, 0, np.zeros(0, np.int64))
    n_layers = int(len(data.nstart)) if n_units else 0
    g_tab = np.array([gamma(i) for i in range(int(max(data.in_dim.max(), d)) + 3)])
    max_rad = _MAX_RADIUS * float(np.max(data.upper - data.lower))
    cut = data.cut if n_units else np.zeros(1, bool)

    def run(task):
        a, b = task
        _verify_kernel(d, n_units, data.W_all, data.b_all, data.eW_all, data.eb_all, data.slope_all, data.w_off,
                       data.in_dim, data.out_dim, data.nstart, n_layers, cut, cutpos, data.lower, data.upper, max_rad,
                       pat_arr, X, Xb, M, offsets, a, b, g_tab, UNIT_ROUNDOFF, radius, vstatus, rstatus)

    workers = _worker_count(workers)
    edges = list(range(0, n, _BLOCK)) + [n]
    for _ in _map_ordered(run, [(a, b) for a, b in zip(edges[:-1], edges[1:])], workers):
        pass
    failed = set(np.flatnonzero(rstatus == FAIL).tolist())
    n_exact = 0
    todo = [r for r in np.flatnonzero(rstatus == EXACT).tolist() if r not in failed]
    if todo:
        exact_net = data.make_exact()
        cut_index = cutpos
        for r in todo:
            canon, rows = _exact_rows(exact_net, patterns[r])
            if np.any(canon != patterns[r]):
                failed.add(r)  # an active bit on an identically zero unit
                continue
            worst = float(radius[r])
            for v in range(offsets[r], offsets[r + 1]):
                if vstatus[v] != EXACT:
                    continue
                n_exact += 1
                bits = _mask_bits(M[v])
                ok, dist = _exact_vertex(rows, data.lower, data.upper, X[v], bits, patterns[r], cut_index, d)
                if not ok or dist > max_rad:
                    failed.add(r)
                    break
                worst = max(worst, dist)
            radius[r] = worst
    failed_arr = np.array(sorted(failed), np.int64)
    return PartitionCheck(len(failed_arr) == 0, radius, n_exact, failed_arr)


def _mask_bits(words) -> set[int]:
    out = set()
    for w, word in enumerate(words):
        word = int(word)
        while word:
            low = word & -word
            out.add(64 * w + low.bit_length() - 1)
            word ^= low
    return out
