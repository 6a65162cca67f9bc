"""Theorem 2.1 check, and the black-box Shapley / Integrated Gradients it relies on."""

import argparse
import itertools
import json
from fractions import Fraction
from math import factorial

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box
from polyattr.models.relu import ReLUNetwork
from polyattr.models.softplus import SoftplusNetwork
from polyattr.theory.blackbox import (
    baseline_shapley,
    integrated_gradients_smooth,
    shapley_coefficients,
)
from polyattr.theory.theorem21 import (
    GaussianSmoothedReLU,
    QuadraticModel,
    run_theorem21_cli,
    shapley_sup_to_l2_norm,
    theorem21,
)


def random_softplus(rng, sizes, beta=1.0, scale=1.0):
    Ws = [rng.normal(size=(o, i)) * scale / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=o) * 0.5 for o in sizes[1:]]
    return SoftplusNetwork(Ws, bs, beta=beta)


# ----------------------------------------------------------------- baseline Shapley
def brute_force_shapley(f, x, xb):
    """Shapley values from the permutation definition (d! orderings), independent of the code."""
    d = len(x)
    phi = [Fraction(0)] * d
    for order in itertools.permutations(range(d)):
        z = list(xb)
        prev = f(z)
        for j in order:
            z[j] = x[j]
            cur = f(z)
            phi[j] += cur - prev
            prev = cur
    return [p / factorial(d) for p in phi]


def test_shapley_matches_permutation_definition_exactly():
    x = [Fraction(1, 3), Fraction(2), Fraction(-1, 2), Fraction(5, 7)]
    xb = [Fraction(0), Fraction(1, 5), Fraction(1), Fraction(0)]

    def f(z):
        return z[0] * z[1] * z[2] + 3 * z[3] ** 2 - z[1] * z[3] + Fraction(1, 9)

    phi = baseline_shapley(f, x, xb, vectorized=False)
    assert phi.dtype == object and all(isinstance(p, Fraction) for p in phi)
    assert list(phi) == brute_force_shapley(f, x, xb)
    assert sum(phi) == f(x) - f(xb)  # completeness, exactly


def test_shapley_on_exact_relu_network_is_exact():
    rng = np.random.default_rng(0)
    net = ReLUNetwork([rng.integers(-3, 4, size=(4, 3)), rng.integers(-3, 4, size=(1, 4))], [rng.integers(-2, 3, size=4), [1]], exact=True)
    x = [Fraction(1, 2), Fraction(1, 3), Fraction(3, 4)]
    xb = [Fraction(0)] * 3
    phi = baseline_shapley(net, x, xb)
    assert all(isinstance(p, Fraction) for p in phi)
    assert list(phi) == brute_force_shapley(lambda z: net(np.array(z, dtype=object)), x, xb)


def test_shapley_on_additive_model_is_the_per_feature_difference():
    rng = np.random.default_rng(1)
    d = 6
    c = rng.normal(size=d)

    def f(Z):
        return np.sin(Z) @ c + Z[:, 0] ** 3 + 2.0

    x, xb = rng.uniform(-1, 1, size=(2, d))
    expected = c * (np.sin(x) - np.sin(xb))
    expected[0] += x[0] ** 3 - xb[0] ** 3
    assert np.allclose(baseline_shapley(f, x, xb), expected, rtol=1e-12, atol=1e-14)


def test_shapley_of_box_indicator_closed_form():
    # THEORY.md §3.3: A = features where x lies in R, B = where x' does, D = A\B, E = B\A.
    rng = np.random.default_rng(2)
    d = 5
    for _ in range(30):
        lo = rng.uniform(0, 0.5, size=d)
        hi = lo + 0.4
        x, xb = rng.uniform(0, 1, size=(2, d))

        def f(Z):
            return np.all((Z >= lo) & (Z <= hi), axis=1).astype(float)

        A = {i for i in range(d) if lo[i] <= x[i] <= hi[i]}
        B = {i for i in range(d) if lo[i] <= xb[i] <= hi[i]}
        G = set(range(d)) - A - B
        D, E = A - B, B - A
        expected = np.zeros(d)
        if not G:
            for j in D:
                expected[j] = factorial(len(D) - 1) * factorial(len(E)) / factorial(len(D) + len(E))
            for j in E:
                expected[j] = -factorial(len(D)) * factorial(len(E) - 1) / factorial(len(D) + len(E))
        assert np.allclose(baseline_shapley(f, x, xb), expected, atol=1e-14)


