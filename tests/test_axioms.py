"""The axiom checks (polyattr.theory.axioms): network algebra, the machinery, and the predictions.

Three layers of tests:

1. the network rewirings compute what they claim (same function, sums, ignored features);
2. the checks themselves, run with stand-in methods written here from their definitions (exact
   baseline Shapley by 2^d enumeration, exact IG by walking the segment's pattern changes,
   DeepLIFT-Rescale and LRP-epsilon by their propagation rules): what must hold holds, what must
   fail fails, independently of polyattr's method implementations;
3. every registered method of :func:`attribute` against :data:`PREDICTIONS`.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from exact_radius import exact_vertex_radius

from polyattr.errors import PolyattrError
from polyattr.models.io import random_network
from polyattr.models.relu import ReLUNetwork
from polyattr.theory import axioms as ax
from polyattr.theory.blackbox import baseline_shapley
from polyattr.geometry.regions import RegionSet


# ------------------------------------------------------------------- reference methods (numpy)
class _Result:
    def __init__(self, values, error_bound=0.0):
        self.values, self.error_bound = np.asarray(values, float), error_bound


def exact_ig(net: ReLUNetwork, x, xb):
    """IG of a ReLU network: split [0, 1] at every sign change of a pre-activation along the segment."""
    delta = x - xb
    pieces, total = [(0.0, 1.0)], np.zeros_like(x)
    while pieces:
        a, b = pieces.pop()
        pattern = net.activation_pattern(xb + (a + b) / 2 * delta)
        roots = []
        for G, h in net.preactivation_maps(pattern):
            slope, value0 = G @ delta, G @ xb + h
            with np.errstate(divide="ignore", invalid="ignore"):
                t = -value0 / slope
            roots.extend(t[(slope != 0) & (t > a + 1e-12) & (t < b - 1e-12)])
        if roots:
            cuts = [a, *sorted(set(roots)), b]
            pieces.extend(zip(cuts[:-1], cuts[1:]))
        else:
            w, _ = net.local_affine_map(pattern, output=0)
            total += (b - a) * np.asarray(w, float)
    return delta * total


def deeplift_rescale(net: ReLUNetwork, x, xb):
    """DeepLIFT with the Rescale rule: multipliers Delta relu / Delta pre (the derivative when Delta pre = 0)."""
    acts, acts_b, mults = [np.asarray(x, float)], [np.asarray(xb, float)], []
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        pre, pre_b = W @ acts[-1] + b, W @ acts_b[-1] + b
        out, out_b = np.maximum(pre, 0), np.maximum(pre_b, 0)
        dpre = pre - pre_b
        safe = np.where(dpre == 0, 1.0, dpre)
        mults.append(np.where(dpre == 0, (pre > 0).astype(float), (out - out_b) / safe))
        acts.append(out)
        acts_b.append(out_b)
    m = net.weights[-1][0].astype(float)
    for W, mult in zip(reversed(net.weights[:-1]), reversed(mults)):
        m = W.T @ (m * mult)
    return m * (np.asarray(x, float) - np.asarray(xb, float))


def epsilon_lrp(net: ReLUNetwork, x, eps=0.1):
    """LRP-epsilon (biases absorb relevance; epsilon in every layer, the output included)."""
    acts = [np.asarray(x, float)]
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        acts.append(np.maximum(W @ acts[-1] + b, 0))
    z_out = net.weights[-1][0] @ acts[-1] + net.biases[-1][0]
    R = np.array([z_out])
    for W, b, a in zip(reversed(net.weights), reversed(net.biases), reversed(acts)):
        z = W @ a + b
        s = R / (z + eps * np.where(z >= 0, 1.0, -1.0))
        R = a * (W.T @ s)
    return R


def stand_in(rule):
    """An ``attribute``-shaped function around a reference rule (model, x, baseline) -> values."""
    def attribute_fn(model, x, method, baseline=None, domain=None, **options):
        return _Result(rule(model.to_float(), np.asarray(x, float), np.asarray(baseline, float)))
    return attribute_fn


STAND_INS = {
    "shapley": stand_in(lambda net, x, xb: baseline_shapley(lambda Z: net(Z), x, xb)),
    "ig": stand_in(exact_ig),
    "deeplift": stand_in(deeplift_rescale),
    "epsilon_lrp": stand_in(lambda net, x, xb: epsilon_lrp(net, x, 0.1)),
}


# ---------------------------------------------------------------------------- network algebra
def _points(rng, d, n=200, scale=2.0):
    return rng.uniform(-scale, scale, size=(n, d))


def test_stack_networks_is_the_linear_combination():
    rng = np.random.default_rng(0)
    f, g = random_network([3, 5, 4, 1], rng=1), random_network([3, 6, 2, 1], rng=2)
    h = ax.stack_networks([f, g], [0.7, -1.3])
    Z = _points(rng, 3)
    np.testing.assert_allclose(h(Z), 0.7 * f(Z) - 1.3 * g(Z), rtol=1e-12, atol=1e-12)
    with pytest.raises(PolyattrError):
        ax.stack_networks([f, random_network([3, 4, 1], rng=3)])


@pytest.mark.parametrize("layer", [0, 1])
def test_rewirings_preserve_the_function(layer):
    rng = np.random.default_rng(layer)
    f = random_network([4, 6, 5, 1], rng=10 + layer)
    Z = _points(rng, 4)
    for twin in [ax.permute_hidden(f, rng), ax.split_neuron(f, layer, 2), ax.pad_depth(f, 5)]:
        np.testing.assert_allclose(twin(Z), f(Z), rtol=1e-12, atol=1e-12)
    split = ax.split_neuron(f, layer, 2)
    assert split.hidden_sizes[layer] == f.hidden_sizes[layer] + 1
    # both halves have the sign pattern of the original neuron
    pre = split.hidden_preactivations(Z)
    offset = sum(split.hidden_sizes[:layer])
    np.testing.assert_array_equal(pre[:, offset + 2] > 0, pre[:, offset + split.hidden_sizes[layer] - 1] > 0)


def test_zero_feature_and_permute_inputs():
    rng = np.random.default_rng(3)
    f = random_network([3, 5, 1], rng=4)
    g = ax.zero_feature(f, 1)
    Z = _points(rng, 3)
    Z2 = Z.copy()
    Z2[:, 1] = rng.uniform(-5, 5, size=len(Z))
    np.testing.assert_array_equal(g(Z), g(Z2))
    p = ax.permute_inputs(f, [2, 0, 1])
    np.testing.assert_allclose(p(Z), f(Z[:, [2, 0, 1]]), rtol=1e-12, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=3, max_size=3), st.floats(0.01, 2))
def test_bias_shift_pair_computes_one_function_everywhere(z, c):
    A, B = ax.bias_shift_pair(3, c)
    z = np.array(z)
    assert abs(A(z) - B(z)) <= 1e-12 * (1 + abs(A(z)))
    assert A(z) == pytest.approx(max(0.0, max(z[0], 0) - max(z[1], 0) - c), abs=1e-12)


def test_bias_shift_pair_separates_deeplift_not_ig():
    """The counterexample of the module docstring, computed by the reference rules."""
    A, B = ax.bias_shift_pair(2)
    x, xb = np.array([0.9, 0.3]), np.zeros(2)
    np.testing.assert_allclose(deeplift_rescale(A, x, xb), [0.525, -0.175], atol=1e-12)
    np.testing.assert_allclose(deeplift_rescale(B, x, xb), [0.65, -0.3], atol=1e-12)
    np.testing.assert_allclose(exact_ig(A, x, xb), [0.525, -0.175], atol=1e-12)
    np.testing.assert_allclose(exact_ig(B, x, xb), [0.525, -0.175], atol=1e-12)
    # both are complete
    for net in (A, B):
        assert deeplift_rescale(net, x, xb).sum() == pytest.approx(net(x) - net(xb), abs=1e-12)


def test_lrp_zero_is_gradient_times_input_and_epsilon_breaks_halving():
    f = random_network([3, 5, 4, 1], rng=5)
    x = np.array([0.2, 0.6, 0.9])
    w, _ = f.local_affine_map(f.activation_pattern(x), output=0)
    np.testing.assert_allclose(epsilon_lrp(f, x, eps=0.0), w * x, rtol=1e-9, atol=1e-12)
    active = int(np.flatnonzero(f.activation_pattern(x)[:5])[0])
    halved = ax.split_neuron(f, 0, active)
    np.testing.assert_allclose(epsilon_lrp(halved, x, eps=0.0), w * x, rtol=1e-9, atol=1e-12)
    assert np.max(np.abs(epsilon_lrp(halved, x, eps=0.1) - epsilon_lrp(f, x, eps=0.1))) > 1e-4


# ------------------------------------------------------------------ the checks, on stand-ins
STAND_IN_EXPECTED = {
    "shapley": dict(completeness=True, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    "ig": dict(completeness=True, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    "deeplift": dict(completeness=True, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=False),
    # the reference LRP stabilises the output layer: not complete, not linear, not invariant
    "epsilon_lrp": dict(completeness=False, sensitivity=True, linearity=False, symmetry=True,
                        implementation_invariance=False),
}


@pytest.mark.parametrize("method", sorted(STAND_IN_EXPECTED))
def test_checks_on_reference_implementations(method):
    report = ax.check_axioms(method, n_models=3, rng=11, attribute_fn=STAND_INS[method])
    for axiom, expected in STAND_IN_EXPECTED[method].items():
        check = report[axiom]
        assert check.passed == expected, str(check)
        if expected:
            assert check.violation <= check.tolerance < 1e-10
        else:
            assert check.violation > 1e3 * check.tolerance


def test_a_tiny_perturbation_is_caught():
    """A method that is off by 1e-9 on one feature fails completeness: tolerances are float-tight."""
    def off(model, x, method, baseline=None, domain=None, **options):
        phi = baseline_shapley(lambda Z: model(Z), x, baseline)
        phi[0] += 1e-9
        return _Result(phi)
    report = ax.check_axioms("shapley", n_models=2, rng=0, attribute_fn=off, axioms=["completeness"])
    assert not report["completeness"].passed
    assert report["completeness"].violation == pytest.approx(1e-9, rel=1e-3)


def test_error_bounds_widen_the_tolerance():
    def noisy(model, x, method, baseline=None, domain=None, **options):
        phi = baseline_shapley(lambda Z: model(Z), x, baseline)
        return _Result(phi + 1e-9, error_bound=1e-9)
    report = ax.check_axioms("shapley", n_models=2, rng=0, attribute_fn=noisy, axioms=["completeness"])
    assert report["completeness"].passed  # d * 1e-9 off, within SAFETY * d * 1e-9


def test_bad_arguments():
    with pytest.raises(PolyattrError):
        ax.check_axioms("shapley", axioms=["monotonicity"], attribute_fn=STAND_INS["shapley"])
    with pytest.raises(PolyattrError):
        ax.check_axioms("shapley", models=[random_network([1, 3, 1], rng=0)], attribute_fn=STAND_INS["shapley"])
    with pytest.raises(PolyattrError):
        ax.check_axioms("shapley", models=[random_network([3, 3, 2], rng=0)], attribute_fn=STAND_INS["shapley"])


def test_predictions_table_is_documented():
    for method, preds in ax.PREDICTIONS.items():
        assert set(preds) == set(ax.AXIOMS)
        assert method in ax.COMPLETENESS_REFERENCE
        assert method in ax.__doc__.split("Why.")[0] or method.startswith("expected_gradients")


# ----------------------------------------------------------------- the library's methods
def _available() -> list[str]:
    from polyattr.attribution.api import available_methods

    return available_methods()


def _require(method: str):
    methods = _available()
    assert method in methods, f"method {method!r} is not registered: {methods}"




@pytest.fixture(scope="module")
def reports():
    """Axiom reports per method; float region integrals get their vertex radii from exact mode
    (tests/exact_radius.py), so that their error bounds -- the checks' tolerances -- are proven."""
    cache = {}

    def get(method):
        if method not in cache:
            with pytest.MonkeyPatch.context() as mp:
                if not hasattr(RegionSet, "vertex_radius"):  # until the partitions' verification provides it
                    mp.setattr(RegionSet, "vertex_radius", property(exact_vertex_radius), raising=False)
                cache[method] = ax.check_axioms(method, n_models=3, rng=2024)
        return cache[method]
    return get


