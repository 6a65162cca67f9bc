"""The method registry: one :class:`MethodSpec` per attribution method, registered next to its code.

A spec says everything the rest of polyattr needs to know about a method: the function that
computes it, its typed options (defaults, validation, help), whether it needs a baseline, whether
it is exact, the kind of certificate it writes, the reference it is complete for and the axioms
theory predicts for it, a sampled reference (for the demo) and one line of documentation.  The
CLI flags of ``polyattr attribute``, ``polyattr methods``, the axioms table, the demo table and the
certificate dispatch are all generated from the specs, so a new method is one ``register(...)``
call beside its function and touches no other file.

Options are validated before any computation: :func:`validate_options` rejects an unknown (e.g.
misspelt) option or a value of the wrong type with a :class:`~polyattr.errors.PolyattrError`
naming the option, and fills in the defaults.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Mapping

import numpy as np

from polyattr.errors import PolyattrError

#: The axioms of THEORY.md §2 a spec predicts (True: holds on every network, False: fails on
#: generic networks, None: not applicable or depends on an option).
AXIOMS = ("completeness", "sensitivity", "linearity", "symmetry", "implementation_invariance")

#: What a method's scores may sum to (the completeness check of :mod:`polyattr.theory.axioms`):
#: "baseline" f(x) - f(x'); "uniform_mean" f(x) - E_U f (U uniform on the domain);
#: "background_mean" f(x) - mean of f over the method's points option; "output" f(x);
#: "lower_corner" f(x) - f(lower corner of the domain).
COMPLETENESS_REFERENCES = ("baseline", "uniform_mean", "background_mean", "output", "lower_corner")

#: Certificate kinds (the ``kind`` field of a certificate file, :mod:`polyattr.certify.certificate`).
CERTIFICATE_KINDS = ("measure", "gradient", "path", "box_moments", "propagation")

#: Option types.  "number": a real (float, int, Fraction or a "p/q" string; exact in exact mode);
#: "int"; "bool"; "seed" (an int, None or a numpy Generator); "radius" (a positive number or one per
#: feature); "vector" (d numbers); "points" (an array (n, d) of points of the domain; CLI: a .npy or
#: .csv file); "features" (distinct feature indices in [0, d); CLI: "i,j"); "object" (Python only,
#: e.g. a callable).
OPTION_TYPES = ("number", "int", "bool", "seed", "radius", "vector", "points", "features", "object")

#: Names an option may not take: they are arguments of :func:`polyattr.attribute` or of the CLI.
RESERVED_NAMES = frozenset({"model", "x", "method", "baseline", "domain", "output", "exact", "max_regions",
                            "feature_names", "progress", "lower", "upper", "json", "certificate", "x_file",
                            "csv", "func", "command"})


@dataclass(frozen=True)
class OptionContext:
    """What an option's validation may look at: the number of features, the mode and the domain."""

    d: int
    exact: bool
    domain: Any = None


@dataclass(frozen=True)
class OptionSpec:
    """One option of a method.

    Parameters
    ----------
    name : str
        The keyword of :func:`polyattr.attribute` (and ``--name`` on the command line, with
        underscores as dashes).
    type : str
        One of :data:`OPTION_TYPES`; decides the generic conversion and the CLI parsing.
    default : object
        The value used when the option is not given (None: absent).
    help : str
        One line for ``--help`` and ``polyattr methods``.
    validate : callable, optional
        ``validate(value, OptionContext) -> value``: a method-specific check after the generic
        conversion (raise :class:`PolyattrError` naming the option).
    cli : bool
        Whether the option is a flag of ``polyattr attribute`` (False for Python-only values).
    """

    name: str
    type: str
    default: Any = None
    help: str = ""
    validate: Callable[[Any, OptionContext], Any] | None = None
    cli: bool = True

    def __post_init__(self):
        if not self.name.isidentifier():
            raise PolyattrError(f"option name: expected a Python identifier, got {self.name!r}")
        if self.type not in OPTION_TYPES:
            raise PolyattrError(f"option {self.name!r}: type must be one of {OPTION_TYPES}, got {self.type!r}")
        if self.name in RESERVED_NAMES:
            raise PolyattrError(f"option {self.name!r}: the name is reserved (an argument of attribute or the CLI)")

    def convert(self, value, ctx: OptionContext):
        """The validated value of this option (generic conversion by type, then ``validate``)."""
        value = _CONVERTERS[self.type](self.name, value, ctx)
        return value if self.validate is None else self.validate(value, ctx)

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "default": _json_default(self.default), "help": self.help}


