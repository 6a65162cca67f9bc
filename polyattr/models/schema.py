"""The model file formats, validated in one place before any array or model is built.

Two formats (DESIGN.md, "Contracts"):

* ``.npz``: arrays ``W0, b0, W1, b1, ...`` of real numbers (signed or unsigned integers, float16,
  float32 or float64); format version 2 adds the hidden units' negative slopes ``a0, a1, ...`` and a
  0-d integer array ``version`` = 2.  Complex, boolean, date/time, string, object and extended-precision arrays
  are refused: numpy would silently drop an imaginary part or turn a timedelta into a count.  The
  array headers are read (shape and dtype) before any data, so a huge or mistyped array is refused
  without loading it.
* JSON: ``{"format": "polyattr-relu", "version": 1, "layers": [{"W": [[...]], "b": [...]}, ...]}``
  (``format`` and ``version`` may be omitted; when present they must be these); version 2 adds
  ``"negative_slopes": [[...], ...]``, one list per hidden layer (unit max(z,0) + alpha min(z,0)).
  Each layer may say ``"activation"``: ``"relu"`` for a hidden layer (its slopes, if given, all 0),
  ``"identity"`` (slopes all 1) or ``"leaky_relu"`` (slopes given), ``"linear"`` for the last.
  Numbers are JSON numbers or strings (decimals or "p/q"); JSON numbers and decimal strings are
  read as the rationals their text denotes, so ``0.1`` is 1/10 in exact mode and the float nearest
  1/10 otherwise.  The parse is strict: duplicate keys, unknown keys, NaN/Infinity, numbers with
  more digits or a larger exponent than :mod:`polyattr.numbers` allows, ragged or non-numeric
  arrays, and nesting deeper than the format needs are refused with a message naming the place.

Everything here raises :class:`~polyattr.errors.PolyattrError`; nothing here builds a network.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.numbers import MAX_LITERAL_DIGITS, parse_rational

MODEL_FORMAT = "polyattr-relu"
#: Version 2 adds per-unit negative slopes (arrays a0, a1, ... / "negative_slopes").
MODEL_VERSIONS = (1, 2)
SLOPES_VERSION = 2
HIDDEN_ACTIVATIONS = ("relu", "leaky_relu", "identity")
OUTPUT_ACTIVATIONS = ("linear", "identity")
_TOP_KEYS = ("format", "version", "layers", "negative_slopes", "metadata")
_LAYER_KEYS = ("W", "b", "activation")
#: numpy dtype kinds that are real numbers: signed and unsigned integers, floats.
_REAL_KINDS = "iuf"
#: Largest array (entries) a model file may hold: far beyond any dense network polyattr can explain.
MAX_ARRAY_ENTRIES = 50_000_000


@dataclass(frozen=True)
class ModelArrays:
    """A validated model file: per layer a weight matrix and a bias vector, and whether it is exact.

    ``weights[i]`` is float64 (out, in) or an object array of Fractions when ``exact``;
    ``negative_slopes`` is None (all ReLU) or one array per hidden layer.
    """

    weights: tuple
    biases: tuple
    exact: bool
    negative_slopes: tuple | None = None


# ------------------------------------------------------------------------------------- JSON
def strict_json_loads(text: str, name: str):
    """Parse JSON text strictly (see the module docstring); numbers become ints or Fractions."""

    def pairs(items):
        out = {}
        for key, value in items:
            if key in out:
                raise PolyattrError(f"{name}: duplicate key {key!r} in a JSON object; expected each key once")
            out[key] = value
        return out

    def constant(word):
        raise PolyattrError(f"{name}: {word} is not a number; expected finite numbers")

    def integer(text_):
        if len(text_.lstrip("-").lstrip("0")) > MAX_LITERAL_DIGITS:
            raise PolyattrError(f"{name}: an integer with {len(text_)} digits; expected at most {MAX_LITERAL_DIGITS}")
        return int(text_)

    def decimal(text_):
        return parse_rational(text_, name)

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant, parse_int=integer,
                          parse_float=decimal)
    except RecursionError:
        raise PolyattrError(f"{name}: JSON nested too deeply; expected the flat structure of the format") from None
    except json.JSONDecodeError as exc:
        raise PolyattrError(f"{name}: not valid JSON ({exc})") from None


def model_from_json_text(text: str, name: str, exact: bool = False) -> ModelArrays:
    """Validate a JSON model document and return its arrays.

    The model is exact when ``exact`` is true or any number is written as a string.
    """
    doc = strict_json_loads(text, name)
    if not isinstance(doc, dict):
        raise PolyattrError(f"{name}: expected a JSON object with 'layers', got {_kind(doc)}")
    unknown = sorted(set(doc) - set(_TOP_KEYS))
    if unknown:
        raise PolyattrError(f"{name}: unknown keys {unknown}; expected only {list(_TOP_KEYS)}")
    if "format" in doc and doc["format"] != MODEL_FORMAT:
        raise PolyattrError(f"{name}: format {_short(doc['format'])}; expected {MODEL_FORMAT!r}")
    if "version" in doc and (isinstance(doc["version"], bool) or doc["version"] not in MODEL_VERSIONS):
        raise PolyattrError(f"{name}: version {_short(doc['version'])}; expected one of {list(MODEL_VERSIONS)}")
    layers = doc.get("layers")
    if not isinstance(layers, list) or not layers:
        raise PolyattrError(f"{name}: expected an object with a non-empty 'layers' list")
    slopes, slope_strings = None, False
    if "negative_slopes" in doc:
        if doc.get("version") != SLOPES_VERSION:
            raise PolyattrError(f"{name}: 'negative_slopes' needs \"version\": {SLOPES_VERSION}")
        lists = doc["negative_slopes"]
        if not isinstance(lists, list) or len(lists) != len(layers) - 1:
            raise PolyattrError(f"{name}: 'negative_slopes' must be {len(layers) - 1} lists, one per hidden layer")
        slopes = []
        for i, a in enumerate(lists):
            q, st = _vector(a, f"{name}: negative_slopes[{i}]")
            slopes.append(q)
            slope_strings |= st
    rows_W, rows_b, any_string = [], [], False
    for i, layer in enumerate(layers):
        where = f"{name}: layers[{i}]"
        if not isinstance(layer, dict) or "W" not in layer or "b" not in layer:
            raise PolyattrError(f"{where}: expected an object with 'W' and 'b'")
        unknown = sorted(set(layer) - set(_LAYER_KEYS))
        if unknown:
            raise PolyattrError(f"{where}: unknown keys {unknown}; expected only {list(_LAYER_KEYS)}")
        last = i == len(layers) - 1
        allowed = OUTPUT_ACTIVATIONS if last else HIDDEN_ACTIVATIONS
        if "activation" in layer and layer["activation"] not in allowed:
            raise PolyattrError(
                f"{where}: activation {_short(layer['activation'])} is not supported "
                f"{'on the output layer' if last else 'on a hidden layer'}; expected one of {list(allowed)}"
            )
        if "activation" in layer and not last:
            _check_activation(layer["activation"], None if slopes is None else slopes[i], where)
        W, s1 = _matrix(layer["W"], f"{where}.W")
        b, s2 = _vector(layer["b"], f"{where}.b")
        any_string |= s1 or s2
        rows_W.append(W)
        rows_b.append(b)
    is_exact = bool(exact) or any_string or slope_strings
    if is_exact:
        Ws = tuple(np.array(W, dtype=object).reshape(len(W), len(W[0])) for W in rows_W)
        bs = tuple(np.array(b, dtype=object).reshape(len(b)) for b in rows_b)
        alphas = None if slopes is None else tuple(np.array(a, dtype=object).reshape(len(a)) for a in slopes)
    else:
        alphas = None if slopes is None else tuple(
            np.array([_to_float(v, f"{name}: negative_slopes[{i}]") for v in a], dtype=np.float64)
            for i, a in enumerate(slopes))
        Ws = tuple(np.array([[_to_float(v, f"{name}: layers[{i}].W") for v in row] for row in W], dtype=np.float64)
                   for i, W in enumerate(rows_W))
        bs = tuple(np.array([_to_float(v, f"{name}: layers[{i}].b") for v in b], dtype=np.float64)
                   for i, b in enumerate(rows_b))
    return ModelArrays(Ws, bs, is_exact, alphas)


def _check_activation(activation: str, slopes, where: str) -> None:
    """A hidden layer's "activation" must agree with its slopes (it may not silently contradict them)."""
    want = {"relu": 0, "identity": 1}.get(activation)
    if want is not None and slopes is not None and any(v != want for v in slopes):
        raise PolyattrError(f"{where}: activation {activation!r} contradicts its negative_slopes (expected all {want})")
    if activation == "leaky_relu" and slopes is None:
        raise PolyattrError(f"{where}: activation 'leaky_relu' needs \"negative_slopes\" (and \"version\": {SLOPES_VERSION})")


