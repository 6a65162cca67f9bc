"""``evaluate`` tables and the ``polyattr evaluate`` command."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from polyattr.cli import main
from polyattr.errors import PolyattrError
from polyattr.metrics import METRICS, evaluate, infidelity, sensitivity
from polyattr.models.io import default_model_path, load_model

F = Fraction


@pytest.fixture(scope="module")
def model():
    return load_model(default_model_path())


def test_table_cells_agree_with_the_metric_functions_and_average_exactly(model):
    X = [[F(3, 10), F(7, 10)], [F(1, 2), F(1, 4)]]
    table = evaluate(model, X, ["gradient", "gradient_x_input"], ["infidelity", "sensitivity_avg", "recall_at_k"],
                     exact=True, ground_truth=[1], radius=F(1, 20))
    from polyattr import attribute

    for i, x in enumerate(X):
        phi = attribute(model, x, "gradient", exact=True).values
        assert table.cell("gradient", "infidelity", i).value == infidelity(model, x, phi, F(1, 20), exact=True).value
        s = sensitivity(model, x, ["gradient_x_input"], F(1, 20), exact=True)
        assert table.cell("gradient_x_input", "sensitivity_avg", i).value == s.gram[0, 0]
    avg = table.average("gradient", "infidelity")
    assert avg.exact and avg.value == (table.cell("gradient", "infidelity", 0).value
                                       + table.cell("gradient", "infidelity", 1).value) / 2
    out = table.to_json()
    assert set(out) == {"rows", "seconds"} and len(out["rows"]) == 6
    row = out["rows"][0]
    assert set(row) >= {"method", "metric", "value", "exact", "error_bound", "n_samples", "seed"}
    assert isinstance(row["value"], str) and "/" in row["value"] and row["exact"] is True
    per_point = table.to_json(per_point=True)["rows"]
    assert len(per_point) == 12 and {r["point"] for r in per_point} == {0, 1}
    # the same name as every other result object (Attribution, SymbolicCurve, MetricValue)
    assert table.to_dict() == out and table.to_dict(per_point=True)["rows"] == per_point


def test_sampled_cells_report_the_seed_and_repeat(model, tmp_path):
    a = evaluate(model, [0.3, 0.7], ["ig"], ["sensitivity_avg", "sensitivity_max"], rng=5, n_samples=8)
    b = evaluate(model, [0.3, 0.7], ["ig"], ["sensitivity_avg", "sensitivity_max"], rng=5, n_samples=8)
    for metric in ("sensitivity_avg", "sensitivity_max"):
        ca, cb = a.average("ig", metric), b.average("ig", metric)
        assert ca.value == cb.value and ca.seed == 5 and ca.n_samples == 8
    assert a.average("ig", "sensitivity_max").kind == "lower_bound"
    fig = a.plot(path=tmp_path / "table.png")
    assert (tmp_path / "table.png").stat().st_size > 1000 and fig is not None


def test_every_metric_runs_on_the_default_model(model):
    table = evaluate(model, [[0.3, 0.7]], ["gradient", "ig"], list(METRICS), ground_truth=[0], rng=1, n_samples=4)
    for metric in METRICS:
        for method in ("gradient", "ig"):
            c = table.average(method, metric)
            assert c.value is None or np.isfinite(float(c.value))


def test_bad_arguments_raise(model):
    with pytest.raises(PolyattrError, match="metrics"):
        evaluate(model, [0.3, 0.7], ["gradient"], ["fidelity"])
    with pytest.raises(PolyattrError, match="ground_truth"):
        evaluate(model, [0.3, 0.7], ["gradient"], ["recall_at_k"])
    with pytest.raises(PolyattrError, match="X"):
        evaluate(model, [0.3, 0.7, 0.1], ["gradient"], ["infidelity"])
    with pytest.raises(PolyattrError, match="rng"):
        evaluate(model, [0.3, 0.7], ["ig"], ["sensitivity_avg"], rng="seed")


def test_cli_json_contract(capsys, tmp_path):
    path = str(default_model_path())
    code = main(["evaluate", path, "--x", "3/10,7/10", "--methods", "gradient,ig", "--metrics",
                 "infidelity,completeness_gap", "--exact", "--json", "--radius", "1/20"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["rows"]) == 4 and out["seconds"] >= 0
    gap = [r for r in out["rows"] if r["method"] == "ig" and r["metric"] == "completeness_gap"][0]
    assert gap["value"] == "0/1" and gap["exact"] is True  # IG is complete, exactly
    np.save(tmp_path / "X.npy", np.array([[0.3, 0.7], [0.5, 0.5]]))
    code = main(["evaluate", path, "--x-file", str(tmp_path / "X.npy"), "--methods", "gradient", "--metrics",
                 "sensitivity_max,infidelity", "--json", "--per-point", "--seed", "3"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and sum("point" in r for r in out["rows"]) == 4
    code = main(["evaluate", path, "--x", "0.3,0.7", "--methods", "gradient", "--metrics", "infidelity"])
    assert code == 0 and "infidelity" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--x", "0.3", "--methods", "gradient"], "--x"),
    (["--x", "0.3,0.7", "--methods", "gradient", "--metrics", "nope"], "metrics"),
    (["--x", "0.3,0.7", "--methods", "nope"], "method"),
    (["--methods", "gradient"], "--x"),
    (["--x", "0.3,0.7", "--methods", "gradient", "--radius", "0"], "radius"),
])
def test_cli_bad_input_one_line_exit_2(capsys, argv, message):
    code = main(["evaluate", str(default_model_path()), *argv])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("polyattr: error:") and message in err and err.count("\n") == 1
