"""Gram matrices of the quality criteria of several attributions at one input (THEORY.md §6).

With convex weights w (w >= 0, sum w = 1) and phi^w = sum_i w_i phi^i, both criteria are
homogeneous quadratics in w: Q(phi^w) = w^T Gamma w, Gamma_ii = Q(phi^i).

* ``criterion="infidelity"``: Gamma_ij = E[(I.phi_i - Df)(I.phi_j - Df)] (:mod:`polyattr.metrics.quadratic`);
* ``criterion="sensitivity"``: Gamma_ij = E[(phi_i(x) - phi_i(x + delta)) . (phi_j(x) - phi_j(x + delta))]
  (:mod:`polyattr.metrics.sensitivity`).

Both are exact (Fractions) in exact mode whenever the perturbation law and the methods allow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.geometry.regions import DEFAULT_MAX_REGIONS
from polyattr.metrics.methods import MethodCall, as_method_calls, attribute_call
from polyattr.metrics.quadratic import QuadraticForm, infidelity_quadratic_form
from polyattr.metrics.sensitivity import DEFAULT_SENSITIVITY_SAMPLES, sensitivity
from polyattr.models.protocol import PiecewiseAffineModel, require_model

CRITERIA = ("infidelity", "sensitivity")


@dataclass(frozen=True, eq=False)
class GramMatrix:
    """Gamma (K, K) of one criterion at one input, for K attributions.

    Attributes
    ----------
    matrix : ndarray (K, K)
        Fractions (object array) when ``exact``, floats otherwise.
    bound : ndarray (K, K)
        Entrywise bound on |matrix - true Gamma| (0 when exact; a confidence half-width when
        ``kind == "sampled"``).
    exact : bool
    kind : "deterministic" or "sampled"
    criterion : "infidelity" or "sensitivity"
    labels : list of str
        The methods (or "phi0", "phi1", ... for raw vectors).
    attributions : list of arrays
        The attribution vectors phi_i at x.
    n_samples, seed : draws of a sampled Gram (None when deterministic).
    form : QuadraticForm or None
        For infidelity: the (M, m, s) it came from.
    """

    matrix: np.ndarray
    bound: np.ndarray
    exact: bool
    kind: str
    criterion: str
    labels: list
    attributions: list
    n_samples: int | None = None
    seed: int | None = None
    form: QuadraticForm | None = None
    info: dict = field(default_factory=dict)

    def value(self, weights):
        """w^T Gamma w (exact when both are exact) -- the criterion of the mix sum_i w_i phi_i when sum w = 1."""
        w = np.asarray(weights, dtype=object if self.exact else float)
        if w.shape != (len(self.labels),):
            raise PolyattrError(f"weights: expected {len(self.labels)} weights, got shape {w.shape}")
        if self.exact:
            w = np.array([Fraction(v) for v in w], dtype=object)
        return w @ self.matrix @ w


def gram(model: PiecewiseAffineModel, x, attributions, criterion: str = "infidelity", radius=None, *, perturbation=None,
         baseline=None, domain=None, output: int | None = None, exact: bool = False,
         n_samples: int | None = None, rng=None, max_regions: int | None = DEFAULT_MAX_REGIONS) -> GramMatrix:
    """The exact K x K Gram matrix of ``criterion`` for K attributions at ``x``.

    Parameters
    ----------
    model : PiecewiseAffineModel
    x : array-like (d,)
    attributions : sequence
        Method names / (name, options) pairs / MethodCalls (computed at x with
        :func:`polyattr.attribute`), or -- for infidelity only -- attribution vectors (d,) as
        numbers or Fractions.  Sensitivity needs methods (it recomputes them at x + delta).
    criterion : "infidelity" or "sensitivity"
    radius : number or (d,) numbers
        Half-width of the uniform box perturbation (default 0.1).
    perturbation : for infidelity, see :func:`infidelity_quadratic_form` (default the uniform box).
    baseline, domain, output : passed to :func:`polyattr.attribute`.
    exact : bool
        Fractions throughout where the criterion allows it.
    n_samples, rng : draws where sampling is needed (subset masks beyond the budget; sensitivity of
        methods without an exact local rule).

    Returns
    -------
    GramMatrix
    """
    if criterion not in CRITERIA:
        raise PolyattrError(f"criterion: expected one of {CRITERIA}, got {criterion!r}")
    require_model(model)
    items = list(attributions) if not isinstance(attributions, str) else [attributions]
    if not items:
        raise PolyattrError("attributions: expected at least one attribution or method")
    k = model.check_output(output)
    if criterion == "sensitivity":
        try:
            calls = as_method_calls(items)
        except PolyattrError:
            raise PolyattrError("attributions: sensitivity needs method names (it recomputes them at perturbed inputs)") from None
        res = sensitivity(model, x, calls, radius, baseline=baseline, domain=domain, output=k, exact=exact,
                          n_samples=n_samples or DEFAULT_SENSITIVITY_SAMPLES, rng=rng, max_regions=max_regions)
        return GramMatrix(res.gram, res.gram_bound, res.exact, res.kind, criterion, res.labels, [], res.n_samples,
                          res.seed, None, dict(res.info))
    labels, vectors, errors = [], [], []
    for i, item in enumerate(items):
        if isinstance(item, (str, tuple, MethodCall)):
            call = as_method_calls([item])[0]
            res = attribute_call(model, x, call, baseline=baseline, domain=domain, output=k, exact=exact,
                                 max_regions=max_regions)
            labels.append(call.label)
            vectors.append(res.values)
            errors.append(0.0 if res.exact else float(res.error_bound))
        else:
            labels.append(f"phi{i}")
            vectors.append(np.asarray(item, dtype=object))
            errors.append(0.0)
    kwargs = {} if n_samples is None else {"n_samples": n_samples}
    form = infidelity_quadratic_form(model, x, radius, perturbation=perturbation, output=k, exact=exact,
                                     max_regions=max_regions, rng=rng, **kwargs)
    G, bound = form.gram(vectors, errors)
    is_exact = form.exact and not any(errors)
    if not is_exact and G.dtype == object:
        G = np.array([[float(v) for v in row] for row in G])
    return GramMatrix(G, bound, is_exact, form.kind, criterion, labels, vectors, form.n_samples, form.seed, form,
                      dict(form.info))