def test_shapley_coefficients_rows_have_absolute_sum_two():
    for d in range(1, 7):
        A = shapley_coefficients(d)
        assert np.allclose(np.abs(A).sum(axis=1), 2.0)
        assert np.allclose(A.sum(axis=1), 0.0)


def test_shapley_lipschitz_constant_is_valid_and_attained():
    rng = np.random.default_rng(12)
    for d in range(1, 7):
        L = shapley_sup_to_l2_norm(d)
        A = shapley_coefficients(d)
        V = rng.choice([-1.0, 1.0], size=(4000, 2**d))
        V[:2000] *= rng.uniform(0, 1, size=(2000, 2**d))
        assert np.linalg.norm(V @ A.T, axis=1).max() <= L * (1 + 1e-12)
        if d <= 4:
            assert L == pytest.approx(2.0)  # exact by vertex enumeration
        else:
            assert L == pytest.approx(2 * np.sqrt(d))
        # per-point radii: never above the uniform value, attained by some sign pattern (d <= 4)
        r = rng.uniform(0, 1, size=2**d)
        Lr = shapley_sup_to_l2_norm(d, r)
        assert Lr <= L * r.max() * (1 + 1e-12)
        assert np.linalg.norm((V[2000:] * r) @ A.T, axis=1).max() <= Lr * (1 + 1e-12)


def test_shapley_validation():
    with pytest.raises(PolyattrError, match="baseline"):
        baseline_shapley(lambda Z: Z.sum(axis=1), [1.0, 2.0], [0.0])
    with pytest.raises(PolyattrError, match="f"):
        baseline_shapley("model", [1.0], [0.0])
    with pytest.raises(PolyattrError, match="f"):
        baseline_shapley(lambda Z: np.full(len(Z), np.nan), [1.0], [0.0])


# ----------------------------------------------------------------- Integrated Gradients
def test_ig_completeness_on_smooth_models_within_quadrature_error():
    rng = np.random.default_rng(3)
    for _ in range(10):
        d = int(rng.integers(1, 6))
        net = random_softplus(rng, [d, 10, 10, 1], beta=float(rng.choice([0.5, 2.0, 8.0])), scale=2.0)
        x, xb = rng.uniform(-1, 1, size=(2, d))
        res = integrated_gradients_smooth(net.gradient, x, xb, n_nodes=16)
        gap = abs(res.values.sum() - (net(x) - net(xb)))
        assert gap <= d * res.error_estimate + 1e-12
        assert res.error_estimate < 1e-6


def test_ig_is_exact_for_polynomial_gradients():
    # Gauss-Legendre with n nodes integrates polynomials of degree <= 2n - 1 exactly.
    A = np.array([[2.0, -1.0], [-1.0, 3.0]])
    q = QuadraticModel(A, g=[0.5, -1.0], c=1.0)
    x, xb = np.array([0.7, -0.2]), np.array([-0.1, 0.4])
    res = integrated_gradients_smooth(q.gradient, x, xb, n_nodes=1)
    expected = (x - xb) * q.gradient((x + xb) / 2)
    assert np.allclose(res.values, expected, rtol=1e-14)
    assert res.error_estimate < 1e-15


def test_ig_validation():
    with pytest.raises(PolyattrError, match="n_nodes"):
        integrated_gradients_smooth(lambda z: z, [1.0], [0.0], n_nodes=0)
    with pytest.raises(PolyattrError, match="grad_f"):
        integrated_gradients_smooth(lambda z: np.ones(3), [1.0, 2.0], [0.0, 0.0])


# ----------------------------------------------------------------- Theorem 2.1
@pytest.mark.parametrize("method", ["ig", "shapley"])
def test_quadratic_model_remainder_and_bound_match_closed_forms(method):
    rng = np.random.default_rng(4)
    for _ in range(10):
        d = int(rng.integers(1, 5))
        B = rng.normal(size=(d, d))
        A = B + B.T
        q = QuadraticModel(A, g=rng.normal(size=d), c=0.3)
        x, xb, x0 = rng.uniform(-1, 1, size=(3, d))
        r = theorem21(q, x, xb, x0, method=method)
        # R(z) = (z - x0)^T A (z - x0) / 2; both IG and baseline Shapley give Delta * A (m - x0)
        expected = (x - xb) * (A @ ((x + xb) / 2 - x0))
        assert np.allclose(r.remainder, expected, rtol=1e-10, atol=1e-12)
        assert np.allclose(r.remainder_via_R, expected, rtol=1e-10, atol=1e-12)
        assert r.hessian_bound == pytest.approx(np.linalg.norm(A, 2))
        assert r.holds and r.remainder_norm <= r.bound * (1 + 1e-12)
        # expanding at the baseline: the IG bound is M ||Delta||_inf ||Delta||_2 / 2 in closed form
        r = theorem21(q, x, xb, xb, method="ig")
        M = np.linalg.norm(A, 2)
        assert r.bound == pytest.approx(M * np.abs(x - xb).max() * np.linalg.norm(x - xb) / 2, rel=1e-12)


