"""Independent verifier of polyattr certificates: ``polyattr verify MODEL CERT``.

This module deliberately imports nothing from polyattr (no enumeration, no LP, no integration, no
attribution code): it reads the model file itself (``.npz`` float64 weights taken exactly, or
JSON with "p/q" strings), and rechecks a certificate with its own small exact routines
(Fraction arithmetic, Gaussian elimination, a pulling triangulation, simplex moment formulas).

What is checked (the first failure is reported, naming the item):

* the SHA-256 of the model's canonical exact weights (recomputed here from the file) and, when the
  certificate names a file, the file's SHA-256; the format, the output index, x and the baseline in the domain;
* for measure methods, that the per-feature combinations of pieces are the method's measures
  (occlusion, shapley, pdp, ice, shapley_uniform, fafp_local, fafp_global) built from x, the
  baseline and the domain;
* point pieces: the model values recomputed exactly, the piece integral;
* density pieces, per region: the pattern is a 0/1 string, canonical (a neuron whose
  pre-activation is identically 0 on the support is inactive) and distinct from the others; every
  vertex lies in the support and satisfies the pattern's sign conditions exactly; the vertices
  are full-dimensional; every facet row is the stated neuron or domain row, holds at every vertex
  and is tight on a (k-1)-dimensional set of them; the mass and first (and second) moment
  recomputed from the vertices by a pulling triangulation over those facets; the contribution
  w_P . moment + b_P mass (w_P, b_P from the pattern); then the region volumes sum exactly to the
  support's volume, and the piece integral is the sum of the contributions.
  Why this proves the integral: canonical distinct patterns have interior-disjoint regions, each
  region's convex hull lies in its pattern's region (where f is affine) and in the support, and
  the triangulation over verified facets covers at most the hull; so equality of the volume sum
  with the support volume forces every hull (and its triangulation) to be complete;
* the final values from the feature combinations (or from the method's rule: gradient pattern
  with a strict interior witness; IG path pieces with sign conditions at both ends, the midpoint
  pattern and breakpoints on neuron hyperplanes; SmoothGrad/LIME box moments; DeepLIFT Rescale and
  epsilon-LRP recomputed).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import zipfile
from fractions import Fraction
from itertools import combinations
from pathlib import Path

_Q = re.compile(r"^-?[0-9]+/[0-9]+$")
#: Digits a certificate rational may have (numerator and denominator together): exact volumes grow
#: long (the exact integral of a 3-input [32, 32] network over its box has a 365,000-bit
#: denominator, about 220,000 digits with the numerator), but a much longer number is not something
#: polyattr writes and would cost quadratic parse time.
_CERT_MAX_DIGITS = 1_000_000
#: Digits a bare JSON integer may have (a certificate writes its rationals as strings; its integers
#: are small counts and indices)
_JSON_MAX_INT_DIGITS = 200_000
#: Digits and decimal exponent a model-file number may have (the same limits polyattr reads with).
_MODEL_MAX_DIGITS = 4000
_MODEL_MAX_EXPONENT = 4000
_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")
_RATIONAL = re.compile(r"([+-]?)([0-9]+)/([0-9]+)")


class CertificateInvalid(Exception):
    """The certificate does not check; the message names the first failing item."""


class VerifierInputError(Exception):
    """A file cannot be read."""


def _fail(item: str, why: str):
    raise CertificateInvalid(f"{item}: {why}")


# --------------------------------------------------------------------------------- parsing
def _strict_json(text: str, error, max_int_digits: int):
    """Parse JSON refusing duplicate keys, NaN/Infinity, over-long integers and deep nesting.

    ``error(why)`` raises the caller's exception; floats are returned as the exact rationals
    their decimal text denotes (``parse_float``), limited like integers.
    """

    def pairs(items):
        out = {}
        for key, value in items:
            if key in out:
                error(f"duplicate key {key!r} in a JSON object")
            out[key] = value
        return out

    def constant(word):
        error(f"{word} is not a number")

    def integer(text_):
        if len(text_) > max_int_digits + 1:
            error(f"an integer with {len(text_)} digits (at most {max_int_digits})")
        return int(text_)

    def decimal(text_):
        return _decimal_fraction(text_, error)

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant, parse_int=integer,
                          parse_float=decimal)
    except RecursionError:
        error("JSON nested too deeply")
    except json.JSONDecodeError as exc:
        error(f"not valid JSON ({exc})")


def _decimal_fraction(text: str, error) -> Fraction:
    """The rational a decimal or "p/q" literal denotes, with digit and exponent limits checked first."""
    s = text.strip()
    m = _RATIONAL.fullmatch(s)
    if m:
        sign, p, q = m.groups()
        if len(p) > _MODEL_MAX_DIGITS or len(q) > _MODEL_MAX_DIGITS or int(q) == 0:
            error(f"bad rational {s[:40]!r}")
        return Fraction(-int(p) if sign == "-" else int(p), int(q))
    m = _DECIMAL.fullmatch(s)
    if not m or not ((m.group(2) or "") + (m.group(3) or "")):
        error(f"expected a number, got {s[:40]!r}")
    sign, whole, frac, exp = m.groups()
    digits = ((whole or "") + (frac or "")).lstrip("0")
    if len(digits) > _MODEL_MAX_DIGITS:
        error(f"a number with more than {_MODEL_MAX_DIGITS} digits")
    e = 0
    if exp is not None:
        if len(exp.lstrip("+-").lstrip("0")) > 6 or abs(int(exp)) > _MODEL_MAX_EXPONENT:
            error(f"the exponent of {s[:40]!r} is beyond +-{_MODEL_MAX_EXPONENT}")
        e = int(exp)
    if not digits:
        return Fraction(0)
    e -= len(frac or "")
    value = Fraction(int(digits) * 10**e) if e >= 0 else Fraction(int(digits), 10**-e)
    return -value if sign == "-" else value


def _q(s, item: str) -> Fraction:
    if not isinstance(s, str) or len(s) > _CERT_MAX_DIGITS + 2 or not _Q.match(s):
        shown = repr(s) if len(repr(s)) <= 60 else repr(s)[:57] + "..."
        _fail(item, f"expected a rational 'p/q' string, got {shown}")
    num, den = s.split("/")
    if int(den) == 0:
        _fail(item, "zero denominator")
    return Fraction(int(num), int(den))


def _qv(values, item: str, length: int | None = None) -> list:
    if not isinstance(values, list):
        _fail(item, "expected a list")
    if length is not None and len(values) != length:
        _fail(item, f"expected {length} entries, got {len(values)}")
    return [_q(v, f"{item}[{i}]") for i, v in enumerate(values)]


def _get(obj, key, item, kind=None):
    """``obj[key]``, failing on a missing key or (when ``kind`` is given) a value of another JSON type."""
    if not isinstance(obj, dict) or key not in obj:
        _fail(item, f"missing field {key!r}")
    value = obj[key]
    if kind is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        names = {list: "a list", dict: "an object", str: "a string", int: "an integer"}
        _fail(f"{item}.{key}" if item != key else item, f"expected {names.get(kind, kind.__name__)}, got {_json_kind(value)}")
    return value


def _json_kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null", bool: "a boolean",
            int: "an integer", Fraction: "a number"}.get(type(value), type(value).__name__)


def _s(v: Fraction) -> str:
    return f"{v.numerator}/{v.denominator}"


# ------------------------------------------------------------------------------------ model
class _Net:
    """A network with exact Fraction weights, as plain lists.

    Hidden unit i of layer l computes max(z, 0) + alpha min(z, 0) with its negative slope alpha
    (0 ReLU, 1 identity, else leaky).  Patterns and region rows cover the cutting units (alpha != 1)
    only: an identity unit is affine and has no hyperplane.
    """

    def __init__(self, weights, biases, slopes=None):
        self.W = weights  # list of (out x in) lists of Fractions
        self.b = biases
        self.slopes = slopes if slopes is not None else [[Fraction(0)] * len(W) for W in weights[:-1]]
        if len(self.slopes) != len(weights) - 1 or any(len(a) != len(W) for a, W in zip(self.slopes, weights)):
            raise VerifierInputError("model: expected one negative slope per hidden unit")
        self.d = len(weights[0][0])
        self.n_outputs = len(weights[-1])
        self.hidden = [len(W) for W in weights[:-1]]
        self.cut = [a != 1 for layer in self.slopes for a in layer]  # per hidden unit
        self.n_neurons = sum(self.cut)

    def cut_values(self, pres):
        """The pre-activations of the cutting units (the ones a pattern describes)."""
        return [v for v, c in zip(pres, self.cut) if c]

    def forward(self, z):
        """Hidden pre-activations of all units (flat list) and outputs at a point z (Fractions)."""
        h, pres = list(z), []
        for W, b, al in zip(self.W[:-1], self.b[:-1], self.slopes):
            a = [sum((w * x for w, x in zip(row, h) if w and x), start=Fraction(0)) + bb for row, bb in zip(W, b)]
            pres.extend(a)
            h = [v if v > 0 else s * v for v, s in zip(a, al)]
        out = [sum((w * x for w, x in zip(row, h) if w and x), start=Fraction(0)) + bb
               for row, bb in zip(self.W[-1], self.b[-1])]
        return pres, out

    def integer_layers(self):
        """Every layer as integers: W = Wi / D, b = bi / D (D the lcm of the layer's denominators)."""
        if not hasattr(self, "_int_layers"):
            layers = []
            for W, b in zip(self.W, self.b):
                D = math.lcm(*(v.denominator for row in W for v in row), *(v.denominator for v in b))
                layers.append(([[int(v * D) for v in row] for row in W], [int(v * D) for v in b], D))
            self._int_layers = layers
        return self._int_layers

    def pattern_maps(self, pattern, E, z0, output):
        """Under ``pattern``, with z = E u + z0 (E d x k, z0 length d, Fractions):

        per neuron an integer row (g, h, S) whose pre-activation is (g.u + h) / S with S > 0, and
        the output map (w, c) as Fractions (f = w.u + c on the region).
        """
        k = len(E[0]) if E else 0
        e = math.lcm(*(v.denominator for row in E for v in row), *(v.denominator for v in z0))
        G = [[int(v * e) for v in row] for row in E]
        h = [int(v * e) for v in z0]
        S = e
        # slopes over one denominator Q: a unit passes Q times its value, or alpha Q times it
        Q = math.lcm(*(a.denominator for layer in self.slopes for a in layer)) if self.slopes else 1
        rows, n = [], 0
        layers = self.integer_layers()
        for (Wi, bi, D), al in zip(layers[:-1], self.slopes):
            newG, newh = [], []
            for wr, bb, a in zip(Wi, bi, al):
                g = [sum(w * G[i][j] for i, w in enumerate(wr) if w and G[i][j]) for j in range(k)]
                c = sum(w * h[i] for i, w in enumerate(wr) if w and h[i]) + bb * S
                if a == 1:  # identity: no row, always passes
                    factor = Q
                else:
                    rows.append((g, c, S * D))
                    factor = Q if pattern[n] else int(a * Q)
                    n += 1
                newG.append([factor * v for v in g])
                newh.append(factor * c)
            G, h = newG, newh
            S *= D * Q
        Wi, bi, D = layers[-1]
        wr, bb = Wi[output], bi[output]
        w = [Fraction(sum(x * G[i][j] for i, x in enumerate(wr) if x and G[i][j]), S * D) for j in range(k)]
        c = Fraction(sum(x * h[i] for i, x in enumerate(wr) if x and h[i]) + bb * S, S * D)
        return rows, (w, c)


def _as_integer_point(p):
    """A rational point as (integer numerators, positive common denominator)."""
    den = math.lcm(*(v.denominator for v in p)) if p else 1
    return [int(v * den) for v in p], den


def _row_sign_value(row, ipoint) -> int:
    """An integer with the sign of the row's pre-activation at the point."""
    g, h, _ = row
    num, den = ipoint
    return sum(a * b for a, b in zip(g, num) if a and b) + h * den


def _row_fractions(row, active):
    """The pattern's exact inequality a.u <= b of a neuron row (active: pre >= 0, inactive: pre <= 0)."""
    g, h, S = row
    if active:
        return [Fraction(-x, S) for x in g], Fraction(h, S)
    return [Fraction(x, S) for x in g], Fraction(-h, S)


def load_exact_model(path) -> _Net:
    """Read a .npz (W0, b0, ...) or .json ("layers": [{"W", "b"}]) model with exact weights.

    As strict as polyattr's own reader, written independently: real-number npz arrays only
    (integers converted exactly, floats by their binary value), JSON without duplicate keys, with
    rectangular numeric arrays, known format/version/activation, decimals read as the rationals
    they denote.
    """
    path = Path(path)
    if not path.is_file():
        raise VerifierInputError(f"model: file not found: {path}")

    def bad(why):
        raise VerifierInputError(f"model: {path.name}: {why}")

    if path.suffix.lower() == ".npz":
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise VerifierInputError(f"model: {path.name} is not a readable .npz file ({exc})") from None
        n = 0
        while f"W{n}" in arrays and f"b{n}" in arrays:
            n += 1
        if n == 0:
            raise VerifierInputError(f"model: {path.name} has no arrays W0, b0")
        slope_keys = {f"a{i}" for i in range(n - 1)}
        extra = sorted(set(arrays) - {f"{c}{i}" for i in range(n) for c in "Wb"} - slope_keys - {"version"})
        if extra:
            bad(f"unexpected arrays {extra}")
        Ws, bs, alphas = [], [], []
        present = [k for k in sorted(slope_keys) if k in arrays]
        if present and len(present) != n - 1:
            bad(f"slope arrays {present}: expected one per hidden layer")
        for i in range(n):
            for key, shape_ok, out in ((f"W{i}", 2, Ws), (f"b{i}", 1, bs), (f"a{i}", 1, alphas)):
                if key not in arrays:
                    continue
                arr = arrays[key]
                if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and arr.dtype.itemsize > 8):
                    bad(f"array {key} has dtype {arr.dtype}; expected real numbers")
                if arr.ndim != shape_ok or arr.size == 0:
                    bad(f"array {key} has shape {arr.shape}")
                if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                    bad(f"array {key} contains NaN or infinite values")
                conv = (lambda v: Fraction(int(v))) if arr.dtype.kind in "iu" else (lambda v: Fraction(float(v)))
                out.append([conv(v) for v in arr] if arr.ndim == 1 else [[conv(v) for v in row] for row in arr])
        return _checked_net(Ws, bs, bad, alphas if present else None)
    if path.suffix.lower() == ".json":
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise VerifierInputError(f"model: cannot read {path.name} ({exc})") from None
        doc = _strict_json(text, bad, _MODEL_MAX_DIGITS)
        if not isinstance(doc, dict) or set(doc) - {"format", "version", "layers", "negative_slopes", "metadata"}:
            bad("expected an object with keys format, version, layers (negative_slopes, metadata)")
        if doc.get("format", "polyattr-relu") != "polyattr-relu" or doc.get("version", 1) not in (1, 2) \
                or isinstance(doc.get("version", 1), bool):
            bad("unknown format or version (expected 'polyattr-relu', 1 or 2)")
        if "negative_slopes" in doc and doc.get("version") != 2:
            bad("'negative_slopes' needs version 2")
        layers = doc.get("layers")
        if not isinstance(layers, list) or not layers:
            bad("expected a non-empty 'layers' list")

        def num(v):
            if isinstance(v, bool) or not isinstance(v, (int, Fraction, str)):
                bad(f"expected a number, got {_json_kind(v)}")
            return Fraction(v) if isinstance(v, (int, Fraction)) else _decimal_fraction(v, bad)

        Ws, bs = [], []
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict) or not {"W", "b"} <= set(layer) or set(layer) - {"W", "b", "activation"}:
                bad(f"layers[{i}]: expected an object with W, b (and activation)")
            act = layer.get("activation", "linear" if i == len(layers) - 1 else "relu")
            if act not in (("linear", "identity") if i == len(layers) - 1 else ("relu", "leaky_relu", "identity")):
                bad(f"layers[{i}]: unsupported activation {act!r}")
            W, b = layer["W"], layer["b"]
            if not isinstance(W, list) or not W or not all(isinstance(r, list) and r for r in W):
                bad(f"layers[{i}].W: expected a non-empty matrix")
            if len({len(r) for r in W}) != 1:
                bad(f"layers[{i}].W: ragged matrix")
            if not isinstance(b, list) or not b:
                bad(f"layers[{i}].b: expected a non-empty list")
            Ws.append([[num(v) for v in row] for row in W])
            bs.append([num(v) for v in b])
        slopes = doc.get("negative_slopes")
        if slopes is not None:
            if not isinstance(slopes, list) or len(slopes) != len(Ws) - 1 or not all(isinstance(a, list) for a in slopes):
                bad("'negative_slopes' must be one list per hidden layer")
            slopes = [[num(v) for v in a] for a in slopes]
            for i, layer in enumerate(layers[:-1]):
                want = {"relu": 0, "identity": 1}.get(layer.get("activation"))
                if want is not None and any(v != want for v in slopes[i]):
                    bad(f"layers[{i}]: activation {layer['activation']!r} contradicts its negative_slopes")
        return _checked_net(Ws, bs, bad, slopes)
    raise VerifierInputError(f"model: expected a .npz or .json file, got {path.name}")


