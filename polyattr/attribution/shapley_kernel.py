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


def check_budget(d: int, widths, points: int = 1) -> None:
    """Raise, with the estimate, when the 2^d hybrid points would not fit the memory budget."""
    memory, seconds = cost_estimate(d, widths)
    if memory > MEMORY_BUDGET_BYTES:
        raise PolyattrError(
            f"x: exact baseline Shapley evaluates 2^{d} = {2**d:,} hybrid points per input; that needs about "
            f"{memory / 2**30:.1f} GiB of memory (budget {MEMORY_BUDGET_BYTES / 2**30:.0f} GiB) and about "
            f"{seconds * points:.3g} s for {points} input(s); use fewer features (group them) or a sampled "
            f"estimate (polyattr.attribution.approximate)")


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
    small = float(np.max(np.abs(num.astype(float)), initial=0.0)) * 2.0**(d + 1) < _INT64_SAFE
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


def _fits_int64(*arrays) -> bool:
    return all(float(np.max(np.abs(a.astype(float)), initial=0.0)) < _INT64_SAFE for a in arrays)


def exact_forward_on_integers(model, points, output: int) -> tuple[np.ndarray, int]:
    """f(points)[output] for a rational batch, as (integer numerators (n,), common denominator).

    Layer by layer on numerators over a running denominator q: z = (N h + b q) / (D q); a unit with
    negative slope alpha_i = P_i / R (R common to the layer) maps z to R z or P_i z over R q.
    """
    h, q = _scaled_rows(points)
    layers = model.integer_affine_layers
    slopes = list(model.to_exact().negative_slopes)
    use_int64 = False
    for li, (Wi, bi, D) in enumerate(layers):
        last = li == len(layers) - 1
        if last:
            Wi, bi = Wi[output:output + 1], bi[output:output + 1]
        # magnitude bound in floats: |N h + b q| <= |N| |h| + |b| q
        Wf, bf = np.abs(Wi.astype(float)), np.abs(bi.astype(float))
        bound = float(np.max(np.abs(h.astype(float)), initial=0.0)) * float(np.max(Wf.sum(axis=1))) \
            + float(np.max(bf, initial=0.0)) * float(q)
        use_int64 = bound < _INT64_SAFE and _fits_int64(Wi, bi * q)
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
            Pn = P.astype(np.int64) if (use_int64 and _fits_int64(P) and bound * R < _INT64_SAFE) else P
            h = np.where(pre > 0, pre * R, pre * Pn)
            q = q * R
        if h.dtype == object and _fits_int64(h):
            h = h.astype(np.int64)
    raise PolyattrError("model: expected at least one layer")  # pragma: no cover - ReLUNetwork has >= 1
