"""Linear pieces of a ReLU network along a segment: breakpoints, patterns and one-sided patterns.

Along the segment z(t) = start + t (end - start), t in [0, 1], every hidden pre-activation is a
continuous piecewise-affine function of t.  The walk goes layer by layer: the post-activations of
layer l are known at a sorted set of breakpoints T_l (they are affine between consecutive
breakpoints), so the pre-activations of layer l+1 at T_l are one matrix product, and they are affine
on every interval of T_l.  A neuron crosses zero inside an interval exactly when its values at the
two ends have strictly opposite signs; the crossing time is the root of that affine function.
Adding the crossing times of all neurons of the layer gives T_{l+1}.  This visits the regions the
segment crosses in order, all neurons of a layer at once, and handles the
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

Float mode runs as one numba kernel (the weights packed flat, so one compilation serves every
depth) and also returns, per neuron, the length of the set of t where its pre-activation is within
its rounding error bound of 0 (where the computed pattern may differ from the true one); gradient
methods turn it into an error bound.  Exact mode keeps the values at the breakpoints as integer
rows over one denominator per breakpoint, and exact gradients are computed on integers with one
division at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.jit import njit
from polyattr.models.protocol import PiecewiseAffineModel, require_model
from polyattr.numerics import UNIT_ROUNDOFF


@dataclass(eq=False)
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
    uncertain_by_neuron : ndarray (n_neurons,) or None
        Float mode: per neuron, the length of the set where its pre-activation is within its
        rounding error bound of 0.
    """

    model: PiecewiseAffineModel
    start: np.ndarray
    end: np.ndarray
    breakpoints: np.ndarray
    patterns: np.ndarray
    exact: bool
    uncertain_length: float = 0.0
    uncertain_by_neuron: np.ndarray | None = None

    def __len__(self) -> int:
        return self.patterns.shape[0]

    @property
    def lengths(self) -> np.ndarray:
        """t_{k+1} - t_k for every piece."""
        return self.breakpoints[1:] - self.breakpoints[:-1]

    def gradients(self, output: int | None = None) -> np.ndarray:
        """The gradient w_P of every piece: (K, d) for one ``output``, (K, n_outputs, d) for None."""
        return self.model.pattern_gradients(self.patterns, output)

    def integrated_gradient_sums(self, output: int) -> np.ndarray:
        """sum_k (t_{k+1} - t_k) w_{P_k}: the path average of the gradient (shape (d,))."""
        return self.model.path_average_gradient(self.patterns, self.lengths, output)


# --------------------------------------------------------------------------------- the walk
def segment_breakpoints(model: PiecewiseAffineModel, start, end, exact: bool = False) -> SegmentPieces:
    """Breakpoints and activation patterns of ``model`` along the segment from ``start`` to ``end``.

    Parameters
    ----------
    model : PiecewiseAffineModel
        Converted to exact weights when ``exact`` (floats convert exactly).
    start, end : array-like (d,)
        End points; they may coincide (one piece, the pattern at the point with ties inactive).
    exact : bool
        Rational arithmetic: Fraction breakpoints and exact patterns.

    Returns
    -------
    SegmentPieces
    """
    require_model(model)
    net = model.to_exact() if exact else model.to_float()
    start = _as_point(start, "start", net, exact)
    end = _as_point(end, "end", net, exact)
    if exact:
        T, pats = _walk_exact(net, start, end)
        return SegmentPieces(net, start, end, T, pats, True, 0.0)
    T, pats, uncertain, _ = _walk_float(net, start, end)
    return SegmentPieces(net, start, end, T, pats, False, min(float(np.sum(uncertain)), 1.0), uncertain[net.cut_units])


def _as_point(v, name, net, exact):
    from polyattr.geometry.domains import as_vector

    return as_vector(v, name, length=net.n_inputs, exact=exact)


def _walk_float(net: PiecewiseAffineModel, start: np.ndarray, end: np.ndarray, output: int = 0):
    """Float walk (numba kernel, on the model's packed :attr:`kernel_arrays`).

    Returns (breakpoints, patterns (cutting units), per-unit uncertain lengths (all hidden units),
    path average of the gradient of ``output``).
    """
    if not net.hidden_sizes:
        grad = np.asarray(net.weights[0][output], dtype=np.float64)
        return np.array([0.0, 1.0]), np.zeros((1, 0), dtype=bool), np.zeros(0), grad.copy()
    Wf, WTf, bf, sizes, slopes, gammas = net.kernel_arrays
    T, pats, uncertain, average = _walk_kernel(Wf, WTf, bf, sizes, slopes, start, end, gammas,
                                               net.output_row(output))
    return T, pats[:, net.cut_units], uncertain, average


