"""``polyattr theorem21``: end to end through :func:`polyattr.cli.main` (parse, run, print, exit code)."""

import json

import numpy as np
import pytest

from polyattr.models.io import random_network, save_model
from polyattr.models.softplus import SoftplusNetwork
from polyattr.theory.theorem21 import theorem21

KEYS = {"remainder", "remainder_via_R", "bound", "hessian_bound", "lipschitz", "ratio"}


def _main():
    from polyattr.cli import main

    return main


@pytest.fixture
def model_path(tmp_path):
    net = random_network([3, 5, 4, 2], rng=7)
    return str(save_model(net, tmp_path / "net.npz")), net


@pytest.mark.parametrize("method", ["ig", "shapley"])
def test_theorem21_json_matches_library(model_path, capsys, method):
    path, net = model_path
    main = _main()
    argv = ["theorem21", path, "--x", "0.3,0.7,0.2", "--baseline", "0,0.1,0", "--x0", "0.5,0.5,1/2",
            "--method", method, "--beta", "4", "--output", "1", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert KEYS <= set(out)
    assert out["method"] == method and out["beta"] == 4.0
    # the CLI computes what the library computes on the softplus smoothing of the saved network
    ref = theorem21(SoftplusNetwork.from_relu(net, beta=4.0), [0.3, 0.7, 0.2], [0, 0.1, 0], [0.5, 0.5, 0.5],
                    method=method, output=1)
    np.testing.assert_allclose(out["remainder"], ref.remainder, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out["remainder_via_R"], out["remainder"], rtol=1e-9, atol=1e-12)
    assert out["hessian_bound"] == pytest.approx(ref.hessian_bound, rel=1e-12)
    assert out["bound"] == pytest.approx(ref.bound, rel=1e-12)
    assert 0 <= out["ratio"] <= 1 and out["holds"] is True
    assert np.linalg.norm(out["remainder"]) <= out["bound"]


def test_theorem21_table_and_domain(model_path, capsys):
    path, _ = model_path
    main = _main()
    argv = ["theorem21", path, "--x", "0.3,0.7,0.2", "--baseline", "0,0,0", "--x0", "0.5,0.5,0.5", "--beta", "2",
            "--output", "0", "--lower=-1,-1,-1", "--upper", "1,1,1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Hessian bound M" in text and "holds" in text and "yes" in text
    # a larger certification box can only increase the Hessian bound
    main(argv[:-3] + ["--json"])
    small = json.loads(capsys.readouterr().out)
    main(argv + ["--json"])
    large = json.loads(capsys.readouterr().out)
    assert large["hessian_bound"] >= small["hessian_bound"]
    assert large["domain"]["lower"] == [-1, -1, -1]


@pytest.mark.parametrize("bad", [
    ["--x", "0.3,0.7", "--baseline", "0,0,0", "--x0", "0,0,0", "--beta", "2"],  # wrong length
    ["--x", "0.3,0.7,0", "--baseline", "0,0,0", "--x0", "0,0,0", "--beta", "-1"],  # beta <= 0
    ["--x", "0.3,a,0", "--baseline", "0,0,0", "--x0", "0,0,0", "--beta", "1"],  # not a number
])
def test_theorem21_bad_input_exits_2(model_path, capsys, bad):
    path, _ = model_path
    main = _main()
    assert main(["theorem21", path, *bad, "--output", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("polyattr: error:") and err.count("\n") == 1


def test_theorem21_missing_output_on_multi_output_model(model_path, capsys):
    path, _ = model_path
    main = _main()
    assert main(["theorem21", path, "--x", "0,0,0", "--baseline", "1,1,1", "--x0", "0,0,0", "--beta", "1"]) == 2
    assert "output" in capsys.readouterr().err


def test_theorem21_requires_beta(model_path, capsys):
    path, _ = model_path
    main = _main()
    # argparse: a required option is missing; one line and exit code 2 like every bad input
    assert main(["theorem21", path, "--x", "0,0,0", "--baseline", "1,1,1", "--x0", "0,0,0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("polyattr: error: theorem21:") and "--beta" in err


def test_axioms_table_json(capsys):
    main = _main()
    assert main(["axioms", "--methods", "ig,deeplift", "--models", "1", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"ig", "deeplift"}
    checks = out["deeplift"]["checks"]
    assert checks["completeness"]["passed"] and not checks["implementation_invariance"]["passed"]
    assert checks["implementation_invariance"]["predicted"] is False
    assert all(c["passed"] for c in out["ig"]["checks"].values())


def test_axioms_table_text_and_bad_method(capsys):
    main = _main()
    assert main(["axioms", "--methods", "shapley", "--models", "1"]) == 0
    assert "impl. invariance" in capsys.readouterr().out
    assert main(["axioms", "--methods", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
