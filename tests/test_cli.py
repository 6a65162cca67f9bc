"""The ``polyattr`` command through ``polyattr.cli.main([...])``: JSON contracts, plots, exact output, errors."""

import json
from fractions import Fraction

import numpy as np
import pytest

from polyattr import random_network, save_model
from polyattr.attribution.approximate import network_function
from polyattr.cli import main

REGIONS_KEYS = {"regions", "volume", "domain_volume", "seconds"}
ATTRIBUTE_KEYS = {"method", "values", "exact", "error_bound", "regions", "seconds"}


@pytest.fixture(scope="module")
def model_2d(tmp_path_factory):
    net = random_network([2, 8, 8, 1], rng=np.random.default_rng(12))
    path = tmp_path_factory.mktemp("models") / "net2.npz"
    save_model(net, path)
    return net, path


@pytest.fixture(scope="module")
def model_multi(tmp_path_factory):
    net = random_network([3, 6, 2], rng=np.random.default_rng(13))
    path = tmp_path_factory.mktemp("models") / "multi.npz"
    save_model(net, path)
    return net, path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out  # one JSON object, nothing else on stdout
    return json.loads(lines[0])


# -------------------------------------------------------------------------------------- regions
def test_regions_json(capsys, model_2d):
    _, path = model_2d
    doc = run_json(capsys, "regions", path, "--json")
    assert REGIONS_KEYS <= set(doc)
    assert isinstance(doc["regions"], int) and doc["regions"] >= 1
    assert doc["domain_volume"] == 1.0 and abs(doc["volume"] - 1.0) < 1e-9
    assert doc["seconds"] >= 0


def test_regions_lower_upper_and_plot(capsys, model_2d, tmp_path):
    _, path = model_2d
    doc = run_json(capsys, "regions", path, "--lower=-1,-2", "--upper=1,0.5", "--json")
    assert doc["domain_volume"] == pytest.approx(5.0) and abs(doc["volume"] - 5.0) < 1e-8
    png = tmp_path / "partition.png"
    code, out, err = run(capsys, "regions", path, "--plot", png)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "regions" in out


# ------------------------------------------------------------------------------------ attribute
@pytest.mark.parametrize("method", ["occlusion", "shapley", "pdp", "shapley_uniform", "fafp_local", "fafp_global",
                                    "ice", "ig", "gradient"])
def test_attribute_json_keys_and_values(capsys, model_2d, method):
    net, path = model_2d
    doc = run_json(capsys, "attribute", path, "--x", "0.25,0.6", "--method", method, "--json")
    assert ATTRIBUTE_KEYS <= set(doc)
    assert doc["method"] == method and doc["exact"] is False
    assert len(doc["values"]) == 2 and all(isinstance(v, float) for v in doc["values"])
    assert doc["error_bound"] >= 0 and isinstance(doc["regions"], int) and doc["seconds"] >= 0
    if method == "occlusion":  # independent check: f(x) - f(x with x_j := 0)
        f = network_function(net)
        x = np.array([0.25, 0.6])
        expected = [f(x[None])[0] - f(np.array([[0.0, 0.6]]))[0], f(x[None])[0] - f(np.array([[0.25, 0.0]]))[0]]
        np.testing.assert_allclose(doc["values"], expected, atol=1e-12)


def test_attribute_exact_prints_rationals(capsys, model_2d):
    net, path = model_2d
    doc = run_json(capsys, "attribute", path, "--x", "1/4,3/5", "--method", "shapley", "--exact", "--json")
    assert doc["exact"] is True and doc["error_bound"] == 0
    values = [Fraction(v) for v in doc["values"]]  # "p/q" strings
    assert all(isinstance(v, str) and "/" in v for v in doc["values"])
    floats = run_json(capsys, "attribute", path, "--x", "0.25,0.6", "--method", "shapley", "--json")["values"]
    np.testing.assert_allclose([float(v) for v in values], floats, atol=1e-12)
    # completeness holds exactly: sum = f(x) - f(0) (the exact model evaluated in rationals)
    exact_net = net.to_exact()
    assert sum(values) == exact_net([Fraction(1, 4), Fraction(3, 5)]) - exact_net([Fraction(0), Fraction(0)])
    code, out, err = run(capsys, "attribute", path, "--x", "1/4,3/5", "--method", "occlusion", "--exact")
    assert code == 0 and "exact" in out


