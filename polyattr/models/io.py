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
import os
from importlib import resources
from pathlib import Path

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.models.relu import ReLUNetwork
from polyattr.models.schema import MODEL_VERSIONS, SLOPES_VERSION, model_from_json_text, model_from_npz

DEFAULT_MODEL_NAME = "default_2x16.npz"
__all__ = ["MODEL_VERSIONS", "SLOPES_VERSION", "default_model_path", "file_sha256", "load_model", "save_model",
           "random_network"]


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

    Both formats are validated by :mod:`polyattr.models.schema` before any network is built.
    """
    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        raise PolyattrError(f"path: expected a file name (str or path-like), got {type(path).__name__}")
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
    arrays = model_from_npz(path)
    return ReLUNetwork(arrays.weights, arrays.biases, arrays.negative_slopes, exact=exact)


def _load_json(path: Path, exact: bool) -> ReLUNetwork:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolyattrError(f"model: cannot read {path.name} as UTF-8 text ({exc})") from None
    arrays = model_from_json_text(text, f"model: {path.name}", exact=exact)
    return ReLUNetwork(arrays.weights, arrays.biases, arrays.negative_slopes, exact=arrays.exact)


def save_model(model: ReLUNetwork, path) -> Path:
    """Save to ``.npz`` (float64) or ``.json`` (exact models as "p/q" strings, floats as numbers).

    Models with leaky-ReLU or identity units are written in format version 2 (with their slopes);
    all-ReLU models in version 1.
    """
    if not isinstance(model, ReLUNetwork):
        raise PolyattrError(f"model: expected a ReLUNetwork, got {type(model).__name__}")
    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        raise PolyattrError(f"path: expected a file name (str or path-like), got {type(path).__name__}")
    path = Path(path)
    if not path.parent.is_dir():
        raise PolyattrError(f"path: the directory {str(path.parent)!r} does not exist")
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
    try:
        sizes = list(sizes)
    except TypeError:
        raise PolyattrError(f"sizes: expected a list of layer sizes [d, h1, ..., out], got {type(sizes).__name__}") from None
    if (len(sizes) < 2 or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in sizes)):
        raise PolyattrError(f"sizes: expected at least two positive integers [d, h1, ..., out], got {sizes!r:.80}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating, np.integer)) or not 0 < scale < np.inf:
        raise PolyattrError(f"scale: expected a positive finite number, got {scale!r}")
    try:
        rng = np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise PolyattrError(f"rng: expected a seed, None or a numpy Generator ({exc})") from None
    Ws, bs = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        Ws.append(rng.normal(0.0, scale * np.sqrt(2.0 / fan_in), size=(fan_out, fan_in)))
        bs.append(rng.normal(0.0, 0.5 * scale, size=fan_out))
    return ReLUNetwork(Ws, bs)