def _checked_net(Ws, bs, bad, slopes=None) -> _Net:
    """A network after checking that the layer shapes chain (out_i == in_{i+1}, len b_i == out_i)."""
    for i, (W, b) in enumerate(zip(Ws, bs)):
        if len(b) != len(W):
            bad(f"layer {i}: {len(b)} biases for {len(W)} rows")
        if i > 0 and len(W[0]) != len(Ws[i - 1]):
            bad(f"layer {i}: {len(W[0])} inputs, but layer {i - 1} has {len(Ws[i - 1])} outputs")
    if slopes is not None and any(len(a) != len(W) for a, W in zip(slopes, Ws)):
        bad("a slope list's length differs from its layer's width")
    return _Net(Ws, bs, slopes)


def canonical_sha256(net: _Net) -> str:
    """SHA-256 of the canonical exact weights (the name of the model in a certificate).

    The canonical document: {"format": "polyattr-canonical", "version": 1, "layers": [{"W", "b"
    [, "negative_slope" for hidden layers]}]} with every number a reduced "p/q" string ("p" for
    integers), serialised with sorted keys and no spaces.
    """
    def enc(v):
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"

    layers = []
    for i, (W, b) in enumerate(zip(net.W, net.b)):
        layer = {"W": [[enc(v) for v in row] for row in W], "b": [enc(v) for v in b]}
        if i < len(net.W) - 1:
            layer["negative_slope"] = [enc(v) for v in net.slopes[i]]
        layers.append(layer)
    doc = {"format": "polyattr-canonical", "version": 1, "layers": layers}
    return hashlib.sha256(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("ascii")).hexdigest()


