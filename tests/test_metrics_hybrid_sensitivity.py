"""Exact sensitivity of the hybrid-point methods (occlusion, baseline Shapley) against independent
references: Monte Carlo written from the definitions in plain numpy (5-sigma interval) for the
average, a dense grid for the max (never above the exact max, and close to it)."""

from fractions import Fraction
from itertools import product
from math import factorial

import numpy as np
import pytest

from polyattr.metrics.sensitivity import sensitivity, sensitivity_avg, sensitivity_max
from polyattr.models.relu import ReLUNetwork

RADIUS = 0.5


def _net(d, seed):
    rng = np.random.default_rng(seed)
    W0, b0 = rng.normal(size=(4, d)), rng.normal(size=4)
    W1, b1 = rng.normal(size=(1, 4)), rng.normal(size=1)
    return ReLUNetwork([W0, W1], [b0, b1]), (W0, b0, W1, b1)


def _f(params, Z):
    W0, b0, W1, b1 = params
    return (np.maximum(Z @ W0.T + b0, 0) @ W1.T + b1)[:, 0]


def _grad(params, Z):
    W0, b0, W1, _ = params
    return ((Z @ W0.T + b0) > 0) * W1[0] @ W0


def _occlusion(params, Z, baseline):
    out = []
    for j in range(Z.shape[1]):
        H = Z.copy()
        H[:, j] = baseline[j]
        out.append(_f(params, Z) - _f(params, H))
    return np.stack(out, axis=1)


def _shapley(params, Z, baseline):
    d = Z.shape[1]
    out = np.zeros_like(Z)
    for mask in product([False, True], repeat=d):
        m = np.array(mask)
        v = _f(params, np.where(m, Z, baseline))
        for j in range(d):
            if not m[j]:
                m2 = m.copy()
                m2[j] = True
                w = factorial(m.sum()) * factorial(d - m.sum() - 1) / factorial(d)
                out[:, j] += w * (_f(params, np.where(m2, Z, baseline)) - v)
    return out


REFERENCES = {"occlusion": _occlusion, "shapley": _shapley}


@pytest.mark.parametrize("method,d,seed", [("occlusion", 2, 0), ("shapley", 2, 1), ("occlusion", 3, 2)])
def test_exact_average_and_max_against_monte_carlo_and_grid(method, d, seed):
    net, params = _net(d, seed)
    x = np.linspace(-0.3, 0.4, d)
    baseline = np.zeros(d)
    avg = sensitivity_avg(net, x, method, RADIUS, exact=True)
    mx = sensitivity_max(net, x, method, RADIUS, exact=True)
    assert avg.exact and isinstance(avg.value, Fraction) and avg.kind == "deterministic"
    assert mx.kind == "deterministic"
    phi = REFERENCES[method]
    phi_x = phi(params, x[None, :], baseline)[0]
    rng = np.random.default_rng(seed + 100)
    n = 40000
    U = rng.uniform(-RADIUS, RADIUS, size=(n, d))
    sq = ((phi_x[None, :] - phi(params, x[None, :] + U, baseline)) ** 2).sum(axis=1)
    assert abs(float(avg.value) - sq.mean()) <= 5 * sq.std(ddof=1) / np.sqrt(n)
    # dense grid: the sampled max is a lower bound of the exact max and approaches it
    g = np.linspace(-RADIUS, RADIUS, 41 if d == 2 else 17)
    G = np.array(list(product(g, repeat=d)))
    grid_max = np.sqrt(((phi_x[None, :] - phi(params, x[None, :] + G, baseline)) ** 2).sum(axis=1)).max()
    assert grid_max <= mx.value + mx.error_bound + 1e-12
    assert mx.value - grid_max <= 0.05 * max(1.0, mx.value)


def test_float_mode_rounds_the_exact_value_and_mixes_with_local_rules():
    net, params = _net(2, 3)
    x = np.array([0.1, -0.2])
    ex = sensitivity(net, x, ["occlusion", "gradient"], RADIUS, exact=True)
    fl = sensitivity(net, x, ["occlusion", "gradient"], RADIUS)
    for i in range(2):
        for j in range(2):
            assert abs(fl.gram[i, j] - float(ex.gram[i, j])) <= fl.gram_bound[i, j]
    # the cross term E[(occ(x) - occ(x + u)) . (grad(x) - grad(x + u))] against Monte Carlo
    rng = np.random.default_rng(7)
    n = 40000
    U = rng.uniform(-RADIUS, RADIUS, size=(n, 2))
    base = np.zeros(2)
    a = _occlusion(params, x[None, :], base)[0] - _occlusion(params, x[None, :] + U, base)
    b = _grad(params, x[None, :])[0] - _grad(params, x[None, :] + U)
    prod_ = (a * b).sum(axis=1)
    assert abs(float(ex.gram[0, 1]) - prod_.mean()) <= 5 * prod_.std(ddof=1) / np.sqrt(n) + 1e-12
    gg = (b * b).sum(axis=1)
    assert abs(float(ex.gram[1, 1]) - gg.mean()) <= 5 * gg.std(ddof=1) / np.sqrt(n) + 1e-12


def test_stacked_network_over_budget_samples_or_refuses():
    from polyattr.errors import PolyattrError
    from polyattr.metrics.sensitivity import MAX_STACKED_UNITS

    rng = np.random.default_rng(4)
    d, width = 5, MAX_STACKED_UNITS // 8  # 2^5 hybrid points x width units > budget
    net = ReLUNetwork([rng.normal(size=(width, d)), rng.normal(size=(1, width))], [rng.normal(size=width), rng.normal(size=1)])
    assert sensitivity_avg(net, np.zeros(d), "shapley", 0.1, n_samples=8, rng=0).kind == "sampled"
    with pytest.raises(PolyattrError, match="stacked network"):
        sensitivity(net, np.zeros(d), ["shapley"], 0.1, sampled=False)
