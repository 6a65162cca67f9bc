"""Probabilities of segments and triangles under an isotropic Gaussian, with error bounds.

* 1-D: P(a <= X <= b) for X ~ N(m, sigma^2) is Phi(beta) - Phi(alpha) (scipy.special.ndtr, i.e. erfc);
  computed on the tail side (Phi(b) - Phi(a) = Phi(-a) - Phi(-b) when both are above the mean) so
  no significant digits cancel.
* 2-D: a triangle T is the intersection of three half-planes {n_i . z <= c_i} (unit outward normals);
  with U_i = n_i . (X - m) / sigma ~ N(0, 1) and s_i = (c_i - n_i . m) / sigma, the three outer
  half-planes of a triangle never meet, so by inclusion-exclusion

      P(X in T) = 1 - sum_i Phi(-s_i) + sum_{i<j} Phi2(-s_i, -s_j; n_i . n_j),

  with the bivariate normal distribution Phi2 from Owen's T function (scipy.special.owens_t):
  Phi2(h, k; rho) = (Phi(h) + Phi(k)) / 2 - T(h, a_h) - T(k, a_k) - beta (Owen 1956).

Error bound.  ``ndtr`` and ``owens_t`` are taken to be accurate to ``FUNCTION_ERROR`` (absolute,
tested against mpmath at 50 digits in tests/test_gaussian.py); every probability then carries
(number of function values) x FUNCTION_ERROR plus the rounding of the few operations combining them
(4 u per term).  Vertices and means are taken as exact inputs (callers add their own input error).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, owens_t

from polyattr.errors import PolyattrError

__all__ = ["FUNCTION_ERROR", "interval_probabilities", "triangle_probabilities", "bivariate_normal_cdf"]

_U = 2.0**-53
#: assumed absolute accuracy of scipy.special.ndtr and owens_t in double precision (tested)
FUNCTION_ERROR = 8 * _U


def interval_probabilities(lower, upper, mean: float, sigma: float):
    """P(lower <= X <= upper) for X ~ N(mean, sigma^2), and an absolute error bound (arrays)."""
    lo = (np.asarray(lower, float) - mean) / sigma
    hi = (np.asarray(upper, float) - mean) / sigma
    if np.any(hi < lo):
        raise PolyattrError("interval: expected lower <= upper")
    # the side where the two tail values are small: no cancellation
    upper_side = lo > 0
    p = np.where(upper_side, ndtr(-lo) - ndtr(-hi), ndtr(hi) - ndtr(lo))
    p = np.maximum(p, 0.0)
    err = 2 * FUNCTION_ERROR + 4 * _U * np.abs(p)
    return p, err


def bivariate_normal_cdf(h, k, rho):
    """Phi2(h, k; rho) = P(U <= h, V <= k) for standard normals with correlation rho (|rho| < 1)."""
    h, k, rho = (np.asarray(v, float) for v in (h, k, rho))
    root = np.sqrt(1.0 - rho * rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_h = np.where(h != 0, (k - rho * h) / (h * root), np.where(k - rho * h >= 0, np.inf, -np.inf))
        a_k = np.where(k != 0, (h - rho * k) / (k * root), np.where(h - rho * k >= 0, np.inf, -np.inf))
    beta = np.where((h * k > 0) | ((h * k == 0) & (h + k >= 0)), 0.0, 0.5)
    return 0.5 * (ndtr(h) + ndtr(k)) - owens_t(h, a_h) - owens_t(k, a_k) - beta


def triangle_probabilities(triangles, mean, sigma: float):
    """P(X in T) for X ~ N(mean, sigma^2 I_2) and each triangle T (array (m, 3, 2)); and error bounds."""
    T = np.asarray(triangles, float)
    if T.ndim != 3 or T.shape[1:] != (3, 2):
        raise PolyattrError(f"triangles: expected shape (m, 3, 2), got {T.shape}")
    m = np.asarray(mean, float)
    normals, offsets = [], []
    for i in range(3):
        a, b, c = T[:, i], T[:, (i + 1) % 3], T[:, (i + 2) % 3]
        edge = b - a
        n = np.stack([edge[:, 1], -edge[:, 0]], axis=1)
        n /= np.linalg.norm(n, axis=1)[:, None]
        # outward: the opposite vertex must be on the inner side
        flip = np.einsum("ij,ij->i", n, c - a) > 0
        n[flip] *= -1
        normals.append(n)
        offsets.append(np.einsum("ij,ij->i", n, a))
    s = [(c - n @ m) / sigma for n, c in zip(normals, offsets)]
    total = 1.0 - sum(ndtr(-si) for si in s)
    magnitude = 1.0 + sum(ndtr(-si) for si in s)
    for i in range(3):
        for j in range(i + 1, 3):
            rho = np.einsum("ij,ij->i", normals[i], normals[j])
            pair = bivariate_normal_cdf(-s[i], -s[j], rho)
            total = total + pair
            magnitude = magnitude + np.abs(pair)
    # 3 Phi values and 3 x (2 Phi + 2 T) values; the combination rounds ~10 times
    err = 15 * FUNCTION_ERROR + 12 * _U * magnitude
    return np.clip(total, 0.0, 1.0), err


#: assumed relative accuracy of scipy.special.owens_t (tested against mpmath, including far tails)
OWENS_T_RELATIVE_ERROR = 8 * _U


def polygon_probabilities(polygons, mean, sigma: float):
    """P(X in Q) for X ~ N(mean, sigma^2 I_2) and convex polygons Q (list of (n, 2) vertex arrays, any order).

    Fan decomposition from the mean (Owen's T is the probability of a right triangle with its apex
    at the mean): for each edge (a, b), with h its distance to the mean and t_a, t_b the positions of
    a and b along it measured from the foot of the perpendicular (units of sigma),

        P(Q) = winding(mean, Q) - sum_edges sign(a x b) [T(h, t_b / h) - T(h, t_a / h)],

    the arctangent parts of the right triangles adding up to the winding number (1 inside, 0
    outside; the angle at the mean / 2 pi when it lies on the boundary, computed then).  Every term
    is small for an edge far from the mean, so no O(1) terms cancel: the error bound is relative to
    the terms, sum |T| x (OWENS_T_RELATIVE_ERROR + gamma_{2n+4}), plus n x 8u when the winding is
    not an integer.
    """
    m = np.asarray(mean, float)
    probs, errs = [], []
    for poly in polygons:
        P = (np.asarray(poly, float).reshape(-1, 2) - m) / sigma
        if len(P) < 3:
            probs.append(0.0)
            errs.append(0.0)
            continue
        centre = P.mean(axis=0)
        P = P[np.argsort(np.arctan2(P[:, 1] - centre[1], P[:, 0] - centre[0]))]
        a, b = P, np.roll(P, -1, axis=0)
        d = b - a
        length = np.linalg.norm(d, axis=1)
        keep = length > 0
        a, b, d, length = a[keep], b[keep], d[keep], length[keep]
        u = d / length[:, None]
        cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
        h = np.abs(cross) / length
        side = np.sign(cross)
        live = h > 0
        ta, tb, hl, sl = (np.einsum("ij,ij->i", a, u))[live], (np.einsum("ij,ij->i", b, u))[live], h[live], side[live]
        angles = np.arctan(tb / hl) - np.arctan(ta / hl)
        winding = float(np.sum(sl * angles)) / (2 * np.pi)
        nearest = round(winding)
        angle_err = 0.0
        if abs(winding - nearest) < 1e-9:
            winding = float(nearest)
        else:
            angle_err = 8 * _U * len(hl)
        Tb, Ta = owens_t(hl, tb / hl), owens_t(hl, ta / hl)
        terms = np.abs(Tb) + np.abs(Ta)
        value = winding - float(np.sum(sl * (Tb - Ta)))
        n = len(hl)
        err = float(np.sum(terms)) * (OWENS_T_RELATIVE_ERROR + (2 * n + 4) * _U * 1.01) + angle_err + _U * abs(value)
        probs.append(min(max(value, 0.0), 1.0))
        errs.append(err)
    return np.array(probs), np.array(errs)
