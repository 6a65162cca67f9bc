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

Error bound of a prefilled slice (absolute, on the mean of f over the slice), every term proven:

* rounding: the B-spline recurrence (non-negative terms, :func:`~polyattr.integrate.slices.NODE_ROUNDINGS`
  roundings relative to the |f| weights), f evaluated from the region's float affine map, the
  products and the sum over the simplices met, the division by the slice's volume (itself a float
  product of d - 1 differences): gamma_n times the sum of |f| weights, plus the interpolated pieces'
  own bounds and the simplex volumes' errors (Gaussian elimination backward error and a Hadamard
  expansion, :func:`~polyattr.geometry.simplices.simplex_volumes`), as absolute terms from the kernel;
* the float affine maps' own error (Higham's bound on the matrix chain, per region), integrated;
* the displacement of the float vertices, per simplex (no tiling of the float simplices is assumed):
  the exact simplices S* (the same combinatorics, exact vertices) tile the box, so the exact slice
  integral is the sum over simplices of int over S* n H of f*_S; each float simplex S~ is compared
  with its own S* (:func:`~polyattr.integrate.slices.slice_displacement_bounds`).  With r the
  region's ``RegionSet.vertex_radius`` (proven by the partition's verification) and gap the least
  distance of S~'s vertices from H: if gap > 2 r, S~ n H and S* n H are cut from the same edges,
  their cut points lie within r' = r + 3 r D / (2 gap - 2 r) of each other (D the diameter of S~),
  so the two slices differ by at most prod(L + 4 r') - prod(L) in volume (L the free sides of S~'s
  bounding box), times a bound on |f~|, |f*| there; f* - f~ on the common part is the previous term.
  A slice with a simplex whose vertex is within 2 r of H (r > 0) has no such bound: it is not
  prefilled, its row enumerates it; nor is one whose displacement bound exceeds
  :data:`DISPLACEMENT_TOLERANCE` times the largest |f| at the partition's vertices (r' grows as the slice nears
  a vertex), nor any slice of a partition that cannot be verified.

The tiling defect |mass found / slice volume - 1| is a sanity check only (not part of the bound):
a slice whose defect exceeds :data:`DEFECT_TOLERANCE` is not prefilled, its row enumerates it.

