r"""The axioms of THEORY.md §2 as executable checks on random ReLU networks.

:func:`check_axioms` runs one attribution method (a contract name of
:func:`polyattr.attribution.api.attribute`) on random networks and measures, per axiom, the largest
violation over the cases, with a tolerance derived from the float error bounds of the results
involved (see *Tolerances* below).  :func:`axiom_table` does it for every method and prints a table
of measured violations next to what the theory predicts (:data:`PREDICTIONS`).

The checks
----------
completeness
    sum_j phi_j(x, f) = reference(f).  The reference is the one the method is complete *for*
    (:data:`COMPLETENESS_REFERENCE`): f(x) - f(x') for the baseline methods (ig, shapley, deeplift,
    occlusion, gradient, ...); f(x) - E_U f (U uniform on the domain, computed exactly by region
    integration) for the methods whose reference is the uniform background law (shapley_uniform,
    expected_gradients_uniform, and pdp / ice, for which it is the natural candidate); f(x) for the
    propagation rules that claim "conservation" of the output (epsilon_lrp, gradient_x_input);
    f(x) - f(lower corner) for the FAFP appendix examples.
sensitivity (dummy)
    zero the input column j of the first layer (the network then ignores feature j): phi_j = 0.
linearity
    phi(a f + b g) = a phi(f) + b phi(g) for random a > 0 > b, where a f + b g is *one* ReLU
    network: the hidden layers of f and g stacked block-diagonally and the outputs summed with
    weights a, b (:func:`stack_networks`); and scaling on its own, phi(c f) = c phi(f) for a random
    c < 0 (the output layer of f times c).
symmetry
    f(z) = g(z) + g(P z) with P the transposition of features i, k (so f is symmetric in them):
    phi(P x, P x', f) = P phi(x, x', f), the domain being swapped too (it is the unit cube by
    default, which P fixes).
implementation_invariance
    two networks that compute the same function must get the same attribution.  Three rewirings:
    a random permutation of every hidden layer; a hidden neuron split into two halves
    (relu(a) = relu(a/2) + relu(a/2), same sign pattern); and the bias-through-a-second-layer pair of
    :func:`bias_shift_pair` stacked on the random network,

        f_A(z) = relu(relu(z_0) - relu(z_1) - c),     f_B(z) = relu(relu(z_0 - c) - relu(z_1)),

    equal on all of R^d for c > 0 (for z_0 >= c both are relu(z_0 - c - relu(z_1)); for z_0 < c
    both are 0), evaluated at x_0 = 0.9, x_1 = 0.3, x'_0 = x'_1 = 0, c = 1/4.  (This is the example
    of Sundararajan, Taly & Yan 2017, Integrated Gradients, §2.2, rescaled into the unit cube.)

Tolerances
----------
A float attribution carries ``error_bound`` (a bound on max_j |error|).  A check combines a few
results (and model evaluations, with :func:`polyattr.models.relu.evaluation_error_bound`): its
tolerance is ``SAFETY`` times the sum of the bounds of every term, weighted by the coefficients
it enters with, plus a floor of ``FLOOR_ULPS`` units of roundoff times the size of the terms (so
that a method reporting a zero bound for a float computation is not failed on its last bit).
A method *violates* an axiom when the violation exceeds the tolerance in at least one case; a
violation of a generic network is of order 1e-2..1, far above tolerances of order 1e-13.

Predictions (:data:`PREDICTIONS`; derivations)
-------------------------------------------------
``Y`` the axiom holds on every network, ``N`` it fails on generic networks, ``-`` not applicable.

=========================== ===== ===== ===== ===== =====
method                      compl sens  lin   sym   impl
=========================== ===== ===== ===== ===== =====
gradient                    N     Y     Y     Y     Y
gradient_x_input            N     Y     Y     Y     Y
ig                          Y     Y     Y     Y     Y
occlusion                   N     Y     Y     Y     Y
pdp                         N     N     Y     Y     Y
ice                         N     Y     Y     Y     Y
shapley                     Y     Y     Y     Y     Y
shapley_uniform             Y     Y     Y     Y     Y
smoothgrad_uniform          N     Y     Y     Y     Y
smoothgrad_gaussian         N     Y     Y     -     Y
expected_gradients(_unif.)  Y     Y     Y     Y     Y
lime_uniform                N     Y     Y     Y     Y
fafp_local                  N     N     Y     Y     Y
fafp_global                 N     N     Y     Y     Y
deeplift                    Y     Y     Y     Y     N
epsilon_lrp (eps > 0)       N     Y     N     Y     N
=========================== ===== ===== ===== ===== =====

Why.  *Implementation invariance*: every method that is a functional of f alone (all measure
methods; gradient rules that only read w_P on the regions they visit; LIME, a least-squares fit of
f) is invariant; DeepLIFT and LRP read the hidden units.  DeepLIFT-Rescale is invariant under
permutations and halved neurons (the multipliers Delta relu / Delta pre are unchanged) but not
under the bias shift: for f_A the neuron relu(z_0) is linear between x' and x, its multiplier is 1,
and the second layer's multiplier is 0.35 / 0.6, giving (0.525, -0.175); for f_B the multiplier of
relu(z_0 - c) is 0.65 / 0.9 and the second layer is linear, giving (0.65, -0.3); IG gives
(0.525, -0.175) for both.  LRP-epsilon with epsilon = 0 equals Gradient x Input on ReLU networks
(R_j = a_j df/da_j by induction from the output), hence is invariant; with epsilon > 0 the halved
neuron changes the stabilised denominator of the layer below: x_i w_i / (a + eps) becomes
x_i (w_i / 2) / (a/2 + eps) twice, i.e. x_i w_i / (a + 2 eps).
*Completeness*: IG, Shapley (efficiency), DeepLIFT (summation-to-delta) and expected gradients
(average of complete IG's) are complete for their references; the gradient, occlusion (d one-at-a-
time differences), PDP (its scores are values, not differences), ICE (centred values per line),
SmoothGrad, LIME (slopes), the FAFP examples and LRP with biases (the biases absorb relevance) are
not.  *Sensitivity*: with the column j zero, every region has w_{P,j} = 0 (gradient rules), every
measure that compares points differing only in z_j gives 0 (occlusion, Shapley, ICE), a LIME fit
with independent uniform coordinates gives slope 0, DeepLIFT/LRP propagate through a zero weight;
but PDP's phi_j = E[f(x_j, Z_-j)] = E f, fafp_local's f(x_j e_j) = f(0) and fafp_global's
2 int_0^1 f(t e_j) dt = 2 f(0) are not 0.  *Linearity* and *symmetry* hold for every method that
integrates f against measures (or gradients) built from x, x' and the domain coordinate-wise; the
rules reading the network (DeepLIFT, LRP) are linear under the stacking (each block's multipliers
only see its own units) and equivariant under input permutations (f∘P is f with its hidden
units permuted).  LRP-epsilon stabilises the *output* layer too (as polyattr's epsilon_lrp does:
c = z / (z + eps sign z)): the top relevance a_j v_j f / (f + eps sign f) is not linear in f, so
linearity fails for epsilon > 0 (an implementation that stabilised only the hidden layers would be
linear: each block of the stacked network sees only its own units); at epsilon = 0 LRP is Gradient
x Input, linear and implementation invariant (tests/test_axioms.py checks both).
*expected_gradients_uniform* is a Monte Carlo estimate over baselines (seeded by its spec's axiom_options, so
f, g and f + g share their baselines): completeness (reference E_U f) and symmetry (the sampled
baselines are not swapped) hold only up to its 3-sigma error bound, which the tolerance includes;
the prediction is left open (None).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from polyattr.attribution.registry import AXIOMS, SpecView, get_method, method_specs
from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box
from polyattr.models.io import random_network
from polyattr.models.relu import ReLUNetwork, evaluation_error_bound
from polyattr.numerics import UNIT_ROUNDOFF as _U


SAFETY = 4.0
FLOOR_ULPS = 256



#: What the theory predicts: method -> {axiom: True (holds on every network), False (fails on
#: generic networks), None (not applicable / depends on an option)}.  Read from each method's
#: spec (``MethodSpec.axioms``, registered next to the method); derivations in the module docstring.
PREDICTIONS: Mapping[str, dict] = SpecView(lambda spec: dict(spec.axioms), lambda spec: bool(spec.axioms))

#: The reference each method's scores are compared with in the completeness check
#: (``MethodSpec.completeness``): "baseline" f(x) - f(x'); "uniform_mean" f(x) - E_U f (U uniform on
#: the domain); "background_mean" f(x) - mean of f over the method's points option; "output" f(x);
#: "lower_corner" f(x) - f(lower).
COMPLETENESS_REFERENCE: Mapping[str, str] = SpecView(lambda spec: spec.completeness)

_REFERENCE_TEXT = {
    "baseline": "f(x) - f(x')",
    "uniform_mean": "f(x) - E_U f",
    "background_mean": "f(x) - mean f(background)",
    "output": "f(x)",
    "lower_corner": "f(x) - f(lower)",
}


# ------------------------------------------------------------------------------ network algebra
def stack_networks(networks: Sequence[ReLUNetwork], coefficients: Sequence[float] | None = None) -> ReLUNetwork:
    """The single ReLU network computing sum_i c_i f_i: hidden layers block-diagonal, outputs summed.

    All networks must have the same number of inputs, one output (or the same number of outputs)
    and the same depth (pad with :func:`pad_depth`).  The first layers are stacked vertically
    (they all read the input); the deeper layers are block-diagonal; the output layer is
    [c_1 V_1, c_2 V_2, ...] with bias sum_i c_i b_i.
    """
    nets = [n.to_float() for n in networks]
    if not nets:
        raise PolyattrError("networks: expected at least one network")
    coefficients = [1.0] * len(nets) if coefficients is None else [float(c) for c in coefficients]
    if len(coefficients) != len(nets):
        raise PolyattrError(f"coefficients: expected {len(nets)} coefficients, got {len(coefficients)}")
    depth = len(nets[0].weights)
    for n in nets:
        if len(n.weights) != depth or n.n_inputs != nets[0].n_inputs or n.n_outputs != nets[0].n_outputs:
            raise PolyattrError("networks: expected the same inputs, outputs and depth (use pad_depth)")
    if depth == 1:
        W = sum(c * n.weights[0] for c, n in zip(coefficients, nets))
        b = sum(c * n.biases[0] for c, n in zip(coefficients, nets))
        return ReLUNetwork([W], [b])
    Ws = [np.vstack([n.weights[0] for n in nets])]
    bs = [np.concatenate([n.biases[0] for n in nets])]
    for layer in range(1, depth - 1):
        Ws.append(_block_diag([n.weights[layer] for n in nets]))
        bs.append(np.concatenate([n.biases[layer] for n in nets]))
    Ws.append(np.hstack([c * n.weights[-1] for c, n in zip(coefficients, nets)]))
    bs.append(sum(c * n.biases[-1] for c, n in zip(coefficients, nets)))
    return ReLUNetwork(Ws, bs)


def _block_diag(blocks):
    rows = sum(b.shape[0] for b in blocks)
    cols = sum(b.shape[1] for b in blocks)
    out = np.zeros((rows, cols))
    r = c = 0
    for b in blocks:
        out[r:r + b.shape[0], c:c + b.shape[1]] = b
        r, c = r + b.shape[0], c + b.shape[1]
    return out


def pad_depth(net: ReLUNetwork, n_layers: int) -> ReLUNetwork:
    """The same function with ``n_layers`` weight layers: identity ReLU layers after the last hidden one.

    Exact because the last hidden layer's outputs are >= 0, so relu(I h) = h.
    """
    net = net.to_float()
    extra = n_layers - len(net.weights)
    if extra < 0 or (extra > 0 and len(net.weights) < 2):
        raise PolyattrError(f"pad_depth: cannot bring a network with {len(net.weights)} layers to {n_layers}")
    Ws, bs = list(net.weights[:-1]), list(net.biases[:-1])
    width = Ws[-1].shape[0] if Ws else 0
    for _ in range(extra):
        Ws.append(np.eye(width))
        bs.append(np.zeros(width))
    return ReLUNetwork([*Ws, net.weights[-1]], [*bs, net.biases[-1]])


def permute_inputs(net: ReLUNetwork, perm: Sequence[int]) -> ReLUNetwork:
    """The network z -> f(z[perm]) (first-layer columns permuted)."""
    net = net.to_float()
    perm = np.asarray(perm)
    P = np.eye(net.n_inputs)[perm]  # (P z)_i = z_perm[i]
    return ReLUNetwork([net.weights[0] @ P, *net.weights[1:]], list(net.biases))


def permute_hidden(net: ReLUNetwork, rng=None) -> ReLUNetwork:
    """The same function with the neurons of every hidden layer in a random order."""
    rng = np.random.default_rng(rng)
    net = net.to_float()
    Ws, bs = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    for layer in range(len(Ws) - 1):
        p = rng.permutation(Ws[layer].shape[0])
        Ws[layer], bs[layer] = Ws[layer][p], bs[layer][p]
        Ws[layer + 1] = Ws[layer + 1][:, p]
    return ReLUNetwork(Ws, bs)


def split_neuron(net: ReLUNetwork, layer: int = 0, neuron: int = 0) -> ReLUNetwork:
    """The same function with one hidden neuron replaced by two halves: relu(a) = relu(a/2) + relu(a/2).

    Both halves have the sign pattern of the original neuron everywhere.
    """
    net = net.to_float()
    if not 0 <= layer < len(net.weights) - 1:
        raise PolyattrError(f"layer: expected a hidden layer index in [0, {len(net.weights) - 1}), got {layer}")
    Ws, bs = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    row, bias = Ws[layer][neuron] / 2, bs[layer][neuron] / 2
    Ws[layer] = np.vstack([Ws[layer], row[None, :]])
    Ws[layer][neuron] = row
    bs[layer] = np.append(bs[layer], bias)
    bs[layer][neuron] = bias
    Ws[layer + 1] = np.hstack([Ws[layer + 1], Ws[layer + 1][:, neuron:neuron + 1]])
    return ReLUNetwork(Ws, bs)


def zero_feature(net: ReLUNetwork, j: int) -> ReLUNetwork:
    """The network with input column j of the first layer set to 0: it ignores feature j."""
    net = net.to_float()
    W0 = net.weights[0].copy()
    W0[:, j] = 0.0
    return ReLUNetwork([W0, *net.weights[1:]], list(net.biases))


def bias_shift_pair(d: int, c: float = 0.25) -> tuple[ReLUNetwork, ReLUNetwork]:
    """Two networks on R^d computing the same function, relu(relu(z0) - relu(z1) - c), wired differently.

    ``A``: the bias -c sits in the second layer; ``B``: it sits in the first layer, relu(z0 - c),
    and the second layer reads relu(z0 - c) - relu(z1).  Equal everywhere for c > 0 (module
    docstring).  DeepLIFT-Rescale tells them apart; any functional of f cannot.
    """
    if d < 2:
        raise PolyattrError("d: the bias-shift pair needs at least 2 features")
    W0 = np.zeros((2, d))
    W0[0, 0] = W0[1, 1] = 1.0
    A = ReLUNetwork([W0, np.array([[1.0, -1.0]]), np.array([[1.0]])], [np.zeros(2), np.array([-c]), np.zeros(1)])
    B = ReLUNetwork([W0, np.array([[1.0, -1.0]]), np.array([[1.0]])], [np.array([-c, 0.0]), np.zeros(1), np.zeros(1)])
    return A, B


# ------------------------------------------------------------------------------------ reports
@dataclass(frozen=True)
class AxiomCheck:
    """One axiom for one method, over all cases.

    ``violation`` is the largest measured violation, ``tolerance`` the tolerance of the case with
    the largest violation-to-tolerance ratio ``worst_ratio``; ``passed`` is ``worst_ratio <= 1``.
    """

    axiom: str
    method: str
    violation: float
    tolerance: float
    worst_ratio: float
    passed: bool
    cases: int
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.method}/{self.axiom}: violation {self.violation:.2e} (tol {self.tolerance:.1e}) {'pass' if self.passed else 'FAIL'}"


@dataclass(frozen=True)
class AxiomReport:
    """The axiom checks of one method and the theory's predictions for it."""

    method: str
    checks: dict
    predictions: dict = field(default_factory=dict)
    seconds: float = 0.0

    def __getitem__(self, axiom: str) -> AxiomCheck:
        return self.checks[axiom]

    def passed(self, axiom: str) -> bool:
        return self.checks[axiom].passed

    def mismatches(self) -> list[str]:
        """Axioms where the measured pass/fail contradicts a definite prediction."""
        out = []
        for axiom, check in self.checks.items():
            pred = self.predictions.get(axiom)
            if pred is not None and check is not None and bool(pred) != check.passed:
                out.append(axiom)
        return out

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "seconds": self.seconds,
            "checks": {
                a: None if c is None else {"violation": c.violation, "tolerance": c.tolerance, "passed": c.passed,
                                           "cases": c.cases, "predicted": self.predictions.get(a), "detail": c.detail}
                for a, c in self.checks.items()
            },
        }


