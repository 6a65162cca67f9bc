"""ReLUNetwork: evaluation, patterns, local affine maps, exact weights, file formats, torch import, bad input."""

from fractions import Fraction

import numpy as np
import pytest

from polyattr.errors import PolyattrError
from polyattr.models import ReLUNetwork, from_torch, load_model, random_network, save_model


def manual_forward(net, X):
    h = np.atleast_2d(X)
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        h = np.maximum(h @ W.T + b, 0.0)
    return h @ net.weights[-1].T + net.biases[-1]


def test_evaluation_matches_manual_forward_and_local_affine_maps():
    rng = np.random.default_rng(1)
    net = random_network([3, 7, 5, 2], rng=rng)
    X = rng.uniform(-1, 1, size=(200, 3))
    out = net(X)
    assert out.shape == (200, 2)
    np.testing.assert_allclose(out, manual_forward(net, X), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(net(X, output=1), out[:, 1])
    for x in X[:40]:
        W, b = net.local_affine_map(net.activation_pattern(x))
        np.testing.assert_allclose(W @ x + b, net(x), atol=1e-12)
        w1, b1 = net.local_affine_map(net.activation_pattern(x), output=1)
        assert np.isclose(w1 @ x + b1, net(x, output=1))
        # the point satisfies its own pattern's constraints
        A, c = net.pattern_constraints(net.activation_pattern(x))
        assert np.all(A @ x <= c + 1e-12)


def test_pattern_constraints_describe_the_region():
    rng = np.random.default_rng(2)
    net = random_network([2, 6, 6, 1], rng=rng)
    X = rng.uniform(0, 1, size=(500, 2))
    pats = net.activation_pattern(X)
    ref = pats[0]
    A, c = net.pattern_constraints(ref)
    inside = np.all(X @ A.T <= c, axis=1)
    # a point satisfies the constraints iff it has the same pattern (no point lies exactly on a hyperplane)
    np.testing.assert_array_equal(inside, np.all(pats == ref, axis=1))


def test_exact_weights_are_exact_and_agree_with_float():
    net = random_network([2, 4, 1], rng=3)
    exact = net.to_exact()
    assert exact.exact and isinstance(exact.weights[0][0, 0], Fraction)
    x = [Fraction(1, 3), Fraction(2, 7)]
    value = exact(x)
    assert isinstance(value, Fraction)
    assert abs(float(value) - net(np.array([1 / 3, 2 / 7]))) < 1e-12
    # floats convert to their exact binary value
    assert exact.weights[0][0, 0] == Fraction(float(net.weights[0][0, 0]))
    W, b = exact.local_affine_map(exact.activation_pattern(x), output=0)
    assert sum(wi * xi for wi, xi in zip(W, x)) + b == value


def test_select_output_and_output_errors():
    net = random_network([2, 3, 3], rng=4)
    single = net.select_output(2)
    X = np.random.default_rng(0).uniform(size=(10, 2))
    np.testing.assert_allclose(single(X), net(X)[:, 2])
    with pytest.raises(PolyattrError, match="output"):
        net.select_output(3)
    with pytest.raises(PolyattrError, match="3 outputs"):
        net.check_output(None)


def test_compose_affine_restricts_the_network():
    net = random_network([3, 5, 1], rng=5)
    E = np.array([[1.0], [0.0], [2.0]])
    z0 = np.array([0.1, 0.5, -0.2])
    composed = net.compose_affine(E, z0)
    t = np.linspace(0, 1, 11)[:, None]
    np.testing.assert_allclose(composed(t), net(t @ E.T + z0), atol=1e-13)


@pytest.mark.parametrize(
    "weights, biases, message",
    [
        ([np.array([[np.nan, 1.0]])], [np.zeros(1)], "W0: contains NaN"),
        ([np.array([[np.inf, 1.0]])], [np.zeros(1)], "W0: contains NaN or infinite"),
        ([np.ones((3, 2)), np.ones((1, 4))], [np.zeros(3), np.zeros(1)], "W1: expected 3 input columns"),
        ([np.ones((3, 2))], [np.zeros(2)], "b0: expected shape"),
        ([np.ones((3, 2))], [], "as many bias vectors"),
        ([], [], "at least one layer"),
        ([np.ones(3)], [np.zeros(1)], "W0: expected a non-empty 2-D"),
    ],
)
def test_bad_weights_raise_named_errors(weights, biases, message):
    with pytest.raises(PolyattrError, match=message):
        ReLUNetwork(weights, biases)


def test_bad_points_raise():
    net = random_network([2, 3, 1], rng=6)
    with pytest.raises(PolyattrError, match="x: expected 2 features"):
        net([1.0, 2.0, 3.0])
    with pytest.raises(PolyattrError, match="NaN"):
        net([np.nan, 0.0])


def test_npz_and_json_round_trips(tmp_path):
    net = random_network([3, 4, 2], rng=7)
    loaded = load_model(save_model(net, tmp_path / "m.npz"))
    for W, W2 in zip(net.weights, loaded.weights):
        np.testing.assert_array_equal(W, W2)
    loaded_json = load_model(save_model(net, tmp_path / "m.json"))
    for W, W2 in zip(net.weights, loaded_json.weights):
        np.testing.assert_array_equal(W, W2)  # JSON floats round-trip exactly (repr is shortest exact)
    exact = net.to_exact()
    loaded_exact = load_model(save_model(exact, tmp_path / "e.json"))
    assert loaded_exact.exact
    assert all(np.all(W == W2) for W, W2 in zip(exact.weights, loaded_exact.weights))


def test_json_with_rationals_loads_exact(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"layers": [{"W": [["1/3", 2]], "b": ["-1/7"]}]}')
    net = load_model(path)
    assert net.exact and net.weights[0][0, 0] == Fraction(1, 3)
    assert net([Fraction(3), Fraction(1)]) == Fraction(1) + 2 - Fraction(1, 7)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.npz", b"this is not a zip file", "not a readable .npz"),
        ("bad.json", b"{not json", "not valid JSON"),
        ("nolayers.json", b'{"layers": []}', "non-empty 'layers'"),
        ("str.json", b'{"layers": [{"W": [["x"]], "b": [0]}]}', r"layers\[0\]"),
        ("model.txt", b"", "expected a .npz or .json"),
    ],
)
def test_corrupt_files_raise(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PolyattrError, match=message):
        load_model(path)


def test_npz_missing_bias_and_nan(tmp_path):
    np.savez(tmp_path / "a.npz", W0=np.ones((2, 2)))
    with pytest.raises(PolyattrError, match="lacks bias"):
        load_model(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", W0=np.array([[np.nan, 1.0]]), b0=np.zeros(1))
    with pytest.raises(PolyattrError, match="NaN"):
        load_model(tmp_path / "b.npz")
    with pytest.raises(PolyattrError, match="file not found"):
        load_model(tmp_path / "missing.npz")


def test_torch_import_matches_torch_forward():
    import torch  # the torch extra: scripts/setup.sh installs it
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(nn.Flatten(), nn.Linear(3, 8), nn.ReLU(), nn.Identity(), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 2))
    net = from_torch(module)
    X = np.random.default_rng(0).uniform(-1, 1, size=(50, 3))
    with torch.no_grad():
        ref = module(torch.tensor(X, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(net(X), ref, rtol=1e-6, atol=1e-6)
