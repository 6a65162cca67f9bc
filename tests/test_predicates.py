"""Filtered predicates: the float error bounds hold against exact rational arithmetic, and the signs
and canonical patterns they return are the exact ones (checked by Fraction forward passes and the
model's integer pattern rows, not by the predicates' own exact fallback)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from polyattr import ReLUNetwork, random_network
from polyattr.geometry.predicates import FilteredNetwork


def adversarial_network(rng, d=3, widths=(5, 4), spread=8, slopes=False):
    """Weights spanning 10^-spread .. 10^spread in magnitude, random signs."""
    sizes = [d, *widths, 1]
    Ws = [rng.choice([-1, 1], size=(o, i)) * 10.0 ** rng.uniform(-spread, spread, size=(o, i))
          for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.choice([-1, 1], size=o) * 10.0 ** rng.uniform(-spread, spread, size=o) for o in sizes[1:]]
    negative = [rng.choice([0.0, 0.1, 1.0, 3.0], size=o) for o in widths] if slopes else None
    return ReLUNetwork(Ws, bs, negative_slopes=negative)


def exact_preactivations(net, z):
    return np.atleast_1d(net.to_exact().hidden_preactivations(np.array([Fraction(float(v)) for v in z], dtype=object)))


@pytest.mark.parametrize("seed", range(6))
def test_error_bounds_hold_against_exact_arithmetic(seed):
    rng = np.random.default_rng(seed)
    net = adversarial_network(rng, slopes=seed % 2 == 1)
    filt = FilteredNetwork(net)
    Z = rng.uniform(-10, 10, size=(6, 3))
    pre, bound = filt.preactivations(Z)
    for z, p, b in zip(Z, pre, bound):
        exact = exact_preactivations(net, z)
        err = np.array([abs(Fraction(float(v)) - e) for v, e in zip(p, exact)], dtype=object)
        assert all(e <= Fraction(float(bb)) for e, bb in zip(err, b))
        assert np.all(b < np.inf)


def test_signs_are_exact_near_and_on_hyperplanes():
    """Points within 1e-12 of (and exactly on) a hyperplane: the float sign alone is unreliable."""
    rng = np.random.default_rng(1)
    W0 = np.array([[1.0, 3.0], [0.1, 0.7], [2.0, -1.0]])
    b0 = np.array([-0.3, -0.2, 0.0])
    net = ReLUNetwork([W0, np.array([[1.0, -2.0, 1.5]]), np.array([[1.0]])], [b0, np.array([0.25]), np.array([0.0])])
    filt = FilteredNetwork(net)
    points = [np.array([0.3, 0.0]), np.array([0.0, 0.1]), np.array([0.2, 0.4]), np.array([0.1, 0.2])]
    for t in rng.uniform(0, 1, size=20):
        x = np.array([t, (0.3 - t) / 3.0])  # on (or within rounding of) the first hyperplane
        points += [x, x + 1e-12, x - 1e-13 * rng.normal(size=2)]
    for z in points:
        exact = exact_preactivations(net, z)
        expected = [(v > 0) - (v < 0) for v in exact]
        assert list(filt.signs(z)[0]) == expected


def test_huge_and_tiny_coordinates():
    net = random_network([2, 6, 4, 1], rng=2)
    filt = FilteredNetwork(net)
    for scale in (1e-30, 1e-8, 1e8, 1e20, 1e150):
        Z = np.random.default_rng(0).uniform(-scale, scale, size=(5, 2))
        for z in Z:
            exact = exact_preactivations(net, z)
            assert list(filt.signs(z)[0]) == [(v > 0) - (v < 0) for v in exact]


def test_lifted_points_of_a_slice_and_a_segment():
    """Reduced coordinates u map to z = E u + z0 (the lift's rounding is part of the bound)."""
    net = random_network([3, 5, 1], rng=4)
    E = np.array([[0.3], [1.0 / 3.0], [-0.7]])
    z0 = np.array([0.1, 0.2, 0.3])
    filt = FilteredNetwork(net, E, z0)
    for t in np.linspace(0, 1, 17):
        z = [Fraction(float(E[r, 0])) * Fraction(float(t)) + Fraction(float(z0[r])) for r in range(3)]
        exact = np.atleast_1d(net.to_exact().hidden_preactivations(np.array(z, dtype=object)))
        assert list(filt.signs([t])[0]) == [(v > 0) - (v < 0) for v in exact]


def test_canonical_patterns_match_the_models_integer_rows():
    """Identically-zero neurons (a dead second layer, duplicated neurons cancelling) are inactive."""
    W0 = np.array([[1.0, -1.0], [1.0, -1.0], [0.1, 0.2]])
    W1 = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.3, 0.3, 1.0]])
    net = ReLUNetwork([W0, W1, np.array([[1.0, 1.0, 1.0]])], [np.array([0.0, 0.0, -0.3]), np.zeros(3), np.zeros(1)])
    filt = FilteredNetwork(net)
    for bits in range(2 ** net.n_neurons):
        pattern = np.array([(bits >> i) & 1 for i in range(net.n_neurons)], dtype=bool)
        canon, zero = filt.canonical(pattern)
        expected, A, c, _ = net.to_exact().integer_pattern_rows(pattern)
        assert np.array_equal(canon, expected)
        assert np.array_equal(zero, [not any(A[r]) and c[r] == 0 for r in range(len(c))])