@njit(cache=True)
def _layer(Wf, WTf, bf, sizes, li):
    """Views of hidden layer li: W (n_out, n_in), W^T (n_in, n_out), b (n_out,)."""
    ow, ob = 0, 0
    for m in range(li):
        ow += sizes[m] * sizes[m + 1]
        ob += sizes[m + 1]
    n_in, n_out = sizes[li], sizes[li + 1]
    W = Wf[ow:ow + n_in * n_out].reshape((n_out, n_in))
    WT = WTf[ow:ow + n_in * n_out].reshape((n_in, n_out))
    return W, WT, bf[ob:ob + n_out]


@njit(cache=True)
def _walk_kernel(Wf, WTf, bf, sizes, slopes, start, end, gammas, w_out):
    """The float walk over all hidden units; identity units (slope 1) add no breakpoint and have
    a constant True pattern column (the caller keeps the cutting units' columns)."""
    u = UNIT_ROUNDOFF
    d = start.shape[0]
    T = np.empty(2)
    T[0], T[1] = 0.0, 1.0
    H = np.empty((2, d))
    H[0], H[1] = start, end
    err = np.zeros(d)
    n_layers = sizes.shape[0] - 1
    n_total = 0
    for li in range(n_layers):
        n_total += sizes[li + 1]
    uncertain = np.zeros(n_total)
    # pre-activations of every hidden layer so far, at the current breakpoints
    P_all = np.zeros((2, n_total))
    off = 0
    for li in range(n_layers):
        W, WT, b = _layer(Wf, WTf, bf, sizes, li)
        n = W.shape[0]
        A = np.dot(H, WT)
        for k in range(A.shape[0]):
            A[k] += b
        # uniform bound on the error of the pre-activations along the segment
        hmax = np.zeros(H.shape[1])
        for k in range(H.shape[0]):
            for j in range(H.shape[1]):
                hmax[j] = max(hmax[j], abs(H[k, j]))
        e_pre = np.empty(n)
        for i in range(n):
            acc = gammas[li] * abs(b[i])
            for j in range(W.shape[1]):
                acc += abs(W[i, j]) * (err[j] + gammas[li] * hmax[j])
            e_pre[i] = acc
        # zero crossings: strictly opposite signs at the two ends of a piece
        m = T.shape[0]
        n_roots = 0
        for k in range(m - 1):
            for i in range(n):
                a0, a1 = A[k, i], A[k + 1, i]
                if slopes[off + i] != 1.0 and ((a0 > 0.0 and a1 < 0.0) or (a0 < 0.0 and a1 > 0.0)):
                    n_roots += 1
        if n_roots > 0:
            roots = np.empty(n_roots)
            r = 0
            for k in range(m - 1):
                for i in range(n):
                    a0, a1 = A[k, i], A[k + 1, i]
                    if slopes[off + i] != 1.0 and ((a0 > 0.0 and a1 < 0.0) or (a0 < 0.0 and a1 > 0.0)):
                        t = T[k] + (T[k + 1] - T[k]) * (a0 / (a0 - a1))
                        roots[r] = min(max(t, T[k]), T[k + 1])
                        r += 1
            roots.sort()
            # merge the sorted roots into T, dropping duplicates
            T_new = np.empty(m + n_roots)
            parent = np.empty(m + n_roots, dtype=np.int64)
            p, q, c, k = 0, 0, 0, 0
            while p < m or q < n_roots:
                if q >= n_roots or (p < m and T[p] <= roots[q]):
                    t = T[p]
                    p += 1
                else:
                    t = roots[q]
                    q += 1
                if c > 0 and t == T_new[c - 1]:
                    continue
                while k < m - 2 and T[k + 1] <= t:
                    k += 1
                T_new[c] = t
                parent[c] = k
                c += 1
            T_new = T_new[:c]
            A_new = np.empty((c, n))
            P_new = np.empty((c, n_total))
            for s in range(c):
                k = parent[s]
                t = T_new[s]
                if t == T[k]:
                    A_new[s] = A[k]
                    P_new[s, :off] = P_all[k, :off]
                elif t == T[k + 1]:
                    A_new[s] = A[k + 1]
                    P_new[s, :off] = P_all[k + 1, :off]
                else:
                    lam = (t - T[k]) / (T[k + 1] - T[k])
                    for i in range(n):
                        A_new[s, i] = A[k, i] + lam * (A[k + 1, i] - A[k, i])
                    for i in range(off):
                        P_new[s, i] = P_all[k, i] + lam * (P_all[k + 1, i] - P_all[k, i])
            T = T_new
            A = A_new
            P_all = P_new
        # interpolation adds a few roundings of the largest value
        m = T.shape[0]
        for i in range(n):
            amax = 0.0
            for k in range(m):
                amax = max(amax, abs(A[k, i]))
            # an interpolated value fl(A0 + fl(lam fl(A1 - A0))) with lam from three flops is within
            # 2 amax (gamma_3 + 2u) + u amax <= 12 u amax of the affine value; 16 u for the bound's own rounding
            e_pre[i] += 16.0 * u * amax
        # length of the set where some pre-activation is within its error bound of 0
        for k in range(m - 1):
            dt = T[k + 1] - T[k]
            for i in range(n):
                if slopes[off + i] == 1.0:
                    continue
                v0, v1 = abs(A[k, i]), abs(A[k + 1, i])
                lo, hi = min(v0, v1), max(v0, v1)
                e = e_pre[i]
                if hi <= e:
                    uncertain[off + i] += dt
                elif lo <= e:
                    uncertain[off + i] += dt * (e - lo) / (hi - lo)
        P_all[:, off:off + n] = A
        H = np.empty_like(A)
        for k in range(m):
            for i in range(n):
                a = A[k, i]
                H[k, i] = a if a > 0.0 else slopes[off + i] * a
        # a unit is max(1, |alpha|)-Lipschitz; alpha * a rounds once
        for i in range(n):
            al = abs(slopes[off + i])
            amax = 0.0
            for k in range(m):
                amax = max(amax, abs(A[k, i]))
            e_pre[i] = max(1.0, al) * e_pre[i] + u * al * amax
        off += n
        err = e_pre
    # the pattern of each piece: a pre-activation keeps its sign inside a piece, so the sign of
    # the sum of its end values is its sign inside (0: identically 0 there, read as inactive)
    K = T.shape[0] - 1
    pats = np.empty((K, n_total), dtype=np.bool_)
    for k in range(K):
        for i in range(n_total):
            pats[k, i] = slopes[i] == 1.0 or P_all[k, i] + P_all[k + 1, i] > 0.0
    keep = np.ones(K, dtype=np.bool_)
    n_keep = K
    for k in range(1, K):
        same = True
        for i in range(n_total):
            if pats[k, i] != pats[k - 1, i]:
                same = False
                break
        if same:
            keep[k] = False
            n_keep -= 1
    T_out = np.empty(n_keep + 1)
    P_out = np.empty((n_keep, n_total), dtype=np.bool_)
    c = 0
    for k in range(K):
        if keep[k]:
            T_out[c] = T[k]
            P_out[c] = pats[k]
            c += 1
    T_out[n_keep] = T[K]
    lengths = np.empty(n_keep)
    for k in range(n_keep):
        lengths[k] = T_out[k + 1] - T_out[k]
    average = _path_average_kernel(Wf, WTf, bf, sizes, slopes, w_out, P_out, lengths)
    return T_out, P_out, uncertain, average


