"""Exact gradient methods on a ReLU network (THEORY.md §4.2).

A ReLU network is affine on every linear region P, f(z) = w_P . z + b_P, so the classic gradient
methods are finite sums over the regions they touch:

* ``gradient`` -- w_P of the region containing x (a side must be chosen on a boundary);
* ``gradient_x_input`` -- w_P * x;
* ``ig`` -- Integrated Gradients: the breakpoints of the pattern along the segment from the
  baseline x' to x, IG_j = (x_j - x'_j) sum_k (t_{k+1} - t_k) (w_{P_k})_j;
* ``expected_gradients`` -- the average of exact IG over a finite background set;
* ``expected_gradients_uniform`` -- uniform background on the domain: *not* exact (Monte Carlo over
  baselines, exact IG per baseline);
* ``smoothgrad_uniform`` -- uniform noise on a box B around x: sum_P vol(P n B)/vol(B) w_P;
* ``lime_uniform`` -- the least-squares affine surrogate under uniform perturbations on B, from the
  first and second moments of the regions.

Float results carry an error bound at the rounding level (forward error analysis, stated per
method); with ``exact=True`` the model, x and the baseline are rational and every value is a
:class:`~fractions.Fraction`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from polyattr.attribution import approximate
from polyattr.attribution.api import AttributionContext, MethodResult
from polyattr.attribution.registry import MethodSpec, OptionSpec, register
from polyattr.errors import PolyattrError
from polyattr.exact_linalg import solve
from polyattr.geometry.domains import Box, as_vector
from polyattr.geometry.segment_walk import SegmentPieces, integrated_gradients_walk, segment_breakpoints
from polyattr.models.protocol import PiecewiseAffineModel
from polyattr.numbers import to_fraction
from polyattr.numerics import UNIT_ROUNDOFF as _U
from polyattr.numerics import gamma as _gamma
from polyattr.numerics import round_up


# ------------------------------------------------------------------------------ error bounds
def gradient_magnitude_bound(model: PiecewiseAffineModel, output: int) -> np.ndarray:
    """A bound on |d f / d z_j| over every pattern (shape (d,)): the model's own, cached there."""
    return model.gradient_magnitude_bound(output)


def neuron_flip_bounds(model: PiecewiseAffineModel, output: int) -> np.ndarray:
    """Per hidden unit, a bound on |change of the gradient| when it alone switches (the model's own)."""
    return model.unit_flip_bounds(output)


def _float_point(v, name: str, d: int) -> np.ndarray:
    """A contiguous float64 vector of length d (finiteness is checked in the kernel)."""
    try:
        arr = np.ascontiguousarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise PolyattrError(f"{name}: expected {d} numbers") from None
    if arr.shape != (d,):
        raise PolyattrError(f"{name}: expected {d} numbers, got shape {arr.shape}")
    return arr


def gradient_rounding_bound(model: PiecewiseAffineModel, output: int) -> np.ndarray:
    """Bound on |computed - exact| of a float gradient w_P (any pattern), per feature (the model's
    :meth:`~polyattr.models.relu.ReLUNetwork.gradient_rounding_bound`)."""
    return model.gradient_rounding_bound(output)


# ----------------------------------------------------------------------------- the gradient
def _direction(ctx: AttributionContext):
    v = ctx.option("direction", None)
    if v is None:
        return None
    try:
        v = as_vector(v, "direction", length=ctx.d, exact=ctx.exact)
    except PolyattrError as exc:
        raise PolyattrError(f"{exc} (option direction: a vector of {ctx.d} numbers)") from None
    if all(vi == 0 for vi in v):
        raise PolyattrError("direction: expected a non-zero vector (the side to take on a region boundary)")
    return v


