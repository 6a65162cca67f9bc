"""A posteriori verification of float split partitions (polyattr.geometry.verify_partition).

Independent references: the exact enumeration (``exact_region_set``: exact rows, cdd.gmp vertices,
exact tiling) for pattern sets, and exact vertices of the exact regions (cdd.gmp) for the proven
vertex radii; hand-corrupted split results (a flipped pattern bit, a moved vertex, a dropped mask
bit) must fail.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from polyattr import Box, ReLUNetwork, enumerate_regions, random_network
from polyattr.geometry.exact_regions import clear_cache, exact_region_set
from polyattr.geometry.splitting import split_enumerate
from polyattr.geometry.verify_partition import exact_data, verify_split_partition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from degenerate_cases import FAMILIES, degenerate_case  # noqa: E402


def _split_and_check(net, lower, upper):
    box = Box(lower, upper)
    res = split_enumerate(net.weights, net.biases, box.lower, box.upper, negative_slopes=net.negative_slopes,
                          compute_volumes=False)
    data = exact_data(net, box, box.reduce(), net)
    check = verify_split_partition(data, res.patterns, res.vertices, res.vertex_masks, res.vertex_offsets)
    return res, data, check


def _exact_vertex_match(res, check, exact, i_float):
    """Every float vertex of region i_float is within its proven radius of an exact vertex of the
    exact region with the same pattern, one to one."""
    key = res.patterns[i_float].tobytes()
    j = [p.tobytes() for p in exact.patterns].index(key)
    ex = exact.vertices(j)
    fl = res.region_vertices(i_float)
    assert len(ex) == len(fl)
    r = Fraction(float(check.vertex_radius[i_float]))
    used = set()
    for v in fl:
        fv = [Fraction(float(x)) for x in v]
        hits = [a for a in range(len(ex)) if a not in used and max(abs(fv[c] - ex[a][c]) for c in range(len(fv))) <= r]
        assert hits, (v, r)
        used.add(hits[0])


@pytest.mark.parametrize("family", FAMILIES)
def test_verified_results_are_exact_on_the_degenerate_corpus(family):
    clear_cache()
    n_verified = n_failed = 0
    for seed in range(25):
        _, net, lower, upper = degenerate_case(1000 * FAMILIES.index(family) + seed, family)
        res, data, check = _split_and_check(net, lower, upper)
        assert data is not None
        exact = exact_region_set(net, Box(lower, upper, exact=True))
        same = {p.tobytes() for p in res.patterns} == {p.tobytes() for p in exact.patterns}
        if check.verified:
            n_verified += 1
            assert same and len(res) == len(exact)
            for i in range(len(res)):
                _exact_vertex_match(res, check, exact, i)
        else:
            # a float run that is wrong (missed regions, or vertices on the wrong faces: e.g. x - y = 1
            # through the corners of a 1e21 box) fails; enumerate_regions then repairs it exactly
            n_failed += 1
            assert len(check.failed_regions) > 0
            regions = enumerate_regions(net, (lower, upper), backend="split")
            assert regions.backend == "split+exact"
            assert {p.tobytes() for p in regions.patterns} == {p.tobytes() for p in exact.patterns}
    # the proof is meant to go through on these (exact checks take the degenerate vertices); huge
    # boxes defeat float runs more often
    assert n_verified >= (15 if family == "scaled" else 20), (n_verified, n_failed)


def _corrupt_and_check(res, data, **change):
    patterns = res.patterns.copy()
    vertices = res.vertices.copy()
    masks = res.vertex_masks.copy()
    if "flip" in change:
        r, b = change["flip"]
        patterns[r, b] = ~patterns[r, b]
    if "move" in change:
        v, delta = change["move"]
        vertices[v] += delta
    if "drop" in change:
        v, c = change["drop"]
        masks[v, c >> 6] &= ~np.uint64(1 << (c & 63))
    return verify_split_partition(data, patterns, vertices, masks, res.vertex_offsets)


def test_corrupted_partitions_fail():
    net = random_network([2, 6, 6, 1], rng=3)
    res, data, check = _split_and_check(net, np.zeros(2), np.ones(2))
    assert check.verified and check.exact_vertex_checks == 0
    n_bits = res.patterns.shape[1]
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = int(rng.integers(len(res)))
        assert not _corrupt_and_check(res, data, flip=(r, int(rng.integers(n_bits)))).verified
    for _ in range(10):
        v = int(rng.integers(len(res.vertices)))
        assert not _corrupt_and_check(res, data, move=(v, rng.normal(size=2) * 1e-3)).verified
        # a tiny move verifies, with a radius that covers it
        moved = _corrupt_and_check(res, data, move=(v, np.array([3e-13, -2e-13])))
        assert moved.verified
        r = int(np.searchsorted(res.vertex_offsets, v, side="right") - 1)
        assert moved.vertex_radius[r] >= 2e-13
    for _ in range(10):
        v = int(rng.integers(len(res.vertices)))
        bits = [c for c in range(64 * res.vertex_masks.shape[1]) if (int(res.vertex_masks[v, c >> 6]) >> (c & 63)) & 1]
        assert not _corrupt_and_check(res, data, drop=(v, int(rng.choice(bits)))).verified


def test_near_degenerate_networks_verify_or_fall_back_exactly():
    # hyperplanes 1e-13 apart, and vertices within 1e-14 of a box face
    cases = []
    for eps in (1e-13, 1e-14, 0.0):
        W0 = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, -1.0], [1.0, 0.0]])
        b0 = np.array([-1.0, -1.0 - eps, 0.0, -1.0 + eps])
        W1 = np.array([[1.0, -2.0, 1.0, 0.5], [0.25, 1.0, -1.0, 1.0]])
        cases.append(ReLUNetwork([W0, W1, np.ones((1, 2))], [b0, np.array([-0.5, 0.125]), np.zeros(1)]))
    for net in cases:
        lower, upper = np.zeros(2), np.ones(2)
        clear_cache()
        exact = exact_region_set(net, Box(lower, upper, exact=True))
        res, data, check = _split_and_check(net, lower, upper)
        if check.verified:
            assert {p.tobytes() for p in res.patterns} == {p.tobytes() for p in exact.patterns}
            for i in range(len(res)):
                _exact_vertex_match(res, check, exact, i)
        regions = enumerate_regions(net, (lower, upper), backend="split")
        assert {p.tobytes() for p in regions.patterns} == {p.tobytes() for p in exact.patterns}
        lp = enumerate_regions(net, (lower, upper), backend="lp")
        assert {p.tobytes() for p in lp.patterns} == {p.tobytes() for p in exact.patterns}


@pytest.mark.parametrize("scale", [2.0**-30, 1.0, 2.0**40, 1e20])
def test_tiny_and_huge_boxes_verify_or_are_repaired(scale):
    net = ReLUNetwork([np.array([[1.0, 2.0], [-1.0, 1.0], [2.0, -1.0]]), np.array([[1.0, -1.0, 1.0]])],
                      [np.array([0.5, -0.25, 1.0]), np.zeros(1)])
    lower, upper = np.array([-scale, -scale]), np.array([scale, 2 * scale])
    clear_cache()
    exact = exact_region_set(net, Box(lower, upper, exact=True))
    regions = enumerate_regions(net, (lower, upper), backend="split")
    assert {p.tobytes() for p in regions.patterns} == {p.tobytes() for p in exact.patterns}
    if regions.backend == "split":  # verified: radii are available and cover the exact vertices
        res, _, check = _split_and_check(net, lower, upper)
        assert check.verified
        for i in range(len(res)):
            _exact_vertex_match(res, check, exact, i)


def test_region_set_exposes_vertex_radius_and_ambiguous_runs_are_accepted_when_verified():
    # integer weights: many values exactly 0 and vertices where several hyperplanes meet
    net = ReLUNetwork([np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]]), np.array([[1.0, 1.0, -1.0], [0.0, 1.0, 1.0]]),
                       np.ones((1, 2))], [np.array([-1.0, 0.0, -1.0]), np.array([-1.0, 0.0]), np.zeros(1)])
    regions = enumerate_regions(net, ((0, 0), (1, 1)), backend="split")
    assert regions.backend == "split"
    radius = regions.vertex_radius
    assert radius.shape == (len(regions),) and np.all(radius >= 0)
    assert regions.exact_vertex_checks > 0  # degenerate vertices went to the exact check
    lazy = enumerate_regions(net, ((0, 0), (1, 1)), backend="split", exact_fallback=False)
    assert np.array_equal(lazy.vertex_radius, radius)
    assert enumerate_regions(net, ((0, 0), (1, 1)), backend="lp").vertex_radius is None


def _exact_patterns(net, domain):
    clear_cache()
    return {p.tobytes() for p in exact_region_set(net, domain).patterns}


def test_slices_segments_and_decimal_exact_models_verify_against_the_exact_data():
    from polyattr import AffineSlice, Segment

    net = random_network([3, 8, 6, 1], rng=11)
    box = Box(np.zeros(3), np.ones(3))
    # a slice at a decimal value and a segment between decimal points: the composed float network
    # is rounded, the verification bounds that data error against the exact composition
    for domain, exact_domain in (
        (AffineSlice(box, {1: 0.1}), AffineSlice(Box(np.zeros(3), np.ones(3), exact=True), {1: 0.1})),
        (Segment([0.1, 0.2, 0.3], [0.9, 0.7, 0.05]), Segment([0.1, 0.2, 0.3], [0.9, 0.7, 0.05], exact=True)),
    ):
        regions = enumerate_regions(net, domain, backend="split")
        assert regions.backend == "split"
        assert regions.vertex_radius is not None and np.all(regions.vertex_radius < 1e-9)
        assert {p.tobytes() for p in regions.patterns} == _exact_patterns(net, exact_domain)
    # an exact model with decimal weights: the float network is its rounding
    W0 = [[Fraction(1, 10), Fraction(-3, 10)], [Fraction(2, 10), Fraction(1, 10)], [Fraction(-7, 10), Fraction(1, 3)]]
    exact_net = ReLUNetwork([np.array(W0, dtype=object), np.array([[Fraction(1), Fraction(-1), Fraction(1, 2)]], dtype=object)],
                            [np.array([Fraction(-1, 20), Fraction(-1, 10), Fraction(1, 5)], dtype=object),
                             np.array([Fraction(0)], dtype=object)])
    regions = enumerate_regions(exact_net, ((0, 0), (1, 1)), backend="split")
    assert regions.backend == "split"
    assert {p.tobytes() for p in regions.patterns} == _exact_patterns(exact_net, Box([0, 0], [1, 1], exact=True))
    # its data errors are not zero: the radii cover the distance of the float vertices from the
    # exact vertices of the exact model
    clear_cache()
    exact = exact_region_set(exact_net, Box([0, 0], [1, 1], exact=True))
    for i in range(len(regions)):
        j = [p.tobytes() for p in exact.patterns].index(regions.patterns[i].tobytes())
        ex = exact.vertices(j)
        r = Fraction(float(regions.vertex_radius[i]))
        for v in regions.vertices(i)[0]:
            assert min(max(abs(Fraction(float(x)) - e[c]) for c, x in enumerate(v)) for e in ex) <= r


def test_leaky_and_identity_units_verify():
    net = ReLUNetwork([np.array([[1.0, -1.0], [0.5, 1.0], [1.0, 1.0]]), np.array([[1.0, 1.0, -1.0], [-1.0, 0.5, 1.0]]),
                       np.ones((1, 2))], [np.array([0.1, -0.3, -0.7]), np.array([0.2, -0.1]), np.zeros(1)],
                      negative_slopes=[np.array([0.1, 1.0, 0.0]), np.array([0.3, 0.0])])
    lower, upper = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    res, data, check = _split_and_check(net, lower, upper)
    assert check.verified
    clear_cache()
    exact = exact_region_set(net, Box(lower, upper, exact=True))
    assert {p.tobytes() for p in res.patterns} == {p.tobytes() for p in exact.patterns}
    for i in range(len(res)):
        _exact_vertex_match(res, check, exact, i)


def test_runs_with_zero_band_values_are_proven_instead_of_re_enumerated():
    # second-layer units that are differences of first-layer units pass exactly through first-layer
    # vertices: their float values there are rounding noise inside the zero band (n_ambiguous > 0,
    # which used to send every such run to the exact re-enumeration); the exact values are 0
    rng = np.random.default_rng(1)
    for _ in range(4):
        W0 = rng.uniform(-1, 1, size=(4, 2))
        b0 = rng.uniform(-0.5, 0.5, size=4)
        W1 = np.array([[1.0, -1.0, 0, 0], [0, 0, 1.0, -1.0], [1.0, 0, -1.0, 0]])
        net = ReLUNetwork([W0, W1, np.ones((1, 3))], [b0, np.zeros(3), np.zeros(1)])
        lower, upper = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
        res, data, check = _split_and_check(net, lower, upper)
        assert res.n_ambiguous > 0
        assert check.verified and check.exact_vertex_checks > 0
        clear_cache()
        exact = exact_region_set(net, Box(lower, upper, exact=True))
        assert {p.tobytes() for p in res.patterns} == {p.tobytes() for p in exact.patterns}
        for i in range(len(res)):
            _exact_vertex_match(res, check, exact, i)
        regions = enumerate_regions(net, (lower, upper), backend="split")
        assert regions.backend == "split" and regions.exact_vertex_checks == check.exact_vertex_checks