@njit(cache=True)
def _ig_kernel(Wf, WTf, bf, sizes, slopes, start, end, gammas, w_out, flips, grad_bound, gamma_grad):
    """Integrated Gradients along the segment with its float error bound (see gradient_methods).

    Returns (breakpoints, patterns, per-neuron uncertain lengths, values, bound, inputs finite).
    """
    d = start.shape[0]
    finite = True
    for j in range(d):
        if not (np.isfinite(start[j]) and np.isfinite(end[j])):
            finite = False
    if not finite:
        return np.zeros(2), np.zeros((1, 0), dtype=np.bool_), np.zeros(0), np.zeros(d), 0.0, False
    T, P, uncertain, average = _walk_kernel(Wf, WTf, bf, sizes, slopes, start, end, gammas, w_out)
    K = P.shape[0]
    n = K + 2
    u = UNIT_ROUNDOFF
    gamma_sum = n * u / (1.0 - n * u) * (1.0 + 4.0 * u)  # rounded up (n u exact)
    g = (gamma_grad + gamma_sum + gamma_grad * gamma_sum) * (1.0 + 4.0 * u)
    values = np.empty(d)
    bound = 0.0
    for j in range(d):
        delta = end[j] - start[j]
        values[j] = delta * average[j] + 0.0  # no negative zeros
        jump = 0.0
        for i in range(uncertain.shape[0]):
            jump += uncertain[i] * flips[i, j]
        # the bound's own arithmetic: a handful of roundings of non-negative terms, inflated
        b = (abs(delta) * (1.0 + u) * (jump * (1.0 + (uncertain.shape[0] + 1) * 2.0 * u) + g * grad_bound[j])
             + u * abs(values[j])) * (1.0 + 8.0 * u)
        bound = max(bound, b)
    return T, P, uncertain, values, bound, True


