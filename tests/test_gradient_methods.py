"""Exact gradient methods against independent references.

References never come from polyattr itself: closed forms on affine models, torch autograd
gradients integrated by a dense trapezoid rule (with an error estimate taken from the samples),
Monte Carlo with 5-sigma intervals, numpy least squares, one-sided finite differences, and exact
rational arithmetic written out by hand for small cases.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polyattr.attribution.api import attribute
from polyattr.errors import PolyattrError
from polyattr.geometry.segment_walk import point_pattern, segment_breakpoints
from polyattr.models.relu import ReLUNetwork

F = Fraction


# --------------------------------------------------------------------------------- helpers
def dyadic_network(rng, sizes, denom=8, scale=8):
    """Random network with dyadic weights (cheap exact arithmetic)."""
    Ws = [rng.integers(-scale, scale + 1, size=(o, i)) / denom for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.integers(-scale, scale + 1, size=o) / (2 * denom) for o in sizes[1:]]
    return ReLUNetwork(Ws, bs)


def gaussian_network(rng, sizes):
    Ws = [rng.normal(size=(o, i)) * np.sqrt(2.0 / i) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=o) * 0.3 for o in sizes[1:]]
    return ReLUNetwork(Ws, bs)


def torch_gradients(net: ReLUNetwork, Z, output=0):
    """Gradients of one output at the rows of Z by torch autograd (float64; relu'(0) = 0)."""
    z = torch.tensor(np.asarray(Z, float), dtype=torch.float64, requires_grad=True)
    h = z
    Ws = [torch.tensor(np.asarray(W, float)) for W in net.weights]
    bs = [torch.tensor(np.asarray(b, float)) for b in net.biases]
    for W, b in zip(Ws[:-1], bs[:-1]):
        h = torch.relu(h @ W.T + b)
    out = (h @ Ws[-1].T + bs[-1])[:, output]
    out.sum().backward()
    return z.grad.numpy()


def quadrature_ig(net, x, baseline, output=0, n=100_001):
    """IG by the trapezoid rule on n points of the path, with autograd gradients.

    The integrand t -> grad f(z(t)) is piecewise constant; the trapezoid rule errs only in the
    cells where it jumps, by at most h |jump| per cell, so sum_i h |g_{i+1} - g_i| (from the samples
    themselves) estimates the error.
    """
    x, baseline = np.asarray(x, float), np.asarray(baseline, float)
    t = np.linspace(0.0, 1.0, n)
    G = torch_gradients(net, baseline + t[:, None] * (x - baseline), output)
    h = t[1] - t[0]
    integral = h * (G[1:-1].sum(axis=0) + 0.5 * (G[0] + G[-1]))
    err = h * np.abs(np.diff(G, axis=0)).sum(axis=0)
    delta = x - baseline
    return delta * integral, np.abs(delta) * err + 1e-12


def as_float(values):
    return np.array([float(v) for v in values])


# ------------------------------------------------------------------------------- affine models
AFFINE_W = np.array([[1.5, -2.0, 0.25]])
AFFINE_B = np.array([0.75])


@pytest.mark.parametrize("exact", [False, True])
def test_affine_model_closed_forms(exact):
    net = ReLUNetwork([AFFINE_W], [AFFINE_B])
    # closed forms computed in Fractions (exact mode must match them exactly)
    w = np.array([F(v) for v in AFFINE_W[0]], dtype=object)
    b = F(AFFINE_B[0])
    x = np.array([F(1, 2), F(1, 4), F(3, 4)], dtype=object)
    xb = np.array([F(1, 8), F(1, 2), F(0)], dtype=object)
    xs = [float(v) for v in x] if not exact else x

    def check(res, expected):
        if exact:
            assert res.exact and all(isinstance(v, Fraction) for v in res.values)
            assert list(res.values) == list(expected)
        else:
            assert np.max(np.abs(res.values - as_float(expected))) <= res.error_bound < 1e-10

    check(attribute(net, xs, "gradient", exact=exact), w)
    check(attribute(net, xs, "gradient_x_input", exact=exact), w * x)
    check(attribute(net, xs, "ig", baseline=xb, exact=exact), w * (x - xb))
    bg = np.array([[0, 0, 0], [F(1, 2), F(1, 2), F(1, 2)], [F(1, 4), 1, F(1, 8)]], dtype=object)
    bg_mean = np.array([sum(bg[:, j], start=F(0)) / 3 for j in range(3)], dtype=object)
    bg_arg = bg if exact else bg.astype(float)
    check(attribute(net, xs, "expected_gradients", background=bg_arg, exact=exact), w * (x - bg_mean))
    check(attribute(net, xs, "smoothgrad_uniform", radius=0.125, exact=exact), w)
    lime = attribute(net, xs, "lime_uniform", radius=0.125, exact=exact)
    check(lime, w)
    assert float(lime.info["intercept"]) == pytest.approx(float(b), abs=1e-12)
    check(attribute(net, xs, "deeplift", baseline=xb, exact=exact), w * (x - xb))
    z = w @ x + b
    eps = F(1, 4)
    check(attribute(net, xs, "epsilon_lrp", epsilon=eps if exact else 0.25, exact=exact),
          x * w * (z / (z + eps)))
    # uniform expected gradients on an affine model: w (x - mean of the sampled baselines),
    # whose expectation is w (x - 1/2); the 3-sigma half-width covers it
    eg = attribute(net, xs, "expected_gradients_uniform", samples=400, rng=3, exact=exact)
    assert not eg.exact
    assert np.all(np.abs(eg.values - as_float(w * (x - F(1, 2)))) <= eg.error_bound)


# ------------------------------------------------------------------------------ gradient
def boundary_network():
    """f(z) = 2 relu(z0 - 1/2) + relu(z1 - z0) - 1/4 relu(1/2 - z1) (a kink on z0 = 1/2)."""
    W0 = np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]])
    b0 = np.array([-0.5, 0.0, 0.5])
    W1 = np.array([[2.0, 1.0, -0.25]])
    return ReLUNetwork([W0, W1], [b0, np.array([0.0])])


