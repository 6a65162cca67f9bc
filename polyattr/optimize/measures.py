"""Optimal attribution measures for a metric ([FAFP] §4.3, Theorem 4.1 and Corollary 4.1; THEORY.md §5).

An attribution is phi_j = integral of f d(mu_j) with mu_j a probability measure on a support S_j
(the domain, or the line through x along e_j).  Three optimisers:

* :func:`optimal_centres` -- f affine on the supports (a linear model): phi_j = a . c_j + b depends
  on mu_j only through its centre of mass c_j, which ranges over S_j.  The metric is optimised
  over the centres (LP, MILP for Recall@k, QP); the answer is the Dirac family at the centres and
  a different family with the same centres (uniform on a box or segment around each centre), whose
  attribution is the same -- the map from measures to centres is not injective.
* :func:`optimal_atomic_measures` -- any ReLU network: phi_j = sum_P w_P . m1_j(P) + b_P m0_j(P)
  (Corollary 4.1), linear in the per-region masses and first moments.  The measures are taken
  supported on the vertices of the linear regions in S_j (masses p_jn): phi_j = sum_n p_jn f(z_n),
  an LP/MILP/QP in p.  No probability measure on S_j does better: f is affine on every region, so
  its extremes over S_j are attained at region vertices, and every phi_j between them is a mixture
  of two vertex Diracs -- the atoms reach the whole attainable set.
* :func:`particle_ascent` -- gradient ascent in measure space ([FAFP] open question 2): each mu_j is
  a weighted particle measure; positions follow the gradient of the metric's first variation
  (d metric / d phi_j) f(z), projected onto S_j, and weights take multiplicative (mirror) steps
  along it (a Wasserstein-Fisher-Rao particle scheme).  A smooth surrogate stands in for Recall@k.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box, Segment, as_domain
from polyattr.geometry.regions import enumerate_regions
from polyattr.models.protocol import require_model
from polyattr.optimize.objectives import RecallAtK, soft_recall


# ----------------------------------------------------------------------------------- supports
def feature_supports(d: int, domain: Box, supports="domain", x=None):
    """Per feature j the bounds (lower_j, upper_j) of the support S_j of mu_j, as arrays (d,).

    ``"domain"``: S_j = the domain; ``"line"``: the segment through ``x`` along e_j inside the domain
    (x needed); or a sequence of d Boxes inside the domain.
    """
    lo, hi = np.asarray(domain.lower, float), np.asarray(domain.upper, float)
    if isinstance(supports, str):
        if supports == "domain":
            return [(lo.copy(), hi.copy()) for _ in range(d)]
        if supports == "line":
            if x is None:
                raise PolyattrError("x: supports='line' needs the input x (the lines pass through it)")
            x = np.asarray(domain.check_point(x, "x"), float)
            out = []
            for j in range(d):
                a, b = x.copy(), x.copy()
                a[j], b[j] = lo[j], hi[j]
                out.append((a, b))
            return out
        raise PolyattrError(f"supports: expected 'domain', 'line' or a list of Boxes, got {supports!r}")
    boxes = list(supports)
    if len(boxes) != d or not all(isinstance(b, Box) for b in boxes):
        raise PolyattrError(f"supports: expected {d} Boxes (one per feature), got {supports!r}")
    out = []
    for b in boxes:
        bl, bh = np.asarray(b.lower, float), np.asarray(b.upper, float)
        if np.any(bl < lo) or np.any(bh > hi):
            raise PolyattrError(f"supports: {b!r} is not inside the domain {domain!r}")
        out.append((bl, bh))
    return out


def _support_domain(lower, upper):
    """The polyattr domain of a support: a Box, or a Segment when only one coordinate varies."""
    free = np.nonzero(upper > lower)[0]
    if len(free) == len(lower):
        return Box(lower, upper)
    if len(free) == 1:
        return Segment(lower, upper)
    raise PolyattrError("supports: a support must be the full box or a segment along one coordinate")


# -------------------------------------------------------------------------------- linear model
@dataclass(frozen=True)
class CentreOptimum:
    """An optimal measure family for an affine model, through centres of mass (Theorem 4.1).

    ``centres[j]`` is the centre of mass of mu_j; ``attribution[j]`` = a . centres[j] + b;
    ``dirac_family`` and ``spread_family`` are two families of measures with these centres (Dirac
    at the centre; uniform on a box or segment of half-width ``spread[j]`` around it), different
    for every feature with ``spread[j] > 0``; ``spread[j] = 0`` when the optimal centre of mu_j is
    an extreme point of its support (then the Dirac is the only measure with that centre).
    """

    objective: object
    value: float
    centres: np.ndarray  # (d, d): row j = centre of mu_j
    attribution: np.ndarray
    weights: np.ndarray
    bias: float
    spread: np.ndarray  # (d,)
    dirac_family: list
    spread_family: list
    supports: list
    solver: str
    status: str


def affine_map_on(model, domain, output=None):
    """(a, b) of a model that is affine on ``domain`` (one linear region), else PolyattrError."""
    regions = enumerate_regions(model, domain)
    if len(regions) != 1:
        raise PolyattrError(f"model: optimal_centres needs a model affine on the domain (one linear region), got "
                            f"{len(regions)} regions; use optimal_atomic_measures for ReLU networks")
    W, b = regions.affine_maps(model.check_output(output))
    return np.asarray(W[0], float), float(b[0])


def optimal_centres(model, objective, x=None, domain=None, supports="domain", output=None,
                    solver: str | None = None) -> CentreOptimum:
    """Optimise a metric of phi over the centres of mass of the measures (linear models).

    Parameters
    ----------
    model : PiecewiseAffineModel affine on ``domain`` (e.g. a one-layer ReLUNetwork)
    objective : RecallAtK, LinearMetric or QuadraticMetric
    x : array-like, optional
        The input (needed for ``supports="line"``).
    domain : Box, default the unit cube
    supports : "domain", "line" or a list of Boxes
    """
    import cvxpy as cp

    model = require_model(model)
    d = model.n_inputs
    domain = as_domain(domain, d)
    objective.check(d)
    a, b = affine_map_on(model, domain, output)
    bounds = feature_supports(d, domain, supports, x)
    lows = np.array([lo for lo, _ in bounds])
    highs = np.array([hi for _, hi in bounds])
    free = highs > lows
    C = cp.Variable((d, d))
    phi = C @ a + b
    bound = float(np.abs(a) @ np.maximum(np.abs(lows), np.abs(highs)).max(axis=0) + abs(b))
    goal, extra, aux = objective.cvxpy_model(phi, bound)
    box = [C >= lows, C <= highs]
    problem = cp.Problem(cp.Maximize(goal), box + extra)
    used = _solve(problem, solver, mixed_integer=bool(aux))
    # Second stage: among optimal solutions, each centre as far from its support's boundary as
    # possible (a spread-out measure with the same centre then exists).  Recall keeps the chosen
    # top-k set and signs fixed; smooth metrics keep the optimal phi.
    rho = cp.Variable(d, nonneg=True)
    spread = [C[j, free[j]] >= lows[j, free[j]] + rho[j] for j in range(d)]
    spread += [C[j, free[j]] <= highs[j, free[j]] - rho[j] for j in range(d)]
    if aux:
        top = np.round(aux["top"].value)
        positive = np.round(aux["positive"].value)
        goal2, extra2, aux2 = objective.cvxpy_model(phi, bound)
        keep = extra2 + [aux2["top"] == top, aux2["positive"] == positive]
        stage2 = cp.Problem(cp.Maximize(cp.sum(rho)), box + spread + keep)
    else:
        phi_star = np.asarray(phi.value, float)
        stage2 = cp.Problem(cp.Maximize(cp.sum(rho)), box + spread + [phi == phi_star])
    _solve(stage2, solver, mixed_integer=bool(aux))
    if C.value is None:
        raise PolyattrError("optimal_centres: the centring stage found no solution")
    centres = np.clip(np.asarray(C.value, float), lows, highs)
    radii = np.zeros(d)
    for j in range(d):
        room = float(np.min(np.minimum(centres[j] - lows[j], highs[j] - centres[j])[free[j]]))
        r = min(max(0.0, float(rho.value[j]) * (1 - 1e-9)), room)
        # an extreme point (to solver accuracy): the Dirac is the only measure with this centre
        radii[j] = r if r > 1e-6 * float(np.max(highs[j] - lows[j])) else 0.0
    attribution = centres @ a + b
    dirac, spread_family = _families(centres, lows, highs, radii)
    return CentreOptimum(objective, objective.value(attribution), centres, attribution, a, b, radii,
                         dirac, spread_family, bounds, used, str(problem.status))


def _families(centres, lows, highs, radii):
    from polyattr.measures.core import Dirac, Uniform

    dirac = [Dirac(c) for c in centres]
    spread = []
    for c, lo, hi, r, mu in zip(centres, lows, highs, radii, dirac):
        if r <= 0:
            spread.append(mu)
            continue
        free = hi > lo
        a, b = c.copy(), c.copy()
        a[free] -= r
        b[free] += r
        spread.append(Uniform(Box(a, b) if np.all(free) else Segment(a, b)))
    return dirac, spread


def _solve(problem, solver, mixed_integer: bool):
    import cvxpy as cp

    installed = cp.installed_solvers()
    if solver is None:
        # mixed-integer: SciPy's milp (HiGHS branch and bound, without the banner cvxpy's HIGHS
        # interface prints on stdout); continuous: Clarabel (interior point, LPs and QPs)
        preferred = ("SCIPY", "HIGHS") if mixed_integer else ("CLARABEL", "HIGHS", "SCIPY")
        solver = next((s for s in preferred if s in installed), None)
    try:
        problem.solve(solver=solver)
    except cp.error.SolverError as exc:
        raise PolyattrError(f"optimal measures: solver {solver} failed ({exc})") from None
    if problem.status not in ("optimal", "optimal_inaccurate"):
        raise PolyattrError(f"optimal measures: cvxpy returned status {problem.status!r}")
    return str(solver)


# ------------------------------------------------------------------------------ ReLU networks
@dataclass(frozen=True)
class AtomicOptimum:
    """An optimal family of measures supported on region vertices (Corollary 4.1 form).

    ``atoms[j]`` (n_j, d) are the vertices of the linear regions in S_j, ``masses[j]`` (n_j,) the
    optimal probability weights, ``atom_values[j]`` f at the atoms; ``regions_of_atoms[j]`` the
    region each atom was taken from; ``region_masses[j]`` and ``region_first_moments[j]`` the
    per-region m0 and m1 of the optimal mu_j, whose contraction with the local affine maps is the
    attribution (Corollary 4.1); ``collapsed_family`` puts each region's mass at its centre of
    mass -- a measure with the same per-region moments and hence the same attribution.
    """

    objective: object
    value: float
    attribution: np.ndarray
    atoms: list
    masses: list
    atom_values: list
    regions_of_atoms: list
    region_masses: list
    region_first_moments: list
    region_maps: list  # per feature (W (n_regions, d), b (n_regions,))
    family: list
    collapsed_family: list
    intervals: np.ndarray  # (d, 2): attainable [min, max] of phi_j
    solver: str


def region_atoms(model, lower, upper, output=None):
    """Vertices of the linear regions of ``model`` in the support [lower, upper] (input coordinates).

    Returns (atoms (n, d), values (n,), region index per atom, W, b) with duplicates (vertices
    shared by neighbouring regions) kept once, attached to the first region listing them.
    """
    support = _support_domain(lower, upper)
    regions = enumerate_regions(model, support)
    k = model.check_output(output)
    W, b = regions.affine_maps(k)
    atoms, owner, seen = [], [], set()
    for i in range(len(regions)):
        V, _ = regions.vertices(i)
        Z = regions.reduction.lift(np.asarray(V, float))
        for z in Z:
            key = tuple(np.round(z, 12))
            if key not in seen:
                seen.add(key)
                atoms.append(z)
                owner.append(i)
    atoms = np.array(atoms)
    owner = np.array(owner)
    # f on each atom through its own region's affine map (exact up to rounding on the closure)
    values = np.einsum("nd,nd->n", W[owner], atoms) + b[owner]
    return atoms, values, owner, W, b


def optimal_atomic_measures(model, objective, x=None, domain=None, supports="domain", output=None,
                            solver: str | None = None) -> AtomicOptimum:
    """Optimise a metric over probability measures on S_j, one per feature, for a ReLU network.

    The measures are supported on the vertices of the linear regions of the model in each S_j,
    which reach every attainable attribution (see the module docstring).
    """
    import cvxpy as cp

    model = require_model(model)
    d = model.n_inputs
    domain = as_domain(domain, d)
    objective.check(d)
    bounds = feature_supports(d, domain, supports, x)
    per_feature = [region_atoms(model, lo, hi, output) for lo, hi in bounds]
    masses = [cp.Variable(len(v), nonneg=True) for _, v, *_ in per_feature]
    phi = cp.hstack([p @ v for p, (_, v, *_) in zip(masses, per_feature)])
    bound = max(float(np.max(np.abs(v))) for _, v, *_ in per_feature)
    goal, extra, aux = objective.cvxpy_model(phi, bound)
    problem = cp.Problem(cp.Maximize(goal), [cp.sum(p) == 1 for p in masses] + extra)
    used = _solve(problem, solver, mixed_integer=bool(aux))
    from polyattr.measures.core import Dirac, Discrete

    atoms, weights, values, owners, m0s, m1s, maps, family, collapsed = [], [], [], [], [], [], [], [], []
    attribution = np.zeros(d)
    for j, ((Z, v, owner, W, b), p) in enumerate(zip(per_feature, masses)):
        w = np.clip(np.asarray(p.value, float), 0.0, None)
        w /= w.sum()
        keep = w > 1e-12
        Z, v, owner, w = Z[keep], v[keep], owner[keep], w[keep]
        regions_used = np.unique(owner)
        m0 = np.array([w[owner == r].sum() for r in regions_used])
        m1 = np.array([w[owner == r] @ Z[owner == r] for r in regions_used])
        attribution[j] = float(np.sum(np.einsum("nd,nd->n", W[regions_used], m1) + b[regions_used] * m0))
        atoms.append(Z)
        weights.append(w)
        values.append(v)
        owners.append(owner)
        m0s.append(m0)
        m1s.append(m1)
        maps.append((W[regions_used], b[regions_used]))
        family.append(Discrete(Z, w) if len(w) > 1 else Dirac(Z[0]))
        collapsed.append(Discrete(m1 / m0[:, None], m0) if len(m0) > 1 else Dirac(m1[0] / m0[0]))
    intervals = np.array([[v.min(), v.max()] for _, v, *_ in per_feature])
    value = objective.value(attribution)
    return AtomicOptimum(objective, value, attribution, atoms, weights, values, owners, m0s, m1s, maps, family,
                         collapsed, intervals, used)


# -------------------------------------------------------------------------- particle ascent
@dataclass(frozen=True)
class ParticleAscent:
    """Gradient ascent in measure space: the final particle measures and the convergence trace."""

    objective: object
    positions: list  # per feature (M, d)
    weights: list  # per feature (M,)
    attribution: np.ndarray
    value: float  # the metric itself at the final attribution
    trace: np.ndarray  # (steps + 1,) the metric at every iterate
    surrogate_trace: np.ndarray  # (steps + 1,) the smooth objective that was ascended
    family: list = field(default_factory=list)


def _values_and_gradients(model, Z, output):
    """f and its gradient (the local affine map of each point's region) at the rows of Z."""
    Z = np.asarray(Z, float)
    W, b = model.local_affine_maps(model.activation_pattern(Z), output=output)
    W = np.asarray(W, float).reshape(len(Z), -1)
    return np.einsum("nd,nd->n", W, Z) + np.asarray(b, float).reshape(-1), W


def particle_ascent(model, objective, x=None, domain=None, supports="domain", output=None, n_particles: int = 16,
                    steps: int = 300, step_size: float = 0.05, weight_step: float = 2.0, temperature: float | None = None,
                    rng=None) -> ParticleAscent:
    """Projected gradient ascent on particle measures mu_j = sum_m p_jm delta_{z_jm}.

    Each step moves the particles of mu_j along g_j grad f(z) (g_j = d surrogate / d phi_j; the
    velocity of the Wasserstein gradient flow), projected back onto S_j, and reweights them by
    p_jm <- p_jm exp(eta g_j f(z_jm)) normalised (the Fisher-Rao part).  For smooth metrics g_j is
    divided by its value at the first step (steps shrink near the optimum; clipped to [-1, 1]); for Recall@k's
    surrogate only its sign is used.  Positions move by at most ``step_size`` times the support's
    width (times a 1/sqrt decay), weights by ``weight_step`` in log scale per unit of f / max|f|.

    Returns the metric and the smooth surrogate at every iterate.
    """
    rng = np.random.default_rng(rng)
    model = require_model(model)
    d = model.n_inputs
    domain = as_domain(domain, d)
    objective.check(d)
    k = model.check_output(output)
    net = model.to_float()
    bounds = feature_supports(d, domain, supports, x)
    lows = np.array([lo for lo, _ in bounds])
    highs = np.array([hi for _, hi in bounds])
    Z = [lo + (hi - lo) * rng.random((n_particles, d)) for lo, hi in bounds]
    P = [np.full(n_particles, 1.0 / n_particles) for _ in range(d)]
    scale = None
    trace, surrogate_trace = [], []

    def evaluate():
        vals, grads = zip(*(_values_and_gradients(net, z, k) for z in Z))
        phi = np.array([p @ v for p, v in zip(P, vals)])
        return phi, vals, grads

    for it in range(steps + 1):
        phi, vals, grads = evaluate()
        if scale is None:
            scale = max(float(np.max(np.abs(np.concatenate(vals)))), 1e-12)
        if isinstance(objective, RecallAtK):
            T = temperature if temperature is not None else 0.05 * scale
            s, g = soft_recall(objective, phi, T)
        else:
            s, g = objective.value(phi), objective.gradient(phi)
        trace.append(objective.value(phi))
        surrogate_trace.append(s)
        if it == steps:
            break
        if it == 0:
            g_scale = np.maximum(np.abs(g), 1e-12 * max(float(np.max(np.abs(g))), 1e-300))
        decay = 1.0 / np.sqrt(1.0 + it / 20.0)  # diminishing steps: sign steps settle instead of oscillating
        for j in range(d):
            # non-smooth metrics (Recall's surrogate) take block-normalised sign steps: a saturated
            # softmax makes some features' gradients orders of magnitude smaller than others'.
            if objective.smooth:
                # a gradient step, scaled per measure by its first gradient: steps shrink near the optimum
                direction = float(np.clip(g[j] / g_scale[j], -1.0, 1.0))
            else:
                direction = float(np.sign(g[j])) if abs(g[j]) > 1e-300 else 0.0
            width = highs[j] - lows[j]
            velocity = direction * grads[j] / max(float(np.max(np.abs(grads[j]))), 1e-300)
            Z[j] = np.clip(Z[j] + decay * step_size * width * velocity, lows[j], highs[j])
            logits = np.log(P[j]) + decay * weight_step * direction * (vals[j] - vals[j].max()) / scale
            P[j] = np.exp(logits - logits.max())
            P[j] /= P[j].sum()
    from polyattr.measures.core import Discrete

    return ParticleAscent(objective, Z, P, phi, objective.value(phi), np.array(trace), np.array(surrogate_trace),
                          [Discrete(z, p) for z, p in zip(Z, P)])


# ------------------------------------------------------------------------------------ picture
def plot_centre_landscape(result: CentreOptimum, path=None, resolution: int = 121, trace=None, coordinates=(0, 1)):
    """How moving one centre of mass changes the metric (others held at the optimum), per feature.

    One panel per feature j: the metric as a function of the centre c_j over the two given
    coordinates of its support, the optimal centre (dot), the box of the spread-out optimal measure
    with the same centre (square) and the iso-attribution lines a . c = const, along which the
    metric cannot change (Theorem 4.1).  ``trace`` (a ParticleAscent) adds its convergence panel.
    """
    import matplotlib.pyplot as plt

    d = len(result.attribution)
    i0, i1 = coordinates
    n_panels = d + (trace is not None)
    fig, axes = plt.subplots(1, n_panels, figsize=(4.2 * n_panels, 3.8), squeeze=False)
    axes = axes[0]
    for j in range(d):
        ax = axes[j]
        lo, hi = result.supports[j]
        u = np.linspace(lo[i0], hi[i0], resolution) if hi[i0] > lo[i0] else np.array([lo[i0]])
        v = np.linspace(lo[i1], hi[i1], resolution) if hi[i1] > lo[i1] else np.array([lo[i1]])
        U, V = np.meshgrid(u, v)
        metric = np.empty(U.shape)
        base = result.centres[j].copy()
        for (r, c), _ in np.ndenumerate(U):
            cj = base.copy()
            cj[i0], cj[i1] = U[r, c], V[r, c]
            phi = result.attribution.copy()
            phi[j] = result.weights @ cj + result.bias
            metric[r, c] = result.objective.value(phi)
        if len(u) > 1 and len(v) > 1:
            im = ax.pcolormesh(U, V, metric, shading="auto", cmap="viridis")
            ax.contour(U, V, result.weights[i0] * U + result.weights[i1] * V, levels=9, colors="white",
                       linewidths=0.6, linestyles="dashed")
            fig.colorbar(im, ax=ax, shrink=0.85)
        else:
            ax.plot(u if len(u) > 1 else v, metric.ravel(), color="C0")
        ax.plot(base[i0], base[i1], "o", color="red", label="optimal centre")
        if result.spread[j] > 0:
            r = result.spread[j]
            ax.add_patch(plt.Rectangle((base[i0] - r, base[i1] - r), 2 * r, 2 * r, fill=False, color="orange",
                                       label="spread measure"))
        ax.set_title(f"feature {j}: {result.objective.name} vs centre of mu_{j}", fontsize=9)
        ax.set_xlabel(f"c_{j}[{i0}]")
        ax.set_ylabel(f"c_{j}[{i1}]")
        ax.legend(loc="lower left", fontsize=7)
    if trace is not None:
        ax = axes[-1]
        gap = result.value - np.asarray(trace.trace)
        if np.all(gap[:-1] > 0):
            # distance to the optimum on a log scale shows the convergence rate
            ax.semilogy(np.maximum(gap, 1e-16), label=f"optimum - {result.objective.name}")
            ax.set_ylabel("gap to the LP/QP optimum")
        else:
            ax.plot(trace.trace, label=f"{result.objective.name} (particles)")
            ax.plot(trace.surrogate_trace, label="smooth surrogate", alpha=0.7)
            ax.axhline(result.value, color="red", linestyle="dotted", label="LP/MILP optimum")
        ax.set_xlabel("ascent step")
        ax.set_title("particle ascent in measure space", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