def local_gradient(model: PiecewiseAffineModel, x, output: int, direction=None, exact: bool = False):
    """The gradient w_P of the region at ``x`` (one-sided along ``direction`` on a boundary).

    Returns (gradient (d,), info dict, float error bound).  See
    :meth:`~polyattr.models.relu.ReLUNetwork.one_sided_pattern` for how the side is chosen.  A
    leaky unit's one-sided gradient uses its slope alpha on the inactive side; identity units are
    never tied (they have no boundary).
    """
    net = model.to_exact() if exact else model.to_float()
    pattern, tied = net.one_sided_pattern(x, direction)
    grad = net.pattern_gradients(pattern[None, :], output)[0]
    on_boundary = bool(np.any(tied))
    info = {
        "on_boundary": on_boundary,
        "tied_neurons": [int(i) for i in np.flatnonzero(tied)],
        "side": ("direction" if direction is not None else "ties read as inactive") if on_boundary else "interior",
        "pattern": pattern,
    }
    if direction is not None:
        info["direction"] = list(direction)
    if exact:
        return grad, info, 0.0
    # rounding of the backward pass, plus for every unit tied within its rounding bound (whose true
    # state may be the other one) the largest change of the gradient when it switches
    per_feature = gradient_rounding_bound(net, output)
    if on_boundary:
        tied_units = np.flatnonzero(net.cut_units)[tied]
        per_feature = round_up(per_feature + np.sum(net.unit_flip_bounds(output)[tied_units], axis=0),
                               len(tied_units) + 1)
    return grad, info, float(np.max(per_feature, initial=0.0))


def _gradient(ctx: AttributionContext) -> MethodResult:
    """w_P of the region containing x.

    On a boundary (some hidden pre-activation is 0 at x -- within its rounding bound in float
    mode) the side is chosen by option ``direction`` (a vector v: the one-sided gradient of the
    region entered moving from x along v); by default ties are read as inactive (autograd's
    relu'(0) = 0).  ``info["on_boundary"]``, ``info["tied_neurons"]`` and ``info["side"]`` report it.
    """
    grad, info, bound = local_gradient(ctx.model, ctx.x, ctx.output, _direction(ctx), ctx.exact)
    return MethodResult(list(grad), bound, info=info)


def _gradient_local_rule(W, x):
    """phi(x + u) = w_P on region P: no dependence on the offset u."""
    return 0 * W, W


def _gradient_x_input_local_rule(W, x):
    """phi_k(x + u) = w_Pk (x_k + u_k) on region P."""
    return W, W * x[None, :]


_DIRECTION = OptionSpec("direction", "vector", help="side to take on a region boundary: the region entered moving from x along this vector")