@pytest.mark.parametrize("exact", [False, True])
def test_gradient_both_sides_of_a_boundary(exact):
    net = boundary_network()
    x = np.array([0.5, 0.75])  # on z0 = 1/2; strictly inside for the other neurons
    fnet = net.to_float()

    def one_sided_fd(v, eps=1e-4, h=1e-7):
        # gradient at a point just inside the region entered along v, by central differences
        p = x + eps * np.asarray(v, float)
        return np.array([(fnet(p + h * e) - fnet(p - h * e)) / (2 * h) for e in np.eye(2)])

    default = attribute(net, x, "gradient", exact=exact)
    assert default.info["on_boundary"] is True
    assert default.info["tied_neurons"] == [0]
    assert default.info["side"] == "ties read as inactive"
    np.testing.assert_allclose(as_float(default.values), one_sided_fd([-1.0, 0.0]), atol=1e-6)
    np.testing.assert_allclose(as_float(default.values), [-1.0, 1.0], atol=1e-15)
    right = attribute(net, x, "gradient", direction=[1, 0], exact=exact)
    left = attribute(net, x, "gradient", direction=[-1, 0], exact=exact)
    np.testing.assert_allclose(as_float(right.values), one_sided_fd([1.0, 0.0]), atol=1e-6)
    np.testing.assert_allclose(as_float(right.values), [1.0, 1.0], atol=1e-15)
    np.testing.assert_allclose(as_float(left.values), [-1.0, 1.0], atol=1e-15)
    assert right.info["side"] == "direction"
    # a direction along the boundary (tangent) keeps the tie: read as inactive
    along = attribute(net, x, "gradient", direction=[0, 1], exact=exact)
    np.testing.assert_allclose(as_float(along.values), [-1.0, 1.0], atol=1e-15)
    # gradient x input uses the same side
    gxi = attribute(net, x, "gradient_x_input", direction=[1, 0], exact=exact)
    np.testing.assert_allclose(as_float(gxi.values), [0.5, 0.75], atol=1e-15)
    # an interior point is not on a boundary and agrees with autograd
    inner = attribute(net, np.array([0.7, 0.2]), "gradient", exact=exact)
    assert inner.info["on_boundary"] is False
    np.testing.assert_allclose(as_float(inner.values), torch_gradients(fnet, [[0.7, 0.2]])[0], atol=1e-14)