@pytest.mark.parametrize("method", ["ig", "shapley"])
def test_bound_is_attained_in_one_dimension(method):
    # f(z) = (M/2) z^2 with x0 = x' = 0.5, x = 1: remainder = (M/2)(x - x')^2 = bound.
    M = 3.0
    q = QuadraticModel([[M]])
    r = theorem21(q, [1.0], [0.5], [0.5], method=method)
    assert r.remainder[0] == pytest.approx(M / 2 * 0.25, rel=1e-12)
    assert r.bound == pytest.approx(M / 2 * 0.25, rel=1e-12)
    assert r.ratio == pytest.approx(1.0, rel=1e-9)
    assert r.holds


class _UnderstatedHessian(QuadraticModel):
    def hessian_bound(self, domain=None, output=None):
        return super().hessian_bound() / 2


def test_check_fails_when_the_hessian_bound_is_understated():
    q = _UnderstatedHessian([[3.0]])
    for method in ("ig", "shapley"):
        r = theorem21(q, [1.0], [0.5], [0.5], method=method)
        assert not r.holds and r.ratio > 1.9


@pytest.mark.parametrize("method", ["ig", "shapley"])
def test_random_softplus_networks_satisfy_the_theorem(method):
    rng = np.random.default_rng(5)
    for _ in range(25):
        d = int(rng.integers(1, 6))
        net = random_softplus(rng, [d, int(rng.integers(2, 10)), int(rng.integers(2, 10)), 2], beta=float(rng.choice([0.5, 1, 4])), scale=float(rng.choice([0.5, 1, 2])))
        x, xb, x0 = rng.uniform(-1, 1, size=(3, d))
        r = theorem21(net, x, xb, x0, method=method, output=1)
        assert r.holds
        assert r.remainder_norm <= r.bound + np.sqrt(d) * r.quadrature_error + 1e-12
        assert r.bound <= r.bound_uniform * (1 + 1e-12)
        assert r.linearity_gap <= 1e-10 * (1 + np.abs(r.attribution).max())
        # the decomposition phi = grad f(x0) * Delta + phi(R)
        assert np.allclose(r.attribution, r.gradient_x_input + r.remainder_via_R, atol=1e-10)
        if method == "shapley":
            assert r.attribution.sum() == pytest.approx(net(x, output=1) - net(xb, output=1), abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(1, 4),
    beta=st.floats(0.2, 20.0),
    method=st.sampled_from(["ig", "shapley"]),
)
def test_theorem_holds_property(seed, d, beta, method):
    rng = np.random.default_rng(seed)
    net = random_softplus(rng, [d, 6, 5, 1], beta=beta, scale=1.5)
    x, xb, x0 = rng.uniform(-2, 2, size=(3, d))
    r = theorem21(net, x, xb, x0, method=method, n_nodes=48)
    assert r.holds, r.to_dict()


def test_flatter_models_collapse_to_gradient_x_input():
    rng = np.random.default_rng(6)
    base = random_softplus(rng, [3, 8, 8, 1], beta=1.0)
    x, xb, x0 = rng.uniform(0, 1, size=(3, 3))
    prev = None
    for s in (1.0, 0.3, 0.1, 0.03):
        net = SoftplusNetwork([W * s for W in base.weights], base.biases, beta=1.0)
        r = theorem21(net, x, xb, x0, method="shapley")
        assert r.holds
        if prev is not None:
            # three scaled layers: the Hessian scales like s^3, so do the bound and the remainder
            assert r.bound < prev.bound * 0.3**2 and r.remainder_norm < prev.remainder_norm * 0.3**2
        prev = r
    assert prev.remainder_norm < 1e-4 * np.linalg.norm(prev.attribution) + 1e-6