# ------------------------------------------------------------------------ exact linear algebra
def _rank(rows) -> int:
    M = [list(r) for r in rows]
    if not M:
        return 0
    rank, ncols = 0, len(M[0])
    for col in range(ncols):
        p = next((r for r in range(rank, len(M)) if M[r][col] != 0), None)
        if p is None:
            continue
        M[rank], M[p] = M[p], M[rank]
        for r in range(rank + 1, len(M)):
            if M[r][col] != 0:
                f = M[r][col] / M[rank][col]
                M[r] = [a - f * b for a, b in zip(M[r], M[rank])]
        rank += 1
    return rank


def _affine_rank(points) -> int:
    pts = list(points)
    if not pts:
        return -1
    p0 = pts[0]
    return _rank([[a - b for a, b in zip(p, p0)] for p in pts[1:]]) if len(pts) > 1 else 0


def _det(M) -> Fraction:
    A = [list(r) for r in M]
    n = len(A)
    det = Fraction(1)
    for c in range(n):
        p = next((r for r in range(c, n) if A[r][c] != 0), None)
        if p is None:
            return Fraction(0)
        if p != c:
            A[c], A[p] = A[p], A[c]
            det = -det
        det *= A[c][c]
        for r in range(c + 1, n):
            if A[r][c] != 0:
                f = A[r][c] / A[c][c]
                A[r] = [a - f * b for a, b in zip(A[r], A[c])]
    return det


