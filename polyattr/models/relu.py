"""Dense piecewise-affine networks: the models polyattr explains.

A network maps z in R^d through hidden layers h_{l+1} = sigma_l(W_l h_l + b_l) and an affine output
layer.  Every hidden unit computes ``sigma(z) = max(z, 0) + alpha * min(z, 0)`` with its own
negative slope ``alpha``: 0 is a ReLU, ``0 < alpha != 1`` a leaky ReLU, and **1 the identity** (an
affine pass-through: skip connections and linear layers inside a network, which add no hyperplane).
Weights and slopes are float64 arrays, or object arrays of :class:`fractions.Fraction` when the
network is exact (its number field is :data:`~polyattr.numerics.RATIONAL`).

An *activation pattern* is one boolean per **cutting** unit (alpha != 1; layer by layer,
concatenated): ``True`` where the pre-activation is > 0.  Identity units are not part of patterns or
region constraints.  On the closure of the set of points with a given pattern the network is
affine, ``f(z) = W_P z + b_P``; :meth:`ReLUNetwork.local_affine_map` returns that map (and
:meth:`ReLUNetwork.local_affine_maps` / :meth:`ReLUNetwork.pattern_gradients` those of many
patterns at once) and :meth:`ReLUNetwork.pattern_constraints` the inequalities that cut out the
region.  This module is the only place that network algebra lives; the class implements
:class:`~polyattr.models.protocol.PiecewiseAffineModel`.
"""

from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction
from functools import cached_property
from typing import Sequence

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.numerics import FLOAT64, RATIONAL, UNIT_ROUNDOFF, NumberField, add_up, dot_bound, field_of, gamma, round_up


def _as_layer_array(value, name: str, field: NumberField) -> np.ndarray:
    """Validate one weight, bias or slope array and convert it to the field's numbers."""
    if np.asarray(value).dtype.kind in "cmMV":  # numpy would drop an imaginary part or read a time as a count
        raise PolyattrError(f"{name}: expected real numbers, got an array of dtype {np.asarray(value).dtype}")
    if field.exact:
        try:
            return field.array(value)
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            raise PolyattrError(f"{name}: expected finite rational numbers ({exc})") from None
    try:
        arr = np.asarray(value)
        arr = field.array(arr) if arr.dtype == object or arr.dtype.kind in "US" else np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError, ZeroDivisionError):
        raise PolyattrError(f"{name}: expected an array of numbers") from None
    if not np.all(np.isfinite(arr)):
        raise PolyattrError(f"{name}: contains NaN or infinite values; expected finite numbers")
    return arr


def _activate(pre: np.ndarray, slopes: np.ndarray, field: NumberField) -> np.ndarray:
    """sigma(pre) = pre where pre > 0, else alpha * pre (ties give 0 for every alpha)."""
    positive = np.asarray(pre > 0, dtype=bool)
    if field.exact:
        return np.where(positive, pre, pre * slopes)
    return np.where(positive, pre, pre * slopes) + 0.0  # + 0.0: no negative zeros


