"""``attribute(model, x, method, ...)``: input validation at the boundary, then dispatch to a method.

A method is a function ``method(ctx) -> MethodResult`` registered under its contract name with
:func:`register_method`.  Measure methods build a family of measures mu_{j,x} (one per feature)
and integrate the model against each; gradient and propagation methods use exact rules over the
regions they cross.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np

from polyattr.attribution.integrals import Integrator
from polyattr.attribution.result import Attribution
from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box, as_domain, as_vector
from polyattr.geometry.regions import DEFAULT_MAX_REGIONS
from polyattr.memory import memory_budget
from polyattr.models.ranges import check_float_range
from polyattr.models.relu import ReLUNetwork


@dataclass
class AttributionContext:
    """Everything a method needs, validated: the model, the point, the baseline, the domain."""

    model: ReLUNetwork  # float or exact, matching ``exact``
    x: np.ndarray
    baseline: np.ndarray | None
    domain: Box
    output: int
    exact: bool
    options: dict
    integrator: Integrator
    used_options: set = field(default_factory=set)

    @property
    def d(self) -> int:
        return self.model.n_inputs

    def option(self, name: str, default=None):
        self.used_options.add(name)
        return self.options.get(name, default)

    def require_baseline(self, method: str) -> np.ndarray:
        if self.baseline is None:
            raise PolyattrError(f"baseline: method {method!r} needs a baseline (e.g. baseline=[0, ..., 0])")
        return self.baseline

    def f(self, z):
        return self.model(z, output=self.output)

    def zero(self):
        return Fraction(0) if self.exact else 0.0


@dataclass
class MethodResult:
    values: list | np.ndarray
    error_bound: float = 0.0
    base_value: object = None
    exact: bool | None = None  # None: the context's exact flag
    info: dict = field(default_factory=dict)


_METHODS: dict[str, Callable[[AttributionContext], MethodResult]] = {}
_NEEDS_BASELINE: dict[str, bool] = {}


def register_method(name: str, needs_baseline: bool = False):
    """Decorator: register ``fn(ctx) -> MethodResult`` under ``name``."""

    def wrap(fn):
        _METHODS[name] = fn
        _NEEDS_BASELINE[name] = needs_baseline
        return fn

    return wrap


def available_methods() -> list[str]:
    _load_methods()
    return sorted(_METHODS)


def _load_methods():
    # importing the method modules registers them
    from polyattr.attribution import gradient_methods, measure_methods, propagation  # noqa: F401


def attribute(
    model: ReLUNetwork,
    x,
    method: str,
    baseline=None,
    domain=None,
    *,
    output: int | None = None,
    exact: bool = False,
    measures=None,
    max_regions: int | None = DEFAULT_MAX_REGIONS,
    feature_names=None,
    max_memory=None,
    **options,
) -> Attribution:
    """Attribution scores of ``model`` at ``x`` by ``method``, computed exactly over linear regions.

    Parameters
    ----------
    model : ReLUNetwork
    x : array-like (d,)
        The input to explain; must lie in ``domain``.
    method : str
        One of :func:`available_methods` (the DESIGN.md contract names).
    baseline : array-like (d,), optional
        Reference point of the baseline methods (ig, occlusion, shapley, deeplift, ...).  When
        omitted they use the zero vector if it lies in the domain, and raise otherwise.
    domain : None, (lower, upper) or Box
        Default the unit cube [0, 1]^d.
    output : int, optional
        Which output of a multi-output model.
    exact : bool
        Rational arithmetic end to end; values are Fractions.
    measures : callable or sequence, optional
        For ``method="measure"``: the family mu_{j,x}, a sequence of d Measures or a callable
        ``(x, j) -> Measure``.
    max_regions : int or None
        Region budget per support.
    max_memory : int, str or None
        Memory budget in bytes (or a size such as "4G"); a step that would allocate more raises
        :class:`~polyattr.errors.MemoryBudgetExceeded`.  Default: half the available memory.
    **options
        Method options (``radius`` for smoothgrad_uniform and lime_uniform, ``background`` for
        expected_gradients, ``epsilon`` for epsilon_lrp, ...).  Unknown options raise.

    Returns
    -------
    Attribution
    """
    with memory_budget(max_memory):
        return _attribute(model, x, method, baseline, domain, output, exact, measures, max_regions,
                          feature_names, options)


def _attribute(model, x, method, baseline, domain, output, exact, measures, max_regions, feature_names,
               options) -> Attribution:
    start = time.perf_counter()
    _load_methods()
    if not isinstance(model, ReLUNetwork):
        raise PolyattrError(f"model: expected a ReLUNetwork, got {type(model).__name__}")
    if not isinstance(exact, (bool, np.bool_)):
        raise PolyattrError(f"exact: expected True or False, got {exact!r:.60}")
    if not isinstance(method, str):
        raise PolyattrError(f"method: expected a method name (str), got {type(method).__name__} {method!r:.60}; "
                            f"expected one of {', '.join(sorted(_METHODS))}")
    if method not in _METHODS:
        raise PolyattrError(f"method: unknown method {method!r}; expected one of {', '.join(sorted(_METHODS))}")
    k = model.check_output(output)
    d = model.n_inputs
    domain = as_domain(domain, d, exact=exact)
    if not isinstance(domain, Box):
        raise PolyattrError(f"domain: attributions are defined on a box domain, got {type(domain).__name__}")
    x = domain.check_point(x, "x")
    if baseline is not None:
        baseline = domain.check_point(baseline, "baseline")
    elif _NEEDS_BASELINE[method]:
        zero = np.zeros(d)
        if not domain.contains(zero):
            raise PolyattrError(f"baseline: method {method!r} needs a baseline, and 0 is outside the domain; pass baseline=...")
        baseline = as_vector(zero, "baseline", exact=exact)
    if measures is not None:
        options["measures"] = measures
    if feature_names is not None and (isinstance(feature_names, str) or not hasattr(feature_names, "__len__")):
        raise PolyattrError(f"feature_names: expected a sequence of {d} names, got {type(feature_names).__name__}")
    if feature_names is not None and len(feature_names) != d:
        raise PolyattrError(f"feature_names: expected {d} names, got {len(feature_names)}")
    net = model.to_exact() if exact else model.to_float()
    if not exact:  # overflow would give inf/NaN values and an infinite error bound: refuse up front
        check_float_range(net.weights, net.biases, np.asarray(domain.lower, float), np.asarray(domain.upper, float))
    integrator = Integrator(net, k, exact=exact, max_regions=max_regions)
    ctx = AttributionContext(net, x, baseline, domain, k, exact, dict(options), integrator)
    result = _METHODS[method](ctx)
    unknown = set(options) - ctx.used_options
    if unknown:
        raise PolyattrError(f"options: {sorted(unknown)} are not options of method {method!r}")
    is_exact = exact if result.exact is None else result.exact
    if is_exact:
        values = np.array([Fraction(v) for v in result.values], dtype=object)
    else:
        values = np.array([float(v) for v in result.values], dtype=float)
        if not np.all(np.isfinite(values)):
            raise PolyattrError(f"method {method!r} produced non-finite values; this is a bug, please report it")
    if values.shape != (d,):
        raise PolyattrError(f"method {method!r} returned {values.shape} values for {d} features")
    regions = integrator.regions_used + int(result.info.pop("extra_regions", 0))
    return Attribution(
        values=values,
        base_values=result.base_value,
        data=x,
        method=method,
        exact=is_exact,
        error_bound=0.0 if is_exact else float(result.error_bound),
        regions=regions,
        seconds=time.perf_counter() - start,
        output=k,
        feature_names=list(feature_names) if feature_names is not None else None,
        info=result.info,
    )


def integrate_family(ctx: AttributionContext, measures) -> MethodResult:
    """Integrate the model against a family of measures, one per feature."""
    values, bound = [], 0.0
    for mu in measures:
        v, e = ctx.integrator.integrate(mu)
        values.append(v)
        bound = max(bound, e)
    return MethodResult(values, bound)
