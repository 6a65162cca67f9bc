"""Dense ReLU networks: the piecewise-affine models polyattr explains.

A network maps z in R^d through hidden layers h_{l+1} = ReLU(W_l h_l + b_l) and an affine output
layer.  Weights are float64 arrays, or object arrays of :class:`fractions.Fraction` when the network
is exact; the same code serves both because numpy's ``@`` works on object arrays.

An *activation pattern* is one boolean per hidden neuron (layer by layer, concatenated): ``True``
where the pre-activation is > 0.  On the closure of the set of points with a given pattern the
network is affine, ``f(z) = W_P z + b_P``; :meth:`ReLUNetwork.local_affine_map` returns that map and
:meth:`ReLUNetwork.pattern_constraints` the inequalities that cut out the region.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.numbers import to_fraction


def _as_layer_array(value, name: str, exact: bool) -> np.ndarray:
    """Validate one weight or bias array and convert it to float64 or exact Fractions."""
    if np.asarray(value).dtype.kind in "cmMV":  # numpy would drop an imaginary part or read a time as a count
        raise PolyattrError(f"{name}: expected real numbers, got an array of dtype {np.asarray(value).dtype}")
    if exact:
        arr = np.asarray(value, dtype=object)
        try:
            out = np.vectorize(to_fraction, otypes=[object])(arr) if arr.size else arr
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            raise PolyattrError(f"{name}: expected finite rational numbers ({exc})") from None
        return out
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise PolyattrError(f"{name}: expected an array of numbers") from None
    if not np.all(np.isfinite(arr)):
        raise PolyattrError(f"{name}: contains NaN or infinite values; expected finite numbers")
    return arr


class ReLUNetwork:
    """A dense network with ReLU after every layer but the last, which is affine.

    Parameters
    ----------
    weights : sequence of arrays
        ``weights[i]`` has shape (out_i, in_i), as in PyTorch's ``nn.Linear``.
    biases : sequence of arrays
        ``biases[i]`` has shape (out_i,).
    exact : bool
        Store weights as :class:`~fractions.Fraction` (floats are converted exactly).
    """

    def __init__(self, weights: Sequence, biases: Sequence, exact: bool = False):
        weights, biases = list(weights), list(biases)
        if len(weights) == 0:
            raise PolyattrError("weights: expected at least one layer, got none")
        if len(weights) != len(biases):
            raise PolyattrError(
                f"weights/biases: expected as many bias vectors as weight matrices, "
                f"got {len(weights)} weights and {len(biases)} biases"
            )
        self.exact = bool(exact)
        Ws, bs = [], []
        for i, (W, b) in enumerate(zip(weights, biases)):
            W = _as_layer_array(W, f"W{i}", self.exact)
            b = _as_layer_array(b, f"b{i}", self.exact)
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

    # ------------------------------------------------------------------ shape
    @property
    def n_inputs(self) -> int:
        return self.weights[0].shape[1]

    @property
    def n_outputs(self) -> int:
        return self.weights[-1].shape[0]

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(W.shape[0] for W in self.weights[:-1])

    @property
    def n_neurons(self) -> int:
        """Number of hidden ReLU neurons (the length of an activation pattern)."""
        return sum(self.hidden_sizes)

    def __repr__(self) -> str:
        sizes = [self.n_inputs, *self.hidden_sizes, self.n_outputs]
        return f"ReLUNetwork({'-'.join(map(str, sizes))}{', exact' if self.exact else ''})"

    # ------------------------------------------------------------ conversions
    def to_exact(self) -> "ReLUNetwork":
        return self if self.exact else ReLUNetwork(self.weights, self.biases, exact=True)

    def to_float(self) -> "ReLUNetwork":
        if not self.exact:
            return self
        return ReLUNetwork([W.astype(float) for W in self.weights], [b.astype(float) for b in self.biases])

    def select_output(self, output: int | None) -> "ReLUNetwork":
        """The scalar network of output ``output`` (``None`` allowed when there is one output)."""
        k = self.check_output(output)
        if self.n_outputs == 1:
            return self
        return ReLUNetwork(
            [*self.weights[:-1], self.weights[-1][k : k + 1]],
            [*self.biases[:-1], self.biases[-1][k : k + 1]],
            exact=self.exact,
        )

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
        E = np.asarray(embedding, dtype=object if self.exact else float)
        z0 = np.asarray(offset, dtype=object if self.exact else float)
        W0 = self.weights[0] @ E
        b0 = self.weights[0] @ z0 + self.biases[0]
        return ReLUNetwork([W0, *self.weights[1:]], [b0, *self.biases[1:]], exact=self.exact)

    # -------------------------------------------------------------- evaluation
    def _check_points(self, X) -> tuple[np.ndarray, bool]:
        dtype = object if self.exact else np.float64
        try:
            arr = np.asarray(X, dtype=dtype)
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
            arr = np.vectorize(to_fraction, otypes=[object])(arr)
        return arr, single

    def __call__(self, X, output: int | None = None):
        """Evaluate at one point (shape (d,)) or a batch (shape (n, d)).

        Returns all outputs (shape (n_outputs,) or (n, n_outputs)) when ``output`` is None and the
        network has several outputs, else the chosen scalar output.
        """
        arr, single = self._check_points(X)
        h = arr
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            h = h @ W.T + b
            h = np.where(h > 0, h, 0 * h)
        out = h @ self.weights[-1].T + self.biases[-1]
        if output is not None or self.n_outputs == 1:
            out = out[:, self.check_output(output) if output is not None else 0]
        return out[0] if single else out

    def activation_pattern(self, X) -> np.ndarray:
        """Boolean pattern(s): True where a hidden neuron's pre-activation is strictly positive."""
        arr, single = self._check_points(X)
        h, parts = arr, []
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            pre = h @ W.T + b
            parts.append(pre > 0)
            h = np.where(pre > 0, pre, 0 * pre)
        pat = np.concatenate(parts, axis=1) if parts else np.zeros((arr.shape[0], 0), dtype=bool)
        pat = pat.astype(bool)
        return pat[0] if single else pat

    # ----------------------------------------------------- per-pattern algebra
    def _check_pattern(self, pattern) -> np.ndarray:
        pat = np.asarray(pattern)
        if pat.shape != (self.n_neurons,):
            raise PolyattrError(f"pattern: expected {self.n_neurons} booleans, got shape {pat.shape}")
        return pat.astype(bool)

    def preactivation_maps(self, pattern) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per hidden layer, the affine map z -> (G z + h) of its pre-activations under ``pattern``."""
        return self._propagate_pattern(pattern)[0]

    def _propagate_pattern(self, pattern):
        """Pre-activation maps of every hidden layer and the affine map of the last hidden layer."""
        pat = self._check_pattern(pattern)
        d = self.n_inputs
        one = Fraction(1) if self.exact else 1.0
        G = np.eye(d, dtype=object if self.exact else float) * one
        h = np.zeros(d, dtype=object if self.exact else float) * one
        maps, start = [], 0
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            G_pre, h_pre = W @ G, W @ h + b
            maps.append((G_pre, h_pre))
            mask = pat[start : start + W.shape[0]]
            start += W.shape[0]
            G = G_pre * mask[:, None]
            h = h_pre * mask
        return maps, G, h

    def local_affine_map(self, pattern, output: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The affine map (W_P, b_P) of the network on the region of ``pattern``.

        Returns ``W_P`` of shape (n_outputs, d) and ``b_P`` of shape (n_outputs,), or the row
        ``w_P`` (d,) and scalar ``b_P`` of one output when ``output`` is given.
        """
        _, G, h = self._propagate_pattern(pattern)
        W_out, b_out = self.weights[-1] @ G, self.weights[-1] @ h + self.biases[-1]
        if output is None:
            return W_out, b_out
        k = self.check_output(output)
        return W_out[k], b_out[k]

    def pattern_constraints(self, pattern) -> tuple[np.ndarray, np.ndarray]:
        """Inequalities ``A z <= c`` (one per hidden neuron) whose solution set is the pattern's region.

        An active neuron (pre-activation a(z) = g.z + h) contributes -g.z <= h, an inactive one
        g.z <= -h.  Rows may be redundant or identically zero; the geometry layer prunes them.
        """
        pat = self._check_pattern(pattern)
        maps = self.preactivation_maps(pat)
        G = np.concatenate([g for g, _ in maps], axis=0) if maps else np.zeros((0, self.n_inputs))
        h = np.concatenate([hh for _, hh in maps]) if maps else np.zeros(0)
        sign = np.where(pat, -1, 1)
        return G * sign[:, None], -h * sign

    def hidden_preactivations(self, X) -> np.ndarray:
        """Pre-activations of all hidden neurons at the points X (shape (n, n_neurons))."""
        arr, single = self._check_points(X)
        h, parts = arr, []
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            pre = h @ W.T + b
            parts.append(pre)
            h = np.where(pre > 0, pre, 0 * pre)
        out = np.concatenate(parts, axis=1) if parts else np.zeros((arr.shape[0], 0))
        return out[0] if single else out