register(MethodSpec(
    name="gradient", function=_gradient, options=(_DIRECTION,), certificate="gradient", completeness="baseline",
    axioms=dict(completeness=False, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_gradient, local_rule=_gradient_local_rule,
    doc="the gradient w_P of the linear region containing x"))


def _gradient_x_input(ctx: AttributionContext) -> MethodResult:
    """gradient * x (same ``direction`` option and boundary report as ``gradient``)."""
    grad, info, bound = local_gradient(ctx.model, ctx.x, ctx.output, _direction(ctx), ctx.exact)
    values = grad * ctx.x
    if not ctx.exact:
        bound = float(np.max(round_up(np.abs(ctx.x) * bound + _U * np.abs(values), 3), initial=0.0))
    return MethodResult(list(values), bound, info=info)


register(MethodSpec(
    name="gradient_x_input", function=_gradient_x_input, options=(_DIRECTION,), certificate="gradient",
    completeness="output",
    axioms=dict(completeness=False, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_gradient_x_input, local_rule=_gradient_x_input_local_rule,
    doc="gradient times input, w_P * x"))


# --------------------------------------------------------------------- Integrated Gradients
def integrated_gradients(model: PiecewiseAffineModel, x, baseline, output: int = 0, exact: bool = False):
    """Exact Integrated Gradients of one output along the segment from ``baseline`` to ``x``.

    IG_j = (x_j - x'_j) sum_k (t_{k+1} - t_k) (w_{P_k})_j over the pieces of the segment
    (:func:`~polyattr.geometry.segment_walk.segment_breakpoints`).

    Returns
    -------
    values : ndarray (d,)
    pieces : SegmentPieces
    error_bound : float
        0 when exact.  In floats, per feature
        2 |x_j - x'_j| (sum_i L_i J_ij + (gamma_S + gamma_{K+2}) G_j) + u |IG_j|, where L_i is the
        length of the set of t where the pre-activation of neuron i is within its (uniform, forward
        error analysis) rounding bound of 0 -- outside these sets the float pattern is the true
        one --, J_ij bounds the change of d_j f when neuron i switches
        (:func:`neuron_flip_bounds`), G_j bounds |d_j f| (:func:`gradient_magnitude_bound`),
        gamma_S is the rounding of a gradient and gamma_{K+2} that of the sum over the K pieces
        (see :func:`~polyattr.geometry.segment_walk.integrated_gradients_walk`).  The maximum over
        features is returned.
    """
    if exact:
        pieces = segment_breakpoints(model, baseline, x, exact=True)
        return (pieces.end - pieces.start) * pieces.integrated_gradient_sums(output), pieces, 0.0
    net = model.to_float()
    k = net.check_output(output)
    x = _float_point(x, "x", net.n_inputs)
    baseline = _float_point(baseline, "baseline", net.n_inputs)
    if not net.hidden_sizes:  # an affine model: IG = (x - x') * w
        values = (x - baseline) * net.weights[0][k]
        pieces = SegmentPieces(net, baseline, x, np.array([0.0, 1.0]), np.zeros((1, 0), dtype=bool), False, 0.0,
                               np.zeros(0))
        return values, pieces, float(np.max(_U * np.abs(values), initial=0.0))
    T, patterns, uncertain, values, bound, finite = integrated_gradients_walk(net, baseline, x, k)
    if not finite:
        raise PolyattrError("x/baseline: contain NaN or infinite values")
    pieces = SegmentPieces(net, baseline, x, T, patterns, False, min(float(np.sum(uncertain)), 1.0), uncertain)
    return values, pieces, bound


def _breakpoint_info(pieces: SegmentPieces) -> dict:
    return {
        "breakpoints": list(pieces.breakpoints),
        "pieces": len(pieces),
        "uncertain_length": pieces.uncertain_length,
    }


def _ig(ctx: AttributionContext) -> MethodResult:
    """Integrated Gradients, exact: breakpoints of the pattern along the path, one gradient per piece.

    ``info["breakpoints"]`` lists 0 = t_0 < ... < t_K = 1 (Fractions in exact mode).
    Completeness, sum_j IG_j = f(x) - f(x'), holds exactly (and to rounding in floats).
    """
    baseline = ctx.require_baseline("ig")
    values, pieces, bound = integrated_gradients(ctx.model, ctx.x, baseline, ctx.output, ctx.exact)
    info = _breakpoint_info(pieces)
    if ctx.exact:
        info["segments"] = [pieces]  # the exact pieces walked (a certificate's trace)
    return MethodResult(list(values), bound, base_value=ctx.f(baseline), info=info)


register(MethodSpec(
    name="ig", function=_ig, needs_baseline=True, certificate="path", completeness="baseline",
    axioms=dict(completeness=True, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_ig,
    doc="Integrated Gradients along the segment from the baseline, exact over the breakpoints of the path"))


# ----------------------------------------------------------------------- expected gradients
def _background(ctx: AttributionContext) -> np.ndarray:
    bg = ctx.option("background", None)
    if bg is None:
        raise PolyattrError("background: method 'expected_gradients' needs background=<array (n, d)> of baselines")
    try:
        arr = np.asarray(bg, dtype=ctx.field.dtype)
    except (TypeError, ValueError):
        raise PolyattrError("background: expected an array of numbers of shape (n, d)") from None
    if arr.ndim == 1 and arr.shape[0] == ctx.d:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != ctx.d or arr.shape[0] == 0:
        raise PolyattrError(f"background: expected an array of shape (n, {ctx.d}) with n >= 1, got shape {arr.shape}")
    return np.array([ctx.domain.check_point(row, f"background[{i}]") for i, row in enumerate(arr)],
                    dtype=ctx.field.dtype)


def _expected_gradients(ctx: AttributionContext) -> MethodResult:
    """Expected Gradients over a finite background set: the exact average of exact IG.

    Option ``background``: an array (n, d) of baselines (points of the domain), each weight 1/n.
    """
    if ctx.baseline is not None:
        raise PolyattrError("baseline: expected_gradients averages over background=...; do not pass baseline")
    background = _background(ctx)
    n = background.shape[0]
    total, bound, breakpoints, segments, abs_total = None, 0.0, [], [], 0.0
    for row in background:
        values, pieces, b = integrated_gradients(ctx.model, ctx.x, row, ctx.output, ctx.exact)
        total = values if total is None else total + values
        if not ctx.exact:
            abs_total = abs_total + np.abs(np.asarray(values, float))
        bound = max(bound, b)
        breakpoints.append(len(pieces))
        segments.append(pieces)
    if ctx.exact:
        mean = total / Fraction(n)
        base = sum((ctx.f(row) for row in background), start=Fraction(0)) / n
    else:
        mean = total / n
        base = float(np.mean(np.atleast_1d(ctx.f(background))))
        # each IG within its bound b (so the exact mean within max b), plus the rounding of the
        # sequential sum of n terms and the division: gamma_{n+1} sum_i |IG_i| / n
        bound = float(round_up(bound + _gamma(n + 2) * float(np.max(abs_total, initial=0.0)) / n, 4))
    info = {"background_size": n, "pieces": breakpoints}
    if ctx.exact:
        info["segments"] = segments  # the exact pieces walked (a certificate's trace)
    return MethodResult(list(mean), bound, base_value=base, info=info)


def _random_background(rng, domain, n: int = 4):
    lo, hi = domain.lower.astype(float), domain.upper.astype(float)
    return np.array([lo + (hi - lo) * rng.uniform(0.05, 0.95, size=lo.shape) for _ in range(n)])


register(MethodSpec(
    name="expected_gradients", function=_expected_gradients, certificate="path", completeness="background_mean",
    options=(OptionSpec("background", "points", help="baselines (n, d), each of weight 1/n (CLI: a .npy or .csv file)"),),
    axioms=dict(completeness=True, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_expected_gradients,
    demo_options={"background": np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])},
    axiom_options=lambda rng, domain: {"background": _random_background(rng, domain)},
    doc="Expected Gradients over a finite background set: the exact mean of exact IG"))


def _expected_gradients_uniform(ctx: AttributionContext) -> MethodResult:
    """Expected Gradients with baselines uniform on the domain: INEXACT (Monte Carlo over baselines).

    The integral over baselines of exact IG is in general not rational (it produces logarithms),
    so it is estimated: ``samples`` baselines (default 256) drawn uniformly from the domain with
    ``rng``, exact IG (floats) for each, averaged.  The result is marked inexact; ``error_bound``
    is the 3-sigma half-width max_j 3 std_j / sqrt(n) (a probabilistic bound, about 99.7 percent
    coverage per feature) plus the rounding bound.  In exact mode the computation still runs in
    floats (the estimate is not exact anyway).
    """
    n = ctx.option("samples", 256)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise PolyattrError(f"samples: expected an integer >= 2, got {n!r}")
    try:
        rng = np.random.default_rng(ctx.option("rng", None))
    except (TypeError, ValueError) as exc:
        raise PolyattrError(f"rng: expected a seed or numpy Generator ({exc})") from None
    if ctx.baseline is not None:
        raise PolyattrError("baseline: expected_gradients_uniform samples its baselines; do not pass baseline")
    net = ctx.model.to_float()
    lo, hi = ctx.domain.lower.astype(float), ctx.domain.upper.astype(float)
    x = ctx.x.astype(float)
    baselines = lo + (hi - lo) * rng.random((int(n), ctx.d))
    samples = np.empty((int(n), ctx.d))
    rounding = 0.0
    for i, b in enumerate(baselines):
        samples[i], _, e = integrated_gradients(net, x, b, ctx.output, exact=False)
        rounding = max(rounding, e)
    mean = samples.mean(axis=0)
    half_width = 3.0 * samples.std(axis=0, ddof=1) / np.sqrt(n)
    bound = float(np.max(half_width, initial=0.0)) + rounding
    return MethodResult(list(mean), bound, exact=False,
                        info={"samples": int(n), "error_kind": "3-sigma Monte Carlo half-width",
                              "half_width": half_width, "base_value_estimate": float(np.mean(net(baselines, ctx.output)))})


def _at_least_two(n, ctx):
    if n < 2:
        raise PolyattrError(f"samples: expected an integer >= 2, got {n!r}")
    return n


register(MethodSpec(
    name="expected_gradients_uniform", function=_expected_gradients_uniform, exact=False,
    options=(OptionSpec("samples", "int", 256, "Monte Carlo baselines (>= 2)", _at_least_two),
             OptionSpec("rng", "seed", None, "seed of the sampled baselines")),
    completeness="uniform_mean", sampled=approximate.sampled_expected_gradients_uniform,
    # Monte Carlo over baselines (inexact): completeness and symmetry only within its 3-sigma bound
    axioms=dict(completeness=None, sensitivity=True, linearity=True, symmetry=None, implementation_invariance=True),
    demo_options={"rng": 0},
    # seeded, so that f, g and f + g share their baselines (linearity and invariance then hold exactly)
    axiom_options={"samples": 64, "rng": 0},
    doc="Expected Gradients with baselines uniform on the domain: Monte Carlo over baselines (inexact)"))


# --------------------------------------------------------------- box-noise methods (regions)
def _radius(ctx: AttributionContext):
    r = ctx.option("radius", 0.1)
    try:
        if np.ndim(r) == 0:
            r = [r] * ctx.d
        r = as_vector(r, "radius", length=ctx.d, exact=ctx.exact)
    except PolyattrError as exc:
        raise PolyattrError(f"radius: expected a positive number or {ctx.d} positive numbers ({exc})") from None
    if not all(ri > 0 for ri in r):
        raise PolyattrError(f"radius: expected positive half-widths, got {list(r)}")
    return r


def box_region_moments(ctx: AttributionContext, box: Box, order: int):
    """Uniform-probability moments on ``box`` of every region of the model, and the local maps.

    Returns (m0 (n,), m1 (n, d), M2 (n, d, d) or None, W (n, d), b (n,)) in input coordinates (a
    box is its own reduced domain).  The regions come from the context's integrator: float
    enumeration, or in exact mode the exactly confirmed region set (rational polytopes whose
    masses are checked to tile the box), with Fraction moments.
    """
    regions = ctx.integrator.regions_on(box)
    m0, m1, M2 = regions.moments(order=max(order, 1))
    W, b = regions.affine_maps(ctx.output)
    vol = box.volume
    if ctx.exact:
        inv = Fraction(1) / vol
        scale = (lambda a: np.array([Fraction(v) * inv for v in np.ravel(a)], dtype=object).reshape(np.shape(a)))
        return (scale(m0), scale(m1), None if M2 is None else scale(M2),
                np.asarray(W, dtype=object), np.asarray(b, dtype=object))
    vol = float(vol)
    return (np.asarray(m0, float) / vol, np.asarray(m1, float) / vol, None if M2 is None else np.asarray(M2, float) / vol,
            np.asarray(W, float), np.asarray(b, float))


def _smoothgrad_uniform(ctx: AttributionContext) -> MethodResult:
    """SmoothGrad with noise uniform on the box B = [x - r, x + r]: sum_P vol(P n B)/vol(B) w_P.

    Option ``radius`` (default 0.1; a number or one per feature).  B is *not* clipped to the
    domain: the noise may leave it (the network is defined everywhere), as in SmoothGrad.
    Float error bound: proven (:func:`_smoothgrad_float`) when the regions carry a vertex radius,
    else inf.
    """
    r = _radius(ctx)
    box = Box(ctx.x - r, ctx.x + r, exact=ctx.exact)
    m0, m1, _, W, b = box_region_moments(ctx, box, order=0)
    if ctx.exact:
        values = [sum((m0[i] * W[i, j] for i in range(len(m0))), start=Fraction(0)) for j in range(ctx.d)]
        return MethodResult(values, 0.0, info={"radius": list(r), "box_regions": len(m0)})
    values, bound = _smoothgrad_float(ctx, box, r, m0, W)
    return MethodResult(list(values), bound, info={"radius": list(r), "box_regions": len(m0)})


def _exact_noise_box(ctx: AttributionContext, x, lo, hi):
    """The float noise box B~ = [lo, hi] against the exact one B* = [x - r*, x + r*] (r* the
    radius option as the rational it denotes, x as given).

    Returns (r* per coordinate, delta, Vf, D, V_low): ``delta`` bounds (upward) the per-coordinate
    gap between the faces of B~ and B*, ``Vf`` is vol(B~) rounded to float (within u of it); when
    some gap is positive, D >= vol(B* sym. diff. B~) = prod(L + 4 delta) - prod(L) (the
    vertex-displacement argument of :mod:`polyattr.attribution.region_bounds`) and
    V_low <= vol(B*) >= vol(B~) - D, else D = V_low = None.
    """
    V_box = Fraction(1)
    for a, c in zip(lo, hi):
        V_box *= Fraction(c) - Fraction(a)
    Vf = float(V_box)
    raw = ctx.option("radius", Fraction(1, 10))
    raw = [raw] * len(lo) if np.ndim(raw) == 0 else list(raw)
    r_exact = [to_fraction(v) for v in raw]
    delta = np.zeros(len(lo))
    for i in range(len(lo)):
        xi = Fraction(float(x[i]))
        gap = max(abs(Fraction(lo[i]) - (xi - r_exact[i])), abs(Fraction(hi[i]) - (xi + r_exact[i])))
        delta[i] = float(gap) if Fraction(float(gap)) >= gap else np.nextafter(float(gap), np.inf)
    if not np.any(delta > 0):
        return r_exact, delta, Vf, None, None
    L = round_up(hi - lo, 1)
    four = round_up(4.0 * delta, 1)
    D, P = 0.0, 1.0
    for c in range(len(lo)):
        D, P = D * (L[c] + four[c]) + P * four[c], P * L[c]
    D = float(round_up(D, 3 * len(lo) + 1))
    return r_exact, delta, Vf, D, Vf * (1 - 8 * _U) - D


def _smoothgrad_float(ctx: AttributionContext, box: Box, r, m0, W):
    """Float SmoothGrad values and a proven bound against the exact values for the exact noise box.

    The exact box B* = [x - r*, x + r*] (r* the radius option as the rational it denotes, x as
    given) differs from the float box B~ = [fl(x - r), fl(x + r)] by delta <= one rounding per
    corner.  With g = grad f (|g_j| <= G_j, :func:`gradient_magnitude_bound`),
    |avg_{B*} g - avg_{B~} g| <= 2 vol(B* sym. diff. B~) / vol(B*) G_j and vol(B* sym. diff. B~)
    <= prod(L + 4 delta) - prod(L) =: Delta (the vertex-displacement argument of
    :mod:`polyattr.attribution.region_bounds`).  On B~ the values are sum_P p_P w_P with proven
    bounds on the masses p_P (triangulated, vertex radius) and on the gradients (affine-map
    rounding), and the contraction rounds by gamma_{n+2}.  ``inf`` without a vertex radius.
    """
    from polyattr.attribution.region_bounds import (affine_map_error_bounds, region_moments_with_bounds,
                                                    vertex_radius)

    regions = ctx.integrator.regions_on(box)
    radius = vertex_radius(regions)
    if radius is None:
        return m0 @ W, float("inf")
    n, d = W.shape
    m0u, _, e0u, _ = region_moments_with_bounds(regions, radius, order=0)
    lo, hi = np.asarray(box.lower, float), np.asarray(box.upper, float)
    _, _, Vf, D, V_low = _exact_noise_box(ctx, ctx.x, lo, hi)
    p = m0u / Vf
    values = p @ W
    dW, _ = affine_map_error_bounds(ctx.model, regions.patterns, ctx.output)
    absW = np.abs(W)
    # |p~ - m0*/vol(B~)| <= (e0u + gamma_3 m0u) / Vf (1 + gamma_2): the division and Vf's rounding
    ep = round_up((e0u + _gamma(3) * m0u) / Vf * (1 + _gamma(2)), 4)
    bound = round_up(_gamma(n + 2) * (p @ absW) + p @ dW + ep @ (absW + dW), 3 * n + 4)
    if D is not None:  # the exact noise box differs from the float one
        G = gradient_magnitude_bound(ctx.model, ctx.output)
        bound = round_up(bound + (2 * D / V_low if V_low > 0 else float("inf")) * G, 4)
    total = float(np.max(bound, initial=0.0))
    return values, total if np.isfinite(total) else float("inf")


# default the decimal 0.1: exactly 1/10 in exact mode, not the binary float 0.1
_RADIUS = OptionSpec("radius", "radius", Fraction(1, 10), "half-width of the noise box [x - r, x + r] (a number or one per feature)")

register(MethodSpec(
    name="smoothgrad_uniform", function=_smoothgrad_uniform, options=(_RADIUS,), certificate="box_moments",
    completeness="baseline",
    axioms=dict(completeness=False, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_smoothgrad_uniform,
    doc="SmoothGrad with uniform noise on the box [x - r, x + r]: region masses times gradients"))


def solve_linear_exact(M, rhs):
    """Solve M y = rhs exactly (:func:`polyattr.exact_linalg.solve`)."""
    try:
        return solve(M, rhs)
    except PolyattrError:
        raise PolyattrError("normal equations: singular matrix (a zero-width box?)") from None


def _box_design_matrix(lower, upper, one):
    """E[(1, u)(1, u)^T] for u uniform on the box [lower, upper] (closed form, independent coordinates)."""
    d = len(lower)
    mean = [(lo + hi) / 2 for lo, hi in zip(lower, upper)]
    second = [(lo * lo + lo * hi + hi * hi) / 3 for lo, hi in zip(lower, upper)]
    M = [[one] + list(mean)]
    for i in range(d):
        M.append([mean[i]] + [second[i] if i == j else mean[i] * mean[j] for j in range(d)])
    return M


def _lime_uniform(ctx: AttributionContext) -> MethodResult:
    """LIME with uniform perturbations on B = [x - r, x + r] and an affine surrogate, exactly.

    g(z) = a + c . z minimises E_{z ~ U(B)} (f(z) - g(z))^2; values = c.  Normal equations, in
    coordinates u = z - x centred at x (same c, better conditioned):
    E[(1, u)(1, u)^T] (a', c) = E[(1, u) f(z)], where the matrix has a closed form on the box and
    E[(1, z) f] = sum_P (m1(P n B) . w_P + m0 b_P, M2(P n B) w_P + m1 b_P) / vol(B) needs the second
    moments of every region.  Exact mode solves them with :mod:`polyattr.exact_linalg`.
    ``info["intercept"]`` is a (in the original coordinates).  Option ``radius`` (default 0.1).
    Float error bound: proven (:func:`_lime_float`) when the regions carry a vertex radius, else inf.
    """
    r = _radius(ctx)
    box = Box(ctx.x - r, ctx.x + r, exact=ctx.exact)
    m0, m1, M2, W, b = box_region_moments(ctx, box, order=2)
    x = ctx.x
    lower_u, upper_u = -r, r  # the box in centred coordinates
    d = ctx.d
    if ctx.exact:
        one = Fraction(1)
        n = len(m0)
        Ef = sum((sum((m1[i, j] * W[i, j] for j in range(d)), start=Fraction(0)) + m0[i] * b[i] for i in range(n)),
                 start=Fraction(0))
        Ezf = [sum((sum((M2[i, j, k] * W[i, k] for k in range(d)), start=Fraction(0)) + m1[i, j] * b[i]
                    for i in range(n)), start=Fraction(0)) for j in range(d)]
        Euf = [Ezf[j] - x[j] * Ef for j in range(d)]
        sol = solve_linear_exact(_box_design_matrix(lower_u, upper_u, one), [Ef] + Euf)
        c = sol[1:]
        intercept = sol[0] - sum((c[j] * x[j] for j in range(d)), start=Fraction(0))
        return MethodResult(c, 0.0, info={"radius": list(r), "intercept": intercept, "box_regions": n})
    proven = _lime_float(ctx, box, r, W, b)
    if proven is not None:
        return proven
    # no vertex radius: the value without a proven bound (inf, never an estimate posing as one)
    Ef = float(np.sum(np.einsum("nd,nd->n", m1, W) + m0 * b))
    Euf = np.einsum("nij,nj->i", M2, W) + m1.T @ b - x * Ef
    M = np.array(_box_design_matrix(lower_u, upper_u, 1.0), dtype=float)
    sol = np.linalg.solve(M, np.concatenate([[Ef], Euf]))
    c = sol[1:]
    return MethodResult(list(c), float("inf"), info={"radius": list(r), "intercept": float(sol[0] - c @ x),
                                                     "box_regions": len(m0)})


def _lime_float(ctx: AttributionContext, box: Box, r, W, b):
    """Float LIME values with a proven bound, or None when the regions have no vertex radius.

    In coordinates u = z - x centred at x the design matrix on the exact noise box
    B* = [x - r*, x + r*] is diag(1, r*^2 / 3), so c_j = 3 T_j / r*_j^2 with
    T_j = E_{B*}[u_j f(z)] = (1 / vol) sum_P int_P u_j (w_P . u + f_P(x)) du.  On the float box B~ the
    integrals use the regions' triangulated moments in u (second moments included) with proven
    bounds (:func:`region_moments_with_bounds`, the shift by x being one more displacement), the
    affine maps' bounds, and gamma bounds for the contraction; B* vs B~ adds
    2 Delta / vol(B*) max |u_j f| (as for SmoothGrad), and the division by the float r^2 / 3 its
    rounding and its distance to r*^2 / 3 (computed exactly).
    """
    from polyattr.attribution.region_bounds import (affine_map_error_bounds, region_moments_with_bounds,
                                                    vertex_radius)

    regions = ctx.integrator.regions_on(box)
    radius = vertex_radius(regions)
    if radius is None:
        return None
    n, d = W.shape
    x = np.asarray(ctx.x, float)
    m0, m1, e0, e1, M2, e2 = region_moments_with_bounds(regions, radius, order=2, shift=x)
    dW, db = affine_map_error_bounds(ctx.model, regions.patterns, ctx.output)
    absW = np.abs(W)
    f_at_x = W @ x + b  # each region's affine map at x
    df = round_up(_gamma(d + 1) * (absW @ np.abs(x) + np.abs(b)) + dW @ np.abs(x) + db, d + 4)
    abs_f = np.abs(f_at_x)
    terms = np.einsum("nij,nj->ni", M2, W) + m1 * f_at_x[:, None]
    T_sum = np.sum(terms, axis=0)
    # per region and j: |M2 w + m1 f(x) - exact| <= |M2| dW + e2 (|W| + dW) + |m1| df + e1 (|f(x)| + df),
    # plus the rounding of the (d+1)-term sums and of the sum over n regions
    magnitude = np.einsum("nij,nj->ni", np.abs(M2), absW) + np.abs(m1) * abs_f[:, None]
    err = (np.einsum("nij,nj->ni", np.abs(M2), dW) + np.einsum("nij,nj->ni", e2, absW + dW)
           + np.abs(m1) * df[:, None] + e1 * (abs_f + df)[:, None])
    err_sum = round_up(np.sum(err, axis=0) + _gamma(n + d + 3) * np.sum(magnitude, axis=0), 2 * n + 4 * d + 8)
    lo, hi = np.asarray(box.lower, float), np.asarray(box.upper, float)
    r_exact, delta, Vf, D, V_low = _exact_noise_box(ctx, x, lo, hi)
    T = T_sum / Vf
    err_T = round_up((err_sum + _gamma(2) * np.abs(T_sum)) / Vf * (1 + _gamma(2)), 4)
    if D is not None:  # the exact noise box differs from the float one
        G = gradient_magnitude_bound(ctx.model, ctx.output)
        f_x = float(ctx.model(x, output=ctx.output))
        e_x = float(np.atleast_1d(ctx.model.evaluation_error_bound(x, ctx.output))[0])
        half = round_up(np.maximum(np.abs(lo - x), np.abs(hi - x)) + 2 * delta, 2)  # |u_j| on B~ and B*
        f_max = float(round_up(abs(f_x) + e_x + float(G @ half), d + 4))
        err_T = round_up(err_T + (2 * D / V_low if V_low > 0 else float("inf")) * half * f_max, 6)
    # c_j = T_j / M_jj with M_jj = fl(fl(r_j^2) / 3) as the float design matrix has it
    r_float = np.asarray(r, float)
    M_float = np.array([_box_design_matrix([-ri], [ri], 1.0)[1][1] for ri in r_float])
    values = T / M_float
    bound = np.zeros(d)
    for j in range(d):
        M_exact = r_exact[j] ** 2 / 3
        rel = abs(Fraction(M_float[j]) - M_exact) / M_exact  # |M~ - M*| / M*
        rel_up = float(rel) * (1 + 4 * _U) + 1e-300
        # |T~/M~ - T*/M*| <= err_T / M~ + |T*| |1/M~ - 1/M*|, |1/M~ - 1/M*| = rel / M~; division rounding
        bound[j] = float(round_up((err_T[j] + (abs(T[j]) + err_T[j]) * rel_up) / M_float[j] * (1 + _gamma(2))
                                  + _gamma(3) * abs(values[j]), 8))
    Ef = float(np.sum(np.einsum("nd,nd->n", m1, W) + m0 * f_at_x)) / Vf
    intercept = float(Ef - values @ x)
    total = float(np.max(bound, initial=0.0))
    return MethodResult(list(values), total if np.isfinite(total) else float("inf"),
                        info={"radius": list(r), "intercept": intercept, "box_regions": n})


register(MethodSpec(
    name="lime_uniform", function=_lime_uniform, options=(_RADIUS,), certificate="box_moments", moment_order=2,
    completeness="baseline",
    axioms=dict(completeness=False, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_lime_uniform,
    doc="LIME: the least-squares affine surrogate under uniform noise on [x - r, x + r], exact normal equations"))
