"""Integrals of a ReLU network against measures: Corollary 4.1 as code.

    integral of f d(mu) = sum over regions P of ( w_P . m1(P) + b_P m0(P) )

:class:`Integrator` enumerates the regions of the model inside each piece's support (cached per
support, so the 2^d terms of interventional Shapley that share a slice share its regions; on a
batch the partition of the box is enumerated once and every line inside it -- ICE lines, slices
with one free coordinate -- is cut from it, :mod:`polyattr.geometry.cut`), asks
the piece for its moments on every region, and contracts them with the local affine maps.
In exact mode the same contraction runs on rationals over exactly confirmed regions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from polyattr.attribution.region_bounds import uniform_region_integral
from polyattr.errors import PolyattrError, RegionBudgetExceeded
from polyattr.geometry.domains import AffineSlice, Segment, domain_key, float_domain
from polyattr.geometry.exact_regions import cached_exact_region_set, exact_region_set, exact_sum
from polyattr.geometry.regions import DEFAULT_MAX_REGIONS, enumerate_regions
from polyattr.measures.core import DensityPiece, Measure, PointPiece
from polyattr.models.protocol import PiecewiseAffineModel
from polyattr.numerics import UNIT_ROUNDOFF as _U
from polyattr.numerics import gamma as _gamma
from polyattr.numerics import round_up

#: a batch stores the partition of its box for reuse only below this many regions
REUSE_MAX_REGIONS = 100_000


@dataclass
class Integrator:
    """Integrates one scalar output of a model against measures, caching regions and piece integrals.

    Attributes
    ----------
    regions_used : int
        Total number of regions enumerated over all supports (each support counted once).
    """

    model: PiecewiseAffineModel
    output: int
    exact: bool = False
    max_regions: int | None = DEFAULT_MAX_REGIONS
    backend: str = "auto"
    regions_used: int = 0
    record: bool = False
    #: a box whose partition, once enumerated, serves every slice and segment inside it (batches)
    reuse_box: object = None
    #: fresh region enumerations run, and region sets cut from the stored partition of ``reuse_box``
    enumerations: int = 0
    cuts: int = 0
    _box_partition: object = field(default=None, repr=False)
    _region_cache: dict = field(default_factory=dict, repr=False)
    _piece_cache: dict = field(default_factory=dict, repr=False)
    #: with ``record``: per piece (in order of first use) the data a certificate needs, and per
    #: call of :meth:`integrate` the linear combination [(coefficient, piece id), ...] it summed
    trace_pieces: dict = field(default_factory=dict, repr=False)
    trace_calls: list = field(default_factory=list, repr=False)
    #: with ``record``: per density piece key, the (regions, m0, m1, W, b) its integral was summed from
    _density_data: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.model = self.model.to_exact() if self.exact else self.model.to_float()

    # ------------------------------------------------------------------------------- regions
    def regions_on(self, domain):
        """The RegionSet of the model on ``domain`` (exact regions in exact mode), cached."""
        key = domain_key(domain)
        if key not in self._region_cache:
            regions = cached_exact_region_set(self.model, domain) if self.exact else None
            if regions is None:
                # float regions (cut from a batch's stored partition when possible); in exact mode
                # they are a proposal that exact_region_set confirms, or repairs where floats were wrong
                regions = self._float_regions(domain)
                if self.exact:
                    regions = exact_region_set(self.model, domain, regions, max_regions=self.max_regions,
                                               backend=self.backend)
            self._region_cache[key] = regions
            self.regions_used += len(regions)
        return self._region_cache[key]

    def _enumerate(self, domain, backend=None):
        self.enumerations += 1
        domain = float_domain(domain)
        # a slice or segment with <= 2 free coordinates has a few hundred regions: a thread pool
        # costs more than it saves there (and a batch enumerates thousands of them)
        small = isinstance(domain, Segment) or (isinstance(domain, AffineSlice) and len(domain.free) <= 2)
        workers = 1 if small else None
        return enumerate_regions(self.model.to_float(), domain, max_regions=self.max_regions,
                                 backend=backend or self.backend, workers=workers)

    def _float_regions(self, domain):
        """Float regions of ``domain``: cut from the stored partition of ``reuse_box`` when possible.

        Only exact mode cuts lines (its exact confirmation proves them); float mode enumerates each
        line, so that its integral keeps a proven error bound.
        """
        if self.reuse_box is None:
            return self._enumerate(domain)
        from polyattr.geometry.cut import can_cut, cut_regions

        box = float_domain(self.reuse_box)
        target = float_domain(domain)
        is_box = domain_key(target) == domain_key(box)
        if not (is_box or can_cut(box, target)) or not (is_box or self.exact):
            # float mode enumerates lines: a cut line has no proven vertex radius (its breakpoints
            # are float intersections, its pieces checked by a tolerance), so its integral would
            # carry no proven bound; a fresh 1-D enumeration is verified (geometry/verify_partition.py)
            return self._enumerate(domain)
        if self._box_partition is None:  # enumerated once, when a batch first needs it
            try:
                self.enumerations += 1
                self._box_partition = enumerate_regions(self.model.to_float(), box, backend=self.backend,
                                                        max_regions=min(self.max_regions or REUSE_MAX_REGIONS,
                                                                        REUSE_MAX_REGIONS))
            except RegionBudgetExceeded:
                self.reuse_box = None  # too large to be worth storing: enumerate each line instead
                return self._enumerate(domain)
        if is_box:
            return self._box_partition
        regions = cut_regions(self._box_partition, target)
        if regions is not None:
            self.cuts += 1
            return regions
        return self._enumerate(domain)

    # ----------------------------------------------------------------------------- integrals
    def integrate(self, measure: Measure):
        """(value, error_bound) of the integral of the output against ``measure``.

        The value is a Fraction in exact mode (error bound 0), else a float with an absolute error
        bound: the pieces' proven bounds (model evaluations, region integrals:
        :mod:`polyattr.attribution.region_bounds`; ``inf`` where no proof is available) combined
        with the rounding of the linear combination (:func:`_combination_bound`), plus a 3-sigma
        sampling half-width for empirical pieces (a probabilistic bound, stated as such).
        """
        if not isinstance(measure, Measure):
            raise PolyattrError(f"measure: expected a polyattr Measure, got {type(measure).__name__}")
        if measure.ambient_dim is not None and measure.ambient_dim != self.model.n_inputs:
            raise PolyattrError(
                f"measure: lives in R^{measure.ambient_dim} but the model has {self.model.n_inputs} inputs"
            )
        zero = self.model.field.zero()
        value = zero
        combination, coefficients, values, errors = [], [], [], []
        for coef, piece in measure.terms:
            v, e = self.integrate_piece(piece)
            if self.record:
                combination.append((coef, self._trace_piece(piece, v)))
            if self.exact:
                value += Fraction(coef) * v
            else:
                value += float(coef) * v
                coefficients.append(float(coef))
                values.append(float(v))
                errors.append(float(e))
        bound = 0.0 if self.exact else _combination_bound(coefficients, values, errors)
        if self.record:
            self.trace_calls.append(combination)
        return value, bound

    def _trace_piece(self, piece, value) -> int:
        """Record a piece's certificate data once; return its id (order of first use)."""
        if isinstance(piece, DensityPiece):
            key = ("density",) + piece.key
        else:
            key = ("points", tuple(map(str, np.ravel(piece.points))), tuple(map(str, piece.weights)))
        entry = self.trace_pieces.get(key)
        if entry is None:
            entry = {"id": len(self.trace_pieces), "piece": piece, "value": value}
            if isinstance(piece, DensityPiece):
                data = self._density_data.get(key[1:])
                if data is None:  # integrated before recording started: the one extra computation
                    self._integrate_density(piece)
                    data = self._density_data[key[1:]]
                regions, m0, m1, W, b = data
                entry.update(regions=regions, m0=m0, m1=m1, W=W, b=b)
            else:
                entry["values"] = [self.model(p, output=self.output) for p in piece.points]
            self.trace_pieces[key] = entry
        return entry["id"]

    def integrate_piece(self, piece):
        key = _piece_key(piece)
        if key is None or key not in self._piece_cache:
            if isinstance(piece, PointPiece):
                result = self._integrate_points(piece)
            elif isinstance(piece, DensityPiece):
                result = self._integrate_density(piece)
            else:  # pragma: no cover - Measure validates its pieces
                raise PolyattrError(f"piece: unsupported type {type(piece).__name__}")
            if key is None:
                return result
            self._piece_cache[key] = result
        return self._piece_cache[key]

    def _integrate_points(self, piece: PointPiece):
        if self.exact:
            if not piece.exact:
                piece = PointPiece(piece.points, piece.weights, exact=True)
            values = [self.model(p, output=self.output) for p in piece.points]
            return sum((w * v for w, v in zip(piece.weights, values)), start=Fraction(0)), 0.0
        values = np.atleast_1d(self.model(piece.points.astype(float), output=self.output))
        w = piece.weights.astype(float)
        value = float(w @ values)
        n = len(values)
        # sum w_i (f(p_i) + e_i): the evaluation errors weighted, plus the n-term dot product's rounding
        bound = float(round_up(np.abs(w) @ self.model.evaluation_error_bound(piece.points.astype(float), self.output), n + 1))
        # (gamma_{n+2}: one more u for weights rounded from rationals)
        bound += float(round_up(_gamma(n + 2) * float(np.abs(w) @ np.abs(values)), n + 2))
        if piece.stochastic and n > 1:
            bound += 3.0 * float(np.std(values, ddof=1)) * abs(float(np.sum(w))) / np.sqrt(n)
        return value, bound

    def _integrate_density(self, piece: DensityPiece):
        regions = self.regions_on(piece.domain)
        uniform = piece.polynomials is None and piece.polynomial is None
        if not self.exact and not self.record and uniform:
            # triangulated moments with proven rounding, vertex-displacement and affine-map terms
            return uniform_region_integral(regions, piece, self.model, self.output)
        if self.exact and not self.record and uniform and hasattr(regions, "flint_moments"):
            return _exact_uniform_integral(regions, piece, self.output), 0.0
        m0, m1, _ = piece.region_moments(regions, order=1)
        W, b = regions.affine_maps(self.output)
        if self.record:  # what a certificate needs, kept from this computation
            self._density_data[piece.key] = (regions, m0, m1, W, b)
        if self.exact:
            return _exact_contraction(W, b, m0, m1), 0.0
        if uniform:
            return uniform_region_integral(regions, piece, self.model, self.output)
        # polynomial densities: the float kernels of integrate.polynomial carry no proven bound yet
        m0 = np.asarray(m0, float)
        m1 = np.asarray(m1, float)
        return float(np.sum(np.einsum("nd,nd->n", W, m1) + b * m0)), float("inf")