def _number(v, where: str) -> tuple[Fraction, bool]:
    if isinstance(v, bool) or v is None:
        raise PolyattrError(f"{where}: expected a number, got {_short(v)}")
    if isinstance(v, int):
        return Fraction(v), False
    if isinstance(v, Fraction):
        return v, False
    if isinstance(v, str):
        return parse_rational(v, where), True
    raise PolyattrError(f"{where}: expected a number, got {_kind(v)}")


def _vector(value, where: str) -> tuple[list, bool]:
    if not isinstance(value, list) or not value:
        raise PolyattrError(f"{where}: expected a non-empty list of numbers, got {_kind(value)}")
    out, any_string = [], False
    for j, v in enumerate(value):
        q, s = _number(v, f"{where}[{j}]")
        out.append(q)
        any_string |= s
    return out, any_string


def _matrix(value, where: str) -> tuple[list, bool]:
    if not isinstance(value, list) or not value:
        raise PolyattrError(f"{where}: expected a non-empty list of rows (a matrix), got {_kind(value)}")
    rows, any_string = [], False
    for r, row in enumerate(value):
        if not isinstance(row, list):
            raise PolyattrError(f"{where}[{r}]: expected a row (a list of numbers), got {_kind(row)}")
        q, s = _vector(row, f"{where}[{r}]")
        if rows and len(q) != len(rows[0]):
            raise PolyattrError(f"{where}: ragged matrix: row {r} has {len(q)} entries, row 0 has {len(rows[0])}")
        rows.append(q)
        any_string |= s
    return rows, any_string


