"""Exact mode: exact region sets (tiling checked exactly) and exact=True for every method.

The exact region set is checked against things computed without it: float region counts and
moments, hand-computed regions of small integer networks, and deliberately broken float
enumerations (a region dropped, duplicated, a wrong pattern, none at all) which the exact traversal
must repair to the same regions.  Every method of the
contract is run in exact and float mode on random networks: exact values are Fractions and lie
within the float result's stated error bound.
"""

from fractions import Fraction

import numpy as np
import pytest

from polyattr import AffineSlice, Box, PolyattrError, ReLUNetwork, Segment, attribute, random_network
from polyattr.geometry.exact_regions import ExactRegionSet, canonical_rows, clear_cache, exact_region_set
from polyattr.geometry.regions import enumerate_regions

EXACT_METHODS = ["gradient", "gradient_x_input", "ig", "occlusion", "pdp", "ice", "shapley", "shapley_uniform",
                 "smoothgrad_uniform", "lime_uniform", "fafp_local", "fafp_global", "deeplift", "epsilon_lrp",
                 "expected_gradients"]


def dyadic_network(sizes, seed, denominator=64):
    """A random network with weights rounded to multiples of 1/denominator (small exact rationals)."""
    net = random_network(sizes, rng=seed)
    return ReLUNetwork([np.round(W * denominator) / denominator for W in net.weights],
                       [np.round(b * denominator) / denominator for b in net.biases])


class _Proposals:
    """A stand-in for a float RegionSet: only patterns (no float vertices, so all rows go to cdd)."""

    def __init__(self, patterns):
        self.patterns = np.asarray(patterns, bool)

    def __len__(self):
        return len(self.patterns)

    def vertices(self, i):
        raise PolyattrError("no float vertices")


# ------------------------------------------------------------------------------ exact regions
@pytest.mark.parametrize("d,seed", [(2, 0), (2, 1), (3, 2)])
def test_exact_regions_match_float_enumeration(d, seed):
    net = random_network([d, 8, 8, 1], rng=seed)
    floats = enumerate_regions(net, Box.unit(d))
    exact = exact_region_set(net, Box.unit(d, exact=True), floats)
    assert isinstance(exact, ExactRegionSet)
    assert len(exact) == len(floats) and exact.dim == d
    assert exact.total_volume == 1 and all(isinstance(v, Fraction) and v > 0 for v in exact.volumes)
    m0, m1, M2 = exact.moments(2)
    assert all(isinstance(v, Fraction) for v in m1.ravel()) and all(isinstance(v, Fraction) for v in M2.ravel())
    # same regions as the float enumeration, same moments to rounding
    order = {bytes(np.packbits(p)): i for i, p in enumerate(floats.patterns)}
    f0, f1, _ = floats.moments(1)
    for i, p in enumerate(exact.patterns):
        j = order[bytes(np.packbits(p))]
        assert abs(float(m0[i]) - f0[j]) < 1e-12
        assert np.allclose(m1[i].astype(float), f1[j], atol=1e-12)
    # patterns in canonical (sorted) order, H-forms irredundant and satisfied by the vertices
    keys = [tuple(int(b) for b in p) for p in exact.patterns]
    assert keys == sorted(keys)
    for i in range(len(exact)):
        A, b = exact.halfspaces(i)
        V = exact.vertices(i)
        slack = b[None, :] - V @ A.T
        assert np.all(slack >= 0)
        assert all(np.sum(slack[:, r] == 0) >= d for r in range(len(b)))  # every row is tight on a facet
    W, bb = exact.affine_maps(0)
    assert W.shape == (len(exact), d) and isinstance(W[0, 0], Fraction)


def test_hand_computed_regions():
    # f = relu(z1 - z2) on the unit square: two triangles of area 1/2
    net = ReLUNetwork([[[1, -1]], [[1]]], [[0], [0]])
    exact = exact_region_set(net, Box.unit(2, exact=True))
    assert len(exact) == 2
    assert sorted(exact.volumes) == [Fraction(1, 2), Fraction(1, 2)]
    _, m1, _ = exact.moments(1)
    # centroids (2/3, 1/3) on the active side and (1/3, 2/3) on the other
    active = int(np.flatnonzero(exact.patterns[:, 0])[0])
    assert list(m1[active]) == [Fraction(1, 3), Fraction(1, 6)]
    # on a slice z1 = 1/4 (a segment in z2): the kink at z2 = 1/4
    sl = exact_region_set(net, AffineSlice(Box.unit(2, exact=True), {0: Fraction(1, 4)}))
    assert sl.dim == 1 and sorted(sl.volumes) == [Fraction(1, 4), Fraction(3, 4)]
    # on a segment, measured in t in [0, 1]
    seg = exact_region_set(net, Segment([0, Fraction(1, 2)], [1, 0], exact=True))  # z1 - z2 = (3t - 1)/2
    assert seg.dim == 1 and sorted(seg.volumes) == [Fraction(1, 3), Fraction(2, 3)] and seg.total_volume == 1
    # a point (all coordinates fixed): one region of dimension 0 and mass 1
    pt = exact_region_set(net, AffineSlice(Box.unit(2, exact=True), {0: Fraction(1, 2), 1: Fraction(1, 4)}))
    assert len(pt) == 1 and pt.dim == 0 and list(pt.volumes) == [1] and bool(pt.patterns[0, 0])


def _as_table(exact):
    return {p.tobytes(): v for p, v in zip(exact.patterns, exact.volumes)}