@dataclass(frozen=True)
class MethodSpec:
    """Everything polyattr knows about one attribution method.

    Parameters
    ----------
    name : str
        The contract name (``attribute(model, x, name)``, ``--method name``).
    function : callable
        ``function(ctx: AttributionContext) -> MethodResult`` (:mod:`polyattr.attribution.api`).
    doc : str
        One line: what the method computes.
    options : tuple of OptionSpec
    needs_baseline : bool
        The method reads a baseline x' (zero by default when it lies in the domain).
    exact : bool
        Exact in rational mode (False: an estimate with a stated error bound).
    certificate : str or None
        One of :data:`CERTIFICATE_KINDS`, or None when no exact certificate exists.
    family : callable, optional
        ``family(x, baseline, domain, options) -> list of Measure``: the measures mu_{j,x} of a
        measure method (certificates trace their integrals).
    moment_order : int
        Highest moment of the regions the method uses (2 for a least-squares fit).
    completeness : str
        One of :data:`COMPLETENESS_REFERENCES`.
    axioms : dict
        {axiom: True / False / None} for every axiom of :data:`AXIOMS` (empty: no prediction; the
        method then stays out of the axioms table).
    sampled : callable, optional
        ``sampled(SamplingProblem) -> SampledEstimate``: a sampled or quadrature estimate written
        from the definition, without regions (the demo's reference column;
        :func:`polyattr.attribution.approximate.sampled_attribution`).
    local_rule : callable, optional
        ``local_rule(W (n, d), x (d,)) -> (a, c)``, linear in W, for a method that is exact on each
        region from its gradient alone: on region P, phi_k(x + u) = a_Pk u_k + c_Pk (the metrics
        use it for exact sensitivities).
    hybrid_terms : callable, optional
        ``hybrid_terms(d) -> list of (mask (d,) bool, coefficients (d,) Fractions)`` for a method that
        is a fixed linear combination of model values at hybrid points: phi(z) = sum coefficients *
        f(z on the mask, baseline elsewhere) (the metrics use it for exact sensitivities).
    distribution : callable, optional
        ``distribution(DistributionProblem) -> list``: the distribution functions a -> mu_{j,x}([l, a])
        of the family, for the Riemann-Stieltjes grid of
        :func:`polyattr.attribution.approximate.riemann_stieltjes_grid`.
    demo_options : dict
        Options for a bare run on the demo model (2 inputs, the unit square).
    axiom_options : dict or callable
        Options for the axiom checks, or ``axiom_options(rng, domain) -> dict``.
    tables : bool
        Whether the method can run from (model, x, baseline) alone and so appears in the demo and
        axioms tables (False for a method needing user input, like ``measure``).
    batch_slices : callable, optional
        ``batch_slices(d) -> list of tuples of feature indices``: the coordinate sets S of the
        uniform slices {z_S = x_S} of the domain the method integrates over at each point.  A float
        batch integrates them for all rows at once from the triangulated partition of the domain
        (:mod:`polyattr.attribution.slice_batches`) before the rows run.
    batch_function : callable, optional
        ``batch_function(model, rows, baseline, domain, output, options) -> list of MethodResult``:
        a float batch computed for all rows at once (vectorised over the rows) instead of row by row.
    """

    name: str
    function: Callable
    doc: str
    options: tuple = ()
    needs_baseline: bool = False
    exact: bool = True
    certificate: str | None = None
    family: Callable | None = None
    moment_order: int = 1
    completeness: str = "baseline"
    axioms: Mapping = field(default_factory=dict)
    sampled: Callable | None = None
    distribution: Callable | None = None
    local_rule: Callable | None = None
    hybrid_terms: Callable | None = None
    demo_options: Mapping = field(default_factory=dict)
    axiom_options: Mapping | Callable = field(default_factory=dict)
    tables: bool = True
    batch_slices: Callable | None = None
    batch_function: Callable | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise PolyattrError(f"method name: expected an identifier, got {self.name!r}")
        if not callable(self.function):
            raise PolyattrError(f"method {self.name!r}: function must be callable")
        object.__setattr__(self, "options", tuple(self.options))
        names = [o.name for o in self.options]
        if len(set(names)) != len(names):
            raise PolyattrError(f"method {self.name!r}: option names repeat: {names}")
        if self.certificate is not None and self.certificate not in CERTIFICATE_KINDS:
            raise PolyattrError(f"method {self.name!r}: certificate kind must be one of {CERTIFICATE_KINDS}")
        if self.certificate is not None and not self.exact:
            raise PolyattrError(f"method {self.name!r}: an inexact method cannot have an exact certificate")
        if self.certificate == "measure" and self.family is None:
            raise PolyattrError(f"method {self.name!r}: a measure certificate needs the method's family")
        if self.completeness not in COMPLETENESS_REFERENCES:
            raise PolyattrError(f"method {self.name!r}: completeness must be one of {COMPLETENESS_REFERENCES}")
        if self.axioms and set(self.axioms) != set(AXIOMS):
            raise PolyattrError(f"method {self.name!r}: axiom predictions must cover exactly {AXIOMS}")
        unknown = set(self.demo_options) - set(names)
        if unknown:
            raise PolyattrError(f"method {self.name!r}: demo_options {sorted(unknown)} are not options")

    def option(self, name: str) -> OptionSpec:
        for o in self.options:
            if o.name == name:
                return o
        raise PolyattrError(f"option {name!r} is not an option of method {self.name!r}")

    def to_json(self) -> dict:
        """The entry of ``polyattr methods --json``."""
        return {"name": self.name, "exact": self.exact, "needs_baseline": self.needs_baseline,
                "options": [o.to_json() for o in self.options], "doc": self.doc}