Slices with one fixed coordinate (partial dependence, and Shapley's singletons) are prefilled from
the triangulation; lines (one free coordinate, d - 1 fixed) from the proven line kernel
(:mod:`polyattr.attribution.line_batches`, which needs no triangulation).  The interval / polygon
sections used for other slices with two or more fixed coordinates
(:func:`~polyattr.integrate.slices.section_integrals`) have no proven rounding bound yet
(barycentric coordinates, sign tests and shoelace sums), so those slices (two free coordinates:
six per row of a 4-input Shapley batch) go to the per-row path (:data:`PREFILL_SECTIONS`).
"""

from __future__ import annotations

import numpy as np

from polyattr.errors import PolyattrError, RegionBudgetExceeded
from polyattr.numerics import gamma, round_up

#: a slice's mass may differ from its volume by this relative amount before it is left to its row
DEFECT_TOLERANCE = 1e-9
#: a slice whose displacement bound exceeds this, relative to the largest |f| at the box's vertices, is left
#: to its row (the per-simplex bound grows as a slice nears a vertex; the row's own bound may be smaller)
DISPLACEMENT_TOLERANCE = 1e-6
#: prefill slices with two or more fixed coordinates from the section kernel (no proven bound: off)
PREFILL_SECTIONS = False


def _map_error_bounds(net, patterns, output: int):
    """Bounds on |W~_P - W_P| and |b~_P - b_P| (entrywise) of the float local affine maps.

    W_P = W_L D_{L-1} W_{L-1} ... D_1 W_1 is a chain of matrix products (D the units' slopes: 1 or
    alpha): computed in float it is within gamma_N |W_L| |D| ... |W_1| of the exact product (Higham,
    Lemma 3.7; N the sum of the inner dimensions plus one rounding per slope product), and the bias
    chain likewise.  The absolute chains are computed here in float and rounded up.
    """
    full = net.expand_patterns(patterns)
    weights = [np.abs(np.asarray(W, float)) for W in net.weights]
    biases = [np.abs(np.asarray(b, float)) for b in net.biases]
    weights[-1], biases[-1] = weights[-1][output:output + 1], biases[-1][output:output + 1]
    K = full.shape[0]
    G = h = None
    start = 0
    for li, (W, b) in enumerate(zip(weights, biases)):
        if li == 0:
            G_pre = np.broadcast_to(W, (K, *W.shape))
            h_pre = np.broadcast_to(b, (K, b.shape[0]))
        else:
            G_pre = np.matmul(W, G)
            h_pre = h @ W.T + b
        if li == len(weights) - 1:
            break
        alpha = np.abs(np.asarray(net.negative_slopes[li], float))
        n = alpha.shape[0]
        F = np.where(full[:, start:start + n], 1.0, alpha[None, :])
        start += n
        G, h = G_pre * F[:, :, None], h_pre * F
    N = sum(W.shape[1] for W in weights) + 2 * len(weights) + 2
    factor = gamma(N) * (1.0 + gamma(N))  # the float chains of |.| are themselves within gamma_N
    return round_up(factor * G_pre[:, 0, :], 2), round_up(factor * h_pre[:, 0], 2)


def _vertex_values(regions, tri, output: int):
    """f at every stored vertex (from its region's float affine map), an upper bound on |f| there,
    and a bound on |f~ - f*| (the float map's error, :func:`_map_error_bounds`; the evaluation's own
    rounding is counted with the kernels' roundings, relative to the |f| bound)."""
    offsets = np.asarray(regions.vertex_offsets, np.int64)
    owner = np.repeat(np.arange(len(regions)), np.diff(offsets))
    W, b = regions.affine_maps(output)
    X = tri.vertices
    Wv, bv = W[owner], b[owner]
    fv = np.einsum("vd,vd->v", Wv, X) + bv
    d = X.shape[1]
    magnitude = np.einsum("vd,vd->v", np.abs(Wv), np.abs(X)) + np.abs(bv)
    absfv = round_up(magnitude * (1.0 + gamma(d + 1)), d + 4)  # >= |f~| and >= |computed f~|
    dW, db = _map_error_bounds(regions.model.to_float(), regions.patterns, output)
    map_error = round_up(np.einsum("vd,vd->v", dW[owner], np.abs(X)) + db[owner], d + 2)
    # a Lipschitz bound (sup norm -> |.|) valid for the exact maps of every region
    # per simplex (for the displacement term): a bound on |f~| and |f*| at its vertices (the computed
    # value, its rounding within gamma_{d+1} of the |f| weights, the map's error), and on the l1 norms
    # of both maps' gradients
    at_vertices = round_up(np.abs(fv) + gamma(d + 1) * absfv + map_error, 4)
    vertex_max = np.max(at_vertices[tri.simplices], axis=1)
    lipschitz = round_up(np.sum(np.abs(W) + dW, axis=1), d + 1)[tri.region]
    return fv, absfv, map_error, (vertex_max, lipschitz)


def _vertex_radius(regions, tri):
    """Per simplex, its region's ``RegionSet.vertex_radius``: how far a float vertex may be from the
    exact one, proven by the partition's verification (:mod:`polyattr.geometry.verify_partition`).
    None for a partition that cannot be verified (no proven bound: its slices go to their rows)."""
    try:
        radius = regions.vertex_radius
    except PolyattrError:
        return None
    if radius is None:
        return None
    radius = np.asarray(radius, float)
    if radius.shape != (len(regions),) or not np.all(np.isfinite(radius)):
        return None
    return np.ascontiguousarray(radius[tri.region])


def _prefill_lines(integrator, box, rows, X, S) -> int:
    """The lines {z_S = x_S} (one free coordinate) of every row, from the proven line kernel
    (:func:`~polyattr.attribution.line_batches.line_means`), into the piece cache; a line the kernel
    cannot prove tightly (:data:`~polyattr.attribution.line_batches.UNPROVEN_TOLERANCE`) is left to its
    row.  Returns how many lines were stored."""
    from polyattr.attribution.integrals import _piece_key
    from polyattr.attribution.line_batches import UNPROVEN_TOLERANCE, line_means
    from polyattr.attribution.measure_methods import slice_measure

    from polyattr.models.relu import ReLUNetwork

    if not isinstance(integrator.model, ReLUNetwork):
        return 0  # the kernel walks a ReLU network's layers; other models' rows enumerate their lines
    d = box.dim
    (axis,) = [i for i in range(d) if i not in S]
    C, first = np.unique(X[:, list(S)], axis=0, return_index=True)
    base = X[first]
    mean, bound, unproven, fmax = line_means(integrator.model, integrator.output, base, axis,
                                             float(box.lower[axis]), float(box.upper[axis]))
    ok = np.isfinite(bound) & (unproven <= UNPROVEN_TOLERANCE * np.maximum(fmax, 1e-300))
    stored = 0
    for q, r in enumerate(first):
        if not ok[q]:
            continue
        (_, piece), = slice_measure(box, rows[r], S).terms
        integrator._piece_cache[_piece_key(piece)] = (float(mean[q]), float(bound[q]))
        stored += 1
    return stored


def prefill_slices(integrator, box, rows, subsets) -> int:
    """Integrate the uniform slices {z_S = x_S} of ``box`` for every row x and every S in ``subsets``
    and store them in ``integrator``'s piece cache.  Returns how many slices were stored.  Lines come
    from the line kernel in any case; the other slices need the box partition (none are stored when
    it has no stored vertices or is over the reuse budget: the rows then run as before)."""
    from polyattr.attribution.integrals import REUSE_MAX_REGIONS, _piece_key
    from polyattr.geometry.domains import domain_key, float_domain
    from polyattr.geometry.regions import enumerate_regions
    from polyattr.attribution.measure_methods import slice_measure
    from polyattr.geometry.simplices import triangulate_regions
    from polyattr.integrate.slices import (NODE_ROUNDINGS, axis_slice_integrals, section_integrals,
                                           slice_displacement_bounds)

    if integrator.exact or integrator.record:
        return 0
    d = box.dim
    X = np.array([np.asarray(r, float) for r in rows])
    # lines need no partition: the line kernel proves each one on its own
    subsets = [tuple(int(i) for i in S) for S in subsets]
    lines = [S for S in subsets if 1 < len(S) == d - 1]
    stored = sum(_prefill_lines(integrator, box, rows, X, S) for S in lines)
    integrator.cuts += stored
    subsets = [S for S in subsets if S not in lines]
    if not subsets or integrator.reuse_box is None:
        return stored
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
            return stored
    regions = integrator.regions_on(box)  # the stored partition, counted once in regions_used
    tri = triangulate_regions(regions)
    if tri is None:
        return stored
    lower, upper = np.asarray(box.lower, float), np.asarray(box.upper, float)
    radius = _vertex_radius(regions, tri)
    if radius is None:
        return stored
    fv, absfv, map_error, (vertex_max, lipschitz) = _vertex_values(regions, tri, integrator.output)
    f_scale = float(np.max(np.abs(fv), initial=0.0))  # the size of f on the box (for DISPLACEMENT_TOLERANCE)
    from_partition = 0
    for S in subsets:
        k = len(S)
        if not 1 <= k < d or (k > 1 and (d - k not in (1, 2) or not PREFILL_SECTIONS)):
            continue
        C, inverse = np.unique(X[:, S], axis=0, return_inverse=True)
        inverse = np.asarray(inverse).ravel()
        if k == 1:
            res = axis_slice_integrals(tri.vertices, tri.simplices, tri.volumes, fv, absfv, S[0], C[:, 0],
                                       float(upper[S[0]]), errv=map_error, volume_errors=tri.volume_errors)
            shift, near, n_shift = slice_displacement_bounds(tri.vertices, tri.simplices, radius, vertex_max,
                                                             lipschitz, S[0], C[:, 0]).T
        else:
            res = section_integrals(tri.vertices, tri.simplices, fv, absfv, S, C, errv=map_error)
            shift, near, n_shift = np.full(len(C), np.inf), np.ones(len(C)), np.zeros(len(C))  # not proven
        free = [i for i in range(d) if i not in S]
        volume = float(np.prod(upper[free] - lower[free]))
        integral, weights, mass, fmax, terms, interpolation, mass_interpolation, maps = res.T
        mean = integral / volume
        # per simplex <= NODE_ROUNDINGS(d) roundings relative to its |f| weights (its sum over the
        # d + 1 vertices included), the product with w (1), the running sum over the terms (<= terms
        # additions along a path, recursive summation), the division by the volume (1) and the volume's
        # own rounding (d - 1 products of d differences: 2 d); interpolated pieces and the simplex
        # volumes' errors come as absolute bounds (columns 5, 6); g (1 + g) covers the |f| weights being
        # computed themselves (within g of the exact weights)
        n_ops = NODE_ROUNDINGS(d) + terms.astype(np.int64) + 2 * d + 3
        g = np.array([gamma(int(n)) for n in n_ops])
        g = g * (1.0 + g)
        rounding = (g * weights + interpolation) * (1.0 + gamma(2 * d)) / volume
        # the float maps' own errors (integrated), and the displacement of the float vertices: per
        # simplex, its exact slice against its float slice (slice_displacement_bounds), summed
        # (n_shift non-negative terms) and divided by the volume
        g_shift = np.array([gamma(int(n) + 2) for n in n_shift])
        displacement = shift * (1.0 + g_shift) * (1.0 + gamma(2 * d)) / volume
        bound = round_up(rounding + maps * (1.0 + gamma(2 * d)) / volume + displacement, 8)
        # the tiling defect (mass found against the slice's volume, beyond the mass's rounding and
        # interpolation bound) is a sanity check that sends the slice back to its row, not a bound
        mass_error = (g * mass + mass_interpolation) / volume
        defect = np.maximum(np.abs(mass / volume - 1.0) - mass_error, 0.0)
        # a slice passing within 2 r of a float vertex (r > 0) has no proven displacement bound: its row
        # and so does one whose displacement bound is large against the |f| it meets (near a vertex)
        ok = (defect <= DEFECT_TOLERANCE) & (near == 0) & np.isfinite(bound)
        ok &= displacement <= DISPLACEMENT_TOLERANCE * f_scale
        done = set()
        for r, q in enumerate(inverse):
            if q in done:
                continue
            done.add(q)
            measure = slice_measure(box, rows[r], S)
            (_, piece), = measure.terms
            if not ok[q]:
                # its row integrates it from a fresh (verified) enumeration of the slice: a slice cut
                # from the stored partition near its vertices (or on the box's faces) has no vertex
                # radius, hence no proven bound
                key = domain_key(piece.domain)
                if key not in integrator._region_cache:
                    integrator._region_cache[key] = integrator._enumerate(piece.domain)
                    integrator.regions_used += len(integrator._region_cache[key])
                continue
            integrator._piece_cache[_piece_key(piece)] = (float(mean[q]), float(bound[q]))
            from_partition += 1
    integrator.cuts += from_partition
    return stored + from_partition
