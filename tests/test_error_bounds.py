"""Float error bounds are bounds: |float result - exact rational result| <= stated bound, every case.

The exact result is polyattr's exact mode on the same model (the float weights and points taken as
the rationals they are), which these tests treat as the reference: its values are checked
independently elsewhere (completeness identities, brute force, sympy).  The models are adversarial:
weights spanning 1e-8..1e8, deep narrow networks, leaky and identity units, and points within
1e-12 of a hyperplane of a hidden unit.
"""

from fractions import Fraction as F

import numpy as np
import pytest

from polyattr import ReLUNetwork, attribute


def ill_conditioned(rng, sizes, leaky=False):
    Ws, bs = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        mag = 10.0 ** rng.uniform(-8, 8, size=(fan_out, fan_in))
        Ws.append(mag * rng.choice([-1.0, 1.0], size=(fan_out, fan_in)))
        bs.append(10.0 ** rng.uniform(-8, 8, size=fan_out) * rng.choice([-1.0, 1.0], size=fan_out))
    slopes = None
    if leaky:
        slopes = [rng.choice([0.0, 0.01, 1.0, 0.3, 1.5], size=n) for n in sizes[1:-1]]
    return ReLUNetwork(Ws, bs, slopes)


def deep_narrow(rng, depth=24, width=3, d=2, leaky=False):
    sizes = [d] + [width] * depth + [1]
    Ws = [rng.normal(size=(o, i)) * 1.3 for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=o) * 0.3 for o in sizes[1:]]
    slopes = [rng.choice([0.0, 0.1, 1.0], size=width) for _ in range(depth)] if leaky else None
    return ReLUNetwork(Ws, bs, slopes)


def near_hyperplane_points(net, rng, n, layer_unit=(0, 0)):
    """Points whose pre-activation of one hidden unit is within ~1e-12 of 0 (moved along its gradient)."""
    layer, unit = layer_unit
    ex = net.to_exact()
    idx = sum(net.hidden_sizes[:layer]) + unit
    pts = []
    for _ in range(n):
        x = rng.uniform(-1, 1, size=net.n_inputs)
        for _ in range(3):  # Newton steps in exact arithmetic on the unit's local affine map
            pat = ex.activation_pattern(np.array([F(v) for v in x], dtype=object))
            maps = ex.preactivation_maps(pat)
            G, h = maps[layer]
            g, c = G[unit], h[unit]
            xq = [F(v) for v in x]
            a = sum((gi * xi for gi, xi in zip(g, xq)), start=F(0)) + c
            gg = sum((gi * gi for gi in g), start=F(0))
            if gg == 0:
                break
            x = np.array([float(xi - a * gi / gg) for xi, gi in zip(xq, g)]) + rng.uniform(-1e-12, 1e-12, net.n_inputs)
        pts.append(x)
    del idx
    return np.array(pts)


def exact_value(net, x, output=0):
    return net.to_exact()(np.array([F(float(v)) for v in x], dtype=object), output=output)


def models(seed):
    rng = np.random.default_rng(seed)
    return [
        ("ill-conditioned", ill_conditioned(rng, [3, 6, 6, 1])),
        ("ill-conditioned leaky", ill_conditioned(rng, [3, 5, 5, 5, 1], leaky=True)),
        ("deep narrow", deep_narrow(rng)),
        ("deep narrow leaky", deep_narrow(rng, leaky=True)),
    ]


@pytest.mark.parametrize("seed", range(4))
def test_evaluation_error_bound_holds(seed):
    rng = np.random.default_rng(100 + seed)
    for name, net in models(seed):
        X = np.vstack([rng.uniform(-1, 1, size=(20, net.n_inputs)) * 10.0 ** rng.uniform(-3, 3, size=(20, 1)),
                       near_hyperplane_points(net, rng, 5)])
        values = net(X)
        bounds = net.evaluation_error_bound(X, 0)
        for x, v, b in zip(X, values, bounds):
            err = abs(F(float(v)) - exact_value(net, x))
            assert err <= F(float(b)), (name, float(err), b)
        # pre-activation bounds too (they decide ties)
        for x in X[:5]:
            ex_pres = net.to_exact().forward(np.array([F(float(v)) for v in x], dtype=object))[1]
            fl_pres = net.forward(x)[1]
            for e, a, b in zip(net.preactivation_error_bounds(x), fl_pres, ex_pres):
                assert all(abs(F(float(ai)) - bi) <= F(float(ei)) for ai, bi, ei in zip(a, b, e)), name


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("method", ["gradient", "gradient_x_input", "ig", "deeplift", "epsilon_lrp", "occlusion",
                                    "shapley"])
def test_attribution_error_bounds_hold(seed, method):
    rng = np.random.default_rng(200 + seed)
    for name, net in models(seed):
        d = net.n_inputs
        n_plain = 1 if method == "epsilon_lrp" else 2  # exact LRP ratios grow long on deep networks
        X = np.vstack([rng.uniform(-1, 1, size=(n_plain, d)), near_hyperplane_points(net, rng, 1)])
        big = 2.0 * max(1.0, float(np.max(np.abs(X))))
        dom = ([-big] * d, [big] * d)
        for x in X:
            base = rng.uniform(-1, 1, size=d) if method in ("ig", "deeplift", "occlusion", "shapley") else None
            kw = {} if base is None else {"baseline": list(base)}
            fl = attribute(net, list(x), method, domain=dom, **kw)
            ex = attribute(net, [F(float(v)) for v in x], method, domain=dom, exact=True,
                           **({} if base is None else {"baseline": [F(float(v)) for v in base]}))
            err = max(abs(F(float(a)) - b) for a, b in zip(fl.values, ex.values))
            assert err <= F(float(fl.error_bound)), (name, method, float(err), fl.error_bound)
