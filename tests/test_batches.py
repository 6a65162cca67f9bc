"""Batches: attribute(model, X (n, d), method) against n single calls, and the reuse of partitions.

References: the single-point calls (each enumerates its own supports afresh, the code path of
before batches) -- batch values equal them exactly in exact mode and within the sum of the two
stated float bounds in float mode; the number of enumerations is counted on the result.
"""

import json
from fractions import Fraction

import numpy as np
import pytest

from polyattr import PolyattrError, ReLUNetwork, attribute, random_network, save_model
from polyattr.cli import main

MEASURE_METHODS = ["pdp", "ice", "shapley_uniform", "fafp_global", "occlusion", "shapley", "fafp_local"]
OTHER_METHODS = ["gradient", "gradient_x_input", "ig", "deeplift", "epsilon_lrp", "smoothgrad_uniform", "lime_uniform"]


@pytest.fixture(scope="module")
def net():
    return random_network([2, 10, 10, 1], rng=7)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(1).uniform(0.05, 0.95, size=(6, 2))


@pytest.mark.parametrize("method", MEASURE_METHODS + OTHER_METHODS)
def test_float_batch_equals_single_calls_within_the_bounds(net, X, method):
    batch = attribute(net, X, method)
    assert batch.values.shape == X.shape and batch.data.shape == X.shape
    for i, x in enumerate(X):
        single = attribute(net, x, method)
        gap = np.max(np.abs(batch.values[i] - single.values))
        assert gap <= batch.error_bound + single.error_bound + 1e-15, (i, gap)
        if single.base_values is None:
            assert batch.base_values is None
        else:
            assert abs(batch.base_values[i] - single.base_values) <= 1e-12 * (1 + abs(single.base_values))
    assert batch.base_values is None or batch.base_values.shape == (len(X),)


@pytest.mark.parametrize("method", ["pdp", "ice", "shapley_uniform", "fafp_global", "ig", "smoothgrad_uniform"])
def test_exact_batch_equals_single_calls_exactly(method):
    from polyattr.certify.exact_regions import clear_cache

    net = random_network([2, 6, 6, 1], rng=11)
    X = [[Fraction(1, 5), Fraction(7, 10)], [Fraction(3, 4), Fraction(1, 3)], [Fraction(1, 2), Fraction(9, 10)]]
    clear_cache()
    batch = attribute(net, X, method, exact=True)
    if method in ("ice", "shapley_uniform", "pdp", "fafp_global"):  # every support is a line or the box
        assert batch.info["enumerations"] == 1, batch.info
    clear_cache()  # the single calls enumerate and confirm their own supports
    for i, x in enumerate(X):
        single = attribute(net, x, method, exact=True)
        assert list(batch.values[i]) == list(single.values)
        assert all(isinstance(v, Fraction) for v in batch.values[i])
    assert batch.exact and batch.error_bound == 0.0


def test_lines_are_cut_from_one_partition_of_the_box(net, X):
    n, d = X.shape
    # exact mode cuts every line from the box's partition (the exact confirmation proves each cut)
    XQ = [[Fraction(float(v)) for v in x] for x in X]
    for method in ("ice", "shapley_uniform"):
        batch = attribute(net, XQ, method, exact=True)
        assert batch.info["enumerations"] == 1, (method, batch.info)  # the box instead of one per line
        assert batch.info["cuts"] == n * d, (method, batch.info)
    # float mode: the uniform slices come from the triangulated box (one enumeration) ...
    for method in ("shapley_uniform", "pdp"):
        batch = attribute(net, X, method)
        assert batch.info["enumerations"] == 1 and batch.info["cuts"] == n * d, (method, batch.info)
        assert np.isfinite(batch.error_bound)
    # ... and ICE lines are enumerated one by one (verified, so their bound is proven)
    batch = attribute(net, X, "ice")
    assert batch.info["enumerations"] == n * d and batch.info["cuts"] == 0, batch.info
    assert np.isfinite(batch.error_bound)
    # a single point enumerates each of its lines
    single = attribute(net, X[0], "ice")
    assert single.info.get("enumerations") is None  # no batch bookkeeping on a single result


def test_higher_dimensional_slices_come_from_the_triangulated_box():
    net = random_network([3, 6, 6, 1], rng=2)
    X = np.random.default_rng(3).uniform(0.1, 0.9, size=(3, 3))
    # 2-dimensional slices: integrated from the box's simplices (polyattr.attribution.slice_batches)
    batch = attribute(net, X, "pdp")
    assert batch.info["cuts"] == 9 and batch.info["enumerations"] == 1
    # exact mode enumerates (and confirms) each slice itself
    XQ = [[Fraction(1, 3), Fraction(1, 2), Fraction(3, 4)], [Fraction(1, 5), Fraction(2, 5), Fraction(3, 5)]]
    exact = attribute(net, XQ, "pdp", exact=True)
    assert exact.info["enumerations"] == 6 and exact.info["cuts"] == 0


