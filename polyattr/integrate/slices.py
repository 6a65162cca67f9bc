"""Integrals of a piecewise-affine function over many axis-aligned slices of a triangulated box.

The box is tiled by simplices T (vertices v_0..v_d, function values f_0..f_d at them, f affine on
each T).  A slice fixes some coordinates, {z_S = c}; its integral (Lebesgue measure on the free
coordinates) is the sum over the simplices it meets.  Two closed forms, both vectorised over the
slices (queries) of one coordinate set S in a numba kernel:

* |S| = 1 (partial dependence): with uniform barycentric coordinates lambda ~ Dirichlet(1, ..., 1)
  on T, z_j = sum lambda_i a_i (a_i the j-coordinates of the vertices) has density M(t | a), the
  Curry-Schoenberg B-spline with knots a_0..a_d, and lambda_i times that density is
  M(t | a, a_i) / (d + 1) (the knot a_i doubled).  Hence

      integral over T n {z_j = t} of f  =  vol(T) / (d + 1) * sum_i f_i M(t | a_0..a_d, a_i),

  evaluated by the Cox-de Boor recurrence (every term non-negative: no cancellation).  The
  B-splines are right-continuous at their knots (left-continuous at the box's upper face), so a
  slice through a shared facet is counted once.
* free dimension m = d - |S| in {1, 2}: T n {z_S = c} is an interval or a convex polygon whose
  vertices are the points sum_{r in J} mu_r v_r for the (|S| + 1)-subsets J of T's vertices whose
  projections contain c (mu the barycentric coordinates of c); its integral is its length (area)
  times f at its centre (exact for affine f: a fan of triangles from the vertex mean).

Per query the kernels also return the total mass found (the slice's volume when the simplices tile
the box), sum |f| weights for a rounding bound, the largest |f| met, and the number of terms.
The B-spline kernel's rounding is proven (:func:`NODE_ROUNDINGS`, the interpolated pieces' bound,
the simplex volumes' errors); the section kernel's (barycentric coordinates, sign tests, shoelace
sums) is not bounded yet, so its callers must not take its results as certified.

:func:`slice_displacement_bounds` bounds, per axis slice, how far the integral over the float
simplices can be from the integral over the exact simplices they stand for (vertices within a
proven radius), simplex by simplex, and flags the slices that pass too near a vertex for that bound.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from functools import lru_cache

import numpy as np
from polyattr.jit import njit

from polyattr.numerics import gamma


@njit(cache=True)
def _spline_sums(t, s, knots, base, order, F, absF, left, ext, work, res):
    """res = (sum_i f_i M_i(t), sum_i |f|_i M_i(t), sum_i M_i(t)) for simplex s, M_i = M(t | a, a_i).

    One Cox-de Boor table of the sorted knots b gives M(t | b_p..b_q) for every window p..q; then
    each M(t | a, a_i) follows by Micchelli's recurrence on the pair (a_i, an end knot of the window):
    with K = b_p..b_q plus a_i, t = mu a_i + (1 - mu) b_e and n = q - p + 1,

        M(t | K) = n / (n - 1) * (mu M(t | K - a_i) + (1 - mu) M(t | K - b_e)),

    removing b_q when t >= a_i and b_p otherwise, so that mu and 1 - mu (each computed as its own
    ratio) lie in [0, 1]: every term is non-negative.  ``left``: evaluate the left-continuous
    version (by reflection t -> -t).  ``ext`` (>= d + 1) and ``work`` ((d + 1, d + 1)) are work space.
    """
    d1 = knots.shape[1]
    d = d1 - 1
    sign = -1.0 if left else 1.0
    tt = sign * t
    # sorted knots (reflected when left) in ext; rank[i] = position of a_i
    for r in range(d1):
        if left:
            ext[r] = -base[order[d - r]]
        else:
            ext[r] = base[order[r]]
    # Cox-de Boor table: work[r, p] = M(tt | ext[p..p + r]) for r = 1..d
    for p in range(d):
        a, b = ext[p], ext[p + 1]
        work[1, p] = 1.0 / (b - a) if (a <= tt < b) else 0.0
    for r in range(2, d1):
        for p in range(d1 - r):
            span = ext[p + r] - ext[p]
            if span > 0.0:
                work[r, p] = r * ((tt - ext[p]) * work[r - 1, p] + (ext[p + r] - tt) * work[r - 1, p + 1]) / ((r - 1) * span)
            else:
                work[r, p] = 0.0
    res[0] = 0.0
    res[1] = 0.0
    res[2] = 0.0
    for i in range(d1):
        # position of a_i in the (reflected) sorted knots
        pos = 0
        for r in range(d1):
            if order[r] == i:
                pos = d - r if left else r
        ai = ext[pos]
        p = 0
        q = d
        total = 0.0
        mult = 1.0
        while True:
            if tt < ext[p] or tt >= ext[q] or q == p:
                break  # outside K's knots (right-continuous), or K = {a_i, a_i}: 0
            n = q - p + 1
            grow = n / (n - 1.0)
            if tt >= ai:
                span = ext[q] - ai
                mu = (ext[q] - tt) / span
                rest = (tt - ai) / span
                total += mult * grow * mu * work[q - p, p]
                q -= 1
            else:
                span = ai - ext[p]
                mu = (tt - ext[p]) / span
                rest = (ai - tt) / span
                total += mult * grow * mu * work[q - p, p]
                p += 1
            mult *= grow * rest
            if p > pos or q < pos:
                break  # cannot happen: a_i stays in the window
        res[0] += F[s, i] * total
        res[1] += absF[s, i] * total
        res[2] += total


@njit(cache=True)
def axis_slice_kernel(knots, F, absF, emax, volumes, volume_errors, queries, left, nodes, vinv, lam, g_node, out):
    """Integrals over the slices {z_j = t} for the sorted ``queries`` t.

    knots (T, d + 1): the j-coordinates of every simplex's vertices; F, absF (T, d + 1): f and a
    bound on |f| at them; volumes (T,); left (Q,) bool: evaluate left-continuously (at the box's
    upper face); emax (T,): a bound on the error of f (an affine function on the simplex) at its
    vertices; volume_errors (T,): bounds on |volumes - exact volumes|.  out (Q, 8): integral, sum
    of |f| weights (for a gamma_n rounding bound), mass, max |f|, number of terms, absolute error
    bound of the integral from interpolated pieces and from the volumes' errors, the same for the
    mass, and the integral of emax (the bound of f's own error, with 1% to spare).

    A knot interval of a simplex that holds more than d + 1 queries is not evaluated per query:
    its polynomial pieces (degree d; value and mass) are interpolated at the d + 1 Chebyshev roots
    ``nodes`` (monomials in the interval's local variable xi in [-1, 1], coefficients ``vinv`` @
    values) and evaluated by Horner per query, with a proven error bound (derived in the comments);
    an interval whose float nodes would leave it, or whose node perturbation is too large for the
    Neumann-series bound, is evaluated per query instead.
    """
    T, d1 = knots.shape
    d = d1 - 1
    u = 2.0**-53
    base = np.empty(d1)
    order = np.empty(d1, np.int64)
    ext = np.empty(d1 + 1)
    work = np.empty((d1 + 1, d1 + 1))
    res = np.empty(3)
    yv = np.empty(d1)
    ym = np.empty(d1)
    bv = np.empty(d1)
    bm = np.empty(d1)
    for s in range(T):
        if volumes[s] <= 0.0 and volume_errors[s] <= 0.0:
            continue
        fmax = 0.0
        for i in range(d1):
            base[i] = knots[s, i]
            fmax = max(fmax, absF[s, i])
        order[:] = np.argsort(base)
        w = volumes[s] / d1
        werr = volume_errors[s] / d1 * (1.0 + 2.0 * u)  # >= |w* - w|: the volume's error, and w's rounding
        werr += w * 2.0 * u
        for mi in range(d):
            a = base[order[mi]]
            b = base[order[mi + 1]]
            if not b > a:
                continue
            last = b == base[order[d]]  # the largest knot (repeated knots: the last interval of positive length)
            # queries with a <= t < b (and t == b on the last interval: a B-spline ends at its last knot)
            q0 = np.searchsorted(queries, a, "left")
            if last:
                q1 = np.searchsorted(queries, b, "right")
            else:
                q1 = np.searchsorted(queries, b, "left")
            if q1 <= q0:
                continue
            mid = 0.5 * (a + b)
            half = 0.5 * (b - a)
            fit = q1 - q0 > d1 and half > 1e-3 * abs(mid)
            if fit:
                # the nodes must fall inside [a, b) (they evaluate this interval's piece)
                for c in range(d1):
                    tc = mid + half * nodes[c]
                    if not (a <= tc < b):
                        fit = False
                # node displacement in xi (see below) and the perturbation of the inverse Vandermonde
                delta = 4.0 * u * (1.0 + abs(mid) / half)
                dv = 0.0
                xp = 1.0
                for e in range(1, d1):
                    dv += e * xp
                    xp *= 1.0 + delta
                dv *= delta * 1.01  # >= ||V(xi') - V(xi)||_inf
                rho = lam * dv * 1.01
                if rho >= 0.5:
                    fit = False
            if fit:
                # values at the nodes, then monomial coefficients in xi = (t - mid) / half
                amax = 0.0
                for c in range(d1):
                    _spline_sums(mid + half * nodes[c], s, knots, base, order, F, absF, False, ext, work, res)
                    yv[c] = res[0]
                    ym[c] = res[2]
                    amax = max(amax, res[1])
                sbv = 0.0
                sbm = 0.0
                for e in range(d1):
                    acc = 0.0
                    accm = 0.0
                    for c in range(d1):
                        acc += vinv[e, c] * yv[c]
                        accm += vinv[e, c] * ym[c]
                    bv[e] = acc
                    bm[e] = accm
                    sbv += abs(acc)
                    sbm += abs(accm)
                # Error of the interpolated piece (P(xi) = the exact piece p(mid + half xi), degree d;
                # mid and half are the floats computed, so P is an exact reparametrisation):
                # * the float nodes t_c = fl(mid + half xi_c) are the exact nodes xi'_c = (t_c - mid)
                #   / half with |xi'_c - xi_c| <= delta, and y_c = P(xi'_c) + e_c with |e_c| <= ey
                #   (g_node relative to the |f| weights, computed as amax, itself within g_node);
                # * with A = V(xi)^-1 (||A||_inf <= lam), vinv = A rounded (u relative), V' = V(xi'):
                #   ||V'^-1 - A||_inf <= lam^2 ||dV|| / (1 - lam ||dV||) =: ip (Neumann series);
                # * c^ - c = [fl(vinv y) - vinv y] + (vinv - A) y + (A - V'^-1) y + V'^-1 (y - P(xi'))
                #   so ||c^ - c||_inf <= (gamma_{d+1} + 2u) lam ymax + ip ymax + (lam + ip) ey =: ce;
                # * per query, with X >= max(1, |xi|, |xi*|) (xi* the exact local variable of t):
                #   |Horner(c^, xi) - P(xi*)| <= (d + 1) ce X^d + gamma_{2d+1} sum|c^_e| X^d
                #   + |xi - xi*| d sum|c^_e| X^(d-1), and |xi - xi*| <= 2.01 u X (two roundings).
                ip = lam * lam * dv / (1.0 - rho) * 1.01
                ey = g_node * amax * (1.0 + g_node) * 1.01
                ymax = 0.0
                mm = 0.0
                for c in range(d1):
                    ymax = max(ymax, abs(yv[c]))
                    mm = max(mm, abs(ym[c]))
                em_y = g_node * mm * (1.0 + g_node) * 1.01  # the masses are sums of non-negative terms
                gd = (d1 + 2.0 * d1 * u) * u * 1.01 + 2.0 * u  # >= gamma_{d+1} + 2u
                gh = (2 * d + 1) * u * 1.01  # >= gamma_{2d+1}
                ce_v = 1.01 * (gd * lam * ymax + ip * ymax + (lam + ip) * ey)
                ce_m = 1.01 * (gd * lam * mm + ip * mm + (lam + ip) * em_y)
                pv_a = d1 * ce_v + gh * sbv
                pm_a = d1 * ce_m + gh * sbm
                for q in range(q0, q1):
                    t = queries[q]
                    if t == b:
                        if not left[q]:
                            continue  # right-continuous: 0 at the last knot
                        xi = 1.0  # the box's upper face: the piece's closed right end (|xi - xi*| <= delta)
                        X = 1.0 + delta
                        dxi = delta
                    else:
                        xi = (t - mid) / half
                        X = max(1.0, abs(xi)) * (1.0 + 3.0 * u)
                        dxi = 2.01 * u * X
                    Xd1 = 1.0
                    for e in range(d - 1):
                        Xd1 *= X
                    pv = 0.0
                    pm = 0.0
                    for e in range(d, -1, -1):
                        pv = pv * xi + bv[e]
                        pm = pm * xi + bm[e]
                    ev = 1.02 * (pv_a * X + dxi * d * sbv) * Xd1
                    em = 1.02 * (pm_a * X + dxi * d * sbm) * Xd1
                    out[q, 0] += w * pv
                    out[q, 1] += w * (abs(pv) + ev)  # the accumulation's rounding (gamma_n in the caller)
                    out[q, 2] += w * pm
                    # the interpolation's error, and the volume's error times |piece| (<= |pv| + ev)
                    out[q, 5] += 1.01 * (w * ev + werr * (abs(pv) + ev))
                    out[q, 6] += 1.01 * (w * em + werr * (abs(pm) + em))
                    out[q, 7] += 1.01 * (w + werr) * (abs(pm) + em) * emax[s]
                    out[q, 3] = max(out[q, 3], fmax)
                    out[q, 4] += 1.0
                continue
            for q in range(q0, q1):
                t = queries[q]
                if t == b and not left[q]:
                    continue  # right-continuous: 0 at the last knot
                _spline_sums(t, s, knots, base, order, F, absF, left[q], ext, work, res)
                if res[2] != 0.0:
                    out[q, 0] += w * res[0]
                    out[q, 1] += w * res[1]
                    out[q, 2] += w * res[2]
                    out[q, 3] = max(out[q, 3], fmax)
                    out[q, 4] += 1.0
                    # the volume's error: werr times the piece's |f| weights (res within g_node of exact)
                    out[q, 5] += 1.01 * werr * res[1] * (1.0 + g_node)
                    out[q, 6] += 1.01 * werr * res[2] * (1.0 + g_node)
                    out[q, 7] += 1.01 * (w + werr) * res[2] * (1.0 + g_node) * emax[s]


@njit(cache=True)
def _barycentric(P, c, k, M, mu):
    """Barycentric coordinates mu of c in the k-simplex P (k + 1, k); False when degenerate.
    Cramer's rule for k = 1, 2, 3, Gaussian elimination beyond."""
    if k > 3:
        return _barycentric_elimination(P, c, k, M, mu)
    scale = 1.0
    for r in range(k + 1):
        for a in range(k):
            scale = max(scale, abs(P[r, a]))
    if k == 1:
        den = P[1, 0] - P[0, 0]
        if abs(den) <= 1e-13 * scale:
            return False
        mu[1] = (c[0] - P[0, 0]) / den
        mu[0] = 1.0 - mu[1]
        return True
    if k == 2:
        a0, a1 = P[1, 0] - P[0, 0], P[1, 1] - P[0, 1]
        b0, b1 = P[2, 0] - P[0, 0], P[2, 1] - P[0, 1]
        r0, r1 = c[0] - P[0, 0], c[1] - P[0, 1]
        den = a0 * b1 - a1 * b0
        if abs(den) <= 1e-13 * scale * scale:
            return False
        mu[1] = (r0 * b1 - r1 * b0) / den
        mu[2] = (a0 * r1 - a1 * r0) / den
        mu[0] = 1.0 - mu[1] - mu[2]
        return True
    # k == 3: columns e1, e2, e3 = P[r] - P[0]; solve [e1 e2 e3] m = c - P[0]
    for a in range(3):
        M[a, 0] = P[1, a] - P[0, a]
        M[a, 1] = P[2, a] - P[0, a]
        M[a, 2] = P[3, a] - P[0, a]
        M[a, 3] = c[a] - P[0, a]
    den = _det3(M, 0, 1, 2)
    if abs(den) <= 1e-13 * scale * scale * scale:
        return False
    mu[1] = _det3(M, 3, 1, 2) / den
    mu[2] = _det3(M, 0, 3, 2) / den
    mu[3] = _det3(M, 0, 1, 3) / den
    mu[0] = 1.0 - mu[1] - mu[2] - mu[3]
    return True


@njit(cache=True, inline="always")
def _det3(M, i, j, l):
    return (M[0, i] * (M[1, j] * M[2, l] - M[2, j] * M[1, l]) - M[0, j] * (M[1, i] * M[2, l] - M[2, i] * M[1, l])
            + M[0, l] * (M[1, i] * M[2, j] - M[2, i] * M[1, j]))


@njit(cache=True)
def _barycentric_elimination(P, c, k, M, mu):
    """Solve sum_r mu_r P[r] = c, sum_r mu_r = 1 for the k + 1 points P (k + 1, k) by Gaussian
    elimination with partial pivoting; False when the points are affinely dependent (to rounding)."""
    n = k + 1
    scale = 0.0
    for r in range(n):
        for a in range(k):
            M[a, r] = P[r, a]
            scale = max(scale, abs(P[r, a]))
        M[k, r] = 1.0
    for a in range(k):
        M[a, n] = c[a]
    M[k, n] = 1.0
    scale = max(scale, 1.0)
    for col in range(n):
        piv = col
        for r in range(col + 1, n):
            if abs(M[r, col]) > abs(M[piv, col]):
                piv = r
        if abs(M[piv, col]) <= 1e-13 * scale:
            return False
        if piv != col:
            for cc in range(n + 1):
                tmp = M[col, cc]
                M[col, cc] = M[piv, cc]
                M[piv, cc] = tmp
        for r in range(col + 1, n):
            fct = M[r, col] / M[col, col]
            for cc in range(col, n + 1):
                M[r, cc] -= fct * M[col, cc]
    for r in range(n - 1, -1, -1):
        acc = M[r, n]
        for cc in range(r + 1, n):
            acc -= M[r, cc] * mu[cc]
        mu[r] = acc / M[r, r]
    return True


@njit(cache=True)
def section_kernel(X, simplices, fv, absfv, errv, fixed, free, subsets, queries, out):
    """Integrals over the slices {z_fixed = c} (free dimension 1 or 2) for the queries c (Q, k),
    sorted by their first column.  X (V, d) vertices, simplices (T, d + 1), fv / absfv / errv (V,)
    f, a bound on |f| and a bound on f's own error at every vertex, subsets (n_sub, k + 1) the
    (k + 1)-subsets of range(d + 1).
    out (Q, 8) as in :func:`axis_slice_kernel` (columns 5 and 6 stay 0).
    """
    T = simplices.shape[0]
    k = fixed.shape[0]
    m = free.shape[0]
    n_sub = subsets.shape[0]
    Pk = np.empty((k + 1, k))
    M = np.empty((max(k + 1, 3), k + 2))
    mu = np.empty(k + 1)
    pts = np.empty((n_sub, 2))
    fvals = np.empty(n_sub)
    avals = np.empty(n_sub)
    ang = np.empty(n_sub)
    idx = np.empty(n_sub, np.int64)
    n_vert = simplices.shape[1]
    rel = np.empty((n_vert, 2))
    cross = np.empty((n_vert, n_vert))
    lo = np.empty(k)
    hi = np.empty(k)
    c = np.empty(k)
    first = queries[:, 0].copy()
    for s in range(T):
        for a in range(k):
            lo[a] = np.inf
            hi[a] = -np.inf
            for i in range(simplices.shape[1]):
                v = X[simplices[s, i], fixed[a]]
                lo[a] = min(lo[a], v)
                hi[a] = max(hi[a], v)
        q0 = np.searchsorted(first, lo[0], "left")
        q1 = np.searchsorted(first, hi[0], "right")
        for q in range(q0, q1):
            inside = True
            for a in range(k):
                c[a] = queries[q, a]
                if c[a] < lo[a] or c[a] > hi[a]:
                    inside = False
            if not inside:
                continue
            npts = 0
            if k == 2:
                # cross products D(i, j) = (p_i - c) x (p_j - c) of the projected vertices, once per
                # query: triangle (i, j, l) contains c iff D(i,j), D(j,l), D(l,i) have the sign of their
                # sum O (twice its signed area), and then mu_l = D(i,j) / O, mu_i = D(j,l) / O, ...
                for i in range(n_vert):
                    vi = simplices[s, i]
                    rel[i, 0] = X[vi, fixed[0]] - c[0]
                    rel[i, 1] = X[vi, fixed[1]] - c[1]
                for i in range(n_vert):
                    for j in range(n_vert):
                        cross[i, j] = rel[i, 0] * rel[j, 1] - rel[i, 1] * rel[j, 0]
                for js in range(n_sub):
                    i0 = subsets[js, 0]
                    i1 = subsets[js, 1]
                    i2 = subsets[js, 2]
                    d01 = cross[i0, i1]
                    d12 = cross[i1, i2]
                    d20 = cross[i2, i0]
                    O = d01 + d12 + d20
                    if O > 0.0:
                        if d01 < 0.0 or d12 < 0.0 or d20 < 0.0:
                            continue
                    elif O < 0.0:
                        if d01 > 0.0 or d12 > 0.0 or d20 > 0.0:
                            continue
                    else:
                        continue
                    scale = abs(rel[i0, 0]) + abs(rel[i0, 1]) + abs(rel[i1, 0]) + abs(rel[i1, 1]) \
                        + abs(rel[i2, 0]) + abs(rel[i2, 1])
                    if abs(O) <= 1e-13 * scale * scale:
                        continue  # a degenerate projected triangle: its points come from others
                    mu[0] = d12 / O
                    mu[1] = d20 / O
                    mu[2] = d01 / O
                    for e in range(m):
                        pts[npts, e] = 0.0
                    fvals[npts] = 0.0
                    avals[npts] = 0.0
                    for r in range(3):
                        vi = simplices[s, subsets[js, r]]
                        for e in range(m):
                            pts[npts, e] += mu[r] * X[vi, free[e]]
                        fvals[npts] += mu[r] * fv[vi]
                        avals[npts] += mu[r] * absfv[vi]
                    npts += 1
            for js in range(n_sub if k != 2 else 0):
                for r in range(k + 1):
                    vi = simplices[s, subsets[js, r]]
                    for a in range(k):
                        Pk[r, a] = X[vi, fixed[a]]
                if not _barycentric(Pk, c, k, M, mu):
                    continue
                ok = True
                for r in range(k + 1):
                    if mu[r] < -1e-12:
                        ok = False
                if not ok:
                    continue
                tot = 0.0
                for r in range(k + 1):
                    mu[r] = max(mu[r], 0.0)
                    tot += mu[r]
                for e in range(m):
                    pts[npts, e] = 0.0
                fvals[npts] = 0.0
                avals[npts] = 0.0
                for r in range(k + 1):
                    vi = simplices[s, subsets[js, r]]
                    w = mu[r] / tot
                    for e in range(m):
                        pts[npts, e] += w * X[vi, free[e]]
                    fvals[npts] += w * fv[vi]
                    avals[npts] += w * absfv[vi]
                npts += 1
            if npts < m + 1:
                continue
            out_mass = 0.0
            if m == 1:
                imin = 0
                imax = 0
                for p in range(npts):
                    if pts[p, 0] < pts[imin, 0]:
                        imin = p
                    if pts[p, 0] > pts[imax, 0]:
                        imax = p
                length = pts[imax, 0] - pts[imin, 0]
                if length <= 0.0:
                    continue
                out[q, 0] += length * 0.5 * (fvals[imin] + fvals[imax])
                out[q, 1] += length * 0.5 * (avals[imin] + avals[imax])
                out[q, 2] += length
                out_mass = length
                fm = max(avals[imin], avals[imax])
            else:
                cx = 0.0
                cy = 0.0
                cf = 0.0
                ca = 0.0
                for p in range(npts):
                    cx += pts[p, 0]
                    cy += pts[p, 1]
                    cf += fvals[p]
                    ca += avals[p]
                cx /= npts
                cy /= npts
                cf /= npts
                ca /= npts
                for p in range(npts):
                    # a pseudo-angle (monotone in the angle around the centre), then insertion sort
                    dx = pts[p, 0] - cx
                    dy = pts[p, 1] - cy
                    den = abs(dx) + abs(dy)
                    pa = dy / den if den > 0.0 else 0.0
                    ang[p] = pa if dx >= 0.0 else 2.0 - pa
                    idx[p] = p
                    r = p
                    while r > 0 and ang[idx[r - 1]] > ang[idx[r]]:
                        tmp = idx[r - 1]
                        idx[r - 1] = idx[r]
                        idx[r] = tmp
                        r -= 1
                area = 0.0
                integral = 0.0
                integral_abs = 0.0
                fm = 0.0
                for p in range(npts):
                    a_ = idx[p]
                    b_ = idx[(p + 1) % npts]
                    tri = 0.5 * ((pts[a_, 0] - cx) * (pts[b_, 1] - cy) - (pts[b_, 0] - cx) * (pts[a_, 1] - cy))
                    if tri < 0.0:
                        tri = 0.0  # duplicates and rounding-level reversals add nothing
                    area += tri
                    integral += tri * (cf + fvals[a_] + fvals[b_]) / 3.0
                    integral_abs += tri * (ca + avals[a_] + avals[b_]) / 3.0
                    fm = max(fm, avals[a_])
                if area <= 0.0:
                    continue
                out[q, 0] += integral
                out[q, 1] += integral_abs
                out[q, 2] += area
                out_mass = area
            if fm > out[q, 3]:
                out[q, 3] = fm
            out[q, 4] += 1.0
            emx = 0.0
            for i in range(simplices.shape[1]):
                emx = max(emx, errv[simplices[s, i]])
            out[q, 7] += 1.01 * out_mass * emx


def NODE_ROUNDINGS(d: int) -> int:
    """Roundings along any path of one simplex's sum_i f_i M(t | a, a_i) (:func:`_spline_sums`), so
    that its computed value is within gamma_n, n = NODE_ROUNDINGS(d), of the exact value for the
    float knots and t, relative to sum_i |f_i| M_i (Higham's lemma 3.1: products and quotients of
    (1 + delta)^(+-1), n factors, are 1 + theta_n with |theta_n| <= gamma_n).

    The support tests (``a <= t < b``, ``t < b_p``) are float comparisons, exact; so every difference
    t - b_p, b_q - t, b - a, b_q - a_i that the recurrences use is >= 0 whenever its term is used,
    and each is one subtraction of exact inputs: (x - y)(1 + delta).  All terms are then >= 0 and
    relative errors only accumulate (no cancellation):
    * Cox-de Boor level 1: 1 / (b - a): 2 roundings; level r: a difference and a product per term
      (2), their sum (1), times r (1), the denominator (r - 1)(b_{p+r} - b_p) (2) and the division (1):
      7 per level, <= 7 d in all.  Coincident knots: an interval of length 0 gives 0 at level 1, and
      a window of zero span (all its knots equal: a point mass, multiplied by t - b_p = 0 or
      b_{p+r} - t = 0 at the next level) gives 0 too: exactly the right-continuous B-spline;
    * Micchelli's chain, <= d + 1 steps: mu and rest (3 each: difference, span, division), the growth
      n / (n - 1) (1), the running product mult (6 per step), the term mult * grow * mu * work (3) and
      the running sum of the terms (<= d + 1): <= 6 (d + 1) + 7 + 7 d + d + 1 along any path;
    * f at the vertices (within gamma_{d+1} of the float map, relative to the |f| bounds), the product
      with f (1) and the sum over i (d + 1):
    14 d + 14 + 2 d + 3 = 16 d + 17 <= 16 d + 30.  Underflow is not accounted for."""
    return 16 * d + 30


@lru_cache(maxsize=None)
def _chebyshev_interpolation(d: int):
    """Chebyshev roots xi_c (d + 1,), the inverse Vandermonde V^-1 (rows: monomial coefficients
    from node values), correctly rounded from the exact inverse at these float nodes, and a bound
    lam >= the largest absolute row sum of the exact inverse."""
    n = d + 1
    nodes = np.cos(np.pi * (2 * np.arange(n) + 1) / (2 * n))
    V = [[Fraction(float(x)) ** e for e in range(n)] for x in nodes]
    inv = _exact_inverse(V)
    vinv = np.array([[float(v) for v in row] for row in inv])
    lam = float(max(sum(abs(v) for v in row) for row in inv)) * (1 + 1e-12)
    return nodes, vinv, lam


def _exact_inverse(A):
    n = len(A)
    M = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(A)]
    for col in range(n):
        piv = next(r for r in range(col, n) if M[r][col] != 0)
        M[col], M[piv] = M[piv], M[col]
        p = M[col][col]
        M[col] = [v / p for v in M[col]]
        for r in range(n):
            if r != col and M[r][col] != 0:
                f = M[r][col]
                M[r] = [a - f * b for a, b in zip(M[r], M[col])]
    # the inverse maps node values to coefficients: V c = y, so c = V^-1 y (rows: coefficients)
    return [row[n:] for row in M]