def test_float_tie_within_rounding_is_recognised():
    # 0.1 z0 + 0.2 z1 - 0.3 is 0 at (1, 1) in the reals but not in floats (5.6e-17): float mode
    # treats a pre-activation within its rounding bound of 0 as a tie, like exact mode
    net = ReLUNetwork([np.array([[0.1, 0.2]]), np.array([[1.0]])], [np.array([-0.3]), np.array([0.0])])
    assert net.hidden_preactivations([1.0, 1.0])[0] != 0.0
    en = ReLUNetwork([np.array([[F(1, 10), F(2, 10)]]), np.array([[1]])], [np.array([F(-3, 10)]), np.array([0])],
                     exact=True)
    for model, exact in ((net, False), (en, True)):
        for direction, expected in ((None, [0.0, 0.0]), ([1, 0], [0.1, 0.2]), ([-1, 0], [0.0, 0.0])):
            kw = {} if direction is None else {"direction": direction}
            res = attribute(model, [1, 1], "gradient", exact=exact, **kw)
            assert res.info["on_boundary"] is True
            np.testing.assert_allclose(as_float(res.values), expected, atol=1e-16)


def test_gradient_direction_in_deeper_layer_uses_one_sided_lower_layers():
    # layer-2 neuron a2 = h1 - 1/4 with h1 = relu(z0 - 1/2): at z0 = 1/2 the layer-1 neuron is
    # tied; along +e0 it turns on, and a2 = -1/4 stays negative: the one-sided pattern must
    # propagate the derivative of the layer below
    net = ReLUNetwork([np.array([[1.0]]), np.array([[1.0], [1.0]]), np.array([[1.0, 3.0]])],
                      [np.array([-0.5]), np.array([0.0, -0.25]), np.array([0.0])])
    pat, tied = point_pattern(net, np.array([F(1, 2)]), np.array([F(1)]), exact=True)
    assert list(pat) == [True, True, False] and list(tied) == [True, True, False]
    g = attribute(net, [0.5], "gradient", direction=[1.0], exact=True)
    assert list(g.values) == [F(1)]
    assert list(attribute(net, [0.5], "gradient", exact=True).values) == [F(0)]


@pytest.mark.parametrize("exact", [False, True])
def test_gradient_matches_autograd_on_random_networks(exact):
    rng = np.random.default_rng(11)
    net = dyadic_network(rng, [3, 6, 5, 2])
    for _ in range(5):
        x = rng.random(3)
        for k in range(2):
            got = attribute(net, x, "gradient", output=k, exact=exact)
            ref = torch_gradients(net, x[None, :], k)[0]
            assert np.max(np.abs(as_float(got.values) - ref)) <= max(got.error_bound, 1e-15)


# ----------------------------------------------------------------------- Integrated Gradients
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ig_against_dense_quadrature(seed):
    rng = np.random.default_rng(seed)
    net = gaussian_network(rng, [4, 12, 10, 8, 2])
    x, xb = rng.random(4), rng.random(4)
    for k in range(2):
        res = attribute(net, x, "ig", baseline=xb, output=k)
        ref, err = quadrature_ig(net, x, xb, k)
        assert np.all(np.abs(res.values - ref) <= err + res.error_bound), (res.values, ref, err)
        # and the quadrature is not trivially loose
        assert np.max(err) < 1e-3
        assert abs(res.values.sum() - (net(x, k) - net(xb, k))) <= 1e-12
        bp = res.info["breakpoints"]
        assert bp[0] == 0.0 and bp[-1] == 1.0 and np.all(np.diff(bp) > 0)


