"""Linear pieces of a ReLU network along a segment: breakpoints, patterns and one-sided patterns.

Along the segment z(t) = start + t (end - start), t in [0, 1], every hidden pre-activation is a
continuous piecewise-affine function of t.  The walk goes layer by layer: the post-activations of
layer l are known at a sorted set of breakpoints T_l (they are affine between consecutive
breakpoints), so the pre-activations of layer l+1 at T_l are one matrix product, and they are affine
on every interval of T_l.  A neuron crosses zero inside an interval exactly when its values at the
two ends have strictly opposite signs; the crossing time is the root of that affine function.
Adding the crossing times of all neurons of the layer gives T_{l+1}.  This visits the regions the
segment crosses in order, all neurons of a layer at once (vectorised numpy), and handles the
degenerate cases by construction:

* several neurons crossing at the same t give one breakpoint (duplicates are merged);
* a neuron that touches zero without crossing (a value exactly 0 at a breakpoint, the same sign on
  both sides) adds no breakpoint and keeps its state on both sides;
* a neuron whose pre-activation is identically 0 on a piece (possible in deeper layers, e.g. when
  everything feeding it is inactive) is read as inactive, like a tie at a point (the convention of
  :meth:`ReLUNetwork.activation_pattern` and of autograd's relu'(0) = 0);
* the pattern on a piece (t_k, t_{k+1}) is read from the open piece, i.e. "just past" t_k: a
  neuron is active iff its value is positive inside the piece (equivalently, the sum of its values
  at the two ends is positive, since it does not change sign inside).

Pieces whose patterns coincide are merged, so the returned breakpoints are the points where the
activation pattern changes.  With ``exact=True`` (an exact model and Fraction end points) every
breakpoint is a :class:`~fractions.Fraction`.

Float mode also returns a measure of the set of t where some pre-activation is within its rounding
error bound of 0 (where the computed pattern may differ from the true one); gradient methods turn it
into an error bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.models.relu import ReLUNetwork

_U = 2.0**-53


def _gamma(n: int) -> float:
    return n * _U / (1 - n * _U)


@dataclass(frozen=True, eq=False)
class SegmentPieces:
    """The linear pieces of a network along a segment.

    Attributes
    ----------
    breakpoints : ndarray (K+1,)
        0 = t_0 < t_1 < ... < t_K = 1 (floats, or Fractions when ``exact``).
    patterns : ndarray (K, n_neurons) bool
        The activation pattern on each open piece (t_k, t_{k+1}).
    exact : bool
    uncertain_length : float
        Float mode: an upper bound on the total length (in t) of the set where some pre-activation
        is within its rounding error bound of 0, i.e. where the float pattern may be wrong; 0 when
        exact.
    """

    model: ReLUNetwork
    start: np.ndarray
    end: np.ndarray
    breakpoints: np.ndarray
    patterns: np.ndarray
    exact: bool
    uncertain_length: float = 0.0

    def __len__(self) -> int:
        return self.patterns.shape[0]

    @property
    def lengths(self) -> np.ndarray:
        """t_{k+1} - t_k for every piece."""
        return self.breakpoints[1:] - self.breakpoints[:-1]

    def gradients(self, output: int | None = None) -> np.ndarray:
        """The gradient w_P of every piece: (K, d) for one ``output``, (K, n_outputs, d) for None."""
        return pattern_gradients(self.model, self.patterns, output)

    def integrated_gradient_sums(self, output: int) -> np.ndarray:
        """sum_k (t_{k+1} - t_k) w_{P_k}: the path average of the gradient (shape (d,))."""
        return path_average_gradient(self.model, self.patterns, self.lengths, output)


# --------------------------------------------------------------------------------- the walk
def segment_breakpoints(model: ReLUNetwork, start, end, exact: bool = False) -> SegmentPieces:
    """Breakpoints and activation patterns of ``model`` along the segment from ``start`` to ``end``.

    Parameters
    ----------
    model : ReLUNetwork
        Converted to exact weights when ``exact`` (floats convert exactly).
    start, end : array-like (d,)
        End points; they may coincide (one piece, the pattern at the point with ties inactive).
    exact : bool
        Rational arithmetic: Fraction breakpoints and exact patterns.

    Returns
    -------
    SegmentPieces
    """
    if not isinstance(model, ReLUNetwork):
        raise PolyattrError(f"model: expected a ReLUNetwork, got {type(model).__name__}")
    net = model.to_exact() if exact else model.to_float()
    start = _as_point(start, "start", net, exact)
    end = _as_point(end, "end", net, exact)
    if exact:
        T, pats = _walk_exact(net, start, end)
        return SegmentPieces(net, start, end, T, pats, True, 0.0)
    T, pats, uncertain = _walk_float(net, start, end)
    return SegmentPieces(net, start, end, T, pats, False, uncertain)


def _as_point(v, name, net, exact):
    from polyattr.geometry.domains import as_vector

    return as_vector(v, name, length=net.n_inputs, exact=exact)


def _walk_float(net: ReLUNetwork, start: np.ndarray, end: np.ndarray):
    """Float walk; returns (breakpoints, patterns, uncertain length)."""
    T = np.array([0.0, 1.0])
    H = np.vstack([start, end])  # layer input at the breakpoints
    # uniform bound on |computed - true| of the layer input along the segment
    err = np.zeros(net.n_inputs)
    layer_values = []  # per hidden layer: (T_l, pre-activations at T_l)
    uncertain = 0.0
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        A = H @ W.T + b
        absW = np.abs(W)
        hmax = np.max(np.abs(H), axis=0)
        e_pre = err @ absW.T + _gamma(W.shape[1] + 1) * (hmax @ absW.T + np.abs(b))
        v0, v1 = A[:-1], A[1:]
        cross = ((v0 > 0) & (v1 < 0)) | ((v0 < 0) & (v1 > 0))
        if np.any(cross):
            ki, ni = np.nonzero(cross)
            a0, a1 = v0[ki, ni], v1[ki, ni]
            t0, t1 = T[ki], T[ki + 1]
            roots = np.clip(t0 + (t1 - t0) * (a0 / (a0 - a1)), t0, t1)
            T_new = np.unique(np.concatenate([T, roots]))
            A = _interp_float(T, A, T_new)
            T = T_new
        # interpolation adds a few roundings of the largest value
        amax = np.max(np.abs(A), axis=0)
        e_pre = e_pre + 4 * _U * amax
        uncertain += _uncertain_length(T, A, e_pre)
        layer_values.append((T, A))
        H = np.maximum(A, 0.0)
        err = e_pre
    pats = _patterns_on_pieces(layer_values, T, exact=False)
    T, pats = _merge_equal_pieces(T, pats)
    return T, pats, min(float(uncertain), 1.0)


def _interp_float(T_old, V_old, T_new):
    """Values at T_new of the piecewise-linear (knots T_old) columns of V_old."""
    k = np.clip(np.searchsorted(T_old, T_new, side="right") - 1, 0, len(T_old) - 2)
    t0, t1 = T_old[k], T_old[k + 1]
    lam = (T_new - t0) / (t1 - t0)
    out = V_old[k] + lam[:, None] * (V_old[k + 1] - V_old[k])
    # knots keep their values bit for bit (the end points are the model's own evaluations)
    same = T_new == t0
    if np.any(same):
        out[same] = V_old[k[same]]
    last = T_new == T_old[-1]
    if np.any(last):
        out[last] = V_old[-1]
    return out


def _uncertain_length(T, A, e):
    """Total length of {t : |a_n(t)| <= e_n} over neurons n, for a piecewise-linear a on knots T.

    On each piece a_n does not change sign, so |a_n| is affine there and the set is an interval.
    """
    lo = np.minimum(np.abs(A[:-1]), np.abs(A[1:]))
    hi = np.maximum(np.abs(A[:-1]), np.abs(A[1:]))
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(hi <= e, 1.0, np.where(lo > e, 0.0, (e - lo) / np.where(hi > lo, hi - lo, 1.0)))
    return float(np.sum(np.clip(frac, 0.0, 1.0) * (T[1:] - T[:-1])[:, None]))


def _walk_exact(net: ReLUNetwork, start: np.ndarray, end: np.ndarray):
    zero = Fraction(0)
    T = [Fraction(0), Fraction(1)]
    H = np.vstack([start, end]).astype(object)
    layer_values = []
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        A = H @ W.T + b
        roots = set()
        for k in range(len(T) - 1):
            for n in range(A.shape[1]):
                a0, a1 = A[k, n], A[k + 1, n]
                if (a0 > 0 and a1 < 0) or (a0 < 0 and a1 > 0):
                    roots.add(T[k] + (T[k + 1] - T[k]) * a0 / (a0 - a1))
        if roots:
            T_new = sorted(set(T) | roots)
            A = _interp_exact(T, A, T_new)
            T = T_new
        layer_values.append((np.array(T, dtype=object), A))
        H = np.where(A > 0, A, zero)
    T = np.array(T, dtype=object)
    pats = _patterns_on_pieces(layer_values, T, exact=True)
    return _merge_equal_pieces(T, pats)


def _interp_exact(T_old, V_old, T_new):
    out = np.empty((len(T_new), V_old.shape[1]), dtype=object)
    k = 0
    for i, t in enumerate(T_new):
        while k < len(T_old) - 2 and T_old[k + 1] <= t:
            k += 1
        if t == T_old[k]:
            out[i] = V_old[k]
        elif t == T_old[k + 1]:
            out[i] = V_old[k + 1]
        else:
            lam = (t - T_old[k]) / (T_old[k + 1] - T_old[k])
            out[i] = V_old[k] + lam * (V_old[k + 1] - V_old[k])
    return out


def _patterns_on_pieces(layer_values, T, exact: bool) -> np.ndarray:
    """The pattern on each open piece of the final knots T: active iff positive inside the piece."""
    parts = []
    for T_l, A_l in layer_values:
        if len(T_l) != len(T) or (not exact and not np.array_equal(T_l, T)) or (exact and list(T_l) != list(T)):
            A_l = _interp_exact(list(T_l), A_l, list(T)) if exact else _interp_float(T_l, A_l, T)
        s = A_l[:-1] + A_l[1:]
        parts.append(np.asarray(s > 0, dtype=bool))
    if not parts:
        return np.zeros((len(T) - 1, 0), dtype=bool)
    return np.concatenate(parts, axis=1)


def _merge_equal_pieces(T, pats):
    if len(pats) <= 1:
        return T, pats
    change = np.any(pats[1:] != pats[:-1], axis=1)
    keep_knots = np.concatenate([[True], change, [True]])
    keep_pieces = np.concatenate([[True], change])
    return T[keep_knots], pats[keep_pieces]


# --------------------------------------------------------------------- gradients of patterns
def pattern_gradients(model: ReLUNetwork, patterns, output: int | None = None) -> np.ndarray:
    """Gradients w_P of many patterns at once (a vectorised :meth:`ReLUNetwork.local_affine_map`).

    Returns (K, d) for one ``output`` or (K, n_outputs, d) when ``output`` is None.
    """
    patterns = np.atleast_2d(np.asarray(patterns, dtype=bool))
    if patterns.shape[1] != model.n_neurons:
        raise PolyattrError(f"patterns: expected {model.n_neurons} booleans per pattern, got shape {patterns.shape}")
    if output is None:
        outs = range(model.n_outputs)
        return np.stack([pattern_gradients(model, patterns, k) for k in outs], axis=1)
    k = model.check_output(output)
    if not model.hidden_sizes:  # an affine model: one gradient everywhere
        return np.repeat(model.weights[0][k][None, :], patterns.shape[0], axis=0)
    return _backward_hidden(model, patterns, k) @ model.weights[0]


def _backward_hidden(model: ReLUNetwork, patterns: np.ndarray, k: int) -> np.ndarray:
    """Per pattern, the gradient of output k with respect to the first hidden layer's pre-activations."""
    zero = Fraction(0) if model.exact else 0.0
    masks = _split_masks(model, patterns)
    V = np.repeat(model.weights[-1][k][None, :], patterns.shape[0], axis=0)
    V = np.where(masks[-1], V, zero)
    for li in range(len(masks) - 1, 0, -1):
        V = np.where(masks[li - 1], V @ model.weights[li], zero)
    return V