def test_explicit_domain_is_used_and_checked():
    rng = np.random.default_rng(7)
    net = random_softplus(rng, [2, 5, 1], beta=2.0)
    x, xb, x0 = np.array([0.6, 0.2]), np.array([0.1, 0.3]), np.array([0.4, 0.4])
    tight = theorem21(net, x, xb, x0, method="shapley")
    wide = theorem21(net, x, xb, x0, method="shapley", domain=Box([-3, -3], [3, 3]))
    assert np.allclose(tight.domain_lower, [0.1, 0.2]) and np.allclose(tight.domain_upper, [0.6, 0.4])
    assert wide.hessian_bound >= tight.hessian_bound and wide.bound >= tight.bound
    assert np.allclose(wide.remainder, tight.remainder)
    with pytest.raises(PolyattrError, match="x0"):
        theorem21(net, x, xb, [2.0, 0.0], domain=Box.unit(2))


def test_hessian_splits_tighten_the_bound_and_it_still_holds():
    rng = np.random.default_rng(15)
    net = random_softplus(rng, [2, 12, 12, 1], beta=4.0, scale=2.0)
    x, xb, x0 = rng.uniform(-1, 1, size=(3, 2))
    for method in ("ig", "shapley"):
        coarse = theorem21(net, x, xb, x0, method=method)
        fine = theorem21(net, x, xb, x0, method=method, hessian_splits=8)
        assert fine.hessian_bound < coarse.hessian_bound and fine.bound < coarse.bound
        assert fine.holds and np.allclose(fine.remainder, coarse.remainder)
    with pytest.raises(PolyattrError, match="hessian_splits"):
        theorem21(net, x, xb, x0, hessian_splits=0)


def test_theorem21_validation():
    net = ReLUNetwork([np.ones((2, 2)), np.ones((1, 2))], [np.zeros(2), np.zeros(1)])
    with pytest.raises(PolyattrError, match="C\\^2"):
        theorem21(net, [0.1, 0.2], [0, 0], [0, 0])
    sp = SoftplusNetwork.from_relu(net, 2.0)
    with pytest.raises(PolyattrError, match="method"):
        theorem21(sp, [0.1, 0.2], [0, 0], [0, 0], method="lime")
    with pytest.raises(PolyattrError, match="x0"):
        theorem21(sp, [0.1, 0.2], [0, 0], [0, 0, 0])
    with pytest.raises(PolyattrError, match="baseline"):
        theorem21(sp, [0.1, 0.2], [0, float("nan")], [0, 0])


def test_to_dict_is_json_friendly():
    rng = np.random.default_rng(8)
    net = random_softplus(rng, [3, 4, 1], beta=1.0)
    r = theorem21(net, [0.1, 0.2, 0.3], [0, 0, 0], [0.5, 0.5, 0.5], method="ig")
    data = json.loads(json.dumps(r.to_dict()))
    for key in ("remainder", "remainder_via_R", "bound", "hessian_bound", "lipschitz", "ratio"):
        assert key in data
    assert data["ratio"] == pytest.approx(r.ratio)


# ----------------------------------------------------------------- CLI entry point
def _namespace(path, **kw):
    base = dict(model=str(path), x="0.6,0.2", baseline="0,0", x0="0.3,0.3", method="ig", beta=2.0, output=None, lower=None, upper=None, json=True)
    base.update(kw)
    return argparse.Namespace(**base)


def test_cli_json_and_table(tmp_path, capsys):
    rng = np.random.default_rng(9)
    path = tmp_path / "m.npz"
    np.savez(path, W0=rng.normal(size=(5, 2)), b0=rng.normal(size=5), W1=rng.normal(size=(2, 5)), b1=rng.normal(size=2))
    assert run_theorem21_cli(_namespace(path, output=1, method="shapley")) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "shapley" and data["beta"] == 2.0
    assert data["remainder_norm"] <= data["bound"]
    assert run_theorem21_cli(_namespace(path, output=0, json=False, lower="-1,-1", upper="1,1")) == 0
    out = capsys.readouterr().out
    assert "Hessian bound M" in out and "ratio" in out
    with pytest.raises(PolyattrError, match="output"):
        run_theorem21_cli(_namespace(path))
    with pytest.raises(PolyattrError, match="x"):
        run_theorem21_cli(_namespace(path, x="0.6", output=0))


# ----------------------------------------------------------------- Gaussian-smoothed ReLU
def _one_layer_relu(rng, d, width):
    return ReLUNetwork([rng.normal(size=(width, d)), rng.normal(size=(1, width))], [rng.normal(size=width) * 0.3, [0.2]])