@njit(cache=True)
def _path_average_kernel(Wf, WTf, bf, sizes, slopes, w_out, pats, weights):
    """sum_k weights_k w_{P_k} (one output row ``w_out``): a batched backward pass, W_0 applied once.

    ``pats`` covers all hidden units; an inactive unit multiplies by its slope."""
    K = pats.shape[0]
    n_layers = sizes.shape[0] - 1
    off = 0
    for li in range(n_layers):
        off += sizes[li + 1]
    nL = sizes[n_layers]
    off -= nL
    V = np.empty((K, nL))
    for k in range(K):
        for i in range(nL):
            V[k, i] = w_out[i] if pats[k, off + i] else slopes[off + i] * w_out[i]
    for li in range(n_layers - 1, 0, -1):
        W, _, _ = _layer(Wf, WTf, bf, sizes, li)
        V = np.dot(V, W)
        n = sizes[li]
        off -= n
        for k in range(K):
            for i in range(n):
                if not pats[k, off + i]:
                    V[k, i] *= slopes[off + i]
    acc = np.dot(weights, V)
    W0, _, _ = _layer(Wf, WTf, bf, sizes, 0)
    return np.dot(acc, W0)


def _walk_exact(net: PiecewiseAffineModel, start: np.ndarray, end: np.ndarray):
    """The walk in exact arithmetic, on integers.

    Values at the breakpoints are kept as integer rows over one positive denominator per row
    (exact Fractions without a gcd per operation); the breakpoints themselves are Fractions.  The
    model's integer-scaled form supplies the weights (W = N / D), biases and slopes (alpha = S / Q).
    """
    T = [Fraction(0), Fraction(1)]
    H, H_den = _integer_rows([start, end])
    layer_values = []
    layers = net.integer_layers
    biases = net.integer_biases
    slopes, Q = net.integer_slopes
    cut_layers = [np.asarray(s != Q, dtype=bool) for s in slopes]  # alpha != 1
    for (N, D), (B, Db), S, cuts in zip(layers[:-1], biases[:-1], slopes, cut_layers):
        # A_k = H_k / h_k N^T / D + B / Db  =  (H_k N^T Db + h_k D B) / (h_k D Db)
        A = (H @ N.T) * Db + (H_den * D)[:, None] * B[None, :]
        A_den = H_den * (D * Db)
        A, A_den = _reduce_rows(A, A_den)
        pos, neg = A > 0, A < 0
        cross = ((pos[:-1] & neg[1:]) | (neg[:-1] & pos[1:])) & cuts[None, :]
        roots = set()
        for k, i in zip(*np.nonzero(cross)):
            a0, a1 = int(A[k, i]) * int(A_den[k + 1]), int(A[k + 1, i]) * int(A_den[k])
            roots.add(T[k] + (T[k + 1] - T[k]) * Fraction(a0, a0 - a1))
        if roots:
            T_new = sorted(set(T) | roots)
            A, A_den = _interp_integer(T, A, A_den, T_new)
            T = T_new
        layer_values.append((list(T), A, A_den, cuts))
        # sigma(a) = a (a > 0) or alpha a: over the denominator Q, Q a or S a
        H = np.where(np.asarray(A > 0, dtype=bool), A * Q, A * S[None, :])
        H_den = A_den * Q
    T_arr = np.array(T, dtype=object)
    parts = []
    for T_l, A_l, d_l, cuts in layer_values:
        if T_l != T:
            A_l, d_l = _interp_integer(T_l, A_l, d_l, T)
        # sign inside piece k = sign of A_k / d_k + A_{k+1} / d_{k+1}
        s = A_l[:-1] * d_l[1:, None] + A_l[1:] * d_l[:-1, None]
        parts.append(np.asarray(s > 0, dtype=bool)[:, cuts])
    pats = np.concatenate(parts, axis=1) if parts else np.zeros((len(T) - 1, 0), dtype=bool)
    return _merge_equal_pieces(T_arr, pats)