class _Accumulator:
    def __init__(self, axiom, method):
        self.axiom, self.method = axiom, method
        self.violation, self.tolerance, self.ratio, self.cases, self.detail = 0.0, 0.0, 0.0, 0, ""

    def add(self, violation: float, tolerance: float, detail: str = ""):
        violation, tolerance = float(violation), float(tolerance)
        ratio = violation / tolerance if tolerance > 0 else (0.0 if violation == 0 else math.inf)
        self.cases += 1
        if violation >= self.violation:
            self.violation = violation
            if detail:
                self.detail = detail
        if ratio >= self.ratio or self.cases == 1:
            self.ratio, self.tolerance = ratio, tolerance

    def result(self) -> AxiomCheck:
        return AxiomCheck(self.axiom, self.method, self.violation, self.tolerance, self.ratio,
                          self.ratio <= 1.0, self.cases, self.detail)


# --------------------------------------------------------------------------------- the checks
def _tolerance(bounds: Iterable[float], magnitudes: Iterable[float], n_terms: int = 1) -> float:
    """SAFETY x (sum of the float error bounds) + FLOOR_ULPS units of roundoff x the term sizes."""
    return SAFETY * float(sum(bounds)) + FLOOR_ULPS * max(n_terms, 1) * _U * max(1.0, float(sum(magnitudes)))


