"""Classic attribution methods as measures mu_{j,x} (THEORY.md §3.3), integrated exactly.

Each method has a public ``*_measures`` function returning its family of measures, so that users
(and :mod:`polyattr.theory`) can inspect and reuse them, and a registered method that computes the
values -- through the family itself, or through a faster route that is mathematically the same
integral (baseline Shapley evaluates the 2^d hybrid points once instead of building 2^d measures per
feature; proofs/table_1.py checks the two agree).
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations

import numpy as np

from polyattr.attribution import approximate
from polyattr.attribution.api import AttributionContext, MethodResult, integrate_family
from polyattr.attribution.registry import MethodSpec, OptionSpec, register
from polyattr.errors import PolyattrError
from polyattr.geometry.domains import AffineSlice, Box, Segment
from polyattr.measures.core import Dirac, Measure, Uniform

MAX_SHAPLEY_FEATURES = 20  # 2^20 model evaluations; beyond that the exact sum is out of reach


def shapley_weight(s: int, d: int, exact: bool = False):
    """|S|! (d - |S| - 1)! / d!"""
    w = Fraction(math.factorial(s) * math.factorial(d - s - 1), math.factorial(d))
    return w if exact else float(w)


def hybrid_point(x, baseline, subset):
    """The point with the coordinates in ``subset`` from x and the others from the baseline."""
    z = baseline.copy()
    for i in subset:
        z[i] = x[i]
    return z


# ------------------------------------------------------------------------------------ occlusion
def occlusion_measures(x, baseline, exact: bool = False) -> list[Measure]:
    """mu_j = delta_x - delta_{x with x_j := baseline_j}."""
    return [Dirac(x, exact) - Dirac(hybrid_point(x, baseline, [i for i in range(len(x)) if i != j]), exact)
            for j in range(len(x))]


def _occlusion(ctx: AttributionContext) -> MethodResult:
    res = integrate_family(ctx, occlusion_measures(ctx.x, ctx.require_baseline("occlusion"), ctx.exact))
    res.base_value = ctx.f(ctx.baseline)
    return res


def occlusion_hybrid_terms(d: int) -> list:
    """phi_j(z) = f(z) - f(z with z_j := baseline_j) as (mask, coefficients) terms."""
    full = np.ones(d, dtype=bool)
    terms = [(full, [Fraction(1)] * d)]
    for j in range(d):
        mask = full.copy()
        mask[j] = False
        terms.append((mask, [Fraction(-1) if i == j else Fraction(0) for i in range(d)]))
    return terms


def shapley_hybrid_terms(d: int) -> list:
    """phi_j = sum_{S not containing j} w_S (v(S + j) - v(S)) regrouped by hybrid point: the point
    of mask m enters phi_j with w_{|m|-1} when j in m and -w_{|m|} when not."""
    _check_shapley_size(d)
    terms = []
    for m in _subset_masks(d):
        s = int(m.sum())
        terms.append((m, [shapley_weight(s - 1, d, True) if m[j] else -shapley_weight(s, d, True) if s < d else Fraction(0)
                          for j in range(d)]))
    return terms


register(MethodSpec(
    name="occlusion", function=_occlusion, needs_baseline=True, certificate="measure",
    family=lambda x, baseline, domain, options: occlusion_measures(x, baseline, exact=domain.exact),
    completeness="baseline",
    axioms=dict(completeness=False, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_occlusion, distribution=approximate.distribution_occlusion,
    hybrid_terms=occlusion_hybrid_terms,
    doc="f(x) - f(x with x_j := x'_j): delta_x - delta of x with feature j at the baseline"))


# ------------------------------------------------------------------------------ baseline Shapley
def shapley_family(d: int, coalition_measure, exact: bool = False) -> list[Measure]:
    """mu_j = sum_{S not containing j} w_S (nu(S + j) - nu(S)) for a coalition measure nu(S)."""
    _check_shapley_size(d)
    family = []
    for j in range(d):
        others = [i for i in range(d) if i != j]
        mu = None
        for s in range(d):
            for S in combinations(others, s):
                term = shapley_weight(s, d, exact) * (coalition_measure((*S, j)) - coalition_measure(S))
                mu = term if mu is None else mu + term
        family.append(mu)
    return family


def shapley_measures(x, baseline, exact: bool = False) -> list[Measure]:
    """mu_j = sum_{S not containing j} w_S (delta_{(x_{S+j}, x'_rest)} - delta_{(x_S, x'_rest)})."""
    return shapley_family(len(x), lambda S: Dirac(hybrid_point(x, baseline, S), exact), exact)


def _check_shapley_size(d: int):
    if d > MAX_SHAPLEY_FEATURES:
        raise PolyattrError(
            f"x: exact Shapley values sum over 2^d coalitions; d = {d} exceeds the limit of {MAX_SHAPLEY_FEATURES}"
        )


def _subset_masks(d: int) -> np.ndarray:
    """Boolean masks of all 2^d subsets; row m has bit i set iff i in subset m."""
    m = np.arange(2**d)[:, None]
    return ((m >> np.arange(d)[None, :]) & 1).astype(bool)


def shapley_from_values(values, d: int, exact: bool):
    """phi_j = sum_{S not containing j} w_S (v(S + j) - v(S)) for a set function given on bitmasks."""
    phi = []
    for j in range(d):
        bit = 1 << j
        total = Fraction(0) if exact else 0.0
        for m in range(2**d):
            if m & bit:
                continue
            total += shapley_weight(bin(m).count("1"), d, exact) * (values[m | bit] - values[m])
        phi.append(total)
    return phi


def _shapley(ctx: AttributionContext) -> MethodResult:
    from polyattr.attribution import shapley_kernel as sk

    d = ctx.d
    _check_shapley_size(d)
    sk.check_budget(d, list(ctx.model.hidden_sizes) + [1])
    baseline = ctx.require_baseline("shapley")
    masks = sk.subset_masks(d)
    if ctx.exact:
        # one batched forward pass on integer numerators, weights as integers (shapley_kernel)
        points, q = sk.hybrid_numerators(ctx.x, baseline, masks)
        numerators, denominator = sk.exact_forward_on_integers(ctx.model, points, ctx.output, q)
        phi = sk.shapley_from_integer_values(numerators, denominator, d)
        base_value = Fraction(int(numerators[0]), denominator)
        bound = 0.0
    else:
        points = np.where(masks, ctx.x[None, :], baseline[None, :])
        values = sk.float_forward(ctx.model, points, ctx.output)
        from polyattr.numerics import gamma, round_up

        # one bound for every pair of points of the domain (cached on the model)
        eval_err = sk.domain_error_bound(ctx.model, ctx.domain.lower, ctx.domain.upper, ctx.output)
        # each phi_j is a convex-weighted sum of 2^(d-1) differences of values, each value within
        # eval_err: 2 eval_err; the weighted sum of 2^(d-1) terms (weights rounded in a few
        # operations) adds gamma_{2^d + 8} times the sum of |w| |difference| <= 2 max |v|
        bound = float(round_up(2 * eval_err + gamma(2**d + 8) * 2 * float(np.max(np.abs(values))), 4))
        phi = list(sk.shapley_from_values_float(values, d))
        base_value = values[0]
    return MethodResult(phi, bound, base_value=base_value, info={"evaluations": 2**d})


def _shapley_rows(net, rows, baseline, domain, output, options) -> list[MethodResult]:
    """Float baseline Shapley of a batch: every row's hybrid points in one blocked forward pass."""
    from polyattr.attribution import shapley_kernel as sk

    d = net.n_inputs
    _check_shapley_size(d)
    sk.check_budget(d, list(net.hidden_sizes) + [1], points=len(rows))
    eval_err = sk.domain_error_bound(net, domain.lower, domain.upper, output)
    phi, base, bounds = sk.shapley_rows_float(net, np.array(rows, float), baseline, output, eval_err)
    return [MethodResult(list(phi[r]), float(bounds[r]), base_value=base[r], info={"evaluations": 2**d})
            for r in range(len(rows))]