@pytest.mark.parametrize("method", ["ig", "shapley", "shapley_uniform", "deeplift"])
def test_complete_methods(method, reports):
    _require(method)
    assert reports(method)["completeness"].passed, str(reports(method)["completeness"])


@pytest.mark.parametrize("method", ["gradient", "occlusion", "pdp"])
def test_incomplete_methods(method, reports):
    _require(method)
    check = reports(method)["completeness"]
    assert not check.passed and check.violation > 1e-6, str(check)


@pytest.mark.parametrize("method", ["ig", "shapley", "shapley_uniform", "occlusion", "pdp", "ice", "gradient",
                                    "gradient_x_input", "smoothgrad_uniform", "lime_uniform", "deeplift",
                                    "fafp_local", "fafp_global", "expected_gradients", "expected_gradients_uniform"])
def test_linearity(method, reports):
    _require(method)
    assert reports(method)["linearity"].passed, str(reports(method)["linearity"])


@pytest.mark.parametrize("method", ["ig", "shapley", "occlusion", "gradient"])
def test_sensitivity(method, reports):
    _require(method)
    assert reports(method)["sensitivity"].passed, str(reports(method)["sensitivity"])


def test_pdp_is_not_sensitive(reports):
    _require("pdp")
    assert not reports("pdp")["sensitivity"].passed


