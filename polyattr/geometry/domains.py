"""Domains of integration and enumeration: boxes, polytopes, affine slices and segments.

Every domain can be *reduced* to a full-dimensional box or polytope in its own coordinates u in
R^k together with an affine embedding z = E u + z0 into the model's input space.  Region
enumeration works on the reduced domain with the model composed with the embedding, so a slice or
a segment costs what a k-dimensional problem costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.numbers import as_vector, to_fraction  # as_vector: re-exported for the layers above
from polyattr.numerics import NumberField, field_of


@dataclass(frozen=True, eq=False)
class Reduction:
    """A domain written as z = embedding @ u + offset with u in ``inner`` (a full-dimensional domain)."""

    embedding: np.ndarray  # (d, k)
    offset: np.ndarray  # (d,)
    inner: "Box | Polytope"

    @property
    def is_identity(self) -> bool:
        E = self.embedding
        return E.shape[0] == E.shape[1] and bool(np.all(E == np.eye(E.shape[0]))) and not np.any(self.offset != 0)

    def lift(self, U: np.ndarray) -> np.ndarray:
        """Map reduced coordinates (k,) or (n, k) to input space."""
        U = np.asarray(U)
        return U @ self.embedding.T + self.offset


class Box:
    """The hyperrectangle [lower, upper] (default the unit cube)."""

    @property
    def field(self) -> NumberField:
        """The number field of the domain's coordinates (FLOAT64 or RATIONAL)."""
        return field_of(self.exact)

    def __init__(self, lower, upper=None, exact: bool = False):
        if upper is None and isinstance(lower, (int, np.integer)):
            n = int(lower)
            lower, upper = [0] * n, [1] * n
        self.lower = as_vector(lower, "lower", exact=exact)
        self.upper = as_vector(upper, "upper", length=self.lower.shape[0], exact=exact)
        self.exact = exact
        if self.lower.shape[0] == 0:
            raise PolyattrError("lower/upper: expected at least one coordinate")
        bad = [i for i in range(self.dim) if not self.lower[i] < self.upper[i]]
        if bad:
            i = bad[0]
            raise PolyattrError(
                f"lower/upper: expected lower < upper in every coordinate, got lower[{i}]={self.lower[i]} "
                f">= upper[{i}]={self.upper[i]} (an empty or degenerate box)"
            )

    @classmethod
    def unit(cls, d: int, exact: bool = False) -> "Box":
        return cls([0] * d, [1] * d, exact=exact)

    @property
    def dim(self) -> int:
        return self.lower.shape[0]

    @property
    def ambient_dim(self) -> int:
        return self.dim

    @property
    def volume(self):
        v = self.field.one()
        for lo, hi in zip(self.lower, self.upper):
            v *= hi - lo
        return v

    def halfspaces(self) -> tuple[np.ndarray, np.ndarray]:
        """``A z <= b`` with rows -e_i z <= -lower_i, then e_i z <= upper_i."""
        d = self.dim
        if self.exact:
            eye = np.array([[Fraction(int(i == j)) for j in range(d)] for i in range(d)], dtype=object)
        else:
            eye = np.eye(d)
        return np.vstack([-eye, eye]), np.concatenate([-self.lower, self.upper])

    def contains(self, x, tol: float = 0.0) -> bool:
        x = np.asarray(x)
        return bool(np.all(x >= self.lower - tol) and np.all(x <= self.upper + tol))

    def check_point(self, x, name: str = "x", tol: float = 1e-12) -> np.ndarray:
        """Validate that x is a point of the box (a clear error otherwise)."""
        x = as_vector(x, name, length=self.dim, exact=self.exact)
        if not self.contains(x, tol=0 if self.exact else tol):
            i = int(np.argmax((x < self.lower) | (x > self.upper)))
            raise PolyattrError(
                f"{name}: point outside the domain: {name}[{i}]={x[i]} is not in "
                f"[{self.lower[i]}, {self.upper[i]}]"
            )
        return x

    def reduce(self) -> Reduction:
        d = self.dim
        if self.exact:
            E = np.array([[Fraction(int(i == j)) for j in range(d)] for i in range(d)], dtype=object)
            z0 = np.array([Fraction(0)] * d, dtype=object)
        else:
            E, z0 = np.eye(d), np.zeros(d)
        return Reduction(E, z0, self)

    def chebyshev_center(self):
        return (self.lower + self.upper) / 2

    def __repr__(self) -> str:
        return f"Box(lower={list(self.lower)}, upper={list(self.upper)})"


