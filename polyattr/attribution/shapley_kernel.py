"""Baseline Shapley from the 2^d hybrid points: one batched forward pass and vectorised weights.

phi_j = sum_{S not containing j} w_|S| (v(S + j) - v(S)),  w_s = s! (d - s - 1)! / d!.

With the set function v stored on bitmasks (index m has bit i set iff i is in S), the pairs
(S, S + j) are the two halves of ``v.reshape(-1, 2, 2^j)``, so each phi_j is one vectorised
weighted sum over 2^(d-1) differences: O(d 2^d) numpy work instead of a Python loop.

Exact mode runs on integers: the hybrid points are brought to one denominator, every layer is an
integer matrix product on the numerators (int64 when a float bound on the magnitudes shows no
overflow, Python integers otherwise), and the weights are the integers s! (d - s - 1)! with d! and
the values' denominator divided out once at the end.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError

#: refuse (with an estimate) when the hybrid points and their layer activations would need more memory
MEMORY_BUDGET_BYTES = 4 * 2**30
#: float work rate assumed by the estimate (multiply-adds per second, one core, measured ~1e9 on this
#: class of machine for the batched forward pass; the estimate is an order of magnitude, not a promise)
_RATE = 5e8
_INT64_SAFE = 2.0**62


def subset_masks(d: int) -> np.ndarray:
    """Boolean masks of all 2^d subsets; row m has bit i set iff i is in subset m."""
    m = np.arange(2**d, dtype=np.int64)[:, None]
    return ((m >> np.arange(d)[None, :]) & 1).astype(bool)


def popcounts(d: int) -> np.ndarray:
    m = np.arange(2**d, dtype=np.int64)
    out = np.zeros(2**d, dtype=np.int64)
    for i in range(d):
        out += (m >> i) & 1
    return out


def cost_estimate(d: int, widths) -> tuple[float, float]:
    """(bytes, seconds) to evaluate the 2^d hybrid points through layers of the given widths."""
    n = 2.0**d
    widest = max([d, *widths])
    memory = n * (d + 3 * widest) * 8.0
    flops = n * sum(a * b for a, b in zip([d, *widths[:-1]], widths))
    return memory, flops / _RATE + n * d * 2e-8


#: refuse (with the estimate) when the hybrid points of all inputs would take longer than this
TIME_BUDGET_SECONDS = 600.0


def check_budget(d: int, widths, points: int = 1) -> None:
    """Raise, with the estimate, when the 2^d hybrid points would not fit the memory budget or
    ``points`` inputs would take longer than :data:`TIME_BUDGET_SECONDS` (run for hours otherwise)."""
    memory, seconds = cost_estimate(d, widths)
    if memory > MEMORY_BUDGET_BYTES:
        raise PolyattrError(
            f"x: exact baseline Shapley evaluates 2^{d} = {2**d:,} hybrid points per input; that needs about "
            f"{memory / 2**30:.1f} GiB of memory (budget {MEMORY_BUDGET_BYTES / 2**30:.0f} GiB) and about "
            f"{seconds * points:.3g} s for {points} input(s); use fewer features (group them) or a sampled "
            f"estimate (polyattr.attribution.approximate)")
    if seconds * points > TIME_BUDGET_SECONDS:
        raise PolyattrError(
            f"x: exact baseline Shapley evaluates 2^{d} = {2**d:,} hybrid points per input; for {points} input(s) "
            f"that is an estimated {seconds * points:.3g} s (budget {TIME_BUDGET_SECONDS:.0f} s); use fewer "
            f"features (group them), fewer inputs per call, or a sampled estimate (polyattr.attribution.approximate)")


def shapley_weights_float(d: int) -> np.ndarray:
    return np.array([math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) for s in range(d)])


def shapley_from_values_float(values: np.ndarray, d: int) -> np.ndarray:
    """phi (d,) from the set function on bitmasks (2^d,) in float64."""
    v = np.asarray(values, dtype=float)
    w = shapley_weights_float(d)[np.minimum(popcounts(d), d - 1)]
    phi = np.empty(d)
    for j in range(d):
        half = 2**j
        vv = v.reshape(-1, 2, half)
        phi[j] = float(np.sum(w.reshape(-1, 2, half)[:, 0, :] * (vv[:, 1, :] - vv[:, 0, :])))
    return phi


def shapley_from_integer_values(numerators: np.ndarray, denominator: int, d: int) -> list[Fraction]:
    """Exact phi from integer numerators (2^d,) of the set function over one common denominator.

    For each j and size s the differences are summed on integers (int64 when safe), then weighted
    by s! (d - s - 1)! as Python integers; one division by d! * denominator per feature.
    """
    num = np.asarray(numerators)
    sizes = popcounts(d)
    # int64 cumulative sums are safe when 2^d * max |numerator| < 2^62 (checked in floats, with margin)
    small = _max_abs(num) * 2**(d + 1) < 2**62
    num = num.astype(np.int64) if small else num.astype(object)
    weights = [math.factorial(s) * math.factorial(d - s - 1) for s in range(d)]
    scale = math.factorial(d) * int(denominator)
    phi = []
    for j in range(d):
        half = 2**j
        vv = num.reshape(-1, 2, half)
        diff = (vv[:, 1, :] - vv[:, 0, :]).ravel()
        sz = sizes.reshape(-1, 2, half)[:, 0, :].ravel()
        if diff.dtype != object:  # sums per size on int64 (no overflow: checked above)
            order = np.argsort(sz, kind="stable")
            bounds = np.searchsorted(sz[order], np.arange(d + 1))
            csum = np.concatenate([[0], np.cumsum(diff[order])])
            totals = [int(csum[bounds[s + 1]] - csum[bounds[s]]) for s in range(d)]
        else:
            totals = [sum(int(x) for x in diff[sz == s]) for s in range(d)]
        phi.append(Fraction(sum(w * t for w, t in zip(weights, totals)), scale))
    return phi


def _scaled_rows(points) -> tuple[np.ndarray, int]:
    """Rational points (n, d) as (integer numerators, one positive denominator)."""
    flat = [Fraction(v) for v in np.asarray(points, dtype=object).ravel()]
    q = 1
    for v in flat:
        q = math.lcm(q, v.denominator)
    nums = np.array([v.numerator * (q // v.denominator) for v in flat], dtype=object).reshape(np.shape(points))
    return nums, q


def _max_abs(a) -> int:
    """max |entry| of an integer array (int64 or Python integers of any size), as a Python int."""
    a = np.asarray(a)
    if a.size == 0:
        return 0
    if a.dtype != object:
        return int(np.max(np.abs(a.astype(np.int64))))
    return max(abs(int(v)) for v in a.ravel())


def _fits_int64(*arrays) -> bool:
    return all(_max_abs(a) < 2**62 for a in arrays)


def hybrid_numerators(x, baseline, masks: np.ndarray) -> tuple[np.ndarray, int]:
    """The hybrid points of x and the baseline as integer numerators over one denominator q.

    Only the 2d coordinates are converted (not the 2^d points): numerators are picked by the masks.
    """
    both, q = _scaled_rows(np.concatenate([np.asarray(x, dtype=object), np.asarray(baseline, dtype=object)]))
    d = len(both) // 2
    if _fits_int64(both):
        both = both.astype(np.int64)
    return np.where(masks, both[None, :d], both[None, d:]), q


def exact_forward_on_integers(model, points, output: int, denominator: int | None = None) -> tuple[np.ndarray, int]:
    """f(points)[output] for a rational batch, as (integer numerators (n,), common denominator).

    ``points`` are rationals, or integer numerators over ``denominator`` when it is given.
    Layer by layer on numerators over a running denominator q: z = (N h + b q) / (D q); a unit with
    negative slope alpha_i = P_i / R (R common to the layer) maps z to R z or P_i z over R q.
    """
    h, q = (points, int(denominator)) if denominator is not None else _scaled_rows(points)
    layers = model.integer_affine_layers
    slopes = list(model.to_exact().negative_slopes)
    use_int64 = False
    for li, (Wi, bi, D) in enumerate(layers):
        last = li == len(layers) - 1
        if last:
            Wi, bi = Wi[output:output + 1], bi[output:output + 1]
        # magnitude bound on integers: |N h + b q| <= max|h| max_row sum|N| + max|b| q (also bounds partial sums)
        row_sum = max(sum(abs(int(v)) for v in row) for row in Wi)
        bound = _max_abs(h) * row_sum + _max_abs(bi) * q
        use_int64 = bound < 2**62 and _fits_int64(Wi, h)
        if use_int64:
            pre = h.astype(np.int64) @ Wi.astype(np.int64).T + (bi * q).astype(np.int64)
        else:
            pre = h.astype(object) @ Wi.T + bi * q
        q = q * int(D)
        if last:
            return pre[:, 0], q
        alpha = slopes[li]
        R = 1
        for a in alpha:
            R = math.lcm(R, Fraction(a).denominator)
        P = np.array([int(Fraction(a) * R) for a in alpha], dtype=object)
        if all(p == 0 for p in P):  # plain ReLU: no rescaling
            h = np.where(pre > 0, pre, 0)
        else:
            if use_int64 and bound * max(R, _max_abs(P)) < 2**62:
                h = np.where(pre > 0, pre * R, pre * P.astype(np.int64))
            else:  # products may leave int64: Python integers
                pre = pre.astype(object)
                h = np.where(pre > 0, pre * R, pre * P)
            q = q * R
        if h.dtype == object and _fits_int64(h):
            h = h.astype(np.int64)
    raise PolyattrError("model: expected at least one layer")  # pragma: no cover - ReLUNetwork has >= 1


def hybrid_error_bound(model, x, baseline, output: int) -> float:
    """A rigorous bound on |fl(f(z)) - f(z)| valid at every hybrid point z of x and the baseline.

    The recurrence of :meth:`ReLUNetwork.evaluation_error_bound` (Higham's dot-product bound per
    layer, max(1, |alpha|)-Lipschitz units, u |alpha a| for a rounded slope product), run once on
    magnitudes instead of once per point: every hybrid point has |z| <= M_0 = max(|x|, |x'|), and a
    layer maps a magnitude bound M of the computed inputs to |fl(W h + b)| <= |W| M + |b| + R with
    R = gamma_{n+1} (|W| M + |b|) its rounding; every step is rounded upward
    (:mod:`polyattr.numerics`).  Coarser than the per-point bound, 2^d times cheaper.
    """
    from polyattr.numerics import UNIT_ROUNDOFF, add_up, dot_bound, gamma, round_up

    net = model.to_float()
    M = np.maximum(np.abs(np.asarray(x, float)), np.abs(np.asarray(baseline, float)))[None, :]
    err = np.zeros_like(M)
    n_layers = len(net.weights)
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        if i == n_layers - 1:
            W, b = W[output:output + 1], b[output:output + 1]
        absW, absb = np.abs(W), np.abs(b)
        magnitude = add_up(dot_bound(absW, M), absb)
        rounding = round_up(gamma(W.shape[1] + 1) * magnitude, 1)
        e_pre = add_up(dot_bound(absW, err), rounding)
        if i == n_layers - 1:
            return float(e_pre.max())
        P = add_up(magnitude, rounding)  # bound on |computed pre-activation|
        alpha = np.abs(np.asarray(net.negative_slopes[i], float))
        lip = np.maximum(1.0, alpha)
        rounds = (alpha != 0) & (alpha != 1)
        M = round_up(lip * P * (1.0 + UNIT_ROUNDOFF), 3)
        err = add_up(round_up(lip * e_pre, 1), round_up(np.where(rounds, UNIT_ROUNDOFF * alpha * P, 0.0), 2))
    raise PolyattrError("model: expected at least one layer")  # pragma: no cover


#: rows per block of the batched forward pass: small enough that OpenBLAS runs each product on one
#: thread (its threads fight over a loaded machine's cores: measured 10-40x slower on 4096 rows) and
#: the activations of a block stay in cache
FORWARD_BLOCK_ROWS = 256


def domain_error_bound(model, lower, upper, output: int) -> float:
    """:func:`hybrid_error_bound` for every pair of points of the box [lower, upper]: the recurrence
    run on the box's magnitudes max(|lower|, |upper|) (it is monotone in them), so one bound serves
    every input and baseline of the domain; cached on the float model."""
    net = model.to_float()
    lo, up = np.asarray(lower, float), np.asarray(upper, float)
    key = (int(output), lo.tobytes(), up.tobytes())
    cache = net.__dict__.setdefault("_hybrid_domain_error_bounds", {})
    if key not in cache:
        M = np.maximum(np.abs(lo), np.abs(up))
        cache[key] = hybrid_error_bound(net, M, M, output)
    return cache[key]


def shapley_rows_float(model, X: np.ndarray, baseline, output: int, eval_err: float):
    """Baseline Shapley values of the rows of X (R, d) in float64, all rows at once.

    The rows' 2^d hybrid points go through one blocked forward pass; phi (R, d) comes from the
    values (R, 2^d) by the vectorised pair differences of :func:`shapley_from_values_float`.
    Returns (phi (R, d), f at the baseline (R,), per-row error bounds (R,)) where ``eval_err``
    bounds the evaluation error at every hybrid point (:func:`domain_error_bound`).
    """
    from polyattr.numerics import gamma, round_up

    X = np.asarray(X, float)
    R, d = X.shape
    masks = subset_masks(d)
    points = np.where(masks[None, :, :], X[:, None, :], np.asarray(baseline, float)[None, None, :]).reshape(-1, d)
    values = float_forward(model, points, output).reshape(R, 2**d)
    w = shapley_weights_float(d)[np.minimum(popcounts(d), d - 1)]
    phi = np.empty((R, d))
    for j in range(d):
        half = 2**j
        vv = values.reshape(R, -1, 2, half)
        phi[:, j] = np.sum(w.reshape(-1, 2, half)[None, :, 0, :] * (vv[:, :, 1, :] - vv[:, :, 0, :]), axis=(1, 2))
    # as for one row (measure_methods._shapley): 2 eval_err for the differences, gamma_{2^d + 8}
    # times 2 max |v| for the weighted sum of 2^(d-1) terms
    bounds = round_up(2 * eval_err + gamma(2**d + 8) * 2 * np.max(np.abs(values), axis=1), 4)
    return phi, values[:, 0], bounds


def float_forward(model, points: np.ndarray, output: int) -> np.ndarray:
    """f(points)[output] in float64, in blocks of :data:`FORWARD_BLOCK_ROWS` rows, in place layer by
    layer (the same roundings as the model's own evaluation: one rounded dot product plus bias per
    unit, one rounded product alpha * a for a negative input of a leaky unit, so
    :func:`hybrid_error_bound` applies)."""
    net = model.to_float()
    points = np.asarray(points, dtype=float)
    layers = [(np.ascontiguousarray(np.asarray(W, float).T), np.asarray(b, float), np.asarray(a, float))
              for W, b, a in zip(net.weights[:-1], net.biases[:-1], net.negative_slopes)]
    w_out, b_out = np.asarray(net.weights[-1][output], float), float(net.biases[-1][output])
    out = np.empty(points.shape[0])
    for start in range(0, points.shape[0], FORWARD_BLOCK_ROWS):
        h = points[start:start + FORWARD_BLOCK_ROWS]
        for WT, b, alpha in layers:
            pre = h @ WT
            pre += b
            if not np.any(alpha):
                np.maximum(pre, 0.0, out=pre)
            else:
                neg = np.minimum(pre, 0.0)
                np.maximum(pre, 0.0, out=pre)
                neg *= alpha
                pre += neg  # one of the two terms is 0: the sum is exact
            h = pre
        out[start:start + FORWARD_BLOCK_ROWS] = h @ w_out + b_out
    return out
