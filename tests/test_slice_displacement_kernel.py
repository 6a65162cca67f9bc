"""The displacement kernel's per-interval evaluation against the per-(simplex, query) formula.

integrate/slices.py computes each simplex's displacement term once per knot interval (the cut edges
depend on t only through that interval) and adds it to every query there.  The reference below is
the direct formula of :func:`~polyattr.integrate.slices.slice_displacement_bounds`' docstring,
evaluated for every (simplex, query) pair in plain Python with the same float operations: the two
must agree exactly, on random simplices with repeated knots and queries near and on the knots.
(That the formula bounds the exact displacement is tested in tests/test_batch_slice_bounds.py.)
"""

import numpy as np
import pytest

from polyattr.integrate.slices import slice_displacement_bounds

U = 2.0**-53


def _reference(V, radius, fa, fb, axis, ts):
    T, d1, d = V.shape
    lo, hi = V.min(axis=1), V.max(axis=1)
    out = np.zeros((len(ts), 3))
    for s in range(T):
        rr = radius[s]
        if rr <= 0.0:
            continue
        knots = V[s, :, axis]
        tmin, tmax = knots.min(), knots.max()
        for q, t in enumerate(ts):
            gap = min(abs(k - t) for k in knots) * (1.0 - 2.0 * U)
            if gap <= 2.0 * rr:
                if tmin - 4.0 * rr - 4.0 * U * (abs(tmin) + abs(tmax)) <= t <= tmax + 4.0 * rr + 4.0 * U * (abs(tmin) + abs(tmax)):
                    out[q, 1] += 1.0
                continue
            if t < tmin or t > tmax:
                continue
            rp = rr
            for i in range(d1):
                for k in range(i + 1, d1):
                    if (knots[i] < t) == (knots[k] < t):
                        continue
                    den = (abs(knots[k] - knots[i]) * (1.0 - 2.0 * U) - 2.0 * rr) * (1.0 - 3.0 * U)
                    num = max(abs(V[s, k, c] - V[s, i, c]) for c in range(d))
                    rp = max(rp, (rr + rr * num * (1.0 + 2.0 * U) / den) * (1.0 + 5.0 * U))
            e = 4.0 * rp
            vol = 0.0
            for k in range(d):
                if k == axis:
                    continue
                part = e
                for i in range(d):
                    if i == axis or i == k:
                        continue
                    side = (hi[s, i] - lo[s, i]) * (1.0 + 2.0 * U)
                    part *= side + e if i < k else side
                vol += part
            vol *= 1.0 + 4.0 * (d + 2) * U
            fmax = (fa[s] + fb[s] * rp) * (1.0 + 4.0 * U)
            out[q, 0] += vol * fmax * (1.0 + 2.0 * U)
            out[q, 2] += 1.0
    return out


@pytest.mark.parametrize("d", [2, 3, 4])
def test_per_interval_kernel_equals_the_per_pair_formula(d):
    rng = np.random.default_rng(90 + d)
    T = 25
    V = rng.uniform(0.0, 1.0, size=(T, d + 1, d))
    V[::3, 1, :] = V[::3, 0, :] + 1e-3 * rng.normal(size=(len(V[::3]), d))  # short edges
    V[1::4, 2, 0] = V[1::4, 0, 0]  # repeated knots on axis 0
    V = np.round(V * 2**20) / 2**20
    radius = 10.0 ** rng.uniform(-9, -4, size=T)
    radius[5] = 0.0
    vertex_max = rng.uniform(0.5, 2.0, size=T)
    lipschitz = rng.uniform(0.5, 3.0, size=T)
    for axis in range(d):
        knots = V[:, :, axis].ravel()
        ts = np.concatenate([rng.uniform(0, 1, size=60), knots[:20], knots[:20] + 3e-6, knots[:20] - 2e-9])
        out = slice_displacement_bounds(V.reshape(-1, d), np.arange(T * (d + 1)).reshape(T, d + 1), radius,
                                        vertex_max, lipschitz, axis, ts)
        diam = np.max(V.max(axis=1) - V.min(axis=1), axis=1) * (1.0 + 2.0**-51)
        fa = (vertex_max + lipschitz * diam) * (1.0 + 2.0**-50)
        ref = _reference(V, radius, fa, lipschitz, axis, ts)
        assert np.array_equal(out[:, 1:], ref[:, 1:])
        assert np.array_equal(out[:, 0], ref[:, 0]), np.max(np.abs(out[:, 0] - ref[:, 0]))
        assert np.sum(out[:, 2]) > 0 and np.sum(out[:, 1]) > 0  # both branches ran