def test_ig_exact_equals_float_within_bound_and_is_complete():
    rng = np.random.default_rng(5)
    for _ in range(4):
        net = dyadic_network(rng, [3, 7, 6, 1])
        x, xb = rng.integers(0, 17, 3) / 16, rng.integers(0, 17, 3) / 16
        fl = attribute(net, x, "ig", baseline=xb)
        ex = attribute(net, x, "ig", baseline=xb, exact=True)
        assert ex.exact and all(isinstance(v, Fraction) for v in ex.values)
        assert all(isinstance(t, Fraction) for t in ex.info["breakpoints"])
        exn = net.to_exact()
        xf, xbf = [F(v) for v in x], [F(v) for v in xb]
        assert sum(ex.values) == exn(xf) - exn(xbf)  # completeness, exactly
        assert ex.base_values == exn(xbf)
        assert np.max(np.abs(fl.values - as_float(ex.values))) <= fl.error_bound
        assert fl.error_bound < 1e-10
        np.testing.assert_allclose(fl.info["breakpoints"], as_float(ex.info["breakpoints"]), atol=1e-12)


def test_ig_breakpoints_and_patterns_by_hand():
    # layer 1: h0 = relu(t - 1/2), h1 = relu(1/2 - t), h2 = relu(t - 1/2) (same hyperplane twice),
    # h3 = relu(t - 3/4); layer 2: a = h0 + h1 (= |t - 1/2|: touches 0 at 1/2 without crossing),
    # c = h1 (only inactive neurons on t > 1/2), e = -h0 - h1 + 1/8 (crosses at 3/8 and 5/8),
    # dead = 0 * everything (identically 0)
    W0 = np.array([[1.0], [-1.0], [1.0], [1.0]])
    b0 = np.array([-0.5, 0.5, -0.5, -0.75])
    W1 = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [-1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    b1 = np.array([0.0, 0.0, 0.125, 0.0])
    W2 = np.array([[1.0, 2.0, 4.0, 8.0]])
    net = ReLUNetwork([W0, W1, W2], [b0, b1, np.array([0.0])])
    pieces = segment_breakpoints(net, [0], [1], exact=True)
    assert list(pieces.breakpoints) == [F(0), F(3, 8), F(1, 2), F(5, 8), F(3, 4), F(1)]
    expected = [
        # h0 h1 h2 h3 | a  c  e  dead
        [0, 1, 0, 0, 1, 1, 0, 0],  # (0, 3/8)
        [0, 1, 0, 0, 1, 1, 1, 0],  # (3/8, 1/2)
        [1, 0, 1, 0, 1, 0, 1, 0],  # (1/2, 5/8)
        [1, 0, 1, 0, 1, 0, 0, 0],  # (5/8, 3/4)
        [1, 0, 1, 1, 1, 0, 0, 0],  # (3/4, 1)
    ]
    assert pieces.patterns.astype(int).tolist() == expected
    fl = segment_breakpoints(net, [0.0], [1.0])
    assert fl.breakpoints.tolist() == [0.0, 0.375, 0.5, 0.625, 0.75, 1.0]
    assert fl.patterns.astype(int).tolist() == expected
    # IG of this 1-D network is f(1) - f(0) (completeness with one feature)
    ig = attribute(net, [1.0], "ig", baseline=[0.0], exact=True)
    assert ig.values[0] == net.to_exact()([F(1)]) - net.to_exact()([F(0)])


@pytest.mark.parametrize("exact", [False, True])
def test_ig_with_endpoints_on_region_boundaries(exact):
    net = boundary_network()
    fnet = net.to_float()
    cases = [
        (np.array([0.5, 0.75]), np.array([0.0, 0.0])),  # x on z0 = 1/2
        (np.array([0.875, 0.25]), np.array([0.5, 0.125])),  # baseline on z0 = 1/2
        (np.array([0.5, 0.5]), np.array([0.25, 0.25])),  # x on two hyperplanes (z0 = 1/2 = z1, z1 = z0)
        (np.array([1.0, 0.5]), np.array([0.5, 0.5])),  # baseline at a corner of three regions
    ]
    for x, xb in cases:
        res = attribute(net, x, "ig", baseline=xb, exact=exact)
        ref, err = quadrature_ig(fnet, x, xb)
        assert np.all(np.abs(as_float(res.values) - ref) <= err + res.error_bound)
        if exact:
            xe, xbe = [F(v) for v in x], [F(v) for v in xb]
            assert sum(res.values) == net.to_exact()(xe) - net.to_exact()(xbe)
        else:
            assert abs(res.values.sum() - (fnet(x) - fnet(xb))) <= 1e-12


def test_ig_along_a_boundary_reads_ties_inactive():
    # f = relu(z0 - z1): the path from 0 to (1, 1) runs inside the kink; relu'(0) = 0 everywhere
    net = ReLUNetwork([np.array([[1.0, -1.0]]), np.array([[1.0]])], [np.array([0.0]), np.array([0.0])])
    for exact in (False, True):
        res = attribute(net, [1.0, 1.0], "ig", baseline=[0.0, 0.0], exact=exact)
        assert [float(v) for v in res.values] == [0.0, 0.0]
        assert len(res.info["breakpoints"]) == 2


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.integers(0, 3), width=st.integers(1, 6), d=st.integers(1, 4))
def test_ig_completeness_hypothesis(seed, depth, width, d):
    rng = np.random.default_rng(seed)
    net = gaussian_network(rng, [d] + [width] * depth + [2])
    x, xb = rng.random(d), rng.random(d)
    res = attribute(net, x, "ig", baseline=xb, output=1)
    assert abs(res.values.sum() - (net(x, 1) - net(xb, 1))) <= 1e-12
    ref, err = quadrature_ig(net, x, xb, 1, n=20_001)
    assert np.all(np.abs(res.values - ref) <= err + res.error_bound + 1e-12)


