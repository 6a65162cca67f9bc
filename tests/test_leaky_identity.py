"""Leaky-ReLU and identity units, checked against computations that do not use polyattr's algebra.

References: a plain-Python forward pass written here (``ref_forward``, unit = max(z, 0) + alpha min(z, 0),
in floats or Fractions), central finite differences, dense sampling of the box, the ReLU network
with an identity layer multiplied out, and 2^d coalition enumeration for baseline Shapley.
"""

from fractions import Fraction as F
from itertools import combinations
from math import factorial

import numpy as np
import pytest

from polyattr import PolyattrError, ReLUNetwork, attribute, enumerate_regions
from polyattr.models.protocol import PiecewiseAffineModel


def ref_forward(Ws, bs, alphas, x):
    """The network by hand, one unit at a time (floats or Fractions)."""
    h = list(x)
    for li, (W, b) in enumerate(zip(Ws, bs)):
        z = [sum((W[o][i] * h[i] for i in range(len(h))), start=0 * b[o]) + b[o] for o in range(len(b))]
        if li == len(Ws) - 1:
            return z
        h = [max(v, 0 * v) + alphas[li][o] * min(v, 0 * v) for o, v in enumerate(z)]


def leaky_identity_net(rng, d=2, exact=False):
    """d -> 5 (ReLU, leaky 1/10, identity, leaky 1/3, ReLU) -> 4 (identity x2, leaky 2, ReLU) -> 1."""
    Ws = [rng.normal(size=(5, d)), rng.normal(size=(4, 5)), rng.normal(size=(1, 4))]
    bs = [rng.normal(size=5) * 0.5, rng.normal(size=4) * 0.5, rng.normal(size=1)]
    alphas = [[F(0), F(1, 10), F(1), F(1, 3), F(0)], [F(1), F(1), F(2), F(0)]]
    slopes = [["0", "1/10", "1", "1/3", "0"], ["1", "1", "2", "0"]]
    net = ReLUNetwork(Ws, bs, slopes, exact=exact)
    if not exact:
        alphas = [[float(a) for a in row] for row in alphas]
    return net, Ws, bs, alphas


def test_constructor_shapes_and_bad_slopes():
    rng = np.random.default_rng(0)
    net, *_ = leaky_identity_net(rng)
    assert isinstance(net, PiecewiseAffineModel)
    assert net.hidden_sizes == (5, 4) and net.n_units == 9
    assert net.n_neurons == 6  # identity units are not part of patterns
    assert net.pattern_sizes == (4, 2)
    assert len(net.negative_slopes) == 2 and net.negative_slopes[0].shape == (5,)
    exact = net.to_exact()
    assert exact.negative_slopes[0][3] == F(1, 3) or exact.negative_slopes[0][3] == F(float(1 / 3))
    ex2, *_ = leaky_identity_net(np.random.default_rng(0), exact=True)
    assert ex2.negative_slopes[0][3] == F(1, 3)
    # the default is all ReLU, and a scalar per layer broadcasts
    assert ReLUNetwork(net.weights, net.biases).is_relu
    assert np.all(ReLUNetwork(net.weights, net.biases, [0.5, 1]).negative_slopes[1] == 1)
    for bad, msg in [([np.zeros(5)], "one array per hidden layer"), ([np.zeros(4), np.zeros(4)], "expected shape"),
                     ([np.zeros(5), [0, 0, np.nan, 0]], "NaN"), ("0.1", "one array per hidden layer")]:
        with pytest.raises(PolyattrError, match=msg):
            ReLUNetwork(net.weights, net.biases, bad)


def test_forward_patterns_and_local_maps_match_the_hand_written_network():
    rng = np.random.default_rng(1)
    net, Ws, bs, alphas = leaky_identity_net(rng, d=3)
    X = rng.uniform(-2, 2, size=(200, 3))
    ref = np.array([ref_forward(Ws, bs, alphas, x)[0] for x in X])
    np.testing.assert_allclose(net(X), ref, rtol=1e-13, atol=1e-13)
    out, pres = net.forward(X)
    np.testing.assert_allclose(out[:, 0], ref, rtol=1e-13, atol=1e-13)
    cut = np.array([a != 1 for row in alphas for a in row])
    pre_all = np.hstack(pres)
    np.testing.assert_array_equal(net.activation_pattern(X), pre_all[:, cut] > 0)
    # local maps: W_P x + b_P = f(x), W_P = central finite differences of the hand-written network
    P = net.activation_pattern(X)
    W, b = net.local_affine_maps(P, output=0)
    np.testing.assert_allclose(np.einsum("kd,kd->k", W, X) + b, ref, atol=1e-12)
    np.testing.assert_allclose(net.pattern_gradients(P, 0), W, atol=1e-13)
    h = 1e-6
    for x, w in zip(X[:40], W[:40]):
        fd = [(ref_forward(Ws, bs, alphas, x + h * e)[0] - ref_forward(Ws, bs, alphas, x - h * e)[0]) / (2 * h)
              for e in np.eye(3)]
        if np.min(np.abs(net.hidden_preactivations(x))) > 1e-4:  # the step stays in the region
            np.testing.assert_allclose(fd, w, atol=1e-7)
    # the region rows hold at the point
    for x, p in zip(X[:20], P[:20]):
        A, c = net.pattern_constraints(p)
        assert A.shape == (6, 3) and np.all(A @ x <= c + 1e-12)