def _integer_rows(points):
    """Rational vectors as (integer matrix, per-row positive denominators)."""
    rows, dens = [], []
    for p in points:
        fr = [Fraction(v) for v in p]
        den = 1
        for v in fr:
            den = math.lcm(den, v.denominator)
        rows.append([v.numerator * (den // v.denominator) for v in fr])
        dens.append(den)
    return np.array(rows, dtype=object).reshape(len(rows), -1), np.array(dens, dtype=object)


def _reduce_rows(A, dens):
    """Divide every row and its denominator by their gcd (keeps the integers small)."""
    A = A.copy()
    dens = dens.copy()
    for k in range(A.shape[0]):
        g = math.gcd(*(int(v) for v in A[k]), int(dens[k]))
        if g > 1:
            A[k] = [int(v) // g for v in A[k]]
            dens[k] = int(dens[k]) // g
    return A, dens


def _interp_integer(T_old, A, dens, T_new):
    """Integer-row values at T_new of the piecewise-linear (knots T_old) rows A / dens."""
    out = np.empty((len(T_new), A.shape[1]), dtype=object)
    out_den = np.empty(len(T_new), dtype=object)
    k = 0
    for i, t in enumerate(T_new):
        while k < len(T_old) - 2 and T_old[k + 1] <= t:
            k += 1
        if t == T_old[k]:
            out[i], out_den[i] = A[k], dens[k]
        elif t == T_old[k + 1]:
            out[i], out_den[i] = A[k + 1], dens[k + 1]
        else:
            lam = (t - T_old[k]) / (T_old[k + 1] - T_old[k])
            p, q = lam.numerator, lam.denominator
            d0, d1 = int(dens[k]), int(dens[k + 1])
            out[i] = A[k] * ((q - p) * d1) + A[k + 1] * (p * d0)
            out_den[i] = q * d0 * d1
    return _reduce_rows(out, out_den)


def _merge_equal_pieces(T, pats):
    if len(pats) <= 1:
        return T, pats
    change = np.any(pats[1:] != pats[:-1], axis=1)
    keep_knots = np.concatenate([[True], change, [True]])
    keep_pieces = np.concatenate([[True], change])
    return T[keep_knots], pats[keep_pieces]


# --------------------------------------------------------------------- gradients of patterns
def pattern_gradients(model: PiecewiseAffineModel, patterns, output: int | None = None) -> np.ndarray:
    """Gradients w_P of many patterns at once: :meth:`PiecewiseAffineModel.pattern_gradients`."""
    return require_model(model).pattern_gradients(patterns, output)


def path_average_gradient(model: PiecewiseAffineModel, patterns, weights, output: int) -> np.ndarray:
    """sum_k weights_k w_{P_k} for one output: :meth:`PiecewiseAffineModel.path_average_gradient`."""
    return require_model(model).path_average_gradient(patterns, weights, output)


# ------------------------------------------------------------------- one-sided patterns at a point
def point_pattern(model: PiecewiseAffineModel, x, direction=None, exact: bool = False):
    """The activation pattern at ``x`` and which cutting units are tied: see
    :meth:`PiecewiseAffineModel.one_sided_pattern` (computed on the exact or float form)."""
    net = model.to_exact() if exact else model.to_float()
    return net.one_sided_pattern(x, direction)


def integrated_gradients_walk(net: PiecewiseAffineModel, start: np.ndarray, end: np.ndarray, output: int):
    """Float Integrated Gradients of ``output`` from ``start`` to ``end`` in one kernel call.

    Returns (breakpoints, patterns, per-cutting-unit uncertain lengths, values (d,), error bound,
    inputs finite).  The bound per feature is
    |end_j - start_j| (sum_i L_i J_ij + gamma' G_j) + u |IG_j| with L_i the length where unit i is
    within its rounding bound of 0, J the model's :meth:`unit_flip_bounds`, G its
    :meth:`gradient_magnitude_bound` and gamma' = gamma_grad + gamma_{K+2} + their product.
    """
    Wf, WTf, bf, sizes, slopes, gammas = net.kernel_arrays
    T, P, uncertain, values, bound, finite = _ig_kernel(
        Wf, WTf, bf, sizes, slopes, start, end, gammas, net.output_row(output), net.unit_flip_bounds(output),
        net.gradient_magnitude_bound(output), _gradient_gamma(net))
    if finite:
        bound = float(np.nextafter(bound, np.inf))
        P = P[:, net.cut_units]
        uncertain = uncertain[net.cut_units]
    return T, P, uncertain, values, bound, finite


def _gradient_gamma(net: PiecewiseAffineModel) -> float:
    from polyattr.numerics import gamma

    return gamma(sum(W.shape[1] for W in net.weights) + len(net.weights))