def test_ig_multi_output_equals_selected_output():
    rng = np.random.default_rng(8)
    net = gaussian_network(rng, [3, 8, 8, 3])
    x, xb = rng.random(3), rng.random(3)
    for k in range(3):
        a = attribute(net, x, "ig", baseline=xb, output=k)
        b = attribute(net.select_output(k), x, "ig", baseline=xb)
        np.testing.assert_array_equal(a.values, b.values)
    with pytest.raises(PolyattrError, match="output"):
        attribute(net, x, "ig", baseline=xb)


# ------------------------------------------------------------------------ expected gradients
def test_expected_gradients_against_quadrature_igs():
    rng = np.random.default_rng(3)
    net = gaussian_network(rng, [3, 10, 10, 2])
    x = rng.random(3)
    bg = rng.random((4, 3))
    res = attribute(net, x, "expected_gradients", background=bg, output=1)
    refs, errs = zip(*(quadrature_ig(net, x, b, 1) for b in bg))
    ref, err = np.mean(refs, axis=0), np.mean(errs, axis=0)
    assert np.all(np.abs(res.values - ref) <= err + res.error_bound)
    assert res.base_values == pytest.approx(float(np.mean(net(bg, 1))), abs=1e-14)
    ex = attribute(net.to_exact(), x, "expected_gradients", background=bg, output=1, exact=True)
    assert np.max(np.abs(as_float(ex.values) - res.values)) <= res.error_bound


