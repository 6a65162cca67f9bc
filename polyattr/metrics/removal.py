"""Metrics that remove features (set them to a baseline) and compare with the attribution.

All of them need only model evaluations at hybrid points (x on some features, the baseline on
the others), so they are exact in rationals whenever the enumeration is finite:

* ``faithfulness_correlation`` (Bhatt et al. 2020): the Pearson correlation, over subsets S of a
  fixed size, between sum_{j in S} phi_j and f(x) - f(x with x_S := baseline_S).  Over *all*
  subsets of that size when there are at most ``max_subsets`` of them (deterministic), seeded
  sampling of subsets beyond.
* ``sensitivity_n`` (Ancona et al. 2018): the same correlation for every subset size n; the value
  is the mean over the sizes, the curve is in ``info["curve"]``.
* ``deletion_aopc`` / ``insertion_aopc``: features sorted by decreasing phi (ties: lower index
  first); deletion sets the top-k to the baseline, insertion starts from the baseline and puts
  back the top-k; the area over the perturbation curve (Samek et al. 2017)
  (1 / (d + 1)) sum_{k=0..d} (f(x) - f(deleted_k)), resp. (1 / (d + 1)) sum_k (f(inserted_k) - f(baseline)).
* ``completeness_gap``: |sum_j phi_j - (f(x) - f(baseline))|.
* ``recall_at_k``: |top_k(|phi|) ∩ D| / |D| for a ground-truth set D (k = |D| by default).

A correlation is a square root away from the rationals: in exact mode it is computed from exact
sums and rounded once (bound 8 units in the last place); in floats the bound propagates the
forward error of every model evaluation.  A correlation with a constant sequence is undefined and
reported as such (value None), never as NaN.
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations
from math import comb

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.metrics.perturbations import DEFAULT_MAX_SUBSETS, normalise_rng
from polyattr.metrics.result import CONFIDENCE_SIGMAS, MetricValue
from polyattr.models.protocol import PiecewiseAffineModel, require_model
from polyattr.numerics import UNIT_ROUNDOFF as _U, gamma

DEFAULT_CORRELATION_SAMPLES = 1000


class _Evaluator:
    """f at hybrid points, exact or float with a forward error bound per point."""

    def __init__(self, model: PiecewiseAffineModel, x, baseline, output: int, exact: bool):
        require_model(model)
        self.net = model.to_exact() if exact else model.to_float()
        self.exact, self.output = exact, output
        d = model.n_inputs
        self.x = _vector(x, d, "x", exact)
        self.baseline = np.array([Fraction(0)] * d, dtype=object) if exact and baseline is None else (
            np.zeros(d) if baseline is None else _vector(baseline, d, "baseline", exact))

    def hybrids(self, masks) -> np.ndarray:
        """Rows: x with the features of each mask set to the baseline."""
        return np.where(np.asarray(masks, bool), self.baseline[None, :], self.x[None, :])

    def values(self, Z):
        """(f at the rows of Z, error bounds (0 when exact))."""
        v = np.atleast_1d(self.net(Z, output=self.output))
        if self.exact:
            return v, np.zeros(len(v))
        return v.astype(float), self.net.evaluation_error_bound(np.asarray(Z, float), self.output)

    @property
    def fx(self):
        return self.net(self.x, output=self.output)


def _vector(v, d, name, exact):
    from polyattr.metrics.quadratic import exact_vector, float_vector

    return exact_vector(v, d, name) if exact else float_vector(v, d, name)


def _phi(phi, d: int, exact: bool):
    return _vector(phi, d, "phi", exact)


# ------------------------------------------------------------------------------ correlation
def _pearson(a, b, e_a, e_b, exact: bool):
    """(correlation or None, bound, reason) of two sequences with entrywise error bounds."""
    n = len(a)
    if n < 2:
        return None, 0.0, f"needs at least 2 subsets, got {n}"
    if exact:
        ma, mb = sum(a, Fraction(0)) / n, sum(b, Fraction(0)) / n
        ca, cb = [v - ma for v in a], [v - mb for v in b]
        saa = sum((v * v for v in ca), Fraction(0))
        sbb = sum((v * v for v in cb), Fraction(0))
        sab = sum((u * v for u, v in zip(ca, cb)), Fraction(0))
        if saa == 0 or sbb == 0:
            return None, 0.0, "one of the sequences is constant"
        # corr = sab / sqrt(saa sbb): sign and the exact square sab^2 / (saa sbb)
        sq = sab * sab / (saa * sbb)
        value = math.copysign(math.sqrt(float(sq)), float(sab))
        return value, 8 * _U * abs(value), None
    a, b = np.asarray(a, float), np.asarray(b, float)
    ca, cb = a - a.mean(), b - b.mean()
    sa, sb = math.sqrt(float(ca @ ca) / n), math.sqrt(float(cb @ cb) / n)
    ea, eb = float(np.max(e_a, initial=0.0)), float(np.max(e_b, initial=0.0))
    # rounding of the sums relative to their absolute sizes, plus the inputs' errors
    ea += gamma(n + 4) * float(np.max(np.abs(a), initial=0.0)) * 2
    eb += gamma(n + 4) * float(np.max(np.abs(b), initial=0.0)) * 2
    if sa <= 2 * ea or sb <= 2 * eb:
        if sa == 0 or sb == 0:
            return None, 0.0, "one of the sequences is constant"
        value = float(ca @ cb) / n / (sa * sb)
        return float(np.clip(value, -1, 1)), 2.0, None  # the errors could make the sequence constant
    cov = float(ca @ cb) / n
    value = cov / (sa * sb)
    # ca, cb each move by at most 2e; cov by 2 e_b mean|ca| + 2 e_a mean|cb| + 4 e_a e_b;
    # the (population) standard deviations by at most 2e
    dcov = 2 * eb * float(np.abs(ca).mean()) + 2 * ea * float(np.abs(cb).mean()) + 4 * ea * eb
    lo_a, lo_b = sa - 2 * ea, sb - 2 * eb
    bound = dcov / (lo_a * lo_b) + abs(cov) * abs(1 / (lo_a * lo_b) - 1 / (sa * sb)) + gamma(8) * abs(value)
    return float(np.clip(value, -1, 1)), 2 * bound, None


def _subset_masks(d: int, size: int, max_subsets: int, n_samples: int, rng):
    """(masks (m, d), sampled?, seed): all subsets of ``size`` or seeded samples of them."""
    count = comb(d, size)
    if count <= max_subsets:
        masks = np.zeros((count, d), dtype=bool)
        for i, S in enumerate(combinations(range(d), size)):
            masks[i, list(S)] = True
        return masks, False, None
    gen, seed = normalise_rng(rng)
    keys = gen.random((int(n_samples), d))
    idx = np.argsort(keys, axis=1)[:, :size]
    masks = np.zeros((int(n_samples), d), dtype=bool)
    np.put_along_axis(masks, idx, True, axis=1)
    return masks, True, seed


def _correlation_at_size(ev: _Evaluator, phi, phi_error, size, max_subsets, n_samples, rng):
    d = len(phi)
    masks, sampled, seed = _subset_masks(d, size, max_subsets, n_samples, rng)
    Z = ev.hybrids(masks)
    fz, ez = ev.values(Z)
    fx = ev.fx
    e_fx = 0.0 if ev.exact else float(ev.net.evaluation_error_bound(np.asarray(ev.x, float)[None, :], ev.output)[0])
    drops = [fx - v for v in fz]
    sums = [sum((phi[j] for j in np.flatnonzero(m)), start=phi[0] * 0) for m in masks]
    e_sum = np.full(len(masks), size * float(phi_error) + (0 if ev.exact else gamma(size) * float(np.abs(np.asarray(phi, float)).sum())))
    value, bound, reason = _pearson(sums, drops, e_sum, np.asarray(ez) + e_fx, ev.exact and not phi_error)
    return value, bound, reason, len(masks), sampled, seed, (sums, drops)


def faithfulness_correlation(model: PiecewiseAffineModel, x, phi, *, baseline=None, subset_size: int | None = None,
                             output: int | None = None, exact: bool = False, phi_error: float = 0.0,
                             max_subsets: int = DEFAULT_MAX_SUBSETS, n_samples: int = DEFAULT_CORRELATION_SAMPLES,
                             rng=None) -> MetricValue:
    """Faithfulness correlation (Bhatt et al. 2020) of the attribution ``phi`` at ``x``.

    ``subset_size`` defaults to max(1, d // 2).  Deterministic over all subsets of that size when
    there are at most ``max_subsets``; otherwise ``n_samples`` seeded subsets (``rng``) and the
    value is a sampled estimate with a bootstrap-free normal half-width (Fisher z-transform,
    ``CONFIDENCE_SIGMAS`` standard errors).
    """
    k = require_model(model).check_output(output)
    d = model.n_inputs
    size = max(1, d // 2) if subset_size is None else subset_size
    if not isinstance(size, (int, np.integer)) or not 1 <= size <= d:
        raise PolyattrError(f"subset_size: expected an integer in [1, {d}], got {subset_size!r}")
    ev = _Evaluator(model, x, baseline, k, exact)
    p = _phi(phi, d, exact)
    value, bound, reason, n, sampled, seed, _ = _correlation_at_size(ev, p, phi_error, int(size), max_subsets, n_samples, rng)
    info = {"subset_size": int(size), "subsets": n}
    if value is None:
        return MetricValue("faithfulness_correlation", None, False, 0.0, kind="undefined",
                           n_samples=n if sampled else None, seed=seed, info=dict(info, reason=reason))
    if sampled:
        bound += _fisher_half_width(value, n)
        return MetricValue("faithfulness_correlation", value, False, bound, kind="sampled", n_samples=n, seed=seed,
                           info=dict(info, sigmas=CONFIDENCE_SIGMAS))
    return MetricValue("faithfulness_correlation", value, False, bound, info=info)


def _fisher_half_width(r: float, n: int) -> float:
    """Half-width of the CONFIDENCE_SIGMAS interval of a sample correlation (Fisher z, mapped back)."""
    if n <= 3:
        return 2.0
    z = math.atanh(max(min(r, 1 - 1e-15), -1 + 1e-15))
    s = CONFIDENCE_SIGMAS / math.sqrt(n - 3)
    return max(abs(math.tanh(z + s) - r), abs(math.tanh(z - s) - r))


def sensitivity_n(model: PiecewiseAffineModel, x, phi, *, baseline=None, sizes=None, output: int | None = None,
                  exact: bool = False, phi_error: float = 0.0, max_subsets: int = DEFAULT_MAX_SUBSETS,
                  n_samples: int = DEFAULT_CORRELATION_SAMPLES, rng=None) -> MetricValue:
    """Sensitivity-n (Ancona et al. 2018): the correlation of sum_S phi with the output drop, per
    subset size n in ``sizes`` (default 1..d-1); the value is the mean over the sizes where it is
    defined and ``info["curve"]`` maps each size to its correlation (None where undefined)."""
    k = require_model(model).check_output(output)
    d = model.n_inputs
    sizes = list(range(1, d)) if sizes is None else list(sizes)
    if not sizes or any(not isinstance(s, (int, np.integer)) or not 1 <= s <= d for s in sizes):
        raise PolyattrError(f"sizes: expected subset sizes in [1, {d}], got {sizes!r}")
    ev = _Evaluator(model, x, baseline, k, exact)
    p = _phi(phi, d, exact)
    gen, seed = normalise_rng(rng) if any(comb(d, s) > max_subsets for s in sizes) else (None, None)
    curve, bounds, any_sampled, n_total = {}, [], False, 0
    for s in sizes:
        value, bound, reason, n, sampled, _, _ = _correlation_at_size(ev, p, phi_error, int(s), max_subsets, n_samples, gen)
        if sampled and value is not None:
            bound += _fisher_half_width(value, n)
        any_sampled |= sampled
        n_total += n if sampled else 0
        curve[int(s)] = value
        if value is not None:
            bounds.append(bound)
    defined = [v for v in curve.values() if v is not None]
    info = {"curve": curve, "sizes": [int(s) for s in sizes]}
    if not defined:
        return MetricValue("sensitivity_n", None, False, 0.0, kind="undefined", info=dict(info, reason="no size gives a defined correlation"))
    value = sum(defined) / len(defined)
    bound = sum(bounds) / len(bounds) + gamma(len(defined) + 1) * abs(value)
    return MetricValue("sensitivity_n", value, False, bound, kind="sampled" if any_sampled else "deterministic",
                       n_samples=n_total if any_sampled else None, seed=seed, info=info)


# ------------------------------------------------------------------------- curves and gaps
def _order(phi) -> list[int]:
    """Features by decreasing phi, ties broken by the lower index (stable)."""
    return sorted(range(len(phi)), key=lambda j: (-phi[j], j))


def _order_certain(phi, phi_error) -> bool:
    vals = sorted((float(v) for v in phi), reverse=True)
    return all(a - b > 2 * phi_error for a, b in zip(vals, vals[1:])) if phi_error else True


def _curve_metric(name, model, x, phi, baseline, output, exact, phi_error, deletion: bool) -> MetricValue:
    k = require_model(model).check_output(output)
    d = model.n_inputs
    ev = _Evaluator(model, x, baseline, k, exact)
    p = _phi(phi, d, exact)
    order = _order(p)
    masks = np.zeros((d + 1, d), dtype=bool)
    for step in range(1, d + 1):
        masks[step] = masks[step - 1]
        masks[step, order[step - 1]] = True
    if not deletion:  # inserted_k: the top-k from x, the rest from the baseline
        masks = ~masks
    values, errors = ev.values(ev.hybrids(masks))
    if deletion:
        start, e0 = values[0], errors[0]
        terms = [start - v for v in values]
    else:
        start, e0 = values[0], errors[0]  # masks[0] all True: the baseline itself
        terms = [v - start for v in values]
    if exact:
        value = sum(terms, Fraction(0)) / (d + 1)
        bound = 0.0
    else:
        value = float(np.mean(terms))
        bound = float(np.mean(errors)) + float(e0) + gamma(d + 3) * float(np.mean(np.abs(values)) + abs(start))
    info = {"curve": list(values), "order": order, "order_certain": _order_certain(p, phi_error)}
    return MetricValue(name, value, bool(exact), bound, info=info)


def deletion_aopc(model: PiecewiseAffineModel, x, phi, *, baseline=None, output: int | None = None, exact: bool = False,
                  phi_error: float = 0.0) -> MetricValue:
    """Area over the deletion curve: (1/(d+1)) sum_{k=0..d} (f(x) - f(x with its top-k features set
    to the baseline)); larger means the top-ranked features matter more."""
    return _curve_metric("deletion_aopc", model, x, phi, baseline, output, exact, phi_error, deletion=True)


def insertion_aopc(model: PiecewiseAffineModel, x, phi, *, baseline=None, output: int | None = None, exact: bool = False,
                   phi_error: float = 0.0) -> MetricValue:
    """Area over the insertion curve: (1/(d+1)) sum_{k=0..d} (f(baseline with the top-k features of x)
    - f(baseline))."""
    return _curve_metric("insertion_aopc", model, x, phi, baseline, output, exact, phi_error, deletion=False)


def completeness_gap(model: PiecewiseAffineModel, x, phi, *, baseline=None, output: int | None = None, exact: bool = False,
                     phi_error: float = 0.0) -> MetricValue:
    """|sum_j phi_j - (f(x) - f(baseline))| (baseline default 0): exact in rationals, no tolerance."""
    k = require_model(model).check_output(output)
    d = model.n_inputs
    ev = _Evaluator(model, x, baseline, k, exact)
    p = _phi(phi, d, exact)
    values, errors = ev.values(np.vstack([ev.x[None, :], ev.baseline[None, :]]))
    total = sum(p, p[0] * 0)
    gap = abs(total - (values[0] - values[1]))
    if exact:
        return MetricValue("completeness_gap", gap, True, 0.0)
    bound = float(errors.sum()) + d * float(phi_error) + gamma(d + 3) * (float(np.abs(p).sum()) + float(np.abs(values).sum()))
    return MetricValue("completeness_gap", float(gap), False, bound)


def recall_at_k(phi, ground_truth, k: int | None = None, *, phi_error: float = 0.0) -> MetricValue:
    """|top_k(|phi|) ∩ D| / |D| for the ground-truth feature set D (k default |D|).

    Ties in |phi| are broken by the lower index; ``info["tie_at_k"]`` says when the k-th and the
    (k+1)-th magnitudes are equal (or, with ``phi_error``, not certainly ordered).
    """
    mags = [abs(v) for v in phi]
    d = len(mags)
    try:
        D = sorted({int(j) for j in ground_truth})
    except (TypeError, ValueError):
        raise PolyattrError(f"ground_truth: expected feature indices, got {ground_truth!r}") from None
    if not D or D[0] < 0 or D[-1] >= d:
        raise PolyattrError(f"ground_truth: expected a non-empty set of feature indices in [0, {d}), got {D}")
    k = len(D) if k is None else k
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= d:
        raise PolyattrError(f"k: expected an integer in [1, {d}], got {k!r}")
    order = sorted(range(d), key=lambda j: (-mags[j], j))
    top = set(order[:k])
    tie = k < d and float(mags[order[k - 1]]) - float(mags[order[k]]) <= 2 * phi_error
    value = Fraction(len(top & set(D)), len(D))
    return MetricValue("recall_at_k", value, True, 0.0, info={"k": int(k), "top_k": sorted(top), "tie_at_k": bool(tie)})