_SPECS: dict[str, MethodSpec] = {}
_BUILTIN_MODULES = ("polyattr.attribution.gradient_methods", "polyattr.attribution.measure_methods",
                    "polyattr.attribution.propagation", "polyattr.attribution.gaussian_methods")
_loaded = False


def register(spec: MethodSpec, *, replace: bool = False) -> MethodSpec:
    """Add ``spec`` to the registry (a name may be registered once unless ``replace``)."""
    if not isinstance(spec, MethodSpec):
        raise PolyattrError(f"spec: expected a MethodSpec, got {type(spec).__name__}")
    if spec.name in _SPECS and not replace and _SPECS[spec.name] is not spec:
        raise PolyattrError(f"method {spec.name!r} is already registered")
    _check_option_types_agree(spec)
    _SPECS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a method (for tests and plug-ins that register temporary methods)."""
    _SPECS.pop(name, None)


def _check_option_types_agree(spec: MethodSpec) -> None:
    # one CLI flag per option name: methods sharing a name must agree on its type
    for other in _SPECS.values():
        if other.name == spec.name:
            continue
        for o in spec.options:
            for p in other.options:
                if o.name == p.name and o.type != p.type:
                    raise PolyattrError(f"option {o.name!r} of method {spec.name!r} has type {o.type!r}, "
                                        f"but method {other.name!r} declares it {p.type!r}")


def load_builtin_methods() -> None:
    """Import the modules that register polyattr's own methods (once)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)


def method_specs() -> list[MethodSpec]:
    """Every registered spec, sorted by name."""
    load_builtin_methods()
    return [_SPECS[n] for n in sorted(_SPECS)]


def method_names() -> list[str]:
    return [s.name for s in method_specs()]


def get_method(name) -> MethodSpec:
    """The spec registered under ``name``; a PolyattrError listing the names otherwise."""
    load_builtin_methods()
    spec = _SPECS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise PolyattrError(f"method: unknown method {name!r}; expected one of {', '.join(sorted(_SPECS))}")
    return spec


class SpecView(Mapping):
    """A read-only {method name: value} view of one field of the registered specs, read live.

    For modules that used to keep their own per-method tables: ``SpecView(lambda s: s.completeness)``
    always agrees with the registry, including methods registered later.
    """

    def __init__(self, read: Callable[[MethodSpec], Any], include: Callable[[MethodSpec], bool] = lambda s: True):
        self._read, self._include = read, include

    def _specs(self) -> dict:
        return {s.name: s for s in method_specs() if self._include(s)}

    def __getitem__(self, name):
        return self._read(self._specs()[name])

    def __iter__(self):
        return iter(self._specs())

    def __len__(self) -> int:
        return len(self._specs())


def validate_options(spec: MethodSpec, options: Mapping, ctx: OptionContext) -> dict:
    """Check ``options`` against the spec before any computation; return them converted, defaults filled.

    Raises
    ------
    PolyattrError
        An option the method does not have (listing the ones it has), or a value of the wrong type.
    """
    known = {o.name: o for o in spec.options}
    unknown = sorted(set(options) - set(known))
    if unknown:
        have = ", ".join(sorted(known)) or "none"
        raise PolyattrError(f"options: {unknown} are not options of method {spec.name!r} (its options: {have})")
    out = {}
    for name, opt in known.items():
        if name in options and options[name] is not None:
            out[name] = opt.convert(options[name], ctx)
        elif opt.default is not None:
            out[name] = opt.convert(opt.default, ctx)
    return out