def test_implementation_invariance_ig_holds(reports):
    _require("ig")
    assert reports("ig")["implementation_invariance"].passed


@pytest.mark.parametrize("method", ["deeplift", "epsilon_lrp"])
def test_implementation_invariance_fails_for_propagation_rules(method, reports):
    _require(method)
    check = reports(method)["implementation_invariance"]
    assert not check.passed and check.violation > 1e-6, str(check)


def test_every_registered_method_matches_the_predictions(reports):
    methods = [m for m in _available() if m != "measure"]
    assert methods, "no registered methods"
    unpredicted = [m for m in methods if m not in ax.PREDICTIONS]
    assert not unpredicted, f"methods without a prediction: {unpredicted}"
    mismatches = {m: reports(m).mismatches() for m in methods}
    assert not any(mismatches.values()), {m: [str(reports(m)[a]) for a in v] for m, v in mismatches.items() if v}


def test_lrp_at_epsilon_zero_is_gradient_x_input_hence_linear_and_invariant():
    """At epsilon = 0 LRP is Gradient x Input: a functional of f, linear, implementation invariant."""
    _require("epsilon_lrp")
    report = ax.check_axioms("epsilon_lrp", n_models=2, rng=5, options={"epsilon": 0.0},
                             axioms=["linearity", "implementation_invariance", "completeness"])
    assert report["linearity"].passed, str(report["linearity"])
    assert report["implementation_invariance"].passed, str(report["implementation_invariance"])
    assert not report["completeness"].passed  # the biases still absorb relevance


