"""Batch slice integrals from the triangulated box (pdp and shapley_uniform on float batches).

References, none of them polyattr's integration code:
- closed forms on one simplex (the standard simplex, an affine function): slice volumes
  (1 - t)^(d-1) / (d-1)! and centroids, for the B-spline kernel (direct and interpolated pieces) and
  the interval / polygon section kernel;
- Monte Carlo with a plain numpy forward pass of the network, 5-sigma intervals, for pdp and
  interventional Shapley (2^d coalition values estimated independently, combined with the Shapley
  weights, variance propagated);
- single calls, which enumerate every slice afresh (the code path before this one), within the
  sum of the two stated bounds; exact mode is untouched (tests/test_batches.py checks it equal).
"""

from fractions import Fraction
from itertools import combinations
from math import factorial

import numpy as np
import pytest

from polyattr import ReLUNetwork, attribute, random_network
from polyattr.integrate.slices import NODE_ROUNDINGS, axis_slice_integrals, section_integrals
from polyattr.numerics import gamma


def _forward(net, Z):
    """Plain numpy forward pass (ReLU hidden units), independent of polyattr's evaluation."""
    h = np.asarray(Z, float)
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        h = h @ np.asarray(W, float).T + np.asarray(b, float)
        if i < len(net.weights) - 1:
            h = np.maximum(h, 0.0)
    return h[:, 0]


def _standard_simplex(d):
    V = np.vstack([np.zeros(d), np.eye(d)])
    return V, np.arange(d + 1)[None, :], np.array([1.0 / factorial(d)])


@pytest.mark.parametrize("d", [2, 3, 4])
def test_axis_kernel_matches_the_closed_form_on_a_simplex(d):
    V, S, vol = _standard_simplex(d)
    w, b = np.arange(1.0, d + 1) * np.array([1, -1] * d)[:d], 0.25
    fv = V @ w + b
    absfv = np.abs(V) @ np.abs(w) + abs(b)
    t = np.concatenate([[0.0, 1.0], np.linspace(0.0, 1.0, 400)[1:-1]])
    for queries in (t[:5], t):  # few queries: direct B-splines; many: interpolated pieces
        out = axis_slice_integrals(V, S, vol, fv, absfv, 0, queries, 1.0)
        # slice {z_0 = t}: (1 - t) times the standard (d-1)-simplex; free coordinates' centroid (1 - t) / d
        area = (1 - queries) ** (d - 1) / factorial(d - 1)
        expected = area * (w[0] * queries + np.sum(w[1:]) * (1 - queries) / d + b)
        bound = 1e-12 * np.abs(out[:, 1]) + out[:, 5]
        assert np.all(np.abs(out[:, 0] - expected) <= bound + 1e-14), np.max(np.abs(out[:, 0] - expected))
        assert np.allclose(out[:, 2], area, rtol=1e-12, atol=1e-14)
    many = axis_slice_integrals(V, S, vol, fv, absfv, 0, t, 1.0)
    assert np.max(many[:, 5]) > 0  # the interpolated path ran


def test_section_kernel_matches_the_closed_form_on_a_simplex():
    d = 3
    V, S, vol = _standard_simplex(d)
    w, b = np.array([0.5, -2.0, 1.5]), -0.3
    fv, absfv = V @ w + b, np.abs(V) @ np.abs(w) + abs(b)
    rng = np.random.default_rng(0)
    # two fixed coordinates: z_2 in [0, 1 - s - t], an interval
    C = rng.uniform(0, 0.5, size=(20, 2))
    out = section_integrals(V, S, fv, absfv, (0, 1), C)
    length = 1 - C.sum(axis=1)
    assert np.allclose(out[:, 2], length, rtol=1e-13)
    assert np.allclose(out[:, 0], length * (w[0] * C[:, 0] + w[1] * C[:, 1] + w[2] * length / 2 + b), rtol=1e-12)
    # one fixed coordinate of three: the triangle (1 - t) Delta_2, area (1 - t)^2 / 2, centroid (1 - t) / 3
    t = rng.uniform(0, 1, size=20)
    out = section_integrals(V, S, fv, absfv, (0,), t[:, None])
    area = (1 - t) ** 2 / 2
    assert np.allclose(out[:, 2], area, rtol=1e-12)
    assert np.allclose(out[:, 0], area * (w[0] * t + (w[1] + w[2]) * (1 - t) / 3 + b), rtol=1e-12)


