"""Attributions as exact piecewise closed forms of one parameter (THEORY.md §8).

``curve(model, x, method, vary=..., over=(a, b))`` returns a :class:`SymbolicCurve`: the
attribution of every feature as a sympy expression of the varied parameter t on each piece between
exact breakpoints.  How:

1. **Breakpoints, exactly.**  Measure methods (and point evaluations, and the uniform boxes of
   smoothgrad_uniform / lime_uniform) integrate over supports that move affinely with t; their
   events are the t-coordinates of the vertices of {(u, t) : u in P, u in S(t)} for every region P
   (:func:`polyattr.symbolic.events.support_events`).  Integrated Gradients moves a segment; its
   events come from a kinetic sweep (:func:`polyattr.symbolic.events.segment_structure`), roots of
   quadratics when the baseline moves (kept as exact algebraic numbers).
2. **Pieces, by exact interpolation.**  Between two breakpoints, ``multiplier(t) * phi_j(t)`` is a
   polynomial of known maximal degree D (the multiplier clears the known denominators: the volume of
   a moving uniform box, r^2 for LIME's normal equations, the crossing denominators of IG).  It is
   recovered from D + 1 exact evaluations ``attribute(..., exact=True)`` at rational points inside
   the piece (Newton interpolation over Q) and **confirmed at one more point**, so a wrong degree or
   a missed breakpoint cannot pass silently (it raises).
3. Adjacent pieces with the same expressions are merged; the remaining breakpoints are where the
   formula really changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy

from polyattr.attribution.api import attribute
from polyattr.attribution.integrals import Integrator
from polyattr.attribution.registry import get_method
from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box, as_domain
from polyattr.numbers import to_fraction
from polyattr.symbolic.events import parametric_supports, segment_structure, support_events
from polyattr.symbolic.exact import (
    evaluate_exact,
    interpolate,
    key,
    less,
    rational_inside,
    same,
    sorted_unique,
    to_fraction_exact,
    to_sympy,
)

__all__ = ["curve", "SymbolicCurve", "CurvePiece", "supported_methods"]

def _curve_kind(spec) -> str | None:
    """How a method's attribution moves with a parameter, read from its MethodSpec (no name keys).

    "user": a user family (option ``measures``); "family": a measure family (``spec.family``);
    "point": an exact gradient rule at x (Dirac supports); "path": a baseline path (IG);
    "box": uniform noise on x +/- radius (first or second moments); None: not covered.
    """
    options = {o.name for o in spec.options}
    if spec.family is not None and "measures" in options:
        return "user"
    if spec.family is not None:
        return "family"
    if spec.certificate == "gradient":
        return "point"
    if spec.certificate == "path" and spec.needs_baseline:
        return "path"
    if spec.certificate == "box_moments" and "radius" in options:
        return "box"
    return None


def supported_methods() -> dict:
    """{method name: the parameters it can vary} for every registered method :func:`curve` covers."""
    from polyattr.attribution.registry import method_specs

    out = {}
    for spec in method_specs():
        kind = _curve_kind(spec)
        if kind is None:
            continue
        params = ["x_j"]
        if spec.needs_baseline:
            params.append("baseline_j")
        if kind == "box":
            params.append("radius")
        if kind == "user":
            params.append("any name (measures=callable(t) -> family)")
        out[spec.name] = tuple(params)
    return out


MAX_PIECES = 20_000


@dataclass(frozen=True)
class CurvePiece:
    """One piece: on the open interval ``interval`` = (lo, hi), feature j's attribution is ``values[j]``."""

    interval: tuple
    values: tuple  # sympy expressions in the curve's symbol
    degree: int  # the degree bound used to recover it (numerator degree after the multiplier)
    evaluations: int


