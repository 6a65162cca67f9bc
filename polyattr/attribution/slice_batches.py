"""Uniform slice integrals of a float batch, all rows at once, from the triangulated box partition.

Partial dependence and interventional Shapley integrate the model against the uniform law on
slices {z_S = x_S} of the box, one slice per point and coordinate set S.  Enumerating each slice's
regions afresh costs a full enumeration per slice; here the box's partition (enumerated once per
batch, :class:`~polyattr.attribution.integrals.Integrator`) is triangulated once
(:mod:`polyattr.geometry.simplices`) and every slice integral is a sum over the simplices it meets
(:mod:`polyattr.integrate.slices`: B-splines for one fixed coordinate, interval and polygon
sections for one or two free coordinates), vectorised over the points in numba kernels.

The results go into the integrator's piece cache under the same keys the per-row methods look up,
so the rows then run unchanged (and exact mode, which never comes here, is untouched).

Error bound of a prefilled slice (absolute, on the mean of f over the slice), mirroring
``Integrator._integrate_density``: the rounding of the arithmetic on the simplices' values (B-spline
recurrence or section weights, products and sums, f evaluated from the region's affine map), a
gamma_n multiple of the sum of |f|-weights, plus the tiling defect |mass found / slice volume - 1|
times the largest |f| met.  Like the single-call path it takes the float partition's vertices as
given.  A slice whose defect exceeds :data:`DEFECT_TOLERANCE` (a slice through a facet shared by two
simplices is counted twice by the section formula) is not prefilled: its row enumerates it.
"""

from __future__ import annotations

import numpy as np

from polyattr.errors import RegionBudgetExceeded
from polyattr.numerics import gamma, round_up

#: a slice's mass may differ from its volume by this relative amount before it is left to its row
DEFECT_TOLERANCE = 1e-9


def _vertex_values(regions, tri, output: int):
    """f and an upper bound on |f| (including its evaluation's rounding) at every stored vertex."""
    offsets = np.asarray(regions.vertex_offsets, np.int64)
    owner = np.repeat(np.arange(len(regions)), np.diff(offsets))
    W, b = regions.affine_maps(output)
    X = tri.vertices
    Wv, bv = W[owner], b[owner]
    fv = np.einsum("vd,vd->v", Wv, X) + bv
    d = X.shape[1]
    magnitude = np.einsum("vd,vd->v", np.abs(Wv), np.abs(X)) + np.abs(bv)
    absfv = round_up(magnitude * (1.0 + gamma(d + 1)), d + 4)  # >= |f| and >= |computed f|
    return fv, absfv


def prefill_slices(integrator, box, rows, subsets) -> int:
    """Integrate the uniform slices {z_S = x_S} of ``box`` for every row x and every S in ``subsets``
    and store them in ``integrator``'s piece cache.  Returns how many slices were stored (0 when the
    box partition has no stored vertices or is over the reuse budget: the rows then run as before)."""
    from polyattr.attribution.integrals import REUSE_MAX_REGIONS, _piece_key
    from polyattr.geometry.domains import float_domain
    from polyattr.geometry.regions import enumerate_regions
    from polyattr.attribution.measure_methods import slice_measure
    from polyattr.geometry.simplices import triangulate_regions
    from polyattr.integrate.slices import NODE_ROUNDINGS, axis_slice_integrals, section_integrals

    if integrator.exact or integrator.record or integrator.reuse_box is None:
        return 0
    if integrator._box_partition is None:
        # the batch's stored partition, within the reuse budget (beyond it the rows enumerate their
        # slices as before, rather than this enumerating a huge box)
        try:
            integrator._box_partition = enumerate_regions(
                integrator.model.to_float(), float_domain(box), backend=integrator.backend,
                max_regions=min(integrator.max_regions or REUSE_MAX_REGIONS, REUSE_MAX_REGIONS))
            integrator.enumerations += 1
        except RegionBudgetExceeded:
            integrator.reuse_box = None
            return 0
    regions = integrator.regions_on(box)  # the stored partition, counted once in regions_used
    tri = triangulate_regions(regions)
    if tri is None:
        return 0
    d = box.dim
    lower, upper = np.asarray(box.lower, float), np.asarray(box.upper, float)
    fv, absfv = _vertex_values(regions, tri, integrator.output)
    X = np.array([np.asarray(r, float) for r in rows])
    stored = 0
    for S in subsets:
        S = tuple(int(i) for i in S)
        k = len(S)
        if not 1 <= k < d or (k > 1 and d - k not in (1, 2)):
            continue
        C, inverse = np.unique(X[:, S], axis=0, return_inverse=True)
        inverse = np.asarray(inverse).ravel()
        if k == 1:
            res = axis_slice_integrals(tri.vertices, tri.simplices, tri.volumes, fv, absfv, S[0], C[:, 0],
                                       float(upper[S[0]]))
        else:
            res = section_integrals(tri.vertices, tri.simplices, fv, absfv, S, C)
        free = [i for i in range(d) if i not in S]
        volume = float(np.prod(upper[free] - lower[free]))
        integral, weights, mass, fmax, terms, interpolation, mass_interpolation = res.T
        mean = integral / volume
        defect = np.abs(mass / volume - 1.0)
        # per simplex <= NODE_ROUNDINGS(d) roundings relative to its |f| weights (B-spline recurrence,
        # affine evaluation of f, products; section weights likewise), then the sum over the terms;
        # interpolated pieces add their own absolute bounds (integrate/slices.py)
        n_ops = NODE_ROUNDINGS(d) + (d + 1) * terms.astype(np.int64) + 2
        g = np.array([gamma(int(n)) for n in n_ops])
        rounding = (g * weights + interpolation) / volume
        mass_error = (g * mass + mass_interpolation) / volume
        bound = round_up(rounding + (defect + mass_error) * fmax, 6)
        ok = defect <= DEFECT_TOLERANCE
        done = set()
        for r, q in enumerate(inverse):
            if not ok[q] or q in done:
                continue
            done.add(q)
            measure = slice_measure(box, rows[r], S)
            (_, piece), = measure.terms
            integrator._piece_cache[_piece_key(piece)] = (float(mean[q]), float(bound[q]))
            stored += 1
    integrator.cuts += stored
    return stored