def _dot(a, b) -> Fraction:
    return sum((x * y for x, y in zip(a, b) if x and y), start=Fraction(0))


# --------------------------------------------------------------------- triangulation, moments
def _triangulate(V, facets, k, item):
    """Pulling triangulation of conv(V) over the given (verified) facets; simplices as index tuples.

    Every face used is checked to have the right affine dimension, so every simplex lies in the
    hull and their interiors are disjoint; missing facets could only make the union smaller, which
    the volume sum over all regions rules out.
    """
    if k == 0:
        return [(0,)]
    rank_memo: dict = {}

    def rank_of(face):
        if face not in rank_memo:
            rank_memo[face] = _affine_rank([V[i] for i in face])
        return rank_memo[face]

    memo: dict = {}

    def pull(face, face_facets, dim):
        if dim == 0:
            if len(face) != 1:
                _fail(item, f"inconsistent faces: a vertex face with {len(face)} vertices")
            return [(next(iter(face)),)]
        key = face
        if key in memo:
            return memo[key]
        apex = min(face)
        out = []
        for F in face_facets:
            if apex in F:
                continue
            subs = {F & G for G in face_facets if G != F} - {frozenset(), F}
            subs = [S for S in subs if rank_of(S) == dim - 2]
            maximal = [S for S in subs if not any(S < T for T in subs)]
            for simplex in pull(F, maximal, dim - 1):
                out.append((apex,) + simplex)
        memo[key] = out
        return out

    return pull(frozenset(range(len(V))), list(dict.fromkeys(facets)), k)


def _simplex_moments(V, simplices, k, order):
    kfact = math.factorial(k)
    m0 = Fraction(0)
    m1 = [Fraction(0)] * k
    M2 = [[Fraction(0)] * k for _ in range(k)] if order >= 2 else None
    for s in simplices:
        pts = [V[i] for i in s]
        vol = abs(_det([[a - b for a, b in zip(p, pts[0])] for p in pts[1:]])) / kfact if k else Fraction(1)
        if vol == 0:
            continue
        m0 += vol
        total = [sum((p[j] for p in pts), start=Fraction(0)) for j in range(k)]
        for j in range(k):
            m1[j] += vol * total[j] / (k + 1)
        if M2 is not None:
            c = vol / ((k + 1) * (k + 2))
            for a in range(k):
                for b in range(k):
                    M2[a][b] += c * (sum((p[a] * p[b] for p in pts), start=Fraction(0)) + total[a] * total[b])
    return m0, m1, M2


# --------------------------------------------------------------------------------- supports
def _support(sup, d, item):
    """(E (d x k), z0, inner lower, inner upper, canonical key) of a support description."""
    kind = _get(sup, "type", item)
    if kind == "box":
        lo, hi = _qv(_get(sup, "lower", item), f"{item}.lower", d), _qv(_get(sup, "upper", item), f"{item}.upper", d)
        E = [[Fraction(int(i == j)) for j in range(d)] for i in range(d)]
        z0 = [Fraction(0)] * d
        inner = (lo, hi)
    elif kind == "slice":
        lo, hi = _qv(_get(sup, "lower", item), f"{item}.lower", d), _qv(_get(sup, "upper", item), f"{item}.upper", d)
        fixed = {}
        for pair in _get(sup, "fixed", item, list):
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int) and 0 <= pair[0] < d):
                _fail(f"{item}.fixed", f"bad entry {pair!r}")
            fixed[pair[0]] = _q(pair[1], f"{item}.fixed")
        free = [i for i in range(d) if i not in fixed]
        E = [[Fraction(int(i == f)) for f in free] for i in range(d)]
        z0 = [fixed.get(i, Fraction(0)) for i in range(d)]
        for i, v in fixed.items():
            if not lo[i] <= v <= hi[i]:
                _fail(f"{item}.fixed", f"value of coordinate {i} outside the box")
        inner = ([lo[i] for i in free], [hi[i] for i in free])
    elif kind == "segment":
        st, en = _qv(_get(sup, "start", item), f"{item}.start", d), _qv(_get(sup, "end", item), f"{item}.end", d)
        if st == en:
            _fail(item, "degenerate segment")
        E = [[en[i] - st[i]] for i in range(d)]
        z0 = st
        inner = ([Fraction(0)], [Fraction(1)])
    else:
        _fail(item, f"unknown support type {kind!r}")
    for a, b in zip(*inner):
        if not a < b:
            _fail(item, "empty support box")
    return E, z0, inner, json.dumps(sup, sort_keys=True)


def _support_volume(inner) -> Fraction:
    v = Fraction(1)
    for a, b in zip(*inner):
        v *= b - a
    return v


def _lift(E, z0, u):
    return [_dot(row, u) + c for row, c in zip(E, z0)]