def test_expected_gradients_uniform_against_monte_carlo_over_path_and_baseline():
    rng = np.random.default_rng(4)
    net = gaussian_network(rng, [2, 8, 8, 1])
    x = np.array([0.8, 0.3])
    res = attribute(net, x, "expected_gradients_uniform", samples=256, rng=1)
    assert not res.exact and res.info["samples"] == 256
    # independent estimate: E over (x', t) uniform of (x - x') * grad f(x' + t (x - x'))
    n = 200_000
    xb = rng.random((n, 2))
    t = rng.random((n, 1))
    samples = (x - xb) * torch_gradients(net, xb + t * (x - xb))
    ref, se = samples.mean(axis=0), samples.std(axis=0) / np.sqrt(n)
    # the method's 3-sigma half-width plus 5 sigma of the reference; and the half-width is honest
    assert np.all(np.abs(res.values - ref) <= res.error_bound + 5 * se)
    assert res.error_bound < 0.5
    # more samples shrink the stated half-width like 1/sqrt(n)
    big = attribute(net, x, "expected_gradients_uniform", samples=1024, rng=2)
    assert big.error_bound < 0.75 * res.error_bound


# ---------------------------------------------------------------------- SmoothGrad and LIME
@pytest.mark.parametrize("radius", [0.15, 0.3])
def test_smoothgrad_uniform_against_monte_carlo(radius, exact_radii):
    rng = np.random.default_rng(6)
    net = gaussian_network(rng, [2, 24, 24, 1])
    x = np.array([0.45, 0.6])
    res = attribute(net, x, "smoothgrad_uniform", radius=radius)
    n = 100_000
    Z = x + radius * (2 * rng.random((n, 2)) - 1)
    G = torch_gradients(net, Z)
    mean, se = G.mean(axis=0), G.std(axis=0) / np.sqrt(n)
    rounding = n * 2.0**-53 * np.abs(G).max(axis=0)  # of the reference mean itself
    assert np.all(np.abs(res.values - mean) <= 5 * se + rounding + res.error_bound), (res.values, mean, se)
    assert res.error_bound < 1e-10
    assert res.regions > 1


def test_smoothgrad_box_is_not_clipped_to_the_domain():
    # x at a corner: half of B lies outside [0,1]^2; the network is used there too
    net = ReLUNetwork([np.array([[1.0, 0.0]]), np.array([[1.0]])], [np.array([0.0]), np.array([0.0])])
    res = attribute(net, [0.0, 0.5], "smoothgrad_uniform", radius=0.25, exact=True)
    assert list(res.values) == [F(1, 2), F(0)]  # relu(z0) is active on half of [-1/4, 1/4]


def lime_monte_carlo(net, x, radius, rng, n=100_000):
    Z = x + radius * (2 * rng.random((n, len(x))) - 1)
    y = net(Z)
    X = np.hstack([np.ones((n, 1)), Z])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    sigma2 = resid @ resid / (n - X.shape[1])
    se = np.sqrt(sigma2 * np.diag(np.linalg.inv(X.T @ X)))
    return coef, se


@pytest.mark.parametrize("seed", [0, 1])
def test_lime_uniform_against_least_squares_monte_carlo(seed, exact_radii):
    rng = np.random.default_rng(seed)
    net = gaussian_network(rng, [2, 8, 8, 1])
    x = rng.random(2) * 0.6 + 0.2
    res = attribute(net, x, "lime_uniform", radius=0.2)
    coef, se = lime_monte_carlo(net, x, 0.2, rng)
    assert np.all(np.abs(res.values - coef[1:]) <= 5 * se[1:] + res.error_bound), (res.values, coef, se)
    assert abs(res.info["intercept"] - coef[0]) <= 5 * se[0] + 1e-9
    assert res.error_bound < 1e-8


@pytest.mark.parametrize("seed", [0, 1])
def test_lime_and_smoothgrad_exact_equal_float_within_bound(seed, exact_radii):
    rng = np.random.default_rng(9 + seed)
    net = dyadic_network(rng, [2, 5, 4, 1]) if seed == 0 else gaussian_network(rng, [2, 8, 8, 1])
    x = np.array([0.5, 0.375])
    for method in ("smoothgrad_uniform", "lime_uniform"):
        fl = attribute(net, x, method, radius=0.25)
        ex = attribute(net, x, method, radius=F(1, 4), exact=True)
        assert ex.exact and all(isinstance(v, Fraction) for v in ex.values)
        assert np.max(np.abs(fl.values - as_float(ex.values))) <= fl.error_bound < 1e-10
        assert ex.regions >= 1 and fl.regions >= 1
        if seed == 1:
            assert fl.regions > 5