def test_gaussian_smoothing_matches_monte_carlo_and_derivatives():
    rng = np.random.default_rng(20)
    for sigma in (0.05, 0.3, 1.0):
        net = _one_layer_relu(rng, 3, 6)
        g = GaussianSmoothedReLU(net, sigma)
        z = rng.uniform(-1, 1, size=3)
        samples = net(z + sigma * rng.normal(size=(200_000, 3)))
        se = samples.std() / np.sqrt(samples.size)
        assert abs(g(z) - samples.mean()) <= 5 * se
        eps = 1e-5
        E = np.eye(3)
        assert np.allclose(g.gradient(z), [(g(z + eps * e) - g(z - eps * e)) / (2 * eps) for e in E], atol=1e-8)
        H_fd = np.array([(g.gradient(z + eps * e) - g.gradient(z - eps * e)) / (2 * eps) for e in E])
        assert np.allclose(g.hessian(z), H_fd, atol=1e-6 / sigma)
        # uniform convergence to the ReLU network: |f_sigma - f| <= sigma sum |v_i| ||w_i|| phi(0)
        Z = rng.uniform(-1, 1, size=(500, 3))
        gap = np.abs(g(Z) - net(Z)).max()
        assert gap <= sigma * np.sum(np.abs(g.v) * g.norms) / np.sqrt(2 * np.pi) + 1e-12


def test_gaussian_smoothing_hessian_bounds_hold():
    rng = np.random.default_rng(21)
    for _ in range(20):
        d = int(rng.integers(1, 4))
        sigma = float(rng.choice([0.01, 0.1, 0.5]))
        g = GaussianSmoothedReLU(_one_layer_relu(rng, d, int(rng.integers(1, 8))), sigma)
        lo = rng.uniform(-1, 0, size=d)
        hi = lo + rng.uniform(0.1, 1.0, size=d)
        Z = rng.uniform(lo, hi, size=(5000, d))
        # add points on the kinks (where the Hessian of f_sigma peaks) that fall inside the box
        for w, b in zip(g.W, g.b):
            P = Z[:200] - np.outer(Z[:200] @ w + b, w) / (w @ w)
            Z = np.vstack([Z, P[np.all((P >= lo) & (P <= hi), axis=1)]])
        found = np.linalg.norm(g.hessian(Z), 2, axis=(1, 2)).max()
        assert found <= g.hessian_bound((lo, hi)) <= g.hessian_bound_global()
        W = np.random.default_rng(0).normal(size=(2000, d)) * 3
        assert np.linalg.norm(g.hessian(W), 2, axis=(1, 2)).max() <= g.hessian_bound_global()
        r = theorem21(g, *rng.uniform(lo, hi, size=(3, d)), method="shapley", domain=(lo, hi))
        assert r.holds


def test_gaussian_smoothing_global_bound_is_attained_by_absolute_value():
    # |z| = relu(z) + relu(-z): Lip = 1 and Hess f_sigma(0) = 2 phi(0) / sigma = sqrt(2/pi) / sigma
    net = ReLUNetwork([np.array([[1.0], [-1.0]]), np.array([[1.0, 1.0]])], [np.zeros(2), np.zeros(1)])
    for sigma in (0.01, 0.5, 2.0):
        g = GaussianSmoothedReLU(net, sigma)
        assert g.lipschitz_constant() == pytest.approx(1.0)
        assert g.hessian(np.array([0.0]))[0, 0] == pytest.approx(np.sqrt(2 / np.pi) / sigma, rel=1e-12)
        assert g.hessian_bound_global() == pytest.approx(np.sqrt(2 / np.pi) / sigma, rel=1e-9)
        assert g(np.array([0.0])) == pytest.approx(sigma * np.sqrt(2 / np.pi), rel=1e-12)  # E|sigma N(0,1)|


def test_gaussian_smoothing_bound_blows_up_like_one_over_sigma():
    rng = np.random.default_rng(22)
    net = _one_layer_relu(rng, 2, 5)
    Ms = [GaussianSmoothedReLU(net, s).hessian_bound() for s in (1.0, 0.1, 0.01)]
    assert Ms[1] == pytest.approx(10 * Ms[0]) and Ms[2] == pytest.approx(10 * Ms[1])


def test_gaussian_smoothing_validation():
    rng = np.random.default_rng(23)
    deep = ReLUNetwork([np.ones((2, 2)), np.ones((2, 2)), np.ones((1, 2))], [np.zeros(2)] * 2 + [np.zeros(1)])
    with pytest.raises(PolyattrError, match="one hidden layer"):
        GaussianSmoothedReLU(deep, 0.1)
    with pytest.raises(PolyattrError, match="sigma"):
        GaussianSmoothedReLU(_one_layer_relu(rng, 2, 3), 0.0)
    with pytest.raises(PolyattrError, match="net"):
        GaussianSmoothedReLU("net", 0.1)