@dataclass
class SymbolicCurve:
    """An attribution as an exact piecewise closed form of one parameter.

    Attributes
    ----------
    symbol : sympy.Symbol
    breakpoints : list of exact sympy numbers (rational or algebraic) strictly inside ``over``
    pieces : list of CurvePiece, in order, covering ``over``
    method, vary : what was varied
    over : (lo, hi) as sympy Rationals
    """

    symbol: sympy.Symbol
    breakpoints: list
    pieces: list
    method: str
    vary: object
    over: tuple
    n_features: int
    seconds: float = 0.0
    evaluations: int = 0
    _evaluate: object = field(default=None, repr=False)

    @property
    def expr(self) -> list:
        """Per feature a sympy ``Piecewise`` on ``over`` (at a breakpoint it takes the right-hand piece)."""
        t = self.symbol
        out = []
        for j in range(self.n_features):
            args = [(p.values[j], t < p.interval[1]) for p in self.pieces[:-1]]
            args.append((self.pieces[-1].values[j], t <= self.over[1]))
            out.append(sympy.Piecewise(*args))
        return out

    def __call__(self, t) -> np.ndarray:
        """Exact attribution (Fractions, shape (d,)) at a rational t in ``over``.

        Inside a piece: the piece's closed form evaluated exactly.  At a breakpoint or an end of
        ``over`` the method itself is evaluated (its boundary convention decides, e.g. the side a
        gradient takes).
        """
        try:
            t = to_fraction(t) if not isinstance(t, sympy.Basic) else to_fraction_exact(t)
        except (TypeError, ValueError):
            raise PolyattrError(f"t: expected a rational number, got {t!r}") from None
        ts = to_sympy(t)
        if less(ts, self.over[0]) or less(self.over[1], ts):
            raise PolyattrError(f"t: {t} is outside [{self.over[0]}, {self.over[1]}]")
        if same(ts, self.over[0]) or same(ts, self.over[1]) or any(same(ts, b) for b in self.breakpoints):
            return np.array(self._evaluate(t), dtype=object)
        for p in self.pieces:
            if less(p.interval[0], ts) and less(ts, p.interval[1]):
                return np.array([evaluate_exact(v, self.symbol, t) for v in p.values], dtype=object)
        raise PolyattrError(f"t: {t} falls in no piece (this is a bug)")  # pragma: no cover

    def latex(self) -> str:
        """LaTeX of every feature's piecewise closed form, one ``\\phi_j(t) = ...`` line each."""
        name = sympy.latex(self.symbol)
        lines = []
        for j, e in enumerate(self.expr):
            lines.append(rf"\phi_{{{j}}}({name}) = {sympy.latex(e)}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The DESIGN.md JSON form: exact rationals as "p/q", expressions as sympy strings."""
        return {
            "method": self.method,
            "vary": self.vary,
            "symbol": str(self.symbol),
            "over": [str(self.over[0]), str(self.over[1])],
            "breakpoints": [str(b) for b in self.breakpoints],
            "pieces": [{"interval": [str(p.interval[0]), str(p.interval[1])],
                        "values": [str(v) for v in p.values]} for p in self.pieces],
            "evaluations": self.evaluations,
            "seconds": self.seconds,
        }

    def plot(self, ax=None, path=None, samples: int = 40, features=None):
        """Plot every feature's curve (dense float samples of the exact pieces, breakpoints marked)."""
        import matplotlib

        if ax is None:
            if path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(6, 4))
        else:
            fig = ax.figure
        features = range(self.n_features) if features is None else features
        colors = [f"C{j % 10}" for j in range(self.n_features)]
        for j in features:
            for n, p in enumerate(self.pieces):
                lo, hi = float(p.interval[0]), float(p.interval[1])
                ts = np.linspace(lo, hi, samples)
                fn = sympy.lambdify(self.symbol, p.values[j], "numpy")
                ys = np.broadcast_to(np.asarray(fn(ts), dtype=float), ts.shape)
                ax.plot(ts, ys, color=colors[j], lw=1.5, label=f"feature {j}" if n == 0 else None)
        for b in self.breakpoints:
            ax.axvline(float(b), color="0.85", lw=0.6, zorder=0)
        ax.set_xlabel(str(self.symbol))
        ax.set_ylabel(f"{self.method} attribution")
        ax.set_title(f"{self.method}: exact piecewise closed form ({len(self.pieces)} pieces)")
        ax.legend(loc="best", fontsize=8)
        if path is not None:
            fig.tight_layout()
            fig.savefig(path, dpi=120)
        return ax