def pattern_key(pattern: np.ndarray) -> bytes:
    """A compact hashable key for an activation pattern."""
    return np.packbits(np.asarray(pattern, dtype=bool)).tobytes()


_UNIT_ROUNDOFF = 2.0**-53


def evaluation_error_bound(model: ReLUNetwork, X, output: int | None = None) -> np.ndarray:
    """A bound on |fl(f(x)) - f(x)| for float64 evaluation of ``model`` at the points X.

    Standard forward error analysis of a dot product of n terms plus a bias,
    |fl(w.h + b) - (w.h + b)| <= gamma_{n+1} (|w|.|h| + |b|) with gamma_n = n u / (1 - n u), carried
    through the layers: e_{l+1} = |W_l| e_l + gamma (|W_l| |h_l| + |b_l|) (ReLU is 1-Lipschitz and
    exact).  The computed |h_l| stands in for the exact one; a factor 2 covers that first-order step.
    """
    net = model.to_float()
    X = np.atleast_2d(np.asarray(X, dtype=float))
    h, err = X, np.zeros_like(X)
    layers = list(zip(net.weights, net.biases))
    for i, (W, b) in enumerate(layers):
        n = W.shape[1] + 1
        gamma = n * _UNIT_ROUNDOFF / (1 - n * _UNIT_ROUNDOFF)
        absW = np.abs(W)
        pre = h @ W.T + b
        err = err @ absW.T + gamma * (np.abs(h) @ absW.T + np.abs(b))
        h = np.maximum(pre, 0.0) if i < len(layers) - 1 else pre
    err = 2.0 * err
    k = net.check_output(output) if (output is not None or net.n_outputs == 1) else None
    return err[:, k] if k is not None else err
