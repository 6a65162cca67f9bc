"""Optimal convex aggregation of attributions ([AGG], arXiv 2406.05090; THEORY.md §6).

Given K attribution methods at an input x, the aggregate phi^w = sum_i w_i phi^i with w on the
simplex has every quality criterion of the form Q(phi) = E||gamma_1 phi - gamma_2||^2 equal to
w^T Gamma w (Gamma from :func:`polyattr.metrics.gram`, exact in rationals when the metric is).
Objectives:

* ``"robust"``  -- Gamma = the sensitivity Gram matrix (E||phi(x + delta) - phi(x)||^2 of the mix);
* ``"faith"``   -- Gamma = the infidelity Gram matrix of the *scale-normalised* attributions
  psi^i = beta_i phi^i, beta_i = Yeh's optimal scale of method i at x (infidelity is not scale
  invariant: a method that is right up to a factor would otherwise lose).  beta_i is a constant
  factor fixed at x, so the sensitivity Gram matrix of the psi^i is B Gamma_sens B, B = diag(beta);
* ``"opt"``     -- lam Gamma_sens / ||Gamma_sens||_F + (1 - lam) Gamma_infd / ||Gamma_infd||_F on the
  scale-normalised attributions (the Frobenius norms are rounded to doubles and then used as exact
  constants, so the combined matrix stays rational in exact mode).

``normalise`` overrides the default (scaled for faith/opt, raw for robust).  Over a batch of n
inputs the objective is the mean over points, mean_n w^T Gamma_n w = w^T (mean_n Gamma_n) w: one
shared weight vector; :attr:`AggregationResult.per_point` has the per-point optima.  Each optimum is
found by cvxpy and checked against the exact KKT optimum (:mod:`polyattr.optimize.simplex`).

Baselines: ``AGG_mean`` (uniform weights) and ``AGG_var`` (Rieger & Hansen 2019: the feature-wise
mean divided by the feature-wise standard deviation across methods plus eps, eps = the mean of
those standard deviations).  AGG_var is not a convex mix, so only its infidelity is reported (from
the exact quadratic form of infidelity); its sensitivity is a Monte Carlo estimate on request
(``agg_var_sensitivity=True``, with its 5-sigma half-width).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.metrics import gram as metric_gram
from polyattr.metrics.methods import as_method_calls
from polyattr.models.protocol import require_model
from polyattr.optimize.simplex import (MAX_CERTIFIED_METHODS, OptimumCertification, certify_on_simplex,
                                       solve_on_simplex)

OBJECTIVES = ("robust", "faith", "opt")


@dataclass(frozen=True)
class PointAggregation:
    """The optimum at one input of a batch."""

    weights: np.ndarray
    value: float
    certified: bool


@dataclass(frozen=True, eq=False)
class AggregationResult:
    """Optimal convex aggregation of K attributions.

    Attributes
    ----------
    objective : "robust", "faith" or "opt"
    methods : list of str
    weights : ndarray (K,)
        The optimal weights (on the simplex): the exact certified optimum rounded to floats when
        ``certified``, else cvxpy's solution.
    solver_weights : ndarray (K,)
        cvxpy's solution (checked against the exact optimum).
    exact_weights : tuple of Fractions or None
        One exact optimal weight vector from the KKT certificate.
    gram : ndarray (K, K)
        The matrix that was minimised (mean over the batch); Fractions when ``exact``.  The
        objective's value for weights w is w^T gram w.
    value : float
        weights^T gram weights.
    attribution : ndarray (d,) or (n, d)
        The aggregate sum_i w_i phi^i (of the scale-normalised attributions when ``scaled``).
    attributions : ndarray (n, K, d)
        The (possibly scaled) attributions that were aggregated.
    scales : ndarray (n, K)
        Yeh's optimal scale beta of every method at every point (1 when not ``scaled``).
    before : dict {method: {metric: value}}
        ``sensitivity_avg``, ``infidelity`` (of the aggregated attributions, i.e. scale-normalised
        when ``scaled``) and ``objective`` (gram_ii), each the mean over the batch.
    after : dict {metric: value}
        The same metrics of the aggregate: w^T Gamma_c w for each criterion c (a Fraction when
        Gamma_c and the certified weights are exact).
    baselines : dict {"AGG_mean": {...}, "AGG_var": {...}}
    certified : bool
        cvxpy's optimum agrees with the exact KKT optimum (see ``certification.reason``).
    exact : bool
        Every Gram matrix was exact (rationals).
    error_bound : float
        Bound on |optimum of the true criterion - optimum of ``gram``|: the largest entry of the
        Gram matrix's own bound (rounding, or a confidence half-width where a metric sampled),
        since |w^T E w| <= max |E_ij| on the simplex; 0 when exact.
    """

    objective: str
    methods: list
    weights: np.ndarray
    solver_weights: np.ndarray
    exact_weights: tuple | None
    gram: np.ndarray
    value: float
    attribution: np.ndarray
    attributions: np.ndarray
    scales: np.ndarray
    scaled: bool
    before: dict
    after: dict
    baselines: dict
    certified: bool
    certification: OptimumCertification | None
    exact: bool
    lam: float
    radius: object
    per_point: list = field(default_factory=list)
    grams: dict = field(default_factory=dict, repr=False)  # criterion -> mean Gram over the batch
    error_bound: float = 0.0
    seconds: float = 0.0

    def __repr__(self) -> str:
        # the dataclass repr printed the Gram matrices, every attribution and the exact weights'
        # (often huge) rationals; keep it to one line
        mix = ", ".join(f"{m} {w:.4g}" for m, w in zip(self.methods, np.asarray(self.weights, dtype=float)))
        return (f"AggregationResult({self.objective}: {mix}; value {float(self.value):.6g}, "
                f"certified {bool(self.certified)}, {self.seconds:.3g} s)")

    def to_dict(self) -> dict:
        """Same as :meth:`to_json` (every result object of polyattr serialises with ``to_dict``)."""
        return self.to_json()

    def to_json(self) -> dict:
        """The DESIGN.md contract of ``polyattr aggregate --json``."""
        single = self.attribution.ndim == 1
        return {
            "objective": self.objective,
            "methods": list(self.methods),
            "weights": [float(v) for v in self.weights],
            "solver_weights": [float(v) for v in self.solver_weights],
            "exact_weights": None if self.exact_weights is None else [_encode(v) for v in self.exact_weights],
            "gram": [[_encode(v) for v in row] for row in self.gram],
            "values": [float(v) for v in self.attribution] if single else [[float(v) for v in r] for r in self.attribution],
            "before": {m: {k: _encode(v) for k, v in d.items()} for m, d in self.before.items()},
            "after": {k: _encode(v) for k, v in self.after.items()},
            "baselines": {b: {k: (_encode(v) if not isinstance(v, list) else [float(x) for x in v]) for k, v in d.items()}
                          for b, d in self.baselines.items()},
            "certified": bool(self.certified),
            "certificate": None if self.certification is None else self.certification.reason,
            "exact": bool(self.exact),
            "error_bound": self.error_bound,
            "scaled": bool(self.scaled),
            "lam": self.lam,
            "seconds": self.seconds,
        }


def _encode(v):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}" if v.denominator != 1 else str(v.numerator)
    return float(v)


def aggregate(model, X, methods, objective: str = "robust", lam=0.5, radius=None, *, exact: bool = False,
              normalise: bool | None = None, baseline=None, domain=None, output: int | None = None,
              n_samples: int | None = None, rng=None, certify: bool = True, solver: str | None = None,
              agg_var_sensitivity: bool = False) -> AggregationResult:
    """Optimal convex weights of ``methods`` for a quality criterion, with an exact certificate.

    Parameters
    ----------
    model : PiecewiseAffineModel (a ReLUNetwork)
    X : array-like (d,) or (n, d)
        One input or a batch (one weight vector shared over the batch).
    methods : names, (name, options) pairs or a comma-separated string; K >= 1
    objective : "robust", "faith" or "opt"
    lam : number in [0, 1]
        Weight of sensitivity in "opt".
    radius : number or (d,) numbers
        Half-width of the uniform perturbation box of both criteria (default 0.1).
    exact : bool
        Rational Gram matrices where the metrics allow it (infidelity always on the uniform box;
        sensitivity for gradient-type methods); the result says whether all were exact.
    normalise : bool or None
        Scale every method by Yeh's optimal factor before aggregating (default: for faith and opt).
    baseline, domain, output : passed to the attribution methods.
    n_samples, rng : draws where a metric has to sample (sensitivity of non-local methods).
    certify : bool
        Check cvxpy's optimum against the exact KKT optimum (K <= 12).
    agg_var_sensitivity : bool
        Also estimate the sensitivity of the AGG_var baseline (not a convex mix, so no Gram
        matrix: Monte Carlo over ``n_samples`` draws, every method recomputed at each x + delta,
        reported with its 5-sigma half-width).
    """
    start = time.perf_counter()
    if objective not in OBJECTIVES:
        raise PolyattrError(f"objective: expected one of {', '.join(OBJECTIVES)}, got {objective!r}")
    try:
        lam_q = Fraction(lam)
    except (TypeError, ValueError, ZeroDivisionError):
        raise PolyattrError(f"lam: expected a number in [0, 1], got {lam!r}") from None
    if not 0 <= lam_q <= 1:
        raise PolyattrError(f"lam: expected a number in [0, 1], got {lam}")
    model = require_model(model)
    calls = as_method_calls(methods)
    K = len(calls)
    labels = [c.label for c in calls]
    d = model.n_inputs
    points = _points(X, d)
    scaled = objective != "robust" if normalise is None else bool(normalise)
    rng = np.random.default_rng(rng)
    need_sens = objective in ("robust", "opt")

    per_point_grams = {"sensitivity": [], "infidelity": []}
    bounds = {"sensitivity": [], "infidelity": []}  # entrywise |computed - true Gamma| (or half-widths)
    attributions, scales, forms, all_exact = [], [], [], True
    for x in points:
        infd = metric_gram(model, x, calls, "infidelity", radius, baseline=baseline, domain=domain, output=output,
                           exact=exact, n_samples=n_samples, rng=rng)
        form = infd.form
        phis = [np.asarray(p, dtype=object if infd.exact else float) for p in infd.attributions]
        betas = [_one(infd.exact)] * K
        if scaled:
            betas = [form.optimal_scale(p)[0] for p in phis]
            phis = [b * p for b, p in zip(betas, phis)]
            G_infd, bound_infd = form.gram(phis)
        else:
            G_infd, bound_infd = infd.matrix, infd.bound
        all_exact &= bool(infd.exact)
        # sensitivity is reported before/after for every objective; it is optimised by robust and opt
        s = metric_gram(model, x, calls, "sensitivity", radius, baseline=baseline, domain=domain, output=output,
                        exact=exact, n_samples=n_samples, rng=rng)
        B = np.diag(np.asarray(betas, dtype=object))
        sens = (B @ s.matrix @ B) if scaled else s.matrix
        absb = np.abs(np.array([float(b) for b in betas]))
        bound_sens = np.outer(absb, absb) * np.asarray(s.bound, float) if scaled else np.asarray(s.bound, float)
        bounds["sensitivity"].append(bound_sens)
        bounds["infidelity"].append(np.asarray(bound_infd, float))
        sens_exact = bool(s.exact) and bool(infd.exact or not scaled)
        if need_sens:
            all_exact &= sens_exact
        per_point_grams["infidelity"].append(_as_matrix(G_infd, infd.exact))
        per_point_grams["sensitivity"].append(_as_matrix(sens, sens_exact))
        attributions.append(phis)
        scales.append(betas)
        forms.append(form)

    grams = {c: _mean(per_point_grams[c]) for c in per_point_grams}
    objective_grams = [_objective_gram(objective, lam_q, s, i)
                       for s, i in zip(per_point_grams["sensitivity"], per_point_grams["infidelity"])]
    G = _objective_gram(objective, lam_q, grams["sensitivity"], grams["infidelity"])
    # |min_w w^T (G + E) w - min_w w^T G w| <= max_w |w^T E w| <= max_ij |E_ij| on the simplex
    mean_bound = {c: np.mean(bounds[c], axis=0) for c in bounds}
    error_bound = float(np.max(_objective_bound(objective, lam_q, grams, mean_bound)))
    solution = solve_on_simplex(G, solver=solver)
    certification = None
    if certify and K <= MAX_CERTIFIED_METHODS:
        certification = certify_on_simplex(G, solution)
    certified = bool(certification is not None and certification.certified)
    w = solution.weights
    if certified:
        # report the certified exact optimum (exact zeros off its support) rather than the
        # interior-point iterate, which agrees with it to the solver's tolerance
        w = np.array([float(v) for v in certification.certificate.weights])

    per_point = []
    if len(points) > 1:
        for Gn in objective_grams:
            sol_n = solve_on_simplex(Gn, solver=solver)
            cert_n = certify_on_simplex(Gn, sol_n) if certify and K <= MAX_CERTIFIED_METHODS else None
            if cert_n is not None and cert_n.certified:
                w_n = np.array([float(v) for v in cert_n.certificate.weights])
                per_point.append(PointAggregation(w_n, _quad(w_n, Gn), True))
            else:
                per_point.append(PointAggregation(sol_n.weights, sol_n.value, False))

    phis_float = np.array([[[float(v) for v in p] for p in row] for row in attributions])  # (n, K, d)
    aggregated = np.einsum("k,nkd->nd", w, phis_float)
    before = {}
    for i, label in enumerate(labels):
        before[label] = {"sensitivity_avg": grams["sensitivity"][i][i], "infidelity": grams["infidelity"][i][i],
                         "objective": G[i][i]}
    # with the exact optimal weights, criteria whose Gram matrix is exact are reported exactly
    after = _metrics_of(certification.certificate.weights if certified and certification.shift == 0 else w, grams, G)
    uniform = [Fraction(1, K)] * K
    baselines = {"AGG_mean": dict(_metrics_of(uniform, grams, G), weights=[1.0 / K] * K)}
    if K >= 2:
        var = [_agg_var(np.array(phis_float[n])) for n in range(len(points))]
        infd_var = [float(forms[n].value(var[n])[0]) for n in range(len(points))]
        baselines["AGG_var"] = {"infidelity": float(np.mean(infd_var))}
        if agg_var_sensitivity:
            baselines["AGG_var"].update(_agg_var_sensitivity(model, points, calls, var, scales, radius, baseline, domain,
                                                             output, n_samples or 64, rng))
    exact_weights = None
    if certification is not None and certification.certificate is not None:
        exact_weights = certification.certificate.weights
    return AggregationResult(
        objective=objective, methods=labels, weights=w, solver_weights=solution.weights, exact_weights=exact_weights, gram=G,
        value=float(_quad(w, G)), attribution=aggregated[0] if np.ndim(X) == 1 else aggregated,
        attributions=phis_float, scales=np.array([[float(b) for b in row] for row in scales]), scaled=scaled,
        before=before, after=after, baselines=baselines, certified=certified, certification=certification,
        exact=all_exact, lam=float(lam_q), radius=radius, per_point=per_point, grams=grams, error_bound=error_bound,
        seconds=time.perf_counter() - start)


# ------------------------------------------------------------------------------------ helpers
def _points(X, d):
    arr = np.asarray(X, dtype=object)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != d or arr.shape[0] == 0:
        raise PolyattrError(f"X: expected a point of {d} features or an (n, {d}) batch, got shape {np.shape(X)}")
    return [list(row) for row in arr]


def _one(exact):
    return Fraction(1) if exact else 1.0


def _as_matrix(G, exact):
    """A K x K list of lists: Fractions when exact, floats otherwise."""
    K = len(G)
    if exact:
        return [[Fraction(G[i][j]) for j in range(K)] for i in range(K)]
    # symmetrise: products such as B Gamma B round differently above and below the diagonal
    return [[0.5 * (float(G[i][j]) + float(G[j][i])) for j in range(K)] for i in range(K)]


def _mean(mats):
    n = len(mats)
    K = len(mats[0])
    exact = all(isinstance(m[0][0], Fraction) for m in mats)
    if exact:
        return [[sum((m[i][j] for m in mats), start=Fraction(0)) / n for j in range(K)] for i in range(K)]
    return [[sum(float(m[i][j]) for m in mats) / n for j in range(K)] for i in range(K)]


def _frobenius(G):
    """||G||_F rounded to a double and read back exactly (a rational constant), or 1 for G = 0."""
    value = math.sqrt(sum(float(v) ** 2 for row in G for v in row))
    if value == 0.0:
        return 1
    return Fraction(value) if isinstance(G[0][0], Fraction) else value


def _objective_gram(objective, lam, sens, infd):
    if objective == "robust":
        return sens
    if objective == "faith":
        return infd
    exact = isinstance(sens[0][0], Fraction) and isinstance(infd[0][0], Fraction)
    a, b = _frobenius(sens), _frobenius(infd)
    if not exact:
        lam, a, b = float(lam), float(a), float(b)
        sens = [[float(v) for v in r] for r in sens]
        infd = [[float(v) for v in r] for r in infd]
    K = len(sens)
    return [[lam * sens[i][j] / a + (1 - lam) * infd[i][j] / b for j in range(K)] for i in range(K)]


def _objective_bound(objective, lam, grams, bounds):
    """Entrywise bound of the objective's Gram matrix from the criteria's bounds."""
    if objective == "robust":
        return bounds["sensitivity"]
    if objective == "faith":
        return bounds["infidelity"]
    a, b = float(_frobenius(grams["sensitivity"])), float(_frobenius(grams["infidelity"]))
    return float(lam) * bounds["sensitivity"] / a + (1 - float(lam)) * bounds["infidelity"] / b


def _quad(w, G):
    """w^T G w: exact (a Fraction) when both w and G are rational, else a float."""
    K = len(G)
    if all(isinstance(v, Fraction) for v in w) and all(isinstance(v, Fraction) for row in G for v in row):
        return sum((w[i] * G[i][j] * w[j] for i in range(K) for j in range(K)), start=Fraction(0))
    return sum(float(w[i]) * float(G[i][j]) * float(w[j]) for i in range(K) for j in range(K))


def _metrics_of(w, grams, G):
    return {"sensitivity_avg": _quad(w, grams["sensitivity"]), "infidelity": _quad(w, grams["infidelity"]),
            "objective": _quad(w, G)}


def _agg_var(phis):
    """Rieger & Hansen's AGG-Var of K attributions (K, d): mean / (std + mean(std))."""
    mean = phis.mean(axis=0)
    std = phis.std(axis=0)
    eps = float(std.mean())
    if eps == 0.0:
        return mean  # all methods agree: AGG-Var is their common value
    return mean / (std + eps)