# ----------------------------------------------------------------------------------- plans
@dataclass
class _Plan:
    symbol: sympy.Symbol
    evaluate: object  # t (Fraction) -> list of Fractions
    n_features: int
    family_at: object = None  # t -> list of Measure (the supports whose motion makes events)
    multiplier: sympy.Expr | None = None  # None: from the supports' volumes
    degree: int | None = None  # numerator degree bound; None: from the supports
    extra_multiplier: sympy.Expr = sympy.Integer(1)
    segment: tuple | None = None  # IG: (A0, A1, B0, B1)


def _parse_vary(vary, method: str, d: int):
    """('x', j), ('baseline', j) or ('option', name)."""
    if isinstance(vary, (bool, np.bool_)):
        raise PolyattrError(f"vary: expected a feature index or an option name, got {vary!r}")
    if isinstance(vary, (int, np.integer)) or (isinstance(vary, str) and vary.strip().isdigit()):
        j = int(vary)
        if not 0 <= j < d:
            raise PolyattrError(f"vary: feature index {j} is not in [0, {d})")
        return ("x", j)
    if isinstance(vary, str):
        name = vary.strip()
        for prefix in ("baseline_", "baseline", "b_"):
            if name.startswith(prefix) and name[len(prefix):].isdigit():
                j = int(name[len(prefix):])
                if not 0 <= j < d:
                    raise PolyattrError(f"vary: baseline index {j} is not in [0, {d})")
                return ("baseline", j)
        if name:
            return ("option", name)
    raise PolyattrError(f"vary: expected a feature index j, 'baseline_j' or an option name, got {vary!r}")


def _exact_vector(v, name: str, d: int) -> np.ndarray:
    try:
        arr = [to_fraction(a) for a in np.ravel(np.asarray(v, dtype=object))]
    except (TypeError, ValueError):
        raise PolyattrError(f"{name}: expected {d} finite numbers") from None
    if len(arr) != d:
        raise PolyattrError(f"{name}: expected {d} numbers, got {len(arr)}")
    return np.array(arr, dtype=object)


def curve(model, x, method: str, vary, over, output: int | None = None, baseline=None, domain=None,
          **options) -> SymbolicCurve:
    """The attribution of ``method`` at ``x`` as an exact piecewise closed form of one parameter.

    Parameters
    ----------
    model : ReLUNetwork
    x : array-like (d,)
        The input; its coordinate j is replaced by t when ``vary=j``.
    method : str
        One of :func:`supported_methods` (measure families, gradient rules, IG, the uniform box
        methods and user families, as their MethodSpecs say).
    vary : int or str
        A feature index j (x_j = t), ``"baseline_j"`` (x'_j = t, baseline methods), ``"radius"``
        (smoothgrad_uniform, lime_uniform: the half-width of the noise box), or for
        a user-family method (``method="measure"``) any name, with ``measures`` a callable t -> family of d Measures whose
        supports (points, axis-aligned segments, box slices, boxes) move affinely with t.
    over : (a, b)
        The interval of t (rationals; decimals and "p/q" strings are read exactly).
    output : int, optional
    baseline, domain, **options
        As in :func:`polyattr.attribute` (``radius`` when it is not the varied parameter, ...).

    Returns
    -------
    SymbolicCurve
    """
    start = time.perf_counter()
    covered = supported_methods()
    if method not in covered:
        raise PolyattrError(f"method: {method!r} has no symbolic curve; expected one of {', '.join(covered)}")
    d = model.n_inputs
    k = model.check_output(output)
    box = as_domain(domain, d, exact=True)
    if not isinstance(box, Box):
        raise PolyattrError(f"domain: expected a box, got {type(box).__name__}")
    try:
        a, b = (to_fraction(v) for v in over)
    except (TypeError, ValueError):
        raise PolyattrError(f"over: expected two numbers (a, b), got {over!r}") from None
    if not a < b:
        raise PolyattrError(f"over: expected a < b, got ({a}, {b})")
    kind, which = _parse_vary(vary, method, d)
    x = _exact_vector(x, "x", d)
    plan = _make_plan(model, x, method, kind, which, (a, b), k, baseline, box, dict(options))
    net = model.to_exact()
    pieces, evaluations = _recover(net, plan, a, b, k)
    pieces = _merge(pieces)
    breakpoints = [p.interval[0] for p in pieces[1:]]
    return SymbolicCurve(plan.symbol, breakpoints, pieces, method, vary if kind != "x" else which,
                         (to_sympy(a), to_sympy(b)), plan.n_features, time.perf_counter() - start, evaluations,
                         plan.evaluate)


