"""Optimal aggregation: weights on the simplex, certified optimum, and the optimum's value against
Monte Carlo estimates of the criteria computed from their definitions (5-sigma intervals)."""

import json
from fractions import Fraction

import numpy as np
import pytest

import polyattr
from polyattr.cli import main
from polyattr.errors import PolyattrError
from polyattr.optimize.aggregation import aggregate
from polyattr.optimize.simplex import brute_force_simplex_minimum, check_kkt

X = [0.35, 0.6, 0.45]


@pytest.fixture(scope="module")
def model():
    return polyattr.random_network([3, 8, 8, 1], rng=11)


def monte_carlo_infidelity(model, x, phi, radius, rng, n=20000):
    I = rng.uniform(-radius, radius, size=(n, len(x)))
    x = np.asarray(x, float)
    residual = I @ phi - (model(x[None, :])[0] - model(x[None, :] - I))
    values = residual**2
    return values.mean(), values.std(ddof=1) / np.sqrt(n)


def test_faith_value_is_the_infidelity_of_the_aggregate(model):
    res = aggregate(model, X, ["gradient", "gradient_x_input", "occlusion", "smoothgrad_uniform"], "faith", radius=0.1)
    assert np.all(res.weights >= 0) and abs(res.weights.sum() - 1) < 1e-12
    assert res.certified and res.scaled
    assert 0 < res.error_bound < 1e-9  # float Gram: rounding only
    mean, se = monte_carlo_infidelity(model, X, res.attribution, 0.1, np.random.default_rng(0))
    assert abs(mean - res.value) <= 5 * se, (mean, se, res.value)
    # and it is no worse than any single (scale-normalised) method or the uniform mix
    assert res.value <= min(float(row["objective"]) for row in res.before.values()) + 1e-12
    assert res.value <= res.baselines["AGG_mean"]["objective"] + 1e-12
    # serialises under the same name as every other result object
    assert res.to_dict() == res.to_json()
    # and prints as one line, not the Gram matrices and attributions
    assert "\n" not in repr(res) and "gram" not in repr(res) and "faith" in repr(res)


def test_robust_value_is_the_sensitivity_of_the_aggregate(model):
    res = aggregate(model, X, ["gradient", "gradient_x_input"], "robust", radius=0.1, exact=True)
    assert res.exact and res.certified and not res.scaled and res.error_bound == 0
    assert res.exact_weights is not None and sum(res.exact_weights) == 1
    checks = check_kkt([[Fraction(v) for v in row] for row in res.gram], list(res.exact_weights),
                       2 * res.certification.certificate.value)
    assert all(checks.values()), checks
    # Monte Carlo from the definition: E ||phi^w(x + delta) - phi^w(x)||^2, gradients at the moved points
    rng = np.random.default_rng(1)
    w = res.weights
    x = np.asarray(X)

    def mix(z):
        g = polyattr.attribute(model, z, "gradient").values
        return w[0] * g + w[1] * g * z

    at_x = mix(x)
    vals = np.array([np.sum((mix(x + d) - at_x) ** 2) for d in rng.uniform(-0.1, 0.1, size=(1500, 3))])
    se = vals.std(ddof=1) / np.sqrt(len(vals))
    assert abs(vals.mean() - res.value) <= 5 * se + 1e-12, (vals.mean(), se, res.value)


def test_three_methods_match_a_brute_force_grid(model):
    res = aggregate(model, X, ["gradient", "occlusion", "smoothgrad_uniform"], "opt", lam=0.3, radius=0.1)
    G = np.array([[float(v) for v in row] for row in res.gram])
    grid, _ = brute_force_simplex_minimum(G, steps=300)
    assert grid >= res.value - 1e-7 * np.max(np.abs(G))
    assert grid - res.value <= 6 * np.max(np.abs(G)) / 300
    assert res.value == pytest.approx(float(res.weights @ G @ res.weights))