class _Runner:
    """Calls :func:`attribute` with the method's options; float results as (values, error_bound).

    The baseline is passed only to the methods registered as needing one (the others either ignore
    it or, like expected_gradients, refuse it).  ``perm`` permutes the features of the options that
    hold points (``background``) for the symmetry check.
    """

    def __init__(self, method: str, domain: Box, options: dict, attribute_fn: Callable | None):
        self.takes_baseline = True
        self.point_options: tuple = ()
        if attribute_fn is None:
            from polyattr.attribution.api import attribute

            attribute_fn = attribute
            spec = get_method(method)
            self.takes_baseline = spec.needs_baseline
            self.point_options = tuple(o.name for o in spec.options if o.type == "points")
        else:
            self.point_options = tuple(options)  # a stand-in: permute every array option of shape (n, d)
        self.method, self.domain, self.options, self.attribute = method, domain, options, attribute_fn

    def __call__(self, model, x, baseline, domain=None, perm=None):
        options = dict(self.options)
        if perm is not None:
            for name in self.point_options:
                value = options.get(name)
                if value is not None and np.ndim(value) == 2:
                    options[name] = np.atleast_2d(np.asarray(value, float))[:, perm]
        res = self.attribute(model, np.asarray(x, float), self.method,
                             baseline=np.asarray(baseline, float) if self.takes_baseline else None,
                             domain=self.domain if domain is None else domain, **options)
        return np.asarray(res.values, dtype=float), float(res.error_bound), res


