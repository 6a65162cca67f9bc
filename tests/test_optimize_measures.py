"""Optimal measures (Theorem 4.1, Corollary 4.1) against closed forms, brute force and polyattr.attribute."""

from itertools import combinations

import numpy as np
import pytest

import polyattr
from polyattr.errors import PolyattrError
from polyattr.optimize.measures import optimal_atomic_measures, optimal_centres, particle_ascent
from polyattr.optimize.objectives import LinearMetric, RecallAtK, infidelity_metric_linear

X = [0.3, 0.6, 0.45, 0.8]


def linear_model(a, b):
    return polyattr.ReLUNetwork([np.array([a], float)], [np.array([b], float)])


def attainable_intervals_linear(a, b, supports, x):
    """[min, max] of a . c + b over each feature's support, in closed form (a box: per-coordinate signs)."""
    a = np.asarray(a, float)
    out = []
    for j in range(len(a)):
        if supports == "domain":
            lo, hi = np.zeros(len(a)), np.ones(len(a))
        else:
            lo, hi = np.array(x, float), np.array(x, float)
            lo[j], hi[j] = 0.0, 1.0
        out.append((b + np.sum(np.minimum(a * lo, a * hi)), b + np.sum(np.maximum(a * lo, a * hi))))
    return np.array(out)


def brute_force_recall(intervals, truth, k, margin):
    """Best recall over all k-subsets that can be strictly separated by ``margin`` (|phi| ranges per feature)."""
    lo_abs = np.where((intervals[:, 0] <= 0) & (intervals[:, 1] >= 0), 0.0, np.min(np.abs(intervals), axis=1))
    hi_abs = np.max(np.abs(intervals), axis=1)
    d, best = len(intervals), 0.0
    for S in combinations(range(d), k):
        rest = [i for i in range(d) if i not in S]
        floor = max((lo_abs[i] for i in rest), default=0.0)
        if min(hi_abs[j] for j in S) >= floor + margin - 1e-12:
            best = max(best, len(set(S) & set(truth)) / len(truth))
    return best


@pytest.mark.parametrize("supports", ["line", "domain"])
@pytest.mark.parametrize("truth,k", [((1, 2), 2), ((0, 3), 1), ((2,), 3)])
def test_recall_centres_match_brute_force_and_attribute(supports, truth, k):
    a, b = [2.0, -0.3, 0.5, -1.2], 0.1
    model = linear_model(a, b)
    objective = RecallAtK(truth, k, margin=0.01)
    res = optimal_centres(model, objective, x=X, supports=supports)
    intervals = attainable_intervals_linear(a, b, supports, X)
    assert res.value == pytest.approx(brute_force_recall(intervals, truth, k, 0.01))
    # the attribution of both measure families, computed by polyattr itself, gives the claimed metric
    dirac = polyattr.attribute(model, X, "measure", measures=res.dirac_family).values
    spread = polyattr.attribute(model, X, "measure", measures=res.spread_family).values
    np.testing.assert_allclose(dirac, res.attribution, atol=1e-12)
    np.testing.assert_allclose(spread, res.attribution, atol=1e-12)
    assert objective.value(dirac) == res.value and objective.separated(dirac, tol=1e-7)
    # a different measure with the same centre wherever the centre is not a vertex: not injective
    for j, (m1, m2) in enumerate(zip(res.dirac_family, res.spread_family)):
        assert (repr(m1) != repr(m2)) == (res.spread[j] > 0)


def test_linear_and_infidelity_metrics_have_closed_form_optima():
    a, b = np.array([1.5, -0.7, 0.2, -2.0]), -0.05
    model = linear_model(a, b)
    g = np.array([1.0, -2.0, 0.5, 1.0])
    res = optimal_centres(model, LinearMetric(tuple(g)), x=X, supports="line")
    intervals = attainable_intervals_linear(a, b, "line", X)
    best = np.where(g > 0, intervals[:, 1], intervals[:, 0])
    assert res.value == pytest.approx(g @ best, abs=1e-7)
    np.testing.assert_allclose(res.attribution, best, atol=1e-6)
    # infidelity on the domain: optimum phi = the clipped gradient, value -(r^2/3)||phi - a||^2
    r = 0.1
    res = optimal_centres(model, infidelity_metric_linear(a, r))
    intervals = attainable_intervals_linear(a, b, "domain", X)
    target = np.clip(a, intervals[:, 0], intervals[:, 1])
    np.testing.assert_allclose(res.attribution, target, atol=1e-5)
    assert res.value == pytest.approx(-(r**2 / 3) * np.sum((target - a) ** 2), abs=1e-8)
    values = polyattr.attribute(model, X, "measure", measures=res.spread_family).values
    np.testing.assert_allclose(values, res.attribution, atol=1e-12)


def test_optimal_centres_refuses_a_nonlinear_model():
    model = polyattr.random_network([2, 6, 1], rng=0)
    with pytest.raises(PolyattrError, match="affine"):
        optimal_centres(model, LinearMetric((1.0, 1.0)))


def grid_extremes(model, lo, hi, n=2001):
    t = np.linspace(0, 1, n)[:, None]
    Z = lo + t * (hi - lo) if np.sum(hi > lo) == 1 else lo + np.random.default_rng(0).random((20000, len(lo))) * (hi - lo)
    v = model(Z)
    return float(np.min(v)), float(np.max(v))


