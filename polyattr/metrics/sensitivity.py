"""Sensitivity of attributions to input perturbations (Yeh et al. 2019; Bhatt et al. 2020).

For delta uniform on the box [-r, r]^d (no clipping) and an attribution method phi:

* ``sensitivity_avg``  E_delta ||phi(x) - phi(x + delta)||_2^2;
* ``sensitivity_max``  max over the box of ||phi(x) - phi(x + delta)||_2 (optionally divided by
  ||phi(x)||_2, Captum's normalisation);
* the Gram matrix Gamma_ij = E[(phi_i(x) - phi_i(x + delta)) . (phi_j(x) - phi_j(x + delta))]
  of several methods: with convex weights w, w^T Gamma w is the sensitivity of the mix.

**Exact** for methods that are, on every linear region P of the model, an affine function of the
input feature by feature: phi_k(x + u) = a_Pk u_k + c_Pk (:data:`LOCAL_RULES`: the gradient, a_P = 0
and c_P = w_P; gradient x input, a_P = w_P and c_P = w_P * x).  Then the difference is
h_P - a_P * u with h_P = phi(x) - c_P, and

    Gamma_ij = sum_P [ P(P) h_Pi . h_Pj - sum_k (h_Pik a_Pjk + h_Pjk a_Pik) E[u_k 1_P]
                       + sum_k a_Pik a_Pjk E[u_k^2 1_P] ],

polytope integrals over the regions of the box around x; the max of the convex function
||h_P - a_P * u||^2 over the polytope P is attained at a vertex, so sensitivity_max is a max over
regions and their vertices.  In exact mode the squared max is a rational; its square root is
returned as a float rounded to within 4 units of the last place.

**Exact** also for methods that are fixed linear combinations of model values at hybrid points
(:data:`HYBRID_TERMS`: occlusion, baseline Shapley; ``MethodSpec.hybrid_terms``): the compositions
u -> f(hybrid_S(x + u)) are stacked into one network whose partition of the box refines all of
theirs; phi(x + u) = m_P + M_P u on each of its regions, integrated and maximised as above (in
rationals; float mode rounds the exact result of the float model's rationals once).  Over
:data:`MAX_STACKED_UNITS` stacked hidden units this path falls back to sampling.

**Sampled** for every other method: n seeded draws of delta, the attribution recomputed at each
x + delta; averages carry a confidence half-width, and a sampled max is reported as a *lower
bound* (``kind="lower_bound"``), never as the max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from polyattr.attribution.gradient_methods import gradient_rounding_bound
from polyattr.attribution.registry import SpecView
from polyattr.errors import PolyattrError
from polyattr.geometry.regions import DEFAULT_MAX_REGIONS
from polyattr.metrics.box_regions import BoxRegions, box_regions
from polyattr.metrics.methods import as_method_calls, attribute_call, covering_domain
from polyattr.metrics.perturbations import UniformBox, as_perturbation, normalise_rng
from polyattr.metrics.quadratic import exact_vector, float_vector
from polyattr.metrics.result import CONFIDENCE_SIGMAS, MetricValue
from polyattr.models.protocol import PiecewiseAffineModel, require_model
from polyattr.numerics import UNIT_ROUNDOFF as _U, gamma

DEFAULT_SENSITIVITY_SAMPLES = 64

#: Methods that are linear combinations of model values at hybrid points (occlusion, baseline
#: Shapley): name -> hybrid_terms(d) (``MethodSpec.hybrid_terms``).
HYBRID_TERMS = SpecView(lambda spec: spec.hybrid_terms, lambda spec: spec.hybrid_terms is not None)


#: Methods with an exact local rule: name -> rule(W (n, d), x (d,)) -> (a (n, d), c (n, d)) such that
#: phi_k(x + u) = a_Pk u_k + c_Pk on region P (u the offset from x); read from the method specs
#: (``MethodSpec.local_rule``, registered next to each method).
LOCAL_RULES = SpecView(lambda spec: spec.local_rule, lambda spec: spec.local_rule is not None)


@dataclass(frozen=True, eq=False)
class SensitivityResult:
    """Sensitivity Gram matrix and per-method max for K methods at one input.

    ``gram`` (K, K) with entrywise ``gram_bound``; ``max_values`` (K,) with ``max_bounds``;
    ``kind`` "deterministic" (local rules over regions) or "sampled" (then each max is a lower bound).
    """

    labels: list
    gram: np.ndarray
    gram_bound: np.ndarray
    max_values: list
    max_bounds: list
    exact: bool
    kind: str
    n_samples: int | None = None
    seed: int | None = None
    relative: bool = False
    info: dict = field(default_factory=dict)

    def average(self, i: int) -> MetricValue:
        value = self.gram[i, i]
        exact = self.exact and isinstance(value, Fraction)
        return MetricValue("sensitivity_avg", value, exact, 0.0 if exact else float(self.gram_bound[i, i]),
                           kind=self.kind, n_samples=self.n_samples, seed=self.seed, info=dict(self.info))

    def maximum(self, i: int) -> MetricValue:
        kind = "deterministic" if self.kind == "deterministic" else "lower_bound"
        info = dict(self.info, relative=self.relative)
        if "max_squared" in self.info:
            info["max_squared"] = self.info["max_squared"][i]
        return MetricValue("sensitivity_max", float(self.max_values[i]), False, float(self.max_bounds[i]), kind=kind,
                           n_samples=self.n_samples, seed=self.seed, info=info)


def sensitivity(model: PiecewiseAffineModel, x, methods, radius=None, *, baseline=None, domain=None, output: int | None = None,
                exact: bool = False, n_samples: int = DEFAULT_SENSITIVITY_SAMPLES, rng=None, relative: bool = False,
                sampled: bool | None = None, max_regions: int | None = DEFAULT_MAX_REGIONS,
                regions: BoxRegions | None = None) -> SensitivityResult:
    """Sensitivity Gram matrix and max of ``methods`` at ``x`` under delta uniform on [-r, r]^d.

    Parameters
    ----------
    model : PiecewiseAffineModel
    x : array-like (d,)
    methods : names, (name, options) pairs or MethodCalls
    radius : number or (d,) numbers (default 0.1)
    baseline, domain, output : passed to :func:`polyattr.attribute`.  When the box around x leaves
        ``domain``, attributions are computed on the domain enlarged to contain it (reported in
        ``info["domain_enlarged"]``).
    exact : bool
        Rationals for the exact path.
    n_samples, rng : draws of the sampled path (rng: seed or Generator).
    relative : bool
        Divide the max by ||phi(x)||_2 (Captum's ``sensitivity_max``); undefined norms stay absolute.
    sampled : bool or None
        Force the sampled path (True) or the exact one (False, an error if a method has no local
        rule); None: exact when every method has a local rule.
    regions : BoxRegions, optional
        Already enumerated regions of the box around x.
    """
    require_model(model)
    calls = as_method_calls(methods)
    k = model.check_output(output)
    d = model.n_inputs
    x = exact_vector(x, d, "x") if exact else float_vector(x, d, "x")
    law = as_perturbation(None, radius)
    r = law.half_widths(d, exact)
    dom, enlarged = covering_domain(domain, x, r, d)
    if exact:
        from polyattr.geometry.domains import Box

        dom = Box(dom.lower, dom.upper, exact=True)
    has_rules = all(c.name in LOCAL_RULES for c in calls)
    common = dict(baseline=baseline, domain=dom, output=k, max_regions=max_regions)
    # the stacked network is built from layer weights: models exposing them (ReLUNetwork); others sample
    hybrid = (any(c.name in HYBRID_TERMS for c in calls) and hasattr(model, "weights")
              and all(c.name in HYBRID_TERMS or c.name in LOCAL_RULES for c in calls))
    if hybrid and not sampled and regions is None and _stacked_units(model, calls) > MAX_STACKED_UNITS:
        if sampled is False:
            raise PolyattrError(f"methods: the exact sensitivity of {[c.name for c in calls]} needs a stacked network of "
                                f"{_stacked_units(model, calls)} hidden units, over the limit of {MAX_STACKED_UNITS}; use sampled=True")
        hybrid = False
    if hybrid and not sampled and regions is None:
        return _stacked_sensitivity(model, x, calls, r, k, exact, relative, enlarged, common, max_regions)
    if sampled is False and not has_rules:
        missing = [c.name for c in calls if c.name not in LOCAL_RULES]
        raise PolyattrError(f"methods: no exact local rule for {missing}; exact sensitivity covers {sorted(LOCAL_RULES)}")
    if has_rules and not sampled:
        return _exact_sensitivity(model, x, calls, r, k, exact, relative, enlarged, common, max_regions, regions)
    return _sampled_sensitivity(model, x, calls, law, d, n_samples, rng, relative, enlarged, common)


def _exact_sensitivity(model, x, calls, r, output, exact, relative, enlarged, common, max_regions, regions):
    R = regions if regions is not None else box_regions(model, x, r, output, exact, max_regions)
    d, n, K = R.d, len(R), len(calls)
    phis, phi_errors, H, A = [], [], [], []
    for call in calls:
        res = attribute_call(model, x, call, exact=exact, **common)
        phi = np.asarray(res.values, dtype=object if exact else float)
        a, c = LOCAL_RULES[call.name](R.W, R.x)
        phis.append(phi)
        phi_errors.append(0.0 if res.exact else float(res.error_bound))
        H.append(phi[None, :] - c)
        A.append(a)
    diag = (slice(None), np.arange(d), np.arange(d))
    q1, q2 = R.p1, R.P2[diag]  # (n, d) E[u_k 1_P] and E[u_k^2 1_P]
    G = np.empty((K, K), dtype=object if exact else float)
    for i in range(K):
        for j in range(i, K):
            G[i, j] = G[j, i] = (((H[i] * H[j]).sum(axis=1) @ R.p0) - ((H[i] * A[j] + H[j] * A[i]) * q1).sum()
                                 + (A[i] * A[j] * q2).sum())
    # the max: over regions and (for non-constant rules) their vertices
    max_sq, argmax = [], []
    for i in range(K):
        best, where = None, None
        constant = not any(v != 0 for v in np.ravel(A[i]))
        for P in range(n):
            if constant:
                cand = [((H[i][P] * H[i][P]).sum(), None)]
            else:
                V = R.vertices(P)
                D = H[i][P][None, :] - A[i][P][None, :] * V
                sq = (D * D).sum(axis=1)
                v = int(np.argmax(np.asarray(sq, float)))
                if exact:  # the float argmax may miss the exact max by a rounding: compare exactly
                    v = max(range(len(sq)), key=lambda t: sq[t])
                cand = [(sq[v], V[v])]
            for val, vert in cand:
                if best is None or val > best:
                    best, where = val, (P, vert)
        max_sq.append(best)
        argmax.append(where)
    norms = [math.sqrt(float((p * p).sum())) for p in phis]
    max_values, max_bounds, gram_bound = [], [], np.zeros((K, K))
    if exact and not any(phi_errors):
        max_values, max_bounds = _exact_max_norms(max_sq, norms, relative, d)
    else:
        e_w = _gradient_error(model, output)
        rf = np.asarray(r, float)
        xf = np.abs(np.asarray(x, float))
        Hf = [np.abs(np.asarray(h, float)) for h in H]
        Af = [np.abs(np.asarray(a, float)) for a in A]
        # per region and feature: a bound on |difference| over the box and on its error
        reach = [Hf[i] + Af[i] * rf[None, :] for i in range(K)]
        err = []
        for i, call in enumerate(calls):
            # the rules are linear in W: applied to the gradient error (and |x|) they bound the
            # errors of a and of c (c also inherits a's error times the unit offset)
            a_err, c_err = (np.abs(np.asarray(v, float))[0] for v in LOCAL_RULES[call.name](e_w[None, :], xf))
            e_c = c_err + a_err
            e_a = a_err
            err.append(phi_errors[i] + e_c + e_a * rf + 4 * gamma(d + 4) * reach[i].max(axis=0))
        D0, D1, D2 = R.defects
        p0, aq1, aq2 = np.abs(np.asarray(R.p0, float)), np.abs(np.asarray(q1, float)), np.abs(np.asarray(q2, float))
        for i in range(K):
            for j in range(K):
                terms = ((Hf[i] * Hf[j]).sum(axis=1) @ p0 + ((Hf[i] * Af[j] + Hf[j] * Af[i]) * aq1).sum()
                         + (Af[i] * Af[j] * aq2).sum())
                defect = (D0 * float(((Hf[i] * Hf[j]).sum(axis=1)).max(initial=0.0))
                          + D1 * float(((Hf[i] * Af[j] + Hf[j] * Af[i]).sum(axis=1)).max(initial=0.0))
                          + D2 * float(((Af[i] * Af[j]).sum(axis=1)).max(initial=0.0)))
                propagation = float((reach[i].max(axis=0) * err[j] + reach[j].max(axis=0) * err[i] + err[i] * err[j]).sum())
                gram_bound[i, j] = 2 * (gamma(n + 3 * d + 6) * terms + defect + propagation)
            value = math.sqrt(float(max_sq[i]))
            bound = 2 * (float(np.linalg.norm(err[i])) + 4 * _U * value)
            if relative and norms[i] > 0:
                value, bound = _relative(value, bound, norms[i], np.sqrt(d) * phi_errors[i], d)
            max_values.append(value)
            max_bounds.append(bound)
    info = {"regions": n, "max_squared": max_sq, "argmax_region": [w[0] for w in argmax],
            "argmax_offset": [None if w[1] is None else list(w[1]) for w in argmax], "domain_enlarged": enlarged}
    exact_out = exact and not any(phi_errors)
    if not exact_out:
        G = np.array([[float(v) for v in row] for row in G])
    return SensitivityResult([c.label for c in calls], G, gram_bound, max_values, max_bounds, exact_out, "deterministic",
                             relative=relative, info=info)


#: Largest stacked network (hidden units over all hybrid points) the exact path enumerates; beyond,
#: sampled=None falls back to sampling.
MAX_STACKED_UNITS = 256


def _stacked_units(model, calls) -> int:
    """Hidden units of the stacked network of ``calls`` (2^d per unit for d > 12: not even listed)."""
    d = model.n_inputs
    if d > 12:  # exact region enumeration in that many dimensions is out of reach anyway
        return 2**d * int(sum(model.hidden_sizes))
    masks = {tuple([True] * d)}
    for call in calls:
        if call.name in HYBRID_TERMS:
            masks.update(tuple(bool(v) for v in m) for m, _ in HYBRID_TERMS[call.name](d))
    return len(masks) * int(sum(model.hidden_sizes))


def _stacked_network(net, x, baseline, masks, output):
    """The network u -> (f(hybrid_S(x + u)))_S of all masks S, exact: one block of hidden units per
    mask (first layer W0 A_S, bias W0 (A_S x + c_S) + b0, deeper layers block-diagonal, outputs the
    blocks' output ``output``), so its partition is the common refinement of all the compositions."""
    from polyattr.models.relu import ReLUNetwork

    zero = Fraction(0)
    Ws, bs = net.weights, net.biases
    m = len(masks)
    weights, biases = [], []
    for layer, (W, b) in enumerate(zip(Ws, bs)):
        if layer == len(Ws) - 1:
            W, b = W[output:output + 1], b[output:output + 1]
        rows, cols = W.shape
        if layer == 0:
            blocks = []
            for mask in masks:
                A = np.array([[Fraction(int(i == j and mask[i])) for j in range(cols)] for i in range(cols)], dtype=object)
                cS = np.array([x[i] if mask[i] else baseline[i] for i in range(cols)], dtype=object)
                blocks.append((W @ A, W @ cS + b))
            weights.append(np.vstack([B for B, _ in blocks]))
            biases.append(np.concatenate([c for _, c in blocks]))
        else:
            big = np.full((m * rows, m * cols), zero, dtype=object)
            for t in range(m):
                big[t * rows:(t + 1) * rows, t * cols:(t + 1) * cols] = W
            weights.append(big)
            biases.append(np.concatenate([b] * m))
    slopes = [np.concatenate([a] * m) for a in net.negative_slopes]
    return ReLUNetwork(weights, biases, slopes, exact=True)


def _stacked_sensitivity(model, x, calls, r, output, exact, relative, enlarged, common, max_regions):
    """Exact sensitivity for hybrid-point methods (and local-rule ones alongside) on the regions of
    the stacked network: every term f(hybrid_S(x + u)) is affine on each region, so phi(x + u) =
    m_P + M_P u there and the difference h_P - M_P u (h_P = phi(x) - m_P) is integrated with the
    regions' exact moments; its convex squared norm is maximised at vertices.  Computed in rationals
    on the model's exact values (a float model's floats read as rationals); float mode rounds the
    results once (``gram_bound`` 2u|value|, the max 4u value)."""
    from polyattr.attribution.integrals import Integrator
    from polyattr.geometry.domains import Box

    net = model.to_exact()
    d = net.n_inputs
    xq = np.array([Fraction(v) for v in x], dtype=object)
    rq = np.array([Fraction(v) for v in r], dtype=object)
    dom = common["domain"]
    dom_q = Box(np.array([Fraction(v) for v in dom.lower], dtype=object),
                np.array([Fraction(v) for v in dom.upper], dtype=object), exact=True)
    base = common["baseline"]
    bq = (np.array([Fraction(v) for v in base], dtype=object) if base is not None
          else np.array([Fraction(0)] * d, dtype=object))
    # every mask any method needs, the full mask first (the model itself, for the local rules)
    masks, index = [np.ones(d, dtype=bool)], {tuple([True] * d): 0}
    term_lists = {}
    for call in calls:
        if call.name in HYBRID_TERMS:
            terms = HYBRID_TERMS[call.name](d)
            term_lists[call.name] = terms
            for mask, _ in terms:
                key = tuple(bool(v) for v in mask)
                if key not in index:
                    index[key] = len(masks)
                    masks.append(np.asarray(key))
    stacked = _stacked_network(net, xq, bq, masks, output)
    box = Box(-rq, rq, exact=True)
    regions = Integrator(stacked, 0, exact=True, max_regions=max_regions).regions_on(box)
    m0, m1, M2 = regions.moments(order=2)
    n = len(m0)
    inv = Fraction(1) / box.volume
    p0 = [Fraction(v) * inv for v in m0]
    p1 = np.array([[Fraction(v) * inv for v in row] for row in m1], dtype=object).reshape(n, d)
    P2 = np.array([[[Fraction(v) * inv for v in row] for row in mat] for mat in M2], dtype=object).reshape(n, d, d)
    Wall, call_ = regions.affine_maps()  # (n, T, d), (n, T): term t at x + u is W u + c
    Wall = np.asarray(Wall, dtype=object).reshape(n, len(masks), d)
    call_ = np.asarray(call_, dtype=object).reshape(n, len(masks))
    values0 = np.asarray(stacked(np.array([Fraction(0)] * d, dtype=object)), dtype=object).reshape(len(masks))
    K = len(calls)
    H, M, phis = [], [], []
    for call in calls:
        if call.name in HYBRID_TERMS:
            C = np.array([[Fraction(0)] * len(masks) for _ in range(d)], dtype=object)  # (d, T)
            for mask, coef in term_lists[call.name]:
                t = index[tuple(bool(v) for v in mask)]
                for j in range(d):
                    C[j, t] += Fraction(coef[j])
            phi = C @ values0
            MP = np.array([C @ Wall[P] for P in range(n)], dtype=object)  # (n, d, d)
            mP = np.array([C @ call_[P] for P in range(n)], dtype=object)  # (n, d)
        else:
            res = attribute_call(net, xq, call, exact=True, **dict(common, domain=dom_q))
            phi = np.asarray(res.values, dtype=object)
            a, c = LOCAL_RULES[call.name](Wall[:, 0, :], xq)
            MP = np.array([np.diag(a[P]) for P in range(n)], dtype=object).reshape(n, d, d)
            mP = np.asarray(c, dtype=object).reshape(n, d)
        phis.append(phi)
        H.append(phi[None, :] - mP)
        M.append(MP)
    G = np.empty((K, K), dtype=object)
    for i in range(K):
        for j in range(i, K):
            total = Fraction(0)
            for P in range(n):
                total += p0[P] * (H[i][P] @ H[j][P])
                total -= H[i][P] @ (M[j][P] @ p1[P]) + H[j][P] @ (M[i][P] @ p1[P])
                total += np.trace(M[i][P].T @ M[j][P] @ P2[P])
            G[i, j] = G[j, i] = total
    max_sq, argmax = [], []
    for i in range(K):
        best, where = None, None
        for P in range(n):
            V = np.asarray(regions.vertices(P), dtype=object)
            for v in V:
                diff = H[i][P] - M[i][P] @ v
                val = diff @ diff
                if best is None or val > best:
                    best, where = val, (P, v)
        max_sq.append(best)
        argmax.append(where)
    norms = [math.sqrt(float((p * p).sum())) for p in phis]
    max_values, max_bounds = _exact_max_norms(max_sq, norms, relative, d)
    info = {"regions": n, "max_squared": max_sq, "argmax_region": [w[0] for w in argmax],
            "argmax_offset": [list(w[1]) for w in argmax], "domain_enlarged": enlarged, "stacked_terms": len(masks)}
    if exact:
        gram_bound = np.zeros((K, K))
    else:
        G = np.array([[float(v) for v in row] for row in G])
        gram_bound = 2 * _U * np.abs(G)
    return SensitivityResult([c.label for c in calls], G, gram_bound, max_values, max_bounds, exact, "deterministic",
                             relative=relative, info=info)


def _exact_max_norms(max_sq, norms, relative: bool, d: int):
    """Square roots of exact squared maxima (one rounding: bound 4u), relative to ||phi(x)|| if asked."""
    values, bounds = [], []
    for sq, norm in zip(max_sq, norms):
        value = math.sqrt(float(sq))
        bound = 4 * _U * value
        if relative and norm > 0:
            value, bound = _relative(value, bound, norm, 0.0, d)
        values.append(value)
        bounds.append(bound)
    return values, bounds


def _relative(value: float, bound: float, norm: float, norm_error: float, d: int):
    """(value / norm, bound) for Captum's normalisation: the numerator's bound, the norm's own error
    (``norm_error`` from the attribution plus the rounding of the float norm) to first order, and the
    rounding of the division.  When the norm could be 0 the ratio is unbounded (inf)."""
    norm_error = float(norm_error) + gamma(d + 2) * norm
    if norm <= norm_error:
        return value / norm, math.inf
    ratio = value / norm
    return ratio, bound / (norm - norm_error) + ratio * norm_error / (norm - norm_error) + 2 * _U * ratio


def _gradient_error(model, output):
    return np.asarray(gradient_rounding_bound(model.to_float(), output), float)


def _sampled_sensitivity(model, x, calls, law: UniformBox, d, n_samples, rng, relative, enlarged, common):
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise PolyattrError(f"n_samples: expected an integer >= 2, got {n_samples!r}")
    gen, seed = normalise_rng(rng)
    xf = np.asarray([float(v) for v in x])
    deltas = law.sample(gen, int(n_samples), d)
    dom = common["domain"]
    if getattr(dom, "exact", False):
        from polyattr.geometry.domains import Box

        dom = Box(dom.lower.astype(float), dom.upper.astype(float))
    common = dict(common, domain=dom)
    K, n = len(calls), len(deltas)
    diffs = np.empty((K, n, d))
    err = np.zeros(K)
    norms = []
    for i, call in enumerate(calls):
        base = attribute_call(model, xf, call, **common)
        phi_x = np.asarray(base.values, float)
        norms.append(float(np.linalg.norm(phi_x)))
        moved = attribute_call(model, xf[None, :] + deltas, call, **common)  # one batch: shared partitions
        diffs[i] = phi_x[None, :] - np.asarray(moved.values, float)
        # each difference is within the two attributions' bounds, per feature (a batch states its max)
        err[i] = float(base.error_bound) + float(moved.error_bound)
    G = np.einsum("itk,jtk->ij", diffs, diffs) / n
    prods = np.einsum("itk,jtk->ijt", diffs, diffs)
    half = CONFIDENCE_SIGMAS * prods.std(axis=2, ddof=1) / np.sqrt(n)
    reach = np.abs(diffs).max(axis=1)  # (K, d)
    prop = np.array([[float((reach[i] * err[j] + reach[j] * err[i] + err[i] * err[j]).sum()) for j in range(K)]
                     for i in range(K)])
    bound = half + prop + gamma(n + d + 2) * np.einsum("itk,jtk->ij", np.abs(diffs), np.abs(diffs)) / n
    sq = (diffs**2).sum(axis=2)
    best = sq.argmax(axis=1)
    max_values, max_bounds = [], []
    for i in range(K):
        value = math.sqrt(float(sq[i, best[i]]))
        bound_i = float(np.sqrt(d) * err[i]) + 4 * _U * value
        if relative and norms[i] > 0:
            value, bound_i = _relative(value, bound_i, norms[i], np.sqrt(d) * err[i] / 2, d)
        max_values.append(value)
        max_bounds.append(bound_i)
    info = {"domain_enlarged": enlarged, "sigmas": CONFIDENCE_SIGMAS,
            "argmax_offset": [list(deltas[b]) for b in best]}
    return SensitivityResult([c.label for c in calls], G, bound, max_values, max_bounds, False, "sampled",
                             n_samples=n, seed=seed, relative=relative, info=info)


def sensitivity_avg(model: PiecewiseAffineModel, x, method, radius=None, **kwargs) -> MetricValue:
    """E_delta ||phi(x) - phi(x + delta)||_2^2 of one method (see :func:`sensitivity`)."""
    return sensitivity(model, x, [method], radius, **kwargs).average(0)


def sensitivity_max(model: PiecewiseAffineModel, x, method, radius=None, **kwargs) -> MetricValue:
    """max over the box of ||phi(x) - phi(x + delta)||_2 of one method: exact for methods with a
    local rule, otherwise a sampled *lower bound* (see :func:`sensitivity`)."""
    return sensitivity(model, x, [method], radius, **kwargs).maximum(0)