def _make_plan(model, x, method, kind, which, over, output, baseline, box, options) -> _Plan:
    from polyattr.measures.core import Dirac, Uniform

    d = model.n_inputs
    a, b = over
    spec = get_method(method)
    kind_of_method = _curve_kind(spec)
    allowed = supported_methods()[method]
    if kind == "x":
        if "x_j" not in allowed:
            raise PolyattrError(f"vary: {method} cannot vary x_j")
        if not (box.lower[which] <= a and b <= box.upper[which]):
            raise PolyattrError(f"over: x_{which} must stay in the domain [{box.lower[which]}, {box.upper[which]}]")
        symbol = sympy.Symbol(f"x_{which}", real=True)
    elif kind == "baseline":
        if "baseline_j" not in allowed:
            raise PolyattrError(f"vary: {method} has no baseline to vary")
        if not (box.lower[which] <= a and b <= box.upper[which]):
            raise PolyattrError(f"over: the baseline must stay in the domain [{box.lower[which]}, {box.upper[which]}]")
        symbol = sympy.Symbol(f"b_{which}", real=True)
    else:
        if kind_of_method == "user":
            symbol = sympy.Symbol(which, real=True)
        elif which == "radius" and "radius" in allowed:
            if a <= 0:
                raise PolyattrError(f"over: the radius must stay positive, got a = {a}")
            symbol = sympy.Symbol("r", positive=True)
        else:
            raise PolyattrError(f"vary: {method} has no numeric option {which!r} to vary; "
                                f"it can vary {', '.join(allowed)}")
    needs_baseline = spec.needs_baseline
    if baseline is None and needs_baseline:
        baseline = np.zeros(d)
    base = _exact_vector(baseline, "baseline", d) if baseline is not None else None
    if base is not None and not needs_baseline:
        raise PolyattrError(f"baseline: method {method!r} takes no baseline")

    def x_at(t):
        z = x.copy()
        if kind == "x":
            z[which] = t
        return z

    def base_at(t):
        if base is None:
            return None
        z = base.copy()
        if kind == "baseline":
            z[which] = t
        return z

    fixed_radius = options.get("radius", Fraction(1, 10))

    def options_at(t):
        opts = dict(options)
        if kind == "option" and kind_of_method != "user":
            opts[which] = t
        return opts

    user_family = options.pop("measures", None) if kind_of_method == "user" else None
    if kind_of_method == "user":
        if user_family is None or not callable(user_family):
            raise PolyattrError("measures: method 'measure' needs measures=<callable> (t -> family of d Measures, "
                                "or (x, j) -> Measure when vary is a feature)")

        def family_at(t):
            if kind == "option":
                fam = user_family(t)
            else:
                fam = [user_family(x_at(t), j) for j in range(d)]
            return list(fam)

        def evaluate(t):
            res = attribute(model, x_at(t), method, domain=box, output=output, exact=True,
                            measures=family_at(t), **options)
            return list(res.values)

        return _Plan(symbol, evaluate, d, family_at=family_at)

    def evaluate(t):
        res = attribute(model, x_at(t), method, baseline=base_at(t), domain=box, output=output, exact=True,
                        **options_at(t))
        return list(res.values)

    if kind_of_method == "path":
        zero = np.array([Fraction(0)] * d, dtype=object)
        unit = zero.copy()
        unit[which] = Fraction(1)
        A0, A1 = (base.copy(), zero) if kind == "x" else (base_at(Fraction(0)), unit)
        B0, B1 = (x_at(Fraction(0)), unit) if kind == "x" else (x.copy(), zero)
        return _Plan(symbol, evaluate, d, segment=(A0, A1, B0, B1))
    if kind_of_method == "point":  # w_P (degree 0) or a rule linear in x (degree 1): bound 1
        return _Plan(symbol, evaluate, d, family_at=lambda t: [Dirac(x_at(t), exact=True)],
                     multiplier=sympy.Integer(1), degree=1)
    if kind_of_method == "box":
        def radius_at(t):
            r = t if kind == "option" else fixed_radius
            r = [to_fraction(v) for v in (np.ravel(r) if np.ndim(r) else [r] * d)]
            return np.array(r, dtype=object)

        def family_at(t):
            r = radius_at(t)
            return [Uniform(Box(x_at(t) - r, x_at(t) + r, exact=True))]

        # first moments (SmoothGrad): sum_P vol(P n B) w_P has degree d; a least-squares fit
        # (moment order 2, LIME) has degree d + 2 and the 1 / Var = 3 / r^2 of its normal equations
        extra_order = 2 * (spec.moment_order - 1)
        extra = symbol ** extra_order if kind == "option" else sympy.Integer(1)
        degree = d + extra_order
        return _Plan(symbol, evaluate, d, family_at=family_at, degree=degree, extra_multiplier=extra)
    return _Plan(symbol, evaluate, d, family_at=lambda t: spec.family(x_at(t), base_at(t), box, dict(options)))


