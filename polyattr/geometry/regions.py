"""Linear regions of a ReLU network inside a domain: enumeration and the :class:`RegionSet` result.

Two backends compute the same partition:

* ``"lp"`` -- the reference traversal of THEORY.md §4.1: start from the region of an interior
  point, find its facets by LP (HiGHS, one warm model per region), cross every facet that is a
  neuron's hyperplane by stepping just past a point of the facet's relative interior and reading
  the activation pattern there, and keep a set of visited patterns.  Works in any dimension, on
  boxes, polytopes, slices and segments.
* ``"split"`` -- :mod:`polyattr.geometry.splitting`: numba cell splitting, neuron by neuron, for
  box domains of dimension up to about 6; about three orders of magnitude faster.

Correctness does not rest on float tolerances:

* a split result is *proven* to be the exact partition, or not, by
  :mod:`polyattr.geometry.verify_partition` (rigorous float enclosures of every vertex and of every
  sign the run decided, exact arithmetic for the vertices the bounds leave open); a verified result
  is returned as is (also when its zero band met values it could not decide) with
  :attr:`RegionSet.vertex_radius`, one that fails is re-decided exactly by
  :func:`polyattr.geometry.exact_regions.exact_region_set` (backend ``"split+exact"``);
* an LP result on a box is compared with a verified split run (patterns only) on the same box,
  always up to dimension 6 and above when the split run is affordable (``_cross_check_affordable``:
  regions x 2^d vertex rows within a budget; d <= 20): the verified run's pattern set is the exact
  one, so equal pattern sets (and volumes that tile) prove the LP pattern set; otherwise it is
  re-decided exactly (``"lp+exact"``).  LP point signs use filtered predicates
  (:mod:`polyattr.geometry.predicates`).
* the distributed path (:mod:`polyattr.geometry.distributed`) runs every sub-box through this
  function, and its merge is proven when every sub-box run is.
* :attr:`RegionSet.proven` says whether the pattern set is proven.  Not proven (``proven`` False),
  with the earlier heuristics (zero-band count, volumes that tile within 1e-9,
  ``_beyond_float_resolution``) deciding about an exact repair: LP runs on boxes too costly to
  cross-check, split runs outside the verifier's scope (domains whose exact box bounds or slopes
  are not floats), general polytope domains (LP traversal only, no exact repair at all).

Enumeration always runs in the domain's own coordinates (see :class:`~polyattr.geometry.domains.Reduction`)
with the model composed with the domain's affine embedding.  The result is plain data (arrays), so
it can be shipped to other processes and merged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from polyattr.errors import MemoryBudgetExceeded, PolyattrError, RegionBudgetExceeded, VolumeCostExceeded
from polyattr.geometry.domains import Box, Polytope, Reduction, as_domain
from polyattr.memory import current_budget, memory_budget
from polyattr.models.protocol import PiecewiseAffineModel, require_model
from polyattr.models.ranges import check_float_range
from polyattr.models.relu import pattern_key

DEFAULT_MAX_REGIONS = 1_000_000
#: Memory share of the LP backend when "auto" chose it for a box (it falls back to "split" beyond).
_AUTO_LP_BYTES = 256 * 2**20
# Up-front refusal: when the estimated count exceeds the budget by this factor the run would be
# stopped anyway, after wasting minutes to hours; estimates are within a factor ~2 in our tests.
_REFUSE_FACTOR = 4.0
# Chebyshev radii and facet LP slacks below this (rows are unit-normalised) count as zero
_LP_TOLERANCE = 1e-9
# beyond this many regions an undecided float run is refused instead of re-decided exactly (~5 ms/region)
_EXACT_FALLBACK_LIMIT = 50_000
# the LP backend's result on a box is cross-checked by a verified split run (patterns only) when the
# run's vertex table is estimated at no more than this many rows (regions x 2^dim; ~0.1-0.4 GB at
# d <= 20 with masks): every LP run up to dimension 6 within the region budgets in use, thousands of
# regions at d = 7, 8, a handful at d = 20
_CROSS_CHECK_MAX_ROWS = 2**22
# Volumes walk each region's face lattice (a k-box alone has 3^k faces): measured 6 s at k = 10 and
# minutes at k = 12 for two regions, so dimensions whose box lattice exceeds this are refused up front
_MAX_VOLUME_FACES = 3**11


@dataclass(frozen=True, eq=False)
class Region:
    """One linear region, in the domain's reduced coordinates u (z = E u + z0).

    ``halfspaces`` is an irredundant H-form ``A u <= b`` (pattern rows and domain rows); ``weights``
    and ``bias`` the network's affine map on the region in the *input* coordinates z.
    """

    index: int
    pattern: np.ndarray
    A: np.ndarray
    b: np.ndarray
    weights: np.ndarray  # (n_outputs, d) in input coordinates
    bias: np.ndarray  # (n_outputs,)
    interior_point: np.ndarray  # (k,) reduced coordinates
    volume: float
    centroid: np.ndarray  # (k,) reduced coordinates


@dataclass(frozen=True, eq=False)
class RegionSet:
    """The linear regions of ``model`` inside ``domain``.

    Arrays are indexed by region; points and volumes are in the domain's reduced coordinates
    (``reduction.lift`` maps them to input space).  ``len(regions)`` is the region count.
    """

    model: PiecewiseAffineModel
    domain: object
    reduction: Reduction
    patterns: np.ndarray  # (n, n_neurons) bool
    interior_points: np.ndarray  # (n, k)
    # volumes (n,) and centroids (n, k); None: computed from the stored vertices when first asked
    # (split backend with ``volumes=False``): read them as ``.volumes`` and ``.centroids``
    _volumes: np.ndarray | None
    _centroids: np.ndarray | None
    backend: str
    seconds: float
    lp_count: int = 0
    facets: tuple | None = field(default=None, repr=False)  # per region: (A, b) irredundant, when known
    # the split backend's double description: region i has vertices[vertex_offsets[i]:vertex_offsets[i+1]]
    # and per vertex a bitmask of tight constraints (ids: box faces 0..2k-1, then 2k + neuron)
    vertex_offsets: np.ndarray | None = field(default=None, repr=False)
    vertex_table: np.ndarray | None = field(default=None, repr=False)
    vertex_masks: np.ndarray | None = field(default=None, repr=False)
    # per region a proven bound of the inf-norm distance of its float vertices to the exact ones,
    # set when the enumeration verified the float partition (see :attr:`vertex_radius`)
    _vertex_radius: np.ndarray | None = field(default=None, repr=False)
    #: vertices whose signs the verification decided in exact arithmetic (float bounds undecided)
    exact_vertex_checks: int = 0
    #: whether the pattern set is *proven* to be the exact partition's (every exact region once and
    #: nothing else): a verified split run, an LP run whose pattern set equals a verified split run's,
    #: an exact repair, or a distributed merge of proven sub-box runs.  False: the float run rests on
    #: heuristics only (LP runs too costly to cross-check, split runs outside the verifier's scope,
    #: polytope domains, ``exact_fallback=False`` until :attr:`vertex_radius` verifies it, point
    #: domains); error bounds built on such a set must be reported as unproven (infinite).
    proven: bool = False

    def __len__(self) -> int:
        return self.patterns.shape[0]

    @property
    def volumes(self) -> np.ndarray:
        """Lebesgue volume of every region (n,), in reduced coordinates; computed on first use
        when the enumeration skipped them, and then checked to tile the domain."""
        if self._volumes is None:
            self._compute_volumes()
        return self._volumes

    @property
    def centroids(self) -> np.ndarray:
        """Centre of mass of every region (n, k), in reduced coordinates (see :attr:`volumes`)."""
        if self._centroids is None:
            self._compute_volumes()
        return self._centroids

    @property
    def has_volumes(self) -> bool:
        """Whether the volumes are computed already (reading :attr:`volumes` computes them)."""
        return self._volumes is not None

    def _compute_volumes(self) -> None:
        from polyattr.geometry.splitting import region_volumes

        volumes, centroids = region_volumes(self.vertex_table, self.vertex_masks, self.vertex_offsets)
        total, expected = float(np.sum(volumes)), self.domain_volume
        # a verified partition is the exact one: its float volumes are approximations whose error
        # the vertex radii bound (tiny boxes far from the origin can miss 1e-9), not a sign of a miss
        if self._vertex_radius is None and not _tiles(total, expected):
            raise PolyattrError(
                f"domain: the {len(self)} regions of the float enumeration do not tile the domain (volumes add "
                f"up to {total!r}, the domain's is {expected!r}); enumerate with volumes=True (which "
                f"re-decides such runs exactly) or exact=True"
            )
        # the frozen set caches them once: the same numbers as an eager enumeration gives
        object.__setattr__(self, "_volumes", volumes)
        object.__setattr__(self, "_centroids", centroids)

    @property
    def vertex_radius(self) -> np.ndarray | None:
        """Per region (n,), a proven bound on the inf-norm distance between each float vertex of the
        region (``vertices(i)``, reduced coordinates) and the exact vertex it stands for (the point
        where its tight constraints meet, for the exact data of the model and domain).

        Defined once the float partition is proven to be the exact one
        (:mod:`polyattr.geometry.verify_partition`): :func:`enumerate_regions` verifies every split
        result; a set enumerated without it (``exact_fallback=False``) is verified on first use.
        None for sets without a float vertex table (LP backend, exactly repaired sets).

        Raises
        ------
        PolyattrError
            When the partition cannot be verified (out of scope, or not the exact partition).
        """
        if self._vertex_radius is None and self.vertex_table is not None:
            from polyattr.geometry.verify_partition import exact_data, verify_split_partition

            data = exact_data(self.model, self.domain, self.reduction, self._composed)
            if data is None:
                raise PolyattrError("domain: vertex radii need a box, slice or segment with float bounds and slopes")
            check = verify_split_partition(data, self.patterns, self.vertex_table, self.vertex_masks,
                                           self.vertex_offsets)
            if not check.verified:
                raise PolyattrError(
                    f"domain: the float partition is not the exact one ({len(check.failed_regions)} regions failed "
                    f"verification); enumerate with exact_fallback=True"
                )
            object.__setattr__(self, "_vertex_radius", check.vertex_radius)
            object.__setattr__(self, "exact_vertex_checks", check.exact_vertex_checks)
            object.__setattr__(self, "proven", True)
        return self._vertex_radius

    def __iter__(self):
        return (self.region(i) for i in range(len(self)))

    @property
    def dim(self) -> int:
        return self.interior_points.shape[1]

    @property
    def total_volume(self) -> float:
        return float(np.sum(self.volumes))

    @property
    def domain_volume(self) -> float:
        return float(self.domain.volume)

    @cached_property
    def _composed(self) -> PiecewiseAffineModel:
        red = self.reduction
        net = self.model.to_float()
        return net if red.is_identity else net.compose_affine(red.embedding.astype(float), red.offset.astype(float))

    @cached_property
    def bounding_boxes(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(lower (n, d), upper (n, d)) of every region in input coordinates, from the stored
        vertices of the split backend; None without them.  Cached on the set."""
        if self.vertex_table is None:
            return None
        offsets, V = self.vertex_offsets, np.asarray(self.vertex_table, float)
        V = self.reduction.lift(V) if not self.reduction.is_identity else V
        starts = offsets[:-1]
        return np.minimum.reduceat(V, starts, axis=0), np.maximum.reduceat(V, starts, axis=0)

    @cached_property
    def _index(self) -> dict[bytes, int]:
        return {pattern_key(p): i for i, p in enumerate(self.patterns)}

    def halfspaces(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Irredundant ``A u <= b`` of region i (rows normalised to unit length)."""
        if self.facets is not None:
            return self.facets[i]
        A, b = _region_rows(self._composed, self.patterns[i], self.reduction)
        from polyattr.geometry.lp import WarmPolytopeLP  # highspy: loaded when an LP runs

        lp = WarmPolytopeLP(A, b)
        tol = _LP_TOLERANCE
        keep = [r for r in range(A.shape[0]) if lp.is_facet(r, tol)]
        return A[keep], b[keep]

    def constraint_rows(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """An H-form of region i (irredundant when the backend found the facets, else all rows)."""
        if self.facets is not None:
            return self.facets[i]
        return _region_rows(self._composed, self.patterns[i], self.reduction)

    def vertices(self, i: int) -> tuple[np.ndarray, list[frozenset]]:
        """Vertices of region i (reduced coordinates) and, per vertex, the set of tight constraint ids.

        From the split backend's double description when available (ids: box faces, then neurons),
        else from pycddlib on :meth:`constraint_rows` (ids: row indices).
        """
        if self.vertex_table is not None:
            lo, hi = self.vertex_offsets[i], self.vertex_offsets[i + 1]
            masks = self.vertex_masks[lo:hi]
            incidence = [frozenset(int(w * 64 + bit) for w in range(masks.shape[1]) for bit in range(64)
                                   if (int(masks[v, w]) >> bit) & 1) for v in range(hi - lo)]
            return self.vertex_table[lo:hi], incidence
        from polyattr.geometry.vertices import polytope_vertices

        return polytope_vertices(*self.constraint_rows(i))

    def moments(self, order: int = 1, regions=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Lebesgue moments of the regions in reduced coordinates: m0 (n,), m1 (n, k), M2 (n, k, k).

        Order 0 and 1 come from the enumeration (volumes, centroids); order 2 triangulates every
        region from its vertices (pulling triangulation on the vertex-facet incidences) and runs
        the numba simplex kernels once over all simplices.
        """
        if order not in (0, 1, 2):
            raise PolyattrError(f"order: expected 0, 1 or 2, got {order!r}")
        idx = np.arange(len(self)) if regions is None else np.asarray(regions, dtype=int)
        m0 = self.volumes[idx]
        m1 = m0[:, None] * self.centroids[idx]
        if order < 2:
            return m0, m1, None
        k = self.dim
        if k == 0:
            return m0, m1, np.zeros((len(idx), 0, 0))
        from polyattr.geometry.vertices import facets_from_incidence
        from polyattr.integrate.simplex_kernels import simplex_moments
        from polyattr.integrate.triangulate import pulling_triangulation

        M2 = np.zeros((len(idx), k, k))
        all_vertices, all_simplices, groups, offset, first = [], [], [], 0, 0
        for out, i in enumerate(idx):
            V, incidence = self.vertices(int(i))
            V = np.asarray(V, float)
            facets = [f for _, f in facets_from_incidence(V, incidence, k)]
            S = pulling_triangulation(V, facets)
            all_vertices.append(V)
            all_simplices.append(S + offset)
            groups.append(np.full(len(S), out - first))
            offset += len(V)
            if offset and (sum(len(s) for s in all_simplices) >= 1 << 20 or out == len(idx) - 1):
                # one kernel call per chunk of whole regions: memory does not grow with all regions' simplices
                res = simplex_moments(np.vstack(all_vertices), np.vstack(all_simplices), np.concatenate(groups),
                                      n_groups=out + 1 - first, order=2)
                M2[first:out + 1] = res.M2
                all_vertices, all_simplices, groups, offset, first = [], [], [], 0, out + 1
        return m0, m1, M2

    def affine_maps(self, output: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Local affine maps of every region in input coordinates.

        Returns (W, b) of shapes (n, n_outputs, d) and (n, n_outputs), or (n, d) and (n,) for one
        ``output``.
        """
        net = self.model.to_float()
        if len(self):  # all patterns in one vectorised pass
            W, b = net.local_affine_maps(self.patterns)
        else:
            W, b = np.zeros((0, self.model.n_outputs, self.model.n_inputs)), np.zeros((0, self.model.n_outputs))
        if output is None:
            return W, b
        k = self.model.check_output(output)
        return W[:, k, :], b[:, k]

    def region(self, i: int) -> Region:
        if not -len(self) <= i < len(self):
            raise PolyattrError(f"region index: expected 0 <= i < {len(self)}, got {i}")
        i = i % len(self)
        A, b = self.halfspaces(i)
        W, bias = self.model.to_float().local_affine_map(self.patterns[i])
        return Region(i, self.patterns[i], A, b, np.asarray(W, float), np.asarray(bias, float),
                      self.interior_points[i], float(self.volumes[i]), self.centroids[i])

    def find(self, point) -> int:
        """Index of a region containing ``point`` (input coordinates; must lie in the domain).

        On a boundary between regions any adjacent region is correct (f is continuous); the one
        returned is the region whose closure contains the point and whose pattern matches the
        point's pattern with ties (pre-activation exactly 0) read as inactive.
        """
        z = np.asarray(point, dtype=float)
        u = _to_reduced(self.reduction, z)
        if self.reduction.inner is not None:
            A_d, b_d = self.reduction.inner.halfspaces()
            if np.any(np.asarray(A_d, float) @ u > np.asarray(b_d, float) + 1e-9):
                raise PolyattrError(f"point: {list(z)} is not in the enumerated domain")
        pat = self._composed.activation_pattern(u)
        i = self._index.get(pattern_key(pat))
        if i is not None:
            return i
        # On a boundary the tie-broken pattern may belong to a lower-dimensional piece: take the
        # region whose closure contains u (checked on its constraint rows).
        for j in range(len(self)):
            A, b = _region_rows(self._composed, self.patterns[j], self.reduction)
            if np.all(A @ u <= b + 1e-9):
                return j
        raise PolyattrError(f"point: {list(z)} is not in the enumerated domain")

    def plot(self, ax=None, path=None, output: int | None = None, color_by: str = "value"):
        """Draw the partition of a 2-D domain: regions filled (by the value at their centroid) and edges drawn."""
        from polyattr.geometry.plot import plot_regions

        return plot_regions(self, ax=ax, path=path, output=output, color_by=color_by)


def _region_rows(net: PiecewiseAffineModel, pattern: np.ndarray, reduction: Reduction):
    """All rows (pattern, then domain) of a region in reduced coordinates, unit-normalised; zero rows dropped."""
    A_p, c_p = net.pattern_constraints(pattern)
    A_d, b_d = reduction.inner.halfspaces()
    A = np.vstack([np.asarray(A_p, float), np.asarray(A_d, float)])
    b = np.concatenate([np.asarray(c_p, float), np.asarray(b_d, float)])
    norms = np.linalg.norm(A, axis=1)
    nz = norms > 1e-14 * max(1.0, norms.max(initial=0.0))
    return A[nz] / norms[nz, None], b[nz] / norms[nz]


def _to_reduced(reduction: Reduction, z: np.ndarray) -> np.ndarray:
    E, z0 = reduction.embedding.astype(float), reduction.offset.astype(float)
    u, *_ = np.linalg.lstsq(E, z - z0, rcond=None)
    if not np.allclose(E @ u + z0, z, atol=1e-9):
        raise PolyattrError(f"point: {list(z)} is not on the domain (slice or segment)")
    return u


def region_count_upper_bound(hidden_sizes, k: int) -> float:
    """A proven upper bound on the number of regions of a network on a k-dimensional domain.

    Inside one region of the first l layers, layer l+1 is an arrangement of n hyperplanes in a
    k-dimensional set, which has at most sum_{i<=k} C(n, i) cells; multiplying over layers bounds
    the total.  It is loose for deep networks but free, and when it is below the budget the
    sampling estimate (about 25 ms) is not needed: segments and small slices skip it.
    """
    from math import comb

    total = 1.0
    for n in hidden_sizes:
        total *= float(sum(comb(n, i) for i in range(min(n, k) + 1)))
    return total


def estimate_region_count(model: PiecewiseAffineModel, domain=None, samples: int = 4096, rng=None) -> float:
    """A cheap up-front estimate of the number of regions (see :mod:`polyattr.geometry.splitting`)."""
    from polyattr.geometry.splitting import estimate_region_count as _estimate

    domain = as_domain(domain, model.n_inputs)
    red = domain.reduce()
    if red.inner is None:
        return 1.0
    net = model.to_float()
    net = net if red.is_identity else net.compose_affine(red.embedding.astype(float), red.offset.astype(float))
    if isinstance(red.inner, Box):
        return float(_estimate(list(net.weights), list(net.biases), red.inner.lower.astype(float),
                               red.inner.upper.astype(float), negative_slopes=net.negative_slopes))
    return float("nan")


def enumerate_regions(
    model: PiecewiseAffineModel,
    domain=None,
    *,
    max_regions: int | None = DEFAULT_MAX_REGIONS,
    backend: str = "auto",
    progress: bool | None = None,
    check_estimate: bool = True,
    exact_fallback: bool = True,
    client=None,
    pieces: int | None = None,
    volumes: bool = True,
    workers: int | None = None,
    max_memory=None,
) -> RegionSet:
    """Enumerate the linear regions of ``model`` inside ``domain``.

    Parameters
    ----------
    model : PiecewiseAffineModel
    domain : None, (lower, upper), Box, Polytope, AffineSlice or Segment
        Default: the unit cube [0, 1]^d.
    max_regions : int or None
        Stop with :class:`~polyattr.errors.RegionBudgetExceeded` (saying how many regions were
        found) past this many regions; also refuse up front when the estimated count exceeds it
        several times over.  None disables the budget.
    backend : {"auto", "lp", "split"}
        "auto" takes "split" for box domains of reduced dimension <= 6 and "lp" otherwise; when the
        LP backend's triangulations would exceed its memory share (256 MiB) on a box of dimension
        <= 20 it falls back to "split".
    progress : bool or None
        Show a tqdm progress bar (None: only for long runs).
    check_estimate : bool
        Refuse up front when the estimated region count is far above ``max_regions``.
    exact_fallback : bool
        Verify the float result and re-decide the partition exactly where the proof fails
        (:func:`~polyattr.geometry.exact_regions.exact_region_set`: confirmation of the float
        regions and exact repair); the backend is then reported as e.g. ``"split+exact"``.  Split
        results are proven by :mod:`~polyattr.geometry.verify_partition`; LP results by a verified
        split run on boxes where it is affordable (always up to dimension 6), and elsewhere by the
        earlier heuristics (an undecided sign, volumes that do not tile, a box beyond float
        resolution; see the module docstring); the result's ``proven`` says which.
        Not available for general polytope domains.  False: no verification (``vertex_radius``
        then verifies on first use).
    client : distributed.Client, optional
        Enumerate sub-boxes of a full-dimensional box as dask.distributed tasks and merge them by
        pattern (:func:`polyattr.geometry.distributed.enumerate_regions_distributed`; ``max_regions``
        then applies per sub-box).
    pieces : int, optional
        Number of sub-boxes with a client (default 4 per worker).
    volumes : bool
        Compute the regions' volumes and centroids now and check that they tile the domain (a
        float run that does not tile is re-decided exactly).  False (split backend): skip them for
        enumerations that need only patterns, affine maps or point values; ``.volumes`` then
        computes them on first use (the same numbers) and raises when they do not tile.  Signs the
        float run could not decide are re-decided exactly either way.
    workers : int or None
        Threads of the split backend (None: the machine's cores); the result does not depend on it.
    max_memory : int, str or None
        Memory budget in bytes (or a size such as "4G"); a step that would allocate more raises
        :class:`~polyattr.errors.MemoryBudgetExceeded`.  None: the budget in force (see
        :mod:`polyattr.memory`; by default half the available memory).

    Returns
    -------
    RegionSet
    """
    if client is not None:
        from polyattr.geometry.distributed import enumerate_regions_distributed

        with memory_budget(max_memory):
            return enumerate_regions_distributed(model, domain, client=client, pieces=pieces, max_regions=max_regions)
    with memory_budget(max_memory):
        return _enumerate_regions(model, domain, max_regions, backend, progress, check_estimate, exact_fallback,
                                  volumes, workers)


def _check_volume_cost(dim: int) -> None:
    """Refuse, before any work, a domain whose region volumes would take minutes to hours."""
    if 3.0**dim > _MAX_VOLUME_FACES:
        raise VolumeCostExceeded(
            f"domain: region volumes in dimension {dim} walk face lattices of up to 3^{dim} = {3**dim:,} faces "
            f"per region (polyattr allows dimension <= 11); enumerate on a lower-dimensional slice "
            f"(AffineSlice, Segment) or a sub-box with fewer free coordinates",
            dimension=dim,
        )


def _enumerate_regions(model, domain, max_regions, backend, progress, check_estimate, exact_fallback,
                       volumes=True, workers=None) -> RegionSet:
    require_model(model)
    domain = as_domain(domain, model.n_inputs)
    if max_regions is not None and (isinstance(max_regions, bool) or not isinstance(max_regions, (int, np.integer))
                                    or max_regions < 1):
        raise PolyattrError(f"max_regions: expected a positive integer or None, got {max_regions!r}")
    if not isinstance(backend, str) or backend not in ("auto", "lp", "split"):
        raise PolyattrError(f"backend: expected 'auto', 'lp' or 'split', got {backend!r}")
    start = time.perf_counter()
    red = domain.reduce()
    net = model.to_float()
    if red.inner is None:  # a point: one region
        pat = net.activation_pattern(red.offset.astype(float))[None, :]
        k0 = np.zeros((1, 0))
        return RegionSet(model, domain, red, pat, k0, np.ones(1), k0, "point", time.perf_counter() - start)
    _check_volume_cost(red.inner.dim)
    composed = net if red.is_identity else net.compose_affine(red.embedding.astype(float), red.offset.astype(float))
    inner_is_box = isinstance(red.inner, Box)
    if inner_is_box:
        check_float_range(composed.weights, composed.biases, red.inner.lower.astype(float), red.inner.upper.astype(float),
                          negative_slopes=getattr(composed, "negative_slopes", None))
    automatic = backend == "auto"
    if backend == "auto":
        backend = "split" if inner_is_box and red.inner.dim <= 6 else "lp"
    if backend == "split" and not inner_is_box:
        raise PolyattrError("backend: 'split' needs a box (or a slice or segment of a box); use backend='lp'")
    if (check_estimate and max_regions is not None and inner_is_box
            and region_count_upper_bound(model.pattern_sizes, red.inner.dim) > _REFUSE_FACTOR * max_regions):
        est = estimate_region_count(model, domain)
        if np.isfinite(est) and est > _REFUSE_FACTOR * max_regions:
            raise RegionBudgetExceeded(
                f"max_regions: about {est:.3g} regions are expected in this domain, more than the budget "
                f"of {max_regions}; raise max_regions, or restrict the domain (a slice, a segment or a smaller box)",
                found=0,
                estimate=est,
            )
    if backend == "split":
        from polyattr.geometry.splitting import split_enumerate

        res = split_enumerate(
            list(composed.weights), list(composed.biases),
            red.inner.lower.astype(float), red.inner.upper.astype(float),
            max_regions=max_regions, progress=bool(progress), negative_slopes=composed.negative_slopes,
            compute_volumes=volumes, workers=workers,
        )
        check = _verified_split(res, model, domain, red, composed, workers) if exact_fallback else None
        regions = RegionSet(model, domain, red, res.patterns, res.interior_points,
                            res.volumes if volumes else None, res.centroids if volumes else None,
                            "split", time.perf_counter() - start, vertex_offsets=res.vertex_offsets,
                            vertex_table=res.vertices, vertex_masks=res.vertex_masks,
                            _vertex_radius=None if check is None or not check.verified else check.vertex_radius,
                            exact_vertex_checks=0 if check is None else check.exact_vertex_checks,
                            proven=check is not None and check.verified)
        if check is not None:
            if check.verified:
                # proven to be the exact partition: no heuristic below can add anything
                return regions
            ambiguous = 1
        else:
            ambiguous = res.n_ambiguous
    else:
        # in automatic mode on a box the LP backend gets a smaller share: a region needing more than
        # ~1e6 simplices takes minutes to triangulate in Python, where the split backend's
        # face-memoised volumes take seconds
        can_split = automatic and inner_is_box and red.inner.dim <= 20
        lp_share = min(current_budget(), _AUTO_LP_BYTES) if can_split else current_budget()
        try:
            with memory_budget(lp_share):
                regions, ambiguous = _lp_traversal(model, domain, red, composed, max_regions, progress, start)
        except MemoryBudgetExceeded:
            # the LP backend triangulates every region (k! simplices for a cube-like one); the split
            # backend's face-memoised volumes need far less: an automatic choice tries it before refusing
            if not can_split:
                raise
            return _enumerate_regions(model, domain, max_regions, "split", progress, False, exact_fallback,
                                      volumes, workers)
        cross_checked = False
        if exact_fallback and not ambiguous and inner_is_box and _cross_check_affordable(len(regions), red.inner.dim):
            try:
                disagrees, verified = _split_disagrees(regions, model, domain, composed, red, workers)
            except (MemoryBudgetExceeded, RegionBudgetExceeded):
                # the split run needs more memory than allowed, or finds far more regions than the LP
                # run: no proof; in the second case the LP run certainly missed regions
                disagrees, verified = 1, False
            cross_checked = True
            if verified and not disagrees and _volumes_tile(regions):
                # the pattern set is proven exact; the LP facets and volumes are floats as before
                object.__setattr__(regions, "proven", True)
                return regions
            ambiguous += disagrees
    if regions.has_volumes and not _volumes_tile(regions):
        ambiguous += 1
    # Only runs without a proof get here (LP above dimension 6 or without a verified split run,
    # split runs out of the verifier's scope).  The split kernel flags features down to its zero
    # band (1e-11 of the values' range); only what rounding erases outright (about 1e-16 L) goes
    # unflagged.  The LP traversal alone resolves facets down to its tolerance, 1e-9 of the box.
    split_checked = backend == "split" or cross_checked
    if inner_is_box and _beyond_float_resolution(composed, red.inner, 1e-12 if split_checked else 1e-8):
        ambiguous += 1
    if ambiguous and exact_fallback and not isinstance(domain, Polytope):
        if len(regions) > _EXACT_FALLBACK_LIMIT:
            raise PolyattrError(
                f"domain: the float enumeration ({len(regions)} regions, backend {backend!r}) met signs that "
                f"float64 cannot decide (degenerate weights, or a box beyond float resolution), and deciding "
                f"more than {_EXACT_FALLBACK_LIMIT} regions exactly would take too long; use a smaller box "
                f"or exact=True with a region budget"
            )
        return _exactly_repaired(regions, max_regions, start)
    return regions


def _cross_check_affordable(n_regions: int, dim: int) -> bool:
    """Whether a split run (patterns only) confirming an LP run of ``n_regions`` regions is cheap
    enough: always up to dimension 6 (as cheap as the LP run's own volumes there); up to dimension 20
    (the split backend's limit) when its estimated vertex table has at most
    ``_CROSS_CHECK_MAX_ROWS`` rows, a region having about as many vertices as a box (2^dim).

    Measured on integer-weight networks on [-1, 1]^d (loaded 2-core machine, numba warm): d = 7,
    52 regions: LP run 9.0 s, cross-check 1.0 s; d = 7, 320 regions: 67 s and 8.3 s; d = 8, 106
    regions: 164 s and 2.1 s.  Beyond the row budget the LP result is returned unproven
    (:attr:`RegionSet.proven` False)."""
    return dim <= 6 or (dim <= 20 and n_regions * 2.0**dim <= _CROSS_CHECK_MAX_ROWS)


def _split_disagrees(regions: RegionSet, model, domain, composed, red, workers) -> tuple[int, bool]:
    """(1 when the split backend (patterns only, about 1000x cheaper than the LPs) finds another
    pattern set or its run is not proven exact, else 0; whether the split run was verified).

    The LP traversal's facet tests are tolerance-based and can step over facets thinner than the
    tolerance (huge boxes, slivers), which this catches.  When the split run is verified
    (:mod:`polyattr.geometry.verify_partition`) its pattern set is the exact one, so an equal LP
    pattern set is proven too; out of the verifier's scope the split run's zero-band count decides
    as before."""
    from polyattr.geometry.splitting import split_enumerate

    res = split_enumerate(list(composed.weights), list(composed.biases), red.inner.lower.astype(float),
                          red.inner.upper.astype(float), compute_volumes=False,
                          max_regions=2 * len(regions) + 16,
                          negative_slopes=composed.negative_slopes, workers=workers)
    check = _verified_split(res, model, domain, red, composed, workers)
    verified = check is not None and check.verified
    if (check is not None and not verified) or (check is None and res.n_ambiguous):
        return 1, False
    return int({pattern_key(p) for p in res.patterns} != {pattern_key(p) for p in regions.patterns}), verified


def _verified_split(res, model, domain, red, composed, workers):
    """The verification (:class:`~polyattr.geometry.verify_partition.PartitionCheck`) of a split
    result against the exact model and domain, or None when the input is out of its scope."""
    from polyattr.geometry.verify_partition import exact_data, verify_split_partition

    data = exact_data(model, domain, red, composed)
    if data is None:
        return None
    return verify_split_partition(data, res.patterns, res.vertices, res.vertex_masks, res.vertex_offsets,
                                  workers=workers)


def _beyond_float_resolution(composed, box: Box, resolution: float) -> bool:
    """Whether the box is too large (or too far from the origin for its width) for float runs to
    resolve the partition: then they are re-decided exactly.

    Rounding over a box is relative to its coordinates' magnitude L = max |corner|: a float run
    places hyperplanes to about 1e-16 L.  The first layer's hyperplanes sit at distances
    |b_i| / ||W_i|| from the origin, and the features of the partition near the origin are on that
    scale; when it (or the box's smallest width) is below ``resolution`` x L, such features may be
    lost in rounding without any undecided sign (e.g. +-1e20 boxes: every bias vanishes next to
    W z).  Hyperplanes exactly through the origin (b_i = 0) lose nothing.
    """
    lo, hi = box.lower.astype(float), box.upper.astype(float)
    L = float(np.max(np.maximum(np.abs(lo), np.abs(hi))))
    if L == 0.0:
        return False
    W, b = np.asarray(composed.weights[0], float), np.asarray(composed.biases[0], float)
    norms = np.linalg.norm(W, axis=1)
    offsets = np.abs(b[norms > 0]) / norms[norms > 0]
    offsets = offsets[offsets > 0]
    finest = min(float(np.min(hi - lo)), float(np.min(offsets, initial=np.inf)))
    return finest < resolution * L


def _volumes_tile(regions: RegionSet) -> bool:
    """Float volumes add up to the domain's (relative 1e-9: far above their rounding, far below a missed region of the usual sizes)."""
    return _tiles(regions.total_volume, regions.domain_volume)


def _tiles(total: float, expected: float) -> bool:
    return bool(np.isfinite(total) and abs(total - expected) <= 1e-9 * abs(expected))


def _exactly_repaired(regions: RegionSet, max_regions, start) -> RegionSet:
    """The partition decided in exact arithmetic, from the float run's proposal, as a float RegionSet.

    Used when the float run met a sign its error bound could not decide (see
    :mod:`polyattr.geometry.predicates`); patterns, volumes and centroids are the exact ones
    rounded to float64, facets the exact irredundant rows rounded.
    """
    from polyattr.geometry.exact_regions import exact_region_set

    exact = exact_region_set(regions.model, regions.domain, regions, max_regions=max_regions)
    m0, m1, _ = exact.moments(order=1)
    n, k = len(exact), exact.dim
    volumes = np.array([float(v) for v in m0], dtype=float)
    centroids = np.array([[float(m1[i, j] / m0[i]) for j in range(k)] for i in range(n)], dtype=float).reshape(n, k)
    facets = []
    for i in range(n):
        A, b = exact.halfspaces(i)
        A = np.asarray(A, dtype=float).reshape(len(b), k)
        b = np.asarray(b, dtype=float)
        norms = np.linalg.norm(A, axis=1)
        facets.append((A / norms[:, None], b / norms))
    return RegionSet(regions.model, regions.domain, regions.reduction, exact.patterns, centroids.copy(), volumes,
                     centroids, regions.backend + "+exact", time.perf_counter() - start, regions.lp_count,
                     tuple(facets), proven=True)


def _lp_traversal(model, domain, red, composed, max_regions, progress, start) -> tuple[RegionSet, int]:
    """The LP traversal; returns the RegionSet and how many decisions floats could not make."""
    from polyattr.geometry.lp import WarmPolytopeLP  # highspy: loaded when an LP runs
    from polyattr.geometry.predicates import FilteredNetwork
    from polyattr.geometry.vertices import polytopes_moments

    tol = _LP_TOLERANCE
    k = red.inner.dim
    signs = FilteredNetwork(model, red.embedding.astype(float), red.offset.astype(float))
    # LPs run in coordinates t scaled to the domain (u = shift + scale * t: a box becomes
    # [-1, 1]^k), so that HiGHS's absolute tolerances and ours mean the same on tiny and huge boxes
    if isinstance(red.inner, Box):
        lo, hi = red.inner.lower.astype(float), red.inner.upper.astype(float)
        shift, scale = lo / 2 + hi / 2, hi / 2 - lo / 2
    else:
        shift, scale = np.zeros(k), np.ones(k)
    A_dom, b_dom = red.inner.halfspaces()
    A_dom, b_dom = np.asarray(A_dom, float), np.asarray(b_dom, float)
    if isinstance(red.inner, Box):
        inner_t = _ScaledInner(np.vstack([-np.eye(k), np.eye(k)]), np.ones(2 * k))
    else:
        inner_t = _ScaledInner(A_dom, b_dom)
    ambiguous = 0
    seed_point = _interior_seed(signs, red)
    if seed_point is None:
        ambiguous += 1
        seed_point = np.asarray(red.inner.chebyshev_center(), float)
    first, _ = signs.canonical(signs.pattern_at(seed_point)[0])
    queue = [first]
    seen = {pattern_key(first)}
    patterns, points, balls, facets = [], [], [], []
    lp_count = 0
    bar = _progress_bar(progress)
    n_neuron_rows = composed.n_neurons
    try:
        while queue:
            pat = queue.pop()  # canonical: identically-zero neurons inactive (decided exactly)
            A_p, c_p = composed.pattern_constraints(pat)
            A_p, c_p = np.asarray(A_p, float), np.asarray(c_p, float)
            # rows that vanish (up to rounding) in the domain's coordinates are dropped there
            p_norms = np.linalg.norm(A_p, axis=1)
            keep = p_norms > 1e-14 * max(1.0, p_norms.max(initial=0.0))
            A_p, c_p = A_p[keep], c_p[keep]
            A = np.vstack([A_p * scale, inner_t.A])
            b = np.concatenate([c_p - A_p @ shift, inner_t.b])
            is_neuron = np.r_[np.ones(A_p.shape[0], bool), np.zeros(inner_t.A.shape[0], bool)]
            norms = np.linalg.norm(A, axis=1)
            A, b = A / norms[:, None], b / norms
            if isinstance(red.inner, Box):
                A, b, is_neuron = _drop_rows_missing_box(A, b, is_neuron, -np.ones(k), np.ones(k))
            A, b, is_neuron = _merge_parallel_rows(A, b, is_neuron)
            lp = WarmPolytopeLP(A, b)
            center, radius = lp.chebyshev()
            if center is None or radius <= tol:
                # every queued pattern was read exactly at an interior point of its region, so
                # its region is full-dimensional: the float LP could not see it
                ambiguous += 1
                lp_count += lp.solves
                continue
            facet_rows = [r for r in range(A.shape[0]) if lp.is_facet(r, tol)]
            patterns.append(pat)
            points.append(center)  # t coordinates until the end
            balls.append(radius)
            facets.append((A[facet_rows], b[facet_rows]))
            if max_regions is not None and len(patterns) > max_regions:
                raise RegionBudgetExceeded(
                    f"max_regions: found more than {max_regions} regions (budget exceeded after "
                    f"{len(patterns)} regions); raise max_regions or restrict the domain",
                    found=len(patterns),
                )
            bar.update(1)
            for r in facet_rows:
                if not is_neuron[r]:
                    continue
                f_center, f_radius = lp.chebyshev(equality_row=r)
                if f_center is None or f_radius <= tol:
                    ambiguous += 1  # a facet (by its LP) too thin to step across in floats
                    continue
                neighbour = _step_across(signs, inner_t, shift, scale, f_center, A[r], min(f_radius, radius) * 1e-3)
                if neighbour is None:
                    ambiguous += 1
                    continue
                if neighbour is False:
                    continue  # outside the domain: the facet is on its boundary
                key = pattern_key(neighbour)
                if key not in seen:
                    seen.add(key)
                    queue.append(neighbour)
            lp_count += lp.solves
    finally:
        bar.close()
    # one batched kernel call for all regions; the Chebyshev balls spare cdd's normalising LPs
    if patterns:
        moments = polytopes_moments([(A_f, b_f, c, r) for (A_f, b_f), c, r in zip(facets, points, balls)], order=1)
        volumes = np.asarray(moments.m0, float) * np.prod(scale)
        centroids = shift + scale * (np.asarray(moments.m1, float) / np.asarray(moments.m0, float)[:, None])
    else:
        volumes, centroids = np.zeros(0), np.zeros((0, k))
    points = (shift + scale * np.array(points, float).reshape(len(points), k)).reshape(len(points), k)
    # facets back in the domain's coordinates u: A t <= b with t = (u - shift) / scale
    facets = [_unscaled_rows(A_f, b_f, shift, scale) for A_f, b_f in facets]
    pats = np.array(patterns, bool).reshape(len(patterns), n_neuron_rows)
    # the composed network has the same neurons as the model: patterns are the model's patterns
    regions = RegionSet(model, domain, red, pats, points, volumes, centroids.reshape(len(points), k),
                        "lp", time.perf_counter() - start, lp_count, tuple(facets))
    return regions, ambiguous


class _ScaledInner:
    """The domain's rows in the scaled coordinates t."""

    def __init__(self, A, b):
        self.A, self.b = A, b

    def halfspaces(self):
        return self.A, self.b


def _unscaled_rows(A, b, shift, scale):
    """Rows A t <= b in the coordinates u = shift + scale * t, unit-normalised."""
    Au = A / scale
    bu = b + Au @ shift
    norms = np.linalg.norm(Au, axis=1)
    return Au / norms[:, None], bu / norms


def _step_across(signs, inner_t, shift, scale, f_center, normal, step):
    """The canonical pattern just beyond a facet point (along the outward normal), read exactly.

    Points are in the scaled coordinates t; the pattern is decided at the float point
    u = shift + scale * t.  Returns False when the point is outside the domain, None when every
    tried point lay on some hyperplane (the float step cannot find an interior point: an ambiguous
    case).
    """
    for _ in range(8):
        beyond = f_center + step * normal
        if not _inside_inner(inner_t, beyond):
            return False
        pattern, on_plane = signs.pattern_at(shift + scale * beyond)
        if not np.any(on_plane):
            # no pre-activation is 0 there, so none vanishes identically: already canonical
            return pattern
        canon, zero = signs.canonical(pattern)
        if not np.any(on_plane & ~zero):
            return canon
        step /= 3.0
    return None


def _drop_rows_missing_box(A, b, is_neuron, lo, hi):
    """Drop neuron rows that cannot cut the box [lo, hi] (max of a.u over the box <= b): no LP needed."""
    box_max = np.maximum(A * lo, A * hi).sum(axis=1)
    keep = ~is_neuron | (box_max > b - 1e-12)
    return A[keep], b[keep], is_neuron[keep]


def _merge_parallel_rows(A, b, is_neuron):
    """Keep one row per direction (the tightest): duplicated neurons would hide each other's facets.

    The facet LP relaxes one row at a time, so two identical rows each look redundant; rows are
    unit-normalised, so equal directions are equal rows up to rounding.
    """
    keys = np.round(A, 12)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if len(first) == A.shape[0]:
        return A, b, is_neuron
    best_b = np.full(len(first), np.inf)
    np.minimum.at(best_b, inverse, b)
    neuron = np.zeros(len(first), bool)
    np.logical_or.at(neuron, inverse, is_neuron)
    return A[first], best_b, neuron


def _inside_inner(inner, u) -> bool:
    A, b = inner.halfspaces()
    return bool(np.all(np.asarray(A, float) @ u <= np.asarray(b, float) + 1e-12))


def _interior_seed(signs, red: Reduction) -> np.ndarray | None:
    """A point of the domain interior on no neuron hyperplane (decided exactly), or None."""
    center = np.asarray(red.inner.chebyshev_center(), float)
    A, b = red.inner.halfspaces()
    A, b = np.asarray(A, float), np.asarray(b, float)
    rng = np.random.default_rng(0)
    slack = np.min((b - A @ center) / np.linalg.norm(A, axis=1))
    point = center
    for _ in range(50):
        pattern, on_plane = signs.pattern_at(point)
        _, zero = signs.canonical(pattern)
        if not np.any(on_plane & ~zero):
            return point
        point = center + rng.uniform(-0.25, 0.25, size=center.shape) * slack
    return None


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress_bar(progress):
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(desc="regions", unit="region")
