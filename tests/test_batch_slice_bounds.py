"""The float batch slice bounds are bounds: batch pdp / shapley_uniform against exact rationals.

Independent reference: exact mode single calls (``exact=True``: rational enumeration and
integration, no triangulation, no float kernel) on small dyadic networks, so that the float network
is the exact one.  Adversarial cases: weights spanning 2^-27..2^27 (~1e-8..1e8), thin simplices far
from the origin (a small box around 1024), hyperplanes parallel to the axes (many coincident knots)
with queries through the vertices and on the box's faces.  The bound must also be meaningful (small
on the well-conditioned cases), so the tests cannot pass with inf.
"""

from fractions import Fraction

import numpy as np
import pytest

from polyattr import ReLUNetwork, attribute
from polyattr.geometry.simplices import simplex_volumes


def _dyadic(x, bits=6):
    return np.round(np.asarray(x, float) * 2**bits) / 2**bits


def _check(net, X, method, domain=None, prefilled=True):
    """Batch values within the stated bound of the exact values; returns (bound, largest |exact|).
    ``prefilled``: the triangulation path must have filled some slices (False: the slices may all
    have been sent to their rows, near vertices or with a large displacement bound)."""
    kwargs = {} if domain is None else {"domain": domain}
    batch = attribute(net, X, method, **kwargs)
    if prefilled:
        assert batch.info["cuts"] > 0, batch.info  # the triangulation path ran
    assert np.isfinite(batch.error_bound)
    bound = Fraction(float(batch.error_bound))
    scale = 0.0
    for i, x in enumerate(X):
        exact = attribute(net, [Fraction(float(v)) for v in x], method, exact=True, **kwargs).values
        for j, e in enumerate(exact):
            assert abs(Fraction(float(batch.values[i][j])) - Fraction(e)) <= bound, (i, j, method)
            scale = max(scale, abs(float(e)))
    return float(batch.error_bound), scale


@pytest.mark.parametrize("d,method", [(2, "pdp"), (3, "pdp"), (2, "shapley_uniform")])
def test_well_conditioned_dyadic_networks(d, method):
    rng = np.random.default_rng(40 + d)
    net = ReLUNetwork([_dyadic(rng.normal(size=(6, d))), _dyadic(rng.normal(size=(1, 6)))],
                      [_dyadic(rng.normal(size=6) * 0.5), np.array([0.25])])
    X = _dyadic(rng.uniform(size=(4, d)))
    X[0, 0], X[1, 1] = 0.0, 1.0  # the box's faces
    bound, scale = _check(net, X, method)
    assert bound < 1e-8 * max(scale, 1.0), (bound, scale)


def test_ill_conditioned_weights():
    rng = np.random.default_rng(50)
    d = 2
    exps = rng.integers(-27, 28, size=(5, d))
    W0 = np.sign(rng.normal(size=(5, d))) * 2.0 ** exps
    centres = _dyadic(rng.uniform(0.2, 0.8, size=(5, d)))
    b0 = -np.sum(W0 * centres, axis=1)  # every hyperplane through a point of the box
    W1 = np.sign(rng.normal(size=(1, 5))) * 2.0 ** rng.integers(-27, 28, size=(1, 5))
    net = ReLUNetwork([W0, W1], [b0, np.array([1.0])])
    X = np.vstack([centres[:3], _dyadic(rng.uniform(size=(2, d)))])  # slices through vertices too
    for method in ("pdp", "shapley_uniform"):
        bound, scale = _check(net, X, method)
        assert bound < 1e-6 * max(scale, 1.0), (bound, scale)


def test_thin_simplices_far_from_the_origin():
    rng = np.random.default_rng(60)
    d, width = 3, 2.0**-8
    lower = np.full(d, 1024.0)
    upper = lower + width * np.array([1.0, 1.0, 2.0**-6])  # a flat box: thin simplices
    centres = lower + _dyadic(rng.uniform(0.2, 0.8, size=(6, d)), 6) * (upper - lower)
    W0 = _dyadic(rng.normal(size=(6, d)))
    b0 = -np.sum(W0 * centres, axis=1)  # hyperplanes through the box (dyadic: exact in float)
    net = ReLUNetwork([W0, _dyadic(rng.normal(size=(1, 6)))], [b0, np.array([0.5])])
    X = np.vstack([centres[:2], lower + _dyadic(rng.uniform(size=(2, d))) * (upper - lower), upper])
    # the vertex radii (~1e-10) against sides of 2^-14: the per-simplex displacement bound is large, and
    # the slices on the box's faces go to their rows, whose proven bound (region_bounds) is ~0.1 here
    bound, scale = _check(net, X, "pdp", domain=(lower, upper), prefilled=False)
    assert bound < 0.5 * max(scale, 1.0), (bound, scale)