# ------------------------------------------------------------------------------- recovery
def _support_plan(net, plan: _Plan, a, b, output):
    """Breakpoints (sorted exact numbers) and (multiplier, degree) for a plan built on supports."""
    ts = (a + (b - a) / 3, a + (b - a) / 2, a + 2 * (b - a) / 3)
    supports, densities = parametric_supports(plan.family_at, ts)
    integrator = Integrator(net, output, exact=True, max_regions=None)
    events = []
    for s in supports:
        events += support_events(integrator.regions_on, s, a, b)
    multiplier = plan.multiplier
    if multiplier is None:
        factors = []
        for entry in densities:
            if not entry["scale_constant"]:
                v = entry["support"].volume(plan.symbol)
                if v.free_symbols and not any(sympy.simplify(v / f).is_number for f in factors):
                    factors.append(v)
        multiplier = sympy.Mul(*factors) if factors else sympy.Integer(1)
    multiplier = sympy.expand(multiplier * plan.extra_multiplier)
    degree = plan.degree
    if degree is None:
        base = max((s.dim + 1 + s.polynomial_degree for s in supports), default=1)
        degree = base + int(sympy.degree(multiplier, plan.symbol))
    return sorted_unique(events), multiplier, degree


def _recover(net, plan: _Plan, a, b, output):
    """All pieces of the curve on [a, b] and the number of exact evaluations used."""
    lo, hi = to_sympy(a), to_sympy(b)
    pieces, evaluations = [], 0
    if plan.segment is None:
        events, multiplier, degree = _support_plan(net, plan, a, b, output)
        bounds = [lo] + events + [hi]
        intervals = [(bounds[i], bounds[i + 1], multiplier, degree) for i in range(len(bounds) - 1)]
    else:
        intervals = _segment_intervals(net, plan, lo, hi)
    if len(intervals) > MAX_PIECES:
        raise PolyattrError(f"curve: {len(intervals)} pieces exceed the limit of {MAX_PIECES}; narrow 'over'")
    for l, r, multiplier, degree in intervals:
        piece, n = _recover_piece(plan, l, r, multiplier, degree)
        pieces.append(piece)
        evaluations += n
    return pieces, evaluations