@pytest.mark.parametrize("d,method", [(2, "pdp"), (3, "pdp"), (4, "pdp"), (5, "pdp"), (2, "shapley_uniform"),
                                      (3, "shapley_uniform"), (4, "shapley_uniform")])
def test_batch_equals_single_calls_within_the_bounds(d, method):
    net = random_network([d, 7, 7, 1], rng=d)
    X = np.random.default_rng(d).uniform(0.05, 0.95, size=(5, d))
    X[0, 0], X[1, 1], X[2, 0] = 1.0, 0.0, X[3, 0]  # the box's faces and a shared coordinate
    batch = attribute(net, X, method)
    # pdp: every slice from the triangulation but the two on the box's faces (X[0, 0] = 1, X[1, 1] = 0:
    # vertices within 2 r of them, no displacement bound, they go to their rows) and one shared slice;
    # Shapley's slices with >= 2 fixed coordinates go to the rows (the section kernel has no proven
    # bound: PREFILL_SECTIONS)
    assert batch.info["cuts"] >= len(X) * d - 3, batch.info
    if method == "pdp":
        # the box once, and each slice left to its row (at most the two on the faces) once
        slices = sum(len(np.unique(X[:, j])) for j in range(d))
        assert batch.info["enumerations"] == 1 + slices - batch.info["cuts"] <= 3, batch.info
    for i, x in enumerate(X):
        single = attribute(net, x, method)
        gap = np.max(np.abs(batch.values[i] - single.values))
        assert gap <= batch.error_bound + single.error_bound, (i, gap, batch.error_bound)


def test_pdp_batch_against_monte_carlo():
    d, n_samples = 3, 200_000
    net = random_network([d, 8, 8, 1], rng=5)
    X = np.random.default_rng(6).uniform(0.0, 1.0, size=(4, d))
    batch = attribute(net, X, "pdp")
    assert batch.info["cuts"] == X.size
    rng = np.random.default_rng(7)
    for i, x in enumerate(X):
        for j in range(d):
            Z = rng.uniform(size=(n_samples, d))
            Z[:, j] = x[j]
            f = _forward(net, Z)
            sigma = f.std(ddof=1) / np.sqrt(n_samples)
            assert abs(batch.values[i, j] - f.mean()) <= 5 * sigma + batch.error_bound, (i, j)


def test_shapley_uniform_batch_against_monte_carlo():
    d, n_samples = 3, 100_000
    net = random_network([d, 8, 8, 1], rng=8)
    X = np.random.default_rng(9).uniform(0.0, 1.0, size=(3, d))
    batch = attribute(net, X, "shapley_uniform")
    rng = np.random.default_rng(10)
    for i, x in enumerate(X):
        mean, var = {}, {}
        for s in range(d + 1):
            for S in combinations(range(d), s):
                Z = rng.uniform(size=(n_samples if s < d else 1, d))
                Z[:, list(S)] = x[list(S)]
                f = _forward(net, Z)
                mean[S], var[S] = f.mean(), (f.var(ddof=1) / n_samples if s < d else 0.0)
        for j in range(d):
            phi, v = 0.0, 0.0
            others = [k for k in range(d) if k != j]
            for s in range(d):
                w = factorial(s) * factorial(d - s - 1) / factorial(d)
                for S in combinations(others, s):
                    Sj = tuple(sorted(S + (j,)))
                    phi += w * (mean[Sj] - mean[S])
                    v += w * w * (var[Sj] + var[S])
            assert abs(batch.values[i, j] - phi) <= 5 * np.sqrt(v) + batch.error_bound, (i, j)