class Polytope:
    """A bounded full-dimensional polytope {z : A z <= b} (optionally with equalities A_eq z = b_eq).

    With equalities the polytope is lower-dimensional; :meth:`reduce` parametrises its affine hull.
    """

    @property
    def field(self) -> NumberField:
        """The number field of the domain's coordinates (FLOAT64 or RATIONAL)."""
        return field_of(self.exact)

    def __init__(self, A, b, A_eq=None, b_eq=None):
        A = np.asarray(A, dtype=float)
        b = np.asarray(b, dtype=float)
        if A.ndim != 2 or b.ndim != 1 or A.shape[0] != b.shape[0]:
            raise PolyattrError(f"A/b: expected A of shape (m, d) and b of shape (m,), got {A.shape} and {b.shape}")
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise PolyattrError("A/b: contains NaN or infinite values")
        self.A, self.b = A, b
        self.exact = False
        d = A.shape[1]
        if A_eq is not None:
            A_eq = np.atleast_2d(np.asarray(A_eq, dtype=float))
            b_eq = np.atleast_1d(np.asarray(b_eq, dtype=float))
            if A_eq.shape[1] != d or A_eq.shape[0] != b_eq.shape[0]:
                raise PolyattrError(f"A_eq/b_eq: expected shapes (p, {d}) and (p,), got {A_eq.shape} and {b_eq.shape}")
        self.A_eq, self.b_eq = A_eq, b_eq
        from polyattr.geometry.lp import chebyshev_center

        red = self.reduce()
        inner_A, inner_b = red.inner.halfspaces()
        center, radius = chebyshev_center(inner_A, inner_b)
        if center is None or radius <= 1e-12:
            raise PolyattrError("A/b: the polytope is empty or has no interior (degenerate domain)")
        self._center = red.lift(center)
        self._volume = None

    @property
    def ambient_dim(self) -> int:
        return self.A.shape[1]

    @property
    def dim(self) -> int:
        return self.ambient_dim - (0 if self.A_eq is None else np.linalg.matrix_rank(self.A_eq))

    def halfspaces(self) -> tuple[np.ndarray, np.ndarray]:
        return self.A, self.b

    def contains(self, x, tol: float = 1e-9) -> bool:
        x = np.asarray(x, dtype=float)
        ok = np.all(self.A @ x <= self.b + tol)
        if self.A_eq is not None:
            ok = ok and np.all(np.abs(self.A_eq @ x - self.b_eq) <= tol)
        return bool(ok)

    def check_point(self, x, name: str = "x", tol: float = 1e-9) -> np.ndarray:
        x = as_vector(x, name, length=self.ambient_dim)
        if not self.contains(x, tol):
            raise PolyattrError(f"{name}: point outside the domain polytope")
        return x

    def chebyshev_center(self):
        return self._center

    @property
    def volume(self) -> float:
        if self._volume is None:
            from polyattr.geometry.vertices import polytope_volume

            red = self.reduce()
            A, b = red.inner.halfspaces()
            self._volume = polytope_volume(A, b)
        return self._volume

    def reduce(self) -> Reduction:
        if self.A_eq is None:
            d = self.ambient_dim
            return Reduction(np.eye(d), np.zeros(d), self)
        from scipy.linalg import null_space

        z0, *_ = np.linalg.lstsq(self.A_eq, self.b_eq, rcond=None)
        if not np.allclose(self.A_eq @ z0, self.b_eq, atol=1e-9):
            raise PolyattrError("A_eq/b_eq: the equalities have no solution (empty domain)")
        E = null_space(self.A_eq)
        inner = _InnerPolytope(self.A @ E, self.b - self.A @ z0)
        return Reduction(E, z0, inner)


class _InnerPolytope:
    """A full-dimensional H-polytope in reduced coordinates (no validation: built internally)."""

    exact = False

    def __init__(self, A, b):
        self.A, self.b = A, b

    @property
    def dim(self) -> int:
        return self.A.shape[1]

    def halfspaces(self):
        return self.A, self.b

    def chebyshev_center(self):
        from polyattr.geometry.lp import chebyshev_center

        return chebyshev_center(self.A, self.b)[0]


class AffineSlice:
    """The slice of a box where some coordinates are fixed: {z in box : z_i = v_i for i in fixed}.

    Used by partial dependence and interventional Shapley, whose measures live on such slices.
    """

    @property
    def field(self) -> NumberField:
        """The number field of the domain's coordinates (FLOAT64 or RATIONAL)."""
        return field_of(self.exact)

    def __init__(self, box: Box, fixed: Mapping[int, object]):
        if not isinstance(box, Box):
            raise PolyattrError(f"box: expected a Box, got {type(box).__name__}")
        self.box = box
        self.exact = box.exact
        fixed = dict(fixed)
        for i, v in fixed.items():
            if not (isinstance(i, (int, np.integer)) and 0 <= i < box.dim):
                raise PolyattrError(f"fixed: expected coordinate indices in [0, {box.dim}), got {i!r}")
            v = self.field.convert(v)
            if not np.isfinite(float(v)) or not box.lower[i] <= v <= box.upper[i]:
                raise PolyattrError(f"fixed: value {v} for coordinate {i} is outside [{box.lower[i]}, {box.upper[i]}]")
            fixed[int(i)] = v
        self.fixed = dict(sorted(fixed.items()))
        self.free = [i for i in range(box.dim) if i not in self.fixed]

    @property
    def dim(self) -> int:
        return len(self.free)

    @property
    def ambient_dim(self) -> int:
        return self.box.dim

    @property
    def volume(self):
        """The k-dimensional volume of the slice (1 for a point)."""
        v = self.field.one()
        for i in self.free:
            v *= self.box.upper[i] - self.box.lower[i]
        return v

    def reduce(self) -> Reduction:
        d, k = self.box.dim, self.dim
        zero, one = (Fraction(0), Fraction(1)) if self.exact else (0.0, 1.0)
        E = np.full((d, k), zero, dtype=self.field.dtype)
        z0 = np.full(d, zero, dtype=self.field.dtype)
        for col, i in enumerate(self.free):
            E[i, col] = one
        for i, v in self.fixed.items():
            z0[i] = v
        if k == 0:
            return Reduction(E, z0, None)
        inner = Box(self.box.lower[self.free], self.box.upper[self.free], exact=self.exact)
        return Reduction(E, z0, inner)

    def __repr__(self) -> str:
        return f"AffineSlice(fixed={self.fixed}, free={self.free})"


