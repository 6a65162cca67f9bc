"""What is proven on the LP path above dimension 6 and on the distributed path (RegionSet.proven).

Independent reference: :func:`polyattr.geometry.exact_regions.exact_region_set` (rational
arithmetic, its float proposal from the split backend), on degenerate integer-weight networks.
"""

import numpy as np

from polyattr import ReLUNetwork
from polyattr.geometry import regions as regions_module
from polyattr.geometry.distributed import box_integral, enumerate_regions_distributed
from polyattr.geometry.domains import Polytope
from polyattr.geometry.exact_regions import exact_region_set
from polyattr.geometry.regions import enumerate_regions
from polyattr.models.relu import pattern_key


def _keys(patterns):
    return sorted(pattern_key(p) for p in patterns)


def _seven_input_net():
    # integer weights: a hyperplane through box corners and two parallel neurons (a degenerate case)
    W = np.array([[1, 1, 0, 0, 0, 0, 0], [1, -1, 1, 0, 0, 0, 1], [2, -2, 2, 0, 0, 0, 2]], dtype=float)
    b = np.array([0.0, 1.0, -1.0])
    return ReLUNetwork([W, np.array([[1.0, -1.0, 2.0]])], [b, np.zeros(1)])


def _box(d):
    return (-np.ones(d), np.ones(d))


def test_lp_above_dimension_6_is_proven_by_a_verified_split_run():
    net = _seven_input_net()
    got = enumerate_regions(net, _box(7))
    exact = exact_region_set(net, _box(7), backend="split")
    assert got.backend == "lp"  # auto picks the LP backend above dimension 6
    assert got.proven
    assert _keys(got.patterns) == _keys(exact.patterns)


def test_lp_run_missing_a_region_is_repaired_exactly(monkeypatch):
    net = _seven_input_net()
    original = regions_module._lp_traversal

    def lossy(*args):
        regions, ambiguous = original(*args)
        keep = slice(0, len(regions) - 1)  # drop one region: the cross-check must catch it
        return regions_module.RegionSet(regions.model, regions.domain, regions.reduction, regions.patterns[keep],
                                        regions.interior_points[keep], regions.volumes[keep] * 0 + 2.0**7
                                        / (len(regions) - 1), regions.centroids[keep], "lp", 0.0,
                                        facets=regions.facets[keep]), ambiguous

    monkeypatch.setattr(regions_module, "_lp_traversal", lossy)
    got = enumerate_regions(net, _box(7))
    exact = exact_region_set(net, _box(7), backend="split")
    assert got.backend == "lp+exact"
    assert got.proven
    assert _keys(got.patterns) == _keys(exact.patterns)


def test_lp_run_too_costly_to_cross_check_is_marked_unproven(monkeypatch):
    monkeypatch.setattr(regions_module, "_CROSS_CHECK_MAX_ROWS", 0)
    got = enumerate_regions(_seven_input_net(), _box(7))
    assert got.backend == "lp"
    assert not got.proven


def test_polytope_domains_are_unproven():
    net = ReLUNetwork([np.array([[1.0, -1.0], [1.0, 1.0]]), np.array([[1.0, 1.0]])], [np.zeros(2), np.zeros(1)])
    square = Polytope(np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]]), np.ones(4))
    got = enumerate_regions(net, square)
    assert len(got) == 4 and not got.proven


def test_unverified_split_run_becomes_proven_when_its_radii_are_computed():
    net = _seven_input_net()
    lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    small = ReLUNetwork([net.weights[0][:, :2], net.weights[1]], list(net.biases))
    got = enumerate_regions(small, (lo, hi), exact_fallback=False)
    assert not got.proven
    assert got.vertex_radius is not None and got.proven


def test_distributed_merge_is_proven_and_exact():
    # degenerate 3-input network: integer weights, hyperplanes through the sub-box boundaries (0)
    W1 = np.array([[1, 0, 0], [1, 1, 0], [0, 1, -1], [2, 2, 0]], dtype=float)
    b1 = np.array([0.0, 0.0, 1.0, 1.0])
    net = ReLUNetwork([W1, np.array([[1.0, -2.0, 1.0, 1.0]])], [b1, np.zeros(1)])
    box = _box(3)
    merged = enumerate_regions_distributed(net, box, client=None, pieces=4)
    exact = exact_region_set(net, box, backend="split")
    assert merged.proven
    assert merged.vertex_radius is None  # no vertex table survives the merge
    assert _keys(merged.patterns) == _keys(exact.patterns)
    integral = box_integral(net, box, pieces=4)
    assert integral.proven