# ------------------------------------------------------------------------------- density piece
def _check_density_piece(net, piece, d, output, item, integrand="f"):
    """Check every region of a density piece; returns the list of contributions."""
    E, z0, inner, _ = _support(_get(piece, "support", item), d, f"{item}.support")
    k = len(inner[0])
    mass = _q(_get(piece, "mass", item), f"{item}.mass")
    svol = _support_volume(inner)
    scale = mass / svol
    N = net.n_neurons
    regions = _get(piece, "regions", item, list)
    if not isinstance(regions, list) or not regions:
        _fail(f"{item}.regions", "expected a non-empty list")
    seen, total_vol, contributions, gradient_E = set(), Fraction(0), [], None
    dom_rows = ([([Fraction(-int(i == j)) for j in range(k)], -inner[0][i]) for i in range(k)]
                + [([Fraction(int(i == j)) for j in range(k)], inner[1][i]) for i in range(k)])
    for ri, reg in enumerate(regions):
        it = f"{item}.regions[{ri}]"
        pat = _get(reg, "pattern", it)
        if not isinstance(pat, str) or len(pat) != N or set(pat) - {"0", "1"}:
            _fail(f"{it}.pattern", f"expected {N} characters 0/1")
        if pat in seen:
            _fail(f"{it}.pattern", "duplicate pattern (a region counted twice)")
        seen.add(pat)
        bits = [c == "1" for c in pat]
        rows, (w, c) = net.pattern_maps(bits, E, z0, output)
        for n, (g, h, _) in enumerate(rows):
            if bits[n] and h == 0 and not any(g):
                _fail(f"{it}.pattern", f"neuron {n} is identically 0 on the support but marked active (not canonical)")
        V = [_qv(v, f"{it}.vertices[{vi}]", k) for vi, v in enumerate(_get(reg, "vertices", it, list))]
        if not V:
            _fail(f"{it}.vertices", "no vertices")
        for vi, v in enumerate(V):
            for j in range(k):
                if not inner[0][j] <= v[j] <= inner[1][j]:
                    _fail(f"{it}.vertices[{vi}]", "outside the support")
            iv = _as_integer_point(v)
            for n, row in enumerate(rows):
                val = _row_sign_value(row, iv)
                if (bits[n] and val < 0) or (not bits[n] and val > 0):
                    _fail(f"{it}.vertices[{vi}]", f"violates the sign condition of neuron {n}")
        if _affine_rank(V) != k:
            _fail(f"{it}.vertices", f"not full-dimensional (affine rank {_affine_rank(V)} < {k})")
        facet_sets = []
        for fi, facet in enumerate(_get(reg, "facets", it, list)):
            fit = f"{it}.facets[{fi}]"
            if not (isinstance(facet, list) and len(facet) == 3 and isinstance(facet[0], int)):
                _fail(fit, "expected [source, [a...], b]")
            src, a, b = facet[0], _qv(facet[1], fit, k), _q(facet[2], fit)
            if 0 <= src < N:
                expect = _row_fractions(rows[src], bits[src])
            elif N <= src < N + 2 * k:
                expect = dom_rows[src - N]
            else:
                _fail(fit, f"unknown row source {src}")
            if (a, b) != (list(expect[0]), expect[1]):
                _fail(fit, f"row differs from the row of source {src}")
            tight = []
            for vi, v in enumerate(V):
                val = _dot(a, v)
                if val > b:
                    _fail(fit, f"violated at vertex {vi}")
                if val == b:
                    tight.append(vi)
            if _affine_rank([V[i] for i in tight]) != k - 1:
                _fail(fit, "not a facet (its tight vertices do not span dimension k-1)")
            facet_sets.append(frozenset(tight))
        if k > 0 and len(set(facet_sets)) < k + 1:
            _fail(f"{it}.facets", f"a {k}-polytope needs at least {k + 1} facets")
        order = 2 if "moment2" in reg else 1
        simplices = _triangulate(V, facet_sets, k, f"{it}.facets")
        vol, m1u, M2u = _simplex_moments(V, simplices, k, order)
        total_vol += vol
        m0 = scale * vol
        if _q(_get(reg, "mass", it), f"{it}.mass") != m0:
            _fail(f"{it}.mass", f"recomputed mass {m0} differs")
        m1s = [scale * v for v in m1u]
        moment = [_dot(row, m1s) + m0 * zz for row, zz in zip(E, z0)]
        if _qv(_get(reg, "moment", it), f"{it}.moment", d) != moment:
            _fail(f"{it}.moment", "recomputed first moment differs")
        M2 = None
        if order == 2:
            Mu = [[scale * M2u[a][b] for b in range(k)] for a in range(k)]
            Em = [_dot(row, m1s) for row in E]
            M2 = [[sum((E[i][a] * Mu[a][b] * E[j][b] for a in range(k) for b in range(k)), start=Fraction(0))
                   + Em[i] * z0[j] + z0[i] * Em[j] + m0 * z0[i] * z0[j] for j in range(d)] for i in range(d)]
            got = [_qv(r, f"{it}.moment2", d) for r in _get(reg, "moment2", it, list)]
            if got != M2:
                _fail(f"{it}.moment2", "recomputed second moment differs")
        if integrand == "f":
            contribution = _dot(w, m1s) + c * m0
            if _q(_get(reg, "contribution", it), f"{it}.contribution") != contribution:
                _fail(f"{it}.contribution", f"recomputed contribution {contribution} differs")
            contributions.append(contribution)
        else:
            if gradient_E is None:
                gradient_E = [[Fraction(int(i == j)) for j in range(d)] for i in range(d)]
            _, (wz, cz) = net.pattern_maps(bits, gradient_E, [Fraction(0)] * d, output)
            if integrand == "gradient":
                contribution = [m0 * x for x in wz]
                if _qv(_get(reg, "contribution", it), f"{it}.contribution", d) != contribution:
                    _fail(f"{it}.contribution", "recomputed contribution differs")
            else:  # lime: (integral of f, integral of z f) on the region
                contribution = (_dot(wz, moment) + cz * m0,
                                [_dot(M2[i], wz) + moment[i] * cz for i in range(d)])
            contributions.append(contribution)
    if total_vol != svol:
        _fail(f"{item}.regions", f"region volumes sum to {total_vol}, not the support volume {svol} "
                                 f"(a region is missing or incomplete)")
    return contributions


# -------------------------------------------------------------------------- expected families
def _hybrid(x, base, S):
    return [x[i] if i in S else base[i] for i in range(len(x))]


def _shapley_w(s, d):
    return Fraction(math.factorial(s) * math.factorial(d - s - 1), math.factorial(d))