def _segment_intervals(net, plan: _Plan, lo, hi):
    """Kinetic sweep for a moving segment: intervals on which the crossed regions keep their order."""
    A0, A1, B0, B1 = plan.segment
    t = plan.symbol
    stack, out = [(lo, hi)], []
    while stack:
        l, r = stack.pop()
        m = rational_inside(l, r, Fraction(1, 2))
        structure = segment_structure(net, A0, A1, B0, B1, m, l, r)
        ms = to_sympy(m)
        if any(same(e, ms) for e in structure.events):  # degenerate at m: split there
            stack += [(l, ms), (ms, r)]
            continue
        below = [e for e in structure.events if less(e, ms)]
        above = [e for e in structure.events if less(ms, e)]
        left = max(below, key=key) if below else l
        right = min(above, key=key) if above else r
        factors = []
        for c0, c1 in structure.denominators:
            if c1 != 0:
                f = sympy.Poly(to_sympy(c0) + to_sympy(c1) * t, t).monic().as_expr()
                if f not in factors:
                    factors.append(f)
        multiplier = sympy.expand(sympy.Mul(*factors)) if factors else sympy.Integer(1)
        out.append((left, right, multiplier, len(factors) + 1))
        if below:
            stack.append((l, left))
        if above:
            stack.append((right, r))
        if len(out) > MAX_PIECES:
            raise PolyattrError(f"curve: more than {MAX_PIECES} pieces; narrow 'over'")
    out.sort(key=lambda iv: key(iv[0]))
    return out


def _recover_piece(plan: _Plan, lo, hi, multiplier, degree):
    """Interpolate multiplier * phi on (lo, hi) from degree + 1 exact values; confirm at one more."""
    t = plan.symbol
    n = degree + 1
    nodes = [rational_inside(lo, hi, Fraction(i, n + 1)) for i in range(1, n + 1)]
    check = rational_inside(lo, hi, Fraction(1, 2 * (n + 1)))
    mult = [evaluate_exact(multiplier, t, s) for s in nodes + [check]]
    values = [plan.evaluate(s) for s in nodes]
    checked = plan.evaluate(check)
    exprs = []
    for j in range(plan.n_features):
        poly = interpolate(nodes, [v[j] * w for v, w in zip(values, mult[:-1])], t)
        expr = sympy.cancel(poly / multiplier) if multiplier != 1 else poly
        if evaluate_exact(expr, t, check) != Fraction(checked[j]):
            raise PolyattrError(
                f"curve: the closed form of feature {j} on ({lo}, {hi}) fails its check point t = {check} "
                f"(degree bound {degree}); a breakpoint was missed or the degree bound is wrong -- please report it")
        exprs.append(expr)
    return CurvePiece((lo, hi), tuple(exprs), degree, n + 1), n + 1


def _merge(pieces: list) -> list:
    """Merge adjacent pieces whose expressions agree for every feature."""
    out = []
    for p in pieces:
        if out and all(sympy.cancel(u - v) == 0 for u, v in zip(out[-1].values, p.values)):
            q = out[-1]
            out[-1] = CurvePiece((q.interval[0], p.interval[1]), q.values, max(q.degree, p.degree),
                                 q.evaluations + p.evaluations)
        else:
            out.append(p)
    return out
