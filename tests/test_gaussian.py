"""Gaussian probabilities of intervals and triangles (against mpmath at 30+ digits), SmoothGrad with
Gaussian noise (against Monte Carlo with exact gradients, 5-sigma), and Captum's NoiseTunnel."""

from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest

import polyattr
from polyattr import ReLUNetwork
from polyattr.attribution.gradient_methods import local_gradient
from polyattr.integrate.gaussian import bivariate_normal_cdf, interval_probabilities, triangle_probabilities

mpmath.mp.dps = 30


def mp_phi(t):
    return mpmath.ncdf(t)


def test_interval_probabilities_match_mpmath():
    rng = np.random.default_rng(0)
    lo = rng.uniform(-3, 3, 20)
    hi = lo + rng.uniform(0, 2, 20)
    p, err = interval_probabilities(lo, hi, 0.3, 0.7)
    for a, b, pi, ei in zip(lo, hi, p, err):
        ref = mp_phi((mpmath.mpf(b) - mpmath.mpf(0.3)) / mpmath.mpf(0.7)) - mp_phi((mpmath.mpf(a) - mpmath.mpf(0.3)) / mpmath.mpf(0.7))
        assert abs(pi - float(ref)) <= ei and ei < 1e-14


def test_bivariate_cdf_matches_mpmath():
    for h, k, rho in [(0.3, -1.2, 0.5), (-2.0, -0.1, -0.8), (1.5, 2.5, 0.2), (0.0, 0.7, 0.3), (-0.4, 0.0, -0.6)]:
        # independent of Owen's T: Phi2(h, k; rho) = int_{-inf}^h phi(u) Phi((k - rho u) / sqrt(1 - rho^2)) du
        s = mpmath.sqrt(1 - mpmath.mpf(rho) ** 2)
        ref = mpmath.quad(lambda u: mpmath.npdf(u) * mpmath.ncdf((k - rho * u) / s), [-mpmath.inf, 0, h])
        assert abs(float(bivariate_normal_cdf(h, k, rho)) - float(ref)) < 1e-15


def test_triangle_probabilities_match_mpmath():
    rng = np.random.default_rng(1)
    tris = rng.uniform(-1, 1, (3, 3, 2))
    mean, sigma = np.array([0.1, -0.2]), 0.6
    p, err = triangle_probabilities(tris, mean, sigma)
    for T, pi, ei in zip(tris, p, err):
        a, b, c = (mpmath.matrix(list(map(mpmath.mpf, v))) for v in T)
        jac = abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1]))

        def dens(u, v):
            z = a + u * (b - a) + v * (c - a)
            return mpmath.exp(-((z[0] - mean[0]) ** 2 + (z[1] - mean[1]) ** 2) / (2 * sigma ** 2)) / (2 * mpmath.pi * sigma ** 2)

        ref = jac * mpmath.quad(lambda u: mpmath.quad(lambda v: dens(u, v), [0, 1 - u]), [0, 1])
        assert abs(pi - float(ref)) <= ei and ei < 1e-13


def monte_carlo_smoothgrad(net, x, sigma, n, rng):
    g = np.array([local_gradient(net, np.asarray(x, float) + sigma * rng.standard_normal(len(x)), 0)[0]
                  for _ in range(n)])
    return g.mean(axis=0), 5 * g.std(axis=0, ddof=1) / np.sqrt(n)


@pytest.mark.parametrize("sizes,x,sigma", [([1, 6, 6, 1], [0.4], 0.2), ([2, 8, 8, 1], [0.3, 0.6], 0.15)])
def test_smoothgrad_gaussian_closed_form_against_monte_carlo(sizes, x, sigma):
    net = polyattr.random_network(sizes, rng=3)
    res = polyattr.attribute(net, x, "smoothgrad_gaussian", sigma=sigma)
    assert not res.exact and res.error_bound <= 1e-12
    mean, half = monte_carlo_smoothgrad(net, x, sigma, 6000, np.random.default_rng(4))
    assert np.all(np.abs(res.values - mean) <= half + res.error_bound)