def _exact_uniform_integral(regions, piece, output) -> Fraction:
    """The exact integral of a uniform piece from the regions' reduced moments, in python-flint.

    With z = E u + z0 and density s in reduced coordinates (``piece.density_scale()``), region i
    contributes s ((W_i E) . m1u_i + (W_i . z0 + b_i) m0u_i): the same number as contracting the
    lifted moments (:func:`_exact_contraction`), without lifting every region's large rationals.
    """
    from flint import fmpq

    from polyattr.exact_linalg import to_fmpq

    E, z0 = piece.reduction.embedding, piece.reduction.offset
    d, k = E.shape
    Eq = [[to_fmpq(E[i, j]) for j in range(k)] for i in range(d)]
    z0q = [to_fmpq(v) for v in z0]
    W, b = regions.affine_maps(output)
    terms = []
    for i, (m0u, m1u) in enumerate(regions.flint_moments()):
        Wi = [to_fmpq(v) for v in W[i]]
        WE = [sum((Wi[r] * Eq[r][j] for r in range(d) if Wi[r] != 0 and Eq[r][j] != 0), fmpq(0)) for j in range(k)]
        c0 = to_fmpq(b[i]) + sum((Wi[r] * z0q[r] for r in range(d) if Wi[r] != 0 and z0q[r] != 0), fmpq(0))
        t = c0 * m0u
        for j in range(k):
            if WE[j] != 0:
                t += WE[j] * m1u[j]
        terms.append(t)
    return exact_sum(terms) * Fraction(piece.density_scale())


