"""Finite signed measures on the input space, described so that integrals over linear regions are exact.

A :class:`Measure` is a signed linear combination of *pieces*.  A piece is either

* a :class:`PointPiece` -- finitely many points with weights (Dirac, discrete, empirical measures):
  integrating a model needs only model evaluations, no regions; or
* a :class:`DensityPiece` -- a density on a domain (box, polytope, affine slice, segment): uniform,
  or a product of per-coordinate polynomial densities.  Integrating a piecewise-affine model needs
  the regions of the model inside the piece's support and, per region, the piece's mass m0 and
  first moment m1 (and the second moment M2 for LIME and degree-2 metrics), which
  :meth:`DensityPiece.region_moments` computes in closed form.

The contraction with the model's local affine maps (sum_P w_P . m1(P) + b_P m0(P)) lives in
:mod:`polyattr.attribution.integrals`; this module knows regions only as polytopes.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Iterable, Mapping, Sequence

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.numbers import to_fraction
from polyattr.numerics import field_of
from polyattr.geometry.domains import AffineSlice, Box, Polytope, Segment, as_vector, domain_key


class Measure:
    """A finite signed measure: ``sum_i coefficient_i * piece_i``.

    Measures add, subtract and scale: ``2 * Dirac(x) - Uniform(box)``.
    """

    def __init__(self, terms: Iterable[tuple[object, "Piece"]]):
        self.terms: tuple[tuple[object, Piece], ...] = tuple(terms)
        for c, piece in self.terms:
            if not isinstance(piece, (PointPiece, DensityPiece)):
                raise PolyattrError(f"measure: expected pieces, got {type(piece).__name__}")
            if not isinstance(c, Fraction) and not np.isfinite(float(c)):
                raise PolyattrError(f"measure: coefficient {c!r} is not finite")

    @property
    def ambient_dim(self) -> int | None:
        return self.terms[0][1].ambient_dim if self.terms else None

    @property
    def total_mass(self):
        return sum((c * p.total_mass for c, p in self.terms), start=0)

    def __add__(self, other: "Measure") -> "Measure":
        if not isinstance(other, Measure):
            return NotImplemented
        return Measure(self.terms + other.terms)

    def __sub__(self, other: "Measure") -> "Measure":
        if not isinstance(other, Measure):
            return NotImplemented
        return self + (-1) * other

    def __mul__(self, scalar) -> "Measure":
        if isinstance(scalar, Measure) or not np.isscalar(scalar) and not isinstance(scalar, Fraction):
            return NotImplemented
        return Measure((scalar * c, p) for c, p in self.terms)

    __rmul__ = __mul__

    def __neg__(self) -> "Measure":
        return (-1) * self

    def __repr__(self) -> str:
        return " + ".join(f"{c}*{p!r}" for c, p in self.terms) or "Measure(0)"


# ------------------------------------------------------------------------------------------ pieces
class PointPiece:
    """Point masses: sum_i weights_i * delta_{points_i}."""

    def __init__(self, points, weights=None, exact: bool = False, stochastic: bool = False):
        pts = np.asarray(points, dtype=field_of(exact).dtype)
        if pts.ndim == 1:
            pts = pts[None, :]
        if pts.ndim != 2 or pts.shape[0] == 0:
            raise PolyattrError(f"points: expected an array of shape (n, d) with n >= 1, got {np.shape(points)}")
        if not exact and not np.all(np.isfinite(pts)):
            raise PolyattrError("points: contains NaN or infinite values")
        if weights is None:
            weights = [Fraction(1)] * pts.shape[0] if exact else np.ones(pts.shape[0])
        w = np.asarray(weights, dtype=field_of(exact).dtype)
        if w.shape != (pts.shape[0],):
            raise PolyattrError(f"weights: expected {pts.shape[0]} weights (one per point), got shape {w.shape}")
        if not exact and not np.all(np.isfinite(w)):
            raise PolyattrError("weights: contains NaN or infinite values")
        if exact:
            pts = np.array([[to_fraction(v) for v in row] for row in pts], dtype=object)
            w = np.array([to_fraction(v) for v in w], dtype=object)
        self.points, self.weights, self.exact = pts, w, exact
        # an empirical sample of a continuous law: integrals carry a sampling error bound
        self.stochastic = stochastic

    @property
    def ambient_dim(self) -> int:
        return self.points.shape[1]

    @property
    def total_mass(self):
        return sum(self.weights, start=field_of(self.exact).zero())

    def __repr__(self) -> str:
        if self.points.shape[0] == 1:
            return f"Dirac({list(self.points[0])})"
        return f"PointPiece(n={self.points.shape[0]})"


class DensityPiece:
    """A density on a domain: ``mass`` times the uniform law, optionally times a product density.

    Parameters
    ----------
    domain : Box, Polytope, AffineSlice or Segment
        The support.  Uniform means uniform in the domain's reduced coordinates (for a segment:
        uniform in t in [0, 1]).
    mass : number
        Total mass (for a uniform piece).
    polynomials : mapping {reduced coordinate index: coefficients}, optional
        Per-coordinate polynomial densities c_0 + c_1 u + c_2 u^2 + ... (exact rationals); the
        density is their product over the listed coordinates (unlisted ones: constant 1), *not*
        renormalised: ``mass`` multiplies it.  Only on boxes and slices of boxes.
    polynomial : mapping {exponent tuple (length k): coefficient}, optional
        A general polynomial density in the k reduced coordinates (instead of ``polynomials``),
        also *not* renormalised.  Only on boxes and slices of boxes.
    """

    def __init__(self, domain, mass=1.0, polynomials: Mapping[int, Sequence] | None = None,
                 polynomial: Mapping[tuple, object] | None = None):
        if not isinstance(domain, (Box, Polytope, AffineSlice, Segment)):
            raise PolyattrError(f"domain: expected a Box, Polytope, AffineSlice or Segment, got {type(domain).__name__}")
        self.domain = domain
        self.exact = bool(getattr(domain, "exact", False))
        try:
            self.mass = field_of(self.exact).convert(mass)
        except (TypeError, ValueError, ZeroDivisionError):
            raise PolyattrError(f"mass: expected a finite number, got {mass!r}") from None
        self.reduction = domain.reduce()
        self.polynomials = None
        if polynomials:
            if self.reduction.inner is None or not isinstance(self.reduction.inner, Box):
                raise PolyattrError("polynomials: polynomial densities need a box (or a slice of a box) as support")
            k = self.reduction.inner.dim
            polys = {}
            for i, coeffs in polynomials.items():
                if not (isinstance(i, (int, np.integer)) and 0 <= i < k):
                    raise PolyattrError(f"polynomials: coordinate {i!r} is not in [0, {k})")
                try:
                    polys[int(i)] = tuple(to_fraction(c) for c in coeffs)
                except (TypeError, ValueError, ZeroDivisionError):
                    raise PolyattrError(f"polynomials: coefficients of coordinate {i} must be numbers") from None
            self.polynomials = polys
        self.polynomial = None
        if polynomial is not None:
            if polynomials:
                raise PolyattrError("polynomial: give either polynomials (per coordinate) or polynomial, not both")
            if self.reduction.inner is None or not isinstance(self.reduction.inner, Box):
                raise PolyattrError("polynomial: polynomial densities need a box (or a slice of a box) as support")
            self.polynomial = _check_polynomial(polynomial, self.reduction.inner.dim)
        self.key = (domain_key(domain), self.mass,
                    None if self.polynomials is None else tuple(sorted(self.polynomials.items())),
                    None if self.polynomial is None else tuple(sorted(self.polynomial.items())))

    @property
    def ambient_dim(self) -> int:
        return self.domain.ambient_dim

    @property
    def support(self):
        return self.domain

    @property
    def total_mass(self):
        if self.polynomial is not None:
            inner = self.reduction.inner
            total = Fraction(0)
            for alpha, c in self.polynomial.items():
                term = c
                for i, a in enumerate(alpha):
                    lo, hi = to_fraction(inner.lower[i]), to_fraction(inner.upper[i])
                    term *= (hi ** (a + 1) - lo ** (a + 1)) / (a + 1)
                total += term
            total *= to_fraction(self.mass) / to_fraction(self.domain.volume)
            return total if self.exact else float(total)
        if self.polynomials is None:
            return self.mass
        inner = self.reduction.inner
        total = Fraction(1)
        for i, coeffs in self.polynomials.items():
            lo, hi = to_fraction(inner.lower[i]), to_fraction(inner.upper[i])
            total *= sum((c * (hi ** (p + 1) - lo ** (p + 1)) / (p + 1) for p, c in enumerate(coeffs)), start=Fraction(0))
            # the coordinates without a polynomial integrate to their length
        for i in range(inner.dim):
            if i not in self.polynomials:
                total *= to_fraction(inner.upper[i]) - to_fraction(inner.lower[i])
        total *= to_fraction(self.mass) / to_fraction(self.domain.volume)
        return total if self.exact else float(total)

    def density_scale(self):
        """Constant density factor with respect to Lebesgue measure in reduced coordinates."""
        return self.mass / self.domain.volume

    def region_moments(self, regions, order: int = 1):
        """Mass, first and (order 2) second moments of this piece on every region, in input coordinates.

        ``regions`` is the RegionSet of the model on this piece's support (same reduction).
        Returns m0 (n,), m1 (n, d) and M2 (n, d, d) or None.
        """
        if self.polynomials is None and self.polynomial is None:
            m0u, m1u, M2u = regions.moments(order=order)
        else:
            m0u, m1u, M2u = _polynomial_region_moments(regions, self.polynomials, order, self.exact, self.polynomial)
        scale = self.density_scale()
        return lift_moments(self.reduction, scale * m0u, scale * m1u, None if M2u is None else scale * M2u)

    def __repr__(self) -> str:
        kind = "Uniform" if self.polynomials is None and self.polynomial is None else "PolynomialDensity"
        return f"{kind}({self.domain!r}, mass={self.mass})"


Piece = PointPiece | DensityPiece


def _check_polynomial(polynomial, k: int) -> dict:
    """A polynomial dict {exponent tuple (length k): rational coefficient}, validated."""
    if not isinstance(polynomial, Mapping):
        raise PolyattrError(f"polynomial: expected a dict {{exponent tuple: coefficient}}, got {type(polynomial).__name__}")
    out = {}
    for alpha, c in polynomial.items():
        alpha = tuple(alpha) if isinstance(alpha, (tuple, list)) else None
        if alpha is None or len(alpha) != k or not all(isinstance(a, (int, np.integer)) and a >= 0 for a in alpha):
            raise PolyattrError(f"polynomial: expected exponent tuples of {k} non-negative ints, got {alpha!r}")
        try:
            c = to_fraction(c)
        except (TypeError, ValueError, ZeroDivisionError):
            raise PolyattrError(f"polynomial: coefficient of {alpha} must be a finite number, got {c!r}") from None
        key = tuple(int(a) for a in alpha)
        out[key] = out.get(key, Fraction(0)) + c
    return {a: c for a, c in out.items() if c != 0} or {tuple([0] * k): Fraction(0)}


def lift_moments(reduction, m0, m1u, M2u):
    """Moments in reduced coordinates u -> moments in input coordinates z = E u + z0."""
    E, z0 = reduction.embedding, reduction.offset
    m1 = m1u @ E.T + m0[:, None] * z0[None, :]
    if M2u is None:
        return m0, m1, None
    EM = np.einsum("ij,njk,lk->nil", E, M2u, E)
    cross = np.einsum("ij,nj,l->nil", E, m1u, z0)
    M2 = EM + cross + np.transpose(cross, (0, 2, 1)) + m0[:, None, None] * np.outer(z0, z0)[None]
    return m0, m1, M2


def _polynomial_region_moments(regions, polynomials, order, exact, polynomial=None):
    """Moments of a polynomial density on each region (reduced coordinates).

    The density is the product of the per-coordinate ``polynomials`` (or a general multivariate
    ``polynomial`` dict).  Every region is triangulated and all moments of all regions come from one
    vectorised pass of :func:`polyattr.integrate.polynomial.integrate_polynomials`.
    """
    from polyattr.integrate.polynomial import integrate_polynomials, multiply_polynomials

    k = regions.dim
    density = dict(polynomial) if polynomial is not None else product_density(polynomials, k)
    polys = [density]
    if order >= 1:
        for i in range(k):
            e = [0] * k
            e[i] = 1
            polys.append(multiply_polynomials(density, {tuple(e): 1}))
    pairs = [(i, j) for i in range(k) for j in range(i, k)] if order >= 2 else []
    for i, j in pairs:
        e = [0] * k
        e[i] += 1
        e[j] += 1
        polys.append(multiply_polynomials(density, {tuple(e): 1}))
    V, S, groups = region_triangulations(regions, exact)
    values = integrate_polynomials(V, S, polys, exact, groups=groups, n_groups=len(regions))
    n = len(regions)
    m0 = values[:, 0]
    m1 = values[:, 1:1 + k] if order >= 1 else np.zeros((n, k), dtype=values.dtype)
    M2 = None
    if order >= 2:
        M2 = np.zeros((n, k, k), dtype=values.dtype)
        for c, (i, j) in enumerate(pairs):
            M2[:, i, j] = M2[:, j, i] = values[:, 1 + k + c]
    return m0, m1, M2


def product_density(polynomials, k: int) -> dict:
    """The product of per-coordinate polynomials {i: [c0, c1, ...]} as a dict {exponent tuple: coefficient}."""
    from polyattr.integrate.polynomial import multiply_polynomials

    density = {tuple([0] * k): Fraction(1)}
    for i, coeffs in polynomials.items():
        factor = {}
        for p, c in enumerate(coeffs):
            if c != 0:
                e = [0] * k
                e[i] = p
                factor[tuple(e)] = c
        density = multiply_polynomials(density, factor)
    return density


def region_triangulations(regions, exact: bool):
    """All regions' triangulations stacked: vertices (n, k), simplices (m, k+1), region of each simplex.

    Exact region sets carry their rational triangulations; float ones are triangulated from their
    vertex-facet incidences (pulling triangulation), as for second moments.
    """
    k = regions.dim
    all_vertices, all_simplices, groups, offset = [], [], [], 0
    for r in range(len(regions)):
        if hasattr(regions, "regions"):  # exactly confirmed regions
            V, S = regions.vertices(r), np.asarray(regions.simplices(r), dtype=np.int64)
            if not exact:
                V = np.asarray(V, dtype=float)
        else:
            from polyattr.geometry.vertices import facets_from_incidence
            from polyattr.integrate.triangulate import pulling_triangulation

            V, incidence = regions.vertices(r)
            V = np.asarray(V, float)
            facets = [f for _, f in facets_from_incidence(V, incidence, k)]
            S = np.asarray(pulling_triangulation(V, facets), dtype=np.int64)
        all_vertices.append(np.asarray(V, dtype=object if exact else float).reshape(-1, k))
        all_simplices.append(S.reshape(-1, k + 1) + offset)
        groups.append(np.full(len(S), r, dtype=np.int64))
        offset += len(V)
    if not all_vertices:
        return (np.zeros((0, k), dtype=object if exact else float), np.zeros((0, k + 1), dtype=np.int64),
                np.zeros(0, dtype=np.int64))
    return np.vstack(all_vertices), np.vstack(all_simplices), np.concatenate(groups)


# -------------------------------------------------------------------------------- constructors
def Dirac(point, exact: bool = False) -> Measure:
    """The unit point mass at ``point``."""
    return Measure([(field_of(exact).one(), PointPiece(as_vector(point, "point", exact=exact)[None, :], exact=exact))])


def Discrete(points, weights, exact: bool = False) -> Measure:
    """sum_i weights_i delta_{points_i} (signed weights allowed)."""
    return Measure([(field_of(exact).one(), PointPiece(points, weights, exact=exact))])


def Empirical(samples, exact: bool = False) -> Measure:
    """The empirical probability measure of a sample (each point weight 1/n).

    The integral is exact for the sample; as an estimate of the population law it carries a
    sampling error, reported as a 3-sigma confidence half-width.
    """
    pts = np.asarray(samples, dtype=field_of(exact).dtype)
    n = pts.shape[0] if pts.ndim == 2 else 1
    w = [Fraction(1, n)] * n if exact else np.full(n, 1.0 / n)
    return Measure([(field_of(exact).one(), PointPiece(pts, w, exact=exact, stochastic=True))])


def Uniform(domain, mass=1.0) -> Measure:
    """``mass`` times the uniform probability law on ``domain`` (box, polytope, slice or segment)."""
    piece = DensityPiece(domain, mass=mass)
    return Measure([(field_of(piece.exact).one(), piece)])


def Lebesgue(domain) -> Measure:
    """Lebesgue measure on ``domain`` (its k-dimensional volume as total mass; on a segment: length in t)."""
    return Uniform(domain, mass=domain.volume)


def PolynomialDensity(domain, polynomial: Mapping[tuple, object]) -> Measure:
    """The measure with density ``polynomial`` (dict {exponent tuple: coefficient}, in the domain's
    reduced coordinates; on a box: the coordinates themselves) with respect to Lebesgue measure."""
    piece = DensityPiece(domain, mass=domain.volume, polynomial=polynomial)
    return Measure([(Fraction(1) if piece.exact else 1.0, piece)])


def ProductDensity(box: Box, factors: Mapping[int, object]) -> Measure:
    """A product of per-coordinate factors on a box.

    ``factors[i]`` is ``("dirac", v)``, ``("uniform",)`` (uniform probability on [lower_i, upper_i])
    or ``("polynomial", [c0, c1, ...])`` (density c0 + c1 t + ... on [lower_i, upper_i], not
    renormalised).  Coordinates without a factor are uniform.
    """
    if not isinstance(box, Box):
        raise PolyattrError(f"box: expected a Box, got {type(box).__name__}")
    fixed, polys = {}, {}
    for i, f in factors.items():
        if not (isinstance(i, (int, np.integer)) and 0 <= i < box.dim):
            raise PolyattrError(f"factors: coordinate {i!r} is not in [0, {box.dim})")
        if not isinstance(f, tuple) or not f or f[0] not in ("dirac", "uniform", "polynomial"):
            raise PolyattrError(f"factors[{i}]: expected ('dirac', v), ('uniform',) or ('polynomial', coeffs), got {f!r}")
        if f[0] == "dirac":
            fixed[int(i)] = f[1]
        elif f[0] == "polynomial":
            polys[int(i)] = f[1]
    domain = AffineSlice(box, fixed) if fixed else box
    free = [i for i in range(box.dim) if i not in fixed]
    reduced_polys = {free.index(i): c for i, c in polys.items()}
    if not reduced_polys:
        return Uniform(domain)
    # DensityPiece's density is mass / volume times the polynomials: the polynomial factors are
    # densities with respect to Lebesgue measure, and each uniform factor is a probability
    # (1 / its side's length), so mass = the product of the sides carrying a polynomial.
    mass = box.field.one()
    for i in polys:
        mass *= box.upper[i] - box.lower[i]
    piece = DensityPiece(domain, mass=mass, polynomials=reduced_polys)
    return Measure([(field_of(piece.exact).one(), piece)])


def TruncatedGaussian(mean, std, box: Box, n_samples: int = 20000, rng=None) -> Measure:
    """A Gaussian N(mean, diag(std^2)) conditioned on ``box``, represented by a sample.

    There is no closed form for a Gaussian on a polytope, so this measure is *inexact*: integrals
    are Monte Carlo estimates whose error bound is a 3-sigma confidence half-width (a probabilistic
    bound, about 99.7 percent coverage), reported by the integration layer.
    """
    rng = np.random.default_rng(rng)
    mean = as_vector(mean, "mean", length=box.dim)
    std = as_vector(std, "std", length=box.dim)
    if np.any(std <= 0):
        raise PolyattrError("std: expected positive standard deviations")
    lo, hi = box.lower.astype(float), box.upper.astype(float)
    from scipy.stats import truncnorm

    a, b = (lo - mean) / std, (hi - mean) / std
    samples = truncnorm.rvs(a, b, loc=mean, scale=std, size=(n_samples, box.dim), random_state=rng)
    return Empirical(samples)