def test_smoothgrad_gaussian_affine_model_is_the_gradient_and_high_dimension_samples():
    net = ReLUNetwork([np.array([[1.0, -2.0, 0.5]]), np.array([[3.0]])], [np.array([10.0]), np.array([0.0])])
    res = polyattr.attribute(net, [0.5, 0.5, 0.5], "smoothgrad_gaussian", sigma=0.1, samples=200, rng=0)
    assert not res.exact and "Monte Carlo" in res.info["error_kind"]
    assert np.allclose(res.values, [3.0, -6.0, 1.5])  # always active: every sample has the same gradient
    net2 = ReLUNetwork([np.array([[1.0, -2.0]]), np.array([[3.0]])], [np.array([10.0]), np.array([0.0])])
    res2 = polyattr.attribute(net2, [0.5, 0.5], "smoothgrad_gaussian", sigma=0.1)
    assert np.all(np.abs(res2.values - np.array([3.0, -6.0])) <= res2.error_bound)
    with pytest.raises(polyattr.PolyattrError, match="sigma"):
        polyattr.attribute(net2, [0.5, 0.5], "smoothgrad_gaussian", sigma=0)


def test_captum_noise_tunnel_within_its_interval_around_ours():
    import torch
    from captum.attr import NoiseTunnel, Saliency

    net = polyattr.random_network([2, 8, 8, 1], rng=5)
    layers = []
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        lin = torch.nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(W))
            lin.bias.copy_(torch.tensor(b))
        layers.append(lin)
        if i < len(net.weights) - 1:
            layers.append(torch.nn.ReLU())
    module = torch.nn.Sequential(*layers)
    x, sigma, n = [0.3, 0.6], 0.15, 4000
    ours = polyattr.attribute(net, x, "smoothgrad_gaussian", sigma=sigma)
    inp = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    torch.manual_seed(0)
    tunnel = NoiseTunnel(Saliency(module))
    theirs = tunnel.attribute(inp, nt_type="smoothgrad", nt_samples=n, stdevs=sigma, abs=False, target=0)
    torch.manual_seed(0)
    second = tunnel.attribute(inp, nt_type="smoothgrad_sq", nt_samples=n, stdevs=sigma, abs=False, target=0)
    mean = theirs.detach().numpy()[0]
    std = np.sqrt(np.maximum(second.detach().numpy()[0] - mean ** 2, 0.0))
    assert np.all(np.abs(mean - ours.values) <= 5 * std / np.sqrt(n) + ours.error_bound)


def test_polygon_probabilities_match_triangles_and_owens_t_relative_accuracy():
    from scipy.special import owens_t

    from polyattr.integrate.gaussian import OWENS_T_RELATIVE_ERROR, polygon_probabilities

    rng = np.random.default_rng(7)
    for _ in range(5):
        centre = rng.uniform(-2, 2, 2)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 6))
        poly = centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * rng.uniform(0.3, 1.0)
        p, err = polygon_probabilities([poly], [0.1, -0.3], 0.5)
        fan = np.stack([np.repeat(poly[:1], 4, axis=0), poly[1:5], poly[2:6]], axis=1)
        q, qerr = triangle_probabilities(fan, [0.1, -0.3], 0.5)
        assert abs(p[0] - q.sum()) <= err[0] + qerr.sum()
    for h, a in [(0.3, 0.7), (2.0, -3.0), (6.0, 0.4), (9.0, 5.0), (0.05, 40.0)]:
        ref = mpmath.quad(lambda t: mpmath.exp(-h * h * (1 + t * t) / 2) / (1 + t * t), [0, a]) / (2 * mpmath.pi)
        assert abs(owens_t(h, a) - float(ref)) <= OWENS_T_RELATIVE_ERROR * abs(float(ref))


def _mp(q):
    q = Fraction(q)
    return mpmath.mpf(q.numerator) / q.denominator