@pytest.mark.parametrize("supports", ["line", "domain"])
def test_atomic_lp_reaches_the_extremes_of_f(supports):
    model = polyattr.random_network([3, 8, 8, 1], rng=4)
    x = X[:3]
    g = np.array([1.0, -1.0, 2.0])
    res = optimal_atomic_measures(model, LinearMetric(tuple(g)), x=x, supports=supports)
    # no sample of the support beats the atoms, and a dense line grid comes within its spacing
    for j in range(3):
        if supports == "line":
            lo, hi = np.array(x), np.array(x)
            lo[j], hi[j] = 0.0, 1.0
        else:
            lo, hi = np.zeros(3), np.ones(3)
        smin, smax = grid_extremes(model, lo, hi)
        assert res.intervals[j, 0] <= smin + 1e-9 and res.intervals[j, 1] >= smax - 1e-9
        if supports == "line":
            assert res.intervals[j, 1] - smax < 1e-2 and smin - res.intervals[j, 0] < 1e-2
    best = np.where(g > 0, res.intervals[:, 1], res.intervals[:, 0])
    assert res.value == pytest.approx(g @ best, abs=1e-7)
    # Corollary 4.1: the attribution of the optimal family, by polyattr.attribute, and of the
    # family with each region's mass collapsed to its centre of mass
    for family in (res.family, res.collapsed_family):
        values = polyattr.attribute(model, x, "measure", measures=family).values
        np.testing.assert_allclose(values, res.attribution, atol=1e-9)


def test_atomic_recall_matches_subset_enumeration():
    model = polyattr.random_network([4, 8, 1], rng=7)
    for truth, k in [((0, 1), 2), ((3,), 1), ((1, 2, 3), 2)]:
        objective = RecallAtK(truth, k, margin=0.005)
        res = optimal_atomic_measures(model, objective, x=X, supports="line")
        assert res.value == pytest.approx(brute_force_recall(res.intervals, truth, k, 0.005))
        values = polyattr.attribute(model, X, "measure", measures=res.family).values
        assert objective.value(values) == res.value


def test_particle_ascent_converges_to_the_lp_optimum():
    a, b = [2.0, -0.3, 0.5, -1.2], 0.1
    model = linear_model(a, b)
    g = (1.0, -1.0, 1.0, 1.0)
    lp = optimal_centres(model, LinearMetric(g), x=X, supports="line")
    run = particle_ascent(model, LinearMetric(g), x=X, supports="line", steps=200, rng=0)
    assert len(run.trace) == 201
    assert lp.value - run.value <= 1e-3 * (lp.value - run.trace[0])
    relu = polyattr.random_network([3, 8, 8, 1], rng=4)
    lp = optimal_atomic_measures(relu, LinearMetric((1.0, -1.0, 2.0)), supports="domain")
    run = particle_ascent(relu, LinearMetric((1.0, -1.0, 2.0)), supports="domain", steps=300, rng=1)
    assert run.value <= lp.value + 1e-9  # the LP over region vertices is the true optimum
    assert lp.value - run.value <= 0.01 * (lp.value - run.trace[0])
    values = polyattr.attribute(relu, X[:3], "measure", measures=run.family).values
    np.testing.assert_allclose(values, run.attribution, atol=1e-9)
    objective = RecallAtK((0, 2), 2, margin=0.0)
    milp = optimal_atomic_measures(relu, RecallAtK((0, 2), 2, margin=0.01), x=X[:3], supports="line")
    run = particle_ascent(relu, objective, x=X[:3], supports="line", steps=200, rng=2)
    assert run.value == milp.value


def test_bad_objectives_raise():
    with pytest.raises(PolyattrError, match="truth"):
        RecallAtK((), 1)
    with pytest.raises(PolyattrError, match="k"):
        optimal_centres(linear_model([1.0, 2.0], 0.0), RecallAtK((0,), 3))
    with pytest.raises(PolyattrError, match="x"):
        optimal_centres(linear_model([1.0, 2.0], 0.0), RecallAtK((0,), 1), supports="line")


def test_atomic_qp_reaches_the_clipped_target():
    from polyattr.optimize.objectives import QuadraticMetric

    model = polyattr.random_network([3, 8, 8, 1], rng=9)
    x = X[:3]
    target = np.array([0.2, -5.0, 5.0])  # inside, below and above the attainable intervals (likely)
    weights = np.array([1.0, 2.0, 0.5])
    Q = np.diag(weights)
    objective = QuadraticMetric(tuple(map(tuple, Q)), tuple(-2 * weights * target), float(weights @ target**2))
    res = optimal_atomic_measures(model, objective, x=x, supports="line")
    # separable: each phi_j is the target clipped to the attainable interval [min f, max f] on its line
    expected = np.clip(target, res.intervals[:, 0], res.intervals[:, 1])
    np.testing.assert_allclose(res.attribution, expected, atol=1e-6)
    assert res.value == pytest.approx(-float(weights @ (expected - target) ** 2), rel=1e-7)
    values = polyattr.attribute(model, x, "measure", measures=res.family).values
    np.testing.assert_allclose(values, res.attribution, atol=1e-9)