def _f(model, z):
    return float(model(np.asarray(z, float))), float(evaluation_error_bound(model, np.asarray(z, float))[0])


def _uniform_mean(model, domain: Box):
    """(E_U f, error bound) over the uniform law on the domain, by exact region integration."""
    from polyattr.attribution.integrals import Integrator
    from polyattr.measures.core import Uniform

    return Integrator(model, 0).integrate(Uniform(domain))


def _reference(kind: str, model, x, baseline, domain: Box, background):
    fx, ex = _f(model, x)
    if kind == "baseline":
        fb, eb = _f(model, baseline)
        return fx - fb, ex + eb, abs(fx) + abs(fb)
    if kind == "output":
        return fx, ex, abs(fx)
    if kind == "lower_corner":
        fl, el = _f(model, domain.lower.astype(float))
        return fx - fl, ex + el, abs(fx) + abs(fl)
    if kind == "uniform_mean":
        m, em = _uniform_mean(model, domain)
        return fx - m, ex + em, abs(fx) + abs(m)
    if kind == "background_mean":
        bg = np.atleast_2d(np.asarray(background, float))
        vals = np.atleast_1d(model(bg))
        err = float(np.mean(evaluation_error_bound(model, bg)))
        return fx - float(np.mean(vals)), ex + err + len(vals) * _U * float(np.mean(np.abs(vals))), abs(fx) + float(np.mean(np.abs(vals)))
    raise PolyattrError(f"reference: unknown completeness reference {kind!r}")


