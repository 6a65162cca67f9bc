"""Region sets of lines of a box cut from its stored partition, without a new enumeration.

A box's partition into linear regions already contains the regions of every line inside the box:
they are the intervals P n L (P a region of the box) of positive length, and the network's affine
map on P n L is the one on P.  A batch of inputs needs many lines (a line per feature per point for
ICE; for d = 2 the partial-dependence slices; for any d the interventional-Shapley slices with one
free coordinate); :func:`cut_regions` builds each from the stored partition:

1. candidates: the regions whose bounding box (from the split backend's vertices) meets the line;
2. one vectorised pass: each candidate pattern's sign conditions G z <= h (the model's
   ``pattern_constraints_many``, computed once for the whole partition) restricted to the line
   z0 + t e read a t <= c, hence its interval directly (no LP);
3. check: the intervals' lengths must add up to the line's (relative gap below ``tolerance``).
   When the line lies inside a neuron's hyperplane both neighbouring regions yield the same piece
   and the sum doubles: :func:`cut_regions` then returns None and the caller enumerates the line.

The result is an ordinary :class:`~polyattr.geometry.regions.RegionSet` (backend ``"cut"``), so
exact mode confirms it in rational arithmetic like any float enumeration (and falls back to a fresh
enumeration when the exact tiling check fails).
"""

from __future__ import annotations

import time

import numpy as np

from polyattr.geometry.domains import AffineSlice, Box, Segment
from polyattr.geometry.regions import RegionSet

#: pieces shorter than this (relative to the line's parameter range) count as empty
_EMPTY = 1e-9
#: relative gap allowed between the pieces' total volume and the sub-domain's volume
DEFAULT_TOLERANCE = 1e-9


def can_cut(box: Box, domain) -> bool:
    """Whether ``domain`` is a line inside ``box`` (a float box), so that it can be cut from its partition.

    Lines: segments, and slices of the box with one free coordinate.  Higher-dimensional slices
    are not cut: there a cut needs an LP per candidate region, measured 50 to 100 times slower than
    the split backend's fresh enumeration of the slice (d = 3, 4).
    """
    lo, hi = box.lower.astype(float), box.upper.astype(float)
    if isinstance(domain, AffineSlice):
        b = domain.box
        return (domain.dim == 1 and b.dim == box.dim and np.array_equal(b.lower.astype(float), lo)
                and np.array_equal(b.upper.astype(float), hi))
    if isinstance(domain, Segment):
        ends = np.array([domain.start.astype(float), domain.end.astype(float)])
        return bool(np.all(ends >= lo) and np.all(ends <= hi))
    return False


def _bounding_boxes(box_regions: RegionSet):
    """(lower (n, d), upper (n, d)) of every region from the stored vertices, or None without them."""
    return box_regions.bounding_boxes  # cached on the region set


def _sign_conditions(box_regions: RegionSet):
    """Every region's pattern constraints G z <= h in input coordinates, (n, n_neurons, d) and (n, n_neurons)."""
    cached = box_regions.__dict__.get("_cut_sign_conditions")
    if cached is None:
        net = box_regions.model.to_float()
        G, h = net.pattern_constraints_many(box_regions.patterns)
        cached = (np.asarray(G, float), np.asarray(h, float))
        object.__setattr__(box_regions, "_cut_sign_conditions", cached)
    return cached


def _candidates(box_regions: RegionSet, domain) -> np.ndarray:
    n = len(box_regions)
    boxes = _bounding_boxes(box_regions)
    if boxes is None:
        return np.arange(n)
    lower, upper = boxes
    slack = 1e-12 * (1.0 + np.abs(lower) + np.abs(upper))
    if isinstance(domain, AffineSlice):
        keep = np.ones(n, bool)
        for i, v in domain.fixed.items():
            v = float(v)
            # strictly on both sides: the hyperplane meets the region's interior (a touching face is
            # lower-dimensional in the slice); the slack keeps regions within rounding of it
            keep &= (lower[:, i] < v + slack[:, i]) & (upper[:, i] > v - slack[:, i])
        return np.flatnonzero(keep)
    ends = np.array([domain.start.astype(float), domain.end.astype(float)])
    seg_lo, seg_hi = ends.min(axis=0), ends.max(axis=0)
    keep = np.all((lower <= seg_hi + slack) & (upper >= seg_lo - slack), axis=1)
    return np.flatnonzero(keep)


def cut_regions(box_regions: RegionSet, domain, tolerance: float = DEFAULT_TOLERANCE) -> RegionSet | None:
    """The regions of the model on ``domain`` (a line of the box), cut from ``box_regions``.

    ``domain`` is a segment or a slice with one free coordinate (see :func:`can_cut`).  Returns
    None when the cut cannot be trusted (the pieces' lengths do not add up to the domain's: the
    line lies inside a neuron's hyperplane), so that the caller enumerates the domain itself.
    """
    start = time.perf_counter()
    red = domain.reduce()
    E, z0 = red.embedding.astype(float)[:, 0], red.offset.astype(float)
    t_lo, t_hi = float(red.inner.lower[0]), float(red.inner.upper[0])
    candidates = _candidates(box_regions, domain)
    patterns = box_regions.patterns[candidates]
    # each candidate's sign conditions G z <= h (computed once for the whole partition) on the line
    # z = z0 + t e: a t <= c with a = G e, c = h - G z0
    G, h = _sign_conditions(box_regions)
    G, h = G[candidates], h[candidates]
    a = G @ E
    c = h - G @ z0
    scale = np.abs(c) + np.abs(a) * max(abs(t_lo), abs(t_hi), 1.0)
    flat = np.abs(a) <= 1e-14 * np.maximum(scale, 1e-300)  # the unit is constant along the line
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = c / a
    lo = np.max(np.where(~flat & (a < 0), bound, -np.inf), axis=1, initial=-np.inf)
    hi = np.min(np.where(~flat & (a > 0), bound, np.inf), axis=1, initial=np.inf)
    violated = np.any(flat & (c < -1e-12 * scale), axis=1)
    lo, hi = np.maximum(lo, t_lo), np.minimum(hi, t_hi)
    keep = ~violated & (hi - lo > _EMPTY * max(t_hi - t_lo, 1.0))
    lo, hi = lo[keep], hi[keep]
    length = hi - lo
    if not abs(float(np.sum(length)) - (t_hi - t_lo)) <= tolerance * max(t_hi - t_lo, 1.0):
        return None
    mid = ((lo + hi) / 2)[:, None]
    facets = tuple((np.array([[-1.0], [1.0]]), np.array([-a, b])) for a, b in zip(lo, hi))
    return RegionSet(box_regions.model, domain, red, patterns[keep].copy(), mid, length, mid.copy(), "cut",
                     time.perf_counter() - start, 0, facets)
