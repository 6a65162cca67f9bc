"""Exact regions from a verified split run (geometry/exact_from_split.py) against the cdd.gmp path,
closed forms and hand-computed degenerate arrangements."""

from fractions import Fraction

import numpy as np
import pytest

import polyattr.geometry.exact_regions as exact_regions
from polyattr import AffineSlice, Box, ReLUNetwork, attribute, random_network
from polyattr.geometry.exact_from_split import IncrementalMaps, _solve_vertex, applies
from polyattr.geometry.exact_regions import clear_cache, exact_region_set
from polyattr.geometry.regions import enumerate_regions


def _both_paths(model, fdom, edom):
    """(fast, cdd) exact region sets of the same verified float run."""
    fr = enumerate_regions(model.to_float(), fdom)
    out = []
    for flag in (True, False):
        clear_cache()
        saved = exact_regions.USE_VERIFIED_SPLIT
        exact_regions.USE_VERIFIED_SPLIT = flag
        try:
            out.append(exact_region_set(model, edom, fr))
        finally:
            exact_regions.USE_VERIFIED_SPLIT = saved
    clear_cache()
    return fr, out[0], out[1]


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a.regions, b.regions):
        assert np.array_equal(x.pattern, y.pattern)
        assert x.volume == y.volume
        assert list(x.first_moment) == list(y.first_moment)
        assert x.vertices.shape == y.vertices.shape
        assert list(x.vertices.ravel()) == list(y.vertices.ravel())
        assert x.rows == y.rows
        assert x.facet_vertices == y.facet_vertices
    # second moments from either triangulation agree (the simplices may differ, the polytope not)
    assert [list(m.ravel()) for m in a.moments(2)[2]] == [list(m.ravel()) for m in b.moments(2)[2]]


@pytest.mark.parametrize("d,seed", [(2, 0), (2, 1), (3, 2)])
def test_fast_path_equals_cdd_path_on_random_networks(d, seed):
    net = random_network([d, 8, 6, 1], rng=seed)
    fr, fast, cdd = _both_paths(net, Box.unit(d), Box.unit(d, exact=True))
    assert fr.proven and fast.from_verified_split == len(fr) and cdd.from_verified_split == 0
    _assert_same(fast, cdd)
    assert fast.total_volume == 1


def test_fast_path_on_a_slice_and_a_leaky_network():
    net = ReLUNetwork(random_network([3, 7, 5, 1], rng=4).weights, random_network([3, 7, 5, 1], rng=4).biases,
                      negative_slopes=[0.25, 0.0])
    dom = AffineSlice(Box.unit(3), {1: 0.375})
    edom = AffineSlice(Box.unit(3, exact=True), {1: Fraction(3, 8)})
    fr, fast, cdd = _both_paths(net, dom, edom)
    assert fast.from_verified_split == len(fr) > 1
    _assert_same(fast, cdd)


def test_fast_path_with_identity_units():
    # identity units (slope 1) never cut: the masks count them, the patterns do not
    base = random_network([2, 6, 5, 1], rng=11)
    net = ReLUNetwork(base.weights, base.biases, [[0, 0.25, 1, 0, 0.125, 1], [1, 0, 0.5, 0, 1]])
    fr, fast, cdd = _both_paths(net, Box.unit(2), Box.unit(2, exact=True))
    assert fast.from_verified_split == len(fr) > 1
    _assert_same(fast, cdd)


def _degenerate_network():
    """relu(x - 1/2), relu(y - 1/2), relu(x + y - 1) twice (coincident), relu(x - y): four distinct
    lines through (1/2, 1/2), and x = y through the corners (0, 0) and (1, 1)."""
    W0 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 2.0], [1.0, -1.0]])
    b0 = np.array([-0.5, -0.5, -1.0, -2.0, 0.0])
    W1 = np.array([[1.0, 1.0, 1.0, 0.0, 0.0]])
    return ReLUNetwork([W0, W1], [b0, np.zeros(1)])


def test_degenerate_vertices_integer_weights_and_coincident_hyperplanes():
    net = _degenerate_network()
    fr, fast, cdd = _both_paths(net, Box.unit(2), Box.unit(2, exact=True))
    assert fr.proven and fast.from_verified_split == len(fr)
    _assert_same(fast, cdd)
    # (1/2, 1/2) is a vertex where five hyperplanes (four distinct lines) meet in the plane
    centre = (Fraction(1, 2), Fraction(1, 2))
    assert sum(any(tuple(v) == centre for v in r.vertices) for r in fast.regions) == 8
    # closed form: the integral over the unit square of relu(x-1/2) + relu(y-1/2) + relu(x+y-1)
    W, b = fast.affine_maps(0)
    m0, m1, _ = fast.moments(1)
    total = sum((W[i, 0] * m1[i, 0] + W[i, 1] * m1[i, 1] + b[i] * m0[i] for i in range(len(fast))), start=Fraction(0))
    assert total == Fraction(1, 8) + Fraction(1, 8) + Fraction(1, 6)
    # the eight regions are triangles of area 1/8
    assert sorted(r.volume for r in fast.regions) == [Fraction(1, 8)] * 8


def test_exact_method_values_through_the_fast_path_match_brute_force_on_the_degenerate_network():
    net = _degenerate_network()
    clear_cache()
    res = attribute(net, np.array([0.5, 0.25]), "pdp", exact=True)
    clear_cache()
    # pdp_j(x) = integral over the other coordinate of f with z_j = x_j: closed forms
    # j = 0 (x = 1/2): int_0^1 relu(y - 1/2) + relu(y - 1/2) dy = 1/8 + 1/8
    # j = 1 (y = 1/4): int_0^1 relu(x - 1/2) + relu(x - 3/4) dx = 1/8 + 1/32
    assert list(res.values) == [Fraction(1, 4), Fraction(5, 32)]