def _random_point(rng, domain: Box, margin: float = 0.05):
    lo, hi = domain.lower.astype(float), domain.upper.astype(float)
    return lo + (hi - lo) * rng.uniform(margin, 1 - margin, size=lo.shape)


def check_axioms(
    method: str,
    models: Sequence[ReLUNetwork] | None = None,
    n_models: int = 3,
    rng=None,
    *,
    d: int = 3,
    hidden: Sequence[int] = (6, 6),
    domain=None,
    axioms: Sequence[str] = AXIOMS,
    options: dict | None = None,
    attribute_fn: Callable | None = None,
) -> AxiomReport:
    """Measure how far ``method`` is from each axiom on random ReLU networks.

    Parameters
    ----------
    method : str
        A method of :func:`polyattr.attribution.api.available_methods` (not ``measure``).
    models : sequence of single-output ReLUNetwork, optional
        The networks to test on (same number of inputs, at least 2, and the same depth).  Default:
        ``n_models`` random networks with layer sizes ``[d, *hidden, 1]``.
    n_models : int
        Number of random networks when ``models`` is None.
    rng : seed or Generator
        Random networks, points, baselines and coefficients.
    d, hidden : network shape of the random networks.
    domain : None, (lower, upper) or Box
        Default the unit cube.
    axioms : which checks to run (:data:`AXIOMS`).
    options : dict
        Extra options for the method (``radius``, ``epsilon``, ``background`` ...).
    attribute_fn : callable, optional
        Stand-in for :func:`attribute` (same signature); for tests of the checks themselves.

    Returns
    -------
    AxiomReport
        One :class:`AxiomCheck` per axiom, and the predictions of :data:`PREDICTIONS`.
    """
    import time

    start = time.perf_counter()
    rng = np.random.default_rng(rng)
    spec = get_method(method) if attribute_fn is None else _registered(method)
    given_options = options
    unknown = set(axioms) - set(AXIOMS)
    if unknown:
        raise PolyattrError(f"axioms: unknown {sorted(unknown)}; expected a subset of {AXIOMS}")
    if models is None:
        models = [random_network([d, *hidden, 1], rng=rng) for _ in range(n_models)]
    models = [m.to_float() for m in models]
    if not models:
        raise PolyattrError("models: expected at least one network")
    d = models[0].n_inputs
    if d < 2:
        raise PolyattrError("models: the axiom checks need at least 2 input features")
    for m in models:
        if m.n_inputs != d or m.n_outputs != 1:
            raise PolyattrError("models: expected single-output networks with the same number of inputs")
    if domain is None:
        domain = Box.unit(d)
    elif not isinstance(domain, Box):
        domain = Box(*domain)
    options = dict(_axiom_options(spec, rng, domain) if given_options is None else given_options)
    run = _Runner(method, domain, options, attribute_fn)
    checks = {}
    for axiom in axioms:
        acc = _Accumulator(axiom, method)
        _CHECKS[axiom](acc, run, models, domain, rng, options)
        checks[axiom] = acc.result()
    predictions = dict(spec.axioms) if spec is not None else dict(PREDICTIONS.get(method, {}))
    return AxiomReport(method, checks, predictions, time.perf_counter() - start)


