"""SoftplusNetwork: values, closed-form gradient and Hessian, and the certified Hessian bound."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box
from polyattr.models.relu import ReLUNetwork
from polyattr.models.softplus import SoftplusNetwork, softplus, softplus_d1, softplus_d2


def random_softplus(rng, sizes, beta, scale=1.0):
    Ws = [rng.normal(size=(o, i)) * scale / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=o) * 0.5 for o in sizes[1:]]
    return SoftplusNetwork(Ws, bs, beta=beta)


def random_sizes(rng):
    d = int(rng.integers(1, 5))
    hidden = [int(h) for h in rng.integers(2, 9, size=int(rng.integers(1, 4)))]
    return [d, *hidden, 1]


def test_activation_is_stable_and_matches_naive_formula():
    t = np.linspace(-5, 5, 101)
    for beta in (0.5, 1.0, 3.0):
        naive = np.log1p(np.exp(beta * t)) / beta
        assert np.allclose(softplus(t, beta), naive, rtol=1e-13, atol=1e-15)
        assert np.allclose(softplus_d1(t, beta), 1 / (1 + np.exp(-beta * t)), rtol=1e-13)
        e = np.exp(beta * t)  # sigma'' = beta e^{bt} / (1 + e^{bt})^2, accurate for moderate t
        assert np.allclose(softplus_d2(t, beta), beta * e / (1 + e) ** 2, rtol=1e-12, atol=0)
        assert softplus_d2(t, beta).max() <= beta / 4
    # no overflow far out, and the ReLU limit log(2)/beta
    big = softplus(np.array([-1e4, 0.0, 1e4]), 2.0)
    assert np.all(np.isfinite(big)) and big[0] == 0.0 and big[2] == 1e4
    assert softplus(np.array([0.0]), 4.0)[0] == pytest.approx(np.log(2) / 4)


def test_from_relu_converges_to_relu_network():
    rng = np.random.default_rng(0)
    sizes = [3, 6, 5, 2]
    Ws = [rng.normal(size=(o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=o) for o in sizes[1:]]
    relu = ReLUNetwork(Ws, bs)
    X = rng.uniform(-1, 1, size=(50, 3))
    errs = []
    for beta in (1.0, 10.0, 100.0, 1000.0):
        sp = SoftplusNetwork.from_relu(relu, beta)
        assert sp(X).shape == (50, 2)
        errs.append(np.abs(sp(X, output=1) - relu(X, output=1)).max())
    assert errs[-1] < 0.05 and all(a > b for a, b in zip(errs, errs[1:]))
    assert isinstance(sp.to_relu(), ReLUNetwork)


def test_gradient_and_hessian_match_finite_differences():
    rng = np.random.default_rng(1)
    for _ in range(8):
        sizes = random_sizes(rng)
        net = random_softplus(rng, sizes, beta=float(rng.choice([0.5, 1.0, 4.0])))
        d = sizes[0]
        x = rng.uniform(-1, 1, size=d)
        eps = 1e-5
        E = np.eye(d)
        g_fd = np.array([(net(x + eps * e) - net(x - eps * e)) / (2 * eps) for e in E])
        H_fd = np.array([(net.gradient(x + eps * e) - net.gradient(x - eps * e)) / (2 * eps) for e in E])
        assert np.allclose(net.gradient(x), g_fd, atol=1e-8)
        H = net.hessian(x)
        assert np.allclose(H, H_fd, atol=1e-7)
        assert np.allclose(H, H.T, atol=1e-14)
        # batches agree with single points
        X = rng.uniform(-1, 1, size=(4, d))
        assert np.allclose(net.gradient(X)[2], net.gradient(X[2]))
        assert np.allclose(net.hessian(X)[3], net.hessian(X[3]))


def _torch_net(net):
    Ws = [torch.tensor(W) for W in net.weights]
    bs = [torch.tensor(b) for b in net.biases]
    beta = net.beta

    def f(z, k=0):
        h = z
        for W, b in zip(Ws[:-1], bs[:-1]):
            a = beta * (W @ h + b)
            h = (torch.relu(a) + torch.log1p(torch.exp(-torch.abs(a)))) / beta
        return (Ws[-1] @ h + bs[-1])[k]

    return f


def test_gradient_and_hessian_match_torch_autograd():
    rng = np.random.default_rng(2)
    for _ in range(6):
        d = int(rng.integers(1, 5))
        sizes = [d, int(rng.integers(2, 8)), int(rng.integers(2, 8)), 3]
        net = random_softplus(rng, sizes, beta=float(rng.choice([0.7, 2.0, 6.0])))
        f = _torch_net(net)
        x = rng.uniform(-1, 1, size=d)
        for k in range(3):
            xt = torch.tensor(x, requires_grad=True)
            (g,) = torch.autograd.grad(f(xt, k), xt)
            H = torch.autograd.functional.hessian(lambda z: f(z, k), torch.tensor(x))
            assert np.allclose(net(x, output=k), f(torch.tensor(x), k).item(), rtol=1e-13, atol=1e-13)
            assert np.allclose(net.gradient(x, output=k), g.numpy(), rtol=1e-12, atol=1e-13)
            assert np.allclose(net.hessian(x, output=k), H.numpy(), rtol=1e-11, atol=1e-13)


def _max_hessian_norm(net, lo, hi, rng, n_samples=1000, n_starts=4):
    d = lo.shape[0]
    Z = rng.uniform(lo, hi, size=(n_samples, d))
    Z = np.vstack([Z, lo, hi])
    norms = np.linalg.norm(net.hessian(Z), 2, axis=(1, 2))
    best = norms.max()
    for z0 in Z[np.argsort(-norms)[:n_starts]]:
        res = minimize(lambda z: -np.linalg.norm(net.hessian(z), 2), z0, bounds=list(zip(lo, hi)), method="L-BFGS-B")
        best = max(best, -res.fun)
    return best


def test_hessian_bound_is_never_below_the_largest_hessian_found():
    rng = np.random.default_rng(3)
    ratios = []
    for _ in range(30):
        sizes = random_sizes(rng)
        d = sizes[0]
        net = random_softplus(rng, sizes, beta=float(rng.choice([0.5, 1.0, 3.0, 10.0])), scale=float(rng.choice([0.5, 1.0, 2.0])))
        lo = rng.uniform(-1, 0.5, size=d)
        hi = lo + rng.uniform(0.05, 2.0, size=d)
        M = net.hessian_bound(Box(lo, hi))
        found = _max_hessian_norm(net, lo, hi, rng)
        assert found <= M, (sizes, found, M)
        assert found <= net.hessian_bound_crude()
        ratios.append(found / M)
    # the bound is not vacuous: on some networks it is nearly attained
    assert max(ratios) > 0.5


def test_hessian_bound_holds_on_narrow_deep_networks_with_large_weights():
    # narrow layers and large weights make the adjoint intervals wide and sign-changing: this is
    # where an unsound interval step (e.g. using the centre of an adjoint interval) shows up
    rng = np.random.default_rng(11)
    for _ in range(60):
        d = int(rng.integers(1, 3))
        sizes = [d, *[int(h) for h in rng.integers(1, 4, size=int(rng.integers(2, 4)))], 1]
        net = random_softplus(rng, sizes, beta=float(rng.choice([1.0, 3.0, 10.0])), scale=float(rng.choice([2.0, 4.0])))
        lo = rng.uniform(-1, 0.5, size=d)
        hi = lo + rng.uniform(0.05, 2.0, size=d)
        M = net.hessian_bound(Box(lo, hi))
        found = _max_hessian_norm(net, lo, hi, rng, n_samples=500, n_starts=3)
        assert found <= M, (sizes, found, M)


def _adjoints(net, Z):
    """delta_{l+1} = d f / d h_{l+1} at the points Z, by plain backpropagation."""
    pres, h = [], Z
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        a = h @ W.T + b
        pres.append(a)
        h = softplus(a, net.beta)
    delta = np.broadcast_to(net.weights[-1][0], (Z.shape[0], net.weights[-1].shape[1]))
    out = [None] * len(pres)
    for l in range(len(pres) - 1, -1, -1):
        out[l] = delta
        delta = (softplus_d1(pres[l], net.beta) * delta) @ net.weights[l]
    return pres, out


def test_interval_bounds_contain_sampled_preactivations_and_adjoints():
    rng = np.random.default_rng(13)
    for _ in range(40):
        d = int(rng.integers(1, 4))
        sizes = [d, *[int(h) for h in rng.integers(1, 6, size=int(rng.integers(1, 4)))], 1]
        net = random_softplus(rng, sizes, beta=float(rng.choice([1.0, 5.0])), scale=float(rng.choice([1.0, 3.0])))
        lo = rng.uniform(-1, 0.5, size=d)
        hi = lo + rng.uniform(0.05, 2.0, size=d)
        Z = np.vstack([rng.uniform(lo, hi, size=(3000, d)), lo, hi])
        pres, adjoints = _adjoints(net, Z)
        box = Box(lo, hi)
        for (plo, phi), a in zip(net.preactivation_bounds(box), pres):
            assert np.all(a >= plo - 1e-12) and np.all(a <= phi + 1e-12)
        bounds = net.adjoint_bounds(box)
        widths = []
        for (alo, ahi), dl in zip(bounds, adjoints):
            assert np.all(dl >= alo - 1e-12) and np.all(dl <= ahi + 1e-12)
            widths.append(np.max(ahi - alo))
        # not vacuous: sampled adjoints reach close to the interval ends on the last hidden layer
        span = adjoints[0].max(axis=0) - adjoints[0].min(axis=0)
        assert np.all(span <= bounds[0][1] - bounds[0][0] + 1e-12)


def test_each_hessian_bound_ingredient_is_sound_and_splitting_converges():
    rng = np.random.default_rng(14)
    for _ in range(12):
        d = int(rng.integers(1, 3))
        sizes = [d, *[int(h) for h in rng.integers(2, 8, size=int(rng.integers(1, 3)))], 1]
        net = random_softplus(rng, sizes, beta=float(rng.choice([1.0, 4.0])), scale=float(rng.choice([1.0, 2.0])))
        lo = rng.uniform(-1, 0, size=d)
        hi = lo + rng.uniform(0.2, 1.5, size=d)
        found = _max_hessian_norm(net, lo, hi, rng, n_samples=800, n_starts=3)
        # the layer-wise bound and the interval-matrix bound are each sound on their own
        assert found <= net._hessian_bound_layerwise(lo, hi, 0) * (1 + 1e-9)
        assert found <= net._hessian_bound_interval_matrix(lo, hi, 0) * (1 + 1e-9)
        bounds = [net.hessian_bound((lo, hi), splits=k) for k in (1, 4, 16)]
        assert all(found <= b for b in bounds)
        assert bounds[2] <= bounds[0] * (1 + 1e-9)
        # with 16^d sub-boxes the sign-aware interval bound gets within a small factor of the true sup
        assert bounds[2] <= 3.0 * found + 1e-9, (sizes, found, bounds)
    with pytest.raises(PolyattrError, match="splits"):
        net.hessian_bound((lo, hi), splits=0)


def test_hessian_bound_is_exact_for_one_neuron():
    # f(z) = w1 softplus(w0 z + b): Hess = w1 w0^2 sigma''; the sup over a box containing the
    # inflection point -b/w0 is |w1| w0^2 beta / 4, and on a box away from it sigma'' at the near end.
    for beta in (0.5, 2.0, 7.0):
        net = SoftplusNetwork([np.array([[1.5]]), np.array([[-2.0]])], [np.array([0.3]), np.array([0.1])], beta=beta)
        assert net.hessian_bound(Box([-1.0], [1.0])) == pytest.approx(2.0 * 1.5**2 * beta / 4, rel=1e-8)
        near = 0.5 * 1.5 + 0.3
        expected = 2.0 * 1.5**2 * softplus_d2(np.array([near]), beta)[0]
        assert net.hessian_bound(Box([0.5], [2.0])) == pytest.approx(expected, rel=1e-8)
        assert abs(net.hessian(np.array([0.5]))[0, 0]) == pytest.approx(expected, rel=1e-12)


def test_hessian_bound_shrinks_with_the_box_and_vanishes_for_affine_models():
    rng = np.random.default_rng(4)
    net = random_softplus(rng, [3, 8, 8, 1], beta=2.0)
    big = net.hessian_bound(Box([-2] * 3, [2] * 3))
    small = net.hessian_bound(Box([0.1] * 3, [0.2] * 3))
    point = net.hessian_bound((np.full(3, 0.15), np.full(3, 0.15)))
    assert point <= small <= big
    assert np.linalg.norm(net.hessian(np.full(3, 0.15)), 2) <= point
    affine = SoftplusNetwork([np.ones((1, 2))], [np.zeros(1)])
    assert affine.hessian_bound(Box.unit(2)) == 0.0
    assert np.all(affine.hessian(np.array([0.3, 0.4])) == 0)


def test_hessian_bound_grows_linearly_with_beta_on_boxes_with_kinks():
    rng = np.random.default_rng(5)
    Ws = [rng.normal(size=(6, 2)), rng.normal(size=(1, 6))]
    bs = [rng.normal(size=6) * 0.3, np.zeros(1)]
    box = Box([-1, -1], [1, 1])
    Ms = [SoftplusNetwork(Ws, bs, beta=b).hessian_bound(box) for b in (10.0, 100.0, 1000.0)]
    assert Ms[1] / Ms[0] > 5 and Ms[2] / Ms[1] > 5


def test_validation_names_the_input():
    with pytest.raises(PolyattrError, match="beta"):
        SoftplusNetwork([np.ones((1, 2))], [np.zeros(1)], beta=0)
    with pytest.raises(PolyattrError, match="beta"):
        SoftplusNetwork([np.ones((1, 2))], [np.zeros(1)], beta=float("nan"))
    with pytest.raises(PolyattrError, match="W1"):
        SoftplusNetwork([np.ones((3, 2)), np.ones((1, 4))], [np.zeros(3), np.zeros(1)])
    net = SoftplusNetwork([np.ones((3, 2)), np.ones((2, 3))], [np.zeros(3), np.zeros(2)])
    with pytest.raises(PolyattrError, match="x"):
        net.gradient(np.ones(3), output=0)
    with pytest.raises(PolyattrError, match="x"):
        net.hessian(np.array([np.nan, 1.0]), output=0)
    with pytest.raises(PolyattrError, match="output"):
        net.gradient(np.ones(2))
    with pytest.raises(PolyattrError, match="output"):
        net.hessian_bound(Box.unit(2), output=5)
    with pytest.raises(PolyattrError, match="domain"):
        net.hessian_bound(Box.unit(3), output=0)
    with pytest.raises(PolyattrError, match="net"):
        SoftplusNetwork.from_relu("not a network", 1.0)