def _to_float(v: Fraction, where: str) -> float:
    try:
        f = float(v)
    except OverflowError:
        f = float("inf")
    if not np.isfinite(f):
        raise PolyattrError(f"{where}: {_short(v)} is outside the float64 range; load the model with exact=True")
    return f


def _kind(v) -> str:
    if isinstance(v, str):
        return f"the string {_short(v)}"
    return {dict: "an object", list: "a list", type(None): "null", bool: "a boolean"}.get(type(v), type(v).__name__)


def _short(v) -> str:
    s = repr(v) if not isinstance(v, Fraction) else str(v)
    return s if len(s) <= 40 else s[:37] + "..."


# -------------------------------------------------------------------------------------- npz
def npz_array_headers(path) -> dict[str, tuple[tuple, np.dtype]]:
    """Shape and dtype of every array of an ``.npz`` file, read from the headers without the data."""
    headers = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    major, _ = np.lib.format.read_magic(fh)
                    if major == 1:
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                headers[info.filename[:-4]] = (shape, dtype)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise PolyattrError(f"model: {path.name} is not a readable .npz file ({exc})") from None
    return headers


def check_real_dtype(dtype: np.dtype, where: str) -> None:
    """Refuse arrays that are not real numbers numpy converts to float64 without loss of meaning."""
    dtype = np.dtype(dtype)
    if dtype.kind not in _REAL_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        kinds = {"c": "complex", "b": "boolean", "m": "timedelta", "M": "datetime", "O": "object",
                 "U": "string", "S": "bytes", "V": "structured"}
        raise PolyattrError(f"{where}: has {kinds.get(dtype.kind, 'non-numeric')} dtype {dtype}; "
                            f"expected real numbers (integers or float16/32/64)")
    if dtype.kind == "f" and dtype.itemsize > 8:
        raise PolyattrError(f"{where}: has extended-precision dtype {dtype}; convert it to float64 first")


