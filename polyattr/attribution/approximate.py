"""Sampled approximations of attributions: the references users compare polyattr's exact values with.

Nothing here uses region enumeration or the measure objects' moments: every function evaluates the
model at points (numpy, batched) and is written from the method's definition (THEORY.md §3), so the
tests can use these functions as independent references.

* :func:`riemann_stieltjes_grid` -- the authors' scheme (THEORY.md §3.2): an N^d grid on the box,
  each cell (a, b] weighted by the 2^d-corner inclusion-exclusion of the distribution function
  F(a) = mu([l, a]) with sign (-1)^(d - |eps|), the model evaluated at the cell's lower corner.
  Cost N^d model calls, error O(1/N); a point mass is biased by one cell (N = 1000 gives 0.998 for
  an exact 1.0).  :func:`distribution_functions` gives F for the methods of THEORY.md §3.3.
* :func:`monte_carlo` -- the mean of i.i.d. weighted samples with a standard error and a normal
  confidence interval.
* :func:`riemann_ig` -- Integrated Gradients by a Riemann sum with batched numpy gradients.
* :func:`sampled_attribution` -- for a method name, a sampled estimate with its standard error
  (Monte Carlo) or an error estimate (Riemann sums), where sampling makes sense.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from itertools import product
from typing import Callable, Sequence

import numpy as np

from polyattr.errors import PolyattrError

# A distribution function takes corners of shape (n, d) and returns F at each corner, shape (n,).
DistributionFunction = Callable[[np.ndarray], np.ndarray]

_CHUNK = 2**15  # rows per batch of model evaluations

#: Largest number of grid cells :func:`riemann_stieltjes_grid` accepts unless told otherwise.
MAX_GRID_CELLS = 2 * 10**8


# ----------------------------------------------------------------------------- model evaluation
def _box_arrays(domain, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) as float arrays from None (unit cube), a (lower, upper) pair or a Box."""
    if domain is None:
        return np.zeros(d), np.ones(d)
    if isinstance(domain, tuple) and len(domain) == 2:
        lo, hi = domain
    elif hasattr(domain, "lower") and hasattr(domain, "upper"):
        lo, hi = domain.lower, domain.upper
    else:
        raise PolyattrError(f"domain: expected None, (lower, upper) or a Box, got {type(domain).__name__}")
    lo = np.asarray([float(v) for v in lo], dtype=float)
    hi = np.asarray([float(v) for v in hi], dtype=float)
    if lo.shape != (d,) or hi.shape != (d,) or not np.all(lo < hi):
        raise PolyattrError(f"domain: expected lower < upper with {d} coordinates each, got {lo} and {hi}")
    return lo, hi