def mp_polygon_probability(vertices, mean, sigma):
    """P(N(mean, sigma^2 I) in convex polygon) at 30 digits: vertical strips, mpmath quadrature of
    npdf(x) [Phi(top(x)) - Phi(bottom(x))] between the vertices' abscissae (not the fan of Owen's T)."""
    V = [(_mp(v[0]), _mp(v[1])) for v in vertices]
    cx, cy = sum(v[0] for v in V) / len(V), sum(v[1] for v in V) / len(V)
    V.sort(key=lambda v: mpmath.atan2(v[1] - cy, v[0] - cx))
    edges = [(V[i], V[(i + 1) % len(V)]) for i in range(len(V)) if V[i][0] != V[(i + 1) % len(V)][0]]
    m0, m1, s = mpmath.mpf(mean[0]), mpmath.mpf(mean[1]), mpmath.mpf(sigma)

    def strip(t):
        ys = [a[1] + (b[1] - a[1]) * (t - a[0]) / (b[0] - a[0]) for a, b in edges if min(a[0], b[0]) <= t <= max(a[0], b[0])]
        return mpmath.npdf(t, m0, s) * (mp_phi((max(ys) - m1) / s) - mp_phi((min(ys) - m1) / s))

    return mpmath.quad(strip, sorted(set(v[0] for v in V)))


def _distance_to_polygon(P, m):
    """Float distance from m to the boundary of convex polygon P (0 if inside): only used to skip far regions."""
    P = np.asarray(P, float)
    c = P.mean(axis=0)
    P = P[np.argsort(np.arctan2(P[:, 1] - c[1], P[:, 0] - c[0]))]
    a, b = P - m, np.roll(P, -1, axis=0) - m
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    if np.all(cross >= 0):
        return 0.0
    d = b - a
    t = np.clip(-np.einsum("ij,ij->i", a, d) / np.einsum("ij,ij->i", d, d), 0, 1)
    return float(np.min(np.linalg.norm(a + t[:, None] * d, axis=1)))


@pytest.mark.parametrize("sigma", [0.02, 0.05])
def test_default_model_bound_at_most_1e_12_and_matches_mpmath(sigma):
    """The default 2-input model: stated bound <= 1e-12, and the value within it of a 30-digit
    reference built from the exact (rational) region polygons, each region's gradient checked against
    a float forward pass at its centroid, probabilities by mpmath strip quadrature.  Regions farther
    than R = 9 sigma from x are left out of the reference: they carry at most exp(-R^2 / (2 sigma^2))
    of the noise (2-D Gaussian), times the largest gradient."""
    from fractions import Fraction as F

    from polyattr.attribution.integrals import Integrator
    from polyattr.geometry.domains import Box

    net = polyattr.load_model(Path(polyattr.__file__).parent / "data" / "default_2x16.npz")
    x = [0.5, 0.5]
    res = polyattr.attribute(net, x, "smoothgrad_gaussian", sigma=sigma)
    assert res.error_bound <= 1e-12
    half = F(sigma) * 10  # covers the method's box x +/- 10 sigma
    regions = Integrator(net, 0, exact=True).regions_on(Box([F(v) - half for v in x], [F(v) + half for v in x], exact=True))
    W, _ = regions.affine_maps(0)
    ref, total, wmax = [mpmath.mpf(0)] * 2, mpmath.mpf(0), 0.0
    for r in range(len(regions)):
        P = regions.vertices(r)
        Pf = np.array(P, dtype=float)
        assert np.allclose(local_gradient(net, Pf.mean(axis=0), 0)[0], np.array(W[r], dtype=float), atol=1e-12)
        wmax = max(wmax, float(np.max(np.abs(np.array(W[r], dtype=float)))))
        if _distance_to_polygon(Pf, np.array(x)) > 9 * sigma:
            continue
        p = mp_polygon_probability(P, x, sigma)
        total += p
        ref = [ref[j] + p * _mp(W[r][j]) for j in range(2)]
    assert abs(total - 1) < 1e-17  # the kept regions hold all but exp(-40.5) of the noise
    left_out = float(mpmath.exp(-mpmath.mpf(81) / 2)) * wmax + 4 * float(mpmath.ncdf(-10)) * wmax
    for j in range(2):
        assert abs(res.values[j] - float(ref[j])) <= res.error_bound + left_out


