"""Exact region enumeration: :class:`ExactRegionSet`.

The float enumeration (:func:`polyattr.geometry.regions.enumerate_regions`) proposes the activation
patterns of the regions of a model inside a domain.  :func:`exact_region_set` turns each proposal
into an exact rational polytope, repairs the proposal exactly where floats were wrong, and proves
that the regions tile the domain:

1. rows in reduced coordinates u (z = E u + z0), as Fractions: the pattern's rows of the model
   composed exactly with the domain's embedding, and the domain's own rows;
2. *canonical patterns*: a neuron whose pre-activation is identically 0 on the support (under the
   pattern of the earlier layers) is marked inactive, like a tie (``activation_pattern`` reads
   ``> 0``).  Then two distinct patterns have interiors that are disjoint: at the first neuron where
   they differ the pre-activation is the same affine function for both, not identically 0, and
   one pattern asks >= 0, the other <= 0, so the overlap lies in a hyperplane;
3. float pre-selection of the rows that touch the float vertices, exact vertices and incidences of
   those rows with ``cdd.gmp``, then an exact check that every dropped row holds at every exact
   vertex (if not, the rows are added back and the vertices recomputed);
   When the float proposal is a split run that :mod:`~polyattr.geometry.verify_partition` proved
   to be the exact partition (same exact model and domain), (3) and (4) take its proven tight sets
   instead: one python-flint solve per distinct vertex, facets from the incidences
   (:mod:`polyattr.geometry.exact_from_split`); a region that path cannot confirm, or a result that
   does not tile, goes through cdd.gmp as below;
4. full dimension (exact affine rank of the vertices, python-flint), irredundant H-form (the rows
   tight on a (k-1)-dimensional set of vertices), pulling triangulation and exact moments;
5. the exact volumes must sum exactly to the volume of the support: with (2) this proves that the
   regions tile the support (no region missed, none counted twice);
6. *repair*: when they do not (the float enumeration missed a region: decimal weights whose float
   twins move a hyperplane, slivers thinner than float resolution, huge or tiny boxes), an exact
   adjacency traversal runs from the confirmed regions: for every neuron facet of every region, a
   rational point of the facet's relative interior (the mean of its exact vertices) is pushed
   across the facet by a rational step, halved until the point is in the interior of a region
   (no pre-activation exactly 0 unless identically 0) whose closure contains the facet point; the
   canonical pattern read there is confirmed as in (3)-(4).  The region adjacency graph of a
   polyhedral subdivision of a convex domain is connected, so the traversal reaches every region;
   the check in (5) then runs again (a failure there would be a bug, reported as
   :class:`TilingError`).

Arithmetic: each layer is scaled to integers (float weights are dyadic), so rows, sign tests,
ranks, simplex volumes and local affine maps run on Python integers (ranks and determinants in
python-flint's ``fmpz_mat``); Fractions appear only in the results.  Measured cost on [16, 16]
networks: about 3 ms per region for d = 2 and 4-6 ms for d = 3 (cdd.gmp on the pre-selected rows
is about half of it).

Regions whose exact polytope is empty or lower-dimensional (float slivers) are dropped, and equal
canonical patterns are merged, before the check in (5).  Regions are stored sorted by their
pattern bits (a canonical order, independent of the enumeration order), vertices sorted
lexicographically.

The result has the interface of :class:`~polyattr.geometry.regions.RegionSet` that the integrator
uses (``len``, ``patterns``, ``reduction``, ``dim``, ``moments``, ``constraint_rows``,
``affine_maps``) with Fractions, plus ``vertices(i)``, ``halfspaces(i)`` (irredundant, with the
source of each row) and ``simplices(i)``.  Exact region sets are cached per (model, domain).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from flint import fmpq, fmpq_mat, fmpz_mat

from polyattr.errors import PolyattrError
from polyattr.exact_linalg import to_fmpq
from polyattr.geometry.domains import AffineSlice, Box, Segment, domain_key, float_domain
from polyattr.models.protocol import PiecewiseAffineModel

__all__ = ["exact_sum", "TilingError", "ExactRegion", "ExactRegionSet", "exact_region_set", "cached_exact_region_set", "canonical_rows"]

class TilingError(PolyattrError):
    """The exactly confirmed and repaired regions do not tile the support (an internal error)."""


_CACHE: "OrderedDict[tuple, ExactRegionSet]" = OrderedDict()
_CACHE_SIZE = 256  # region sets
_CACHE_REGIONS = 200_000  # and at most this many regions in all (exact vertices are big objects)


# ------------------------------------------------------------------------------------ data
@dataclass(frozen=True, eq=False)
class ExactRegion:
    """One exactly confirmed region in reduced coordinates.

    ``rows``: the irredundant H-form as (source, a, b) with ``a . u <= b``; ``source`` is the
    neuron index n (0 <= n < n_neurons) or ``n_neurons + r`` for row r of the domain's H-form.
    """

    pattern: np.ndarray
    vertices: np.ndarray  # (n_v, k) Fractions
    rows: tuple  # ((source, a (k,), b), ...)
    simplices: np.ndarray  # (m, k+1) int
    volume: Fraction
    first_moment: np.ndarray  # (k,) Fractions
    #: per row of ``rows``, the indices of the vertices on that facet
    facet_vertices: tuple = ()
    #: (volume, first moment) as python-flint rationals when the path that built the region had
    #: them (the same numbers; saves converting the Fractions back for exact sums)
    flint_moments: tuple | None = None


@dataclass(eq=False)
class ExactRegionSet:
    """Exactly confirmed regions of ``model`` inside ``domain`` (see the module docstring)."""

    model: PiecewiseAffineModel
    domain: object
    reduction: object
    regions: list
    support_volume: Fraction
    float_regions: int = 0
    #: how many regions the exact traversal added to the float proposal
    repaired: int = 0
    #: how many regions came from a verified split run's tight sets (no cdd; see exact_from_split)
    from_verified_split: int = 0
    _m2: list | None = field(default=None, repr=False)
    _maps: tuple | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.regions)

    @property
    def dim(self) -> int:
        return 0 if self.reduction.inner is None else self.reduction.inner.dim

    @property
    def patterns(self) -> np.ndarray:
        n = self.model.n_neurons
        return np.array([r.pattern for r in self.regions], dtype=bool).reshape(len(self), n)

    @property
    def volumes(self) -> np.ndarray:
        return np.array([r.volume for r in self.regions], dtype=object)

    @property
    def total_volume(self) -> Fraction:
        return exact_sum(r.volume for r in self.regions)

    @property
    def domain_volume(self) -> Fraction:
        return self.support_volume

    def vertices(self, i: int) -> np.ndarray:
        return self.regions[i].vertices

    def simplices(self, i: int) -> np.ndarray:
        return self.regions[i].simplices

    def halfspaces(self, i: int):
        """Irredundant ``A u <= b`` of region i (Fractions)."""
        rows = self.regions[i].rows
        k = self.dim
        A = np.array([list(a) for _, a, _ in rows], dtype=object).reshape(len(rows), k)
        b = np.array([bb for _, _, bb in rows], dtype=object)
        return A, b

    def row_sources(self, i: int) -> list[int]:
        return [s for s, _, _ in self.regions[i].rows]

    def constraint_rows(self, i: int):
        return self.halfspaces(i)

    def moments(self, order: int = 1, regions=None):
        """Exact Lebesgue moments in reduced coordinates: m0 (n,), m1 (n, k), M2 (n, k, k) or None."""
        if order not in (0, 1, 2):
            raise PolyattrError(f"order: expected 0, 1 or 2, got {order!r}")
        idx = range(len(self)) if regions is None else [int(i) for i in regions]
        k = self.dim
        m0 = np.array([self.regions[i].volume for i in idx], dtype=object)
        m1 = np.array([list(self.regions[i].first_moment) for i in idx], dtype=object).reshape(len(m0), k)
        if order < 2:
            return m0, m1, None
        if self._m2 is None:
            from polyattr.integrate.exact import exact_simplex_moments

            out = []
            for r in self.regions:
                if k == 0:
                    out.append(np.zeros((0, 0), dtype=object))
                    continue
                _, _, M2 = exact_simplex_moments(r.vertices, r.simplices, n_groups=1, order=2)
                out.append(M2[0])
            self._m2 = out
        M2 = np.array([self._m2[i] for i in idx], dtype=object).reshape(len(m0), k, k)
        return m0, m1, M2

    def flint_moments(self):
        """Per region (volume, first moment tuple) as python-flint ``fmpq`` (reduced coordinates)."""
        out = []
        for r in self.regions:
            if r.flint_moments is None:
                m0 = to_fmpq(r.volume)
                m1 = tuple(to_fmpq(v) for v in r.first_moment)
                object.__setattr__(r, "flint_moments", (m0, m1))
            out.append(r.flint_moments)
        return out

    def affine_maps(self, output: int | None = None):
        """Exact local affine maps in input coordinates: (n, n_outputs, d), (n, n_outputs) or one output."""
        n, d, o = len(self), self.model.n_inputs, self.model.n_outputs
        if self._maps is None:
            W = np.empty((n, o, d), dtype=object)
            b = np.empty((n, o), dtype=object)
            from polyattr.geometry.exact_from_split import IncrementalMaps

            # regions are sorted by pattern: consecutive maps differ by a few rank-one terms
            maps = IncrementalMaps(self.model.to_exact())
            for i, r in enumerate(self.regions):
                W[i], b[i] = maps.affine_map(r.pattern)
            self._maps = (W, b)
        W, b = self._maps
        if output is None:
            return W, b
        k = self.model.check_output(output)
        return W[:, k, :], b[:, k]

    def find(self, point) -> int:
        """Index of a region whose closure contains ``point`` (input coordinates on the support)."""
        z = np.array([Fraction(v) for v in point], dtype=object)
        u = _to_reduced_exact(self.reduction, z)
        for i in range(len(self)):
            A, b = self.halfspaces(i)
            if all(sum((A[r, j] * u[j] for j in range(len(u))), start=Fraction(0)) <= b[r] for r in range(len(b))):
                return i
        raise PolyattrError(f"point: {[str(v) for v in z]} is not in the enumerated domain")


def exact_sum(values) -> Fraction:
    """The exact sum of rationals (Fractions, ints or fmpq), pairwise in python-flint.

    Region volumes have unrelated large denominators: a running Fraction sum redoes the growing
    lcm (and its gcds) at every term, a balanced sum only log n times."""
    terms = [v if isinstance(v, fmpq) else to_fmpq(v) for v in values]
    if not terms:
        return Fraction(0)
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return Fraction(int(terms[0].p), int(terms[0].q))


# ------------------------------------------------------------------------- canonical rows
def canonical_rows(composed: PiecewiseAffineModel, pattern) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical pattern and its rows ``A u <= c`` (one per cutting unit) of an exact network.

    A unit whose pre-activation (under the earlier layers' pattern) is identically 0 is made
    inactive.  Returns (pattern, A (n_neurons, k), c (n_neurons,)) as Fractions (the model's
    :meth:`integer_pattern_rows`, divided by their scales).
    """
    pat, A, c, scales = composed.to_exact().integer_pattern_rows(pattern)
    k = composed.n_inputs
    A_f = np.array([[Fraction(int(v), s) for v in row] for row, s in zip(A, scales)], dtype=object).reshape(len(scales), k)
    c_f = np.array([Fraction(int(v), s) for v, s in zip(c, scales)], dtype=object)
    return pat, A_f, c_f