def test_missing_duplicated_or_wrong_regions_are_repaired_exactly():
    """Broken proposals (a region dropped, one duplicated, an infeasible pattern, nothing at all)
    give the same exact regions as the full float enumeration, found by the exact traversal."""
    clear_cache()
    net = dyadic_network([2, 8, 8, 1], seed=4)
    floats = enumerate_regions(net, Box.unit(2))
    assert len(floats) > 2
    reference = exact_region_set(net, Box.unit(2, exact=True), floats)
    assert reference.repaired == 0 and reference.total_volume == 1
    bad = floats.patterns.copy()
    bad[0] = ~bad[0]
    proposals = [floats.patterns[1:], np.vstack([floats.patterns, floats.patterns[:1]]), bad,
                 floats.patterns[:0], floats.patterns[::3]]
    for patterns in proposals:
        clear_cache()
        repaired = exact_region_set(net, Box.unit(2, exact=True), _Proposals(patterns))
        assert _as_table(repaired) == _as_table(reference)
        assert repaired.total_volume == 1
    clear_cache()


def test_degenerate_neurons_canonical_patterns():
    # duplicated first-layer neurons, and a second-layer neuron identically 0 (zero weights and bias)
    W0 = [[1, -1], [1, -1], [2, 1]]
    W1 = [[1, 0, 0], [0, 0, 0], [0, 1, 1]]
    net = ReLUNetwork([W0, W1, [[1, -1, 1]]], [[0, 0, Fraction(-1, 2)], [0, 0, Fraction(-1, 4)], [0]], exact=True)
    exact = exact_region_set(net, Box.unit(2, exact=True))
    assert exact.total_volume == 1
    assert not exact.patterns[:, 4].any()  # the dead neuron is always inactive
    # canonical_rows turns an identically-zero neuron inactive even when asked otherwise
    pat = np.array([True, True, True, True, True, True])
    canon, A, c = canonical_rows(net, pat)
    assert not canon[4]


def test_exact_regions_on_slices_and_segments_of_random_networks():
    net = random_network([3, 8, 8, 1], rng=5)
    box = Box.unit(3, exact=True)
    for dom in [AffineSlice(box, {1: Fraction(1, 3)}), AffineSlice(box, {0: Fraction(1, 5), 2: Fraction(7, 8)}),
                Segment([0, 0, 0], [1, 1, Fraction(1, 2)], exact=True)]:
        exact = exact_region_set(net, dom)
        assert exact.total_volume == dom.volume
        floats = enumerate_regions(net, type(dom)(*_float_args(dom)))
        assert len(exact) == len(floats)


def _float_args(dom):
    if isinstance(dom, AffineSlice):
        return Box.unit(3), {i: float(v) for i, v in dom.fixed.items()}
    return dom.start.astype(float), dom.end.astype(float)


# -------------------------------------------------------------------------- exact methods
@pytest.mark.parametrize("d,seed", [(2, 11), (3, 12)])
@pytest.mark.parametrize("method", EXACT_METHODS)
def test_exact_method_agrees_with_float(method, d, seed):
    net = random_network([d, 8, 8, 1], rng=seed)
    rng = np.random.default_rng(seed)
    x = np.round(rng.uniform(0.05, 0.95, size=d), 3)
    options = {}
    if method == "expected_gradients":
        options["background"] = np.round(rng.uniform(0, 1, size=(2, d)), 3)
    if method in ("smoothgrad_uniform", "lime_uniform"):
        options["radius"] = 0.125
    exact = attribute(net, x, method, exact=True, **options)
    floating = attribute(net, x, method, **options)
    assert exact.exact and all(isinstance(v, Fraction) for v in exact.values)
    assert exact.error_bound == 0
    gap = np.abs(exact.values.astype(float) - floating.values)
    assert np.all(gap <= floating.error_bound + 4 * np.finfo(float).eps * np.abs(floating.values)), (
        method, gap, floating.error_bound)


def test_expected_gradients_uniform_is_not_exact():
    net = random_network([2, 8, 1], rng=0)
    res = attribute(net, [0.5, 0.5], "expected_gradients_uniform", exact=True, samples=8, rng=0)
    assert not res.exact


def test_exact_mode_is_deterministic():
    net = random_network([2, 8, 8, 1], rng=3)
    a = attribute(net, [0.3, 0.6], "shapley_uniform", exact=True)
    clear_cache()
    b = attribute(net, [0.3, 0.6], "shapley_uniform", exact=True)
    assert list(a.values) == list(b.values)


def test_decimal_weights_and_one_input_networks_in_exact_mode():
    """Weights given as decimal strings are the rationals they denote; the float twin moves the
    hyperplanes (0.3 z - 0.09 = 0 at z = 3/10 exactly, not in floats) and hyperplanes pass through
    box corners; exact values are checked against closed forms computed by hand."""
    clear_cache()
    net = ReLUNetwork([[["0.1"], ["-0.3"], ["0.2"]], [["1", "2", "-1"]]], [["-0.03", "0.06", "-0.1"], ["0"]], exact=True)
    # on [0.2, 0.4]: neuron 0 is active for z > 3/10 (slope 1/10), neurons 1, 2 inactive
    assert list(attribute(net, ["0.3"], "smoothgrad_uniform", exact=True).values) == [Fraction(1, 20)]
    assert list(attribute(net, ["0.3"], "ig", baseline=["0"], exact=True).values) == [Fraction(-3, 25)]
    regions = exact_region_set(net, Box(["0.2"], ["0.4"], exact=True))
    assert sorted(regions.volumes) == [Fraction(1, 10), Fraction(1, 10)]
    clear_cache()