def test_a_line_inside_a_neuron_hyperplane_falls_back_to_enumeration():
    # neuron 0 is relu(z0 - 1/2): the ICE line along e1 at x0 = 1/2 lies inside its hyperplane, so
    # both neighbouring regions claim it and the cut is refused
    W0 = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, 2.0]])
    b0 = np.array([-0.5, -0.625, -0.25])
    W1 = np.array([[1.0, -2.0, 0.5]])
    net = ReLUNetwork([W0, W1], [b0, np.array([0.1])])
    X = np.array([[0.5, 0.3], [0.2, 0.6]])
    batch = attribute(net, X, "ice")  # float mode enumerates every line (verified)
    for i, x in enumerate(X):
        single = attribute(net, x, "ice")
        assert np.max(np.abs(batch.values[i] - single.values)) <= batch.error_bound + single.error_bound
    XQ = [[Fraction(1, 2), Fraction(3, 10)], [Fraction(1, 5), Fraction(3, 5)]]
    exact = attribute(net, XQ, "ice", exact=True)
    assert exact.info["enumerations"] == 1 + 1 and exact.info["cuts"] == 3, exact.info
    for i, x in enumerate(XQ):
        assert list(exact.values[i]) == list(attribute(net, x, "ice", exact=True).values)


def test_batch_result_shapes_and_json(net, X):
    res = attribute(net, X, "ig", baseline=[0.0, 0.0])
    doc = res.to_dict()
    assert len(doc["values"]) == len(X) and all(len(r) == 2 for r in doc["values"])
    assert len(doc["base_values"]) == len(X)
    json.dumps(doc)
    assert res.batch and len(res) == len(X)
    assert res.lower_bounds.shape == X.shape
    exact = attribute(net, [[Fraction(1, 3), Fraction(1, 2)]], "occlusion", exact=True)
    assert exact.to_dict()["values"][0][0].count("/") == 1
    one = attribute(net, X[0], "ig")
    assert not one.batch and one.values.shape == (2,) and np.ndim(one.base_values) == 0


def test_batch_errors(net):
    with pytest.raises(PolyattrError, match=r"x\[1\]"):
        attribute(net, [[0.1, 0.2], [0.3, 1.5]], "pdp")
    with pytest.raises(PolyattrError, match="x"):
        attribute(net, np.zeros((0, 2)), "pdp")
    with pytest.raises(PolyattrError, match="x"):
        attribute(net, [[0.1, 0.2, 0.3]], "pdp")


def test_progress_bar_on_request(net, X, capsys):
    attribute(net, X, "ice", progress=True)
    assert "attribute" in capsys.readouterr().err
    attribute(net, X, "ice")  # short batches are quiet by default
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_cli_x_file(net, X, tmp_path, capsys, suffix):
    model = tmp_path / "m.npz"
    save_model(net, model)
    data = tmp_path / f"X{suffix}"
    if suffix == ".npy":
        np.save(data, X)
    else:
        data.write_text("\n".join(",".join(repr(float(v)) for v in row) for row in X) + "\n")
    out_csv = tmp_path / "out.csv"
    assert main(["attribute", str(model), "--x-file", str(data), "--method", "ice", "--json", "--csv", str(out_csv)]) == 0
    doc = json.loads(capsys.readouterr().out)
    expect = attribute(net, X, "ice")
    np.testing.assert_allclose(doc["values"], expect.values, rtol=0, atol=1e-13)
    lines = out_csv.read_text().strip().splitlines()
    assert lines[0] == "row,x0,x1,base_value" and len(lines) == len(X) + 1
    np.testing.assert_allclose([[float(c) for c in ln.split(",")[1:3]] for ln in lines[1:]], expect.values, atol=1e-13)


def test_cli_x_file_exact_csv_and_errors(net, tmp_path, capsys):
    model = tmp_path / "m.npz"
    save_model(net, model)
    data = tmp_path / "X.csv"
    data.write_text("1/3,1/2\n0.25,0.75\n")
    assert main(["attribute", str(model), "--x-file", str(data), "--method", "occlusion", "--exact", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for row, x in zip(doc["values"], [[Fraction(1, 3), Fraction(1, 2)], [Fraction(1, 4), Fraction(3, 4)]]):
        assert [Fraction(v) for v in row] == list(attribute(net, x, "occlusion", exact=True).values)
    bad = tmp_path / "bad.csv"
    bad.write_text("0.1,zz\n")
    for argv in (["--x-file", str(bad)], ["--x-file", str(tmp_path / "none.npy")],
                 ["--x-file", str(data), "--certificate", str(tmp_path / "c.json")]):
        assert main(["attribute", str(model), "--method", "occlusion", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("polyattr: error:") and err.count("\n") == 1


def test_lines_cut_on_a_network_with_leaky_and_identity_units():
    rng = np.random.default_rng(4)
    W = [rng.normal(size=(6, 2)), rng.normal(size=(5, 6)), rng.normal(size=(1, 5))]
    b = [rng.normal(size=6) * 0.3, rng.normal(size=5) * 0.3, rng.normal(size=1)]
    slopes = [np.array([0.0, 0.1, 1.0, 0.0, 0.25, 1.0]), np.array([0.0, 0.5, 0.0, 1.0, 0.0])]
    net = ReLUNetwork(W, b, negative_slopes=slopes)
    X = rng.uniform(0.05, 0.95, size=(5, 2))
    for method, enumerations, cuts in (("ice", 10, 0), ("shapley_uniform", 1, 10)):
        # float ICE lines are enumerated (verified); the Shapley slices come from the triangulated box
        batch = attribute(net, X, method)
        assert batch.info["enumerations"] == enumerations and batch.info["cuts"] == cuts, (method, batch.info)
        assert np.isfinite(batch.error_bound)
        for i, x in enumerate(X):
            single = attribute(net, x, method)
            assert np.max(np.abs(batch.values[i] - single.values)) <= batch.error_bound + single.error_bound