def test_coincident_knots_and_slices_through_vertices():
    # hyperplanes parallel to the axes: many vertices share a coordinate (coincident B-spline knots),
    # and the queries sit exactly on them and on the box's faces
    d = 3
    W0 = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0], [1.0, -1.0, 1.0]])
    b0 = np.array([-0.5, -0.25, -0.5, -0.75, -1.0, -0.25])
    net = ReLUNetwork([W0, np.array([[1.0, -2.0, 0.5, 0.75, -1.5, 1.25]])], [b0, np.array([0.125])])
    X = np.array([[0.5, 0.5, 0.75], [0.25, 0.5, 0.0], [1.0, 0.0, 0.75], [0.5, 0.25, 0.5]])
    for method in ("pdp", "shapley_uniform"):
        # slices through vertices (with a positive proven radius) go to their rows
        bound, scale = _check(net, X, method, prefilled=False)
        assert bound < 1e-8 * max(scale, 1.0), (bound, scale)


def test_simplex_volume_bounds_against_exact_determinants():
    rng = np.random.default_rng(70)
    for d in (2, 3, 4):
        for trial in range(30):
            far = trial % 2 == 1  # thin simplices far from the origin; the others are round, near 0
            centre = rng.uniform(-1e6, 1e6, size=d) if far else np.zeros(d)
            V = centre + rng.normal(size=(d + 1, d)) * (np.array([1e-6] + [1.0] * (d - 1)) if far else 1.0)
            if trial % 3 == 0:
                V[2] = V[1] + 1e-9 * rng.normal(size=d)  # nearly degenerate
            vol, err = simplex_volumes(V, np.arange(d + 1)[None, :])
            # exact determinant of the float vertices' differences by fraction-free elimination
            A = [[Fraction(V[i + 1, j]) - Fraction(V[0, j]) for j in range(d)] for i in range(d)]
            det = Fraction(1)
            for c in range(d):
                p = next((r for r in range(c, d) if A[r][c] != 0), None)
                if p is None:
                    det = Fraction(0)
                    break
                if p != c:
                    A[c], A[p], det = A[p], A[c], -det
                det *= A[c][c]
                for r in range(c + 1, d):
                    f = A[r][c] / A[c][c]
                    A[r] = [a - f * b for a, b in zip(A[r], A[c])]
            exact = abs(det) / int(np.prod(range(1, d + 1)))
            assert abs(Fraction(float(vol[0])) - exact) <= Fraction(float(err[0])), (d, trial)
            if not far and trial % 3:
                assert err[0] <= 1e-10 * vol[0]  # and meaningful


def _exact_slice_integral(V, w, b0, axis, c):
    """int over conv(V) n {z_axis = c} of w.z + b0, in rationals (V: rows of Fractions, d = 2 or 3):
    the cut points of the edges crossing the hyperplane, then the segment / a fan of triangles."""
    d = len(V[0])
    pts = []
    for i in range(d + 1):
        for k in range(i + 1, d + 1):
            a, bb = V[i], V[k]
            if (a[axis] - c) * (bb[axis] - c) < 0:
                lam = (c - a[axis]) / (bb[axis] - a[axis])
                pts.append([a[m] + lam * (bb[m] - a[m]) for m in range(d)])
    if not pts:
        return Fraction(0)
    f = lambda p: sum(wi * pi for wi, pi in zip(w, p)) + b0  # noqa: E731
    free = [m for m in range(d) if m != axis]
    if d == 2:
        (p, q), m = pts, free[0]
        return abs(q[m] - p[m]) * (f(p) + f(q)) / 2
    cx = sum(p[free[0]] for p in pts) / len(pts)
    cy = sum(p[free[1]] for p in pts) / len(pts)
    pts.sort(key=lambda p: np.arctan2(float(p[free[1]] - cy), float(p[free[0]] - cx)))
    total = Fraction(0)
    for k in range(1, len(pts) - 1):
        p, q, s = pts[0], pts[k], pts[k + 1]
        area = abs((q[free[0]] - p[free[0]]) * (s[free[1]] - p[free[1]])
                   - (s[free[0]] - p[free[0]]) * (q[free[1]] - p[free[1]])) / 2
        total += area * (f(p) + f(q) + f(s)) / 3
    return total