def axis_slice_integrals(vertices, simplices, volumes, fv, absfv, axis: int, t, upper: float, errv=None,
                         volume_errors=None) -> np.ndarray:
    """(Q, 8) per slice {z_axis = t_q}: integral of f, sum of |f| weights, mass, max |f|, terms,
    absolute error bounds of the integral and the mass from interpolated pieces and from the
    volumes' errors ``volume_errors`` (bounds on |volumes - exact volumes|; None: the volumes are
    exact), and the integral of the bound ``errv`` (per vertex) on f's own error (see the kernel).

    The remaining rounding, relative to the |f| weights (column 1), is gamma_n with
    n = NODE_ROUNDINGS(d) + (d + 1) * terms + 2 (the caller adds it)."""
    t = np.asarray(t, float)
    order = np.argsort(t, kind="stable")
    ts = np.ascontiguousarray(t[order])
    knots = np.ascontiguousarray(vertices[simplices, axis])
    F = np.ascontiguousarray(fv[simplices])
    A = np.ascontiguousarray(absfv[simplices])
    E = np.zeros(len(simplices)) if errv is None else np.ascontiguousarray(np.max(errv[simplices], axis=1))
    d = vertices.shape[1]
    nodes, vinv, lam = _chebyshev_interpolation(d)
    out = np.zeros((len(ts), 8))
    verr = np.zeros(len(simplices)) if volume_errors is None else np.ascontiguousarray(volume_errors, float)
    axis_slice_kernel(knots, F, A, E, np.ascontiguousarray(volumes, float), verr, ts, ts >= upper, nodes, vinv, lam,
                      gamma(NODE_ROUNDINGS(d)), out)
    result = np.empty_like(out)
    result[order] = out
    return result