class _IntegerNetwork:
    """The exact algebra the confirmation needs, from the model's integer-scaled form.

    ``rows(pattern)``: canonical pattern, integer rows A_i (n, k), c_i (n,) and per-row scales S
    (A = A_i / S); ``affine_map(pattern)``: the exact local map (W_P, b_P) as Fractions.
    """

    def __init__(self, net: PiecewiseAffineModel):
        self.net = net.to_exact()
        self.k = net.n_inputs

    def affine_map(self, pattern):
        return self.net.local_affine_map(pattern)

    def rows(self, pattern):
        return self.net.integer_pattern_rows(pattern)


# ---------------------------------------------------------------------------- exact vertices
def _int_rows(A, b):
    """Rows a.u <= b as integer rows (scaled by the lcm of their denominators)."""
    out = []
    for a, bb in zip(A, b):
        den = math.lcm(bb.denominator, *(x.denominator for x in a))
        out.append(([int(x * den) for x in a], int(bb * den)))
    return out


def _int_vertices(V):
    """Vertices as (integer numerators, common denominator) per vertex."""
    out = []
    for v in V:
        den = math.lcm(*(x.denominator for x in v)) if len(v) else 1
        out.append(([int(x * den) for x in v], den))
    return out


def _holds(int_row, int_vertex) -> bool:
    a, bb = int_row
    num, den = int_vertex
    return sum(x * y for x, y in zip(a, num)) <= bb * den


