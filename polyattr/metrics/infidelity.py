"""Infidelity (Yeh et al. 2019) and its scale-optimal variant as :class:`MetricValue` results."""

from __future__ import annotations

from fractions import Fraction

from polyattr.geometry.regions import DEFAULT_MAX_REGIONS
from polyattr.metrics.quadratic import QuadraticForm, infidelity_quadratic_form
from polyattr.metrics.result import CONFIDENCE_SIGMAS, MetricValue


def _form(model, x, radius, perturbation, output, exact, max_regions, n_samples, rng, form):
    if form is not None:
        return form
    kwargs = {} if n_samples is None else {"n_samples": n_samples}
    return infidelity_quadratic_form(model, x, radius, perturbation=perturbation, output=output, exact=exact,
                                     max_regions=max_regions, rng=rng, **kwargs)


def _result(name, form: QuadraticForm, value, bound, info) -> MetricValue:
    exact = form.exact and isinstance(value, Fraction) and bound == 0
    if form.kind == "sampled":
        info = dict(info, sigmas=CONFIDENCE_SIGMAS)
    return MetricValue(name, value if exact else float(value), exact, float(bound), kind=form.kind,
                       n_samples=form.n_samples, seed=form.seed, info=dict(info, perturbation=form.perturbation))


def infidelity(model, x, phi, radius=None, *, perturbation=None, output=None, exact: bool = False,
               phi_error: float = 0.0, max_regions=DEFAULT_MAX_REGIONS, n_samples=None, rng=None,
               form: QuadraticForm | None = None) -> MetricValue:
    """E_I[(I.phi - (f(x) - f(x - I)))^2] (default I uniform on [-0.1, 0.1]^d, no clipping).

    Exact (a Fraction) in exact mode with an exact ``phi``; ``phi_error`` (a bound on the error of
    each phi_j) enters the stated bound.  See :func:`infidelity_quadratic_form` for the laws.
    """
    form = _form(model, x, radius, perturbation, output, exact, max_regions, n_samples, rng, form)
    value, bound = form.value(phi, phi_error)
    return _result("infidelity", form, value, bound, {})


def infidelity_optimal_scale(model, x, phi, radius=None, *, perturbation=None, output=None, exact: bool = False,
                             phi_error: float = 0.0, max_regions=DEFAULT_MAX_REGIONS, n_samples=None, rng=None,
                             form: QuadraticForm | None = None) -> MetricValue:
    """min over beta of E[(beta I.phi - Df)^2] (Yeh et al.'s normalised infidelity, Captum's
    ``normalize=True``); the optimal beta is ``info["beta"]``."""
    form = _form(model, x, radius, perturbation, output, exact, max_regions, n_samples, rng, form)
    beta, value, bound = form.optimal_scale(phi, phi_error)
    return _result("infidelity_optimal_scale", form, value, bound, {"beta": beta})
