"""Threads and lazy volumes in region enumeration.

* parallel = serial exactly: the split backend with 1 and 2 threads gives the same regions in the
  same order, the same vertices, tight sets, volumes and centroids (bit for bit), on random,
  leaky/identity and degenerate networks;
* the partition itself is checked against computations that do not use the split kernel: the LP
  traversal's pattern set, the exact patterns at random points, and the box volume (closed form);
* lazy volumes (``volumes=False``) equal the eager ones and are computed only when asked.
"""

from __future__ import annotations

import numpy as np
import pytest

from polyattr import Box, ReLUNetwork, enumerate_regions, random_network
from polyattr.errors import PolyattrError, RegionBudgetExceeded
from polyattr.geometry.splitting import region_volumes, split_enumerate


def _keys(patterns):
    return {p.tobytes() for p in np.asarray(patterns, bool)}


def _leaky(d, rng):
    net = random_network([d, 7, 6, 1], rng=rng)
    slopes = [np.array([0.0, 0.1, 1.0, 0.0, 0.5, 0.0, 1.0]), np.array([0.0, 0.2, 0.0, 1.0, 0.0, 0.0])]
    return ReLUNetwork(net.weights, net.biases, negative_slopes=slopes)


def _degenerate():
    # integer weights: hyperplanes through box corners, a duplicated and a parallel neuron, a
    # second layer whose hyperplanes meet the first layer's at vertices
    W0 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0], [2.0, 2.0], [1.0, -1.0]])
    b0 = np.array([0.0, 0.0, -1.0, -1.0, 0.0, 0.0])
    W1 = np.array([[1.0, -1.0, 1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, -1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0, -1.0, -1.0]])
    b1 = np.array([-0.5, 0.0, 0.0])
    return ReLUNetwork([W0, W1, np.ones((1, 3))], [b0, b1, np.zeros(1)])


CASES = [
    ("random 2-d [16,16]", lambda: random_network([2, 16, 16, 1], rng=1), 2),
    ("random 3-d [12,10,6]", lambda: random_network([3, 12, 10, 6, 1], rng=2), 3),
    ("random 4-d [10,10]", lambda: random_network([4, 10, 10, 1], rng=3), 4),
    ("random 6-d [6,6] (memoised volumes)", lambda: random_network([6, 6, 6, 1], rng=4), 6),
    ("leaky and identity units", lambda: _leaky(3, 5), 3),
    ("one hidden layer", lambda: random_network([3, 12, 1], rng=6), 3),
    ("degenerate integer weights", _degenerate, 2),
]


@pytest.mark.parametrize("name,make,d", CASES, ids=[c[0] for c in CASES])
def test_two_threads_give_the_serial_result_bit_for_bit(name, make, d):
    net = make()
    lo, up = -np.ones(d), np.ones(d)
    a = split_enumerate(net.weights, net.biases, lo, up, negative_slopes=net.negative_slopes, workers=1)
    b = split_enumerate(net.weights, net.biases, lo, up, negative_slopes=net.negative_slopes, workers=2)
    for field in ("patterns", "vertex_offsets", "vertices", "vertex_masks", "volumes", "centroids", "interior_points"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert (a.n_ambiguous, a.n_cells_split) == (b.n_ambiguous, b.n_cells_split)
    # the partition against references outside the split kernel
    assert abs(a.volumes.sum() - 2.0**d) <= 1e-9 * 2.0**d
    assert len(_keys(a.patterns)) == len(a)
    lp = enumerate_regions(net, Box(lo, up), backend="lp", max_regions=5_000)
    assert _keys(lp.patterns) == _keys(a.patterns)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sampled_patterns_are_enumerated(seed):
    net = random_network([3, 14, 14, 1], rng=seed)
    res = split_enumerate(net.weights, net.biases, -np.ones(3), np.ones(3), workers=2)
    X = np.random.default_rng(seed).uniform(-1, 1, size=(2000, 3))
    exact = net.to_exact()
    sampled = {np.asarray(exact.activation_pattern(x), bool).tobytes() for x in X[:200]}
    assert sampled <= _keys(res.patterns)


def test_lazy_volumes_equal_eager_ones_and_are_computed_when_asked():
    net = random_network([3, 16, 16, 1], rng=7)
    box = Box(-np.ones(3), np.ones(3))
    eager = enumerate_regions(net, box)
    lazy = enumerate_regions(net, box, volumes=False)
    assert eager.has_volumes and not lazy.has_volumes
    assert np.array_equal(lazy.patterns, eager.patterns)
    assert np.array_equal(lazy.affine_maps()[0], eager.affine_maps()[0])
    assert not lazy.has_volumes  # patterns and affine maps did not need them
    assert np.array_equal(lazy.volumes, eager.volumes)
    assert np.array_equal(lazy.centroids, eager.centroids)
    assert lazy.has_volumes
    assert abs(lazy.total_volume - 8.0) <= 1e-12 * 8
    m0, m1, _ = lazy.moments(order=1)
    assert np.array_equal(m1, eager.moments(order=1)[1])


def test_region_volumes_of_a_split_result_match_its_own_volumes():
    net = random_network([4, 8, 8, 1], rng=8)
    res = split_enumerate(net.weights, net.biases, np.zeros(4), np.ones(4), compute_volumes=False)
    assert np.all(np.isnan(res.volumes))
    v1, c1 = region_volumes(res.vertices, res.vertex_masks, res.vertex_offsets, workers=1)
    v2, c2 = region_volumes(res.vertices, res.vertex_masks, res.vertex_offsets, workers=2)
    assert np.array_equal(v1, v2) and np.array_equal(c1, c2)
    full = split_enumerate(net.weights, net.biases, np.zeros(4), np.ones(4))
    assert np.array_equal(v1, full.volumes)
    assert abs(v1.sum() - 1.0) <= 1e-12


def test_lazy_enumeration_of_a_degenerate_network_is_re_decided_exactly_like_the_eager_one():
    # decimal weights whose float twins leave signs inside the zero band: the exact fallback runs
    # whether or not volumes were asked for, so both give the exact partition
    net = ReLUNetwork([np.array([[0.1, 0.2], [0.3, -0.1], [0.2, 0.4]]), np.ones((1, 3))],
                      [np.array([-0.1, 0.0, -0.2]), np.zeros(1)])
    box = Box(np.zeros(2), np.ones(2))
    eager, lazy = enumerate_regions(net, box), enumerate_regions(net, box, volumes=False)
    assert _keys(eager.patterns) == _keys(lazy.patterns)
    assert abs(lazy.total_volume - 1.0) <= 1e-12


def test_budget_and_bad_workers():
    net = random_network([3, 16, 16, 1], rng=9)
    with pytest.raises(RegionBudgetExceeded):
        split_enumerate(net.weights, net.biases, -np.ones(3), np.ones(3), max_regions=50, workers=2)
    with pytest.raises(PolyattrError, match="workers"):
        split_enumerate(net.weights, net.biases, -np.ones(3), np.ones(3), workers=0)
