"""Region enumeration: both backends against brute force (grids, sampling) and against each other."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyattr import AffineSlice, Box, Polytope, ReLUNetwork, Segment, enumerate_regions, random_network
from polyattr.errors import PolyattrError, RegionBudgetExceeded
from polyattr.geometry.lp import chebyshev_center


def pattern_set(regions):
    return {p.tobytes() for p in regions.patterns}


def check_partition(net, regions, rng, domain_volume, samples_per_region=4):
    """Volumes tile the domain; patterns are distinct; the affine map equals the net inside each region."""
    assert abs(regions.total_volume - domain_volume) <= 1e-9 * domain_volume
    assert len(pattern_set(regions)) == len(regions)
    W, b = regions.affine_maps(output=0)
    red = regions.reduction
    for i in range(len(regions)):
        A, c = regions.halfspaces(i) if regions.facets is not None else regions.constraint_rows(i)
        center, radius = chebyshev_center(A, c)
        assert radius > 0
        directions = rng.normal(size=(samples_per_region, regions.dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        U = center + 0.9 * radius * rng.uniform(size=(samples_per_region, 1)) * directions
        Z = red.lift(U)
        np.testing.assert_allclose(Z @ W[i] + b[i], net(Z, output=0), atol=1e-9)
        assert np.all(net.activation_pattern(Z) == regions.patterns[i])


def grid_patterns(net, lower, upper, n=300):
    g = [np.linspace(lo, hi, n) for lo, hi in zip(lower, upper)]
    Z = np.stack(np.meshgrid(*g, indexing="ij"), axis=-1).reshape(-1, len(lower))
    pre = net.hidden_preactivations(Z)
    ok = np.min(np.abs(pre), axis=1) > 1e-7  # grid points on a hyperplane carry no region information
    return {p.tobytes() for p in net.activation_pattern(Z[ok])}


networks = st.builds(
    lambda seed, depth, width, d, spread: (seed, depth, width, d, spread),
    st.integers(0, 10_000), st.integers(1, 3), st.integers(1, 16), st.integers(1, 4), st.floats(0.2, 3.0),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks)
def test_split_backend_tiles_box_and_matches_network(params):
    seed, depth, width, d, spread = params
    rng = np.random.default_rng(seed)
    net = random_network([d] + [width] * depth + [1], rng=rng)
    lower = rng.uniform(-spread, 0, size=d)
    upper = lower + rng.uniform(0.1, 2 * spread, size=d)
    regions = enumerate_regions(net, (lower, upper), backend="split")
    check_partition(net, regions, rng, float(np.prod(upper - lower)), samples_per_region=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(1, 2), st.integers(1, 8), st.integers(1, 3))
def test_lp_and_split_backends_give_the_same_partition(seed, depth, width, d):
    rng = np.random.default_rng(seed)
    net = random_network([d] + [width] * depth + [1], rng=rng)
    lp = enumerate_regions(net, backend="lp")
    split = enumerate_regions(net, backend="split")
    assert pattern_set(lp) == pattern_set(split)
    # same partition: region by region equal volumes
    order_lp = {p.tobytes(): v for p, v in zip(lp.patterns, lp.volumes)}
    for p, v in zip(split.patterns, split.volumes):
        assert abs(order_lp[p.tobytes()] - v) <= 1e-9
    check_partition(net, lp, rng, 1.0, samples_per_region=2)


@pytest.mark.parametrize("backend", ["lp", "split"])
def test_every_grid_pattern_is_found_in_2d(backend):
    rng = np.random.default_rng(3)
    net = random_network([2, 12, 12, 1], rng=rng)
    regions = enumerate_regions(net, backend=backend)
    found = pattern_set(regions)
    seen = grid_patterns(net, [0, 0], [1, 1])
    assert seen <= found
    # and nothing spurious: (almost) every region is hit by a fine grid or is tiny
    missing = [i for i, p in enumerate(regions.patterns) if p.tobytes() not in seen]
    assert all(regions.volumes[i] < 1e-4 for i in missing)


def degenerate_networks():
    W_dup = np.array([[1.0, -1.0], [1.0, -1.0], [2.0, -2.0]])  # duplicated and scaled neurons
    yield "duplicated", ReLUNetwork([W_dup, np.ones((1, 3))], [np.array([0.1, 0.1, 0.2]), np.zeros(1)])
    yield "zero rows", ReLUNetwork([np.array([[0.0, 0.0], [1.0, 1.0]]), np.ones((1, 2))], [np.array([0.3, -1.0]), np.zeros(1)])
    yield "zero row negative bias", ReLUNetwork([np.array([[0.0, 0.0], [1.0, 0.0]]), np.ones((1, 2))], [np.array([-0.3, -0.5]), np.zeros(1)])
    yield "missing hyperplanes", ReLUNetwork([np.array([[1.0, 1.0], [1.0, -1.0]]), np.ones((1, 2))], [np.array([5.0, -7.0]), np.zeros(1)])
    yield "dead everywhere", ReLUNetwork([-np.ones((3, 2)), np.ones((1, 3))], [-np.ones(3), np.zeros(1)])
    yield "parallel", ReLUNetwork([np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]), np.ones((1, 3))], [np.array([-0.25, -0.5, -0.75]), np.zeros(1)])
    yield "through vertices", ReLUNetwork([np.array([[1.0, -1.0], [1.0, 1.0]]), np.ones((1, 2))], [np.array([0.0, -1.0]), np.zeros(1)])
    W1 = np.array([[1.0, 0.0], [0.0, 1.0]])
    yield "second layer on boundary", ReLUNetwork([W1, np.array([[1.0, -1.0], [1.0, 1.0]]), np.ones((1, 2))],
                                                  [np.array([-0.5, -0.5]), np.array([0.0, -0.25]), np.zeros(1)])


@pytest.mark.parametrize("name, net", list(degenerate_networks()))
@pytest.mark.parametrize("backend", ["lp", "split"])
def test_degenerate_networks(name, net, backend):
    regions = enumerate_regions(net, backend=backend)
    check_partition(net, regions, np.random.default_rng(0), 1.0)
    assert grid_patterns(net, [0, 0], [1, 1], n=201) <= pattern_set(regions)


def test_known_counts_of_simple_arrangements():
    parallel = dict(degenerate_networks())["parallel"]
    assert len(enumerate_regions(parallel, backend="lp")) == 4
    assert len(enumerate_regions(dict(degenerate_networks())["dead everywhere"])) == 1
    assert len(enumerate_regions(dict(degenerate_networks())["missing hyperplanes"])) == 1
    assert len(enumerate_regions(dict(degenerate_networks())["duplicated"])) == 2


@pytest.mark.parametrize("backend", ["lp", "split"])
def test_one_input_models(backend):
    net = ReLUNetwork([np.array([[1.0], [-1.0], [2.0]]), np.ones((1, 3))], [np.array([-0.2, 0.6, -1.2]), np.zeros(1)])
    regions = enumerate_regions(net, (np.array([0.0]), np.array([1.0])), backend=backend)
    # breakpoints at 0.2, 0.6 and 0.6 (duplicate): 3 pieces
    assert len(regions) == 3
    np.testing.assert_allclose(sorted(regions.volumes), [0.2, 0.4, 0.4], atol=1e-12)


def test_affine_slice_and_segment_domains():
    rng = np.random.default_rng(5)
    net = random_network([3, 8, 8, 1], rng=rng)
    box = Box.unit(3)
    sl = AffineSlice(box, {1: 0.3})
    regions = enumerate_regions(net, sl)
    assert regions.dim == 2
    check_partition(net, regions, rng, 1.0)
    # the slice's regions are the 3-D patterns met on that plane
    g = np.linspace(0, 1, 200)
    Z = np.stack(np.meshgrid(g, [0.3], g, indexing="ij"), -1).reshape(-1, 3)
    ok = np.min(np.abs(net.hidden_preactivations(Z)), axis=1) > 1e-7
    assert {p.tobytes() for p in net.activation_pattern(Z[ok])} <= pattern_set(regions)
    seg = Segment([0.1, 0.2, 0.9], [0.8, 0.7, 0.05])
    pieces = enumerate_regions(net, seg)
    assert abs(pieces.total_volume - 1.0) < 1e-12
    t = np.linspace(0, 1, 20001)
    Z = seg.start + t[:, None] * (seg.end - seg.start)
    changes = np.count_nonzero(np.any(np.diff(net.activation_pattern(Z).astype(int), axis=0) != 0, axis=1))
    assert len(pieces) == changes + 1


def test_polytope_domain_uses_lp_backend():
    net = random_network([2, 10, 1], rng=9)
    triangle = Polytope([[-1, 0], [0, -1], [1, 1]], [0, 0, 1])
    regions = enumerate_regions(net, triangle)
    assert regions.backend == "lp"
    assert abs(regions.total_volume - 0.5) < 1e-12
    check_partition(net, regions, np.random.default_rng(1), 0.5)


def test_find_returns_the_region_of_a_point_also_on_boundaries():
    net = dict(degenerate_networks())["parallel"]
    regions = enumerate_regions(net)
    i = regions.find([0.1, 0.5])
    assert regions.region(i).volume == pytest.approx(0.25)
    j = regions.find([0.5, 0.5])  # exactly on a hyperplane: either side is right (f continuous)
    W, b = regions.affine_maps(0)
    assert W[j] @ [0.5, 0.5] + b[j] == pytest.approx(net([0.5, 0.5]))


def test_budget_exceeded_says_how_many():
    net = random_network([2, 16, 16, 1], rng=0)
    with pytest.raises(RegionBudgetExceeded, match="found") as err:
        enumerate_regions(net, max_regions=5, check_estimate=False, backend="lp")
    assert err.value.found > 5
    with pytest.raises(RegionBudgetExceeded) as err:
        enumerate_regions(net, max_regions=5, check_estimate=False, backend="split")
    assert err.value.found > 5


def test_estimate_refuses_hopeless_jobs_up_front():
    net = random_network([8, 64, 64, 1], rng=0)
    with pytest.raises(RegionBudgetExceeded, match="expected") as err:
        enumerate_regions(net, max_regions=10_000)
    assert err.value.estimate > 40_000


@pytest.mark.parametrize(
    "domain, message",
    [
        (([0, 0], [1, -1]), "lower < upper"),
        (([0, 0, 0], [1, 1, 1]), "R\\^2"),
        (([0, np.nan], [1, 1]), "NaN"),
        ("cube", "domain: expected"),
    ],
)
def test_bad_domains(domain, message):
    net = random_network([2, 3, 1], rng=0)
    with pytest.raises(PolyattrError, match=message):
        enumerate_regions(net, domain)


def test_bad_arguments():
    net = random_network([2, 3, 1], rng=0)
    with pytest.raises(PolyattrError, match="max_regions"):
        enumerate_regions(net, max_regions=0)
    with pytest.raises(PolyattrError, match="backend"):
        enumerate_regions(net, backend="magic")
    with pytest.raises(PolyattrError, match="model"):
        enumerate_regions("not a model")
    with pytest.raises(PolyattrError, match="empty or has no interior"):
        Polytope([[1, 0], [-1, 0], [0, 1], [0, -1]], [0, 0, 1, 1])
    with pytest.raises(PolyattrError, match="not in"):
        enumerate_regions(net).find([2.0, 0.5])


def test_plot_writes_png(tmp_path):
    net = random_network([2, 6, 6, 1], rng=0)
    path = tmp_path / "p.png"
    enumerate_regions(net).plot(path=path)
    assert path.stat().st_size > 1000
    with pytest.raises(PolyattrError, match="2-D"):
        enumerate_regions(random_network([3, 4, 1], rng=0)).plot(path=tmp_path / "q.png")


@pytest.mark.parametrize("backend", ["lp", "split"])
def test_second_moments_add_up_to_the_box_and_match_sampling(backend):
    rng = np.random.default_rng(11)
    net = random_network([3, 8, 8, 1], rng=rng)
    lower, upper = np.array([-0.5, 0.0, 0.2]), np.array([0.5, 2.0, 0.7])
    regions = enumerate_regions(net, (lower, upper), backend=backend)
    m0, m1, M2 = regions.moments(order=2)
    vol = np.prod(upper - lower)
    mean = (lower + upper) / 2
    var = (upper - lower) ** 2 / 12
    box_M2 = vol * (np.outer(mean, mean) + np.diag(var))  # closed form of the integral of z z^T
    np.testing.assert_allclose(M2.sum(axis=0), box_M2, rtol=1e-10, atol=1e-12)
    # per region, against Monte Carlo on uniform samples (5-sigma)
    Z = rng.uniform(lower, upper, size=(200_000, 3))
    pats = net.activation_pattern(Z)
    biggest = np.argsort(regions.volumes)[-3:]
    for i in biggest:
        inside = np.all(pats == regions.patterns[i], axis=1)
        terms = inside[:, None, None] * Z[:, :, None] * Z[:, None, :] * vol
        est, se = terms.mean(axis=0), terms.std(axis=0) / np.sqrt(len(Z))
        assert np.all(np.abs(est - M2[i]) <= 5 * se + 1e-12)


def test_region_count_upper_bound_holds_and_spares_the_estimate():
    from polyattr.geometry.regions import region_count_upper_bound

    for seed in range(5):
        net = random_network([2, 6, 5, 1], rng=seed)
        assert len(enumerate_regions(net)) <= region_count_upper_bound(net.hidden_sizes, 2)
    # one layer of n lines in the plane: at most 1 + n + C(n, 2) cells
    assert region_count_upper_bound([4], 2) == 1 + 4 + 6
    assert region_count_upper_bound([16, 16], 1) == 17 * 17