def _registered(method: str):
    try:
        return get_method(method)
    except PolyattrError:  # a stand-in for a method that is not registered
        return None


def _axiom_options(spec, rng, domain: Box) -> dict:
    """The spec's options for the axiom checks (a dict, or drawn from ``rng`` on ``domain``)."""
    if spec is None:
        return {}
    made = spec.axiom_options(rng, domain) if callable(spec.axiom_options) else spec.axiom_options
    return dict(made)


def _check_completeness(acc, run, models, domain, rng, options):
    kind = COMPLETENESS_REFERENCE.get(run.method, "baseline")
    point_option = run.point_options[0] if run.point_options else None
    for model in models:
        x, xb = _random_point(rng, domain), _random_point(rng, domain)
        phi, eb, _ = run(model, x, xb)
        ref, eref, mag = _reference(kind, model, x, xb, domain, options.get(point_option))
        violation = abs(float(np.sum(phi)) - ref)
        acc.add(violation, _tolerance([len(phi) * eb, eref], [np.sum(np.abs(phi)), mag], len(phi) + 2),
                f"reference {_REFERENCE_TEXT[kind]}")
    acc.detail = f"reference {_REFERENCE_TEXT[kind]}"


def _check_sensitivity(acc, run, models, domain, rng, options):
    d = models[0].n_inputs
    for i, model in enumerate(models):
        j = int(rng.integers(d))
        dummy = zero_feature(model, j)
        x, xb = _random_point(rng, domain), _random_point(rng, domain)
        phi, eb, _ = run(dummy, x, xb)
        acc.add(abs(phi[j]), _tolerance([eb], [np.max(np.abs(phi))]), f"feature {j} ignored")