def cli_options() -> dict[str, tuple[OptionSpec, list[str]]]:
    """{option name: (spec of the option, methods that have it)} over the CLI options of every method."""
    out: dict[str, tuple[OptionSpec, list[str]]] = {}
    for spec in method_specs():
        for o in spec.options:
            if o.cli:
                out.setdefault(o.name, (o, []))[1].append(spec.name)
    return out


# ----------------------------------------------------------------------------- conversions
def _number(name, value, ctx: OptionContext):
    if isinstance(value, (bool, np.bool_)):
        raise PolyattrError(f"{name}: expected a number, got {value!r}")
    try:
        if isinstance(value, str):
            value = Fraction(value.strip())  # "1/1000" and decimals, exactly
        q = Fraction(value) if ctx.exact else float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        raise PolyattrError(f"{name}: expected a number, got {value!r}") from None
    if not np.isfinite(float(q)):
        raise PolyattrError(f"{name}: expected a finite number, got {value!r}")
    return q


def _int(name, value, ctx):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise PolyattrError(f"{name}: expected an integer, got {value!r}")
    return int(value)


def _bool(name, value, ctx):
    if not isinstance(value, (bool, np.bool_)):
        raise PolyattrError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _seed(name, value, ctx):
    if isinstance(value, np.random.Generator):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise PolyattrError(f"{name}: expected a non-negative integer seed or a numpy Generator, got {value!r}")
    return int(value)


def _radius(name, value, ctx: OptionContext):
    if np.ndim(value) == 0 and not isinstance(value, (list, tuple)):
        r = [_number(name, value, ctx)] * ctx.d
    else:
        r = _vector(name, value, ctx)
    if any(not v > 0 for v in r):
        raise PolyattrError(f"{name}: expected positive half-widths, got {[str(v) for v in r]}")
    return np.array(r, dtype=object if ctx.exact else float)


def _vector(name, value, ctx: OptionContext):
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    try:
        items = list(np.ravel(np.asarray(value, dtype=object)))
    except (TypeError, ValueError):
        raise PolyattrError(f"{name}: expected {ctx.d} numbers") from None
    if np.ndim(np.asarray(value, dtype=object)) != 1 or len(items) != ctx.d:
        raise PolyattrError(f"{name}: expected {ctx.d} numbers (one per feature), got shape {np.shape(value)}")
    return np.array([_number(f"{name}[{i}]", v, ctx) for i, v in enumerate(items)],
                    dtype=object if ctx.exact else float)


def _features(name, value, ctx: OptionContext):
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = [value]
    try:
        items = [_int(f"{name}[{i}]", v, ctx) for i, v in enumerate(value)]
    except TypeError:
        raise PolyattrError(f"{name}: expected feature indices in [0, {ctx.d}), got {value!r}") from None
    if any(not 0 <= i < ctx.d for i in items) or len(set(items)) != len(items):
        raise PolyattrError(f"{name}: expected distinct feature indices in [0, {ctx.d}), got {items}")
    return tuple(items)


def _points(name, value, ctx: OptionContext):
    try:
        arr = np.asarray(value, dtype=object)
    except (TypeError, ValueError):
        raise PolyattrError(f"{name}: expected an array of numbers of shape (n, {ctx.d})") from None
    if arr.ndim == 1 and arr.shape[0] == ctx.d:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != ctx.d or arr.shape[0] == 0:
        raise PolyattrError(f"{name}: expected an array of shape (n, {ctx.d}) with n >= 1, got shape {arr.shape}")
    rows = []
    for i, row in enumerate(arr):
        v = np.array([_number(f"{name}[{i}]", c, ctx) for c in row], dtype=object if ctx.exact else float)
        if ctx.domain is not None:
            v = ctx.domain.check_point(v, f"{name}[{i}]")
        rows.append(v)
    return np.array(rows, dtype=object if ctx.exact else float)


def _object(name, value, ctx):
    return value


_CONVERTERS = {"number": _number, "int": _int, "bool": _bool, "seed": _seed, "radius": _radius,
               "vector": _vector, "points": _points, "features": _features, "object": _object}


def _json_default(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}"
    if isinstance(v, np.ndarray):
        return v.tolist()
    return repr(v)
