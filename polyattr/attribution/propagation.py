"""Propagation methods on a ReLU network: DeepLIFT (Rescale rule) and epsilon-LRP, exact.

Both are backward passes with one scalar factor per hidden neuron, so both are finite rational
computations: in exact mode (an exact model, Fraction x and baseline) they return Fractions.

DeepLIFT Rescale, with a(z) the pre-activations of a hidden layer and x' the baseline: the
multiplier of a neuron is m = (relu(a(x)) - relu(a(x'))) / (a(x) - a(x')), or relu'(a(x)) where
a(x) = a(x') (ties read as inactive).  Multipliers chain like derivatives,
M = w_out diag(m_L) W_{L-1} ... diag(m_1) W_0, and values = M * (x - x').  Since
relu(a(x)) - relu(a(x')) = m (a(x) - a(x')) for every neuron exactly, the differences telescope
and completeness, sum_j values_j = f(x) - f(x'), holds exactly at any depth.  With one hidden layer
the pre-activations are affine along the path, so m is the path average of relu' and DeepLIFT
equals Integrated Gradients exactly.

epsilon-LRP (z-rule with stabiliser): the relevance of the output is f(x); a layer with inputs h
and outputs z_i = sum_k h_k W_ik + b_i passes R_k = sum_i h_k W_ik / (z_i + eps sign(z_i)) R_i
down (sign(0) = +1), so that the bias keeps ("absorbs") its share b_i / (z_i + eps sign z_i) R_i.
Written with c_i = R_i / (z_i + eps sign z_i) this is a backward pass whose factor per hidden
neuron is rho_i = relu(z_i) / (z_i + eps sign z_i) = z_i / (z_i + eps) when active and 0 when not
(a well-conditioned ratio in [0, 1]); at the output c = z / (z + eps sign z).  At eps = 0 every
rho is the activation indicator and c = 1 (when z_out != 0), which is exactly Gradient x Input.
Where a denominator is 0 (eps = 0 and z = 0) its numerator is 0 too and the term is taken as 0.

Leaky-ReLU and identity units (sigma(a) = a for a > 0, alpha a otherwise): both rules use sigma in
place of relu.  The Rescale multiplier is (sigma(a(x)) - sigma(a(x'))) / (a(x) - a(x')), which is 1
on both-positive, alpha on both-non-positive and sigma'(a) = alpha at a tie (ties inactive), and
identically 1 for an identity unit (alpha = 1); completeness still telescopes exactly.  The LRP
factor is rho_i = sigma(z_i) / (z_i + eps sign z_i), i.e. alpha z / (z + eps sign z) on an inactive
leaky unit and z / (z + eps sign z) on an identity unit, so eps = 0 is still Gradient x Input.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from polyattr.attribution.api import AttributionContext, MethodResult
from polyattr.attribution.registry import MethodSpec, OptionSpec, register
from polyattr.errors import PolyattrError
from polyattr.models.protocol import PiecewiseAffineModel
from polyattr.numerics import UNIT_ROUNDOFF as _U
from polyattr.numerics import field_of, gamma, round_up


def _preactivations(net: PiecewiseAffineModel, z) -> tuple[list[np.ndarray], object]:
    """Hidden pre-activations per layer (all units) and the output vector at one point."""
    out, pres = net.forward(z)
    return pres, out


def backward_chain(net: PiecewiseAffineModel, output: int, factors, top=None) -> np.ndarray:
    """v = top * w_out[output] diag(f_L) W_{L-1} ... diag(f_1) W_0 (the model's backward chain)."""
    return net.backward_chain(output, factors, top)


def _chain_error(net, output, factors, deltas, top=1.0, dtop=0.0) -> np.ndarray:
    """Bound on |computed chain - true chain| per feature, for factor errors ``deltas``.

    The chain is multilinear with non-negative factors in absolute value, so the error of the
    factors contributes at most chain(|f| + delta) - chain(|f|) (all matrices in absolute value),
    and the products' rounding gamma_S chain(|f| + delta) (Higham's Lemma 3.3: gamma_a + gamma_b +
    gamma_a gamma_b <= gamma_{a+b}).  chain(|f| + delta) is an upward-rounded bound and chain(|f|) is
    rounded down by its own gamma, so the difference is an upper bound.
    """
    hi = net.abs_backward_chain(output, [np.abs(np.asarray(f, float)) + d for f, d in zip(factors, deltas)],
                                abs(top) + dtop)
    lo = net.abs_backward_chain(output, [np.abs(np.asarray(f, float)) for f in factors], abs(top))
    n_total = sum(W.shape[1] for W in net.weights) + len(net.weights)
    lo_down = lo * (1.0 - gamma(2 * n_total + 4))
    return round_up(np.maximum(hi - lo_down, 0.0) + gamma(n_total) * hi, 3)


def _slopes(net: PiecewiseAffineModel, dtype=float) -> list[np.ndarray]:
    return [np.asarray(a, dtype=dtype) for a in net.negative_slopes]


# -------------------------------------------------------------------------------- DeepLIFT
def rescale_multipliers(a, a_ref, exact: bool, slopes=None):
    """(sigma(a) - sigma(a_ref)) / (a - a_ref) per unit; sigma'(a) (ties inactive) where a == a_ref.

    sigma(a) = a for a > 0 and alpha a otherwise (``slopes`` alpha per unit; None: ReLU, alpha = 0).
    On a sign change the multiplier is alpha + (1 - alpha) t with t = a / (a - a_ref) the ReLU
    multiplier (no cancellation: the denominator is |a| + |a_ref|).
    """
    one, zero = field_of(exact).one(), field_of(exact).zero()
    if slopes is None:
        slopes = [zero] * len(a)
    out = []
    for u, v, al in zip(a, a_ref, slopes):
        if u > 0 and v > 0:
            out.append(one)
        elif u <= 0 and v <= 0:
            out.append(al)
        elif u > 0:  # u > 0 >= v
            t = u / (u - v)
            out.append(t if al == 0 else al + (one - al) * t)
        else:
            t = v / (v - u)
            out.append(t if al == 0 else al + (one - al) * t)
    return np.array(out, dtype=field_of(exact).dtype)


def deeplift_rescale(model: PiecewiseAffineModel, x, baseline, output: int, exact: bool = False):
    """DeepLIFT (Rescale) attributions of one output; returns (values, multipliers per layer, bound)."""
    net = model.to_exact() if exact else model.to_float()
    dtype = field_of(exact).dtype
    x = np.asarray(x, dtype=dtype)
    baseline = np.asarray(baseline, dtype=dtype)
    pres, _ = _preactivations(net, x)
    pres_ref, _ = _preactivations(net, baseline)
    mults = [rescale_multipliers(a, r, exact, al) for a, r, al in zip(pres, pres_ref, net.negative_slopes)]
    delta = x - baseline
    values = backward_chain(net, output, mults) * delta
    if exact:
        return values, mults, 0.0
    e_x = net.preactivation_error_bounds(x)
    e_r = net.preactivation_error_bounds(baseline)
    deltas = []
    for a, r, m, ea, er, al in zip(pres, pres_ref, mults, e_x, e_r, _slopes(net)):
        certain = ((a > ea) & (r > er)) | ((a < -ea) & (r < -er))
        gap = np.abs(a - r) - ea - er
        with np.errstate(divide="ignore", invalid="ignore"):
            dm = np.where(gap > 0, np.minimum(1.0, 2 * (ea + er) / np.where(gap > 0, gap, 1.0)), 1.0)
        # a leaky multiplier is alpha + (1 - alpha) t: t's error scaled by |1 - alpha| (identity: 0)
        deltas.append(round_up(np.abs(1.0 - al) * (np.where(certain, 0.0, dm) + 4 * _U) + 4 * _U * np.abs(al), 4))
    err = round_up(np.abs(delta) * _chain_error(net, output, mults, deltas) + _U * np.abs(values), 4)
    return values, mults, float(np.max(err, initial=0.0))


def _deeplift(ctx: AttributionContext) -> MethodResult:
    """DeepLIFT with the Rescale rule: multipliers (relu(a(x)) - relu(a(x'))) / (a(x) - a(x')).

    Exact in rationals; completeness holds exactly; equals IG for one hidden layer.
    Float error bound: the evaluation errors of a(x), a(x') turned into multiplier errors (zero
    where both are certainly on the same side of 0), propagated through the absolute chain.
    """
    baseline = ctx.require_baseline("deeplift")
    values, mults, bound = deeplift_rescale(ctx.model, ctx.x, baseline, ctx.output, ctx.exact)
    return MethodResult(list(values), bound, base_value=ctx.f(baseline), info={"multipliers": mults})


register(MethodSpec(
    name="deeplift", function=_deeplift, needs_baseline=True, certificate="propagation", completeness="baseline",
    axioms=dict(completeness=True, sensitivity=True, linearity=True, symmetry=True, implementation_invariance=False),
    doc="DeepLIFT with the Rescale rule: exact multipliers, complete for f(x) - f(x')"))


# ------------------------------------------------------------------------------ epsilon-LRP
def _epsilon(ctx: AttributionContext):
    eps = ctx.option("epsilon", 1e-6)
    if isinstance(eps, bool):
        raise PolyattrError(f"epsilon: expected a non-negative number, got {eps!r}")
    try:
        if isinstance(eps, str):
            eps = Fraction(eps)  # "1/1000" and decimals, exactly
        eps = ctx.field.convert(eps)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        raise PolyattrError(f"epsilon: expected a non-negative number, got {eps!r}") from None
    if not np.isfinite(float(eps)) or eps < 0:
        raise PolyattrError(f"epsilon: expected a finite non-negative number, got {eps!r}")
    return eps


def _stabilised_ratio(z, eps, exact: bool, hidden: bool, slopes=None):
    """sigma(z)/(z + eps sign z) for hidden units, z/(z + eps sign z) at the output; 0/0 := 0.

    sigma(z) = z for z > 0, alpha z otherwise (``slopes``; None: ReLU)."""
    zero, one = field_of(exact).zero(), field_of(exact).one()
    z = np.atleast_1d(z)
    if slopes is None:
        slopes = [zero] * len(z)
    out = []
    for v, al in zip(z, slopes):
        num = (v if v > 0 else al * v) if hidden else v
        den = v + eps * (one if v >= 0 else -one)
        out.append(zero if den == 0 else num / den)
    return np.array(out, dtype=field_of(exact).dtype)


def epsilon_lrp(model: PiecewiseAffineModel, x, output: int, epsilon, exact: bool = False):
    """epsilon-LRP relevances of one output (relevance of the output = f(x)); returns (values, bound)."""
    net = model.to_exact() if exact else model.to_float()
    x = np.asarray(x, dtype=field_of(exact).dtype)
    pres, out = _preactivations(net, x)
    z_out = out[output]
    rhos = [_stabilised_ratio(a, epsilon, exact, True, al) for a, al in zip(pres, net.negative_slopes)]
    c_out = _stabilised_ratio([z_out], epsilon, exact, hidden=False)[0]
    values = x * backward_chain(net, output, rhos, c_out)
    if exact:
        return values, 0.0
    eps = float(epsilon)
    errs = net.preactivation_error_bounds(x)
    e_out = float(np.atleast_1d(net.evaluation_error_bound(x, output))[0])

    def ratio_error(z, e):
        z = np.abs(np.asarray(z, float))
        if eps == 0:
            return np.where(z > e, 4 * _U, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = e * eps / (np.maximum(z - e, 0.0) + eps) ** 2
        return np.minimum(1.0, np.where(z > e, slope, 2 * e / (2 * e + eps) + z / (z + eps))) + 4 * _U

    def unit_error(z, e, al):
        # rho = s r(|z|) with s = 1 or alpha: a certain sign scales r's error by max(1, |alpha|); an
        # uncertain one may also switch s (identity units: s = 1 always)
        certain = np.abs(np.asarray(z, float)) > e
        scale = np.where(certain | (al == 1.0), np.maximum(1.0, np.abs(al)), 1.0 + np.abs(al))
        return round_up(scale * ratio_error(z, e), 2)

    deltas = [unit_error(a, e, al) for a, e, al in zip(pres, errs, _slopes(net))]
    dc = float(ratio_error([z_out], e_out)[0])
    err = round_up(np.abs(x) * _chain_error(net, output, rhos, deltas, float(c_out), dc) + _U * np.abs(values), 4)
    return values, float(np.max(err, initial=0.0))


def _epsilon_lrp(ctx: AttributionContext) -> MethodResult:
    """epsilon-LRP (z-rule, stabiliser epsilon sign(z), sign(0) = +1; biases absorb their share).

    Option ``epsilon`` (default 1e-6, >= 0).  The relevance of the output is f(x).  Tends to
    Gradient x Input as epsilon -> 0 and equals it at epsilon = 0 where no z is 0.  Exact in
    rationals (epsilon converted exactly).  Float error bound: the evaluation errors of the z's
    turned into errors of the ratios z/(z + eps) (well conditioned unless |z| is within rounding
    of 0), propagated through the absolute chain.
    """
    eps = _epsilon(ctx)
    values, bound = epsilon_lrp(ctx.model, ctx.x, ctx.output, eps, ctx.exact)
    return MethodResult(list(values), bound, info={"epsilon": eps})


def _non_negative(eps, ctx):
    if eps < 0:
        raise PolyattrError(f"epsilon: expected a finite non-negative number, got {eps!r}")
    return eps


register(MethodSpec(
    name="epsilon_lrp", function=_epsilon_lrp, certificate="propagation", completeness="output",
    options=(OptionSpec("epsilon", "number", 1e-6, "stabiliser of the denominators (>= 0)", _non_negative),),
    axioms=dict(completeness=False, sensitivity=True, linearity=False, symmetry=True, implementation_invariance=False),
    # epsilon = 0.01 makes its departures from the axioms visible above rounding
    axiom_options={"epsilon": 0.01},
    doc="epsilon-LRP (z-rule with stabiliser epsilon; the biases absorb their share)"))