def _check_linearity(acc, run, models, domain, rng, options):
    for i, f in enumerate(models):
        g = models[(i + 1) % len(models)] if len(models) > 1 else random_network(
            [f.n_inputs, *f.hidden_sizes, 1], rng=rng)
        a, b = rng.uniform(0.5, 2.0), -rng.uniform(0.5, 2.0)
        h = stack_networks([f, g], [a, b])
        x, xb = _random_point(rng, domain), _random_point(rng, domain)
        ph, eh, _ = run(h, x, xb)
        pf, ef, _ = run(f, x, xb)
        pg, eg, _ = run(g, x, xb)
        violation = float(np.max(np.abs(ph - a * pf - b * pg)))
        tol = _tolerance([eh, abs(a) * ef, abs(b) * eg], [np.max(np.abs(ph)), abs(a) * np.max(np.abs(pf)),
                                                         abs(b) * np.max(np.abs(pg))], 4)
        acc.add(violation, tol, f"a = {a:.3g}, b = {b:.3g}")
        c = -rng.uniform(0.5, 2.0)
        pc, ec, _ = run(stack_networks([f], [c]), x, xb)
        acc.add(float(np.max(np.abs(pc - c * pf))),
                _tolerance([ec, abs(c) * ef], [np.max(np.abs(pc)), abs(c) * np.max(np.abs(pf))], 2), f"scaling by {c:.3g}")


def _check_symmetry(acc, run, models, domain, rng, options):
    d = models[0].n_inputs
    for model in models:
        i, k = (int(t) for t in rng.choice(d, size=2, replace=False))
        perm = np.arange(d)
        perm[i], perm[k] = k, i
        sym = stack_networks([model, permute_inputs(model, perm)])
        x, xb = _random_point(rng, domain), _random_point(rng, domain)
        swapped_domain = Box(domain.lower.astype(float)[perm], domain.upper.astype(float)[perm])
        p1, e1, _ = run(sym, x, xb)
        p2, e2, _ = run(sym, x[perm], xb[perm], domain=swapped_domain, perm=perm)
        violation = float(np.max(np.abs(p2 - p1[perm])))
        acc.add(violation, _tolerance([e1, e2], [np.max(np.abs(p1)), np.max(np.abs(p2))], 2),
                f"features {i}, {k} swapped")