class ReLUNetwork:
    """A dense network with ReLU, leaky-ReLU or identity units after every layer but the last.

    Parameters
    ----------
    weights : sequence of arrays
        ``weights[i]`` has shape (out_i, in_i), as in PyTorch's ``nn.Linear``.
    biases : sequence of arrays
        ``biases[i]`` has shape (out_i,).
    negative_slopes : sequence of arrays, optional
        ``negative_slopes[i]`` (shape (out_i,), or a scalar for the whole layer) is the slope alpha of
        each unit of hidden layer i: 0 ReLU, 1 identity, anything else leaky ReLU.  Numbers,
        Fractions or "p/q" strings.  ``None``: every hidden unit is a ReLU.
    exact : bool or NumberField
        Store weights and slopes as :class:`~fractions.Fraction` (floats are converted exactly).
    """

    def __init__(self, weights: Sequence, biases: Sequence, negative_slopes: Sequence | None = None,
                 exact: bool = False):
        weights, biases = list(weights), list(biases)
        if len(weights) == 0:
            raise PolyattrError("weights: expected at least one layer, got none")
        if len(weights) != len(biases):
            raise PolyattrError(
                f"weights/biases: expected as many bias vectors as weight matrices, "
                f"got {len(weights)} weights and {len(biases)} biases"
            )
        self.field: NumberField = field_of(exact)
        Ws, bs = [], []
        for i, (W, b) in enumerate(zip(weights, biases)):
            W = _as_layer_array(W, f"W{i}", self.field)
            b = _as_layer_array(b, f"b{i}", self.field)
            if W.ndim != 2 or W.shape[0] == 0 or W.shape[1] == 0:
                raise PolyattrError(f"W{i}: expected a non-empty 2-D array (out, in), got shape {W.shape}")
            if b.ndim != 1 or b.shape[0] != W.shape[0]:
                raise PolyattrError(f"b{i}: expected shape ({W.shape[0]},) to match W{i}, got {b.shape}")
            if i > 0 and W.shape[1] != Ws[-1].shape[0]:
                raise PolyattrError(
                    f"W{i}: expected {Ws[-1].shape[0]} input columns (the outputs of layer {i - 1}), "
                    f"got shape {W.shape}"
                )
            Ws.append(W)
            bs.append(b)
        self.weights: tuple[np.ndarray, ...] = tuple(Ws)
        self.biases: tuple[np.ndarray, ...] = tuple(bs)
        self.negative_slopes: tuple[np.ndarray, ...] = self._check_slopes(negative_slopes)

    def _check_slopes(self, negative_slopes) -> tuple[np.ndarray, ...]:
        sizes = [W.shape[0] for W in self.weights[:-1]]
        if negative_slopes is None:
            return tuple(self.field.zeros(n) for n in sizes)
        if isinstance(negative_slopes, (str, bytes)) or not hasattr(negative_slopes, "__len__"):
            raise PolyattrError(
                f"negative_slopes: expected one array per hidden layer ({len(sizes)}), got {negative_slopes!r}"
            )
        slopes = list(negative_slopes)
        if len(slopes) != len(sizes):
            raise PolyattrError(
                f"negative_slopes: expected one array per hidden layer ({len(sizes)}), got {len(slopes)}"
            )
        out = []
        for i, (a, n) in enumerate(zip(slopes, sizes)):
            arr = _as_layer_array(a, f"negative_slopes[{i}]", self.field)
            if arr.ndim == 0:
                arr = np.full(n, arr[()], dtype=arr.dtype)
            if arr.shape != (n,):
                raise PolyattrError(f"negative_slopes[{i}]: expected shape ({n},) to match W{i}, got {arr.shape}")
            out.append(arr)
        return tuple(out)

    # ------------------------------------------------------------------ shape
    @property
    def exact(self) -> bool:
        return self.field.exact

    @property
    def n_inputs(self) -> int:
        return self.weights[0].shape[1]

    @property
    def n_outputs(self) -> int:
        return self.weights[-1].shape[0]

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Units per hidden layer (cutting units and identity units)."""
        return tuple(W.shape[0] for W in self.weights[:-1])

    @property
    def n_units(self) -> int:
        """Number of hidden units (cutting and identity)."""
        return sum(self.hidden_sizes)

    @cached_property
    def cut_units(self) -> np.ndarray:
        """Boolean mask over all hidden units (layer by layer): True for units that cut (alpha != 1)."""
        if not self.negative_slopes:
            return np.zeros(0, dtype=bool)
        return np.concatenate([np.asarray(a != 1, dtype=bool) for a in self.negative_slopes])

    @property
    def n_neurons(self) -> int:
        """Length of an activation pattern: the number of cutting hidden units (alpha != 1)."""
        return int(np.count_nonzero(self.cut_units))

    @property
    def pattern_sizes(self) -> tuple[int, ...]:
        """Cutting units per hidden layer."""
        return tuple(int(np.count_nonzero(a != 1)) for a in self.negative_slopes)

    @property
    def is_relu(self) -> bool:
        """True when every hidden unit is a plain ReLU (alpha = 0)."""
        return all(bool(np.all(a == 0)) for a in self.negative_slopes)

    def __repr__(self) -> str:
        sizes = [self.n_inputs, *self.hidden_sizes, self.n_outputs]
        kind = "" if self.is_relu else ", leaky/identity units"
        return f"ReLUNetwork({'-'.join(map(str, sizes))}{kind}{', exact' if self.exact else ''})"

    # ------------------------------------------------------------ conversions
    def _rebuild(self, weights, biases, negative_slopes=None, field=None) -> "ReLUNetwork":
        slopes = self.negative_slopes if negative_slopes is None else negative_slopes
        return ReLUNetwork(weights, biases, slopes, exact=self.field if field is None else field)

    @cached_property
    def _exact_form(self) -> "ReLUNetwork":
        return self._rebuild(self.weights, self.biases, field=RATIONAL)

    @cached_property
    def _float_form(self) -> "ReLUNetwork":
        return self._rebuild([W.astype(float) for W in self.weights], [b.astype(float) for b in self.biases],
                             [a.astype(float) for a in self.negative_slopes], field=FLOAT64)

    def to_exact(self) -> "ReLUNetwork":
        """The same network over the rationals (floats convert exactly); cached on the model."""
        return self if self.exact else self._exact_form

    def to_float(self) -> "ReLUNetwork":
        """The network rounded to float64 (identity when already float); cached on the model."""
        return self if not self.exact else self._float_form

    def select_output(self, output: int | None) -> "ReLUNetwork":
        """The scalar network of output ``output`` (``None`` allowed when there is one output)."""
        k = self.check_output(output)
        if self.n_outputs == 1:
            return self
        return self._rebuild([*self.weights[:-1], self.weights[-1][k : k + 1]],
                             [*self.biases[:-1], self.biases[-1][k : k + 1]])

    def check_output(self, output: int | None) -> int:
        """Validate an output index; ``None`` means 0 for a single-output network."""
        if output is None:
            if self.n_outputs != 1:
                raise PolyattrError(
                    f"output: the model has {self.n_outputs} outputs; pass output=k with 0 <= k < {self.n_outputs}"
                )
            return 0
        if isinstance(output, bool) or not isinstance(output, (int, np.integer)):
            raise PolyattrError(f"output: expected an integer index, got {output!r}")
        if not 0 <= int(output) < self.n_outputs:
            raise PolyattrError(f"output: expected 0 <= output < {self.n_outputs}, got {output}")
        return int(output)

    def compose_affine(self, embedding: np.ndarray, offset: np.ndarray) -> "ReLUNetwork":
        """The network u -> f(embedding @ u + offset): used to enumerate on slices and segments."""
        E = self.field.array(embedding)
        z0 = self.field.array(offset)
        W0 = self.weights[0] @ E
        b0 = self.weights[0] @ z0 + self.biases[0]
        return self._rebuild([W0, *self.weights[1:]], [b0, *self.biases[1:]])

    def canonical_form(self) -> dict:
        """The exact weights as a canonical JSON-ready document (reduced "p/q" strings, slopes included).

        Two models have the same canonical form iff they compute with the same rational weights,
        biases and slopes (a float model is read as the rationals its floats denote).
        """
        ex = self.to_exact()

        def enc(v):
            return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"

        layers = []
        for i, (W, b) in enumerate(zip(ex.weights, ex.biases)):
            layer = {"W": [[enc(v) for v in row] for row in W], "b": [enc(v) for v in b]}
            if i < len(ex.negative_slopes):
                layer["negative_slope"] = [enc(v) for v in ex.negative_slopes[i]]
            layers.append(layer)
        return {"format": "polyattr-canonical", "version": 1, "layers": layers}

    def canonical_hash(self) -> str:
        """SHA-256 (hex) of the canonical exact weights: names the model in certificates."""
        return self._canonical_hash

    @cached_property
    def _canonical_hash(self) -> str:
        text = json.dumps(self.canonical_form(), separators=(",", ":"), sort_keys=True)
        return hashlib.sha256(text.encode("ascii")).hexdigest()

    # -------------------------------------------------------------- evaluation
    def _check_points(self, X) -> tuple[np.ndarray, bool]:
        try:
            arr = np.asarray(X, dtype=self.field.dtype)
        except (TypeError, ValueError):
            raise PolyattrError("x: expected numbers") from None
        single = arr.ndim == 1
        arr = np.atleast_2d(arr)
        if arr.ndim != 2 or arr.shape[1] != self.n_inputs:
            raise PolyattrError(
                f"x: expected {self.n_inputs} features per point, got array of shape {np.shape(X)}"
            )
        if not self.exact and not np.all(np.isfinite(arr)):
            raise PolyattrError("x: contains NaN or infinite values")
        if self.exact:
            try:
                arr = self.field.array(arr)
            except (TypeError, ValueError, ZeroDivisionError) as exc:
                raise PolyattrError(f"x: expected finite rational numbers ({exc})") from None
        return arr, single

    def _forward(self, arr: np.ndarray):
        h, pres = arr, []
        for W, b, a in zip(self.weights[:-1], self.biases[:-1], self.negative_slopes):
            pre = h @ W.T + b
            pres.append(pre)
            h = _activate(pre, a, self.field)
        return h @ self.weights[-1].T + self.biases[-1], pres, h

    def forward(self, X) -> tuple[np.ndarray, list[np.ndarray]]:
        """Outputs (n, n_outputs) and the pre-activations of every hidden layer (a list of (n, n_l)).

        One point (shape (d,)) gives outputs (n_outputs,) and pre-activations (n_l,).
        """
        arr, single = self._check_points(X)
        out, pres, _ = self._forward(arr)
        if single:
            return out[0], [p[0] for p in pres]
        return out, pres

    def __call__(self, X, output: int | None = None):
        """Evaluate at one point (shape (d,)) or a batch (shape (n, d)).

        Returns all outputs (shape (n_outputs,) or (n, n_outputs)) when ``output`` is None and the
        network has several outputs, else the chosen scalar output.
        """
        arr, single = self._check_points(X)
        out = self._forward(arr)[0]
        if output is not None or self.n_outputs == 1:
            out = out[:, self.check_output(output) if output is not None else 0]
        return out[0] if single else out

    def _all_preactivations(self, arr: np.ndarray) -> np.ndarray:
        pres = self._forward(arr)[1]
        return np.concatenate(pres, axis=1) if pres else np.zeros((arr.shape[0], 0), dtype=arr.dtype)

    def activation_pattern(self, X) -> np.ndarray:
        """Boolean pattern(s): True where a cutting unit's pre-activation is strictly positive."""
        arr, single = self._check_points(X)
        pat = np.asarray(self._all_preactivations(arr) > 0, dtype=bool)[:, self.cut_units]
        return pat[0] if single else pat

    def hidden_preactivations(self, X) -> np.ndarray:
        """Pre-activations of the cutting units at the points X (shape (n, n_neurons))."""
        arr, single = self._check_points(X)
        out = self._all_preactivations(arr)[:, self.cut_units]
        return out[0] if single else out

    # ----------------------------------------------------------- float error analysis
    def preactivation_error_bounds(self, z) -> list[np.ndarray]:
        """Per hidden layer, a rigorous bound on |computed - exact| pre-activations at the points z.

        z is (d,) or (n, d) (float); the bounds have the shapes of the pre-activations.  See
        :meth:`evaluation_error_bound` for the analysis.
        """
        pres, _ = self._error_recurrence(np.atleast_2d(np.asarray(z, dtype=float)))
        return [p[0] for p in pres] if np.ndim(z) == 1 else pres

    def evaluation_error_bound(self, X, output: int | None = None) -> np.ndarray:
        """A rigorous bound on |fl(f(x)) - f(x)| for the float64 evaluation of the model at X.

        Computed pre-activations satisfy |fl(W h^ + b) - (W h^ + b)| <= gamma_{n+1} (|W| |h^| + |b|)
        for an n-term dot product plus a bias in any summation order (Higham, eq. 3.5), where h^ is
        the *computed* previous layer, so with e_l = |h^_l - h_l| the exact error obeys
        e_pre <= |W| e_l + gamma_{n+1} (|W| |h^_l| + |b|).  A unit with slope alpha is
        max(1, |alpha|)-Lipschitz, and fl(alpha a) adds u |alpha a| when alpha != 0, 1:
        e_{l+1} <= max(1, |alpha|) e_pre + u |alpha| |a^|.  Every term is non-negative and is
        evaluated with upward-rounding inflation (:func:`polyattr.numerics.round_up`), so the
        float value returned bounds the exact error.  Returns (n, n_outputs), or the chosen output.
        """
        _, err = self._error_recurrence(np.atleast_2d(np.asarray(X, dtype=float)))
        net = self.to_float()
        k = net.check_output(output) if (output is not None or net.n_outputs == 1) else None
        err = err[:, k] if k is not None else err
        return err

    def evaluation_error_bounds(self, X, output: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Both :meth:`preactivation_error_bounds` (per hidden layer, (n, n_l)) and
        :meth:`evaluation_error_bound` of ``output`` ((n,)) at the points X (n, d), from one pass."""
        pres, err = self._error_recurrence(np.atleast_2d(np.asarray(X, dtype=float)))
        return pres, err[:, self.to_float().check_output(output)]

    def _error_recurrence(self, X):
        net = self.to_float()
        h = X
        err = np.zeros_like(h)
        pre_bounds = []
        n_layers = len(net.weights)
        for i, (W, b) in enumerate(zip(net.weights, net.biases)):
            absW = np.abs(W)
            pre = h @ W.T + b
            g = gamma(W.shape[1] + 1)
            rounding = round_up(g * add_up(dot_bound(absW, np.abs(h)), np.abs(b)), 1)
            e_pre = add_up(dot_bound(absW, err), rounding)
            if i == n_layers - 1:
                err = e_pre
                break
            pre_bounds.append(e_pre)
            alpha = net.negative_slopes[i]
            lip = np.maximum(1.0, np.abs(alpha))
            # fl(alpha * a) rounds unless alpha is 0 or 1; both inputs are exact floats
            rounds = (alpha != 0) & (alpha != 1)
            extra = np.where(rounds, UNIT_ROUNDOFF * np.abs(alpha) * np.abs(pre), 0.0)
            err = add_up(round_up(lip * e_pre, 1), round_up(extra, 2))
            h = _activate(pre, alpha, FLOAT64)
        return pre_bounds, err

    # ----------------------------------------------------- per-pattern algebra
    def _check_patterns(self, patterns) -> np.ndarray:
        pats = np.atleast_2d(np.asarray(patterns))
        if pats.ndim != 2 or pats.shape[1] != self.n_neurons:
            raise PolyattrError(
                f"patterns: expected {self.n_neurons} booleans per pattern, got shape {np.shape(patterns)}"
            )
        return pats.astype(bool)

    def _check_pattern(self, pattern) -> np.ndarray:
        pat = np.asarray(pattern)
        if pat.shape != (self.n_neurons,):
            raise PolyattrError(f"pattern: expected {self.n_neurons} booleans, got shape {pat.shape}")
        return pat.astype(bool)

    def expand_patterns(self, patterns) -> np.ndarray:
        """Patterns over the cutting units -> (K, n_units) booleans over all units (identity units True)."""
        pats = self._check_patterns(patterns)
        full = np.ones((pats.shape[0], self.n_units), dtype=bool)
        full[:, self.cut_units] = pats
        return full

    def _unit_factors(self, patterns) -> list[np.ndarray]:
        """Per hidden layer, the (K, n_l) slope of each unit on each pattern's region: 1 or alpha."""
        full = self.expand_patterns(patterns)
        out, start = [], 0
        one = self.field.one()
        for a in self.negative_slopes:
            n = a.shape[0]
            out.append(np.where(full[:, start : start + n], one, a[None, :]))
            start += n
        return out

    def preactivation_maps(self, pattern) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per hidden layer, the affine map z -> (G z + h) of its pre-activations (all units) under ``pattern``."""
        maps, _, _ = self._propagate(self._check_pattern(pattern)[None, :])
        return [(G[0], h[0]) for G, h in maps]

    def _propagate(self, patterns: np.ndarray):
        """Forward propagation of affine maps for K patterns at once.

        Returns the per-layer pre-activation maps [(G (K, n_l, d), h (K, n_l))] and the map (G, h)
        of the last hidden layer's outputs.
        """
        K, d = patterns.shape[0], self.n_inputs
        factors = self._unit_factors(patterns)
        G = np.broadcast_to(self.field.eye(d), (K, d, d))
        h = self.field.zeros((K, d))
        maps = []
        for li, (W, b) in enumerate(zip(self.weights[:-1], self.biases[:-1])):
            if li == 0:
                G_pre = np.broadcast_to(W, (K, *W.shape))
                h_pre = np.broadcast_to(b, (K, b.shape[0]))
            else:
                G_pre = np.matmul(W, G)
                h_pre = h @ W.T + b
            maps.append((G_pre, h_pre))
            F = factors[li]
            G = G_pre * F[:, :, None]
            h = h_pre * F
        return maps, G, h

    def local_affine_maps(self, patterns, output: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The affine maps (W_P, b_P) of K patterns at once.

        Returns W of shape (K, n_outputs, d) and b of shape (K, n_outputs), or (K, d) and (K,) for
        one ``output``.
        """
        pats = self._check_patterns(patterns)
        W_last, b_last = self.weights[-1], self.biases[-1]
        if output is not None:
            k = self.check_output(output)
            W_last, b_last = W_last[k : k + 1], b_last[k : k + 1]
        if not self.hidden_sizes:
            Wp = np.broadcast_to(W_last, (pats.shape[0], *W_last.shape)).copy()
            bp = np.broadcast_to(b_last, (pats.shape[0], b_last.shape[0])).copy()
        elif self.exact:
            Wp, bp = self._integer_local_maps(pats, None if output is None else self.check_output(output))
        else:
            # chunks keep the (K, width, d) intermediate maps to about 2^22 numbers
            step = max(1, (1 << 22) // (max(self.hidden_sizes) * self.n_inputs))
            Ws, bs = [], []
            for lo in range(0, pats.shape[0], step):
                _, G, h = self._propagate(pats[lo : lo + step])
                Ws.append(np.matmul(W_last, G))
                bs.append(h @ W_last.T + b_last)
            Wp = np.concatenate(Ws) if Ws else np.zeros((0, W_last.shape[0], self.n_inputs))
            bp = np.concatenate(bs) if bs else np.zeros((0, W_last.shape[0]))
        if output is not None:
            return Wp[:, 0, :], bp[:, 0]
        return Wp, bp

    def _integer_local_maps(self, pats: np.ndarray, output: int | None):
        """Exact local maps of K patterns on the integer-scaled layers, one division at the end."""
        K, d = pats.shape[0], self.n_inputs
        full = self.expand_patterns(pats)
        slopes_int, Q = self.integer_slopes
        G, h, S, start = None, None, 1, 0
        for (Wi, bi, den), s_int in zip(self.integer_affine_layers[:-1], slopes_int):
            n = Wi.shape[0]
            if G is None:
                Gp = np.broadcast_to(Wi, (K, *Wi.shape))
                hp = np.broadcast_to(bi, (K, n))
            else:
                Gp = np.matmul(Wi, G)
                hp = h @ Wi.T + bi * S
            F = np.where(full[:, start : start + n], Q, s_int[None, :]).astype(object)
            G, h, S = Gp * F[:, :, None], hp * F, S * den * Q
            start += n
        Wi, bi, den = self.integer_affine_layers[-1]
        if output is not None:
            Wi, bi = Wi[output : output + 1], bi[output : output + 1]
        Wo = np.matmul(Wi, G)
        bo = h @ Wi.T + bi * S
        S *= den
        to_q = np.vectorize(lambda v: Fraction(int(v), S), otypes=[object])
        return to_q(Wo), to_q(bo)

    def integer_pattern_rows(self, pattern):
        """Canonical pattern and integer region rows of an exact model: (pattern, A (n, d), c (n,), scales).

        The rows are those of :meth:`pattern_constraints` (one per cutting unit) with row i equal
        to (A_i / scales_i) z <= c_i / scales_i, A and c Python integers, scales positive.  A unit
        whose pre-activation is identically 0 under the earlier layers' pattern is made inactive
        (canonical form: such a unit cannot split anything).
        """
        pat = self._check_pattern(pattern).copy()
        full = self.expand_patterns(pat[None, :])[0]
        cut = self.cut_units
        slopes_int, Q = self.integer_slopes
        G, h, S, start = None, None, 1, 0
        A_rows, c_rows, scales = [], [], []
        for (Wi, bi, den), s_int in zip(self.integer_affine_layers[:-1], slopes_int):
            n = Wi.shape[0]
            if G is None:
                Gp, hp = Wi.copy(), bi.copy()
            else:
                Gp = Wi @ G
                hp = Wi @ h + bi * S
            S = S * den
            mask = full[start : start + n].copy()
            layer_cut = cut[start : start + n]
            for o in range(n):
                if layer_cut[o] and hp[o] == 0 and not any(Gp[o]):
                    mask[o] = False
            full[start : start + n] = mask
            sign = np.where(mask, -1, 1)
            A_rows.append((Gp * sign[:, None])[layer_cut])
            c_rows.append((-hp * sign)[layer_cut])
            scales.extend([S] * int(np.count_nonzero(layer_cut)))
            F = np.where(mask, Q, s_int).astype(object)
            G, h, S = Gp * F[:, None], hp * F, S * Q
            start += n
        d = self.n_inputs
        A = np.vstack(A_rows) if A_rows else np.zeros((0, d), dtype=object)
        c = np.concatenate(c_rows) if c_rows else np.zeros(0, dtype=object)
        return full[cut], A, c, scales

    def local_affine_map(self, pattern, output: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The affine map (W_P, b_P) of the network on the region of ``pattern``.

        Returns ``W_P`` of shape (n_outputs, d) and ``b_P`` of shape (n_outputs,), or the row
        ``w_P`` (d,) and scalar ``b_P`` of one output when ``output`` is given.
        """
        pat = self._check_pattern(pattern)
        W, b = self.local_affine_maps(pat[None, :], output)
        return W[0], b[0]

    def pattern_constraints(self, pattern) -> tuple[np.ndarray, np.ndarray]:
        """Inequalities ``A z <= c`` (one per cutting unit) whose solution set is the pattern's region.

        An active unit (pre-activation a(z) = g.z + h) contributes -g.z <= h, an inactive one
        g.z <= -h.  Rows may be redundant or identically zero; the geometry layer prunes them.
        """
        pat = self._check_pattern(pattern)
        if not self.hidden_sizes:
            return self.field.zeros((0, self.n_inputs)), self.field.zeros(0)
        maps = self.preactivation_maps(pat)
        G = np.concatenate([g for g, _ in maps], axis=0)[self.cut_units]
        h = np.concatenate([hh for _, hh in maps])[self.cut_units]
        sign = np.where(pat, -1, 1)
        return G * sign[:, None], -h * sign

    def pattern_constraints_many(self, patterns) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`pattern_constraints` of K patterns at once: A (K, n_neurons, d), c (K, n_neurons)."""
        pats = self._check_patterns(patterns)
        if not self.hidden_sizes:
            return self.field.zeros((pats.shape[0], 0, self.n_inputs)), self.field.zeros((pats.shape[0], 0))
        maps, _, _ = self._propagate(pats)
        G = np.concatenate([g for g, _ in maps], axis=1)[:, self.cut_units, :]
        h = np.concatenate([hh for _, hh in maps], axis=1)[:, self.cut_units]
        sign = np.where(pats, -1, 1)
        return G * sign[:, :, None], -h * sign

    # -------------------------------------------------- gradients of many patterns
    def pattern_gradients(self, patterns, output: int | None = None) -> np.ndarray:
        """Gradients w_P of many patterns at once: (K, d) for one ``output``, (K, n_outputs, d) for None.

        A backward pass per output (exact models: on the integer-scaled weights, one division at
        the end).
        """
        pats = self._check_patterns(patterns)
        if output is None:
            return np.stack([self.pattern_gradients(pats, k) for k in range(self.n_outputs)], axis=1)
        k = self.check_output(output)
        if not self.hidden_sizes:  # an affine model: one gradient everywhere
            return np.repeat(self.weights[0][k][None, :], pats.shape[0], axis=0)
        if self.exact:
            V, den = self._backward_integer(pats, k)
            N0, D0 = self.integer_layers[0]
            G = V @ N0
            den *= D0
            return np.array([Fraction(int(v), den) for v in G.ravel()], dtype=object).reshape(G.shape)
        return self.backward_hidden(pats, k) @ self.weights[0]

    def backward_hidden(self, patterns, output: int) -> np.ndarray:
        """Per pattern, the gradient of ``output`` with respect to the first hidden layer's pre-activations."""
        pats = self._check_patterns(patterns)
        k = self.check_output(output)
        factors = self._unit_factors(pats)
        V = self.weights[-1][k][None, :] * factors[-1]
        for li in range(len(factors) - 1, 0, -1):
            V = (V @ self.weights[li]) * factors[li - 1]
        return V

    def path_average_gradient(self, patterns, weights, output: int) -> np.ndarray:
        """sum_k weights_k w_{P_k} for one output, applying the first layer once to the weighted sum."""
        pats = self._check_patterns(patterns)
        k = self.check_output(output)
        weights = np.asarray(weights, dtype=self.field.dtype)
        if not self.hidden_sizes:
            return np.sum(weights) * self.weights[0][k]
        if not self.exact:
            return (weights @ self.backward_hidden(pats, k)) @ self.weights[0]
        V, den = self._backward_integer(pats, k)
        wden = 1
        for w in weights:
            wden = math.lcm(wden, Fraction(w).denominator)
        wint = np.array([int(Fraction(w) * wden) for w in weights], dtype=object)
        N0, D0 = self.integer_layers[0]
        total = (wint @ V) @ N0
        den = den * D0 * wden
        return np.array([Fraction(int(v), den) for v in total], dtype=object)

    def _backward_integer(self, patterns: np.ndarray, k: int):
        """Exact :meth:`backward_hidden` as (integer matrix, common denominator)."""
        layers = self.integer_layers
        factors, Q = self._integer_factors(patterns)
        N_out, den = layers[-1]
        V = N_out[k][None, :] * factors[-1]
        den *= Q
        for li in range(len(factors) - 1, 0, -1):
            N, D = layers[li]
            V = (V @ N) * factors[li - 1]
            den *= D * Q
        return V, den

    def _integer_factors(self, patterns):
        """Per layer the unit factors times Q (integers), and Q: the lcm of the slopes' denominators."""
        slopes_int, Q = self.integer_slopes
        full = self.expand_patterns(patterns)
        out, start = [], 0
        for s in slopes_int:
            n = s.shape[0]
            out.append(np.where(full[:, start : start + n], Q, s[None, :]).astype(object))
            start += n
        return out, Q

    # ------------------------------------------------------------ one-sided patterns
    def one_sided_pattern(self, x, direction=None) -> tuple[np.ndarray, np.ndarray]:
        """The activation pattern at ``x``, and which cutting units are tied (pre-activation 0).

        Without ``direction`` ties are read as inactive.  With a ``direction`` v the pattern is that
        of the region entered moving from x along v (the pattern on (0, eps) of t -> x + t v): layer
        by layer, a tied unit is active iff its directional derivative along v (under the one-sided
        pattern of the layers below) is positive; a unit that stays tied along v is inactive.

        Float models count a pre-activation as tied when it is within its rigorous rounding bound
        of 0 (:meth:`preactivation_error_bounds`), so points built on a boundary are recognised.

        Returns (pattern (n_neurons,) bool, tied (n_neurons,) bool).
        """
        exact = self.exact
        h = self.field.array(x) if exact else np.asarray(x, dtype=float)
        dh = None if direction is None else (self.field.array(direction) if exact else np.asarray(direction, float))
        bounds = None if exact else self.preactivation_error_bounds(h)
        pats, ties = [], []
        for li, (W, b, a) in enumerate(zip(self.weights[:-1], self.biases[:-1], self.negative_slopes)):
            pre = W @ h + b
            if exact:
                tied = np.asarray(pre == 0, dtype=bool)
                positive = np.asarray(pre > 0, dtype=bool)
            else:
                tied = np.abs(pre) <= bounds[li]
                positive = (pre > 0) & ~tied
            active = positive.copy()
            dpre = None
            if dh is not None:
                dpre = W @ dh
                if exact:
                    dpos = np.asarray(dpre > 0, dtype=bool)
                else:
                    dscale = np.abs(W) @ np.abs(dh)
                    dpos = dpre > 4 * gamma(W.shape[1] + 1) * dscale
                active = positive | (tied & dpos)
            cut = np.asarray(a != 1, dtype=bool)
            pats.append(active[cut])
            ties.append(tied[cut])
            h = np.where(active, pre, a * pre)
            if dh is not None:
                dh = np.where(active, dpre, a * dpre)
        if not pats:
            return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
        return np.concatenate(pats), np.concatenate(ties)

    # ------------------------------------------------------------ backward chains
    def backward_chain(self, output: int, factors, top=None) -> np.ndarray:
        """v = top * w_out[output] diag(f_L) W_{L-1} ... diag(f_1) W_0 for per-layer unit factors f_l
        (all hidden units; the gradient of a pattern has f = 1 or alpha, propagation rules others)."""
        k = self.check_output(output)
        v = self.weights[-1][k]
        if top is not None:
            v = v * top
        for W, f in zip(reversed(self.weights[:-1]), reversed(list(factors))):
            v = (v * f) @ W
        return v

    def abs_backward_chain(self, output: int, abs_factors, top: float = 1.0) -> np.ndarray:
        """An upper bound (rounded upward) of |top| |w_out| diag(f_L) |W_{L-1}| ... diag(f_1) |W_0|
        for non-negative float factors."""
        k = self.check_output(output)
        net = self.to_float()
        v = round_up(np.abs(net.weights[-1][k]) * abs(float(top)), 1)
        for W, f in zip(reversed(net.weights[:-1]), reversed(list(abs_factors))):
            v = dot_bound(np.abs(W).T, round_up(v * np.asarray(f, dtype=float), 1))
        return v

    # ------------------------------------------------------ float gradient error bounds
    def output_row(self, output: int) -> np.ndarray:
        """The float64 output-layer row of ``output`` (contiguous, for kernels)."""
        return np.ascontiguousarray(self.to_float().weights[-1][self.check_output(output)], dtype=np.float64)

    def gradient_magnitude_bound(self, output: int) -> np.ndarray:
        """(|w_out| L |W_{L-1}| ... L |W_0|)_j, L = max(1, |alpha|) per unit: a rigorous bound on
        |d f / d z_j| over every pattern (shape (d,)), rounded upward."""
        k = self.check_output(output)
        cache = self._float_bound_cache
        if ("magnitude", k) not in cache:
            net = self.to_float()
            v = np.abs(net.weights[-1][k])
            for W, a in zip(reversed(net.weights[:-1]), reversed(net.negative_slopes)):
                v = dot_bound(np.abs(W).T, round_up(v * np.maximum(1.0, np.abs(a)), 1))
            cache[("magnitude", k)] = v
        return cache[("magnitude", k)]

    def unit_flip_bounds(self, output: int) -> np.ndarray:
        """Row i (all hidden units): a bound on |change of the gradient| when unit i alone switches.

        Unit i of layer l switching changes its factor by |1 - alpha_i|; with u_i the chain above it
        (|w_out| L |W_{L-1}| ... L |W_{l+1}|)_i and D_i the one below ((|W_l| L ... L |W_0|)_i), the
        change is at most |1 - alpha_i| u_i D_i (shape (n_units, d); identity rows are 0).  Several
        switches add up (triangle inequality).
        """
        k = self.check_output(output)
        cache = self._float_bound_cache
        if ("flips", k) not in cache:
            net = self.to_float()
            hidden, slopes = net.weights[:-1], net.negative_slopes
            lips = [np.maximum(1.0, np.abs(a)) for a in slopes]
            downs, D = [], None
            for li, W in enumerate(hidden):
                D = np.abs(W) if D is None else dot_bound(np.abs(W), round_up(lips[li - 1][:, None] * D, 1).T).T
                downs.append(D)
            ups, u = [None] * len(hidden), np.abs(net.weights[-1][k])
            for li in range(len(hidden) - 1, -1, -1):
                ups[li] = u
                u = dot_bound(np.abs(hidden[li]).T, round_up(u * lips[li], 1))
            rows = [round_up(np.abs(1.0 - a)[:, None] * u_l[:, None] * D_l, 2)
                    for a, u_l, D_l in zip(slopes, ups, downs)]
            cache[("flips", k)] = np.vstack(rows) if rows else np.zeros((0, self.n_inputs))
        return cache[("flips", k)]

    def gradient_rounding_bound(self, output: int) -> np.ndarray:
        """Bound on |computed - exact| of a float gradient w_P (any pattern), per feature.

        The backward pass is a chain of matrix products (n_l-term dot products) and one product
        by the unit factors per layer; by Higham's Lemma 3.3 the computed chain is within
        gamma_N (|w_out| L |W_{L-1}| ... |W_0|) of the exact one, N = sum of the inner dimensions
        plus the number of layers.  Rounded upward.
        """
        net = self.to_float()
        n_total = sum(W.shape[1] for W in net.weights) + len(net.weights)
        return round_up(gamma(n_total) * self.gradient_magnitude_bound(output), 1)

    @cached_property
    def _float_bound_cache(self) -> dict:
        return {}

    # -------------------------------------------------- derived forms (cached on the model)
    @cached_property
    def integer_layers(self) -> tuple[tuple[np.ndarray, int], ...]:
        """Exact weights as (integer matrix N, denominator D) with W = N / D, per layer.

        Backward passes then run on Python integers (no gcd per operation) and divide once.
        """
        return tuple(_integer_scaled(W) for W in self.to_exact().weights)

    @cached_property
    def integer_biases(self) -> tuple[tuple[np.ndarray, int], ...]:
        """Exact biases as (integer vector, denominator) per layer."""
        return tuple(_integer_scaled(b) for b in self.to_exact().biases)

    @cached_property
    def integer_affine_layers(self) -> tuple[tuple[np.ndarray, np.ndarray, int], ...]:
        """Exact layers as (integer W, integer b, D) with one denominator per layer: W = Wi / D, b = bi / D."""
        ex = self.to_exact()
        out = []
        for W, b in zip(ex.weights, ex.biases):
            both, D = _integer_scaled(np.concatenate([W.ravel(), b]))
            out.append((both[: W.size].reshape(W.shape), both[W.size :], D))
        return tuple(out)

    @cached_property
    def integer_slopes(self) -> tuple[tuple[np.ndarray, ...], int]:
        """The slopes as integers over one common denominator Q: (per-layer integer arrays, Q)."""
        slopes = self.to_exact().negative_slopes
        Q = 1
        for a in slopes:
            for v in a:
                Q = math.lcm(Q, v.denominator)
        return tuple(np.array([int(v * Q) for v in a], dtype=object) for a in slopes), Q

    @cached_property
    def kernel_arrays(self):
        """The hidden layers packed flat for numba kernels (one compilation serves every depth).

        Returns (W flat, W^T flat, b flat, sizes [d, n_1, ..., n_L], slopes flat, gamma_{n+1} per
        layer), all float64 except the int64 sizes.
        """
        net = self.to_float()
        hidden = [np.asarray(W, dtype=np.float64) for W in net.weights[:-1]]
        if not hidden:
            empty = np.zeros(0)
            return empty, empty, empty, np.array([net.n_inputs], dtype=np.int64), empty, empty
        Wf = np.ascontiguousarray(np.concatenate([W.ravel() for W in hidden]))
        WTf = np.ascontiguousarray(np.concatenate([W.T.ravel() for W in hidden]))
        bf = np.ascontiguousarray(np.concatenate([np.asarray(b, dtype=np.float64) for b in net.biases[:-1]]))
        sizes = np.array([net.n_inputs, *net.hidden_sizes], dtype=np.int64)
        slopes = np.ascontiguousarray(np.concatenate([np.asarray(a, dtype=np.float64) for a in net.negative_slopes]))
        gammas = np.array([gamma(W.shape[1] + 1) for W in hidden])
        return Wf, WTf, bf, sizes, slopes, gammas


def _integer_scaled(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """A rational array as (integer array N, positive denominator D) with arr = N / D."""
    D = 1
    for v in arr.ravel():
        D = math.lcm(D, v.denominator)
    N = np.array([int(v * D) for v in arr.ravel()], dtype=object).reshape(arr.shape)
    return N, D


def pattern_key(pattern: np.ndarray) -> bytes:
    """A compact hashable key for an activation pattern."""
    return np.packbits(np.asarray(pattern, dtype=bool)).tobytes()


def evaluation_error_bound(model: ReLUNetwork, X, output: int | None = None) -> np.ndarray:
    """A rigorous bound on |fl(f(x)) - f(x)|: :meth:`ReLUNetwork.evaluation_error_bound`."""
    return model.evaluation_error_bound(X, output)
