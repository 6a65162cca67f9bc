"""SmoothGrad with Gaussian noise, E[grad f(x + eps)] with eps ~ N(0, sigma^2 I): what Captum's
NoiseTunnel computes by sampling.

On a ReLU network the expectation is sum_P P(x + eps in P) w_P.  With one or two inputs the region
probabilities have closed forms (:mod:`polyattr.integrate.gaussian`: erf on intervals, the bivariate
normal distribution through Owen's T on triangles), so the value is exact up to a stated bound:

* the regions are the exactly confirmed regions of the model on the box x +/- K sigma (K = 10),
  their vertices rounded to floats; in 2-D each region's probability comes from the fan formula of
  :func:`polyattr.integrate.gaussian.polygon_probabilities`, whose error is relative to its terms,
  and the rounding of vertices and mean (a move by <= u ||v||) costs at most the Gaussian mass of a
  band of that width around each edge, bounded with the density at the edge's distance from x
  (:func:`_rounding_error_2d`; 1 / (sqrt(2 pi) sigma) per endpoint in 1-D);
* each region's gradient is the exact backward pass, rounded once;
* the noise outside the box has probability at most k * 2 Phi(-K) and moves the value by at most
  that times the gradient bound of the model;
* the probability functions' own error (see :data:`polyattr.integrate.gaussian.FUNCTION_ERROR`)
  times |w_P|, and the rounding of the sum.

``noise_features`` restricts the noise to some coordinates (the others stay at x): with 1 or 2 of
them the Gaussian lives on an axis-parallel line or plane through x and the same closed form runs
on the model restricted to that slice, for any number of inputs.

With more than two noisy coordinates the value is a Monte Carlo estimate (``samples`` Gaussian draws from ``rng``, the
exact gradient at each): marked inexact, with its 5-sigma half-width as the error bound.
"""

from __future__ import annotations

import numpy as np

from polyattr.attribution.api import AttributionContext, MethodResult
from polyattr.attribution.registry import MethodSpec, OptionSpec, register
from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box
from polyattr.numerics import UNIT_ROUNDOFF as _U
from polyattr.numerics import gamma as _gamma
from polyattr.numerics import round_up

TAIL_WIDTH = 10  # the box x +/- 10 sigma misses at most d * 2 Phi(-10) ~ d * 1.5e-23 of the noise


def _positive(value, ctx):
    if not float(value) > 0:
        raise PolyattrError(f"sigma: expected a positive noise level, got {value!r}")
    return value


def _noise_features_ok(value, ctx):
    if value is not None and len(value) == 0:
        raise PolyattrError("noise_features: expected at least one feature index")
    return value


def _samples_ok(value, ctx):
    if int(value) < 2:
        raise PolyattrError(f"samples: expected at least 2, got {value!r}")
    return value


def _rounding_error_2d(polygon, mean, sigma: float, shift: float) -> float:
    """Bound on |P(exact polygon) - P(rounded polygon)| when every vertex and the mean moved by <= shift.

    Rounding a rational point v to floats moves it by at most u ||v||_2 (each coordinate by u |v_i|);
    moving the mean by e is moving every vertex by -e, so ``shift`` = u (max ||v|| + ||mean||).  The
    two convex polygons differ only within ``shift`` of the exact boundary (each lies in the other's
    ``shift``-neighbourhood), a set of area <= sum_edges (2 shift L_e + pi shift^2); on the part
    near edge e the density is at most exp(-r^2 / (2 sigma^2)) / (2 pi sigma^2) with r the distance
    from the mean to the edge minus ``shift`` (and minus a margin for the float distance itself).
    Far edges thus contribute next to nothing, where the old perimeter x peak density did not.
    """
    P = np.asarray(polygon, float)
    if len(P) < 2:
        return 0.0
    centre = P.mean(axis=0)
    P = P[np.argsort(np.arctan2(P[:, 1] - centre[1], P[:, 0] - centre[0]))]
    a, b = P - mean, np.roll(P, -1, axis=0) - mean
    d = b - a
    length = np.linalg.norm(d, axis=1)
    # distance from the mean (origin) to segment [a, b]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(np.where(length > 0, -np.einsum("ij,ij->i", a, d) / (length * length), 0.0), 0.0, 1.0)
    r = np.linalg.norm(a + t[:, None] * d, axis=1)
    scale = float(np.max(np.abs(a), initial=0.0)) + float(np.max(np.abs(mean)))
    r_safe = np.maximum(r - shift - 16 * _U * scale, 0.0)  # the float distance is off by a few u x scale
    density = np.exp(-(r_safe / sigma) ** 2 / 2) / (2 * np.pi * sigma * sigma)
    return 1.01 * float(np.sum((2 * shift * length + np.pi * shift * shift) * density))