def test_shared_weights_over_a_batch(model):
    pts = np.array([X, [0.2, 0.3, 0.8], [0.7, 0.5, 0.1]])
    res = aggregate(model, pts, ["gradient", "gradient_x_input", "occlusion"], "faith")
    assert res.attribution.shape == (3, 3) and len(res.per_point) == 3
    G = np.array([[float(v) for v in row] for row in res.gram])
    # the per-point optima are at least as good as the shared weights at their own point
    per_point_at_shared = []
    for n, pp in enumerate(res.per_point):
        single = aggregate(model, pts[n], ["gradient", "gradient_x_input", "occlusion"], "faith")
        Gn = np.array([[float(v) for v in row] for row in single.gram])
        assert pp.value <= res.weights @ Gn @ res.weights + 1e-9
        assert pp.value == pytest.approx(single.value, rel=1e-6, abs=1e-12)
        per_point_at_shared.append(res.weights @ Gn @ res.weights)
    assert np.mean(per_point_at_shared) == pytest.approx(res.weights @ G @ res.weights, rel=1e-9)


def test_bad_arguments_raise(model):
    with pytest.raises(PolyattrError, match="objective"):
        aggregate(model, X, ["gradient"], "best")
    with pytest.raises(PolyattrError, match="lam"):
        aggregate(model, X, ["gradient", "ig"], "opt", lam=1.5)
    with pytest.raises(PolyattrError, match="X"):
        aggregate(model, [0.1, 0.2], ["gradient"], "faith")


def test_cli_json_contract(tmp_path, capsys, model):
    path = tmp_path / "m.npz"
    polyattr.save_model(model, path)
    code = main(["aggregate", str(path), "--x", "0.35,0.6,0.45", "--methods", "gradient,gradient_x_input,occlusion",
                 "--objective", "faith", "--exact", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("objective", "methods", "weights", "gram", "values", "before", "after", "certified", "seconds"):
        assert key in out
    w = np.array(out["weights"])
    G = np.array([[float(Fraction(v)) for v in row] for row in out["gram"]])
    assert out["certified"] and abs(w.sum() - 1) < 1e-12 and np.all(w >= 0)
    assert w @ G @ w == pytest.approx(float(Fraction(out["after"]["objective"])), rel=1e-9)
    # exact mode: the aggregate's criterion is the exact rational w*^T gram w*
    exact_w = [Fraction(v) for v in out["exact_weights"]]
    exact_G = [[Fraction(v) for v in row] for row in out["gram"]]
    assert isinstance(out["after"]["objective"], str)
    assert Fraction(out["after"]["objective"]) == sum(exact_w[i] * exact_G[i][j] * exact_w[j]
                                                      for i in range(3) for j in range(3))
    assert set(out["before"]) == {"gradient", "gradient_x_input", "occlusion"}
    np.save(tmp_path / "pts.npy", np.array([[0.35, 0.6, 0.45], [0.2, 0.3, 0.8]]))
    code = main(["aggregate", str(path), "--x-file", str(tmp_path / "pts.npy"), "--methods", "gradient,occlusion",
                 "--objective", "opt", "--lam", "1/3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["values"]) == 2 and out["certified"]
    code = main(["aggregate", str(path), "--x", "0.3,0.2", "--methods", "gradient", "--objective", "faith"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("polyattr: error: --x")


def test_agg_var_baseline_against_its_definition(model):
    res = aggregate(model, X, ["gradient", "gradient_x_input", "occlusion"], "robust", rng=0, n_samples=200,
                    agg_var_sensitivity=True)
    phis = res.attributions[0]
    std = phis.std(axis=0)
    agg_var = phis.mean(axis=0) / (std + std.mean())
    mean, se = monte_carlo_infidelity(model, X, agg_var, 0.1, np.random.default_rng(3))
    assert abs(mean - res.baselines["AGG_var"]["infidelity"]) <= 5 * se
    row = res.baselines["AGG_var"]
    assert row["n_samples"] == 200 and 0 < row["sensitivity_avg_halfwidth"] < np.inf
    # an independent Monte Carlo of the same sensitivity, from fresh draws, within both intervals
    rng = np.random.default_rng(4)
    vals = []
    for d in rng.uniform(-0.1, 0.1, size=(200, 3)):
        z = np.asarray(X) + d
        p = np.array([polyattr.attribute(model, z, m).values for m in ("gradient", "gradient_x_input", "occlusion")])
        s = p.std(axis=0)
        vals.append(np.sum((p.mean(axis=0) / (s + s.mean()) - agg_var) ** 2))
    vals = np.array(vals)
    assert abs(vals.mean() - row["sensitivity_avg"]) <= row["sensitivity_avg_halfwidth"] + 5 * vals.std(ddof=1) / np.sqrt(200)
