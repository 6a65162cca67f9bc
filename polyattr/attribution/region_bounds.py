"""Rigorous error bounds of float region integrals (Corollary 4.1 evaluated in float64).

A float region integral computes ``sum over regions P of (W_P . m1(P) + b_P m0(P))`` from float
data; its exact value (the one exact mode computes for the same float64 network and domain) uses
the *exact* regions P*, their exact moments and the exact local affine maps.  This module bounds
|float - exact| by four proven terms:

1. **Contraction rounding.**  Each contribution ``W.m1 + b m0`` is a (d+1)-term dot product and
   the n contributions are summed: |fl - exact sum of the float terms| <= gamma_{d+n+2} times the
   sum of |terms| (Higham, eq. 3.5; any summation order).
2. **Affine maps.**  ``W_P, b_P`` are products of masked weight matrices computed in float;
   :func:`affine_map_error_bounds` bounds |W~ - W*| and |b~ - b*| per region (Higham, Lemma 3.7:
   a computed chain of matrix products is within gamma_N |A_1| ... |A_k| of the exact one, N the
   sum of the inner dimensions; a product by a unit factor alpha not in {0, 1} is one more
   rounding; biases follow the forward recursion of :meth:`ReLUNetwork.evaluation_error_bound`).
   Then ``W* . m1 = W~ . m1 + (W* - W~) . m1``.
3. **Moment rounding on the float polytopes.**  Every region is triangulated by pulling on the
   tight sets of its vertices (a purely combinatorial rule, so the *same* simplices, with exact
   vertices, triangulate the exact region when the float partition has the exact combinatorics),
   and :func:`polyattr.integrate.simplex_kernels.simplex_moments` gives the moments of the float
   simplices with a proven rounding bound (Gaussian elimination backward error, Higham Thm 9.3,
   and Hadamard's inequality).
4. **Vertex displacement.**  If every float vertex of a simplex S~ is within r (infinity norm) of
   the exact vertex it stands for (``RegionSet.vertex_radius``), then S* is in S~ + r B and S~ in
   S* + r B (conv(A + B) = conv(A) + B for convex B), so by the monotonicity of the quermassintegrals
   in Steiner's formula (a box's r-neighbourhood in the infinity norm is a box)
   ``vol(S* sym. diff. S~) <= prod(L_i + 4 r) - prod(L_i)`` with L the side lengths of S~'s
   bounding box; the first moments differ by at most that volume times max |u_c| on the bounding
   box grown by r.

When no vertex radius is known (the partition was not verified) the integral has no proven bound:
:func:`uniform_region_integral` returns ``inf`` (never a finite estimate presented as a bound),
except for models without cutting units (the one region is the support; its vertices are exact).
Supports of dimension above ``MAX_PROVEN_DIM`` (6) get ``inf`` too: the pulling triangulation the
proof rests on explodes there (an unfinished part: a cone recursion with bounded heights would do).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from polyattr.jit import njit

from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box, Segment
from polyattr.geometry.simplices import pulling_simplices
from polyattr.integrate.simplex_kernels import simplex_moments
from polyattr.numbers import to_fraction
from polyattr.numerics import ETA, UNIT_ROUNDOFF, gamma, round_up

INF = float("inf")
#: regions per chunk of triangulation and moments (memory grows with the chunk's simplices only)
_CHUNK_REGIONS = 20_000
#: the pulling triangulation visits a face once per chain of facets: beyond this dimension it
#: explodes (a k-cube alone has k! simplices), so no proven bound is offered there (inf)
MAX_PROVEN_DIM = 6
#: bounds below this are raised to it: still upper bounds, and array arithmetic never meets the
#: subnormal numbers that round_up's underflow terms would otherwise create (100x slower on x86)
_FLOOR = 2.0**-900


def _up(value, n_ops: int):
    """:func:`round_up`, raised to at least ``_FLOOR``."""
    return np.maximum(round_up(value, n_ops), _FLOOR)


# ------------------------------------------------------------------------------ triangulation
def _double_description(regions):
    """(vertices (V, k), tight-set bitmasks (V, words) uint64, offsets (n+1,)) of every region."""
    if regions.vertex_table is not None:
        return (np.ascontiguousarray(regions.vertex_table, dtype=np.float64),
                np.ascontiguousarray(regions.vertex_masks, dtype=np.uint64),
                np.ascontiguousarray(regions.vertex_offsets, dtype=np.int64))
    verts, incs, offsets = [], [], [0]
    for i in range(len(regions)):
        V, incidence = regions.vertices(i)
        verts.append(np.asarray(V, dtype=np.float64).reshape(-1, regions.dim))
        incs.extend(incidence)
        offsets.append(offsets[-1] + len(incidence))
    n_ids = 1 + max((max(s) for s in incs if s), default=0)
    words = (n_ids + 63) // 64
    masks = np.zeros((len(incs), words), dtype=np.uint64)
    for v, s in enumerate(incs):
        for c in s:
            masks[v, c >> 6] |= np.uint64(1) << np.uint64(c & 63)
    V = np.vstack(verts) if verts else np.zeros((0, regions.dim))
    return np.ascontiguousarray(V), masks, np.asarray(offsets, dtype=np.int64)


def region_simplices(regions):
    """All regions' pulling triangulations: (vertices (V, k), simplices (m, k+1), region of each).

    The facets of a region are the inclusion-maximal tight sets of its vertices (no numerical rank
    test), so the triangulation depends on the combinatorics alone.
    """
    V, M, offsets = _double_description(regions)
    k = regions.dim
    if k == 0 or len(regions) == 0:
        return V, np.zeros((0, k + 1), np.int64), np.zeros(0, np.int64)
    S, G = pulling_simplices(M, offsets, k)
    return V, S, G


# ----------------------------------------------------------------------------- vertex radius
def vertex_radius(regions):
    """The proven per-region vertex radius, or None when it is not known.

    ``RegionSet.vertex_radius`` (a posteriori verification of the float partition) when the set
    provides it; otherwise 0 for a model without cutting units (one region, the support itself,
    whose vertices are corners of the domain's box: exact floats), and None in every other case
    (a float partition that has not been verified may miss or distort regions).
    """
    if regions.dim > MAX_PROVEN_DIM:
        return None  # no triangulation-based proof there (see MAX_PROVEN_DIM)
    try:
        r = getattr(regions, "vertex_radius", None)
    except PolyattrError:
        r = None  # the partition could not be verified
    if r is not None:
        r = np.asarray(r, dtype=np.float64)
        if r.shape != (len(regions),) or not np.all(r >= 0):
            return None
        return r
    inner = regions.reduction.inner
    if getattr(regions.model, "n_neurons", None) == 0 and len(regions) == 1 and isinstance(inner, Box):
        # the one region is the support's box: its stored vertices must be the box's corners exactly
        V = np.asarray(regions.vertices(0)[0], dtype=np.float64)
        lo, hi = np.asarray(inner.lower, np.float64), np.asarray(inner.upper, np.float64)
        if V.shape == (2 ** regions.dim, regions.dim) and np.all((V == lo) | (V == hi)) \
                and len({tuple(v) for v in V}) == len(V):
            return np.zeros(1)
    return None


# ------------------------------------------------------------------------------- affine maps
def affine_map_error_bounds(net, patterns, output: int):
    """Per pattern, bounds (dW (K, d), db (K,)) on |computed - exact| local affine maps.

    ``net`` is the float64 network whose :meth:`local_affine_maps` produced the maps.  Forward
    propagation computes G_l = W_l (F_{l-1} G_{l-1}) and h_l = W_l (F_{l-1} h_{l-1}) + b_l with the
    unit factors F (1 or alpha).  The weight part is a chain of matrix products: its error is at
    most gamma_N |W_L| |F| |W_{L-1}| ... |F| |W_0| with N = the sum of the inner dimensions plus
    one rounding per factor layer (Higham, Lemma 3.7, any association order).  The bias part obeys
    e_l <= |W_l| |F| e_{l-1} + gamma_{n+2} (|W_l| |F| |h~_{l-1}| + |b_l|) with h~ the computed
    values (the product by F and the n-term dot product plus the bias), as in
    :meth:`ReLUNetwork.evaluation_error_bound`.  Every step is rounded upward.
    """
    net = net.to_float()
    pats = np.atleast_2d(np.asarray(patterns, dtype=bool))
    K, d = pats.shape[0], net.n_inputs
    k = net.check_output(output)
    if not net.hidden_sizes:
        return np.zeros((K, d)), np.zeros(K)
    factors = net._unit_factors(pats)  # per hidden layer (K, n_l): 1 or alpha
    hidden = net.weights[:-1]
    # |W| chain magnitude, computed backward on absolute values: v = |w_out| |F_L| |W_L| ...
    v = np.tile(np.abs(net.weights[-1][k]), (K, 1))  # contiguous: matmul on a broadcast view is slow
    n_inner = net.weights[-1].shape[1]
    for li in range(len(hidden) - 1, -1, -1):
        v = _up(v * np.abs(factors[li]), 1)
        v = _up(v @ np.abs(hidden[li]), hidden[li].shape[0] + 1)
        n_inner += hidden[li].shape[1] + 1
    dW = _up(gamma(n_inner) * v, 1)
    # bias: forward recursion on the computed values and their error bounds
    h = np.zeros((K, d))
    e = np.zeros((K, d))
    for li, (W, b) in enumerate(zip(net.weights, net.biases)):
        if li == len(net.weights) - 1:
            W, b = W[k:k + 1], b[k:k + 1]
        absW = np.abs(W)
        pre = h @ W.T + b
        g = gamma(W.shape[1] + 2)
        # |h| of the maps' own computation is at most |h~| + 2 e (both within e of the exact h)
        mag = _up((np.abs(h) + 2.0 * e) @ absW.T + np.abs(b), W.shape[1] + 3)
        e = _up(e @ absW.T + g * mag, W.shape[1] + 3)
        if li == len(net.weights) - 1:
            break
        F = factors[li]
        h = pre * F
        rounds = (F != 0) & (F != 1)
        # fl(pre F) rounds once unless F is 0 or 1; the maps' own |pre F| is at most
        # |h~| (1 + u) + 2 |F| e (their pre-activation within 2 e of ours)
        theirs = np.abs(h) * (1.0 + UNIT_ROUNDOFF) + 2.0 * np.abs(F) * e
        e = _up(e * np.abs(F) + np.where(rounds, UNIT_ROUNDOFF * theirs, 0.0), 6)
    return dW, e[:, 0]


# --------------------------------------------------------------------------- the integral
@njit(cache=True)
def _displacement_kernel(V, S, G, radius, n, second):
    """Per region, the sums over its simplices of prod(L + 4r) - prod(L) and of that times
    max |u_c| (and, with ``second``, max |u_a| max |u_c|) over the bounding box grown by r (float
    arithmetic on non-negative numbers; the caller rounds the result up for the operation count)."""
    m, kp1 = S.shape
    k = kp1 - 1
    e0 = np.zeros(n)
    e1 = np.zeros((n, k))
    e2 = np.zeros((n, k, k))
    count = np.zeros(n, np.int64)
    lo = np.empty(k)
    hi = np.empty(k)
    reach = np.empty(k)
    for s in range(m):
        g = G[s]
        r = radius[g]
        count[g] += 1
        if r == 0.0:
            continue
        for c in range(k):
            lo[c] = V[S[s, 0], c]
            hi[c] = V[S[s, 0], c]
        for i in range(1, kp1):
            for c in range(k):
                x = V[S[s, i], c]
                if x < lo[c]:
                    lo[c] = x
                if x > hi[c]:
                    hi[c] = x
        four_r = 4.0 * r
        D = 0.0
        P = 1.0
        for c in range(k):
            L = (hi[c] - lo[c]) * (1.0 + UNIT_ROUNDOFF)  # covers the rounding of the subtraction
            D = D * (L + four_r) + P * four_r  # D = prod(L + 4r) - prod(L), no cancellation
            P = P * L
        e0[g] += D
        for c in range(k):
            reach[c] = max(abs(lo[c]) + r, abs(hi[c]) + r)
            e1[g, c] += D * reach[c]
        if second:
            for a in range(k):
                for c in range(k):
                    e2[g, a, c] += D * reach[a] * reach[c]
    return e0, e1, e2, count


def _displacement(V, S, G, radius, n, second=False):
    """Per region: bounds on |vol(S~) - vol(S*)|, |m1(S~) - m1(S*)| (and |M2(S~) - M2(S*)| with
    ``second``) summed over its simplices.

    Each simplex term has at most 3k + 6 roundings on a path and each region sums at most
    ``count`` terms: the kernel's values times (1 + gamma_{3k + 8 + count}) plus underflow terms
    bound the exact expressions.
    """
    k = V.shape[1]
    e0, e1, e2, count = _displacement_kernel(np.ascontiguousarray(V), np.ascontiguousarray(S),
                                             np.ascontiguousarray(G), np.ascontiguousarray(radius, dtype=np.float64),
                                             n, bool(second))
    n_ops = 3 * k + 8 + int(count.max(initial=0))
    underflow = (n_ops + 2) * ETA * count
    out = (_up(e0 + underflow, n_ops), _up(e1 + underflow[:, None], n_ops))
    if second:
        out = out + (_up(e2 + underflow[:, None, None], n_ops),)
    return out


def region_moments_with_bounds(regions, radius, order: int = 1, shift=None):
    """Lebesgue moments of every region in reduced coordinates, with proven error bounds.

    Returns (m0u (n,), m1u (n, k) or None, e0u, e1u), and with ``order=2`` also (M2u, e2u): the
    float moments of the triangulated float regions and bounds on their distance to the exact
    regions' moments (rounding of the simplex kernels, subnormal underflow and the vertex
    displacement of radius ``radius`` (n,)).  With ``shift`` (k,) the moments are those of the
    regions translated by -shift (the float subtraction is one more displacement, u |v - shift|).
    Regions are processed in chunks of ``_CHUNK_REGIONS``.
    """
    n, k = len(regions), regions.dim
    V, M, offsets = _double_description(regions)
    if shift is not None:
        V = V - np.asarray(shift, dtype=np.float64)[None, :]
        moved = float(round_up(UNIT_ROUNDOFF * float(np.max(np.abs(V), initial=0.0)), 2))
        radius = _up(np.asarray(radius, dtype=np.float64) + moved, 1)
    radius = np.asarray(radius, dtype=np.float64)
    V = np.ascontiguousarray(V)
    out = {"m0": np.zeros(n), "m1": np.zeros((n, k)), "M2": np.zeros((n, k, k)),
           "e0": np.zeros(n), "e1": np.zeros((n, k)), "e2": np.zeros((n, k, k))}
    for a in range(0, n, _CHUNK_REGIONS):
        b = min(n, a + _CHUNK_REGIONS)
        S, G = pulling_simplices(M, np.ascontiguousarray(offsets[a:b + 1]), k)
        res = simplex_moments(V, S, G, n_groups=b - a, order=max(order, 0))
        # underflow: each simplex term may lose an absolute subnormal ulp per operation
        tiny = (k + 1) ** 2 * 8 * ETA * np.bincount(G, minlength=b - a)
        disp = _displacement(V, S, G, radius[a:b], b - a, second=order >= 2)
        out["m0"][a:b] = res.m0
        out["e0"][a:b] = _up(res.m0_error + tiny + disp[0], 3)
        if order >= 1:
            out["m1"][a:b] = res.m1
            out["e1"][a:b] = _up(res.m1_error + tiny[:, None] + disp[1], 3)
        if order >= 2:
            out["M2"][a:b] = res.M2
            out["e2"][a:b] = _up(res.M2_error + tiny[:, None, None] + disp[2], 3)
    if order < 1:
        return out["m0"], None, out["e0"], None
    if order < 2:
        return out["m0"], out["m1"], out["e0"], out["e1"]
    return out["m0"], out["m1"], out["e0"], out["e1"], out["M2"], out["e2"]


def _exact_scale(piece):
    """mass / volume of the piece's support, exactly (a Fraction), or None for supports without one."""
    domain = piece.domain
    inner = piece.reduction.inner
    if not isinstance(inner, Box):
        return None
    vol = Fraction(1)
    for lo, hi in zip(inner.lower, inner.upper):
        vol *= to_fraction(hi) - to_fraction(lo)
    if isinstance(domain, Segment):
        vol = Fraction(1)  # measures on segments are defined in t in [0, 1]
    return to_fraction(piece.mass) / vol