def _exact_contraction(W, b, m0, m1) -> Fraction:
    """sum_i (W_i . m1_i + b_i m0_i) exactly, in python-flint rationals.

    The regions' denominators are products of different vertex denominators, so the sum's
    denominator grows to their lcm (hundreds of thousands of bits on a 3-input [32, 32] box): a
    running sum would redo that size at every term, a balanced (pairwise) sum does it log n times.
    """
    from polyattr.exact_linalg import to_fmpq

    n, d = (W.shape[0], W.shape[1]) if W.ndim == 2 else (len(m0), 0)
    terms = []
    for i in range(n):
        t = to_fmpq(b[i]) * to_fmpq(m0[i])
        for j in range(d):
            if W[i, j] != 0:
                t += to_fmpq(W[i, j]) * to_fmpq(m1[i, j])
        terms.append(t)
    return exact_sum(terms)


def _combination_bound(coefficients, values, errors) -> float:
    """A proven bound on |fl(sum_i c_i v_i) - sum_i c*_i v*_i| for float coefficients and values.

    c_i = float(c*_i) is within u |c_i| of the exact coefficient (exact when it is a float already)
    and |v_i - v*_i| <= e_i; the products and the sequential sum of T terms add at most
    gamma_{T+1} sum |c_i v_i| (Higham, eq. 3.5).  So the error is at most
    sum (1 + u) |c_i| e_i + (gamma_{T+1} + u (1 + gamma_{T+1})) sum |c_i v_i|, rounded upward.
    """
    if not coefficients:
        return 0.0
    c = np.abs(np.asarray(coefficients, float))
    v = np.abs(np.asarray(values, float))
    e = np.asarray(errors, float)
    T = len(c)
    propagated = round_up(np.sum(c * e) * (1 + _U), 2 * T + 2)
    rounding = round_up(_gamma(T + 3) * np.sum(c * v), 2 * T + 2)
    total = float(round_up(propagated + rounding, 1))
    return total if np.isfinite(total) else float("inf")


def _piece_key(piece):
    if isinstance(piece, DensityPiece):
        return ("density",) + piece.key
    return None  # point pieces are cheap: no caching (keys would hash whole arrays)