def path_average_gradient(model: ReLUNetwork, patterns, weights, output: int) -> np.ndarray:
    """sum_k weights_k w_{P_k} for one output, without forming every gradient when d is small.

    The last product with W_0 is linear, so it is applied once to the weighted sum.
    """
    patterns = np.atleast_2d(np.asarray(patterns, dtype=bool))
    k = model.check_output(output)
    weights = np.asarray(weights, dtype=object if model.exact else float)
    if not model.hidden_sizes:
        return np.sum(weights) * model.weights[0][k]
    return (weights @ _backward_hidden(model, patterns, k)) @ model.weights[0]


def _split_masks(model: ReLUNetwork, patterns: np.ndarray) -> list[np.ndarray]:
    masks, start = [], 0
    for n in model.hidden_sizes:
        masks.append(patterns[:, start : start + n])
        start += n
    return masks


# ------------------------------------------------------------------- one-sided patterns at a point
def forward_error_bounds(model: ReLUNetwork, z) -> list[np.ndarray]:
    """Per hidden layer, a bound on |computed - true| pre-activations of a float evaluation at z.

    Forward error analysis of dot products (gamma_{n+1} (|W| |h| + |b|)) carried through the layers
    (ReLU is 1-Lipschitz); the computed |h| stands in for the exact one, and a factor 2 covers that
    first-order step.
    """
    net = model.to_float()
    h = np.asarray(z, dtype=float)
    err = np.zeros_like(h)
    out = []
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        absW = np.abs(W)
        pre = W @ h + b
        err = absW @ err + _gamma(W.shape[1] + 1) * (absW @ np.abs(h) + np.abs(b))
        out.append(2.0 * err)
        h = np.maximum(pre, 0.0)
    return out