def section_integrals(vertices, simplices, fv, absfv, fixed, C, errv=None) -> np.ndarray:
    """(Q, 8) per slice {z_fixed = C_q} with d - len(fixed) in {1, 2} free coordinates (columns as in
    :func:`axis_slice_integrals`)."""
    d = vertices.shape[1]
    fixed = np.asarray(fixed, np.int64)
    free = np.array([i for i in range(d) if i not in set(fixed.tolist())], np.int64)
    if len(free) not in (1, 2):
        raise ValueError("section_integrals: the slices must have 1 or 2 free coordinates")
    C = np.asarray(C, float).reshape(-1, len(fixed))
    order = np.argsort(C[:, 0], kind="stable")
    Cs = np.ascontiguousarray(C[order])
    subsets = np.array(list(itertools.combinations(range(d + 1), len(fixed) + 1)), np.int64)
    out = np.zeros((len(Cs), 8))
    errv = np.zeros(len(vertices)) if errv is None else np.ascontiguousarray(errv, float)
    section_kernel(np.ascontiguousarray(vertices, float), np.ascontiguousarray(simplices, np.int64),
                   np.ascontiguousarray(fv, float), np.ascontiguousarray(absfv, float), errv, fixed, free, subsets,
                   Cs, out)
    result = np.empty_like(out)
    result[order] = out
    return result