def test_exact_local_maps_and_rows_are_exact():
    rng = np.random.default_rng(2)
    net, Ws, bs, alphas = leaky_identity_net(rng, d=2, exact=True)
    Wf = [[[F(v) for v in row] for row in W] for W in Ws]
    bf = [[F(v) for v in b] for b in bs]
    for x in [(F(1, 3), F(-2, 7)), (F(3, 2), F(1, 5)), (F(-1), F(4, 3))]:
        value = ref_forward(Wf, bf, alphas, x)[0]
        assert net(np.array(x, dtype=object)) == value
        p = net.activation_pattern(np.array(x, dtype=object))
        w, b0 = net.local_affine_map(p, 0)
        assert w[0] * x[0] + w[1] * x[1] + b0 == value
        pat, A, c, scales = net.integer_pattern_rows(p)
        assert all(sum(int(a) * xi for a, xi in zip(row, x)) <= int(cc) for row, cc in zip(A, c))
        np.testing.assert_array_equal(pat, p)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partition_invariants_lp_and_split_agree(seed):
    rng = np.random.default_rng(seed)
    net, Ws, bs, alphas = leaky_identity_net(rng, d=2)
    box = (np.array([-1.5, -1.0]), np.array([1.0, 2.0]))
    vol = 2.5 * 3.0
    a = enumerate_regions(net, box, backend="split")
    b = enumerate_regions(net, box, backend="lp")
    assert abs(a.total_volume - vol) < 1e-12 * vol and abs(b.total_volume - vol) < 1e-9 * vol
    va = {p.tobytes(): v for p, v in zip(a.patterns, a.volumes)}
    vb = {p.tobytes(): v for p, v in zip(b.patterns, b.volumes)}
    assert va.keys() == vb.keys() and len(va) == len(a)
    for k in va:
        assert abs(va[k] - vb[k]) < 1e-9
    # sampled points: the hand-written pre-activations' signs give patterns of enumerated regions,
    # in proportion to their volumes (5-sigma)
    X = rng.uniform(box[0], box[1], size=(4000, 2))
    cut = np.array([al != 1 for row in alphas for al in row])
    pats = []
    for x in X:
        h, pre = list(x), []
        for li, (W, bb) in enumerate(zip(Ws[:-1], bs[:-1])):
            z = W @ np.array(h) + bb
            pre.extend(z)
            h = np.maximum(z, 0) + np.array(alphas[li]) * np.minimum(z, 0)
        pats.append((np.array(pre)[cut] > 0).astype(bool))
    keys = [np.asarray(p).tobytes() for p in pats]
    assert set(keys) <= set(va)
    for k, v in va.items():
        p = v / vol
        freq = keys.count(k) / len(keys)
        assert abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / len(keys)) + 1e-3


def test_identity_layer_has_exactly_the_regions_of_the_multiplied_out_relu_network():
    rng = np.random.default_rng(5)
    d = 3
    W0, b0 = rng.normal(size=(6, d)), rng.normal(size=6) * 0.3
    W1, b1 = rng.normal(size=(4, 6)), rng.normal(size=4) * 0.3  # identity layer
    W2, b2 = rng.normal(size=(5, 4)), rng.normal(size=5) * 0.3
    W3, b3 = rng.normal(size=(1, 5)), rng.normal(size=1)
    with_identity = ReLUNetwork([W0, W1, W2, W3], [b0, b1, b2, b3], [0, 1, 0])
    merged = ReLUNetwork([W0, W2 @ W1, W3], [b0, W2 @ b1 + b2, b3])
    assert with_identity.n_neurons == merged.n_neurons == 11
    box = (-np.ones(d), np.ones(d))
    for backend in ("split", "lp"):
        a = enumerate_regions(with_identity, box, backend=backend)
        b = enumerate_regions(merged, box, backend=backend)
        va = {p.tobytes(): v for p, v in zip(a.patterns, a.volumes)}
        vb = {p.tobytes(): v for p, v in zip(b.patterns, b.volumes)}
        assert va.keys() == vb.keys()
        assert max(abs(va[k] - vb[k]) for k in va) < 1e-9
    X = rng.uniform(-1, 1, size=(50, d))
    np.testing.assert_allclose(with_identity(X), merged(X), atol=1e-12)


