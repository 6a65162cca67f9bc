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


def _check(net, X, method, domain=None):
    """Batch values within the stated bound of the exact values; returns (bound, largest |exact|)."""
    kwargs = {} if domain is None else {"domain": domain}
    batch = attribute(net, X, method, **kwargs)
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
    bound, scale = _check(net, X, "pdp", domain=(lower, upper))
    assert bound < 1e-6 * max(scale, 1.0), (bound, scale)


def test_coincident_knots_and_slices_through_vertices():
    # hyperplanes parallel to the axes: many vertices share a coordinate (coincident B-spline knots),
    # and the queries sit exactly on them and on the box's faces
    d = 3
    W0 = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0], [1.0, -1.0, 1.0]])
    b0 = np.array([-0.5, -0.25, -0.5, -0.75, -1.0, -0.25])
    net = ReLUNetwork([W0, np.array([[1.0, -2.0, 0.5, 0.75, -1.5, 1.25]])], [b0, np.array([0.125])])
    X = np.array([[0.5, 0.5, 0.75], [0.25, 0.5, 0.0], [1.0, 0.0, 0.75], [0.5, 0.25, 0.5]])
    for method in ("pdp", "shapley_uniform"):
        bound, scale = _check(net, X, method)
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