def uniform_region_integral(regions, piece, model, output: int):
    """(value, error_bound) of the integral of ``output`` against a uniform density piece, in float64.

    ``regions`` is the float RegionSet of the model on the piece's support.  The bound is proven
    (see the module docstring) when the regions' vertex radius is known, else ``inf``; the value is
    computed from the same triangulated moments the bound is about.
    """
    radius = vertex_radius(regions)
    scale_exact = _exact_scale(piece)
    n = len(regions)
    W, b = regions.affine_maps(output)
    if radius is None or scale_exact is None:
        m0, m1, _ = piece.region_moments(regions, order=1)
        value = float(np.sum(np.einsum("nd,nd->n", W, np.asarray(m1, float)) + b * np.asarray(m0, float)))
        return value, INF
    if n == 0:
        return 0.0, 0.0
    k = regions.dim
    m0u, m1u, e0u, e1u = region_moments_with_bounds(regions, radius, order=1)
    # lift to input coordinates: m1 = s (m1u E^T + m0u z0), m0 = s m0u, s = mass / volume
    red = piece.reduction
    E = np.asarray(red.embedding, dtype=float)
    z0 = np.asarray(red.offset, dtype=float)
    # s = mass / volume: the float mass may itself be one rounding of the rational meant (a float
    # difference of box bounds, as fafp_global's 2 (upper - lower)), so |s - s*| <= gamma_2 |s|
    s = float(scale_exact)
    absE = np.abs(E)
    if isinstance(piece.domain, Segment):
        absE = _up(absE, 1)  # E = end - start was rounded once: |E*| <= |E~| (1 + u)
        dE = _up(UNIT_ROUNDOFF * absE, 1)
    else:
        dE = np.zeros_like(absE)
    m0 = s * m0u
    m1 = s * (m1u @ E.T + m0u[:, None] * z0[None, :])
    abs_s = abs(s)
    mag1 = _up(np.abs(m1u) @ absE.T + np.abs(m0u)[:, None] * np.abs(z0)[None, :], k + 2)
    # moment errors in input coordinates: rounding of the lift and the scaling (gamma_{k+3} on the
    # magnitudes, scale rounding u), the reduced errors through |E|, |z0|, and |E~ - E*| |m1u|
    E0 = _up(gamma(5) * abs_s * np.abs(m0u) + abs_s * (1 + gamma(3)) * e0u, 4)
    E1 = _up(gamma(k + 6) * abs_s * mag1
                  + abs_s * (1 + gamma(3)) * (e1u @ absE.T + e0u[:, None] * np.abs(z0)[None, :]
                                              + np.abs(m1u) @ dE.T + e1u @ dE.T), 2 * k + 8)
    contributions = np.einsum("nd,nd->n", W, m1) + b * m0
    value = float(np.sum(contributions))
    d = W.shape[1]
    absW, absb = np.abs(W), np.abs(b)
    dW, db = affine_map_error_bounds(model, regions.patterns, output)
    abs_m1, abs_m0 = np.abs(m1), np.abs(m0)
    terms = [
        gamma(d + n + 2) * _up(np.sum(absW * abs_m1) + np.sum(absb * abs_m0), n * (d + 2)),  # contraction
        _up(np.sum(dW * abs_m1) + np.sum(db * abs_m0), n * (d + 2)),  # affine maps
        _up(np.sum((absW + dW) * E1) + np.sum((absb + db) * E0), n * (d + 3)),  # moments
    ]
    bound = float(_up(sum(terms), 4))
    return value, bound if np.isfinite(bound) else INF