def test_deeplift_counterexample_in_the_library():
    """polyattr's deeplift on the bias-shift pair gives the hand-derived values; ig does not move."""
    _require("deeplift")
    from polyattr.attribution.api import attribute

    A, B = ax.bias_shift_pair(2)
    x, xb = [0.9, 0.3], [0.0, 0.0]
    np.testing.assert_allclose(attribute(A, x, "deeplift", baseline=xb).values, [0.525, -0.175], atol=1e-12)
    np.testing.assert_allclose(attribute(B, x, "deeplift", baseline=xb).values, [0.65, -0.3], atol=1e-12)
    for net in (A, B):
        np.testing.assert_allclose(attribute(net, x, "ig", baseline=xb).values, [0.525, -0.175], atol=1e-12)


def test_axiom_table_prints_every_method(capsys):
    methods = [m for m in _available() if m != "measure"]
    assert methods, "no registered methods"
    reports = ax.axiom_table(methods=["ig", "deeplift"], n_models=1, rng=0)
    out = capsys.readouterr().out
    assert "ig" in out and "impl. invariance" in out and "X" in out  # deeplift's invariance fails
    assert set(reports) == {"ig", "deeplift"}
    assert all(isinstance(r.to_dict(), dict) for r in reports.values())


def test_package_exports():
    import polyattr.theory as theory

    assert theory.check_axioms is ax.check_axioms and theory.PREDICTIONS is ax.PREDICTIONS
    assert "axiom_table" in dir(theory)
    with pytest.raises(AttributeError):
        theory.not_a_name  # noqa: B018