def _check_implementation_invariance(acc, run, models, domain, rng, options):
    d = models[0].n_inputs
    for model in models:
        x, xb = _random_point(rng, domain), _random_point(rng, domain)
        p0, e0, _ = run(model, x, xb)
        layer = int(rng.integers(len(model.weights) - 1))
        neuron = int(rng.integers(model.weights[layer].shape[0]))
        for name, twin in [("hidden permutation", permute_hidden(model, rng)),
                           (f"neuron {neuron} of layer {layer} split in halves", split_neuron(model, layer, neuron))]:
            p1, e1, _ = run(twin, x, xb)
            acc.add(float(np.max(np.abs(p1 - p0))), _tolerance([e0, e1], [np.max(np.abs(p0)), np.max(np.abs(p1))], 2),
                    name)
        # the bias-shift pair, on features 0 and 1, stacked on the random network
        A, B = bias_shift_pair(d)
        depth = max(len(model.weights), len(A.weights))
        fA = stack_networks([pad_depth(model, depth), pad_depth(A, depth)])
        fB = stack_networks([pad_depth(model, depth), pad_depth(B, depth)])
        lo, hi = domain.lower.astype(float), domain.upper.astype(float)
        if np.all(lo[:2] <= 0) and np.all(hi[:2] >= 0.9):
            xs, xbs = x.copy(), xb.copy()
            xs[:2], xbs[:2] = (0.9, 0.3), (0.0, 0.0)
            pA, eA, _ = run(fA, xs, xbs)
            pB, eB, _ = run(fB, xs, xbs)
            acc.add(float(np.max(np.abs(pA - pB))), _tolerance([eA, eB], [np.max(np.abs(pA)), np.max(np.abs(pB))], 2),
                    "bias of relu(z0) moved through the second layer")


_CHECKS = {
    "completeness": _check_completeness,
    "sensitivity": _check_sensitivity,
    "linearity": _check_linearity,
    "symmetry": _check_symmetry,
    "implementation_invariance": _check_implementation_invariance,
}


# ------------------------------------------------------------------------------------- the table
def table_methods() -> list[str]:
    """Every registered method that runs from (model, x, baseline) alone (not the user-supplied ``measure``)."""
    return [spec.name for spec in method_specs() if spec.tables]


def axiom_table(methods: Sequence[str] | None = None, rng=0, n_models: int = 3, print_table: bool = True,
                options: dict | None = None, **kwargs) -> dict[str, AxiomReport]:
    """Check every axiom for every method (default: all registered methods) and print the table.

    Each cell shows the largest measured violation and ``ok`` / ``X`` (passes / fails), with ``!``
    appended where the outcome contradicts :data:`PREDICTIONS`.  Returns {method: AxiomReport}.
    """
    methods = table_methods() if methods is None else list(methods)
    options = options or {}
    reports = {}
    for m in methods:
        reports[m] = check_axioms(m, n_models=n_models, rng=rng, options=options.get(m), **kwargs)
    if print_table:
        print(format_axiom_table(reports))
    return reports


def format_axiom_table(reports: dict[str, AxiomReport]) -> str:
    """The method x axiom table of measured violations (see :func:`axiom_table`)."""
    short = {"completeness": "completeness", "sensitivity": "sensitivity", "linearity": "linearity",
             "symmetry": "symmetry", "implementation_invariance": "impl. invariance"}
    axioms = [a for a in AXIOMS if any(a in r.checks for r in reports.values())]
    width = max([len("method")] + [len(m) for m in reports]) + 2
    cell = 20
    lines = ["method".ljust(width) + "".join(short[a].ljust(cell) for a in axioms) + "seconds"]
    for m, rep in reports.items():
        row = m.ljust(width)
        for a in axioms:
            c = rep.checks.get(a)
            if c is None:
                row += "-".ljust(cell)
                continue
            mark = "ok" if c.passed else "X"
            pred = rep.predictions.get(a)
            if pred is not None and bool(pred) != c.passed:
                mark += "!"
            row += f"{c.violation:8.1e} {mark}".ljust(cell)
        lines.append(row + f"{rep.seconds:.2f}")
    lines.append("ok: violation within the float tolerance; X: violated; !: contradicts the prediction "
                 "(PREDICTIONS in polyattr.theory.axioms)")
    return "\n".join(lines)