def _cdd_vertices(A, b, keep):
    """Exact vertices and incidences (indices into ``keep``) of {A[keep] u <= b[keep]}; None if empty/unbounded."""
    import cdd.gmp as cddg

    k = A.shape[1]
    rows = [[b[r]] + [-A[r, j] for j in range(k)] for r in keep]
    mat = cddg.matrix_from_array(rows, rep_type=cddg.RepType.INEQUALITY)
    poly = cddg.polyhedron_from_matrix(mat)
    gens = cddg.copy_generators(poly)
    if len(gens.array) == 0:
        return None
    if gens.lin_set or any(row[0] == 0 for row in gens.array):
        return None
    inc = cddg.copy_incidence(poly)
    V = np.array([[Fraction(x) for x in row[1:]] for row in gens.array], dtype=object).reshape(-1, k)
    return V, [frozenset(keep[i] for i in s) for s in inc]


def _float_keep(A, b, V_float, k):
    """Rows that are (nearly) tight at some float vertex: the candidates for facets."""
    if V_float is None or len(V_float) == 0:
        return list(range(A.shape[0]))
    Af = np.array(A, dtype=float)
    bf = np.array(b, dtype=float)
    norms = np.linalg.norm(Af, axis=1)
    norms[norms == 0] = 1.0
    slack = (bf[:, None] - Af @ np.asarray(V_float, float).T) / norms[:, None]
    scale = 1.0 + np.max(np.abs(V_float))
    return [r for r in range(A.shape[0]) if np.min(slack[r]) <= 1e-7 * scale]


