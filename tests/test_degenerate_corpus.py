"""A degenerate-geometry corpus: both float backends and exact mode give the same partition.

Hypothesis draws networks whose hyperplanes coincide, are parallel or meet several at a vertex:
integer and dyadic weights, duplicated and parallel neurons, hyperplanes through box corners and
through one common point x, 1-input networks, leaky-ReLU and identity units, boxes from 2^-30 to 1e20 wide, at or away from the
origin.  Each case checks, against computations that do not use the enumeration code:

* exact mode: the exact volumes add up *exactly* to the box's volume, and the exact pattern of the
  model (rational forward pass) at every region's exact centroid is the region's pattern;
* both float backends: no pattern twice, volumes add up to the box's (relative 1e-9), the same
  pattern set as exact mode and region volumes within 1e-9 of the exact ones;
* sampling: the exact pattern at random points (off every hyperplane) is one of the regions'.

8 families x 260 examples = 2,080 cases (about 40-60 s on one core).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyattr import Box, ReLUNetwork, enumerate_regions
from polyattr.geometry.exact_regions import clear_cache, exact_region_set

EXAMPLES = 260
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------------------ strategies
@st.composite
def integer_layers(draw, d, entries=st.integers(-2, 2), bias=st.integers(-1, 1), max_width=4, max_depth=2):
    depth = draw(st.integers(1, max_depth))
    sizes = [d] + [draw(st.integers(1, max_width)) for _ in range(depth)] + [1]
    Ws = [np.array(draw(st.lists(st.lists(entries, min_size=i, max_size=i), min_size=o, max_size=o)), float)
          for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [np.array(draw(st.lists(bias, min_size=o, max_size=o)), float) for o in sizes[1:]]
    return Ws, bs


@st.composite
def integer_box(draw, d, low=-2, width=2):
    lower = np.array(draw(st.lists(st.integers(low, 0), min_size=d, max_size=d)), float)
    upper = lower + np.array(draw(st.lists(st.integers(1, width), min_size=d, max_size=d)), float)
    return lower, upper


dims = st.integers(1, 3)


@st.composite
def integer_cases(draw):
    d = draw(dims)
    Ws, bs = draw(integer_layers(d))
    return ReLUNetwork(Ws, bs), *draw(integer_box(d))


@st.composite
def dyadic_cases(draw):
    d = draw(dims)
    dyadic = st.integers(-16, 16).map(lambda n: n / 8)
    Ws, bs = draw(integer_layers(d, entries=dyadic, bias=st.integers(-4, 4).map(lambda n: n / 4)))
    lower, upper = draw(integer_box(d))
    return ReLUNetwork(Ws, bs), lower / 4, upper / 4


@st.composite
def duplicated_cases(draw):
    """A first-layer neuron repeated, scaled (also by a negative factor: the same hyperplane,
    opposite side) or shifted (a parallel hyperplane)."""
    d = draw(dims)
    Ws, bs = draw(integer_layers(d, max_width=3))
    i = draw(st.integers(0, Ws[0].shape[0] - 1))
    factor = draw(st.sampled_from([1.0, 2.0, -1.0, 0.5]))
    shift = draw(st.sampled_from([0.0, 1.0, -0.5]))
    Ws[0] = np.vstack([Ws[0], factor * Ws[0][i]])
    bs[0] = np.r_[bs[0], factor * bs[0][i] + shift]
    extra = np.array(draw(st.lists(st.integers(-2, 2), min_size=Ws[1].shape[0], max_size=Ws[1].shape[0])), float)
    Ws[1] = np.hstack([Ws[1], extra[:, None]])
    return ReLUNetwork(Ws, bs), *draw(integer_box(d))


@st.composite
def corner_cases(draw):
    """First-layer hyperplanes through corners of the box."""
    d = draw(dims)
    Ws, bs = draw(integer_layers(d))
    lower, upper = draw(integer_box(d))
    corners = draw(st.lists(st.lists(st.booleans(), min_size=d, max_size=d), min_size=len(bs[0]), max_size=len(bs[0])))
    bs[0] = np.array([-(Ws[0][i] @ np.where(c, upper, lower)) for i, c in enumerate(corners)])
    return ReLUNetwork(Ws, bs), lower, upper


@st.composite
def through_x_cases(draw):
    """All first-layer hyperplanes through one point x of the box (on a quarter grid)."""
    d = draw(dims)
    Ws, bs = draw(integer_layers(d))
    lower, upper = draw(integer_box(d))
    x = lower + (upper - lower) * np.array(draw(st.lists(st.integers(0, 4), min_size=d, max_size=d))) / 4
    bs[0] = -(Ws[0] @ x)
    return ReLUNetwork(Ws, bs), lower, upper


@st.composite
def one_input_cases(draw):
    Ws, bs = draw(integer_layers(1, max_width=5, max_depth=3))
    return ReLUNetwork(Ws, bs), *draw(integer_box(1))


@st.composite
def leaky_cases(draw):
    """Leaky-ReLU (slopes 1/4, 1/2, 2) and identity (slope 1: no hyperplane) units among ReLUs."""
    d = draw(dims)
    Ws, bs = draw(integer_layers(d))
    slopes = [np.array(draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0]), min_size=len(b), max_size=len(b))))
              for b in bs[:-1]]
    return ReLUNetwork(Ws, bs, negative_slopes=slopes), *draw(integer_box(d))


@st.composite
def scaled_cases(draw):
    """Boxes from 2^-30 to 1e20 wide, centred at the origin or at an integer point."""
    d = draw(st.integers(1, 2))
    Ws, bs = draw(integer_layers(d, max_width=3))
    half = draw(st.sampled_from([2.0**-30, 1e-12, 1e-6, 2.0**12, 1e12, 2.0**40, 1e20]))
    centre = np.array(draw(st.lists(st.integers(-1, 1), min_size=d, max_size=d)), float)
    if half < 1e-6:
        centre = centre * 0  # 1 +- 2^-30 is fine, 1 +- 1e-12 loses the box's digits: centre at 0
    return ReLUNetwork(Ws, bs), centre - half, centre + half


# ------------------------------------------------------------------------------ checks
def check_case(net, lower, upper, seed=0):
    box = Box(lower, upper, exact=True)
    exact = exact_region_set(net, box)
    assert exact.total_volume == box.volume  # exactly
    exact_net = net.to_exact()
    table = {}
    for i in range(len(exact)):
        m0, m1, _ = exact.moments(order=1, regions=[i])
        assert m0[0] > 0
        centroid = np.array([m1[0, j] / m0[0] for j in range(exact.dim)], dtype=object)
        assert np.array_equal(exact_net.activation_pattern(exact.reduction.lift(centroid)), exact.patterns[i])
        table[exact.patterns[i].tobytes()] = float(m0[0])
    volume = float(np.prod(upper - lower))
    for backend in ("split", "lp"):
        regions = enumerate_regions(net, (lower, upper), backend=backend)
        keys = [p.tobytes() for p in regions.patterns]
        assert len(set(keys)) == len(keys), backend
        assert abs(regions.total_volume - volume) <= 1e-9 * volume, backend
        assert set(keys) == set(table), backend
        for key, v in zip(keys, regions.volumes):
            assert abs(v - table[key]) <= 1e-9 * volume, backend
    # sampled points off every hyperplane: their exact pattern is a region's
    rng = np.random.default_rng(seed)
    for z in rng.uniform(lower, upper, size=(8, len(lower))):
        pre = np.atleast_1d(exact_net.hidden_preactivations(z))
        if all(v != 0 for v in pre):
            assert np.array([v > 0 for v in pre]).tobytes() in table


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


@SETTINGS
@given(integer_cases())
def test_integer_weights_and_boxes(case):
    check_case(*case)


@SETTINGS
@given(dyadic_cases())
def test_dyadic_weights_and_boxes(case):
    check_case(*case)


@SETTINGS
@given(duplicated_cases())
def test_duplicated_and_parallel_neurons(case):
    check_case(*case)


@SETTINGS
@given(corner_cases())
def test_hyperplanes_through_box_corners(case):
    check_case(*case)


@SETTINGS
@given(through_x_cases())
def test_hyperplanes_through_one_point(case):
    check_case(*case)


@SETTINGS
@given(one_input_cases())
def test_one_input_networks(case):
    check_case(*case)


@SETTINGS
@given(leaky_cases())
def test_leaky_and_identity_units(case):
    check_case(*case)


@SETTINGS
@given(scaled_cases())
def test_tiny_and_huge_boxes(case):
    check_case(*case)


def test_issue_examples():
    """The reproductions of the issue: a 2-layer integer network on which the LP traversal used to
    list a region twice (volume 0.3% too big), and a box of +-1e20 / +-1e12 (3 regions and volume
    61, resp. lost regions) on a network whose 8 hyperplanes meet pairwise near the origin: the
    arrangement of 8 lines in general position has 1 + 8 + 28 = 37 regions."""
    rng = np.random.default_rng(66)
    sizes = [2, int(rng.integers(3, 9)), int(rng.integers(3, 9)), 1]
    Ws = [rng.integers(-2, 3, size=(o, i)).astype(float) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.integers(-1, 2, size=o).astype(float) for o in sizes[1:]]
    lower = rng.integers(-2, 1, size=2).astype(float)
    upper = lower + rng.integers(1, 3, size=2)
    check_case(ReLUNetwork(Ws, bs), lower, upper)
    from polyattr import random_network

    net = random_network([2, 8, 1], rng=np.random.default_rng(1))
    for half in (1e12, 1e20):
        for backend in ("lp", "split"):
            regions = enumerate_regions(net, ([-half, -half], [half, half]), backend=backend)
            assert len(regions) == 37
            assert regions.backend == backend + "+exact"  # beyond float resolution: decided exactly
            assert abs(regions.total_volume - 4 * half * half) <= 1e-9 * 4 * half * half
    clear_cache()
    exact = exact_region_set(net, Box([-1e20, -1e20], [1e20, 1e20], exact=True))
    assert len(exact) == 37 and exact.total_volume == Fraction(4 * 10**40)


def test_small_biases_on_a_unit_box_stay_in_floats():
    """The float-resolution check is relative to the box: hyperplanes 1e-9 from the origin, on a
    box away from it (where their pairwise intersections are not), are resolved by floats (no
    exact fallback), and the float partition matches the exact one."""
    from polyattr import random_network

    net = random_network([2, 6, 1], rng=np.random.default_rng(5))
    net = ReLUNetwork([net.weights[0], net.weights[1]], [np.full(6, 1e-9), net.biases[1]])
    lower, upper = np.array([-1.5, 0.5]), np.array([1.5, 1.5])
    for backend in ("split", "lp"):
        regions = enumerate_regions(net, (lower, upper), backend=backend)
        assert regions.backend == backend and len(regions) > 3
    check_case(net, lower, upper)


def test_undecided_runs_beyond_the_exact_budget_are_refused(monkeypatch):
    """Never a wrong count: a run that floats cannot decide and that is too large to re-decide
    exactly is refused with one clear error."""
    import polyattr.geometry.regions as regions_module
    from polyattr import PolyattrError, random_network

    monkeypatch.setattr(regions_module, "_EXACT_FALLBACK_LIMIT", 5)
    net = random_network([2, 8, 1], rng=np.random.default_rng(1))
    with pytest.raises(PolyattrError, match="float64 cannot decide"):
        enumerate_regions(net, ([-1e20, -1e20], [1e20, 1e20]), backend="split")