def network_function(model, output: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A plain numpy forward pass z (n, d) -> f(z) (n,) of a ReLU network's scalar output.

    Written out here (ReLU after every layer but the last) rather than calling the model, so the
    references depend on nothing but the weights.
    """
    net = model.to_float()
    k = net.check_output(output)
    Ws = [np.asarray(W, float) for W in net.weights]
    bs = [np.asarray(b, float) for b in net.biases]

    def forward(h):
        for W, b in zip(Ws[:-1], bs[:-1]):
            h = np.maximum(h @ W.T + b, 0.0)
        return h @ Ws[-1][k] + bs[-1][k]

    def f(Z):
        Z = np.atleast_2d(np.asarray(Z, float))
        if Z.shape[0] <= _CHUNK:
            return forward(Z)
        # in chunks: hidden activations of millions of points would not stay in cache
        return np.concatenate([forward(Z[i : i + _CHUNK]) for i in range(0, Z.shape[0], _CHUNK)])

    f.n_inputs = net.n_inputs
    return f


def network_gradient(model, output: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Batched gradients z (n, d) -> grad f(z) (n, d) of a ReLU network (ties read as inactive)."""
    net = model.to_float()
    k = net.check_output(output)
    Ws = [np.asarray(W, float) for W in net.weights]
    bs = [np.asarray(b, float) for b in net.biases]

    def grad(Z):
        Z = np.atleast_2d(np.asarray(Z, float))
        if Z.shape[0] > _CHUNK:
            return np.concatenate([grad(Z[i : i + _CHUNK]) for i in range(0, Z.shape[0], _CHUNK)])
        h = Z
        masks = []
        for W, b in zip(Ws[:-1], bs[:-1]):
            pre = h @ W.T + b
            masks.append(pre > 0)
            h = np.maximum(pre, 0.0)
        g = np.broadcast_to(Ws[-1][k], (h.shape[0], Ws[-1].shape[1])).copy()
        for W, mask in zip(reversed(Ws[:-1]), reversed(masks)):
            g = (g * mask) @ W
        return g

    return grad


def _as_function(f) -> Callable[[np.ndarray], np.ndarray]:
    """A model or a callable -> a batched callable (n, d) -> (n,)."""
    if hasattr(f, "weights") and hasattr(f, "biases"):
        return network_function(f)
    if not callable(f):
        raise PolyattrError(f"f: expected a ReLUNetwork or a callable (n, d) -> (n,), got {type(f).__name__}")
    return f


# ------------------------------------------------------------------ Riemann-Stieltjes on a grid
@dataclass(frozen=True)
class GridResult:
    """Riemann-Stieltjes sums of one or several distribution functions on the same grid."""

    values: np.ndarray  # one per distribution function
    N: int
    cells: int
    seconds: float


def riemann_stieltjes_grid(f, F, N: int, domain=None, *, max_cells: int = MAX_GRID_CELLS,
                           chunk_cells: int = 2**18) -> GridResult:
    """The authors' Riemann-Stieltjes approximation of integral f dmu on an N^d grid.

    The box [l, u] is cut into N^d cells (a, a + h] with h = (u - l)/N.  The mass of a cell is the
    inclusion-exclusion over its 2^d corners of the distribution function,

        mu((a, a + h]) = sum_{eps in {0,1}^d} (-1)^(d - |eps|) F(a + eps * h),

    and the cell contributes f(a) times that mass (f at the lower corner).

    Parameters
    ----------
    f : ReLUNetwork or callable (n, d) -> (n,)
    F : callable, Measure, a sequence of them, or a method description
        Distribution function(s) F(a) = mu([l, a]) taking corners (n, d) and returning (n,); a
        polyattr Measure is converted by :func:`measure_distribution`.  A method description is a
        dict accepted by :func:`distribution_functions`, e.g. ``{"method": "pdp", "x": x}``.
    N : int
        Cells per axis.
    domain : None, (lower, upper) or Box
        Default the unit cube.
    max_cells : int
        Refuse grids with more than this many cells (N^d grows fast).

    Returns
    -------
    GridResult
        ``values[i]`` is the sum for ``F[i]``.
    """
    start = time.perf_counter()
    f = _as_function(f)
    from polyattr.measures.core import Measure

    if isinstance(F, dict):
        Fs = distribution_functions(domain=domain, **F)
    elif isinstance(F, Measure):
        Fs = [measure_distribution(F, domain)]
    elif callable(F):
        Fs = [F]
    else:
        Fs = [measure_distribution(g, domain) if isinstance(g, Measure) else g for g in F]
        if not Fs or not all(callable(g) for g in Fs):
            raise PolyattrError("F: expected a callable, a Measure, a non-empty sequence of them, or a method description")
    if isinstance(N, bool) or not isinstance(N, (int, np.integer)) or N < 1:
        raise PolyattrError(f"N: expected a positive integer, got {N!r}")
    N = int(N)
    d = getattr(f, "n_inputs", None) or (len(domain[0]) if isinstance(domain, tuple) else
                                         (domain.dim if domain is not None else None))
    if d is None:
        raise PolyattrError("domain: cannot infer the dimension; pass domain=(lower, upper)")
    lo, hi = _box_arrays(domain, d)
    cells = N**d
    if cells > max_cells:
        raise PolyattrError(f"N: an N^d grid with N = {N}, d = {d} has {cells:.3g} cells, more than "
                            f"max_cells = {max_cells:.3g}")
    h = (hi - lo) / N
    axes = [lo[i] + h[i] * np.arange(N + 1) for i in range(d)]
    axes = [np.where(np.arange(N + 1) == N, hi[i], a) for i, a in enumerate(axes)]  # exact upper face
    totals = np.zeros(len(Fs))
    # chunk over the first axis so that big grids stream through memory
    rows = max(1, chunk_cells // max(1, N ** (d - 1)))
    corners_eps = list(product((0, 1), repeat=d))
    for i0 in range(0, N, rows):
        i1 = min(N, i0 + rows)
        sub_axes = [axes[0][i0 : i1 + 1]] + axes[1:]
        shape = tuple(len(a) for a in sub_axes)
        grid = np.stack(np.meshgrid(*sub_axes, indexing="ij"), axis=-1).reshape(-1, d)
        lower_slices = (slice(0, shape[0] - 1),) + tuple(slice(0, N) for _ in range(d - 1))
        lower = grid.reshape(*shape, d)[lower_slices].reshape(-1, d)
        fvals = np.asarray(f(lower), float).reshape(-1)
        for k, Fk in enumerate(Fs):
            Fgrid = np.asarray(Fk(grid), float).reshape(shape)
            mass = np.zeros(tuple(s - 1 for s in shape))
            for eps in corners_eps:
                sl = tuple(slice(e, s - 1 + e) for e, s in zip(eps, shape))
                sign = -1.0 if (d - sum(eps)) % 2 else 1.0
                mass += sign * Fgrid[sl]
            totals[k] += float(fvals @ mass.reshape(-1))
    return GridResult(totals, N, cells, time.perf_counter() - start)


def _step(a: np.ndarray, point: float, lower: float) -> np.ndarray:
    """The distribution function of a unit point mass at ``point`` on one axis.

    1{a >= point}, except at the lower face where the mass is put just inside (1{a > lower}): F must
    vanish on the lower faces for the inclusion-exclusion to see it (THEORY.md §3.2).
    """
    if point <= lower:
        return (a > lower).astype(float)
    return (a >= point).astype(float)


def _uniform_cdf(a: np.ndarray, lower: float, upper: float) -> np.ndarray:
    return np.clip((a - lower) / (upper - lower), 0.0, 1.0)


def product_distribution(factors: Sequence, lower, upper, mass: float = 1.0) -> DistributionFunction:
    """F of a product measure: ``factors[i]`` is ("dirac", v), ("uniform",) or ("lebesgue",) for axis i."""
    lower = np.asarray(lower, float)
    upper = np.asarray(upper, float)

    def F(A):
        A = np.atleast_2d(A)
        out = np.full(A.shape[0], float(mass))
        for i, fac in enumerate(factors):
            if fac[0] == "dirac":
                out *= _step(A[:, i], float(fac[1]), lower[i])
            elif fac[0] == "uniform":
                out *= _uniform_cdf(A[:, i], lower[i], upper[i])
            elif fac[0] == "lebesgue":
                out *= np.clip(A[:, i], lower[i], upper[i]) - lower[i]
            else:
                raise PolyattrError(f"factors[{i}]: unknown factor {fac!r}")
        return out

    return F


def linear_combination(terms: Sequence[tuple[float, DistributionFunction]]) -> DistributionFunction:
    """F of a signed combination sum_i c_i mu_i from the F of each mu_i."""
    terms = list(terms)

    def F(A):
        A = np.atleast_2d(A)
        out = np.zeros(A.shape[0])
        for c, Fi in terms:
            out += c * Fi(A)
        return out

    return F


def _hybrid(x, baseline, subset):
    z = np.array(baseline, float).copy()
    for i in subset:
        z[i] = x[i]
    return z


def _shapley_weight(s: int, d: int) -> float:
    return math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d)


@dataclass
class DistributionProblem:
    """The point, baseline and box a method's distribution functions are built from (float arrays)."""

    x: np.ndarray | None
    baseline: np.ndarray | None
    lo: np.ndarray
    hi: np.ndarray

    @property
    def d(self) -> int:
        return self.lo.shape[0]

    def dirac(self, p) -> DistributionFunction:
        return product_distribution([("dirac", v) for v in p], self.lo, self.hi)

    def slice_(self, subset) -> DistributionFunction:
        """delta_{x_S} (x) uniform on the other coordinates."""
        return product_distribution([("dirac", self.x[i]) if i in subset else ("uniform",) for i in range(self.d)],
                                    self.lo, self.hi)


def distribution_functions(method: str, x=None, baseline=None, domain=None, d: int | None = None) -> list:
    """The distribution functions F_{j,x}(a) = mu_{j,x}([l, a]) of a method's measures (THEORY.md §3.3).

    Supported: the methods whose spec names a ``distribution`` (``occlusion``, ``shapley``
    (baseline), ``shapley_uniform``, ``pdp``, ``ice`` (centred ICE value), ``fafp_local``,
    ``fafp_global``): the ``distribution_*`` functions below, written from the definitions,
    independently of :mod:`polyattr.attribution.measure_methods`.
    """
    from polyattr.attribution.registry import get_method

    spec = get_method(method)
    if spec.distribution is None:
        raise PolyattrError(f"method: no distribution functions for {method!r}; expected one of "
                            + ", ".join(s.name for s in _specs_with_distributions()))
    if x is None and d is None:
        raise PolyattrError("x: needed (or d= for fafp_global)")
    d = len(x) if x is not None else int(d)
    lo, hi = _box_arrays(domain, d)
    x = None if x is None else np.asarray([float(v) for v in x], float)
    if baseline is None and spec.needs_baseline:
        baseline = np.zeros(d)
    bl = None if baseline is None else np.asarray([float(v) for v in baseline], float)
    return spec.distribution(DistributionProblem(x, bl, lo, hi))


def _specs_with_distributions():
    from polyattr.attribution.registry import method_specs

    return [s for s in method_specs() if s.distribution is not None]


def distribution_occlusion(p: DistributionProblem) -> list:
    """delta_x - delta_{x with x_j := x'_j}."""
    d, x = p.d, p.x
    return [linear_combination([(1.0, p.dirac(x)), (-1.0, p.dirac(_hybrid(x, p.baseline, [i for i in range(d) if i != j])))])
            for j in range(d)]


def _shapley_distributions(p: DistributionProblem, point) -> list:
    d = p.d
    family = []
    for j in range(d):
        others = [i for i in range(d) if i != j]
        terms = []
        for mask in product((0, 1), repeat=d - 1):
            S = [i for i, m in zip(others, mask) if m]
            w = _shapley_weight(len(S), d)
            terms += [(w, point(set(S) | {j})), (-w, point(set(S)))]
        family.append(linear_combination(terms))
    return family


def distribution_shapley(p: DistributionProblem) -> list:
    """Baseline Shapley: weighted differences of Dirac masses at hybrid points."""
    return _shapley_distributions(p, lambda S: p.dirac(_hybrid(p.x, p.baseline, S)))


def distribution_shapley_uniform(p: DistributionProblem) -> list:
    """Interventional Shapley, uniform background: weighted differences of slice measures."""
    return _shapley_distributions(p, p.slice_)


def distribution_pdp(p: DistributionProblem) -> list:
    """delta_{x_j} (x) uniform on the other coordinates."""
    return [p.slice_({j}) for j in range(p.d)]


def distribution_ice(p: DistributionProblem) -> list:
    """delta_x - uniform on the line through x along e_j."""
    family = []
    for j in range(p.d):
        line = product_distribution([("uniform",) if i == j else ("dirac", p.x[i]) for i in range(p.d)], p.lo, p.hi)
        family.append(linear_combination([(1.0, p.dirac(p.x)), (-1.0, line)]))
    return family


def distribution_fafp_local(p: DistributionProblem) -> list:
    """delta at the point with z_j = x_j and the other coordinates at the lower corner."""
    d = p.d
    return [p.dirac(np.where(np.arange(d) == j, p.x[j] if p.x is not None else 0.0, p.lo)) for j in range(d)]


def distribution_fafp_global(p: DistributionProblem) -> list:
    """2 x Lebesgue on the edge {l + t e_j}: the other coordinates are point masses at the lower face."""
    d = p.d
    return [product_distribution([("lebesgue",) if i == j else ("dirac", p.lo[i]) for i in range(d)], p.lo, p.hi,
                                 mass=2.0) for j in range(d)]


def _poly_cdf(a: np.ndarray, coeffs, lower: float, upper: float) -> np.ndarray:
    """integral from lower to clip(a) of c0 + c1 t + c2 t^2 + ... dt."""
    t = np.clip(a, lower, upper)
    return sum(float(c) * (t ** (p + 1) - lower ** (p + 1)) / (p + 1) for p, c in enumerate(coeffs))


def measure_distribution(measure, domain=None) -> DistributionFunction:
    """The distribution function F(a) = mu([l, a]) of a polyattr Measure, for the grid scheme.

    Supports point pieces (Dirac, Discrete, Empirical), uniform or polynomial densities on boxes
    and on affine slices of boxes, and uniform densities on axis-parallel segments: the product
    measures the grid can represent.  Point masses on the lower face of the domain are put just
    inside it (see :func:`_step`).
    """
    from polyattr.geometry.domains import AffineSlice, Box, Segment
    from polyattr.measures.core import DensityPiece, PointPiece

    d = measure.ambient_dim
    lo, hi = _box_arrays(domain, d)
    parts = []
    for coef, piece in measure.terms:
        c = float(coef)
        if isinstance(piece, PointPiece):
            pts = piece.points.astype(float)
            w = piece.weights.astype(float)

            def F(A, pts=pts, w=w):
                out = np.zeros(A.shape[0])
                for p, wi in zip(pts, w):
                    term = np.full(A.shape[0], wi)
                    for k in range(d):
                        term *= _step(A[:, k], p[k], lo[k])
                    out += term
                return out

            parts.append((c, F))
            continue
        if not isinstance(piece, DensityPiece):  # pragma: no cover - Measure validates its pieces
            raise PolyattrError(f"measure: unsupported piece {type(piece).__name__}")
        dom, scale = piece.domain, float(piece.density_scale())
        if getattr(piece, "polynomial", None) is not None:
            raise PolyattrError("measure: the sampled reference covers per-coordinate (product) polynomial densities only")
        polys = piece.polynomials or {}
        factors = []  # per input coordinate: callable a -> factor
        if isinstance(dom, (Box, AffineSlice)):
            box = dom if isinstance(dom, Box) else dom.box
            fixed = {} if isinstance(dom, Box) else {i: float(v) for i, v in dom.fixed.items()}
            free = [i for i in range(d) if i not in fixed]
            for k in range(d):
                if k in fixed:
                    factors.append(lambda a, v=fixed[k], k=k: _step(a, v, lo[k]))
                    continue
                blo, bhi = float(box.lower[k]), float(box.upper[k])
                coeffs = polys.get(free.index(k))
                if coeffs is None:
                    factors.append(lambda a, blo=blo, bhi=bhi: np.clip(a, blo, bhi) - blo)
                else:
                    factors.append(lambda a, c=coeffs, blo=blo, bhi=bhi: _poly_cdf(a, c, blo, bhi))
        elif isinstance(dom, Segment):
            start, end = dom.start.astype(float), dom.end.astype(float)
            moving = np.flatnonzero(start != end)
            if moving.size != 1 or polys:
                raise PolyattrError("measure: the grid scheme takes uniform laws on axis-parallel segments only")
            m = int(moving[0])
            for k in range(d):
                if k != m:
                    factors.append(lambda a, v=start[k], k=k: _step(a, v, lo[k]))
                else:  # the t-length of {t : z_m(t) <= a}, whichever way the segment runs
                    s0, s1 = sorted((start[m], end[m]))
                    factors.append(lambda a, s0=s0, s1=s1: np.clip((a - s0) / (s1 - s0), 0.0, 1.0))
        else:
            raise PolyattrError(f"measure: the grid scheme needs a box, slice or segment support, got {type(dom).__name__}")

        def F(A, factors=factors, scale=scale):
            out = np.full(A.shape[0], scale)
            for k, fk in enumerate(factors):
                out *= fk(A[:, k])
            return out

        parts.append((c, F))
    return linear_combination(parts)


# --------------------------------------------------------------------------------- Monte Carlo
@dataclass(frozen=True)
class MonteCarloResult:
    """A Monte Carlo estimate: mean, standard error and a normal confidence interval."""

    mean: np.ndarray
    stderr: np.ndarray
    n: int
    confidence: float
    seconds: float

    @property
    def halfwidth(self) -> np.ndarray:
        from scipy.stats import norm

        return norm.ppf(0.5 + self.confidence / 2) * self.stderr

    @property
    def interval(self) -> tuple[np.ndarray, np.ndarray]:
        return self.mean - self.halfwidth, self.mean + self.halfwidth


def monte_carlo(f, sampler, n: int, rng=None, *, batch: int = 2**17, confidence: float = 0.999) -> MonteCarloResult:
    """Estimate E[w f(Z)] from ``n`` samples, with a standard error and a confidence interval.

    Parameters
    ----------
    f : ReLUNetwork or callable (n, d) -> (n,) or (n, m)
    sampler : callable (n, rng) -> points (n, d), or -> (points, weights (n,))
        Draws i.i.d. samples; optional weights give signed or scaled measures (the estimate is the
        mean of weights * f(points)).
    n : int
    rng : seed or numpy Generator (normalised with ``numpy.random.default_rng``)
    confidence : float
        Level of the two-sided normal interval.
    """
    start = time.perf_counter()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise PolyattrError(f"n: expected an integer >= 2, got {n!r}")
    rng = np.random.default_rng(rng)
    f = _as_function(f)
    s1 = s2 = None
    done = 0
    while done < n:
        m = min(batch, n - done)
        drawn = sampler(m, rng)
        pts, w = drawn if isinstance(drawn, tuple) else (drawn, None)
        vals = np.asarray(f(pts), float)
        if w is not None:
            w = np.asarray(w, float)
            vals = vals * (w if vals.ndim == 1 else w[:, None])
        s1 = vals.sum(axis=0) if s1 is None else s1 + vals.sum(axis=0)
        s2 = (vals**2).sum(axis=0) if s2 is None else s2 + (vals**2).sum(axis=0)
        done += m
    mean = s1 / n
    var = np.maximum(s2 / n - mean**2, 0.0) * n / (n - 1)
    return MonteCarloResult(np.asarray(mean), np.sqrt(var / n), n, confidence, time.perf_counter() - start)


# --------------------------------------------------------------------------------- Riemann IG
def riemann_ig(model, x, baseline=None, steps: int = 50, *, rule: str = "midpoint", output: int | None = None) -> np.ndarray:
    """Integrated Gradients by a Riemann sum: (x - x') * mean_k grad f(x' + t_k (x - x')).

    ``rule`` chooses t_k: "left" (k/steps), "right" ((k+1)/steps), "midpoint" ((k + 1/2)/steps)
    or "trapezoid".  Gradients are computed in one batched numpy pass.
    """
    grad = network_gradient(model, output)
    x = np.asarray([float(v) for v in x], float)
    xb = np.zeros_like(x) if baseline is None else np.asarray([float(v) for v in baseline], float)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise PolyattrError(f"steps: expected a positive integer, got {steps!r}")
    k = np.arange(steps)
    if rule == "left":
        ts, w = k / steps, np.full(steps, 1.0 / steps)
    elif rule == "right":
        ts, w = (k + 1) / steps, np.full(steps, 1.0 / steps)
    elif rule == "midpoint":
        ts, w = (k + 0.5) / steps, np.full(steps, 1.0 / steps)
    elif rule == "trapezoid":
        ts = np.arange(steps + 1) / steps
        w = np.full(steps + 1, 1.0 / steps)
        w[[0, -1]] /= 2
    else:
        raise PolyattrError(f"rule: expected left, right, midpoint or trapezoid, got {rule!r}")
    G = grad(xb[None, :] + ts[:, None] * (x - xb)[None, :])
    return (x - xb) * (w @ G)


# ------------------------------------------------------------------------ estimates by method
@dataclass(frozen=True)
class SampledEstimate:
    """A sampled or quadrature estimate of an attribution.

    ``stderr`` is the Monte Carlo standard error per feature (None for deterministic rules);
    ``error_estimate`` is a deterministic rule's estimated error (None for Monte Carlo).
    """

    method: str
    values: np.ndarray
    kind: str  # "monte_carlo", "riemann" or "evaluation"
    n: int  # samples, steps or evaluations
    stderr: np.ndarray | None = None
    error_estimate: np.ndarray | None = None
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def uncertainty(self) -> np.ndarray:
        """stderr for Monte Carlo, the error estimate for deterministic rules, 0 for plain evaluations."""
        if self.stderr is not None:
            return self.stderr
        if self.error_estimate is not None:
            return self.error_estimate
        return np.zeros_like(self.values)


@dataclass
class SamplingProblem:
    """What a sampled reference needs: the model as a batched function, the point, the box, the budget.

    Built by :func:`sampled_attribution`; each ``sampled_*`` function below estimates one method from
    its definition (a method's spec names its function, see
    :class:`~polyattr.attribution.registry.MethodSpec`).
    """

    model: object
    output: int | None
    f: Callable[[np.ndarray], np.ndarray]
    x: np.ndarray
    baseline: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    rng: np.random.Generator
    n: int
    steps: int
    radius: object
    options: dict
    method: str
    start: float

    @property
    def d(self) -> int:
        return self.x.shape[0]

    def uniform(self, m: int) -> np.ndarray:
        return self.lo + (self.hi - self.lo) * self.rng.random((m, self.d))

    def done(self, values, kind, count, stderr=None, err=None, how: str = "", **info) -> SampledEstimate:
        info["how"] = how
        return SampledEstimate(self.method, np.asarray(values, float), kind, int(count),
                               None if stderr is None else np.asarray(stderr, float),
                               None if err is None else np.asarray(err, float), time.perf_counter() - self.start, info)


def sampled_attribution(model, x, method: str, baseline=None, domain=None, *, n: int = 10**5, rng=None,
                        output: int | None = None, steps: int = 50, radius: float = 0.1,
                        options: dict | None = None) -> SampledEstimate | None:
    """A sampled estimate of ``method``'s attribution, or None where sampling makes no sense.

    The estimate is the method's spec's ``sampled`` function (one of the ``sampled_*`` functions of
    this module for polyattr's methods):

    * ``pdp``, ``ice``, ``fafp_global``, ``shapley_uniform`` (random permutations and background
      points), ``shapley`` (random permutations), ``smoothgrad_uniform``,
      ``expected_gradients_uniform``, ``lime_uniform`` (least squares on samples): Monte Carlo with
      ``n`` samples and a standard error per feature;
    * ``ig`` (and ``expected_gradients``, over its background): a ``steps``-point midpoint Riemann
      sum, error estimated by the midpoint-trapezoid gap;
    * ``occlusion``, ``fafp_local``, ``gradient``, ``gradient_x_input``: finitely many model
      evaluations (a finite-difference gradient for the gradient methods), no sampling error;
    * ``deeplift``, ``epsilon_lrp``, ``measure``: None.

    ``radius`` is the half-width of the noise box [x - r, x + r] of smoothgrad_uniform and
    lime_uniform (not clipped to the domain: the network is defined everywhere); ``options`` are
    the method's other options (``background`` of expected_gradients).
    """
    from polyattr.attribution.registry import get_method

    spec = get_method(method)
    start = time.perf_counter()
    f = network_function(model, output)
    d = f.n_inputs
    lo, hi = _box_arrays(domain, d)
    x = np.asarray([float(v) for v in x], float)
    if x.shape != (d,):
        raise PolyattrError(f"x: expected {d} values, got {x.shape}")
    xb = np.zeros(d) if baseline is None else np.asarray([float(v) for v in baseline], float)
    options = dict(options or {})
    radius = options.get("radius", radius)
    problem = SamplingProblem(model, output, f, x, xb, lo, hi, np.random.default_rng(rng), int(n), steps,
                              np.asarray(radius, float), options, method, start)
    return None if spec.sampled is None else spec.sampled(problem)


def sampled_occlusion(p: SamplingProblem) -> SampledEstimate:
    """f(x) - f(x with x_j := x'_j), d + 1 evaluations."""
    d, x = p.d, p.x
    Z = np.repeat(x[None, :], d, axis=0)
    Z[np.arange(d), np.arange(d)] = p.baseline
    return p.done(p.f(x[None, :])[0] - p.f(Z), "evaluation", d + 1, how="direct evaluation")


def sampled_fafp_local(p: SamplingProblem) -> SampledEstimate:
    """f at the point with z_j = x_j and the other coordinates at the lower corner."""
    d = p.d
    Z = np.repeat(p.lo[None, :], d, axis=0)
    Z[np.arange(d), np.arange(d)] = p.x
    return p.done(p.f(Z), "evaluation", d, how="direct evaluation")


def _central_differences(p: SamplingProblem) -> np.ndarray:
    # step inside the box; exact for the affine piece when no kink is crossed
    d, x, lo, hi = p.d, p.x, p.lo, p.hi
    h = 1e-6 * (hi - lo)
    Zp = np.repeat(x[None, :], d, axis=0)
    Zm = Zp.copy()
    Zp[np.arange(d), np.arange(d)] = np.minimum(x + h, hi)
    Zm[np.arange(d), np.arange(d)] = np.maximum(x - h, lo)
    return (p.f(Zp) - p.f(Zm)) / (np.diag(Zp) - np.diag(Zm))


def sampled_gradient(p: SamplingProblem) -> SampledEstimate:
    """The gradient by central differences."""
    return p.done(_central_differences(p), "evaluation", 2 * p.d, how="central differences")


def sampled_gradient_x_input(p: SamplingProblem) -> SampledEstimate:
    """Central differences times x."""
    return p.done(_central_differences(p) * p.x, "evaluation", 2 * p.d, how="central differences")


def sampled_ig(p: SamplingProblem) -> SampledEstimate:
    """A midpoint Riemann sum of IG; error estimated by the midpoint-trapezoid gap."""
    mid = riemann_ig(p.model, p.x, p.baseline, p.steps, rule="midpoint", output=p.output)
    trap = riemann_ig(p.model, p.x, p.baseline, p.steps, rule="trapezoid", output=p.output)
    return p.done(mid, "riemann", p.steps, err=np.abs(mid - trap), rule="midpoint", how=f"riemann sum, {p.steps} steps")


def sampled_expected_gradients(p: SamplingProblem) -> SampledEstimate:
    """The mean over the ``background`` option's rows of a 10 x ``steps`` midpoint Riemann IG."""
    background = np.atleast_2d(np.asarray(p.options["background"], float))
    steps = 10 * p.steps
    values = np.mean([riemann_ig(p.model, p.x, b, steps, output=p.output) for b in background], axis=0)
    return p.done(values, "riemann", steps * len(background),
                  how=f"riemann IG, {steps} steps x {len(background)} baselines")


def _mc_how(p: SamplingProblem, stderr) -> str:
    return f"monte carlo n={p.n:.0e}, stderr {float(np.max(stderr)):.1e}"


def _per_feature_monte_carlo(p: SamplingProblem, sampler_for, finish=lambda j, mean: mean) -> SampledEstimate:
    means, errs = [], []
    for j in range(p.d):
        r = monte_carlo(p.f, sampler_for(j), p.n, p.rng)
        means.append(float(finish(j, r.mean)))
        errs.append(float(r.stderr))
    return p.done(means, "monte_carlo", p.n * p.d, stderr=errs, how=_mc_how(p, errs))


def sampled_pdp(p: SamplingProblem) -> SampledEstimate:
    """E f(x_j, Z_-j), Z uniform on the box: Monte Carlo per feature."""
    def sampler_for(j):
        def sampler(m, rng):
            Z = p.uniform(m)
            Z[:, j] = p.x[j]
            return Z
        return sampler

    return _per_feature_monte_carlo(p, sampler_for)


def sampled_ice(p: SamplingProblem) -> SampledEstimate:
    """f(x) - E f(x with x_j := U), U uniform on [lower_j, upper_j]: Monte Carlo per feature."""
    def sampler_for(j):
        def sampler(m, rng):
            Z = np.repeat(p.x[None, :], m, axis=0)
            Z[:, j] = p.lo[j] + (p.hi[j] - p.lo[j]) * rng.random(m)
            return Z
        return sampler

    fx = p.f(p.x[None, :])[0]
    return _per_feature_monte_carlo(p, sampler_for, lambda j, mean: fx - mean)


def sampled_fafp_global(p: SamplingProblem) -> SampledEstimate:
    """2 x the integral of f along the box edge from the lower corner in direction e_j: Monte Carlo."""
    def sampler_for(j):
        def sampler(m, rng):
            Z = np.repeat(p.lo[None, :], m, axis=0)
            Z[:, j] = p.lo[j] + (p.hi[j] - p.lo[j]) * rng.random(m)
            return Z, np.full(m, 2.0 * (p.hi[j] - p.lo[j]))
        return sampler

    return _per_feature_monte_carlo(p, sampler_for)


def sampled_shapley(p: SamplingProblem) -> SampledEstimate:
    """Baseline Shapley by random permutations."""
    return _permutation_shapley(p, uniform_background=False)


def sampled_shapley_uniform(p: SamplingProblem) -> SampledEstimate:
    """Interventional Shapley by random permutations and background points uniform on the box."""
    return _permutation_shapley(p, uniform_background=True)


def _noise_box(p: SamplingProblem):
    # the noise box [x - r, x + r] is not clipped to the domain (as polyattr's methods define it)
    return p.x - p.radius, p.x + p.radius


def sampled_smoothgrad_uniform(p: SamplingProblem) -> SampledEstimate:
    """The mean gradient over the noise box: Monte Carlo."""
    blo, bhi = _noise_box(p)
    grad = network_gradient(p.model, p.output)
    r = monte_carlo(grad, lambda m, rng: blo + (bhi - blo) * rng.random((m, p.d)), p.n, p.rng)
    return p.done(r.mean, "monte_carlo", p.n, stderr=r.stderr, how=_mc_how(p, r.stderr))


def sampled_expected_gradients_uniform(p: SamplingProblem) -> SampledEstimate:
    """E over baselines U and alpha ~ U[0, 1] of (x - U) grad f(U + alpha (x - U)): Monte Carlo."""
    d, x = p.d, p.x
    grad = network_gradient(p.model, p.output)

    def integrand(P):  # P = (baseline, alpha) packed in one array
        base, alpha = P[:, :d], P[:, d:]
        return (x[None, :] - base) * grad(base + alpha * (x[None, :] - base))

    def sampler(m, rng):
        return np.hstack([p.uniform(m), rng.random((m, 1))])

    r = monte_carlo(integrand, sampler, p.n, p.rng)
    return p.done(r.mean, "monte_carlo", p.n, stderr=r.stderr, how=_mc_how(p, r.stderr))


def sampled_lime_uniform(p: SamplingProblem) -> SampledEstimate:
    """Least squares of f on samples uniform on the noise box: the surrogate's slopes."""
    n, d = p.n, p.d
    blo, bhi = _noise_box(p)
    Z = blo + (bhi - blo) * p.rng.random((n, d))
    X1 = np.hstack([Z, np.ones((n, 1))])
    y = p.f(Z)
    coef, *_ = np.linalg.lstsq(X1, y, rcond=None)
    resid = y - X1 @ coef
    cov = np.linalg.inv(X1.T @ X1) * (resid @ resid) / max(1, n - d - 1)
    # the surrogate's slopes; the standard errors are the usual least-squares ones
    stderr = np.sqrt(np.diag(cov))[:d]
    return p.done(coef[:d], "monte_carlo", n, stderr=stderr, intercept=float(coef[d]), how=_mc_how(p, stderr))


def _permutation_shapley(p: SamplingProblem, uniform_background: bool) -> SampledEstimate:
    """Shapley values by random permutations (and, for the uniform background, random background points).

    Each sample draws a permutation pi (and a background point z ~ U(box), or z = baseline) and
    walks the d+1 hybrid points that switch the coordinates to x in the order pi; feature pi_k
    gets the k-th increment.  The mean over samples is unbiased for each Shapley value.
    """
    f, x, xb, lo, hi, n, rng = p.f, p.x, p.baseline, p.lo, p.hi, p.n, p.rng
    d = x.shape[0]
    sums, sq = np.zeros(d), np.zeros(d)
    batch = max(1, 2**18 // (d + 1))
    done_n = 0
    while done_n < n:
        m = min(batch, n - done_n)
        perms = np.argsort(rng.random((m, d)), axis=1)
        base = lo + (hi - lo) * rng.random((m, d)) if uniform_background else np.repeat(xb[None, :], m, axis=0)
        Z = np.repeat(base[:, None, :], d + 1, axis=1)  # (m, d+1, d)
        for k in range(d):
            cols = perms[:, k]
            Z[np.arange(m)[:, None], np.arange(k + 1, d + 1)[None, :], cols[:, None]] = x[cols][:, None]
        vals = f(Z.reshape(-1, d)).reshape(m, d + 1)
        inc = np.diff(vals, axis=1)  # increment k belongs to feature perms[:, k]
        contrib = np.zeros((m, d))
        contrib[np.arange(m)[:, None], perms] = inc
        sums += contrib.sum(axis=0)
        sq += (contrib**2).sum(axis=0)
        done_n += m
    mean = sums / n
    var = np.maximum(sq / n - mean**2, 0.0) * n / max(1, n - 1)
    stderr = np.sqrt(var / n)
    return p.done(mean, "monte_carlo", n * (d + 1), stderr=stderr, permutations=n,
                  how=f"monte carlo, {n:.0e} permutations, stderr {float(np.max(stderr)):.1e}")