def _confirm_region(intnet, A_dom, b_dom, dom_scales, pattern, V_float):
    """The exact region of ``pattern`` or None (empty or lower-dimensional).

    Rows are integers (neuron rows scaled by S_l > 0, domain rows by their denominators); the
    irredundant rows are returned as their exact Fraction values.
    """
    from polyattr.integrate.triangulate import pulling_triangulation

    k = A_dom.shape[1]
    pat, A_p, c_p, scales = intnet.rows(pattern)
    A = np.vstack([A_p, A_dom]) if A_p.size else A_dom
    b = np.concatenate([c_p, b_dom])
    scales = list(scales) + list(dom_scales)
    sources = list(range(A.shape[0]))  # neuron n, then n_neurons + domain row
    nonzero = [r for r in sources if any(A[r, j] != 0 for j in range(k))]
    nz = set(nonzero)
    if any(r not in nz and b[r] < 0 for r in sources):
        return pat, None  # a constant row 0 <= b < 0: empty
    A, b = A[nonzero], b[nonzero]
    sources = [sources[r] for r in nonzero]
    scales = [scales[r] for r in nonzero]
    try:
        keep = _float_keep(A, b, V_float, k)
    except OverflowError:  # integers beyond float range: give cdd every row
        keep = list(range(A.shape[0]))
    int_rows = [(list(A[r]), b[r]) for r in range(A.shape[0])]
    for _ in range(4):
        res = _cdd_vertices(A, b, keep)
        if res is None:
            if len(keep) == A.shape[0]:
                return pat, None
            keep = list(range(A.shape[0]))
            continue
        V, incidence = res
        if len(keep) == A.shape[0]:
            break
        iv = _int_vertices(V)
        kept = set(keep)
        violated = [r for r in range(A.shape[0]) if r not in kept and not all(_holds(int_rows[r], v) for v in iv)]
        if not violated:
            break
        keep = sorted(kept | set(violated))
    else:  # pragma: no cover - four rounds always end with all rows
        raise PolyattrError("exact regions: could not confirm a region's vertices")
    iv = _int_vertices(V)
    if _integer_affine_rank(iv) < k:
        return pat, None
    # canonical vertex order (lexicographic), incidences permuted alongside
    order = sorted(range(len(V)), key=lambda i: tuple(V[i]))
    V = V[order]
    iv = [iv[i] for i in order]
    incidence = [incidence[i] for i in order]
    facets = _facets(iv, incidence, k)
    S = pulling_triangulation(V, [f for _, f in facets])
    m0, m1 = _integer_moments(iv, S, k)
    rows = sorted(((sources[r], tuple(Fraction(int(a), scales[r]) for a in A[r]), Fraction(int(b[r]), scales[r]), verts)
                   for r, verts in facets), key=lambda t: t[0])
    return pat, ExactRegion(pat, V, tuple(r[:3] for r in rows), S, m0, m1, tuple(r[3] for r in rows))


