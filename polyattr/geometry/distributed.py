"""Region enumeration and region integrals split over sub-boxes, run locally or as dask.distributed tasks.

A box domain is cut into a grid of sub-boxes (:func:`split_box`); each sub-box is enumerated on
its own by :func:`~polyattr.geometry.regions.enumerate_regions` (a pure function of model and
sub-box returning plain arrays, so it runs in any worker process) and the pieces are merged.
A region crossing a sub-box boundary appears in several sub-boxes, once per piece: pieces with the
same activation pattern belong to one region (a region is convex and is the union of its
intersections with the sub-boxes), so merging keys on the pattern, sums the volumes and combines
the centroids weighted by volume.  The checks of a local run are kept: every pattern once, the
total volume equal to the domain's (float: relative 1e-9; exact mode: equal as rationals, each
sub-box's tiling being proven exactly by :func:`~polyattr.geometry.exact_regions.exact_region_set`).

:func:`box_integral` streams: each task contracts its sub-box's regions with their local affine
maps (sum of W m1 + b m0) and returns only that sum, so memory is bounded by the largest sub-box,
not by the region count.

What is proven: every sub-box run is an ordinary :func:`~polyattr.geometry.regions.enumerate_regions`
call with its default verification (a verified split run, an LP run confirmed by one, or an exact
repair), so its pattern set is the exact partition of the sub-box (``proven``).  The merge is then
exact too: the exact regions of the box are the patterns with a full-dimensional piece in some
sub-box (the sub-boxes tile the box), and merging keys on the pattern alone, so the merged set is
proven exactly when every piece is (:attr:`RegionSet.proven`).  The merged set keeps no vertex
table (a region's pieces do not form one), so its ``vertex_radius`` is None: its float volumes and
centroids, like :func:`box_integral`'s float sums, carry no proven error bound here.

``client`` is a :class:`distributed.Client` or None (run the sub-boxes one after another here).
dask is imported only when a client is given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box, as_domain
from polyattr.models.protocol import PiecewiseAffineModel, require_model


def split_box(box: Box, pieces: int) -> list[Box]:
    """A grid of at least ``pieces`` sub-boxes tiling ``box`` (halving the widest axis each time).

    Cut points are midpoints of the box's own coordinates (Fractions stay Fractions), so the
    sub-boxes tile the box exactly.
    """
    if not isinstance(pieces, (int, np.integer)) or pieces < 1:
        raise PolyattrError(f"pieces: expected a positive integer, got {pieces!r}")
    cuts = [[lo, hi] for lo, hi in zip(box.lower, box.upper)]
    count = 1
    while count < pieces:
        widths = [(c[1] - c[0]) / (len(c) - 1) for c in cuts]  # current cell width per axis
        axis = int(np.argmax([float(w) for w in widths]))
        old = cuts[axis]
        cuts[axis] = [v for a, b in zip(old[:-1], old[1:]) for v in (a, (a + b) / 2)] + [old[-1]]
        count = int(np.prod([len(c) - 1 for c in cuts]))
    out = []
    for idx in np.ndindex(*[len(c) - 1 for c in cuts]):
        lo = [cuts[a][i] for a, i in enumerate(idx)]
        hi = [cuts[a][i + 1] for a, i in enumerate(idx)]
        out.append(Box(lo, hi, exact=box.exact))
    return out


def _require_full_box(model: PiecewiseAffineModel, domain) -> Box:
    domain = domain if isinstance(domain, Box) else as_domain(domain, model.n_inputs)
    if not isinstance(domain, Box) or not domain.reduce().is_identity:
        raise PolyattrError("domain: distributed enumeration splits a full-dimensional box; "
                            f"got {type(domain).__name__} (run slices and segments locally)")
    return domain


def _float_piece(model, box, max_regions):
    """One sub-box, enumerated in floats: plain arrays (picklable)."""
    from polyattr.geometry.regions import enumerate_regions

    r = enumerate_regions(model, box, max_regions=max_regions, progress=False)
    return {"patterns": np.packbits(r.patterns, axis=1), "volumes": r.volumes, "centroids": r.centroids,
            "interior_points": r.interior_points, "backend": r.backend, "proven": r.proven}


def _exact_piece(model, box, max_regions):
    """One sub-box, enumerated and tiled exactly: packed patterns, Fraction volumes and first moments."""
    from polyattr.geometry.exact_regions import exact_region_set

    r = exact_region_set(model, box, max_regions=max_regions)
    return {"patterns": np.packbits(r.patterns, axis=1), "volumes": [reg.volume for reg in r.regions],
            "first_moments": [list(reg.first_moment) for reg in r.regions],
            "total": r.total_volume, "expected": r.domain_volume}


def _run(client, function, model, boxes, *args):
    """function(model, box, *args) for every box: dask tasks when a client is given, else here in order."""
    if client is None:
        for box in boxes:
            yield function(model, box, *args)
        return
    from distributed import as_completed

    model_future = client.scatter(model, broadcast=True)
    futures = [client.submit(function, model_future, box, *args, pure=False) for box in boxes]
    for fut in as_completed(futures):
        yield fut.result()
        fut.release()


def _group(packed: np.ndarray):
    """Unique packed patterns and, per row, the index of its pattern."""
    view = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1])))[:, 0]
    _, first, inverse = np.unique(view, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def enumerate_regions_distributed(model: PiecewiseAffineModel, domain=None, *, client=None, pieces: int | None = None,
                                  max_regions: int | None = None, exact: bool = False):
    """The linear regions of ``model`` in a box, enumerated per sub-box and merged by pattern.

    Parameters
    ----------
    model : PiecewiseAffineModel
    domain : None, (lower, upper) or Box
        A full-dimensional box (default the unit cube).
    client : distributed.Client or None
        Run the sub-boxes as tasks on this cluster; None runs them here one after another.
    pieces : int, optional
        Number of sub-boxes (at least; default 4 per worker, 4 without a client).
    max_regions : int or None
        Budget per sub-box.
    exact : bool
        Enumerate and tile every sub-box exactly; the merged volumes are Fractions and their sum
        is checked to equal the box's volume exactly.

    Returns
    -------
    RegionSet (floats) or ExactPartition (exact)
    """
    require_model(model)
    start = time.perf_counter()
    box = _require_full_box(model, as_domain(domain, model.n_inputs, exact=exact))
    if pieces is None:
        pieces = 4 * max(1, len(client.scheduler_info()["workers"])) if client is not None else 4
    boxes = split_box(box, pieces)
    # float mode ships the model as given: each sub-box run converts it to floats itself and is
    # verified against the model's own (possibly rational) data, not against its float rounding
    net = model.to_exact() if exact else model
    parts = list(_run(client, _exact_piece if exact else _float_piece, net, boxes, max_regions))
    packed = np.vstack([p["patterns"] for p in parts])
    first, inverse = _group(packed)
    n = len(first)
    patterns = np.unpackbits(packed[first], axis=1, count=model.n_neurons).astype(bool)
    if exact:
        for p in parts:  # each sub-box tiled exactly (exact_region_set raises otherwise); recheck
            if p["total"] != p["expected"]:
                raise PolyattrError(f"exact tiling failed on a sub-box: {p['total']} != {p['expected']}")
        volumes = [Fraction(0)] * n
        moments = [[Fraction(0)] * box.dim for _ in range(n)]
        for row, (vol, m1) in enumerate((v, m) for p in parts for v, m in zip(p["volumes"], p["first_moments"])):
            g = inverse[row]
            volumes[g] += vol
            moments[g] = [a + b for a, b in zip(moments[g], m1)]
        total = sum(volumes, start=Fraction(0))
        if total != box.volume:
            raise PolyattrError(f"exact tiling failed: merged volumes sum to {total}, the box's volume is {box.volume}")
        return ExactPartition(patterns, np.array(volumes, dtype=object), np.array(moments, dtype=object).reshape(n, box.dim),
                              box, len(boxes), len(packed), time.perf_counter() - start)
    from polyattr.geometry.regions import RegionSet

    vols = np.concatenate([p["volumes"] for p in parts])
    cents = np.vstack([p["centroids"] for p in parts])
    points = np.vstack([p["interior_points"] for p in parts])
    volumes = np.bincount(inverse, weights=vols, minlength=n)
    centroids = np.stack([np.bincount(inverse, weights=vols * cents[:, j], minlength=n) for j in range(box.dim)], axis=1)
    centroids /= np.where(volumes > 0, volumes, 1.0)[:, None]
    # interior point of each region: that of its largest piece (interior to the piece, so to the region)
    order = np.lexsort((vols, inverse))
    largest = order[np.r_[np.flatnonzero(np.diff(inverse[order])), len(order) - 1]]
    interior = points[largest]
    expected = float(box.volume)
    if not abs(float(volumes.sum()) - expected) <= 1e-9 * abs(expected):
        raise PolyattrError(f"tiling failed: merged volumes sum to {volumes.sum()!r}, the box's volume is {expected!r}")
    backends = sorted({p["backend"] for p in parts})
    return RegionSet(model, box, box.reduce(), patterns, interior, volumes, centroids,
                     "+".join(backends) + ("+dask" if client is not None else "+subboxes"),
                     time.perf_counter() - start, proven=all(p["proven"] for p in parts))


@dataclass(frozen=True)
class ExactPartition:
    """The merged exact partition of a box: one row per activation pattern.

    ``volumes`` (n,) and ``first_moments`` (n, d) are Fractions (integral of 1 and of z over the
    region); ``pieces`` counts the sub-box pieces before merging.
    """

    patterns: np.ndarray
    volumes: np.ndarray
    first_moments: np.ndarray
    domain: Box
    sub_boxes: int
    pieces: int
    seconds: float

    def __len__(self) -> int:
        return self.patterns.shape[0]

    @property
    def total_volume(self) -> Fraction:
        return sum(self.volumes, start=Fraction(0))


def _integral_piece(model, box, max_regions):
    """Integral of every output of ``model`` over one sub-box (sum over its regions of W m1 + b m0)."""
    from polyattr.geometry.regions import enumerate_regions

    r = enumerate_regions(model, box, max_regions=max_regions, progress=False)
    W, b = r.affine_maps()
    m0, m1, _ = r.moments(1)
    return {"integral": np.einsum("nod,nd->o", W, m1) + b.T @ m0, "regions": len(r), "volume": float(m0.sum()),
            "proven": r.proven}


@dataclass(frozen=True)
class BoxIntegral:
    """Result of :func:`box_integral`: the integral of each output over the box, and what it took."""

    integral: np.ndarray  # (n_outputs,)
    region_pieces: int
    volume: float
    sub_boxes: int
    seconds: float
    #: every sub-box's pattern set is proven to be its exact partition (:attr:`RegionSet.proven`);
    #: the integral itself is a float sum without an error bound
    proven: bool = False


def box_integral(model: PiecewiseAffineModel, domain=None, *, client=None, pieces: int = 16,
                 max_regions: int | None = None) -> BoxIntegral:
    """The integral of ``model`` (every output) over a box, streamed over sub-boxes.

    Nothing per region outlives its sub-box's task: memory is bounded by the largest sub-box's
    partition, whatever the total region count.  ``region_pieces`` counts regions per sub-box
    (a region cut by sub-box boundaries is counted once per piece).
    """
    require_model(model)
    start = time.perf_counter()
    box = _require_full_box(model, domain)
    boxes = split_box(box, pieces)
    integral = np.zeros(model.n_outputs)
    count, volume, proven = 0, 0.0, True
    for part in _run(client, _integral_piece, model, boxes, max_regions):
        integral += part["integral"]
        count += part["regions"]
        volume += part["volume"]
        proven = proven and part["proven"]
    expected = float(box.volume)
    if not abs(volume - expected) <= 1e-9 * abs(expected):
        raise PolyattrError(f"tiling failed: sub-box volumes sum to {volume!r}, the box's volume is {expected!r}")
    return BoxIntegral(integral, count, volume, len(boxes), time.perf_counter() - start, proven)