def test_ig_deeplift_completeness_exact_on_leaky_identity_networks():
    rng = np.random.default_rng(7)
    net, Ws, bs, alphas = leaky_identity_net(rng, d=2, exact=True)
    Wf = [[[F(v) for v in row] for row in W] for W in Ws]
    bf = [[F(v) for v in b] for b in bs]
    x, x0 = [F(9, 10), F(-3, 4)], [F(-1, 2), F(7, 5)]
    gap = ref_forward(Wf, bf, alphas, x)[0] - ref_forward(Wf, bf, alphas, x0)[0]
    for method in ("ig", "deeplift"):
        res = attribute(net, x, method, baseline=x0, exact=True, domain=([-2, -2], [2, 2]))
        assert all(isinstance(v, F) for v in res.values)
        assert sum(res.values) == gap


def test_ig_is_the_path_integral_of_the_hand_written_gradient():
    rng = np.random.default_rng(8)
    net, Ws, bs, alphas = leaky_identity_net(rng, d=2)
    x, x0 = np.array([0.8, -0.6]), np.array([-0.7, 1.2])
    res = attribute(net, x, "ig", baseline=x0, domain=([-2, -2], [2, 2]))
    # midpoint rule on the breakpoint pieces, gradients by finite differences of ref_forward
    T = np.array([float(t) for t in res.info["breakpoints"]])
    total = np.zeros(2)
    h = 1e-7
    for t0, t1 in zip(T[:-1], T[1:]):
        z = x0 + 0.5 * (t0 + t1) * (x - x0)
        g = [(ref_forward(Ws, bs, alphas, z + h * e)[0] - ref_forward(Ws, bs, alphas, z - h * e)[0]) / (2 * h)
             for e in np.eye(2)]
        total += (t1 - t0) * np.array(g)
    np.testing.assert_allclose(res.values, (x - x0) * total, atol=1e-6)
    assert abs(sum(res.values) - (ref_forward(Ws, bs, alphas, x)[0] - ref_forward(Ws, bs, alphas, x0)[0])) <= \
        res.error_bound + 1e-12


def test_baseline_shapley_equals_coalition_enumeration_exactly():
    rng = np.random.default_rng(9)
    d = 3
    net, Ws, bs, alphas = leaky_identity_net(rng, d=d, exact=True)
    Wf = [[[F(v) for v in row] for row in W] for W in Ws]
    bf = [[F(v) for v in b] for b in bs]
    x, x0 = [F(1, 2), F(-1, 3), F(3, 4)], [F(0), F(1, 5), F(-1, 2)]

    def v(S):
        z = [x[i] if i in S else x0[i] for i in range(d)]
        return ref_forward(Wf, bf, alphas, z)[0]

    expected = []
    for j in range(d):
        others = [i for i in range(d) if i != j]
        phi = F(0)
        for k in range(d):
            for S in combinations(others, k):
                phi += F(factorial(k) * factorial(d - k - 1), factorial(d)) * (v(set(S) | {j}) - v(set(S)))
        expected.append(phi)
    res = attribute(net, x, "shapley", baseline=x0, exact=True, domain=([-1] * d, [1] * d))
    assert list(res.values) == expected


def test_gradient_on_a_leaky_boundary_takes_the_requested_side():
    # f(z) = leaky(z_0 - z_1) with alpha = 1/4, at a point on the kink
    net = ReLUNetwork([[[1, -1]], [[1]]], [[0], [0]], [["1/4"]], exact=True)
    x = [F(1, 2), F(1, 2)]
    up = attribute(net, x, "gradient", exact=True, direction=[1, 0]).values
    down = attribute(net, x, "gradient", exact=True, direction=[-1, 0]).values
    assert list(up) == [1, -1] and list(down) == [F(1, 4), F(-1, 4)]
    assert list(attribute(net, x, "gradient", exact=True).values) == [F(1, 4), F(-1, 4)]  # ties inactive