def test_attribute_output_and_baseline(capsys, model_multi):
    net, path = model_multi
    x, xb = np.array([0.2, 0.5, 0.9]), np.array([0.1, 0.1, 0.3])
    f = [network_function(net, output=k) for k in range(2)]
    for k in range(2):
        doc = run_json(capsys, "attribute", path, "--x", "0.2,0.5,0.9", "--method", "occlusion", "--output", k,
                       "--baseline", "0.1,0.1,0.3", "--json")
        expected = []
        for j in range(3):
            z = x.copy()
            z[j] = xb[j]
            expected.append(f[k](x[None])[0] - f[k](z[None])[0])
        np.testing.assert_allclose(doc["values"], expected, atol=1e-12)
    code, out, err = run(capsys, "attribute", path, "--x", "0.2,0.5,0.9", "--method", "pdp")
    assert code == 2 and "output" in err


# ----------------------------------------------------------------------------------------- errors
def one_line_error(code, out, err):
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("polyattr: error:"), err
    assert "Traceback" not in err


def test_errors_print_one_line_and_exit_2(capsys, model_2d, tmp_path):
    _, path = model_2d
    bad = tmp_path / "garbage.npz"
    bad.write_bytes(b"this is not a zip file")
    cases = [
        ("attribute", tmp_path / "missing.npz", "--x", "0.1,0.2", "--method", "pdp"),
        ("attribute", bad, "--x", "0.1,0.2", "--method", "pdp"),
        ("regions", bad),
        ("attribute", path, "--x", "0.1,zz", "--method", "pdp"),
        ("attribute", path, "--x", "0.1", "--method", "pdp"),
        ("attribute", path, "--x", "1.5,0.2", "--method", "pdp"),
        ("attribute", path, "--x", "0.1,0.2", "--method", "occlusion", "--baseline", "3,0"),
        ("attribute", path, "--x", "0.1,0.2", "--method", "pdp", "--lower", "0.5,0.5"),
        ("regions", path, "--lower", "1,1", "--upper", "0,0"),
    ]
    for argv in cases:
        one_line_error(*run(capsys, *argv))


# ------------------------------------------------------------------------------------------- demo
def test_demo_runs_and_writes_its_picture(capsys, tmp_path):
    png = tmp_path / "demo.png"
    code, out, err = run(capsys, "demo", "--out", png)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "linear regions" in out
    for method in ("shapley_uniform", "pdp", "ig", "fafp_global", "occlusion"):
        assert any(line.strip().startswith(method + " ") for line in out.splitlines()), method


def test_negative_vectors_need_no_equals_sign(tmp_path, capsys):
    import json

    from polyattr.cli import main
    from polyattr.models import random_network, save_model

    model = save_model(random_network([2, 4, 1], rng=0), tmp_path / "m.npz")
    assert main(["regions", str(model), "--lower", "-1,-2", "--upper", "1,0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["domain_volume"] == pytest.approx(2 * 2.5)
    assert main(["attribute", str(model), "--x", "-0.5,0", "--lower", "-1,-1", "--method", "occlusion",
                 "--baseline", "-1,-1", "--json"]) == 0


def test_version_flag(capsys):
    import polyattr

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"polyattr {polyattr.__version__}"


def test_attribute_text_reports_path_pieces_for_ig(capsys, model_2d):
    # IG enumerates no region; the header names the pieces of its path instead of "regions 0"
    assert main(["attribute", str(model_2d[1]), "--x", "0.3,0.7", "--method", "ig"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "path pieces" in header and "regions 0" not in header