@njit(cache=True)
def _displacement_kernel(V, knots, lo, hi, radius, fa, fb, axis, queries, out):
    """Per query t (sorted): the sum over simplices S~ of a bound on |int over S* n H of f* - int over
    S~ n H of f~| beyond the maps' own error (H = {z_axis = t}, S* the exact simplex, its vertices
    within radius[s] of S~'s in the inf norm), the number of pairs whose bound cannot be given (a
    vertex within 2 r of H: the slice must go to its row), and the number of terms (see
    :func:`slice_displacement_bounds` for the argument).  Every float operation is followed by a
    safety factor that covers its rounding (the quantities are non-negative).

    A pair's bound depends on t only through the set of cut edges, i.e. through the interval
    between consecutive sorted knots that holds t (no vertex is within 2 r of H when it is given), so
    it is computed once per simplex and interval (``term``) and added to every query in that interval."""
    T, d1 = knots.shape
    d = d1 - 1
    u = 2.0**-53
    Q = queries.shape[0]
    sorted_knots = np.empty(d1)
    term = np.empty(d1)
    for s in range(T):
        rr = radius[s]
        if rr <= 0.0:
            continue  # exact vertices: S~ = S*, no displacement
        tmin = knots[s, 0]
        tmax = knots[s, 0]
        for i in range(1, d1):
            tmin = min(tmin, knots[s, i])
            tmax = max(tmax, knots[s, i])
        reach = 4.0 * rr + 4.0 * u * (abs(tmin) + abs(tmax))  # wider than 2 r plus the roundings below
        q0 = np.searchsorted(queries, tmin - reach, "left")
        q1 = np.searchsorted(queries, tmax + reach, "right")
        if q1 <= q0:
            continue
        for i in range(d1):
            sorted_knots[i] = knots[s, i]
        sorted_knots.sort()
        # term[m]: the bound for t strictly between sorted_knots[m] and sorted_knots[m + 1] (m < d)
        for m in range(d):
            below = sorted_knots[m]
            if not sorted_knots[m + 1] > below:
                term[m] = 0.0  # an empty interval: no query falls in it
                continue
            # r' = max over the cut edges (a, b) of r + r ||b - a||_inf / (|b_j - a_j| - 2 r); vertex i
            # is below H (knot < t) exactly when its knot is <= sorted_knots[m]
            rp = rr
            for i in range(d1):
                for k in range(i + 1, d1):
                    if (knots[s, i] <= below) == (knots[s, k] <= below):
                        continue  # not cut
                    den = (abs(knots[s, k] - knots[s, i]) * (1.0 - 2.0 * u) - 2.0 * rr) * (1.0 - 3.0 * u)
                    num = 0.0
                    for c in range(d):
                        num = max(num, abs(V[s, k, c] - V[s, i, c]))
                    rp = max(rp, (rr + rr * num * (1.0 + 2.0 * u) / den) * (1.0 + 5.0 * u))
            e = 4.0 * rp
            # prod(L + e) - prod(L) over the free coordinates, as a telescoping sum of non-negative terms
            vol = 0.0
            for k in range(d):
                if k == axis:
                    continue
                part = e
                for i in range(d):
                    if i == axis or i == k:
                        continue
                    side = (hi[s, i] - lo[s, i]) * (1.0 + 2.0 * u)
                    part *= side + e if i < k else side
                vol += part
            vol *= 1.0 + 4.0 * (d + 2) * u  # the products (<= 2 d roundings per term) and the sum (d)
            fmax = (fa[s] + fb[s] * rp) * (1.0 + 4.0 * u)  # >= |f~|, |f*| on S~'s box grown by r' (fa: D included)
            term[m] = vol * fmax * (1.0 + 2.0 * u)
        for q in range(q0, min(q1, Q)):
            t = queries[q]
            gap = abs(knots[s, 0] - t)
            for i in range(1, d1):
                gap = min(gap, abs(knots[s, i] - t))
            gap *= 1.0 - 2.0 * u  # <= the exact min |t_i - t| (one rounded subtraction)
            if gap <= 2.0 * rr:
                out[q, 1] += 1.0
                continue
            if t < tmin or t > tmax:
                continue  # every vertex on one side of H, in float and exact: neither meets H
            # t is no knot (gap > 0): the interval m with sorted_knots[m] < t < sorted_knots[m + 1]
            m = -1
            for i in range(d1):
                if sorted_knots[i] < t:
                    m += 1
            out[q, 0] += term[m]
            out[q, 2] += 1.0


