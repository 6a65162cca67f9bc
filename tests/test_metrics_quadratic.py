"""Infidelity quadratic forms, Gram matrices and sensitivity against independent references.

References: closed forms on affine models (E[I I^T] = r^2/3 I, zero infidelity of the exact
gradient, zero sensitivity of the gradient), Monte Carlo written directly from the definitions with
5-sigma intervals, brute-force subset enumeration in Fractions written out here, dense grids for
the max, and exact-vs-float agreement within the stated float bound.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import product

import numpy as np
import pytest

from polyattr import attribute
from polyattr.errors import PolyattrError
from polyattr.metrics import SubsetMask, gram, infidelity_quadratic_form, sensitivity
from polyattr.models.relu import ReLUNetwork

F = Fraction


def dyadic_network(rng, sizes, denom=8, scale=8):
    Ws = [rng.integers(-scale, scale + 1, size=(o, i)) / denom for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.integers(-scale, scale + 1, size=o) / (2 * denom) for o in sizes[1:]]
    return ReLUNetwork(Ws, bs)


def affine_network(w, b):
    """A network that is affine everywhere: one hidden layer of two opposite ReLUs per output,
    relu(t) - relu(-t) = t, so it has hyperplanes but one affine map."""
    w = np.asarray(w, float)
    W0 = np.vstack([w, -w])
    return ReLUNetwork([W0, np.array([[1.0, -1.0]])], [np.zeros(2), np.array([b])])


def mc_infidelity(net, x, phi, r, rng, n=200_000):
    """(mean, 5-sigma half-width) of (I.phi - (f(x) - f(x - I)))^2 with I ~ U[-r, r]^d."""
    x = np.asarray(x, float)
    I = rng.uniform(-r, r, size=(n, len(x)))
    Df = net(x) - net(x[None, :] - I)
    v = (I @ np.asarray(phi, float) - Df) ** 2
    return v.mean(), 5 * v.std(ddof=1) / np.sqrt(n)


# ------------------------------------------------------------------------------- closed forms
def test_box_second_moment_is_r2_over_3_exactly():
    net = dyadic_network(np.random.default_rng(0), [3, 6, 1])
    form = infidelity_quadratic_form(net, [F(1, 2), F(1, 4), F(3, 4)], F(1, 5), exact=True)
    assert form.exact
    for i in range(3):
        for j in range(3):
            assert form.M[i, j] == (F(1, 75) if i == j else 0)  # (1/5)^2 / 3


def test_infidelity_of_exact_gradient_on_affine_model_is_zero():
    net = affine_network([0.5, -1.25, 2.0], 0.25)
    x = [F(3, 10), F(1, 2), F(-1, 3)]
    phi = attribute(net, x, "gradient", exact=True, domain=([-1] * 3, [1] * 3)).values
    assert list(phi) == [F(1, 2), F(-5, 4), F(2)]
    form = infidelity_quadratic_form(net, x, F(1, 4), exact=True)
    value, bound = form.value(phi)
    assert value == 0 and bound == 0
    # a wrong attribution has infidelity (phi - w)^T M (phi - w) in closed form (Df = w.I exactly)
    other = [F(1), F(0), F(2)]
    value, _ = form.value(other)
    assert value == (F(1, 2) ** 2 + F(5, 4) ** 2) * F(1, 48)


def test_sensitivity_of_gradient_on_affine_model_is_zero_and_gxi_closed_form():
    w = [0.5, -1.25, 2.0]
    net = affine_network(w, 0.25)
    x = [F(3, 10), F(1, 2), F(1, 3)]
    r = F(1, 8)
    res = sensitivity(net, x, ["gradient", "gradient_x_input"], r, exact=True)
    assert res.exact and res.kind == "deterministic"
    assert res.gram[0, 0] == 0 and res.gram[0, 1] == 0
    # gradient x input: phi(x) - phi(x + u) = -w * u, E||w * u||^2 = sum w_k^2 r^2 / 3
    assert res.gram[1, 1] == sum(F(v) ** 2 for v in w) * r * r / 3
    assert res.maximum(0).value == 0
    # max of ||w * u|| over the box: at a corner, r ||w||
    expect = float(r) * np.linalg.norm(w)
    m = res.maximum(1)
    assert abs(m.value - expect) <= m.error_bound + 1e-15 and m.kind == "deterministic"
    # Captum's normalisation divides by ||phi(x)|| = ||w * x||
    rel = sensitivity(net, x, ["gradient_x_input"], r, exact=True, relative=True).maximum(0)
    expect_rel = expect / np.linalg.norm(np.array(w) * np.array([float(v) for v in x]))
    assert abs(rel.value - expect_rel) <= rel.error_bound + 1e-15 and rel.info["relative"]


# ------------------------------------------------------------------------------- Monte Carlo
@pytest.mark.parametrize("seed", [1, 2])
def test_infidelity_matches_monte_carlo(seed):
    rng = np.random.default_rng(seed)
    net = dyadic_network(rng, [3, 8, 6, 1])
    x = rng.uniform(0, 1, 3)
    r = 0.15
    form = infidelity_quadratic_form(net, x, r)
    for phi in (rng.normal(size=3), attribute(net, x, "gradient").values, np.zeros(3)):
        value, bound = form.value(phi)
        mean, half = mc_infidelity(net, x, phi, r, rng)
        assert abs(value - mean) <= half + bound


def test_gram_diagonal_and_mix_against_monte_carlo():
    rng = np.random.default_rng(3)
    net = dyadic_network(rng, [2, 10, 1])
    x = np.array([0.4, 0.55])
    G = gram(net, x, ["gradient", "gradient_x_input", "ig"], radius=0.2)
    phis = [attribute(net, x, m).values for m in ("gradient", "gradient_x_input", "ig")]
    w = np.array([0.2, 0.5, 0.3])
    mix = sum(wi * p for wi, p in zip(w, phis))
    mean, half = mc_infidelity(net, x, mix, 0.2, rng)
    assert abs(G.value(w) - mean) <= half + 1e-9
    for i, p in enumerate(phis):
        mean, half = mc_infidelity(net, x, p, 0.2, rng)
        assert abs(G.matrix[i, i] - mean) <= half + G.bound[i, i]


def test_exact_gram_mix_identity_and_float_agreement():
    rng = np.random.default_rng(4)
    net = dyadic_network(rng, [2, 8, 8, 1])
    x = [F(3, 8), F(5, 8)]
    methods = ["gradient", "gradient_x_input", "ig", "smoothgrad_uniform"]
    Ge = gram(net, x, methods, radius=F(1, 8), exact=True)
    Gf = gram(net, [float(v) for v in x], methods, radius=0.125)
    assert Ge.exact and not Gf.exact
    for i in range(4):
        for j in range(4):
            assert abs(float(Ge.matrix[i, j]) - Gf.matrix[i, j]) <= Gf.bound[i, j]
    # homogeneity: with weights summing to 1, w^T Gamma w is the infidelity of the mix, exactly
    w = [F(1, 6), F(1, 3), F(1, 4), F(1, 4)]
    mix = sum((wi * np.asarray(p, dtype=object) for wi, p in zip(w, Ge.attributions)), start=np.zeros(2, dtype=object))
    assert Ge.value(w) == Ge.form.value(mix)[0]


def test_optimal_scale_minimises_over_beta():
    rng = np.random.default_rng(5)
    net = dyadic_network(rng, [3, 8, 1])
    x = [F(1, 2), F(1, 4), F(5, 8)]
    form = infidelity_quadratic_form(net, x, F(1, 10), exact=True)
    phi = attribute(net, x, "ig", baseline=[0, 0, 0], exact=True).values
    beta, value, bound = form.optimal_scale(phi)
    assert bound == 0 and isinstance(value, Fraction)
    # independent: the infidelity as a function of beta is a parabola a beta^2 - 2 b beta + c;
    # fit it from three exact evaluations and minimise by hand
    q = [form.value(np.asarray(phi, dtype=object) * t)[0] for t in (F(0), F(1), F(2))]
    c, a = q[0], (q[2] - 2 * q[1] + q[0]) / 2
    b = (a + c - q[1]) / 2
    assert beta == b / a and value == c - b * b / a
    # and Monte Carlo of the scaled residual agrees
    mean, half = mc_infidelity(net, np.array(x, float), np.array(phi, float) * float(beta), 0.1, rng)
    assert abs(float(value) - mean) <= half


# ------------------------------------------------------------------------------- subset masks
def test_subset_mask_matches_brute_force_enumeration():
    rng = np.random.default_rng(6)
    net = dyadic_network(rng, [4, 6, 1])
    x = [F(1, 2), F(3, 4), F(1, 8), F(7, 8)]
    base = [F(0), F(1, 4), F(0), F(1, 2)]
    phi = [F(1, 3), F(-1, 2), F(2), F(0)]
    exact_net = net.to_exact()
    fx = exact_net(x, output=0)
    for p in (F(1, 2), F(1, 3)):
        total = F(0)
        for bits in product([0, 1], repeat=4):
            prob = np.prod([p if b else 1 - p for b in bits], dtype=object)
            I = [(xi - bi) if b else F(0) for xi, bi, b in zip(x, base, bits)]
            z = [bi if b else xi for xi, bi, b in zip(x, base, bits)]
            Df = fx - exact_net(z, output=0)
            total += prob * (sum(a * c for a, c in zip(I, phi)) - Df) ** 2
        form = infidelity_quadratic_form(net, x, perturbation=SubsetMask(base, probability=p), exact=True)
        assert form.value(phi)[0] == total
    # fixed size 2: the 6 subsets equally likely
    total = F(0)
    for S in [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]:
        I = [(x[j] - base[j]) if j in S else F(0) for j in range(4)]
        z = [base[j] if j in S else x[j] for j in range(4)]
        total += F(1, 6) * (sum(a * c for a, c in zip(I, phi)) - (fx - exact_net(z, output=0))) ** 2
    form = infidelity_quadratic_form(net, x, perturbation=SubsetMask(base, subset_size=2), exact=True)
    assert form.value(phi)[0] == total


def test_subset_mask_sampled_beyond_budget_is_seeded_and_covers_exact():
    rng = np.random.default_rng(7)
    net = dyadic_network(rng, [6, 8, 1])
    x = rng.uniform(0, 1, 6)
    phi = rng.normal(size=6)
    exact = infidelity_quadratic_form(net, x, perturbation=SubsetMask()).value(phi)[0]
    law = SubsetMask(max_subsets=16)
    a = infidelity_quadratic_form(net, x, perturbation=law, n_samples=4000, rng=11)
    b = infidelity_quadratic_form(net, x, perturbation=law, n_samples=4000, rng=11)
    assert a.kind == "sampled" and a.seed == 11 and a.n_samples == 4000
    va, ha = a.value(phi)
    assert va == b.value(phi)[0]
    assert abs(va - exact) <= ha * 5 / 3  # the stated half-width is 3 sigma; test at 5 sigma


def test_user_samples_are_their_empirical_law():
    rng = np.random.default_rng(8)
    net = dyadic_network(rng, [3, 5, 1])
    x = np.array([0.25, 0.5, 0.75])
    I = rng.uniform(-0.3, 0.3, size=(50, 3))
    phi = rng.normal(size=3)
    direct = np.mean((I @ phi - (net(x) - net(x[None, :] - I))) ** 2)
    value, bound = infidelity_quadratic_form(net, x, perturbation=I).value(phi)
    assert abs(value - direct) <= bound + 1e-15
    exact = infidelity_quadratic_form(net, x, perturbation=I, exact=True).value(phi)
    assert abs(float(exact[0]) - value) <= bound


# ------------------------------------------------------------------------------- sensitivity
def test_sensitivity_exact_matches_monte_carlo_and_float():
    rng = np.random.default_rng(9)
    net = dyadic_network(rng, [2, 8, 8, 1])
    x = [F(1, 2), F(3, 8)]
    r = F(1, 5)
    ex = sensitivity(net, x, ["gradient", "gradient_x_input"], r, exact=True)
    fl = sensitivity(net, [0.5, 0.375], ["gradient", "gradient_x_input"], 0.2)
    xf = np.array([0.5, 0.375])
    D = rng.uniform(-0.2, 0.2, size=(100_000, 2))
    # autograd-free reference: gradients by central finite differences of the exact forward pass
    # are unreliable at kinks, so use the activation pattern of each point (the definition)
    W0, W1, W2 = net.weights
    b0, b1, _ = net.biases
    Z = xf[None, :] + D
    h0 = Z @ W0.T + b0
    h1 = np.maximum(h0, 0) @ W1.T + b1
    grads = ((W2[0] * (h1 > 0)) @ W1 * (h0 > 0)) @ W0
    g0 = np.asarray(attribute(net, xf, "gradient").values, float)
    diffs = [g0[None, :] - grads, (g0 * xf)[None, :] - grads * Z]
    for i in range(2):
        for j in range(2):
            v = (diffs[i] * diffs[j]).sum(axis=1)
            assert abs(float(ex.gram[i, j]) - v.mean()) <= 5 * v.std(ddof=1) / np.sqrt(len(v)) + 1e-12
            assert abs(float(ex.gram[i, j]) - fl.gram[i, j]) <= fl.gram_bound[i, j]
        top = np.sqrt((diffs[i] ** 2).sum(axis=1).max())
        assert top <= ex.max_values[i] + ex.max_bounds[i]  # no sample beats the exact max
        assert top >= 0.9 * ex.max_values[i]  # and a dense sample comes close in 2-D
        assert abs(ex.max_values[i] - fl.max_values[i]) <= fl.max_bounds[i] + ex.max_bounds[i]


def test_sampled_sensitivity_covers_exact_and_reports_lower_bound():
    rng = np.random.default_rng(10)
    net = dyadic_network(rng, [2, 8, 1])
    x = [0.5, 0.5]
    ex = sensitivity(net, x, ["gradient_x_input"], 0.2)
    sa = sensitivity(net, x, ["gradient_x_input"], 0.2, sampled=True, n_samples=400, rng=3)
    assert sa.kind == "sampled" and sa.seed == 3
    avg = sa.average(0)
    assert avg.kind == "sampled" and abs(avg.value - ex.gram[0, 0]) <= avg.error_bound * 5 / 3
    mx = sa.maximum(0)
    assert mx.kind == "lower_bound" and mx.value <= ex.max_values[0] + ex.max_bounds[0]
    # IG has no local rule: sampled automatically
    ig = sensitivity(net, x, ["ig"], 0.2, n_samples=20, rng=1)
    assert ig.kind == "sampled" and ig.maximum(0).kind == "lower_bound"
    with pytest.raises(PolyattrError, match="local rule"):
        sensitivity(net, x, ["ig"], 0.2, sampled=False)


def test_bad_inputs_raise():
    net = dyadic_network(np.random.default_rng(0), [2, 4, 1])
    with pytest.raises(PolyattrError, match="radius"):
        infidelity_quadratic_form(net, [0.5, 0.5], -1)
    with pytest.raises(PolyattrError, match="criterion"):
        gram(net, [0.5, 0.5], ["gradient"], criterion="robustness")
    with pytest.raises(PolyattrError, match="sensitivity needs method names"):
        gram(net, [0.5, 0.5], [[1.0, 2.0]], criterion="sensitivity")
    with pytest.raises(PolyattrError, match="phi"):
        infidelity_quadratic_form(net, [0.5, 0.5]).value([1.0, 2.0, 3.0])


def test_float_subset_and_sample_forms_within_their_bounds_of_the_exact_ones():
    rng = np.random.default_rng(12)
    net = dyadic_network(rng, [4, 8, 8, 1])
    x = [F(1, 2), F(3, 4), F(1, 8), F(7, 8)]
    xf = [float(v) for v in x]
    phi = [F(1, 3), F(-1, 2), F(2), F(1, 7)]
    phif = [float(v) for v in phi]
    for law in (SubsetMask([0.25, 0, 0, 0.5]), SubsetMask(subset_size=3), rng.uniform(-0.2, 0.2, size=(30, 4))):
        ex = infidelity_quadratic_form(net, x, perturbation=law, exact=True)
        fl = infidelity_quadratic_form(net, xf, perturbation=law)
        value, bound = fl.value(phif)
        assert abs(value - float(ex.value(phi)[0])) <= bound + abs(float(ex.value(phi)[0] - ex.value(phif)[0]))
        beta_e, val_e, _ = ex.optimal_scale(phi)
        beta_f, val_f, bound_f = fl.optimal_scale(phif)
        assert abs(val_f - float(val_e)) <= bound_f + 1e-15