def _rows(A, c):
    return lambda j: ([int(x) for x in A[j]], int(c[j]), 1)


def test_solve_vertex_degenerate_and_singular_systems():
    k = 2
    lower, upper = [Fraction(0)] * 2, [Fraction(1)] * 2
    # rows A u <= c, tight ones meet at (1/2, 1/2): x = 1/2, y = 1/2, x + y = 1 (three rows, two unknowns)
    A = np.array([[2, 0], [0, 2], [1, 1]], dtype=object)
    c = np.array([1, 1, 1], dtype=object)
    bits = np.zeros(2 * k + 3, bool)
    bits[2 * k:] = True
    assert _solve_vertex(bits, k, _rows(A, c), lower, upper) == (Fraction(1, 2), Fraction(1, 2))
    # inconsistent: x + y = 3/2 with x = y = 1/2
    c_bad = np.array([1, 1, Fraction(3, 2) * 2], dtype=object)
    A_bad = np.array([[2, 0], [0, 2], [2, 2]], dtype=object)
    assert _solve_vertex(bits, k, _rows(A_bad, c_bad), lower, upper) is None
    # singular: two parallel rows do not define a point
    A_par = np.array([[1, 1], [2, 2], [0, 1]], dtype=object)
    c_par = np.array([1, 2, 0], dtype=object)
    bits_par = np.array([False] * 4 + [True, True, False])
    assert _solve_vertex(bits_par, k, _rows(A_par, c_par), lower, upper) is None
    # a box corner (lower x, upper y) on a unit row: it must vanish there exactly
    bits_corner = np.array([True, False, False, True, False, False, True])
    A_c = np.array([[0, 0], [0, 0], [1, -1]], dtype=object)
    assert _solve_vertex(bits_corner, k, _rows(A_c, np.array([0, 0, -1], dtype=object)), lower, upper) == (0, 1)
    assert _solve_vertex(bits_corner, k, _rows(A_c, np.array([0, 0, 0], dtype=object)), lower, upper) is None


def test_decimal_weights_take_the_cdd_path():
    W0 = np.array([[Fraction(1, 10), Fraction(2, 10)], [Fraction(-3, 10), Fraction(1, 1)]], dtype=object)
    net = ReLUNetwork([W0, np.array([[Fraction(1), Fraction(1)]], dtype=object)],
                      [np.array([Fraction(-1, 10), Fraction(-3, 10)], dtype=object), np.array([Fraction(0)], dtype=object)],
                      exact=True)
    fr = enumerate_regions(net.to_float(), Box.unit(2))
    assert fr.proven and not applies(fr, net, Box.unit(2, exact=True))
    clear_cache()
    er = exact_region_set(net, Box.unit(2, exact=True), fr)
    assert er.from_verified_split == 0 and er.total_volume == 1
    clear_cache()


@pytest.mark.parametrize("sizes,slopes", [([3, 8, 8, 2], None), ([2, 6, 5, 4, 1], [0.0, 0.125, 0.0])])
def test_incremental_maps_equal_the_models_integer_algebra(sizes, slopes):
    base = random_network(sizes, rng=1)
    net = ReLUNetwork(base.weights, base.biases, negative_slopes=slopes).to_exact()
    maps = IncrementalMaps(net)
    rng = np.random.default_rng(5)
    pats = rng.random((120, net.n_neurons)) < 0.5
    for i in range(1, len(pats)):  # runs of patterns one bit apart, and jumps
        if rng.random() < 0.7:
            pats[i] = pats[i - 1]
            j = rng.integers(net.n_neurons)
            pats[i, j] = ~pats[i, j]
    pats[7, :] = False  # every unit off: later layers identically zero (canonical inactive)
    for p in pats:
        W, b = maps.affine_map(p)
        W2, b2 = net.local_affine_map(p)
        assert np.all(W == W2) and np.all(b == b2)
        mine, ref = maps.rows(p), net.integer_pattern_rows(p)
        assert np.array_equal(mine[0], ref[0]) and np.all(mine[1] == ref[1]) and np.all(mine[2] == ref[2])
        assert list(mine[3]) == list(ref[3])


@pytest.mark.parametrize("method", ["pdp", "shapley_uniform"])
def test_reduced_flint_integral_equals_the_lifted_contraction(method):
    # certify=True integrates through the lifted Fraction moments (what a certificate records),
    # certify=False through the reduced fmpq moments: the same rationals
    net = random_network([3, 6, 5, 1], rng=7)
    x = np.array([0.25, 0.625, 0.5])
    dom = Box(np.array([-0.5, 0.0, 0.25]), np.array([1.0, 1.0, 0.75]))
    clear_cache()
    plain = attribute(net, x, method, exact=True, domain=dom)
    clear_cache()
    recorded = attribute(net, x, method, exact=True, domain=dom, certify=True)
    clear_cache()
    assert list(plain.values) == list(recorded.values)
    assert all(isinstance(v, Fraction) for v in plain.values)
    if method == "shapley_uniform":
        # completeness, exactly: sum phi = f(x) - E f over the box (base_values is E f)
        fx = net.to_exact()(np.array([Fraction(v) for v in x], dtype=object), output=0)
        assert sum(plain.values) == Fraction(fx) - plain.base_values


def test_exact_region_set_verifies_its_own_float_run():
    # without a proposal, exact_region_set enumerates with exact_fallback=False; the run is then
    # verified on first use and its tight sets are used
    net = random_network([2, 8, 8, 1], rng=3)
    clear_cache()
    er = exact_region_set(net, Box.unit(2, exact=True))
    clear_cache()
    fr = enumerate_regions(net, Box.unit(2))
    assert er.from_verified_split == len(fr) == len(er) and er.total_volume == 1