def smoothgrad_gaussian_closed_form(model, x, output: int, sigma: float, noise_features=None):
    """(values (d,), error bound, number of regions) when the noise moves k <= 2 coordinates.

    ``noise_features`` (default: all, which needs d <= 2) are the coordinates the noise moves; the
    others stay at x, so the Gaussian lives on the affine slice through x spanned by those axes.
    The model restricted to the slice (:meth:`compose_affine`, exact) is enumerated exactly on the
    box x_F +/- 10 sigma; every slice region's full d-dimensional gradient comes from the exact
    backward pass of the original model with that region's activation pattern, rounded once.
    """
    from scipy.special import ndtr  # scipy.special (~0.2 s of import) only when the method runs

    from polyattr.attribution.integrals import Integrator
    from polyattr.integrate.gaussian import interval_probabilities, polygon_probabilities
    from polyattr.measures.core import region_triangulations
    from polyattr.numbers import to_fraction

    d = model.n_inputs
    features = tuple(range(d)) if noise_features is None else tuple(int(i) for i in noise_features)
    k = len(features)
    if not 1 <= k <= 2:
        raise PolyattrError(f"noise_features: the closed form needs 1 or 2 noisy coordinates, got {k}")
    exact_model = model.to_exact()
    x_exact = [to_fraction(v) for v in x]
    if k == d and features == tuple(range(d)):
        sliced = exact_model
    else:
        embedding = np.zeros((d, k), dtype=object)
        embedding[:] = 0
        for c, i in enumerate(features):
            embedding[i, c] = 1
        offset = np.array([0 if i in features else x_exact[i] for i in range(d)], dtype=object)
        sliced = exact_model.compose_affine(embedding, offset)
    centre = [x_exact[i] for i in features]
    xs = np.array([float(v) for v in centre])
    half = to_fraction(TAIL_WIDTH * sigma)
    box = Box([v - half for v in centre], [v + half for v in centre], exact=True)
    integrator = Integrator(sliced, output, exact=True)
    regions = integrator.regions_on(box)
    # the full gradient of each region, exact, then rounded once (relative error <= u)
    W = np.array(exact_model.pattern_gradients(regions.patterns, output), dtype=float).reshape(len(regions), d)
    gmax = np.asarray(model.gradient_magnitude_bound(output), float)
    tail = k * 2 * float(ndtr(-TAIL_WIDTH))
    if k == 2:
        # one convex polygon per region (its exact vertices, rounded): the fan formula from the mean
        polygons = [np.array(regions.vertices(r), dtype=float) for r in range(len(regions))]
        p_regions, err_regions = polygon_probabilities(polygons, xs, sigma)
        shift = _U * (max(float(np.max(np.linalg.norm(P, axis=1), initial=0.0)) for P in polygons)
                      + float(np.linalg.norm(xs)))
        err_regions = err_regions + np.array([_rounding_error_2d(P, xs, sigma, shift) for P in polygons])
        absW = np.abs(W)
        values = p_regions @ W
        bound = err_regions @ absW + tail * gmax + (_gamma(len(W) + 4) + 2 * _U) * (p_regions @ absW)
        # the bound's own arithmetic (non-negative terms, two n-term dot products) rounded upward
        return values, float(np.max(round_up(bound, len(W) + 8))), len(regions)
    V, S, groups = region_triangulations(regions, exact=True)
    Vf = np.array(V, dtype=float)
    delta = _U * (float(np.max(np.abs(Vf), initial=0.0)) + float(abs(xs[0])))  # vertex and mean rounding
    a, b = Vf[S[:, 0], 0], Vf[S[:, 1], 0]
    p, err = interval_probabilities(np.minimum(a, b), np.maximum(a, b), xs[0], sigma)
    err = err + 2 * delta / (np.sqrt(2 * np.pi) * sigma)
    absW = np.abs(W[groups])
    values = p @ W[groups]
    bound = (err @ absW + tail * gmax + _gamma(len(p) + 4) * (p @ absW)
             + 2 * _U * (p @ absW))  # W rounded from rationals
    return values, float(np.max(round_up(bound, len(p) + 8))), len(regions)