def test_lime_exact_on_a_single_kink_by_hand():
    # f(z) = relu(z0) on B = [-1/2, 1/2] x [0, 1]: the least-squares slope of relu on [-r, r] under
    # the uniform law is Cov(z, relu z)/Var z = (r^2/6)/(r^2/3) = 1/2, independent of z1
    net = ReLUNetwork([np.array([[1.0, 0.0]]), np.array([[1.0]])], [np.array([0.0]), np.array([0.0])])
    res = attribute(net, [0, F(1, 2)], "lime_uniform", radius=F(1, 2), exact=True, domain=([-1, 0], [1, 1]))
    assert list(res.values) == [F(1, 2), F(0)]
    # intercept: E relu = r/4 = 1/8, minus slope times mean 0
    assert res.info["intercept"] == F(1, 8)


# ----------------------------------------------------------------------------- bad options
def test_bad_options_raise_naming_the_option():
    net = boundary_network()
    x = [0.4, 0.6]
    with pytest.raises(PolyattrError, match="radius"):
        attribute(net, x, "smoothgrad_uniform", radius=-1)
    with pytest.raises(PolyattrError, match="radius"):
        attribute(net, x, "lime_uniform", radius=[0.1, 0.2, 0.3])
    with pytest.raises(PolyattrError, match="direction"):
        attribute(net, x, "gradient", direction=[0, 0])
    with pytest.raises(PolyattrError, match="direction"):
        attribute(net, x, "gradient", direction=[1, 0, 0])
    with pytest.raises(PolyattrError, match="background"):
        attribute(net, x, "expected_gradients")
    with pytest.raises(PolyattrError, match="background"):
        attribute(net, x, "expected_gradients", background=np.ones((2, 3)))
    with pytest.raises(PolyattrError, match="background"):
        attribute(net, x, "expected_gradients", background=[[2.0, 0.0]])  # outside the domain
    with pytest.raises(PolyattrError, match="samples"):
        attribute(net, x, "expected_gradients_uniform", samples=1)
    with pytest.raises(PolyattrError, match="rng"):
        attribute(net, x, "expected_gradients_uniform", rng="seed")
    with pytest.raises(PolyattrError, match="options"):
        attribute(net, x, "ig", radius=0.1)
    with pytest.raises(PolyattrError, match="baseline"):
        attribute(net, x, "expected_gradients", background=[[0.0, 0.0]], baseline=[0.0, 0.0])


def test_every_method_uses_the_selected_output():
    rng = np.random.default_rng(12)
    net = gaussian_network(rng, [2, 6, 6, 3])
    x, xb = np.array([0.4, 0.7]), np.array([0.1, 0.2])
    cases = [("gradient", {}), ("gradient_x_input", {}), ("ig", {"baseline": xb}), ("deeplift", {"baseline": xb}),
             ("epsilon_lrp", {}), ("smoothgrad_uniform", {"radius": 0.2}), ("lime_uniform", {"radius": 0.2}),
             ("expected_gradients", {"background": [xb, [0.9, 0.9]]}),
             ("expected_gradients_uniform", {"samples": 16, "rng": 0})]
    for method, kw in cases:
        per_output = []
        for k in range(3):
            a = attribute(net, x, method, output=k, **kw)
            b = attribute(net.select_output(k), x, method, **kw)
            np.testing.assert_allclose(a.values, b.values, atol=1e-13, rtol=0, err_msg=method)
            per_output.append(a.values)
        assert not np.allclose(per_output[0], per_output[1]), method  # the outputs differ
        with pytest.raises(PolyattrError, match="output"):
            attribute(net, x, method, **kw)