def _expected_family(method, x, base, lo, hi):
    """Per feature {piece key: coefficient} of the method's measures, or None (not checked)."""
    d = len(x)

    def dirac(p):
        return ("points", tuple(_s(v) for v in p), ("1/1",))

    def uniform(sup, mass=Fraction(1)):
        return ("density", json.dumps(sup, sort_keys=True), _s(mass))

    def box_json():
        return {"type": "box", "lower": [_s(v) for v in lo], "upper": [_s(v) for v in hi]}

    def slice_term(S):
        if len(S) == d:
            return dirac(x)
        if not S:
            return uniform(box_json())
        return uniform({"type": "slice", "lower": [_s(v) for v in lo], "upper": [_s(v) for v in hi],
                        "fixed": [[i, _s(x[i])] for i in sorted(S)]})

    fam = []
    for j in range(d):
        terms: dict = {}

        def add(key, coef):
            terms[key] = terms.get(key, Fraction(0)) + coef

        others = [i for i in range(d) if i != j]
        if method == "occlusion":
            add(dirac(x), Fraction(1))
            add(dirac(_hybrid(x, base, set(others))), Fraction(-1))
        elif method in ("shapley", "shapley_uniform"):
            for s in range(d):
                for S in combinations(others, s):
                    w = _shapley_w(s, d)
                    if method == "shapley":
                        add(dirac(_hybrid(x, base, set(S) | {j})), w)
                        add(dirac(_hybrid(x, base, set(S))), -w)
                    else:
                        add(slice_term(set(S) | {j}), w)
                        add(slice_term(set(S)), -w)
        elif method == "pdp":
            add(slice_term({j}), Fraction(1))
        elif method == "ice":
            st, en = list(x), list(x)
            st[j], en[j] = lo[j], hi[j]
            add(dirac(x), Fraction(1))
            add(uniform({"type": "segment", "start": [_s(v) for v in st], "end": [_s(v) for v in en]}), Fraction(-1))
        elif method == "fafp_local":
            z = list(lo)
            z[j] = x[j]
            add(dirac(z), Fraction(1))
        elif method == "fafp_global":
            st, en = list(lo), list(lo)
            en[j] = hi[j]
            add(uniform({"type": "segment", "start": [_s(v) for v in st], "end": [_s(v) for v in en]},
                        2 * (hi[j] - lo[j])), Fraction(1))
        else:
            return None
        fam.append({k: v for k, v in terms.items() if v != 0})
    return fam


def _piece_key(piece):
    if piece.get("type") == "points":
        if len(piece.get("points", [])) != 1:
            return ("points-multi", json.dumps(piece.get("points")), json.dumps(piece.get("weights")))
        return ("points", tuple(piece["points"][0]), tuple(piece.get("weights", [])))
    return ("density", json.dumps(piece.get("support"), sort_keys=True), piece.get("mass"))


# ------------------------------------------------------------------------------- the kinds
def _check_measure(net, cert, d, output, x, base, lo, hi, values):
    trace = _get(cert, "trace", "trace", dict)
    pieces = _get(trace, "pieces", "trace", list)
    features = _get(trace, "features", "trace", list)
    integrals = {}
    for pi, piece in enumerate(pieces):
        item = f"trace.pieces[{pi}]"
        pid = _get(piece, "id", item)
        if pid in integrals or not isinstance(pid, int):
            _fail(f"{item}.id", "duplicate or invalid id")
        kind = _get(piece, "type", item)
        if kind == "points":
            pts = [_qv(p, f"{item}.points[{i}]", d) for i, p in enumerate(_get(piece, "points", item, list))]
            ws = _qv(_get(piece, "weights", item), f"{item}.weights", len(pts))
            vals = _qv(_get(piece, "values", item), f"{item}.values", len(pts))
            for i, p in enumerate(pts):
                if net.forward(p)[1][output] != vals[i]:
                    _fail(f"{item}.values[{i}]", "differs from the model's value at the point")
            integral = sum((w * v for w, v in zip(ws, vals)), start=Fraction(0))
        elif kind == "density":
            integral = sum(_check_density_piece(net, piece, d, output, item), start=Fraction(0))
        else:
            _fail(f"{item}.type", f"unknown piece type {kind!r}")
        if _q(_get(piece, "integral", item), f"{item}.integral") != integral:
            _fail(f"{item}.integral", f"recomputed integral {integral} differs")
        integrals[pid] = integral
    if not isinstance(features, list) or len(features) != d:
        _fail("trace.features", f"expected {d} feature combinations")
    keys = {piece["id"]: _piece_key(piece) for piece in pieces}
    expected = _expected_family(cert["method"], x, base, lo, hi)
    for j, comb in enumerate(features):
        item = f"trace.features[{j}]"
        total, terms = Fraction(0), {}
        for t in comb:
            if not (isinstance(t, list) and len(t) == 2 and t[1] in integrals):
                _fail(item, f"bad term {t!r}")
            coef = _q(t[0], item)
            total += coef * integrals[t[1]]
            terms[keys[t[1]]] = terms.get(keys[t[1]], Fraction(0)) + coef
        if expected is not None and {k: v for k, v in terms.items() if v != 0} != expected[j]:
            _fail(item, f"the pieces are not the measure of method {cert['method']!r} for feature {j}")
        if total != values[j]:
            _fail(f"values[{j}]", f"recomputed value {total} differs")
    return "measure" if expected is not None else "measure (user family: the measures themselves not checked)"


def _check_gradient(net, cert, d, output, x, values):
    trace = _get(cert, "trace", "trace", dict)
    pat = _get(trace, "pattern", "trace")
    if not isinstance(pat, str) or len(pat) != net.n_neurons or set(pat) - {"0", "1"}:
        _fail("trace.pattern", f"expected {net.n_neurons} characters 0/1")
    bits = [c == "1" for c in pat]
    witness = _qv(_get(trace, "witness", "trace"), "trace.witness", d)
    I = [[Fraction(int(i == j)) for j in range(d)] for i in range(d)]
    rows, (w, _) = net.pattern_maps(bits, I, [Fraction(0)] * d, output)
    ix, iw = _as_integer_point(x), _as_integer_point(witness)
    for n, row in enumerate(rows):
        g, h, _ = row
        vx, vw = _row_sign_value(row, ix), _row_sign_value(row, iw)
        if bits[n] and h == 0 and not any(g):
            _fail("trace.pattern", f"neuron {n} identically 0 but marked active")
        if (bits[n] and vx < 0) or (not bits[n] and vx > 0):
            _fail("trace.pattern", f"x violates the sign condition of neuron {n}")
        if (any(g) or h != 0) and ((bits[n] and not vw > 0) or (not bits[n] and not vw < 0)):
            _fail("trace.witness", f"not strictly inside the region (neuron {n})")
    expect = w if cert["method"] == "gradient" else [w[j] * x[j] for j in range(d)]
    for j in range(d):
        if expect[j] != values[j]:
            _fail(f"values[{j}]", f"recomputed value {expect[j]} differs")
    return "gradient"