def _integer_det(M) -> int:
    """Determinant of a small integer matrix (python-flint)."""
    n = len(M)
    if n == 0:
        return 1
    return int(fmpz_mat([[int(x) for x in r] for r in M]).det())


def _integer_moments(iv, simplices, k):
    """Exact volume and first moment of a triangulated polytope from integer vertex coordinates.

    With all vertices over one common denominator D (v = N / D): a simplex has volume
    |det(N_1 - N_0, ...)| / (D^k k!) and first moment volume * (sum N_i) / (D (k + 1)).
    """
    D = math.lcm(*(den for _, den in iv))
    N = [[x * (D // den) for x in num] for num, den in iv]
    total_det = 0
    total_m1 = [0] * k
    for s in simplices:
        pts = [N[i] for i in s]
        det = abs(_integer_det([[a - b for a, b in zip(p, pts[0])] for p in pts[1:]]))
        if det == 0:
            continue
        total_det += det
        for j in range(k):
            total_m1[j] += det * sum(p[j] for p in pts)
    kf = math.factorial(k)
    m0 = Fraction(total_det, D**k * kf)
    m1 = np.array([Fraction(v, D ** (k + 1) * kf * (k + 1)) for v in total_m1], dtype=object)
    return m0, m1


def _integer_rank(rows) -> int:
    """Rank of an integer matrix (python-flint)."""
    M = [[int(x) for x in r] for r in rows]
    if not M or not M[0]:
        return 0
    return int(fmpz_mat(M).rank())


def _integer_affine_rank(iv) -> int:
    """Affine rank of vertices given as (integer numerators, denominator): rank of (num, den) rows minus 1."""
    if not iv:
        return -1
    return _integer_rank([list(num) + [den] for num, den in iv]) - 1


def _facets(iv, incidence, k):
    """(row, vertex indices) of the rows tight on a (k-1)-dimensional set of vertices; one row per facet."""
    tight: dict[int, list[int]] = {}
    for i, inc in enumerate(incidence):
        for r in inc:
            tight.setdefault(int(r), []).append(i)
    out, seen = [], set()
    for r in sorted(tight):
        verts = tuple(tight[r])
        if len(verts) < k or verts in seen:
            continue
        if _integer_affine_rank([iv[i] for i in verts]) == k - 1:
            seen.add(verts)
            out.append((r, verts))
    return out


# ---------------------------------------------------------------------------------- entry points
def _model_fingerprint(model: PiecewiseAffineModel) -> str:
    return model.canonical_hash()


def _cache_key(model, domain):
    return (_model_fingerprint(model), domain_key(domain))


def cached_exact_region_set(model: PiecewiseAffineModel, domain):
    """The cached exact region set of (model, domain), or None."""
    key = _cache_key(model.to_exact(), domain)
    return _CACHE.get(key)


def _support_volume(red) -> Fraction:
    if red.inner is None:
        return Fraction(1)
    return Fraction(red.inner.volume)


def exact_region_set(model: PiecewiseAffineModel, domain, float_regions=None, *, max_regions: int | None = None,
                     backend: str = "auto") -> ExactRegionSet:
    """The exact regions of ``model`` inside ``domain`` (see the module docstring).

    Parameters
    ----------
    model : PiecewiseAffineModel
        Converted to exact weights (floats exactly).
    domain : Box, AffineSlice or Segment, exact
        Converted to exact when given in floats.
    float_regions : RegionSet, optional
        A float enumeration on the same domain (a proposal: it may miss or duplicate regions);
        computed with ``backend`` when omitted.
    max_regions : int, optional
        Region budget of the float proposal and of the exact repair.
    backend : {"auto", "lp", "split"}
        Float backend of the proposal.

    Returns
    -------
    ExactRegionSet

    Raises
    ------
    RegionBudgetExceeded
        More than ``max_regions`` regions.
    TilingError
        When even the repaired regions do not add up exactly to the support's volume (a bug).
    """
    from polyattr.geometry.domains import as_domain

    model = model.to_exact()
    domain = as_domain(domain, model.n_inputs, exact=True)
    if not isinstance(domain, (Box, AffineSlice, Segment)):
        raise PolyattrError(f"domain: exact regions need a box, a slice or a segment, got {type(domain).__name__}")
    key = _cache_key(model, domain)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    red = domain.reduce()
    if red.inner is None:  # a point: one region of dimension 0
        pat = model.activation_pattern(red.offset)
        region = ExactRegion(np.asarray(pat, bool), np.zeros((1, 0), dtype=object), (),
                             np.zeros((1, 1), dtype=np.int64), Fraction(1), np.zeros(0, dtype=object))
        out = ExactRegionSet(model, domain, red, [region], Fraction(1), 1)
        _store(key, out)
        return out
    if float_regions is None:
        from polyattr.errors import RegionBudgetExceeded
        from polyattr.geometry.regions import enumerate_regions

        try:
            float_regions = enumerate_regions(model.to_float(), float_domain(domain), check_estimate=False,
                                              max_regions=max_regions, backend=backend, exact_fallback=False,
                                              volumes=False)  # the exact tiling check below replaces the float one
        except RegionBudgetExceeded:
            raise
        except PolyattrError:
            float_regions = ()  # floats broke down (e.g. a huge box): the exact traversal starts from scratch
    composed = model.compose_affine(red.embedding, red.offset)
    ctx = _ExactContext(composed, red)
    fast = None
    if _fast_path_applies(float_regions, model, domain):
        from polyattr.geometry.exact_from_split import regions_from_verified_split

        fast = regions_from_verified_split(float_regions, composed.to_exact(), red, ctx.A_dom, ctx.b_dom,
                                           ctx.dom_scales)
    found, n_fast = _confirm_all(ctx, float_regions, fast)
    volume = _support_volume(red)
    total = exact_sum(r.volume for r in found.values())
    if n_fast and total != volume:
        # a verified run tiles exactly; if its exact regions do not, trust none of them (cdd path)
        found, n_fast = _confirm_all(ctx, float_regions, None)
        total = exact_sum(r.volume for r in found.values())
    repaired = 0
    if total != volume:
        before = len(found)
        _exact_traversal(ctx, found, max_regions)
        repaired = len(found) - before
        total = exact_sum(r.volume for r in found.values())
    regions = sorted(found.values(), key=lambda r: r.pattern.tobytes())
    if total != volume:
        raise TilingError(
            f"exact regions: the {len(regions)} exact regions have total volume {total} "
            f"(~{float(total):.17g}) but the support has volume {volume} (~{float(volume):.17g}): "
            f"an internal error of the exact traversal"
        )
    out = ExactRegionSet(model, domain, red, regions, volume, len(float_regions), repaired=repaired,
                         from_verified_split=n_fast)
    _store(key, out)
    return out


def _confirm_all(ctx, float_regions, fast):
    """Canonical key -> ExactRegion for every float region (from ``fast`` where it has the region,
    else confirmed with cdd.gmp), and how many came from ``fast``."""
    found: dict[bytes, ExactRegion] = {}
    n_fast = 0
    for i in range(len(float_regions)):
        if fast is not None and fast[i] is not None:
            pat, region = fast[i]
            found.setdefault(_key(pat), region)
            n_fast += 1
            continue
        try:
            V_float = np.asarray(float_regions.vertices(i)[0], float)
        except PolyattrError:
            V_float = None
        pat, region = ctx.confirm(float_regions.patterns[i], V_float)
        if region is None:
            continue
        found.setdefault(_key(pat), region)
    return found, n_fast


#: whether exact_region_set takes exact vertices from a verified split run (tests switch it off to
#: compare with the cdd path)
USE_VERIFIED_SPLIT = True


def _fast_path_applies(float_regions, model, domain) -> bool:
    from polyattr.geometry.exact_from_split import applies

    return USE_VERIFIED_SPLIT and applies(float_regions, model, domain)


def _key(pattern) -> bytes:
    pat = np.asarray(pattern, bool)
    return np.packbits(pat).tobytes() + bytes([len(pat) % 8])


class _ExactContext:
    """The exact data of one enumeration: the composed exact network, its integer form, the domain rows."""

    def __init__(self, composed: PiecewiseAffineModel, red):
        self.composed = composed
        self.intnet = _IntegerNetwork(composed)
        self.k = red.inner.dim
        A_dom, b_dom = red.inner.halfspaces()
        A_dom = [[Fraction(x) for x in row] for row in A_dom]
        b_dom = [Fraction(x) for x in b_dom]
        self.dom_scales = [math.lcm(bb.denominator, *(x.denominator for x in a)) for a, bb in zip(A_dom, b_dom)]
        dom = _int_rows(A_dom, b_dom)
        self.A_dom = np.array([a for a, _ in dom], dtype=object).reshape(len(dom), self.k)
        self.b_dom = np.array([bb for _, bb in dom], dtype=object)
        self.n_neurons = composed.n_neurons
        self.center = [Fraction(x) for x in np.asarray(red.inner.chebyshev_center(), dtype=object)]

    def confirm(self, pattern, V_float=None):
        return _confirm_region(self.intnet, self.A_dom, self.b_dom, self.dom_scales, pattern, V_float)

    def interior_pattern(self, q):
        """The canonical pattern at the rational point q if q is interior to its region (no
        pre-activation exactly 0 there but identically-zero ones, q strictly inside the domain),
        and the region's integer rows; else None."""
        num, den = _int_vertices([q])[0]
        if any(sum(a * x for a, x in zip(row, num)) >= bb * den for row, bb in zip(self.A_dom, self.b_dom)):
            return None
        pre = np.atleast_1d(self.composed.hidden_preactivations(np.array(q, dtype=object)))
        pat, A, c, _ = self.intnet.rows(np.array([v > 0 for v in pre], dtype=bool))
        for n in range(len(pre)):
            if pre[n] == 0 and any(A[n, j] != 0 for j in range(self.k)):
                return None  # q lies on neuron n's hyperplane
        return pat, A, c


def _in_closure(A, c, p) -> bool:
    """Whether the rational point p satisfies every integer row A u <= c."""
    num, den = _int_vertices([p])[0]
    return all(sum(a * x for a, x in zip(A[r], num)) <= c[r] * den for r in range(A.shape[0]))


def _seed_region(ctx: _ExactContext):
    """The exact region of a rational interior point near the domain's centre (not on a hyperplane)."""
    k = ctx.k
    q = list(ctx.center)
    for t in range(1, 200):
        res = ctx.interior_pattern(q)
        if res is not None:
            pat, region = ctx.confirm(res[0])
            if region is not None:
                return pat, region
        # deterministic irrational-looking offsets, shrinking, stay inside the domain
        q = [ctx.center[j] + Fraction((-1) ** (j + t) * (7 * t + 3 * j + 1), 97 * (t + 11) * 2 ** (t // 8))
             * _domain_extent(ctx, j) / 4 for j in range(k)]
    raise PolyattrError("exact regions: no interior seed point found (an internal error)")


def _domain_extent(ctx, j) -> Fraction:
    """Width of the reduced domain along coordinate j (the inner domain is a box)."""
    lo = hi = None
    for row, bb, s in zip(ctx.A_dom, ctx.b_dom, ctx.dom_scales):
        if row[j] > 0:
            hi = Fraction(int(bb), int(row[j]))
        elif row[j] < 0:
            lo = Fraction(int(bb), int(row[j]))
    return (hi - lo) if lo is not None and hi is not None else Fraction(1)


def _step_across(ctx: _ExactContext, region: ExactRegion, a, verts):
    """The canonical pattern of a region on the far side of the facet (row a . u <= b, vertex
    indices ``verts``) next to the mean p of the facet's vertices, or None when the facet lies on
    the domain's boundary."""
    k = ctx.k
    V = region.vertices
    p = [sum((V[i][j] for i in verts), start=Fraction(0)) / len(verts) for j in range(k)]
    num, den = _int_vertices([p])[0]
    if any(sum(x * y for x, y in zip(row, num)) == bb * den for row, bb in zip(ctx.A_dom, ctx.b_dom)):
        return None  # the facet lies in the domain's boundary
    extent = max((max(V[i][j] for i in range(len(V))) - min(V[i][j] for i in range(len(V))) for j in range(k)),
                 default=Fraction(1)) or Fraction(1)
    scale = max(abs(x) for x in a) or Fraction(1)
    directions = [list(a)] + [[a[j] + (V[v][j] - p[j]) * scale / extent / 3 for j in range(k)] for v in verts]
    for direction in directions:
        eps = extent / scale / 8
        for _ in range(80):
            q = [p[j] + eps * direction[j] for j in range(k)]
            res = ctx.interior_pattern(q)
            if res is not None:
                pat, A, c = res
                if _in_closure(A, c, p):
                    return pat
            eps /= 2
    raise PolyattrError("exact regions: could not step across a facet (an internal error)")


def _exact_traversal(ctx: _ExactContext, found: dict, max_regions: int | None) -> None:
    """Complete ``found`` (canonical key -> ExactRegion) by exact adjacency traversal across neuron facets."""
    from polyattr.errors import RegionBudgetExceeded

    if not found:
        pat, region = _seed_region(ctx)
        found[_key(pat)] = region
    dead: set[bytes] = set()
    queue = list(found.values())
    while queue:
        region = queue.pop()
        for (source, a, _), verts in zip(region.rows, region.facet_vertices):
            if source >= ctx.n_neurons:
                continue  # a domain face
            pat = _step_across(ctx, region, a, verts)
            if pat is None:
                continue
            key = _key(pat)
            if key in found or key in dead:
                continue
            pat, new = ctx.confirm(pat)
            if new is None:  # cannot happen for an interior point's pattern; be safe
                dead.add(key)
                continue
            found[key] = new
            queue.append(new)
            if max_regions is not None and len(found) > max_regions:
                raise RegionBudgetExceeded(
                    f"max_regions: found more than {max_regions} regions in the exact enumeration; "
                    f"raise max_regions or restrict the domain", found=len(found))


def _store(key, value):
    _CACHE[key] = value
    while len(_CACHE) > 1 and (len(_CACHE) > _CACHE_SIZE or sum(len(v) for v in _CACHE.values()) > _CACHE_REGIONS):
        _CACHE.popitem(last=False)


def clear_cache() -> None:
    _CACHE.clear()


def _to_reduced_exact(reduction, z):
    """Exact reduced coordinates of z on the support (the embedding has full column rank)."""
    E, z0 = reduction.embedding, reduction.offset
    d, k = E.shape
    diff = [Fraction(z[i]) - Fraction(z0[i]) for i in range(d)]
    if k == 0:
        if any(diff):
            raise PolyattrError("point: not on the support")
        return np.zeros(0, dtype=object)
    # E has full column rank: solve the normal equations E^T E u = E^T diff exactly (python-flint)
    Eq = fmpq_mat(d, k, [to_fmpq(E[r, j]) for r in range(d) for j in range(k)])
    rhs = fmpq_mat(d, 1, [to_fmpq(v) for v in diff])
    sol = (Eq.transpose() * Eq).solve(Eq.transpose() * rhs)
    u = np.array([Fraction(int(sol[i, 0].p), int(sol[i, 0].q)) for i in range(k)], dtype=object)
    if any(sum((Fraction(E[r, j]) * u[j] for j in range(k)), start=Fraction(0)) != diff[r] for r in range(d)):
        raise PolyattrError("point: not on the support (slice or segment)")
    return u