def test_displacement_term_against_exact_perturbed_slices():
    # per simplex: |int over S* n H - int over S~ n H| of an affine f <= the displacement term, with S*
    # the float simplex S~ moved by at most r per vertex (inf norm), both slices in exact rationals;
    # slices within 2 r of a vertex must be flagged instead
    from polyattr.integrate.slices import slice_displacement_bounds

    rng = np.random.default_rng(80)
    checked = flagged = 0
    for trial in range(60):
        d = 2 + trial % 2
        thin = trial % 3 == 0
        V = rng.uniform(-1.0, 1.0, size=(d + 1, d))
        if thin:
            V[1] = V[0] + 1e-2 * rng.normal(size=d)  # a short edge: cut points move far for small r
        r = float(10.0 ** rng.uniform(-6, -2))
        w = [Fraction(float(x)) for x in _dyadic(rng.normal(size=d))]
        b0 = Fraction(float(_dyadic(rng.normal())))
        Vf = [[Fraction(float(x)) for x in row] for row in V]
        # the largest perturbation allowed, in a random direction per coordinate
        Vx = [[x + Fraction(float(r)) * int(rng.choice([-1, 1])) for x in row] for row in Vf]
        fvals = [abs(sum(wi * xi for wi, xi in zip(w, row)) + b0) for row in Vf + Vx]
        vertex_max = np.array([float(max(fvals)) * (1 + 1e-15)])
        lipschitz = np.array([float(sum(abs(x) for x in w))])
        axis = int(rng.integers(d))
        lo, hi = V[:, axis].min(), V[:, axis].max()
        knots = np.sort(V[:, axis])
        ts = np.concatenate([rng.uniform(lo, hi, size=4), knots[1:-1] + 1.5 * r, knots[1:-1] + 2.5 * r,
                             knots[1:-1] + 3.0 * r])
        out = slice_displacement_bounds(V, np.arange(d + 1)[None, :], np.array([r]), vertex_max, lipschitz,
                                        axis, ts)
        for t, (term, near, _) in zip(ts, out):
            c = Fraction(float(t))
            gap = min(abs(Fraction(float(x)) - c) for x in V[:, axis])
            if gap <= 2 * Fraction(r):
                assert near > 0, (trial, t)  # flagged, no bound claimed
                flagged += 1
                continue
            if near:
                flagged += 1
                continue
            diff = abs(_exact_slice_integral(Vx, w, b0, axis, c) - _exact_slice_integral(Vf, w, b0, axis, c))
            assert diff <= Fraction(float(term)), (trial, float(diff), term)
            checked += 1
    assert checked > 200 and flagged > 20, (checked, flagged)


def test_slice_through_a_float_vertex_goes_to_its_row():
    # a first-layer hyperplane x_0 = 1/3 (not a float: its float vertices are within r > 0 of the exact
    # ones); the slice x_0 = fl(1/3) passes within 2 r of them, so no displacement bound is claimed for
    # it: it goes to its row, and the result is still within the batch's bound of the exact values
    W0 = np.array([[3.0, 0.0], [1.0, 2.0], [-2.0, 3.0]])
    b0 = np.array([-1.0, -1.1, 0.3])
    net = ReLUNetwork([W0, np.array([[1.0, -0.7, 0.45]])], [b0, np.array([0.1])])
    X = np.array([[1.0 / 3.0, 0.6], [0.7, 0.2]])
    batch = attribute(net, X, "pdp")
    # four slices (x_0 in {1/3, 0.7}, x_1 in {0.6, 0.2}): the one through the vertices is not prefilled
    assert 0 < batch.info["cuts"] < 4, batch.info
    bound, scale = _check(net, X, "pdp", prefilled=False)
    assert bound < 1e-8 * max(scale, 1.0), (bound, scale)
    # with x_0 = 0.45 instead (away from every vertex) all four are prefilled
    assert attribute(net, np.array([[0.45, 0.6], [0.7, 0.2]]), "pdp").info["cuts"] == 4