def point_pattern(model: ReLUNetwork, x, direction=None, exact: bool = False):
    """The activation pattern at ``x``, and which neurons are tied (pre-activation 0).

    Without ``direction`` ties are read as inactive.  With a ``direction`` v the pattern is that of
    the region entered moving from x along v (the pattern on (0, eps) of t -> x + t v): layer by
    layer, a tied neuron is active iff its directional derivative along v (under the one-sided
    pattern of the layers below) is positive; a neuron that stays tied along v is inactive.

    In float mode a pre-activation counts as tied when it is within its rounding error bound of 0
    (:func:`forward_error_bounds`), so that points built on a boundary are recognised as such.

    Returns
    -------
    pattern : ndarray (n_neurons,) bool
    tied : ndarray (n_neurons,) bool
    """
    net = model.to_exact() if exact else model.to_float()
    zero = Fraction(0) if exact else 0.0
    h = np.asarray(x, dtype=object if exact else float)
    dh = None if direction is None else np.asarray(direction, dtype=object if exact else float)
    bounds = None if exact else forward_error_bounds(net, h)
    pats, ties = [], []
    for li, (W, b) in enumerate(zip(net.weights[:-1], net.biases[:-1])):
        pre = W @ h + b
        if exact:
            tied = np.array([v == 0 for v in pre], dtype=bool)
            positive = np.array([v > 0 for v in pre], dtype=bool)
        else:
            tied = np.abs(pre) <= bounds[li]
            positive = (pre > 0) & ~tied
        active = positive.copy()
        dpre = None
        if dh is not None:
            dpre = W @ dh
            if exact:
                dpos = np.array([v > 0 for v in dpre], dtype=bool)
            else:
                dscale = np.abs(W) @ np.abs(dh)
                dpos = dpre > 4 * _gamma(W.shape[1] + 1) * dscale
            active = positive | (tied & dpos)
        pats.append(active)
        ties.append(tied)
        h = np.where(active, pre, zero)
        if dh is not None:
            dh = np.where(active, dpre, zero)
    if not pats:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    return np.concatenate(pats), np.concatenate(ties)
