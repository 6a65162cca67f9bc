"""A polynomial model given as a sympy expression, and every method's attribution in closed form.

``PolynomialModel(expr, variables)``: f(z) = expr with z = variables.  Its attributions are sympy
expressions, exact, and may contain symbols (in the coefficients, in x, in the baseline, in the box
or the radius): the classic definitions are applied literally with sympy (derivatives, integrals of
the polynomial over boxes, slices and segments, sums over coalitions), so they serve as an
independent reference for the region-based engine and as the objects of the symbolic proofs.

Methods: ``gradient``, ``gradient_x_input``, ``ig``, ``occlusion``, ``shapley`` (baseline),
``shapley_uniform``, ``pdp``, ``ice``, ``fafp_local``, ``fafp_global``, ``smoothgrad_uniform``,
``lime_uniform``, ``expected_gradients_uniform`` and ``measure`` (a family of polyattr measures:
point masses, uniform or polynomial densities on boxes, box slices and segments).
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations

import sympy

from polyattr.attribution.registry import get_method
from polyattr.errors import PolyattrError

__all__ = ["PolynomialModel", "POLYNOMIAL_METHODS"]

POLYNOMIAL_METHODS = ("gradient", "gradient_x_input", "ig", "occlusion", "shapley", "shapley_uniform", "pdp", "ice",
                      "fafp_local", "fafp_global", "smoothgrad_uniform", "lime_uniform", "expected_gradients_uniform",
                      "measure")


def _s(v):
    """Exact sympy number/expression (Fractions and floats exactly)."""
    if isinstance(v, sympy.Basic):
        return v
    if isinstance(v, Fraction):
        return sympy.Rational(v.numerator, v.denominator)
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return sympy.Integer(v)
    if isinstance(v, str):
        return sympy.sympify(v)
    try:
        f = Fraction(float(v))
    except (TypeError, ValueError):
        raise PolyattrError(f"expected a number or a sympy expression, got {v!r}") from None
    return sympy.Rational(f.numerator, f.denominator)


class PolynomialModel:
    """f(z) = ``expr``, a polynomial in ``variables`` (coefficients may be symbols).

    Parameters
    ----------
    expr : sympy expression or string
    variables : sequence of sympy Symbols or names (the inputs z_1..z_d, in order)
    """

    def __init__(self, expr, variables):
        try:
            self.variables = tuple(sympy.Symbol(v) if isinstance(v, str) else v for v in variables)
        except TypeError:
            raise PolyattrError("variables: expected a sequence of sympy symbols or names") from None
        if not self.variables or not all(isinstance(v, sympy.Symbol) for v in self.variables) \
                or len(set(self.variables)) != len(self.variables):
            raise PolyattrError("variables: expected distinct sympy symbols")
        try:
            self.expr = sympy.sympify(expr)
            sympy.Poly(self.expr, *self.variables)
        except (sympy.SympifyError, sympy.PolynomialError, TypeError) as exc:
            raise PolyattrError(f"expr: expected a polynomial in {', '.join(map(str, self.variables))} ({exc})") from None

    @property
    def n_inputs(self) -> int:
        return len(self.variables)

    def __repr__(self) -> str:
        return f"PolynomialModel({self.expr})"

    # ------------------------------------------------------------------------------ basics
    def _vector(self, v, name: str) -> list:
        try:
            out = [_s(a) for a in v]
        except TypeError:
            raise PolyattrError(f"{name}: expected {self.n_inputs} values") from None
        if len(out) != self.n_inputs:
            raise PolyattrError(f"{name}: expected {self.n_inputs} values, got {len(out)}")
        return out

    def at(self, point, expr=None):
        """f (or ``expr``) at ``point`` (simultaneous substitution)."""
        e = self.expr if expr is None else expr
        return e.subs(dict(zip(self.variables, self._vector(point, "point"))), simultaneous=True)

    __call__ = at

    def gradient(self) -> list:
        return [sympy.diff(self.expr, z) for z in self.variables]

    def integrate_box(self, expr, lower, upper, coordinates) -> sympy.Expr:
        """integral of ``expr`` over z_i in [lower_i, upper_i] for the listed coordinates (Lebesgue)."""
        # term by term (linearity): sympy's piecewise integration can mis-merge the conditions of a
        # sum of indicator products (seen with step functions), never of a single product
        total = sympy.Integer(0)
        for term in sympy.Add.make_args(sympy.expand(expr)):
            for i in coordinates:
                term = sympy.integrate(term, (self.variables[i], lower[i], upper[i]))
            total += term
        return total

    def _mean_over(self, expr, lower, upper, coordinates):
        vol = sympy.Mul(*[upper[i] - lower[i] for i in coordinates]) if coordinates else sympy.Integer(1)
        return self.integrate_box(expr, lower, upper, coordinates) / vol

    # ------------------------------------------------------------------------ attributions
    def attribute(self, x, method: str, baseline=None, domain=None, measures=None, simplify: bool = True,
                  **options) -> list:
        """The attribution of ``method`` at ``x``: a list of d sympy expressions.

        ``domain`` is (lower, upper) (default the unit cube); ``radius`` (smoothgrad_uniform,
        lime_uniform; a number, a symbol or one per feature, default 1/10); ``measures`` (a family
        of d polyattr Measures) for ``method="measure"``.  Entries of x, the baseline, the box and
        the radius may be symbols.
        """
        if method not in POLYNOMIAL_METHODS:
            raise PolyattrError(f"method: {method!r} has no closed form here; expected one of {', '.join(POLYNOMIAL_METHODS)}")
        d = self.n_inputs
        x = self._vector(x, "x")
        if domain is None:
            lower, upper = [sympy.Integer(0)] * d, [sympy.Integer(1)] * d
        else:
            try:
                lower, upper = domain
            except (TypeError, ValueError):
                raise PolyattrError("domain: expected (lower, upper)") from None
            lower, upper = self._vector(lower, "lower"), self._vector(upper, "upper")
        if baseline is None and get_method(method).needs_baseline:
            baseline = [0] * d
        b = self._vector(baseline, "baseline") if baseline is not None else None
        unknown = set(options) - {"radius"}
        if unknown:
            raise PolyattrError(f"options: {sorted(unknown)} are not options of the polynomial model")
        values = getattr(self, "_" + method)(x, b, lower, upper, measures=measures, **options)
        return [sympy.simplify(v) if simplify else sympy.expand(v) for v in values]

    def _hybrid(self, x, b, subset):
        return [x[i] if i in subset else b[i] for i in range(self.n_inputs)]

    def _gradient(self, x, b, lower, upper, **_):
        return [self.at(x, g) for g in self.gradient()]

    def _gradient_x_input(self, x, b, lower, upper, **_):
        return [self.at(x, g) * xi for g, xi in zip(self.gradient(), x)]

    def _ig(self, x, b, lower, upper, **_):
        s = sympy.Dummy("s")
        path = [bi + s * (xi - bi) for xi, bi in zip(x, b)]
        return [(x[j] - b[j]) * sympy.integrate(self.at(path, g), (s, 0, 1)) for j, g in enumerate(self.gradient())]

    def _occlusion(self, x, b, lower, upper, **_):
        d = self.n_inputs
        fx = self.at(x)
        return [fx - self.at(self._hybrid(x, b, [i for i in range(d) if i != j])) for j in range(d)]

    def _shapley_from(self, value):
        d = self.n_inputs
        cache = {}

        def v(S):
            key = tuple(sorted(S))
            if key not in cache:
                cache[key] = value(set(key))
            return cache[key]

        out = []
        for j in range(d):
            others = [i for i in range(d) if i != j]
            total = sympy.Integer(0)
            for size in range(d):
                w = sympy.Rational(math.factorial(size) * math.factorial(d - size - 1), math.factorial(d))
                for S in combinations(others, size):
                    total += w * (v(set(S) | {j}) - v(set(S)))
            out.append(total)
        return out

    def _shapley(self, x, b, lower, upper, **_):
        return self._shapley_from(lambda S: self.at(self._hybrid(x, b, S)))

    def _slice_mean(self, x, S, lower, upper):
        """E f(x_S, Z_rest) with Z_rest uniform on the box's other coordinates."""
        d = self.n_inputs
        fixed = self.expr.subs({self.variables[i]: x[i] for i in S}, simultaneous=True)
        return self._mean_over(fixed, lower, upper, [i for i in range(d) if i not in S])

    def _shapley_uniform(self, x, b, lower, upper, **_):
        return self._shapley_from(lambda S: self._slice_mean(x, S, lower, upper))

    def _pdp(self, x, b, lower, upper, **_):
        return [self._slice_mean(x, {j}, lower, upper) for j in range(self.n_inputs)]

    def _ice(self, x, b, lower, upper, **_):
        d = self.n_inputs
        fx = self.at(x)
        return [fx - self._slice_mean(x, set(range(d)) - {j}, lower, upper) for j in range(d)]

    def _fafp_local(self, x, b, lower, upper, **_):
        return [self.at([x[j] if i == j else lower[i] for i in range(self.n_inputs)]) for j in range(self.n_inputs)]

    def _fafp_global(self, x, b, lower, upper, **_):
        d = self.n_inputs
        out = []
        for j in range(d):
            edge = self.expr.subs({self.variables[i]: lower[i] for i in range(d) if i != j}, simultaneous=True)
            out.append(2 * sympy.integrate(edge, (self.variables[j], lower[j], upper[j])))
        return out

    def _radius(self, radius):
        d = self.n_inputs
        if radius is None:
            radius = sympy.Rational(1, 10)
        if isinstance(radius, (list, tuple)):
            return self._vector(radius, "radius")
        return [_s(radius)] * d

    def _smoothgrad_uniform(self, x, b, lower, upper, radius=None, **_):
        r = self._radius(radius)
        lo = [xi - ri for xi, ri in zip(x, r)]
        hi = [xi + ri for xi, ri in zip(x, r)]
        return [self._mean_over(g, lo, hi, range(self.n_inputs)) for g in self.gradient()]

    def _lime_uniform(self, x, b, lower, upper, radius=None, **_):
        # coordinates independent and uniform on [x - r, x + r]: the normal equations are diagonal in
        # u = z - x, with Var(u_j) = r_j^2 / 3
        r = self._radius(radius)
        lo = [xi - ri for xi, ri in zip(x, r)]
        hi = [xi + ri for xi, ri in zip(x, r)]
        d = self.n_inputs
        return [3 / r[j] ** 2 * self._mean_over((self.variables[j] - x[j]) * self.expr, lo, hi, range(d))
                for j in range(d)]

    def _expected_gradients_uniform(self, x, b, lower, upper, **_):
        d = self.n_inputs
        bs = sympy.symbols(f"_b0:{d}", real=True)
        ig = self._ig(x, list(bs), lower, upper)
        out = []
        for e in ig:
            for i in range(d):
                e = sympy.integrate(e, (bs[i], lower[i], upper[i])) / (upper[i] - lower[i])
            out.append(e)
        return out

    def _measure(self, x, b, lower, upper, measures=None, **_):
        if measures is None:
            raise PolyattrError("measures: method 'measure' needs measures=[mu_1, ..., mu_d]")
        family = [measures(x, j) for j in range(self.n_inputs)] if callable(measures) else list(measures)
        if len(family) != self.n_inputs:
            raise PolyattrError(f"measures: expected {self.n_inputs} measures, got {len(family)}")
        return [self.integrate(mu) for mu in family]

    # ------------------------------------------------------------------- measures
    def integrate(self, measure) -> sympy.Expr:
        """integral of f against a polyattr Measure (point masses; uniform or polynomial densities on
        boxes, box slices and segments), exactly."""
        from polyattr.geometry.domains import AffineSlice, Box, Segment
        from polyattr.measures.core import DensityPiece, Measure, PointPiece, product_density

        if not isinstance(measure, Measure):
            raise PolyattrError(f"measure: expected a polyattr Measure, got {type(measure).__name__}")
        total = sympy.Integer(0)
        d = self.n_inputs
        for coef, piece in measure.terms:
            if isinstance(piece, PointPiece):
                for p, w in zip(piece.points, piece.weights):
                    total += _s(coef) * _s(w) * self.at(list(p))
                continue
            if not isinstance(piece, DensityPiece):  # pragma: no cover - Measure validates its pieces
                raise PolyattrError(f"measure: unsupported piece {type(piece).__name__}")
            dom = piece.domain
            red = piece.reduction
            if isinstance(dom, Segment):
                t = sympy.Dummy("t")
                point = [_s(a) + t * (_s(c) - _s(a)) for a, c in zip(dom.start, dom.end)]
                total += _s(coef) * _s(piece.mass) * sympy.integrate(self.at(point), (t, 0, 1))
                continue
            if not isinstance(dom, (Box, AffineSlice)):
                raise PolyattrError(f"measure: supports of type {type(dom).__name__} are not supported here")
            inner = red.inner
            k = 0 if inner is None else inner.dim
            us = sympy.symbols(f"_u0:{k}", real=True)
            point = [_s(red.offset[i]) + sum((_s(red.embedding[i, c]) * us[c] for c in range(k)), sympy.Integer(0))
                     for i in range(d)]
            integrand = self.at(point)
            if piece.polynomial is not None or piece.polynomials:
                density = piece.polynomial if piece.polynomial is not None else product_density(piece.polynomials, k)
                integrand *= sum((_s(c) * sympy.Mul(*[u ** a for u, a in zip(us, alpha)]) for alpha, c in density.items()),
                                 sympy.Integer(0))
            for c in range(k):
                integrand = sympy.integrate(integrand, (us[c], _s(inner.lower[c]), _s(inner.upper[c])))
            total += _s(coef) * _s(piece.density_scale()) * integrand
        return sympy.simplify(total)