class Segment:
    """The segment from ``start`` to ``end``; reduced coordinate t in [0, 1], z = start + t (end - start)."""

    @property
    def field(self) -> NumberField:
        """The number field of the domain's coordinates (FLOAT64 or RATIONAL)."""
        return field_of(self.exact)

    def __init__(self, start, end, exact: bool = False):
        self.start = as_vector(start, "start", exact=exact)
        self.end = as_vector(end, "end", length=self.start.shape[0], exact=exact)
        self.exact = exact
        if all(self.start[i] == self.end[i] for i in range(self.start.shape[0])):
            raise PolyattrError("start/end: the segment is degenerate (start equals end)")

    @property
    def dim(self) -> int:
        return 1

    @property
    def ambient_dim(self) -> int:
        return self.start.shape[0]

    @property
    def volume(self):
        """Length in the parameter t (always 1): measures on segments are defined in t."""
        return self.field.one()

    def reduce(self) -> Reduction:
        E = (self.end - self.start).reshape(-1, 1)
        return Reduction(E, self.start.copy(), Box.unit(1, exact=self.exact))

    def __repr__(self) -> str:
        return f"Segment(start={list(self.start)}, end={list(self.end)})"


Domain = Box | Polytope | AffineSlice | Segment


def domain_key(domain) -> tuple:
    """A hashable description of a domain's content (equal domains, equal keys): a cache key."""
    def t(a):
        return tuple(a.tolist()) if isinstance(a, np.ndarray) else tuple(a)

    if isinstance(domain, Box):
        return ("box", domain.exact, t(domain.lower), t(domain.upper))
    if isinstance(domain, AffineSlice):
        return ("slice", domain_key(domain.box), tuple(domain.fixed.items()))
    if isinstance(domain, Segment):
        return ("segment", domain.exact, t(domain.start), t(domain.end))
    if isinstance(domain, Polytope):
        eq = None if domain.A_eq is None else (domain.A_eq.tobytes(), domain.b_eq.tobytes())
        return ("polytope", domain.A.tobytes(), domain.b.tobytes(), eq)
    raise PolyattrError(f"domain: unsupported type {type(domain).__name__}")


def float_domain(domain) -> Domain:
    """The float64 twin of an exact domain (the same domain when it is already in floats)."""
    if not getattr(domain, "exact", False):
        return domain
    if isinstance(domain, Box):
        return Box(domain.lower.astype(float), domain.upper.astype(float))
    if isinstance(domain, AffineSlice):
        return AffineSlice(float_domain(domain.box), {i: float(v) for i, v in domain.fixed.items()})
    if isinstance(domain, Segment):
        return Segment(domain.start.astype(float), domain.end.astype(float))
    raise PolyattrError(f"domain: no float twin for {type(domain).__name__}")


def as_domain(domain, d: int, exact: bool = False) -> Domain:
    """Normalise a user's domain: None (unit cube), a (lower, upper) pair, or a domain object."""
    if domain is None:
        return Box.unit(d, exact=exact)
    if isinstance(domain, tuple) and len(domain) == 2:
        domain = Box(domain[0], domain[1], exact=exact)
    if not isinstance(domain, (Box, Polytope, AffineSlice, Segment)):
        raise PolyattrError(
            f"domain: expected None, (lower, upper), Box, Polytope, AffineSlice or Segment, got {type(domain).__name__}"
        )
    if domain.ambient_dim != d:
        raise PolyattrError(f"domain: expected a domain in R^{d} (the model's inputs), got dimension {domain.ambient_dim}")
    if exact and not domain.exact:
        if isinstance(domain, Box):
            domain = Box(domain.lower, domain.upper, exact=True)
        elif isinstance(domain, Segment):
            domain = Segment(domain.start, domain.end, exact=True)
        elif isinstance(domain, AffineSlice):
            domain = AffineSlice(Box(domain.box.lower, domain.box.upper, exact=True), domain.fixed)
        else:
            raise PolyattrError("domain: exact mode supports boxes, slices and segments, not general polytopes")
    return domain