def _check_paths(net, cert, d, output, x, base, values):
    trace = _get(cert, "trace", "trace", dict)
    paths = _get(trace, "paths", "trace", list)
    method = cert["method"]
    if method == "ig":
        starts = [base]
    else:
        bg = _get(cert["options"], "background", "options")
        starts = [_qv(r, "options.background", d) for r in bg]
    if not isinstance(paths, list) or len(paths) != len(starts):
        _fail("trace.paths", f"expected {len(starts)} paths")
    total = [Fraction(0)] * d
    I = [[Fraction(int(i == j)) for j in range(d)] for i in range(d)]
    for pi, (p, s0) in enumerate(zip(paths, starts)):
        item = f"trace.paths[{pi}]"
        st, en = _qv(_get(p, "start", item), f"{item}.start", d), _qv(_get(p, "end", item), f"{item}.end", d)
        if st != s0 or en != x:
            _fail(item, "the path does not run from the baseline to x")
        pieces = _get(p, "pieces", item, list)
        prev = Fraction(0)
        for ki, piece in enumerate(pieces):
            it = f"{item}.pieces[{ki}]"
            t0, t1 = _q(_get(piece, "t0", it), f"{it}.t0"), _q(_get(piece, "t1", it), f"{it}.t1")
            if t0 != prev or not t0 < t1:
                _fail(it, "pieces must cover [0, 1] in order without gaps")
            prev = t1
            pat = _get(piece, "pattern", it)
            if not isinstance(pat, str) or len(pat) != net.n_neurons or set(pat) - {"0", "1"}:
                _fail(f"{it}.pattern", f"expected {net.n_neurons} characters 0/1")
            bits = [c == "1" for c in pat]
            rows, (w, _) = net.pattern_maps(bits, I, [Fraction(0)] * d, output)
            for t in (t0, t1):
                iz = _as_integer_point([a + t * (b - a) for a, b in zip(st, en)])
                for n, row in enumerate(rows):
                    v = _row_sign_value(row, iz)
                    if (bits[n] and v < 0) or (not bits[n] and v > 0):
                        _fail(it, f"the pattern's sign condition of neuron {n} fails at t = {t}")
            mid = [a + (t0 + t1) / 2 * (b - a) for a, b in zip(st, en)]
            actual = "".join("1" if v > 0 else "0" for v in net.cut_values(net.forward(mid)[0]))
            if actual != pat:
                _fail(f"{it}.pattern", "differs from the network's pattern at the piece's midpoint")
            if ki > 0:
                z = [a + t0 * (b - a) for a, b in zip(st, en)]
                if not any(v == 0 for v in net.cut_values(net.forward(z)[0])):
                    _fail(f"{it}.t0", "no neuron's pre-activation is 0 at this breakpoint")
            for j in range(d):
                total[j] += (t1 - t0) * w[j] * (en[j] - st[j])
        if prev != 1:
            _fail(f"{item}.pieces", "the pieces do not end at t = 1")
    for j in range(d):
        if total[j] / len(paths) != values[j]:
            _fail(f"values[{j}]", f"recomputed value {total[j] / len(paths)} differs")
    return "path"


def _check_box_moments(net, cert, d, output, x, values):
    trace = _get(cert, "trace", "trace", dict)
    r = _qv(_get(trace, "radius", "trace"), "trace.radius", d)
    piece = _get(trace, "piece", "trace")
    sup = _get(piece, "support", "trace.piece")
    want = {"type": "box", "lower": [_s(a - b) for a, b in zip(x, r)], "upper": [_s(a + b) for a, b in zip(x, r)]}
    if sup != want or _get(piece, "mass", "trace.piece") != "1/1" or any(v <= 0 for v in r):
        _fail("trace.piece.support", "not the uniform probability on [x - r, x + r]")
    opt = cert.get("options", {}).get("radius")
    if opt is not None:
        ropt = [_q(opt, "options.radius")] * d if isinstance(opt, str) else _qv(opt, "options.radius", d)
        if ropt != r:
            _fail("trace.radius", "differs from options.radius")
    if cert["method"] == "smoothgrad_uniform":
        contribs = _check_density_piece(net, piece, d, output, "trace.piece", integrand="gradient")
        expect = [sum((c[j] for c in contribs), start=Fraction(0)) for j in range(d)]
    else:
        contribs = _check_density_piece(net, piece, d, output, "trace.piece", integrand="lime")
        Ef = sum((c[0] for c in contribs), start=Fraction(0))
        Ezf = [sum((c[1][j] for c in contribs), start=Fraction(0)) for j in range(d)]
        # u = z - x is uniform on [-r, r]: E[u] = 0, E[u_i u_j] = delta_ij r_i^2 / 3, so the least
        # squares slope is c_j = E[u_j f] / (r_j^2 / 3) = 3 (E[z_j f] - x_j E f) / r_j^2
        expect = [3 * (Ezf[j] - x[j] * Ef) / (r[j] * r[j]) for j in range(d)]
    for j in range(d):
        if expect[j] != values[j]:
            _fail(f"values[{j}]", f"recomputed value {expect[j]} differs")
    return "box_moments"


def _chain(net, output, factors, top=Fraction(1)):
    v = [x * top for x in net.W[-1][output]]
    for W, f in zip(reversed(net.W[:-1]), reversed(factors)):
        vf = [a * b for a, b in zip(v, f)]
        v = [sum((vf[i] * W[i][j] for i in range(len(W)) if vf[i]), start=Fraction(0)) for j in range(len(W[0]))]
    return v


def _layers(flat, sizes):
    out, s = [], 0
    for n in sizes:
        out.append(flat[s:s + n])
        s += n
    return out


