"""Reading and writing models: the ``.npz`` contract and JSON with exact rationals (PyTorch: torch_import).

``.npz``: arrays ``W0, b0, W1, b1, ...``; ``W_i`` has shape (out, in).  Format version 2 adds
``a0, a1, ...`` (one per hidden layer, shape (out_i,)): each hidden unit's negative slope alpha
(0 ReLU, 1 identity, else leaky ReLU), and a 0-d integer array ``version`` = 2.  JSON:
``{"format": "polyattr-relu", "version": 1, "layers": [{"W": [[...]], "b": [...]}, ...]}`` where
numbers may be JSON numbers or strings "p/q" (exact rationals; the model loads exact when any
entry is a string); version 2 adds ``"negative_slopes": [[...], ...]`` (one list per hidden layer,
numbers or "p/q" strings).  Files without slopes load as all-ReLU networks; models whose units are
all ReLUs are still written in version 1, so older readers keep reading them.
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
#: Version 2 adds per-unit negative slopes (arrays a0, a1, ... / "negative_slopes").
MODEL_VERSIONS = (1, 2)
SLOPES_VERSION = 2


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
    slope_keys = {f"a{i}" for i in range(n - 1)}
    extra = sorted(set(arrays) - {f"W{i}" for i in range(n)} - {f"b{i}" for i in range(n)} - slope_keys - {"version"})
    if extra:
        raise PolyattrError(f"model: {path.name} has unexpected arrays {extra} (expected W0, b0, W1, b1, ..., a0, ...)")
    for key, arr in arrays.items():
        if not np.issubdtype(arr.dtype, np.number):
            raise PolyattrError(f"model: {path.name}: array {key} has non-numeric dtype {arr.dtype}")
    slopes = _npz_slopes(arrays, n, path.name)
    return ReLUNetwork([arrays[f"W{i}"] for i in range(n)], [arrays[f"b{i}"] for i in range(n)], slopes, exact=exact)


def _npz_slopes(arrays: dict, n_layers: int, name: str):
    """The ``a0, a1, ...`` arrays of a version-2 file (None when there are none: all ReLU)."""
    version = arrays.get("version")
    if version is not None:
        if version.shape != () or version.dtype.kind not in "iu" or int(version) not in MODEL_VERSIONS:
            raise PolyattrError(f"model: {name}: array 'version' must be one integer in {list(MODEL_VERSIONS)}, got {version!r}")
    present = [f"a{i}" for i in range(n_layers - 1) if f"a{i}" in arrays]
    if not present:
        return None
    if version is None or int(version) < SLOPES_VERSION:
        raise PolyattrError(f"model: {name}: slope arrays {present} need a 0-d array version = {SLOPES_VERSION}")
    if len(present) != n_layers - 1:
        missing = [f"a{i}" for i in range(n_layers - 1) if f"a{i}" not in arrays]
        raise PolyattrError(f"model: {name} lacks slope arrays {missing} (one per hidden layer)")
    return [arrays[f"a{i}"] for i in range(n_layers - 1)]


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
    slopes, slope_strings = _json_slopes(doc, len(Ws), path.name)
    is_exact = exact or any_string or slope_strings
    if not is_exact:
        Ws = [W.astype(float) for W in Ws]
        bs = [b.astype(float) for b in bs]
        slopes = None if slopes is None else [a.astype(float) for a in slopes]
    return ReLUNetwork(Ws, bs, slopes, exact=is_exact)


def _json_slopes(doc: dict, n_layers: int, name: str):
    """The "negative_slopes" lists of a version-2 document (None when absent: all ReLU), and whether any is a string."""
    version = doc.get("version", 1)
    if isinstance(version, bool) or version not in MODEL_VERSIONS:
        raise PolyattrError(f"model: {name}: version {version!r}; expected one of {list(MODEL_VERSIONS)}")
    if "negative_slopes" not in doc:
        return None, False
    if version < SLOPES_VERSION:
        raise PolyattrError(f"model: {name}: 'negative_slopes' needs \"version\": {SLOPES_VERSION}")
    lists = doc["negative_slopes"]
    if not isinstance(lists, list) or len(lists) != n_layers - 1 or not all(isinstance(a, list) for a in lists):
        raise PolyattrError(f"model: {name}: 'negative_slopes' must be {n_layers - 1} lists, one per hidden layer")
    try:
        slopes = [np.array([_parse_number(v) for v in a], dtype=object) for a in lists]
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise PolyattrError(f"model: {name}: negative_slopes: expected numbers or 'p/q' strings ({exc})") from None
    return slopes, _has_string(lists)


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
    """Save to ``.npz`` (float64) or ``.json`` (exact models as "p/q" strings, floats as numbers).

    Models with leaky-ReLU or identity units are written in format version 2 (with their slopes);
    all-ReLU models in version 1.
    """
    path = Path(path)
    has_slopes = not model.is_relu
    if path.suffix.lower() == ".npz":
        net = model.to_float()
        arrays = {}
        for i, (W, b) in enumerate(zip(net.weights, net.biases)):
            arrays[f"W{i}"], arrays[f"b{i}"] = W, b
        if has_slopes:
            arrays.update({f"a{i}": np.asarray(a, dtype=np.float64) for i, a in enumerate(net.negative_slopes)})
            arrays["version"] = np.array(SLOPES_VERSION)
        np.savez(path, **arrays)
        return path
    if path.suffix.lower() == ".json":
        def enc(v):
            return f"{v.numerator}/{v.denominator}" if model.exact else float(v)

        layers = [
            {"W": [[enc(v) for v in row] for row in W], "b": [enc(v) for v in b]}
            for W, b in zip(model.weights, model.biases)
        ]
        doc = {"format": "polyattr-relu", "version": SLOPES_VERSION if has_slopes else 1, "layers": layers}
        if has_slopes:
            doc["negative_slopes"] = [[enc(v) for v in a] for a in model.negative_slopes]
        path.write_text(json.dumps(doc))
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
