"""Exact confirmation of a float region enumeration: :class:`ExactRegionSet`.

The float enumeration (:func:`polyattr.geometry.regions.enumerate_regions`) proposes the activation
patterns of the regions of a model inside a domain.  :func:`exact_region_set` turns each proposal
into an exact rational polytope and proves that together they tile the domain:

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
4. full dimension (exact affine rank of the vertices), irredundant H-form (the rows tight on a
   (k-1)-dimensional set of vertices), pulling triangulation and exact moments;
5. the exact volumes must sum exactly to the volume of the support: with (2) this proves that the
   regions tile the support (no region missed, none counted twice).  Otherwise PolyattrError.

Arithmetic: each layer is scaled to integers (float weights are dyadic), so rows, sign tests,
ranks, simplex volumes and local affine maps run on Python integers; Fractions appear only in
the results.  Measured cost on [16, 16] networks: about 3 ms per region for d = 2 and 4-6 ms for
d = 3 (cdd.gmp on the pre-selected rows is about half of it).

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

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.geometry.domains import AffineSlice, Box, Segment, domain_key, float_domain
from polyattr.models.protocol import PiecewiseAffineModel

__all__ = ["TilingError", "ExactRegion", "ExactRegionSet", "exact_region_set", "cached_exact_region_set", "canonical_rows"]

class TilingError(PolyattrError):
    """The exactly confirmed regions do not tile the support (the float enumeration missed or
    duplicated a region)."""


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


@dataclass(eq=False)
class ExactRegionSet:
    """Exactly confirmed regions of ``model`` inside ``domain`` (see the module docstring)."""

    model: PiecewiseAffineModel
    domain: object
    reduction: object
    regions: list
    support_volume: Fraction
    float_regions: int = 0
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
        return sum((r.volume for r in self.regions), start=Fraction(0))

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

    def affine_maps(self, output: int | None = None):
        """Exact local affine maps in input coordinates: (n, n_outputs, d), (n, n_outputs) or one output."""
        n, d, o = len(self), self.model.n_inputs, self.model.n_outputs
        if self._maps is None:
            W = np.empty((n, o, d), dtype=object)
            b = np.empty((n, o), dtype=object)
            intnet = _IntegerNetwork(self.model)
            for i, r in enumerate(self.regions):
                W[i], b[i] = intnet.affine_map(r.pattern)
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
    rows = tuple(sorted(((sources[r], tuple(Fraction(int(a), scales[r]) for a in A[r]), Fraction(int(b[r]), scales[r]))
                         for r, _ in facets), key=lambda t: t[0]))
    return pat, ExactRegion(pat, V, rows, S, m0, m1)


def _integer_det(M) -> int:
    """Determinant of a small integer matrix (fraction-free Bareiss)."""
    a = [list(r) for r in M]
    n = len(a)
    if n == 0:
        return 1
    sign, prev = 1, 1
    for p in range(n - 1):
        if a[p][p] == 0:
            sw = next((r for r in range(p + 1, n) if a[r][p] != 0), None)
            if sw is None:
                return 0
            a[p], a[sw] = a[sw], a[p]
            sign = -sign
        for i in range(p + 1, n):
            for j in range(p + 1, n):
                a[i][j] = (a[i][j] * a[p][p] - a[i][p] * a[p][j]) // prev
            a[i][p] = 0
        prev = a[p][p]
    return sign * a[n - 1][n - 1]


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
    """Rank of an integer matrix (fraction-free elimination)."""
    M = [list(r) for r in rows]
    if not M:
        return 0
    rank, ncols = 0, len(M[0])
    for col in range(ncols):
        p = next((r for r in range(rank, len(M)) if M[r][col] != 0), None)
        if p is None:
            continue
        M[rank], M[p] = M[p], M[rank]
        piv = M[rank]
        for r in range(rank + 1, len(M)):
            if M[r][col] != 0:
                f = M[r][col]
                M[r] = [a * piv[col] - f * c for a, c in zip(M[r], piv)]
        rank += 1
    return rank


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


def exact_region_set(model: PiecewiseAffineModel, domain, float_regions=None) -> ExactRegionSet:
    """Confirm a float enumeration in exact arithmetic (see the module docstring).

    Parameters
    ----------
    model : PiecewiseAffineModel
        Converted to exact weights (floats exactly).
    domain : Box, AffineSlice or Segment, exact
        Converted to exact when given in floats.
    float_regions : RegionSet, optional
        The float enumeration on the same domain; computed when omitted.

    Returns
    -------
    ExactRegionSet

    Raises
    ------
    PolyattrError
        When the exact volumes do not add up exactly to the support's volume (the float
        enumeration missed or duplicated a region).
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
        from polyattr.geometry.regions import enumerate_regions

        float_regions = enumerate_regions(model.to_float(), float_domain(domain), check_estimate=False)
    composed = model.compose_affine(red.embedding, red.offset)
    intnet = _IntegerNetwork(composed)
    A_dom, b_dom = red.inner.halfspaces()
    A_dom = [[Fraction(x) for x in row] for row in A_dom]
    b_dom = [Fraction(x) for x in b_dom]
    dom_scales = [math.lcm(bb.denominator, *(x.denominator for x in a)) for a, bb in zip(A_dom, b_dom)]
    dom = _int_rows(A_dom, b_dom)
    A_dom = np.array([a for a, _ in dom], dtype=object).reshape(len(dom), red.inner.dim)
    b_dom = np.array([bb for _, bb in dom], dtype=object)
    found: dict[bytes, ExactRegion] = {}
    for i in range(len(float_regions)):
        try:
            V_float = np.asarray(float_regions.vertices(i)[0], float)
        except PolyattrError:
            V_float = None
        pat, region = _confirm_region(intnet, A_dom, b_dom, dom_scales, float_regions.patterns[i], V_float)
        if region is None:
            continue
        found.setdefault(np.packbits(pat).tobytes() + bytes([len(pat) % 8]), region)
    regions = sorted(found.values(), key=lambda r: tuple(int(x) for x in r.pattern))
    total = sum((r.volume for r in regions), start=Fraction(0))
    volume = _support_volume(red)
    if total != volume:
        raise TilingError(
            f"exact regions: the {len(regions)} confirmed regions have total volume {total} "
            f"(~{float(total):.17g}) but the support has volume {volume} (~{float(volume):.17g}): "
            f"the float enumeration missed or duplicated a region"
        )
    out = ExactRegionSet(model, domain, red, regions, volume, len(float_regions))
    _store(key, out)
    return out


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
    # solve E u = diff by exact Gaussian elimination on the normal equations E^T E u = E^T diff
    M = [[sum((Fraction(E[r, i]) * Fraction(E[r, j]) for r in range(d)), start=Fraction(0)) for j in range(k)]
         + [sum((Fraction(E[r, i]) * diff[r] for r in range(d)), start=Fraction(0))] for i in range(k)]
    for c in range(k):
        p = next(r for r in range(c, k) if M[r][c] != 0)
        M[c], M[p] = M[p], M[c]
        for r in range(k):
            if r != c and M[r][c] != 0:
                f = M[r][c] / M[c][c]
                M[r] = [x - f * y for x, y in zip(M[r], M[c])]
    u = np.array([M[i][k] / M[i][i] for i in range(k)], dtype=object)
    if any(sum((Fraction(E[r, j]) * u[j] for j in range(k)), start=Fraction(0)) != diff[r] for r in range(d)):
        raise PolyattrError("point: not on the support (slice or segment)")
    return u