def test_a_slice_through_a_shared_facet_is_left_to_its_row():
    # neuron 0 is relu(z0 - 1/2): simplices on both sides have a facet in {z0 = 1/2}, so a section with
    # z0 = 1/2 fixed finds it twice; its mass is then wrong and the row enumerates that slice instead
    W0 = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, -1.0], [-1.0, 2.0, 0.5], [0.3, -0.7, 1.1]])
    b0 = np.array([-0.5, -0.625, -0.25, 0.1])
    net = ReLUNetwork([W0, np.array([[1.0, -2.0, 0.5, 0.75]])], [b0, np.array([0.1])])
    X = np.array([[0.5, 0.3, 0.8], [0.2, 0.6, 0.4]])
    batch = attribute(net, X, "shapley_uniform")
    # 6 slices per point (3 singletons, 3 pairs): 4 singletons come from the triangulation (z0 = 1/2 and
    # z2 = 4/5 pass through vertices of the partition, e.g. (1, 0.425, 0.8): no displacement bound there,
    # so they are enumerated afresh for their rows); the pairs fix two coordinates, so they are lines,
    # from the proven line kernel (attribution/line_batches.py), except the two in z0 = 1/2, along which
    # neuron 0 is zero (no proven sign): their rows enumerate them
    assert batch.info["cuts"] == 4 + 4 and batch.info["enumerations"] == 1 + 2 + 2, batch.info
    # the slice z0 = 1/2 lies in neuron 0's hyperplane: its verified enumeration has no proven bound (inf,
    # as a single call's), so the batch states inf rather than the triangulation's unproven figure
    assert np.isinf(batch.error_bound) and np.isinf(attribute(net, X[0], "shapley_uniform").error_bound)
    assert np.isfinite(attribute(net, np.vstack([X[1], X[1] + 0.125]), "shapley_uniform").error_bound)
    for i, x in enumerate(X):
        single = attribute(net, x, "shapley_uniform")
        assert np.max(np.abs(batch.values[i] - single.values)) <= batch.error_bound + single.error_bound
    XQ = [[Fraction(1, 2), Fraction(3, 10), Fraction(4, 5)], [Fraction(1, 5), Fraction(3, 5), Fraction(2, 5)]]
    exact = attribute(net, XQ, "shapley_uniform", exact=True)
    for i, x in enumerate(XQ):
        assert list(exact.values[i]) == list(attribute(net, x, "shapley_uniform", exact=True).values)
        # the float batch against exact rationals (inputs differ from the floats by < 1e-16)
        assert np.max(np.abs(np.array(exact.values[i], float) - batch.values[i])) <= batch.error_bound + 1e-12


def _exact_forward(net, z):
    """f(z) in Fractions from the float weights (each float read exactly): no polyattr arithmetic."""
    h = [Fraction(v) for v in z]
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        h = [sum((Fraction(float(w)) * v for w, v in zip(row, h)), Fraction(float(bb)))
             for row, bb in zip(np.asarray(W, float), np.asarray(b, float))]
        if i < len(net.weights) - 1:
            h = [max(v, Fraction(0)) for v in h]
    return h[0]


def test_baseline_shapley_batch_against_coalition_enumeration_in_fractions():
    d = 5
    net = random_network([d, 6, 5, 1], rng=12)
    rng = np.random.default_rng(13)
    X, base = rng.uniform(size=(4, d)), rng.uniform(size=d)
    batch = attribute(net, X, "shapley", baseline=base)
    for i, x in enumerate(X):
        v = {}
        for s in range(d + 1):
            for S in combinations(range(d), s):
                v[S] = _exact_forward(net, [x[k] if k in S else base[k] for k in range(d)])
        for j in range(d):
            others = [k for k in range(d) if k != j]
            phi = sum(Fraction(factorial(s) * factorial(d - s - 1), factorial(d)) * (v[tuple(sorted(S + (j,)))] - v[S])
                      for s in range(d) for S in combinations(others, s))
            assert abs(Fraction(float(batch.values[i, j])) - phi) <= Fraction(batch.error_bound), (i, j)
        assert abs(Fraction(float(batch.base_values[i])) - v[()]) <= Fraction(batch.error_bound)
        single = attribute(net, x, "shapley", baseline=base)
        assert np.max(np.abs(batch.values[i] - single.values)) <= batch.error_bound + single.error_bound