register(MethodSpec(
    name="shapley", function=_shapley, needs_baseline=True, certificate="measure",
    family=lambda x, baseline, domain, options: shapley_measures(x, baseline, exact=domain.exact),
    completeness="baseline",
    axioms=dict(completeness=True, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_shapley, distribution=approximate.distribution_shapley,
    hybrid_terms=shapley_hybrid_terms, batch_function=_shapley_rows,
    doc="baseline Shapley values: the 2^d hybrid points of x and the baseline"))


# -------------------------------------------------------------------- interventional Shapley
def slice_measure(box: Box, x, subset) -> Measure:
    """delta_{x_S} (x) uniform on the other coordinates: uniform on the slice {z_S = x_S} of the box."""
    fixed = {int(i): x[int(i)] for i in subset}
    if len(fixed) == box.dim:
        return Dirac(x, box.exact)
    return Uniform(AffineSlice(box, fixed) if fixed else box)


def shapley_uniform_measures(x, box: Box) -> list[Measure]:
    """Interventional Shapley with the uniform background law on the box, as measures."""
    return shapley_family(len(x), lambda S: slice_measure(box, x, S), box.exact)


def _shapley_uniform(ctx: AttributionContext) -> MethodResult:
    d = ctx.d
    _check_shapley_size(d)
    values, bound = [], 0.0
    for mask in _subset_masks(d):
        v, e = ctx.integrator.integrate(slice_measure(ctx.domain, ctx.x, np.flatnonzero(mask)))
        values.append(v)
        bound = max(bound, e)
    phi = shapley_from_values(values, d, ctx.exact)
    if not ctx.exact:
        from polyattr.numerics import gamma, round_up

        # phi_j = sum over the 2^(d-1) coalitions S without j of w_S (v(S + j) - v(S)), exact
        # weights summing to 1: the values' errors add at most 2 max e.  Rounding: each weight
        # float(w_S) (u), the difference (u) and the product (u), then a sequential sum of
        # 2^(d-1) terms: gamma_{2^(d-1) + 3} sum_S w_S (|v(S + j)| + |v(S)|) <= gamma 2 (1 + u) max |v|.
        vmax = float(max(abs(float(v)) for v in values))
        bound = float(round_up(2 * bound + gamma(2 ** (d - 1) + 4) * 2 * vmax, 4))
    return MethodResult(phi, bound, base_value=values[0], info={"slices": 2**d})


register(MethodSpec(
    name="shapley_uniform", function=_shapley_uniform, certificate="measure",
    family=lambda x, baseline, domain, options: shapley_uniform_measures(x, domain),
    completeness="uniform_mean",
    axioms=dict(completeness=True, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_shapley_uniform, distribution=approximate.distribution_shapley_uniform,
    batch_slices=lambda d: [tuple(np.flatnonzero(m)) for m in _subset_masks(d)[1:-1]],
    doc="interventional Shapley values, uniform background on the domain: 2^d affine slices"))


# ------------------------------------------------------------------------- partial dependence
def pdp_measures(x, box: Box) -> list[Measure]:
    """mu_j = delta_{x_j} (x) uniform on the other coordinates (partial dependence at x_j)."""
    return [slice_measure(box, x, [j]) for j in range(len(x))]


def _pdp(ctx: AttributionContext) -> MethodResult:
    return integrate_family(ctx, pdp_measures(ctx.x, ctx.domain))


register(MethodSpec(
    name="pdp", function=_pdp, certificate="measure",
    family=lambda x, baseline, domain, options: pdp_measures(x, domain),
    completeness="uniform_mean",
    axioms=dict(completeness=False, sensitivity=False, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_pdp, distribution=approximate.distribution_pdp,
    batch_slices=lambda d: [(j,) for j in range(d)],
    doc="partial dependence at x_j: delta_(x_j) times uniform on the other coordinates"))


# -------------------------------------------------------------------- individual conditional expectation
def ice_segment(x, box: Box, j: int) -> Segment:
    """The segment through x along e_j across the box."""
    start, end = x.copy(), x.copy()
    start[j], end[j] = box.lower[j], box.upper[j]
    return Segment(start, end, exact=box.exact)


def ice_measures(x, box: Box) -> list[Measure]:
    """mu_j = delta_x - uniform on the ICE line through x along e_j: the centred ICE value at x_j."""
    return [Dirac(x, box.exact) - Uniform(ice_segment(x, box, j)) for j in range(len(x))]


def ice_curve(ctx_or_model, x, j: int, box: Box, output: int = 0):
    """The exact piecewise-linear ICE curve t -> f(x with x_j := t) on [lower_j, upper_j].

    Returns (t, values): the breakpoints (the ends included) and f at them; f is affine between
    consecutive breakpoints.
    """
    from polyattr.geometry.regions import enumerate_regions

    model = ctx_or_model
    seg = ice_segment(x, box, j)
    float_seg = Segment(seg.start.astype(float), seg.end.astype(float))
    regions = enumerate_regions(model.to_float(), float_seg, backend="lp")
    ends = set()
    for i in range(len(regions)):
        A, b = regions.constraint_rows(i)
        lo = max((bb / a for a, bb in zip(A[:, 0], b) if a < 0), default=0.0)
        hi = min((bb / a for a, bb in zip(A[:, 0], b) if a > 0), default=1.0)
        ends.update([max(0.0, float(lo)), min(1.0, float(hi))])
    ts = np.array(sorted(ends))
    lo_j, hi_j = float(box.lower[j]), float(box.upper[j])
    t_feature = lo_j + ts * (hi_j - lo_j)
    points = np.repeat(np.asarray(x, float)[None, :], len(ts), axis=0)
    points[:, j] = t_feature
    return t_feature, np.atleast_1d(model.to_float()(points, output=output))


def _ice(ctx: AttributionContext) -> MethodResult:
    res = integrate_family(ctx, ice_measures(ctx.x, ctx.domain))
    if ctx.option("curves", False):
        res.info["curves"] = [ice_curve(ctx.model, ctx.x, j, ctx.domain, ctx.output) for j in range(ctx.d)]
    res.base_value = None
    return res


register(MethodSpec(
    name="ice", function=_ice, certificate="measure",
    options=(OptionSpec("curves", "bool", False, "also return the exact ICE curves (info['curves'])", cli=False),),
    family=lambda x, baseline, domain, options: ice_measures(x, domain),
    completeness="uniform_mean",
    axioms=dict(completeness=False, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_ice, distribution=approximate.distribution_ice,
    doc="centred ICE: f(x) minus the mean of f on the line through x along e_j"))


# ------------------------------------------------------------- the FAFP appendix examples (C.3, C.4)
def fafp_local_measures(x, box: Box) -> list[Measure]:
    """mu_j = delta at the point with z_j = x_j and the other coordinates at the lower corner (0 on [0,1]^d)."""
    family = []
    for j in range(len(x)):
        z = box.lower.copy()
        z[j] = x[j]
        family.append(Dirac(z, box.exact))
    return family


def _fafp_local(ctx: AttributionContext) -> MethodResult:
    return integrate_family(ctx, fafp_local_measures(ctx.x, ctx.domain))


register(MethodSpec(
    name="fafp_local", function=_fafp_local, certificate="measure",
    family=lambda x, baseline, domain, options: fafp_local_measures(x, domain),
    completeness="lower_corner",
    axioms=dict(completeness=False, sensitivity=False, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_fafp_local, distribution=approximate.distribution_fafp_local,
    doc="FAFP Corollary C.3: f at x_j e_j (the other coordinates at the lower corner)"))


def fafp_global_measures(box: Box) -> list[Measure]:
    """mu_j = 2 x Lebesgue measure on the edge {lower + t e_j : t in [0, upper_j - lower_j]} (total mass 2 x length)."""
    family = []
    for j in range(box.dim):
        start, end = box.lower.copy(), box.lower.copy()
        end[j] = box.upper[j]
        length = box.upper[j] - box.lower[j]
        family.append(Uniform(Segment(start, end, exact=box.exact), mass=2 * length))
    return family


def _fafp_global(ctx: AttributionContext) -> MethodResult:
    return integrate_family(ctx, fafp_global_measures(ctx.domain))


register(MethodSpec(
    name="fafp_global", function=_fafp_global, certificate="measure",
    family=lambda x, baseline, domain, options: fafp_global_measures(domain),
    completeness="lower_corner",
    axioms=dict(completeness=False, sensitivity=False, linearity=True, symmetry=True, implementation_invariance=True),
    sampled=approximate.sampled_fafp_global, distribution=approximate.distribution_fafp_global,
    doc="FAFP Corollary C.4: twice the integral of f along the box edge in direction e_j"))


# ------------------------------------------------------------------------- user-supplied family
def _measure(ctx: AttributionContext) -> MethodResult:
    family = ctx.option("measures")
    if family is None:
        raise PolyattrError("measures: method 'measure' needs measures=[mu_1, ..., mu_d] or a callable (x, j) -> Measure")
    if callable(family):
        family = [family(ctx.x, j) for j in range(ctx.d)]
    family = list(family)
    if len(family) != ctx.d:
        raise PolyattrError(f"measures: expected {ctx.d} measures (one per feature), got {len(family)}")
    for j, mu in enumerate(family):
        if not isinstance(mu, Measure):
            raise PolyattrError(f"measures[{j}]: expected a polyattr Measure, got {type(mu).__name__}")
    return integrate_family(ctx, family)


def _user_family(x, baseline, domain, options):
    family = options.get("measures")
    if family is None:
        raise PolyattrError("measures: method 'measure' needs measures=[mu_1, ..., mu_d] or a callable (x, j) -> Measure")
    return [family(x, j) for j in range(len(x))] if callable(family) else list(family)


register(MethodSpec(
    name="measure", function=_measure, certificate="measure", family=_user_family, tables=False,
    options=(OptionSpec("measures", "object", None, "the family mu_(j,x): d Measures or a callable (x, j) -> Measure",
                        cli=False),),
    doc="a user-supplied family of measures mu_(j,x), one per feature, integrated exactly"))
