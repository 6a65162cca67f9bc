"""Baseline Shapley (batched hybrid points, vectorised / integer weights) against independent references:
the permutation formula (average of marginal contributions over all d! orders, a different sum from
the 2^d subset formula), evaluated point by point, and shap's ExactExplainer."""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

import polyattr
from polyattr.attribution import shapley_kernel
from polyattr.models import ReLUNetwork, random_network


def _permutation_shapley(f, x, baseline, zero):
    d = len(x)
    phi = [zero] * d
    for order in itertools.permutations(range(d)):
        z = list(baseline)
        prev = f(z)
        for j in order:
            z[j] = x[j]
            cur = f(z)
            phi[j] += cur - prev
            prev = cur
    return [p / math.factorial(d) for p in phi]


def test_float_shapley_equals_permutation_formula():
    net = random_network([5, 8, 8, 1], rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x, b = rng.uniform(size=5), rng.uniform(size=5)
    got = polyattr.attribute(net, x, "shapley", baseline=b)
    ref = _permutation_shapley(lambda z: float(net(np.array(z))), list(x), list(b), 0.0)
    assert np.all(np.abs(got.values - np.array(ref)) <= got.error_bound + 1e-15)
    assert got.error_bound < 1e-12


def test_exact_shapley_on_integers_equals_permutation_formula_with_leaky_and_identity_units():
    rng = np.random.default_rng(2)
    W = [np.round(rng.normal(size=(4, 4)) * 64) / 64, np.round(rng.normal(size=(3, 4)) * 64) / 64,
         np.round(rng.normal(size=(1, 3)) * 64) / 64]
    B = [np.round(rng.normal(size=4) * 64) / 64, np.round(rng.normal(size=3) * 64) / 64, np.zeros(1)]
    slopes = [np.array([Fraction(0), Fraction(1, 3), Fraction(1), Fraction(2, 7)], dtype=object),
              np.array([Fraction(0), Fraction(0), Fraction(1, 5)], dtype=object)]
    net = ReLUNetwork(W, B, negative_slopes=slopes, exact=True)
    x = [Fraction(1, 3), Fraction(-2, 5), Fraction(7, 9), Fraction(1, 2)]
    b = [Fraction(0), Fraction(1, 7), Fraction(-1, 3), Fraction(1, 11)]
    got = polyattr.attribute(net, x, "shapley", baseline=b, domain=([-1] * 4, [1] * 4), exact=True)
    ref = _permutation_shapley(lambda z: net(np.array(z, dtype=object)), x, b, Fraction(0))
    assert list(got.values) == ref
    assert got.base_values == net(np.array(b, dtype=object))


def test_exact_integer_path_with_huge_numerators_uses_python_integers():
    # weights with large denominators force the object-integer fallback of the int64 fast path
    rng = np.random.default_rng(3)
    W = [np.array([[Fraction(int(v), 2**61 + 1) for v in row] for row in rng.integers(-2**60, 2**60, size=(3, 3))],
                  dtype=object), np.array([[Fraction(1, 3), Fraction(-2, 3), Fraction(5, 7)]], dtype=object)]
    B = [np.array([Fraction(1, 2**70), Fraction(-1, 5), Fraction(0)], dtype=object), np.array([Fraction(0)], dtype=object)]
    net = ReLUNetwork(W, B, exact=True)
    x, b = [Fraction(1, 2), Fraction(1, 3), Fraction(2, 3)], [Fraction(0)] * 3
    got = polyattr.attribute(net, x, "shapley", baseline=b, exact=True)
    assert list(got.values) == _permutation_shapley(lambda z: net(np.array(z, dtype=object)), x, b, Fraction(0))


def test_shapley_equals_shap_exact_explainer():
    import shap  # in the dev extra
    net = random_network([8, 16, 16, 1], rng=np.random.default_rng(4))
    rng = np.random.default_rng(5)
    x, b = rng.uniform(size=8), rng.uniform(size=8)
    explainer = shap.explainers.Exact(lambda X: net(np.asarray(X, dtype=float)), b[None, :])
    ref = explainer(x[None, :]).values[0]
    got = polyattr.attribute(net, x, "shapley", baseline=b)
    assert np.max(np.abs(got.values - ref)) <= 1e-12


def test_refuses_beyond_the_budget_with_an_estimate():
    with pytest.raises(polyattr.PolyattrError, match="GiB of memory"):
        shapley_kernel.check_budget(30, [32, 32, 1])
    shapley_kernel.check_budget(12, [32, 32, 1])  # well within
    # within memory, but a batch that would run for hours is refused with the time it would take
    with pytest.raises(polyattr.PolyattrError, match=r"estimated [0-9.e+]+ s"):
        shapley_kernel.check_budget(20, [32, 32, 1], points=10_000)
    net = random_network([20, 32, 1], rng=0)  # about 1.8 s per input by the estimate
    with pytest.raises(polyattr.PolyattrError, match="budget"):
        polyattr.attribute(net, np.full((400, 20), 0.5), "shapley", baseline=np.zeros(20))


def test_hybrid_error_bound_covers_the_per_point_bounds_and_the_exact_errors():
    # the one-pass magnitude bound must dominate the per-point rigorous bounds and the true errors
    rng = np.random.default_rng(6)
    net = random_network([6, 12, 12, 1], rng=rng)
    x, b = rng.uniform(-4, 4, size=6), rng.uniform(-1, 1, size=6)
    points = np.where(shapley_kernel.subset_masks(6), x, b)
    bound = shapley_kernel.hybrid_error_bound(net, x, b, 0)
    assert bound >= float(np.max(net.evaluation_error_bound(points, 0)))
    exact = net.to_exact()
    true_errors = [abs(Fraction(float(net(p))) - exact(np.array([Fraction(v) for v in p], dtype=object)))
                   for p in points[:16]]
    assert float(max(true_errors)) <= bound