def model_from_npz(path) -> ModelArrays:
    """Validate an ``.npz`` model file (names, dtypes, sizes) and return its arrays (float64 or integer)."""
    headers = npz_array_headers(path)
    n = 0
    while f"W{n}" in headers:
        n += 1
    if n == 0:
        raise PolyattrError(f"model: {path.name} has no arrays W0, b0, ...; found {sorted(headers)}")
    missing = [f"b{i}" for i in range(n) if f"b{i}" not in headers]
    if missing:
        raise PolyattrError(f"model: {path.name} lacks bias arrays {missing}")
    slope_keys = {f"a{i}" for i in range(n - 1)}
    extra = sorted(set(headers) - {f"W{i}" for i in range(n)} - {f"b{i}" for i in range(n)} - slope_keys - {"version"})
    if extra:
        raise PolyattrError(f"model: {path.name} has unexpected arrays {extra} (expected W0, b0, W1, b1, ..., a0, ...)")
    for key, (shape, dtype) in headers.items():
        check_real_dtype(dtype, f"model: {path.name}: array {key}")
        if int(np.prod(shape, dtype=object)) > MAX_ARRAY_ENTRIES:
            raise PolyattrError(f"model: {path.name}: array {key} has shape {shape}; more than "
                                f"{MAX_ARRAY_ENTRIES} entries is not a network polyattr can explain")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise PolyattrError(f"model: {path.name} is not a readable .npz file ({exc})") from None
    Ws, bs, alphas = [], [], []
    slope_names = [f"a{i}" for i in range(n - 1) if f"a{i}" in arrays]
    for i in range(n):
        for key, out in ((f"W{i}", Ws), (f"b{i}", bs), (f"a{i}", alphas)):
            if key not in arrays:
                continue
            arr = arrays[key]
            check_real_dtype(arr.dtype, f"model: {path.name}: array {key}")
            if arr.dtype.kind == "f":
                arr = arr.astype(np.float64)  # exact: float16/32 values are float64 values
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                raise PolyattrError(f"model: {path.name}: array {key} contains NaN or infinite values; expected finite numbers")
            out.append(arr)
    version = arrays.get("version")
    if version is not None and (version.shape != () or version.dtype.kind not in "iu" or int(version) not in MODEL_VERSIONS):
        raise PolyattrError(f"model: {path.name}: array 'version' must be one integer in {list(MODEL_VERSIONS)}, got {version!r}")
    if not slope_names:
        return ModelArrays(tuple(Ws), tuple(bs), False)
    if version is None or int(version) < SLOPES_VERSION:
        raise PolyattrError(f"model: {path.name}: slope arrays {slope_names} need a 0-d array version = {SLOPES_VERSION}")
    if len(slope_names) != n - 1:
        missing = [f"a{i}" for i in range(n - 1) if f"a{i}" not in arrays]
        raise PolyattrError(f"model: {path.name} lacks slope arrays {missing} (one per hidden layer)")
    return ModelArrays(tuple(Ws), tuple(bs), False, tuple(alphas))
