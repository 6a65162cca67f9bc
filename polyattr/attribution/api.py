"""``attribute(model, x, method, ...)``: input validation at the boundary, then dispatch to a method.

A method is a function ``method(ctx) -> MethodResult`` described by a
:class:`~polyattr.attribution.registry.MethodSpec` registered next to it.  Its options are checked
against the spec before anything is computed.  Measure methods build a family of measures mu_{j,x}
(one per feature) and integrate the model against each; gradient and propagation methods use exact
rules over the regions they cross.  A batch X (n, d) runs the method row by row with one
:class:`~polyattr.attribution.integrals.Integrator`, so the rows share every partition they need.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
import numpy as np

from polyattr.attribution.integrals import Integrator
from polyattr.attribution.registry import (MethodSpec, OptionContext, get_method, method_names, register,
                                           validate_options)
from polyattr.attribution.result import Attribution
from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box, as_domain, as_vector
from polyattr.geometry.regions import DEFAULT_MAX_REGIONS
from polyattr.memory import memory_budget
from polyattr.models.protocol import PiecewiseAffineModel, require_model
from polyattr.models.ranges import check_float_range


@dataclass
class AttributionContext:
    """Everything a method needs, validated: the model, the point, the baseline, the domain."""

    model: PiecewiseAffineModel  # float or exact, matching ``exact``
    x: np.ndarray
    baseline: np.ndarray | None
    domain: Box
    output: int
    exact: bool
    options: dict
    integrator: Integrator

    @property
    def d(self) -> int:
        return self.model.n_inputs

    def option(self, name: str, default=None):
        """The validated value of option ``name`` (its spec's default filled in), else ``default``."""
        return self.options.get(name, default)

    def require_baseline(self, method: str) -> np.ndarray:
        if self.baseline is None:
            raise PolyattrError(f"baseline: method {method!r} needs a baseline (e.g. baseline=[0, ..., 0])")
        return self.baseline

    def f(self, z):
        return self.model(z, output=self.output)

    @property
    def field(self):
        """The number field of the computation (the model's: FLOAT64 or RATIONAL)."""
        return self.model.field

    def zero(self):
        return self.field.zero()


@dataclass
class MethodResult:
    values: list | np.ndarray
    error_bound: float = 0.0
    base_value: object = None
    exact: bool | None = None  # None: the context's exact flag
    info: dict = field(default_factory=dict)


def register_method(name: str, needs_baseline: bool = False):
    """Decorator kept for plug-ins written against the old interface: register a spec with no options.

    Prefer :func:`polyattr.attribution.registry.register` with a full :class:`MethodSpec`.
    """

    def wrap(fn):
        register(MethodSpec(name=name, function=fn, doc=(fn.__doc__ or name).strip().splitlines()[0],
                            needs_baseline=needs_baseline))
        return fn

    return wrap


def available_methods() -> list[str]:
    """The names of every registered method, sorted."""
    return method_names()


def attribute(
    model: PiecewiseAffineModel,
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
    progress: bool | None = None,
    certify: bool = False,
    client=None,
    max_memory=None,
    **options,
) -> Attribution:
    """Attribution scores of ``model`` at ``x`` by ``method``, computed exactly over linear regions.

    Parameters
    ----------
    model : PiecewiseAffineModel
    x : array-like (d,) or (n, d)
        The input to explain, or a batch of n inputs (one per row); each must lie in ``domain``.
    method : str
        One of :func:`available_methods` (``polyattr methods`` lists them with their options).
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
    feature_names : list of str, optional
    progress : bool or None
        A progress bar over the rows of a batch (None: only for batches of more than 100 rows
        that are still running after a few seconds; False never).
    client : distributed.Client, optional
        Compute a batch's rows in chunks as dask.distributed tasks on this cluster
        (:mod:`polyattr.attribution.distributed`); the values are those of a local run.
    certify : bool
        Implies ``exact``; one point only.  Record during the computation what a certificate
        needs (regions, moments, piece integrals, segment pieces) in ``info["certification"]``,
        for :func:`polyattr.certify.certificate.write_certificate`.
    max_memory : int, str or None
        Memory budget in bytes (or a size such as "4G"); a step that would allocate more raises
        :class:`~polyattr.errors.MemoryBudgetExceeded`.  Default: half the available memory.
    **options
        Method options (``radius`` for smoothgrad_uniform and lime_uniform, ``background`` for
        expected_gradients, ``epsilon`` for epsilon_lrp, ...; see the method's spec).  Unknown
        options and values of the wrong type raise before anything is computed.

    Returns
    -------
    Attribution
        For one point: values (d,), base_values a number or None.  For a batch (n, d): values
        (n, d), base_values (n,) (or None), data (n, d); ``error_bound`` bounds every entry.
        Every partition a batch needs is enumerated once and reused across its rows.
    """
    if client is not None and _is_batch(x):
        from polyattr.attribution.distributed import attribute_on_cluster

        get_method(method)  # an unknown name raises here, not on a worker
        return attribute_on_cluster(client, model, x, method, baseline=baseline, domain=domain, output=output,
                                    exact=exact, measures=measures, max_regions=max_regions,
                                    feature_names=feature_names, progress=False, certify=certify, max_memory=max_memory, **options)

    if max_memory is None:
        from polyattr.memory import current_budget

        # the budget in force when the call starts (memory.py), read once: a batch checks thousands
        # of allocations, and re-reading /proc/meminfo for each cost milliseconds per slice
        max_memory = current_budget()
    with memory_budget(max_memory):
        return _attribute(model, x, method, baseline, domain, output, exact, measures, max_regions,
                          feature_names, progress, certify, options)


def _attribute(model, x, method, baseline, domain, output, exact, measures, max_regions, feature_names,
               progress, certify, options) -> Attribution:
    start = time.perf_counter()
    spec = get_method(method)
    require_model(model)
    if not isinstance(exact, (bool, np.bool_)):
        raise PolyattrError(f"exact: expected True or False, got {exact!r:.60}")
    exact = bool(exact or certify)
    k = model.check_output(output)
    d = model.n_inputs
    domain = as_domain(domain, d, exact=exact)
    if not isinstance(domain, Box):
        raise PolyattrError(f"domain: attributions are defined on a box domain, got {type(domain).__name__}")
    batch = _is_batch(x)
    rows = _check_batch(domain, x) if batch else [domain.check_point(x, "x")]
    if certify and batch:
        raise PolyattrError("certify: certificates are written for one input x, not a batch")
    if baseline is not None:
        baseline = domain.check_point(baseline, "baseline")
    elif spec.needs_baseline:
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
    options = validate_options(spec, options, OptionContext(d, exact, domain))
    net = model.to_exact() if exact else model.to_float()
    if not exact:  # overflow would give inf/NaN values and an infinite error bound: refuse up front
        check_float_range(net.weights, net.biases, np.asarray(domain.lower, float), np.asarray(domain.upper, float),
                          negative_slopes=getattr(net, "negative_slopes", None))
    integrator = Integrator(net, k, exact=exact, max_regions=max_regions, record=bool(certify))
    if batch and len(rows) > 1:
        integrator.reuse_box = domain  # slices and lines of the box are cut from its stored partition
        if spec.batch_slices is not None and not exact:
            from polyattr.attribution.slice_batches import prefill_slices

            # every row's slices integrated at once from the triangulated box partition
            prefill_slices(integrator, domain, rows, spec.batch_slices(d))
    results = []
    if batch and len(rows) > 1 and not exact and spec.batch_function is not None:
        # vectorised over the rows (e.g. baseline Shapley: every row's hybrid points in one pass)
        for x_row, r in zip(rows, spec.batch_function(net, rows, baseline, domain, k, dict(options))):
            ctx = AttributionContext(net, x_row, baseline, domain, k, exact, dict(options), integrator)
            results.append(_finish(spec, ctx, r))
        rows_to_run = []
    else:
        rows_to_run = rows
    for x_row in _progress(rows_to_run, progress, batch):
        ctx = AttributionContext(net, x_row, baseline, domain, k, exact, dict(options), integrator)
        results.append(_finish(spec, ctx, spec.function(ctx)))
    regions = integrator.regions_used + sum(int(r.info.pop("extra_regions", 0)) for r in results)
    names = list(feature_names) if feature_names is not None else None
    seconds = time.perf_counter() - start
    if not batch:
        r = results[0]
        if certify:  # what the certificate writer reads: nothing of the computation is redone
            r.info["certification"] = {"model": net, "domain": domain, "baseline": baseline,
                                       "options": dict(options), "integrator": integrator}
        return Attribution(values=r.values, base_values=r.base_value, data=rows[0], method=method, exact=r.exact,
                           error_bound=0.0 if r.exact else float(r.error_bound), regions=regions, seconds=seconds,
                           output=k, feature_names=names, info=r.info)
    is_exact = all(r.exact for r in results)
    dtype = object if is_exact else float
    values = np.array([r.values for r in results], dtype=dtype).reshape(len(rows), d)
    bases = [r.base_value for r in results]
    base_values = None if all(b is None for b in bases) else np.array(
        [b if is_exact else (np.nan if b is None else float(b)) for b in bases], dtype=dtype)
    return Attribution(values=values, base_values=base_values, data=np.array(rows, dtype=rows[0].dtype),
                       method=method, exact=is_exact,
                       error_bound=0.0 if is_exact else max(float(r.error_bound) for r in results),
                       regions=regions, seconds=seconds, output=k, feature_names=names,
                       info={"rows": [r.info for r in results], "enumerations": integrator.enumerations,
                             "cuts": integrator.cuts})


def _is_batch(x) -> bool:
    try:
        return np.ndim(np.asarray(x, dtype=object)) == 2
    except (TypeError, ValueError):
        return False


def _check_batch(domain, X) -> list:
    arr = np.asarray(X, dtype=object)
    if arr.shape[0] == 0:
        raise PolyattrError(f"x: expected a batch of shape (n, {domain.dim}) with n >= 1, got shape {arr.shape}")
    return [domain.check_point(row, f"x[{i}]") for i, row in enumerate(arr)]


#: batches longer than this get a progress bar by default (it appears after a few seconds)
PROGRESS_MIN_ROWS = 100


def _progress(rows, progress, batch):
    show = progress if progress is not None else (batch and len(rows) > PROGRESS_MIN_ROWS)
    if not show:
        return rows
    from tqdm.auto import tqdm

    # delay: a batch that finishes quickly prints nothing (quiet unless asked or long)
    return tqdm(rows, desc="attribute", unit="point", delay=0 if progress else 5.0, leave=False)


@dataclass
class _RowResult:
    values: np.ndarray
    base_value: object
    exact: bool
    error_bound: float
    info: dict


def _finish(spec: MethodSpec, ctx: AttributionContext, result: MethodResult) -> _RowResult:
    """Check and convert one method result: Fractions when exact, finite floats otherwise."""
    is_exact = ctx.exact if result.exact is None else result.exact
    if is_exact:
        values = np.array([Fraction(v) for v in result.values], dtype=object)
    else:
        values = np.array([float(v) for v in result.values], dtype=float)
        if not np.all(np.isfinite(values)):
            raise PolyattrError(f"method {spec.name!r} produced non-finite values; this is a bug, please report it")
    if values.shape != (ctx.d,):
        raise PolyattrError(f"method {spec.name!r} returned {values.shape} values for {ctx.d} features")
    return _RowResult(values, result.base_value, is_exact, 0.0 if is_exact else float(result.error_bound), result.info)


def integrate_family(ctx: AttributionContext, measures) -> MethodResult:
    """Integrate the model against a family of measures, one per feature."""
    values, bound = [], 0.0
    for mu in measures:
        v, e = ctx.integrator.integrate(mu)
        values.append(v)
        bound = max(bound, e)
    return MethodResult(values, bound)