def test_slices_of_a_network_with_leaky_and_identity_units():
    rng = np.random.default_rng(14)
    W = [rng.normal(size=(6, 3)), rng.normal(size=(5, 6)), rng.normal(size=(1, 5))]
    b = [rng.normal(size=6) * 0.3, rng.normal(size=5) * 0.3, rng.normal(size=1)]
    slopes = [np.array([0.0, 0.1, 1.0, 0.0, 0.25, 1.0]), np.array([0.0, 0.5, 0.0, 1.0, 0.0])]
    net = ReLUNetwork(W, b, negative_slopes=slopes)
    X = rng.uniform(0.05, 0.95, size=(4, 3))
    for method, cuts in (("pdp", 12), ("shapley_uniform", 12 + 12)):
        batch = attribute(net, X, method)
        # 12 singleton slices prefilled from the triangulation; shapley's 12 pair slices are lines, from
        # the proven line kernel (leaky units bend f, identity units do not): nothing enumerated but the box
        assert batch.info["enumerations"] == 1 and batch.info["cuts"] == cuts, batch.info
        assert np.isfinite(batch.error_bound)
        for i, x in enumerate(X):
            single = attribute(net, x, method)
            assert np.max(np.abs(batch.values[i] - single.values)) <= batch.error_bound + single.error_bound


@pytest.mark.parametrize("d,thin", [(2, 1e-3), (2, 5e-2), (3, 5e-2)])
def test_axis_kernel_agrees_with_the_section_kernel_on_thin_simplices(d, thin):
    # two independent formulas for the same slices {z_0 = t}: B-splines (direct and interpolated
    # pieces) against the section of each simplex (an interval for d = 2, a polygon for d = 3), on
    # random thin simplices far from the origin (short knot intervals, large |mid| / half)
    rng = np.random.default_rng(20 + d)
    n = 40
    centres = rng.uniform(5.0, 6.0, size=(n, 1, d))
    V = (centres + rng.normal(scale=[thin] + [1.0] * (d - 1), size=(n, d + 1, d))).reshape(-1, d)
    S = np.arange(n * (d + 1)).reshape(n, d + 1)
    edges = V[S[:, 1:]] - V[S[:, :1]]
    vol = np.abs(np.linalg.det(edges)) / factorial(d)
    fv = rng.normal(size=len(V))
    absfv = np.abs(fv)
    t = np.sort(rng.uniform(V[:, 0].min(), V[:, 0].max(), size=3000))
    for queries in (t[::300], t):
        axis = axis_slice_integrals(V, S, vol, fv, absfv, 0, queries, np.inf)
        sect = section_integrals(V, S, fv, absfv, (0,), queries[:, None])
        # the axis side within its own stated bound (as slice_batches states it); the section side's
        # geometry (barycentric coordinates of thin triangles far from 0) is only checked loosely
        n_ops = NODE_ROUNDINGS(d) + (d + 1) * axis[:, 4].astype(int) + 2
        claimed = np.array([gamma(int(k)) for k in n_ops]) * axis[:, 1] + axis[:, 5]
        allowed = claimed + 1e-10 * sect[:, 1] + 1e-300
        assert np.all(np.abs(axis[:, 0] - sect[:, 0]) <= allowed), np.max(np.abs(axis[:, 0] - sect[:, 0]) / allowed)
        assert np.allclose(axis[:, 2], sect[:, 2], rtol=1e-9, atol=0)
    if thin > 1e-2:
        assert np.max(axis[:, 5]) > 0  # the interpolated pieces ran


def test_map_error_bounds_cover_the_float_affine_maps():
    from polyattr import enumerate_regions
    from polyattr.attribution.slice_batches import _map_error_bounds

    rng = np.random.default_rng(15)
    W = [rng.normal(size=(7, 3)) * 3, rng.normal(size=(6, 7)), rng.normal(size=(2, 6))]
    b = [rng.normal(size=7), rng.normal(size=6), rng.normal(size=2)]
    net = ReLUNetwork(W, b, negative_slopes=[np.array([0, 0.1, 1, 0, 0.3, 0, 0]), np.array([0, 0.5, 0, 0, 1, 0])])
    patterns = enumerate_regions(net).patterns
    Wf, bf = net.local_affine_maps(patterns, output=1)
    We, be = net.to_exact().local_affine_maps(patterns, output=1)  # rational arithmetic
    dW, db = _map_error_bounds(net, patterns, 1)
    for k in range(len(patterns)):
        assert all(abs(Fraction(float(Wf[k, j])) - Fraction(We[k, j])) <= Fraction(float(dW[k, j])) for j in range(3))
        assert abs(Fraction(float(bf[k])) - Fraction(be[k])) <= Fraction(float(db[k]))
    assert np.max(dW) < 1e-12 and np.max(dW) > 0