def slice_displacement_bounds(vertices, simplices, radius, vertex_max, lipschitz, axis: int, t):
    """(Q, 3) per slice {z_axis = t_q}: a bound on the displacement part of the slice integral's error,
    the number of (simplex, slice) pairs where no bound is given (the slice must go to its row), and
    the number of terms of the bound (for the caller's rounding of their sum).

    ``radius`` (T,): per simplex, a bound on the inf-norm distance of its float vertices from the exact
    ones; ``vertex_max`` (T,): a bound on max(|f~|, |f*|) at the simplex's float vertices (f~ the
    region's float map, f* the exact one); ``lipschitz`` (T,): a bound on the l1 norms of both maps'
    gradients.

    The argument (per simplex, no tiling of the float simplices needed).  The exact simplices S* (same
    combinatorics, exact vertices) tile the box, so the exact slice integral is the sum over S of
    int over S* n H of f*_S.  Let gap = min_i |t~_i - t| over the j-coordinates of S~'s vertices and
    r the radius.  If gap > 2 r, every vertex is strictly on the same side of H in float and exact,
    so S~ n H and S* n H are the convex hulls of the points cut from the same edges.  A cut edge
    (a, b) has |b_j - a_j| >= 2 gap > 4 r, and with lambda = (t - a_j) / (b_j - a_j),
    p = a + lambda (b - a): p - p* = (1 - lambda*)(a - a*) + lambda*(b - b*) + (lambda - lambda*)(b - a),
    and (lambda* - lambda)(b*_j - a*_j) = (1 - lambda)(a_j - a*_j) + lambda (b_j - b*_j) gives
    |lambda - lambda*| <= r / (|b_j - a_j| - 2 r), so ||p - p*||_inf <= r + r ||b - a||_inf / (|b_j - a_j| - 2 r)
    <= r', the largest of these over the cut edges (at most r + r D / (2 gap - 2 r), D the diameter).  Hence S* n H is within (S~ n H) + r'B
    and vice versa (conv(A + B) = conv(A) + B), and in the free coordinates
    vol(S* n H sym.diff. S~ n H) <= prod(L_i + 4 r') - prod(L_i) (L the free sides of S~'s bounding
    box: monotonicity of the quermassintegrals in Steiner's formula, an inf-norm neighbourhood of a
    box being a box).  On the symmetric difference, within D + r' (inf norm) of every vertex v of
    S~, |f~|, |f*| <= vertex_max + lipschitz (D + r'); on the intersection f* - f~ is the maps' own
    error (integrated by the caller).
    """
    t = np.asarray(t, float)
    order = np.argsort(t, kind="stable")
    ts = np.ascontiguousarray(t[order])
    V = vertices[simplices]
    lo, hi = np.ascontiguousarray(V.min(axis=1)), np.ascontiguousarray(V.max(axis=1))
    diam = np.max(hi - lo, axis=1) * (1.0 + 2.0**-51)  # >= the inf-norm diameter (one rounding)
    lipschitz = np.asarray(lipschitz, float)
    fa = (np.asarray(vertex_max, float) + lipschitz * diam) * (1.0 + 2.0**-50)  # two roundings, with room
    knots = np.ascontiguousarray(V[:, :, axis])
    out = np.zeros((len(ts), 3))
    _displacement_kernel(np.ascontiguousarray(V, float), knots, lo, hi, np.ascontiguousarray(radius, float), np.ascontiguousarray(fa),
                         np.ascontiguousarray(lipschitz, float), int(axis), ts, out)
    result = np.empty_like(out)
    result[order] = out
    return result