def _line_reference(net, x, feature, sigma):
    """E[grad f(x + sigma Z e_feature)] at 30 digits, independently of polyattr's geometry: a dense
    grid of float forward passes over +/- 10 sigma finds where the activation pattern changes,
    bisection pins each change to ~1e-16, and each piece adds (Phi(b) - Phi(a)) x its gradient."""
    net = net.to_float()
    line = lambda t: np.asarray(x, float) + np.outer(np.atleast_1d(t) - x[feature], np.eye(len(x))[feature])
    ts = x[feature] + sigma * np.linspace(-10, 10, 200001)
    pats = net.activation_pattern(line(ts))
    change = np.flatnonzero(np.any(pats[1:] != pats[:-1], axis=1))
    cuts = []
    for i in change:
        lo, hi = ts[i], ts[i + 1]
        p_lo = net.activation_pattern(line(lo))[0]
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            if np.array_equal(net.activation_pattern(line(mid))[0], p_lo):
                lo = mid
            else:
                hi = mid
        cuts.append(0.5 * (lo + hi))
    edges = [ts[0], *cuts, ts[-1]]
    ref = [mpmath.mpf(0)] * len(x)
    for a, b in zip(edges[:-1], edges[1:]):
        g = local_gradient(net, line(0.5 * (a + b))[0], 0)[0]
        p = mp_phi((mpmath.mpf(b) - x[feature]) / sigma) - mp_phi((mpmath.mpf(a) - x[feature]) / sigma)
        ref = [r + p * mpmath.mpf(float(gj)) for r, gj in zip(ref, g)]
    return np.array([float(r) for r in ref]), len(cuts)


def test_smoothgrad_gaussian_on_a_line_slice_of_a_4_input_model_matches_a_dense_reference():
    net = polyattr.random_network([4, 8, 8, 1], rng=11)
    x, sigma = [0.3, 0.6, 0.2, 0.5], 0.2
    res = polyattr.attribute(net, x, "smoothgrad_gaussian", sigma=sigma, noise_features=[1])
    assert "closed form" in res.info["error_kind"] and res.error_bound <= 1e-12
    ref, n_cuts = _line_reference(net, x, 1, sigma)
    assert n_cuts >= 2  # the line crosses several regions: not an affine case
    # tolerance: the stated bound, plus the reference's own cut placement (~1e-16 x density x |w|)
    assert np.all(np.abs(res.values - ref) <= res.error_bound + 1e-13)


def test_smoothgrad_gaussian_on_a_plane_slice_of_a_3_input_model():
    """Noise on features 0 and 2 of a 3-input model: the slice components equal the closed form of the
    2-input network restricted by hand (first layer W[:, [0, 2]], bias b + W[:, 1] x_1); all three
    components (the still one included) lie in a 5-sigma Monte Carlo interval with exact gradients."""
    net = polyattr.random_network([3, 8, 8, 1], rng=3)
    x, sigma = [0.3, 0.6, 0.2], 0.15
    res = polyattr.attribute(net, x, "smoothgrad_gaussian", sigma=sigma, noise_features="0,2")
    assert "closed form" in res.info["error_kind"] and res.error_bound <= 1e-12
    W0, b0 = net.weights[0], net.biases[0]
    small = ReLUNetwork([W0[:, [0, 2]], *net.weights[1:]], [b0 + W0[:, 1] * x[1], *net.biases[1:]])
    res2 = polyattr.attribute(small, [x[0], x[2]], "smoothgrad_gaussian", sigma=sigma,
                              domain=polyattr.Box([-10, -10], [10, 10]))
    # the hand-built bias is rounded once in floats: allow that perturbation on top of both bounds
    assert np.all(np.abs(res.values[[0, 2]] - res2.values) <= res.error_bound + res2.error_bound + 1e-13)
    rng = np.random.default_rng(5)
    fnet = net.to_float()
    g = np.array([local_gradient(fnet, np.array(x) + sigma * np.array([1, 0, 1]) * rng.standard_normal(3), 0)[0]
                  for _ in range(6000)])
    half = 5 * g.std(axis=0, ddof=1) / np.sqrt(len(g))
    assert np.all(np.abs(res.values - g.mean(axis=0)) <= half + res.error_bound)
    with pytest.raises(polyattr.PolyattrError, match="noise_features"):
        polyattr.attribute(net, x, "smoothgrad_gaussian", sigma=sigma, noise_features=[0, 3])
