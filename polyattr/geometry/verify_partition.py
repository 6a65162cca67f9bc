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
combinatorial on the tight masks (edge test, new vertex masks, pattern bits).  Run the same
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

Scope: box domains in reduced coordinates whose exact bounds are floats (boxes, slices and segments
of float boxes), and slopes that are floats.  Other inputs are reported as not verifiable
(:func:`exact_data` returns None) and keep the earlier behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from polyattr.jit import njit
from polyattr.numerics import ETA, UNIT_ROUNDOFF, gamma

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
    float_exact = (not getattr(model, "exact", False)) and red.is_identity and not getattr(domain, "exact", False)
    if float_exact:
        eWs = [np.zeros_like(W) for W in hidden_W]
        ebs = [np.zeros_like(b) for b in hidden_b]

        def make_exact():
            return composed.to_exact()
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


@njit(cache=True, inline="always")
def _bit_index(low):
    """The index of the single set bit of ``low``."""
    i = 0
    if low >> np.uint64(32):
        i += 32
        low >>= np.uint64(32)
    if low >> np.uint64(16):
        i += 16
        low >>= np.uint64(16)
    if low >> np.uint64(8):
        i += 8
        low >>= np.uint64(8)
    if low >> np.uint64(4):
        i += 4
        low >>= np.uint64(4)
    if low >> np.uint64(2):
        i += 2
        low >>= np.uint64(2)
    if low >> np.uint64(1):
        i += 1
    return i


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
        piv = T[c, c]
        for j in range(2 * k):
            T[c, j] /= piv
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
def _vertex_check(v, d, n_units, nw, X, M, G, h, eG, eh, GT, aGT, h0, gnorm, zero_row, cut, lo, up, max_rad,
                  g_tab, u, A, eA, Rm, T, rr, rhs, erhs, xf, free, fixed_val, is_fixed, tight, vals, mags,
                  pos_w, neg_w, und_w, zer_w):
    """Everything about vertex v that does not depend on the region's own pattern bits (only on
    the maps, which are the same for all regions with the same earlier layers): its proven radius
    (or -1 with status EXACT / FAIL) and, as bit words over the units, where the exact value at the
    exact vertex is proven > 0 (pos_w), < 0 (neg_w), undecided (und_w), or identically zero on the
    region (zer_w); tight units and identity units are in none.  Returns (status, radius)."""
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
            c = 64 * w + _bit_index(low)
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
    # values of all units at the float vertex (transposed maps: the inner loop runs over units)
    # (aGT = gd |G| + eG transposed, h0 = gd |h| + eh: the rounding and data bound in one product)
    for q in range(n_units):
        vals[q] = h[q]
        mags[q] = h0[q]
    for i in range(d):
        x = X[v, i]
        ax = abs(x)
        for q in range(n_units):
            vals[q] += GT[i, q] * x
            mags[q] += aGT[i, q] * ax
    for w in range(pos_w.shape[0]):
        pos_w[w] = 0
        neg_w[w] = 0
        und_w[w] = 0
        zer_w[w] = 0
    grow = rv * (1.0 + 4 * u)
    for q in range(n_units):
        c = 2 * d + q
        if not cut[q] or (M[v, c >> 6] >> np.uint64(c & 63)) & np.uint64(1):
            continue
        bit = np.uint64(1) << np.uint64(q & 63)
        if zero_row[q]:
            zer_w[q >> 6] |= bit  # identically zero on the region (float maps 0 with bound 0)
            continue
        bound = (mags[q] + gnorm[q] * grow) * 1.00000001 + tiny
        if vals[q] > bound:
            pos_w[q >> 6] |= bit
        elif vals[q] < -bound:
            neg_w[q >> 6] |= bit
        else:
            und_w[q >> 6] |= bit
    return OK, rv


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
                   cut, lo, up, max_rad, full_pat, X, Xb, M, offsets, first, last, g_tab, u, radius, vstatus, rstatus):
    """Check regions first..last-1 (see the module docstring); per vertex OK / EXACT / FAIL in
    ``vstatus``, per region the worst status in ``rstatus`` and the proven radius in ``radius``.

    Regions in depth-first order share their earlier layers' pattern in runs (a *group*): the maps
    are the same, so a vertex that appears in several regions of a group (same float bits, same
    mask) is enclosed and its signs decided once (a hash table, cleared per group); each region
    then only compares the decided signs with its own pattern bits."""
    nu = max(n_units, 1)
    nw = M.shape[1]
    G = np.zeros((nu, d))
    h = np.zeros(nu)
    eG = np.zeros((nu, d))
    eh = np.zeros(nu)
    gnorm = np.zeros(nu)  # ||G_n||_1 + ||eG_n||_1
    zero_row = np.zeros(nu, np.bool_)
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
    c_pos = np.zeros((size, nwu), np.uint64)
    c_neg = np.zeros((size, nwu), np.uint64)
    c_und = np.zeros((size, nwu), np.uint64)
    c_zer = np.zeros((size, nwu), np.uint64)
    pat_w = np.zeros(nwu, np.uint64)
    GT = np.zeros((d, nu))
    aGT = np.zeros((d, nu))
    h0 = np.zeros(nu)
    val = np.zeros(nu)
    mag = np.zeros(nu)
    group = 0
    used = 0
    have = -1  # layers 0..have are valid for the pattern prefix in ``prev``
    for r in range(first, last):
        pat = full_pat[r]
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
            for q in range(n_units):
                s = 0.0
                z = h[q] == 0.0 and eh[q] == 0.0
                for i in range(d):
                    s += abs(G[q, i]) + eG[q, i]
                    if G[q, i] != 0.0 or eG[q, i] != 0.0:
                        z = False
                gnorm[q] = s * 1.00000001
                zero_row[q] = z
                gd = g_tab[d + 1]
                for i in range(d):
                    GT[i, q] = G[q, i]
                    aGT[i, q] = gd * abs(G[q, i]) + eG[q, i]
                h0[q] = gd * abs(h[q]) + eh[q]
            group += 1
            used = 0
        have = n_layers - 1
        for w in range(nwu):
            pat_w[w] = 0
        for q in range(n_units):
            prev[q] = pat[q]
            if pat[q]:
                pat_w[q >> 6] |= np.uint64(1) << np.uint64(q & 63)
        worst = 0.0
        status = OK
        for v in range(offsets[r], offsets[r + 1]):
            if used > size // 2:
                group += 1
                used = 0
            s, found = _slot(Xb, M, v, d, nw, keys_x, keys_m, stamp, group)
            if not found:
                st, rv = _vertex_check(v, d, n_units, nw, X, M, G, h, eG, eh, GT, aGT, h0, gnorm, zero_row, cut,
                                       lo, up, max_rad, g_tab, u, A, eA, Rm, T, rr, rhs, erhs, xf, free, fixed_val,
                                       is_fixed, tight, val, mag, c_pos[s], c_neg[s], c_und[s], c_zer[s])
                stamp[s] = group
                for i in range(d):
                    keys_x[s, i] = Xb[v, i]
                for w in range(nw):
                    keys_m[s, w] = M[v, w]
                c_status[s] = st
                c_rad[s] = rv
                used += 1
            st = c_status[s]
            if st == OK:
                # the decided signs against this region's bits: > 0 where active, < 0 where
                # inactive, identically zero only where inactive
                for w in range(nwu):
                    if (c_pos[s, w] & ~pat_w[w]) | (c_neg[s, w] & pat_w[w]) | (c_zer[s, w] & pat_w[w]):
                        st = FAIL
                        break
                    if c_und[s, w]:
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
    full = np.ones((n, max(n_units, 1)), np.bool_)
    if n_units:
        full[:, :n_units][:, data.cut] = patterns
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
                       data.in_dim, data.out_dim, data.nstart, n_layers, cut, data.lower, data.upper, max_rad,
                       full, X, Xb, M, offsets, a, b, g_tab, UNIT_ROUNDOFF, radius, vstatus, rstatus)

    workers = _worker_count(workers)
    edges = list(range(0, n, _BLOCK)) + [n]
    for _ in _map_ordered(run, [(a, b) for a, b in zip(edges[:-1], edges[1:])], workers):
        pass
    failed = set(np.flatnonzero(rstatus == FAIL).tolist())
    n_exact = 0
    todo = [r for r in np.flatnonzero(rstatus == EXACT).tolist() if r not in failed]
    if todo:
        exact_net = data.make_exact()
        cut_index = -np.ones(max(n_units, 1), np.int64)
        cut_index[np.flatnonzero(data.cut)] = np.arange(int(data.cut.sum()))
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
