"""Reading and writing models: the ``.npz`` contract and JSON with exact rationals (PyTorch import: torch_import).

``.npz``: arrays ``W0, b0, W1, b1, ...``; ``W_i`` has shape (out, in).  JSON:
``{"format": "polyattr-relu", "version": 1, "layers": [{"W": [[...]], "b": [...]}, ...]}`` where
numbers may be JSON numbers or strings "p/q" (exact rationals; the model loads exact when any
entry is a string).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from fractions import Fraction
from importlib import resources
from pathlib import Path

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.models.relu import ReLUNetwork

DEFAULT_MODEL_NAME = "default_2x16.npz"


def default_model_path() -> Path:
    """The model shipped with the package (2 inputs, hidden [16, 16], 1 output) used by ``polyattr demo``."""
    return Path(str(resources.files("polyattr") / "data" / DEFAULT_MODEL_NAME))


def file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_model(path, exact: bool = False) -> ReLUNetwork:
    """Load a ReLU network from ``.npz`` or ``.json``.

    Parameters
    ----------
    path : str or Path
    exact : bool
        Convert weights to exact rationals (JSON models with "p/q" strings are always exact).
    """
    path = Path(path)
    if not path.is_file():
        raise PolyattrError(f"model: file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path, exact)
    if suffix == ".json":
        return _load_json(path, exact)
    raise PolyattrError(f"model: expected a .npz or .json file, got {path.name!r}")


def _load_npz(path: Path, exact: bool) -> ReLUNetwork:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise PolyattrError(f"model: {path.name} is not a readable .npz file ({exc})") from None
    n = 0
    while f"W{n}" in arrays:
        n += 1
    if n == 0:
        raise PolyattrError(f"model: {path.name} has no arrays W0, b0, ...; found {sorted(arrays)}")
    missing = [f"b{i}" for i in range(n) if f"b{i}" not in arrays]
    if missing:
        raise PolyattrError(f"model: {path.name} lacks bias arrays {missing}")
    extra = sorted(set(arrays) - {f"W{i}" for i in range(n)} - {f"b{i}" for i in range(n)})
    if extra:
        raise PolyattrError(f"model: {path.name} has unexpected arrays {extra} (expected W0, b0, W1, b1, ...)")
    for key, arr in arrays.items():
        if not np.issubdtype(arr.dtype, np.number):
            raise PolyattrError(f"model: {path.name}: array {key} has non-numeric dtype {arr.dtype}")
    return ReLUNetwork([arrays[f"W{i}"] for i in range(n)], [arrays[f"b{i}"] for i in range(n)], exact=exact)


def _load_json(path: Path, exact: bool) -> ReLUNetwork:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PolyattrError(f"model: {path.name} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list) or not doc["layers"]:
        raise PolyattrError(f"model: {path.name}: expected an object with a non-empty 'layers' list")
    Ws, bs, any_string = [], [], False
    for i, layer in enumerate(doc["layers"]):
        if not isinstance(layer, dict) or "W" not in layer or "b" not in layer:
            raise PolyattrError(f"model: {path.name}: layer {i} must be an object with 'W' and 'b'")
        any_string |= _has_string(layer["W"]) or _has_string(layer["b"])
        try:
            W = np.array([[_parse_number(v) for v in row] for row in layer["W"]], dtype=object)
            b = np.array([_parse_number(v) for v in layer["b"]], dtype=object)
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            raise PolyattrError(f"model: {path.name}: layer {i}: expected numbers or 'p/q' strings ({exc})") from None
        Ws.append(W)
        bs.append(b)
    is_exact = exact or any_string
    if not is_exact:
        Ws = [W.astype(float) for W in Ws]
        bs = [b.astype(float) for b in bs]
    return ReLUNetwork(Ws, bs, exact=is_exact)


def _has_string(value) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, list):
        return any(_has_string(v) for v in value)
    return False


def _parse_number(v):
    if isinstance(v, bool) or v is None:
        raise TypeError(f"{v!r} is not a number")
    if isinstance(v, str):
        return Fraction(v)
    if isinstance(v, int):
        return Fraction(v)
    if isinstance(v, float):
        if not np.isfinite(v):
            raise ValueError(f"{v!r} is not finite")
        return Fraction(v)
    raise TypeError(f"{v!r} is not a number")


def save_model(model: ReLUNetwork, path) -> Path:
    """Save to ``.npz`` (float64) or ``.json`` (exact models as "p/q" strings, floats as numbers)."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        net = model.to_float()
        arrays = {}
        for i, (W, b) in enumerate(zip(net.weights, net.biases)):
            arrays[f"W{i}"], arrays[f"b{i}"] = W, b
        np.savez(path, **arrays)
        return path
    if path.suffix.lower() == ".json":
        def enc(v):
            return f"{v.numerator}/{v.denominator}" if model.exact else float(v)

        layers = [
            {"W": [[enc(v) for v in row] for row in W], "b": [enc(v) for v in b]}
            for W, b in zip(model.weights, model.biases)
        ]
        path.write_text(json.dumps({"format": "polyattr-relu", "version": 1, "layers": layers}))
        return path
    raise PolyattrError(f"path: expected a .npz or .json file name, got {path.name!r}")


def random_network(sizes, rng=None, scale: float = 1.0) -> ReLUNetwork:
    """A random network with layer sizes ``[d, h1, ..., out]`` (He-like initialisation)."""
    rng = np.random.default_rng(rng)
    Ws, bs = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        Ws.append(rng.normal(0.0, scale * np.sqrt(2.0 / fan_in), size=(fan_out, fan_in)))
        bs.append(rng.normal(0.0, 0.5 * scale, size=fan_out))
    return ReLUNetwork(Ws, bs)