def _smoothgrad_gaussian(ctx: AttributionContext) -> MethodResult:
    sigma = float(ctx.option("sigma"))
    features = ctx.option("noise_features")
    features = tuple(range(ctx.d)) if features is None else tuple(features)
    if len(features) <= 2:
        values, bound, n = smoothgrad_gaussian_closed_form(ctx.model, ctx.x, ctx.output, sigma, features)
        return MethodResult(list(values), bound, exact=False,
                            info={"sigma": sigma, "noise_features": list(features), "box_regions": n,
                                  "error_kind": "stated bound (closed form)"})
    # more than two noisy coordinates: Monte Carlo over the noise, the exact gradient at each sample
    from polyattr.attribution.gradient_methods import local_gradient

    n = int(ctx.option("samples"))
    rng = np.random.default_rng(ctx.option("rng"))
    x = np.array([float(v) for v in ctx.x])
    net = ctx.model.to_float()
    mask = np.zeros(ctx.d)
    mask[list(features)] = 1.0
    grads = np.array([local_gradient(net, x + sigma * mask * rng.standard_normal(ctx.d), ctx.output)[0]
                      for _ in range(n)], dtype=float)
    mean = grads.mean(axis=0)
    half_width = 5.0 * grads.std(axis=0, ddof=1) / np.sqrt(n)
    return MethodResult(list(mean), float(np.max(half_width, initial=0.0)), exact=False,
                        info={"sigma": sigma, "samples": n, "half_width": half_width,
                              "error_kind": "5-sigma Monte Carlo half-width (more than 2 noisy coordinates)"})


register(MethodSpec(
    name="smoothgrad_gaussian", function=_smoothgrad_gaussian, exact=False, certificate=None,
    options=(OptionSpec("sigma", "number", 0.1, "standard deviation of the Gaussian noise", _positive),
             OptionSpec("noise_features", "features", None,
                        "the coordinates the noise moves (default all; the others stay at x): "
                        "1 or 2 of them give the closed form on that slice", _noise_features_ok),
             OptionSpec("samples", "int", 4096, "Monte Carlo samples when more than 2 coordinates are noisy (>= 2)",
                        _samples_ok),
             OptionSpec("rng", "seed", None, "seed of the Monte Carlo samples (more than 2 noisy coordinates)")),
    completeness="baseline", tables=False,
    # as SmoothGrad with uniform noise; symmetry is not predicted (above two inputs the noise is
    # sampled, and a sample is not symmetric)
    axioms=dict(completeness=False, sensitivity=True, linearity=True, symmetry=None, implementation_invariance=True),
    axiom_options={"rng": 0, "samples": 64},
    doc="SmoothGrad with Gaussian noise N(0, sigma^2 I) on the noise_features (default all): closed form "
        "to a stated bound when at most 2 coordinates are noisy (d <= 2, or a 1-/2-D axis slice), Monte Carlo "
        "(inexact) above"))