def _agg_var_sensitivity(model, points, calls, var_at_points, scales, radius, baseline, domain, output, n_samples, rng):
    """Monte Carlo E||AGG_var(x + delta) - AGG_var(x)||^2, delta uniform on [-r, r]^d, mean over points."""
    from polyattr.metrics.methods import attribute_call, covering_domain

    d = model.n_inputs
    r = np.full(d, 0.1) if radius is None else np.broadcast_to(np.asarray([float(v) for v in np.atleast_1d(radius)]), (d,))
    values = []
    for x, var_x, betas in zip(points, var_at_points, scales):
        xf = np.array([float(v) for v in x])
        wide, _ = covering_domain(domain, xf, r, d)
        for _ in range(n_samples):
            z = xf + rng.uniform(-r, r)
            phis = np.array([float(b) * np.asarray(attribute_call(model, z, c, baseline=baseline, domain=wide,
                                                                  output=output).values, float)
                             for c, b in zip(calls, betas)])
            values.append(float(np.sum((_agg_var(phis) - var_x) ** 2)))
    values = np.array(values)
    half = 5.0 * float(np.std(values, ddof=1)) / float(np.sqrt(len(values))) if len(values) > 1 else float("inf")
    return {"sensitivity_avg": float(values.mean()), "sensitivity_avg_halfwidth": half, "n_samples": int(len(values))}