def _check_propagation(net, cert, d, output, x, base, values):
    trace = _get(cert, "trace", "trace", dict)
    method = cert["method"]
    pres_x, out_x = net.forward(x)
    if method == "deeplift":
        pres_b, _ = net.forward(base)
        mults = []
        for a, b, al in zip(pres_x, pres_b, [s for layer in net.slopes for s in layer]):
            ra, rb = (a if a > 0 else al * a), (b if b > 0 else al * b)
            mults.append((ra - rb) / (a - b) if a != b else (Fraction(1) if a > 0 else al))
        factors = _layers(mults, net.hidden)
        got = [_qv(f, f"trace.factors[{i}]", n) for i, (f, n) in enumerate(zip(_get(trace, "factors", "trace"), net.hidden))]
        if got != factors:
            _fail("trace.factors", "the multipliers differ from the Rescale rule")
        chain = _chain(net, output, factors)
        expect = [chain[j] * (x[j] - base[j]) for j in range(d)]
    else:
        eps = _q(_get(trace, "epsilon", "trace"), "trace.epsilon")
        if eps < 0:
            _fail("trace.epsilon", "negative")
        opt = cert["options"].get("epsilon")
        if opt is not None and _q(opt, "options.epsilon") != eps:
            _fail("trace.epsilon", "differs from options.epsilon")

        def ratio(z, hidden, al=Fraction(0)):
            num = (z if z > 0 else al * z) if hidden else z
            den = z + eps * (1 if z >= 0 else -1)
            return Fraction(0) if den == 0 else num / den

        slopes = [s for layer in net.slopes for s in layer]
        factors = _layers([ratio(a, True, al) for a, al in zip(pres_x, slopes)], net.hidden)
        chain = _chain(net, output, factors, ratio(out_x[output], False))
        expect = [x[j] * chain[j] for j in range(d)]
    for j in range(d):
        if expect[j] != values[j]:
            _fail(f"values[{j}]", f"recomputed value {expect[j]} differs")
    return "propagation"


# ----------------------------------------------------------------------------------- entry
#: The verifier's own table of which method writes which certificate kind, and which methods need a
#: baseline: written here independently of the method registry (a test checks they agree).
CERTIFICATE_KINDS = {
    "measure": ("occlusion", "shapley", "pdp", "ice", "shapley_uniform", "fafp_local", "fafp_global", "measure"),
    "gradient": ("gradient", "gradient_x_input"),
    "path": ("ig", "expected_gradients"),
    "box_moments": ("smoothgrad_uniform", "lime_uniform"),
    "propagation": ("deeplift", "epsilon_lrp"),
}
NEEDS_BASELINE = ("occlusion", "shapley", "ig", "deeplift")


def verify_certificate(model_path, cert_path) -> str:
    """Check ``cert_path`` against ``model_path``; return a short description, raise CertificateInvalid.

    A certificate that is not well-formed (not JSON, duplicate keys, deep nesting, fields of the
    wrong type) is invalid like one whose numbers do not check: one message naming the item.
    """
    # exact rationals routinely exceed CPython's 4300-digit int <-> str default: lift it while
    # checking (lengths are checked before any number is built), and restore it afterwards
    get_limit = getattr(sys, "get_int_max_str_digits", None)
    previous = get_limit() if get_limit is not None else None
    if previous is not None:
        sys.set_int_max_str_digits(0)
    try:
        return _verify(Path(model_path), Path(cert_path))
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, ZeroDivisionError) as exc:
        # a field of an unexpected shape that no explicit check named: still one clear message
        raise CertificateInvalid(f"certificate: malformed content ({type(exc).__name__}: {str(exc)[:200]})") from None
    except RecursionError:
        raise CertificateInvalid("certificate: nested too deeply") from None
    finally:
        if previous is not None:
            sys.set_int_max_str_digits(previous)


def _verify(model_path: Path, cert_path: Path) -> str:
    try:
        text = cert_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VerifierInputError(f"certificate: cannot read {cert_path} ({exc})") from None

    def bad(why):
        _fail("certificate", why)

    cert = _strict_json(text, bad, _JSON_MAX_INT_DIGITS)
    if not model_path.is_file():
        raise VerifierInputError(f"model: file not found: {model_path}")
    if not isinstance(cert, dict) or cert.get("format") != "polyattr-certificate" or cert.get("version") != 1:
        _fail("format", "not a polyattr certificate of version 1")
    model_entry = _get(cert, "model", "model")
    if not isinstance(model_entry, dict):
        _fail("model", "expected an object")
    if "sha256" in model_entry:  # certificates of a model file also name the file
        digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
        if model_entry["sha256"] != digest:
            _fail("model.sha256", "the model file's SHA-256 differs from the certificate's")
    net = load_exact_model(model_path)
    if _get(model_entry, "canonical_sha256", "model") != canonical_sha256(net):
        _fail("model.canonical_sha256", "the model's canonical weights hash differs from the certificate's")
    d = net.d
    output = _get(cert, "output", "output")
    if not isinstance(output, int) or isinstance(output, bool) or not 0 <= output < net.n_outputs:
        _fail("output", f"expected an index in [0, {net.n_outputs})")
    dom = _get(cert, "domain", "domain")
    lo, hi = _qv(_get(dom, "lower", "domain"), "domain.lower", d), _qv(_get(dom, "upper", "domain"), "domain.upper", d)
    if any(not a < b for a, b in zip(lo, hi)):
        _fail("domain", "empty box")
    x = _qv(_get(cert, "x", "x"), "x", d)
    if any(not a <= v <= b for a, v, b in zip(lo, x, hi)):
        _fail("x", "outside the domain")
    base = cert.get("baseline")
    if base is not None:
        base = _qv(base, "baseline", d)
        if any(not a <= v <= b for a, v, b in zip(lo, base, hi)):
            _fail("baseline", "outside the domain")
    values = _qv(_get(cert, "values", "values"), "values", d)
    method, kind = _get(cert, "method", "method", str), _get(cert, "kind", "kind", str)
    if not isinstance(cert.get("options"), dict):
        _fail("options", "expected an object")
    if kind not in CERTIFICATE_KINDS or method not in CERTIFICATE_KINDS[kind]:
        _fail("kind", f"{kind!r} is not the certificate kind of method {method!r}")
    needs_base = method in NEEDS_BASELINE
    if needs_base and base is None:
        _fail("baseline", f"method {method!r} needs a baseline")
    if kind == "measure":
        return _check_measure(net, cert, d, output, x, base, lo, hi, values)
    if kind == "gradient":
        return _check_gradient(net, cert, d, output, x, values)
    if kind == "path":
        return _check_paths(net, cert, d, output, x, base, values)
    if kind == "box_moments":
        return _check_box_moments(net, cert, d, output, x, values)
    return _check_propagation(net, cert, d, output, x, base, values)


def main(argv=None) -> int:
    """``python -m polyattr.certify.verify MODEL CERT`` (also ``polyattr verify``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) != 2:
        print("usage: verify MODEL CERT", file=sys.stderr)
        return 2
    try:
        what = verify_certificate(args[0], args[1])
    except CertificateInvalid as exc:
        print(f"invalid: {exc}")
        return 1
    except VerifierInputError as exc:
        print(f"polyattr: error: {exc}", file=sys.stderr)
        return 2
    print(f"valid ({what})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
