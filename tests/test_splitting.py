"""Tests of the numba cell-splitting region enumeration (polyattr.geometry.splitting).

Every property is checked against an independent oracle: the network's own activation patterns and
forward pass, scipy's qhull for volumes and centroids, dense sampling, or hand-computed partitions.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial import ConvexHull, Delaunay

from polyattr.errors import PolyattrError, RegionBudgetExceeded
from polyattr.geometry.splitting import SplitResult, estimate_region_count, split_enumerate
from polyattr.models.relu import ReLUNetwork


# ----------------------------------------------------------------------------- helpers
def random_network(rng, d, hidden, n_out=1, degenerate=None):
    sizes = [d, *hidden, n_out]
    Ws = [rng.normal(size=(sizes[i + 1], sizes[i])) / np.sqrt(sizes[i]) for i in range(len(sizes) - 1)]
    bs = [0.5 * rng.normal(size=sizes[i + 1]) for i in range(len(sizes) - 1)]
    if degenerate == "zero_rows":
        Ws[0][0] = 0.0
        bs[0][0] = 0.0
        if hidden[0] > 1:
            Ws[0][1] = 0.0  # constant neuron
    elif degenerate == "duplicates" and hidden[0] > 1:
        Ws[0][1] = Ws[0][0]
        bs[0][1] = bs[0][0]
    elif degenerate == "integer":
        # small integer weights: hyperplanes through box vertices and through each other's
        # intersection points, parallel hyperplanes
        Ws = [rng.integers(-2, 3, size=W.shape).astype(float) for W in Ws]
        bs = [rng.integers(-2, 3, size=b.shape).astype(float) for b in bs]
    return ReLUNetwork(Ws, bs)


def hull_volume_centroid(V):
    """Volume and centroid of conv(V) with qhull (the oracle)."""
    d = V.shape[1]
    if d == 1:
        return V.max() - V.min(), np.array([(V.max() + V.min()) / 2])
    vol = ConvexHull(V).volume
    if d >= 6:  # qhull's Delaunay is too slow here; the centroids are checked by their mean
        return vol, None
    tri = Delaunay(V)
    simplices = V[tri.simplices]  # (s, d+1, d)
    vols = np.abs(np.linalg.det(simplices[:, 1:] - simplices[:, :1])) / np.prod(np.arange(1, d + 1))
    cen = (vols[:, None] * simplices.mean(axis=1)).sum(0) / vols.sum()
    return vol, cen


def assert_patterns_at(net: ReLUNetwork, P, expected):
    """net's activation pattern at the points P equals ``expected`` (one row per point), except
    where a pre-activation is zero up to rounding: e.g. a neuron identically 0 on a region (pattern
    False by convention) evaluates to +-1e-16 at points whose coordinates are not exact."""
    pre = net.hidden_preactivations(P)
    scale = 1e-9 * (1.0 + np.abs(pre).max())
    decided = np.abs(pre) > scale
    np.testing.assert_array_equal((pre > 0)[decided], np.asarray(expected)[decided])


def check_partition(net: ReLUNetwork, lo, up, res: SplitResult, rng, max_cells_checked=60):
    lo, up = np.asarray(lo, float), np.asarray(up, float)
    d = lo.shape[0]
    n = res.n_regions
    assert n >= 1
    assert res.patterns.shape == (n, net.n_neurons)
    assert res.vertex_offsets[0] == 0 and res.vertex_offsets[-1] == res.vertices.shape[0]
    assert np.all(np.diff(res.vertex_offsets) >= d + 1)
    # the regions tile the box
    box_volume = np.prod(up - lo)
    assert np.all(res.volumes > 0)
    assert abs(res.volumes.sum() - box_volume) <= 1e-9 * box_volume
    centre = (res.volumes[:, None] * res.centroids).sum(0) / res.volumes.sum()
    np.testing.assert_allclose(centre, (lo + up) / 2, atol=1e-9 * np.max(up - lo))
    # one region per pattern
    keys = {p.tobytes() for p in res.patterns}
    assert len(keys) == n
    # patterns are the network's at interior points
    assert np.all(res.interior_points >= lo) and np.all(res.interior_points <= up)
    assert_patterns_at(net, res.interior_points, res.patterns)
    # vertices lie in the box and satisfy their tight sets
    tol = 1e-9 * np.max(up - lo)
    assert np.all(res.vertices >= lo - tol) and np.all(res.vertices <= up + tol)
    cells = np.arange(n) if n <= max_cells_checked else rng.choice(n, max_cells_checked, replace=False)
    for i in cells:
        V = res.region_vertices(i)
        M = res.region_masks(i)
        # box-face bits agree with the coordinates
        for c in range(2 * d):
            bit = (M[:, c >> 6] >> np.uint64(c & 63)) & np.uint64(1)
            face = lo[c] if c < d else up[c - d]
            on = np.abs(V[:, c % d] - face) <= tol
            np.testing.assert_array_equal(bit.astype(bool), on)
        # strict interior points: random convex combinations pulled towards the vertex mean
        w = rng.dirichlet(np.ones(len(V)), size=8)
        P = 0.5 * (w @ V) + 0.5 * V.mean(0)
        assert_patterns_at(net, P, np.repeat(res.patterns[i][None], 8, 0))
        W_P, b_P = net.local_affine_map(res.patterns[i])
        np.testing.assert_allclose(net(P).reshape(8, -1), P @ W_P.T + b_P, rtol=1e-9, atol=1e-9)
        # and the affine map holds at the vertices too (continuity)
        np.testing.assert_allclose(net(V).reshape(len(V), -1), V @ W_P.T + b_P, rtol=1e-7, atol=1e-7)
        # volume and centroid against qhull
        vol, cen = hull_volume_centroid(V)
        assert abs(res.volumes[i] - vol) <= 1e-8 * max(vol, 1e-300) + 1e-12 * box_volume
        if cen is not None:
            np.testing.assert_allclose(res.centroids[i], cen, atol=1e-7 * np.max(up - lo))


def grid_patterns_2d(net, lo, up, rng, m=120):
    """Patterns seen on a dense jittered grid, leaving out points on a region boundary (some
    pre-activation ~ 0): their pattern may belong to a lower-dimensional face only."""
    tx = (np.arange(m) + 0.5 + 0.3 * rng.uniform(-1, 1)) / m
    ty = (np.arange(m) + 0.5 + 0.3 * rng.uniform(-1, 1)) / m
    gx, gy = np.meshgrid(lo[0] + tx * (up[0] - lo[0]), lo[1] + ty * (up[1] - lo[1]))
    P = np.column_stack([gx.ravel(), gy.ravel()])
    pre = net.hidden_preactivations(P)
    P = P[np.min(np.abs(pre), axis=1) > 1e-9]
    return {p.tobytes() for p in net.activation_pattern(P)}


# ----------------------------------------------------------------------------- property tests
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(1, 4),
    hidden=st.lists(st.integers(1, 16), min_size=1, max_size=3),
    degenerate=st.sampled_from([None, None, "zero_rows", "duplicates", "integer"]),
    n_out=st.integers(1, 2),
)
def test_partition_properties(seed, d, hidden, degenerate, n_out):
    rng = np.random.default_rng(seed)
    if d == 4:
        hidden = [min(h, 8) for h in hidden][:2]  # keep the region count (and test time) small
    net = random_network(rng, d, hidden, n_out=n_out, degenerate=degenerate)
    if degenerate == "integer":
        lo = rng.integers(-2, 1, size=d).astype(float)
        up = lo + rng.integers(1, 3, size=d)
    else:
        lo = rng.uniform(-2, 1, size=d)
        up = lo + rng.uniform(0.1, 3, size=d)
    res = split_enumerate(net.weights, net.biases, lo, up)
    check_partition(net, lo, up, res, rng)
    if degenerate == "duplicates" and hidden[0] > 1:
        np.testing.assert_array_equal(res.patterns[:, 0], res.patterns[:, 1])
    if d == 2:
        found = {p.tobytes() for p in res.patterns}
        assert grid_patterns_2d(net, lo, up, rng) <= found


def test_2d_grid_finds_every_pattern_of_a_wide_network():
    rng = np.random.default_rng(7)
    net = random_network(rng, 2, [16, 16, 8])
    lo, up = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    res = split_enumerate(net.weights, net.biases, lo, up)
    check_partition(net, lo, up, res, rng)
    assert grid_patterns_2d(net, lo, up, rng, m=400) <= {p.tobytes() for p in res.patterns}


@pytest.mark.parametrize("d,hidden", [(3, [16, 16]), (4, [8, 8]), (5, [6, 6]), (6, [5, 4]), (7, [4])])
def test_larger_networks(d, hidden):
    rng = np.random.default_rng(d)
    net = random_network(rng, d, hidden)
    lo, up = -np.ones(d), np.ones(d)
    res = split_enumerate(net.weights, net.biases, lo, up)
    check_partition(net, lo, up, res, rng, max_cells_checked=25 if d <= 5 else 6)


# ----------------------------------------------------------------------------- degenerate cases
def test_hyperplanes_missing_the_box_give_one_region():
    W1 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b1 = np.array([5.0, -5.0, 3.0])  # +, -, + on the whole unit square
    net = ReLUNetwork([W1, np.ones((1, 3))], [b1, np.zeros(1)])
    res = split_enumerate(net.weights, net.biases, [0, 0], [1, 1])
    assert res.n_regions == 1
    np.testing.assert_array_equal(res.patterns[0], [True, False, True])
    assert res.volumes[0] == pytest.approx(1.0, rel=1e-12)
    assert res.n_cells_split == 0


def test_dead_network_is_one_inactive_region():
    rng = np.random.default_rng(0)
    W1 = rng.normal(size=(6, 3))
    b1 = -10.0 * np.ones(6)  # every first-layer neuron is negative on [0,1]^3 ...
    W2 = rng.normal(size=(4, 6))
    b2 = np.zeros(4)  # ... so the second layer is identically 0 (inactive, not split)
    net = ReLUNetwork([W1, W2, np.ones((1, 4))], [b1, b2, np.zeros(1)])
    res = split_enumerate(net.weights, net.biases, np.zeros(3), np.ones(3))
    assert res.n_regions == 1
    assert not res.patterns.any()
    assert res.volumes[0] == pytest.approx(1.0, rel=1e-12)
    check_partition(net, np.zeros(3), np.ones(3), res, rng)


def test_zero_rows_and_identically_zero_neurons_are_inactive():
    W1 = np.array([[0.0, 0.0], [1.0, -1.0], [0.0, 0.0]])
    b1 = np.array([0.0, 0.0, 2.0])
    net = ReLUNetwork([W1, np.ones((1, 3))], [b1, np.zeros(1)])
    res = split_enumerate(net.weights, net.biases, [0, 0], [1, 1])
    assert res.n_regions == 2
    assert not res.patterns[:, 0].any() and res.patterns[:, 2].all()
    np.testing.assert_allclose(np.sort(res.volumes), [0.5, 0.5], rtol=1e-12)


def test_parallel_hyperplanes_give_strips():
    c = np.array([0.25, 0.5, 1.0, 1.5])
    W1 = np.ones((4, 2))
    net = ReLUNetwork([W1, np.ones((1, 4))], [-c, np.zeros(1)])
    res = split_enumerate(net.weights, net.biases, [0, 0], [1, 1])
    assert res.n_regions == 5
    # strip areas between x + y = c_i on the unit square
    F = lambda s: np.where(s <= 1, s**2 / 2, 1 - (2 - s) ** 2 / 2)  # noqa: E731  area below x+y=s
    cuts = np.concatenate([[0.0], F(c), [1.0]])
    np.testing.assert_allclose(np.sort(res.volumes), np.sort(np.diff(cuts)), rtol=1e-12)
    assert sorted(res.patterns.sum(1)) == [0, 1, 2, 3, 4]
    check_partition(net, np.zeros(2), np.ones(2), res, np.random.default_rng(0))


def test_hyperplanes_through_box_vertices():
    # x - y = 0 is the diagonal (through two corners); x + y = 2 touches the corner (1, 1) only,
    # x = 1 contains a whole facet; none of the last two may add a zero-volume region.
    W1 = np.array([[1.0, -1.0], [1.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])
    b1 = np.array([0.0, -2.0, -1.0, 0.0])
    net = ReLUNetwork([W1, np.ones((1, 4))], [b1, np.zeros(1)])
    res = split_enumerate(net.weights, net.biases, [0, 0], [1, 1])
    assert res.n_regions == 2
    np.testing.assert_allclose(res.volumes, [0.5, 0.5], rtol=1e-12)
    assert not res.patterns[:, 1:].any()
    check_partition(net, np.zeros(2), np.ones(2), res, np.random.default_rng(0))
    # a plane through a cube's body diagonal corners in 3-D
    W1 = np.array([[1.0, 1.0, -1.0], [1.0, -1.0, 0.0]])
    net = ReLUNetwork([W1, np.ones((1, 2))], [np.zeros(2), np.zeros(1)])
    res = split_enumerate(net.weights, net.biases, np.zeros(3), np.ones(3))
    check_partition(net, np.zeros(3), np.ones(3), res, np.random.default_rng(0))
    assert res.n_regions == 4


def test_duplicated_neurons_do_not_add_regions():
    rng = np.random.default_rng(3)
    net = random_network(rng, 3, [6, 5])
    W1, b1 = net.weights[0], net.biases[0]
    dup = ReLUNetwork([np.vstack([W1, W1[:2], 3 * W1[2:3]]), np.hstack([net.weights[1], np.zeros((5, 3))]),
                       net.weights[2]], [np.concatenate([b1, b1[:2], 3 * b1[2:3]]), *net.biases[1:]])
    a = split_enumerate(net.weights, net.biases, -np.ones(3), np.ones(3))
    b = split_enumerate(dup.weights, dup.biases, -np.ones(3), np.ones(3))
    assert a.n_regions == b.n_regions
    np.testing.assert_array_equal(b.patterns[:, 6:8], b.patterns[:, 0:2])
    np.testing.assert_array_equal(b.patterns[:, 8], b.patterns[:, 2])
    check_partition(dup, -np.ones(3), np.ones(3), b, rng)


def test_one_input_model_matches_breakpoints():
    rng = np.random.default_rng(11)
    W1 = rng.normal(size=(7, 1))
    b1 = rng.normal(size=7)
    net = ReLUNetwork([W1, rng.normal(size=(1, 7))], [b1, np.zeros(1)])
    res = split_enumerate(net.weights, net.biases, [-2.0], [2.0])
    roots = -b1 / W1[:, 0]
    inside = np.sort(roots[(roots > -2) & (roots < 2)])
    assert res.n_regions == len(inside) + 1
    edges = np.sort(np.unique(res.vertices[:, 0]))
    np.testing.assert_allclose(edges, np.concatenate([[-2.0], inside, [2.0]]), atol=1e-12)
    check_partition(net, [-2.0], [2.0], res, rng)


def test_no_hidden_layer_is_the_box():
    res = split_enumerate([np.ones((1, 3))], [np.zeros(1)], np.zeros(3), 2 * np.ones(3))
    assert res.n_regions == 1 and res.patterns.shape == (1, 0)
    assert res.volumes[0] == pytest.approx(8.0)
    np.testing.assert_allclose(res.centroids[0], [1, 1, 1])


def test_multi_output_network_same_partition_as_single_output():
    rng = np.random.default_rng(5)
    net = random_network(rng, 3, [10, 10], n_out=4)
    a = split_enumerate(net.weights, net.biases, -np.ones(3), np.ones(3))
    single = net.select_output(2)
    b = split_enumerate(single.weights, single.biases, -np.ones(3), np.ones(3))
    np.testing.assert_array_equal(a.patterns, b.patterns)


def test_exact_network_is_enumerated_in_floats():
    rng = np.random.default_rng(2)
    net = random_network(rng, 2, [6])
    a = split_enumerate(net.weights, net.biases, [0, 0], [1, 1])
    ex = net.to_exact()
    b = split_enumerate(ex.weights, ex.biases, [0, 0], [1, 1])
    np.testing.assert_array_equal(a.patterns, b.patterns)


def test_without_volumes_same_patterns():
    rng = np.random.default_rng(4)
    net = random_network(rng, 3, [12, 12])
    a = split_enumerate(net.weights, net.biases, -np.ones(3), np.ones(3))
    b = split_enumerate(net.weights, net.biases, -np.ones(3), np.ones(3), compute_volumes=False)
    np.testing.assert_array_equal(a.patterns, b.patterns)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    assert np.isnan(b.volumes).all()


# ----------------------------------------------------------------------------- budget and estimate
def test_budget_exceeded_raises_promptly():
    rng = np.random.default_rng(0)
    net = random_network(rng, 4, [32, 32])  # ~ 1e5 regions: a full run takes seconds
    t0 = time.perf_counter()
    with pytest.raises(RegionBudgetExceeded) as info:
        split_enumerate(net.weights, net.biases, -np.ones(4), np.ones(4), max_regions=500)
    assert time.perf_counter() - t0 < 1.0
    assert info.value.found == 501
    assert "501" in str(info.value) and "500" in str(info.value)
    assert isinstance(info.value, PolyattrError)
    # a budget that suffices changes nothing
    small = random_network(rng, 2, [5, 5])
    full = split_enumerate(small.weights, small.biases, [0, 0], [1, 1])
    capped = split_enumerate(small.weights, small.biases, [0, 0], [1, 1], max_regions=full.n_regions)
    np.testing.assert_array_equal(full.patterns, capped.patterns)


@pytest.mark.parametrize("d,hidden", [(2, [16, 16]), (3, [16, 16]), (4, [8, 8])])
def test_estimate_is_the_right_order_of_magnitude(d, hidden):
    rng = np.random.default_rng(100 + d)
    net = random_network(rng, d, hidden)
    n = split_enumerate(net.weights, net.biases, -np.ones(d), np.ones(d)).n_regions
    est = estimate_region_count(net.weights, net.biases, -np.ones(d), np.ones(d))
    assert n / 4 <= est <= 4 * n


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(lower=[0, 0], upper=[1]),
        dict(lower=[0, 1], upper=[1, 1]),
        dict(lower=[0, np.nan], upper=[1, 1]),
        dict(lower=[0, 0], upper=[1, 1], max_regions=0),
    ],
)
def test_bad_inputs_raise_polyattr_error(kwargs):
    with pytest.raises(PolyattrError):
        split_enumerate([np.ones((3, 2)), np.ones((1, 3))], [np.zeros(3), np.zeros(1)], **kwargs)
