r"""Theorem 2.1 of [FAFP] as a numerical check: smooth models collapse to Gradient x Input.

THEORY.md §2 (RECONSTRUCTED form). Let f be C^2 with ||Hess f(z)||_op <= M on a convex set K, x0 a
point of K, and R(z) = f(z) - f(x0) - grad f(x0).(z - x0) the Taylor remainder. For a method phi
that is linear, sensitive (dummy) and complete,

    phi(x, f) = grad f(x0) * (x - x')  +  phi(x, R),

and phi(x, R) is small because R is: |R(z)| <= (M/2) ||z - x0||^2 and ||grad R(z)|| <= M ||z - x0||.
:func:`theorem21` computes, for a smooth model (anything with ``__call__``, ``gradient`` and
``hessian_bound``; e.g. :class:`~polyattr.models.softplus.SoftplusNetwork`,
:class:`GaussianSmoothedReLU` (a one-hidden-layer ReLU network smoothed by a Gaussian of width
sigma, in closed form, with ||Hess|| <= Lip(f) sqrt(2/pi) / sigma) or :class:`QuadraticModel`):

1. ``remainder`` = phi(x, f) - grad f(x0) * (x - x') computed directly;
2. ``remainder_via_R`` = phi(x, R), the method applied to R (checks linearity; equal to 1 up to
   rounding);
3. ``hessian_bound`` M over the box K (by default the bounding box of x, x', x0, the smallest
   box that contains every segment [x0, z] the proof uses), the method's Lipschitz constant
   ``lipschitz`` L and the resulting ``bound`` on ||remainder||_2, and ``ratio`` = ||remainder|| / bound.

Bounds (proved here; both are checked by tests/test_theorem21.py and proofs/theorem_2_1.py)
-----------------------------------------------------------------------------------------
Both rest on two facts valid for z in K (K convex, so [x0, z] is in K):
(T0) |R(z)| <= (M/2) ||z - x0||^2   (Taylor with integral remainder),
(T1) ||grad R(z)||_2 = ||grad f(z) - grad f(x0)||_2 <= M ||z - x0||   (mean value for grad f).

*Baseline Shapley* touches only the 2^d points p_S = (x_S, x'_rest): phi_j(g) = sum_S A[j,S] g(p_S)
with sum_S |A[j,S]| = 2 (the weights of the S containing j sum to 1, those of the others too).
So in the sup norm over {p_S}, ||phi(g)||_2 <= L sup_S |g(p_S)| with L <= 2 sqrt(d); L is the
infinity-to-2 norm of A, computed exactly for d <= 4 by enumerating sign vectors (it is 2 there) and
bounded by 2 sqrt(d) beyond (:func:`shapley_sup_to_l2_norm`). With (T0) this gives the THEORY.md
bound ``bound_uniform`` = L (M/2) max_S ||p_S - x0||^2. The reported ``bound`` is the smallest of
``bound_uniform``, the same with per-point radii (max ||A v|| over |v_S| <= r_S, exact for d <= 4),
and a term-by-term bound: each Shapley term is w_S (R(p_{S+j}) - R(p_S)) and
   |R(p_{S+j}) - R(p_S)| <= min( r_S + r_{S+j},  |x_j - x'_j| M max(rho_S, rho_{S+j}) ),
with rho_S = ||p_S - x0||, r_S = (M/2) rho_S^2: the first by (T0), the second because the two points
differ only in coordinate j, so the difference is the integral of d_j R along the edge times
(x_j - x'_j), |d_j R| <= ||grad R|| <= M ||z - x0|| by (T1), and ||z - x0|| is convex along the
edge hence at most its value at an endpoint. Then |phi_j(R)| <= b_j := sum_{S not containing j}
w_S min(...), and ||phi(R)||_2 <= ||b||_2.

*Integrated Gradients* phi_j(g) = Delta_j int_0^1 d_j g(z(t)) dt, Delta = x - x', z(t) = x' + t Delta,
uses derivatives: in the C^1 norm ||g|| = sup_t ||grad g(z(t))||_2 it is Lipschitz with
L = ||Delta||_inf, since ||phi(g)||_2 <= int_0^1 ||Delta * grad g(z(t))||_2 dt <= ||Delta||_inf
int_0^1 ||grad g(z(t))||_2 dt. With (T1): ``bound_uniform`` = L M max(||x - x0||, ||x' - x0||) (the
sup of a convex function on the segment is at an endpoint) and the tighter ``bound`` =
L M int_0^1 ||z(t) - x0|| dt, the integral bounded from above by the trapezoid rule with 256 panels
(exact from above for a convex integrand). IG itself is computed by Gauss-Legendre quadrature
(:func:`~polyattr.theory.blackbox.integrated_gradients_smooth`), so the check allows the
quadrature error estimate: ||remainder|| <= bound + sqrt(d) * quadrature_error.
"""

from __future__ import annotations

import itertools
import json
import time
from functools import lru_cache
from dataclasses import dataclass, field

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box, as_vector
from polyattr.theory.blackbox import (
    coalition_points,
    baseline_shapley,
    integrated_gradients_smooth,
    shapley_coefficients,
    shapley_weights,
)

METHODS = ("ig", "shapley")
_TRAPEZOID_PANELS = 256
# slack for floating-point rounding when deciding whether a bound holds
_ROUNDING_SLACK = 1e-9


class QuadraticModel:
    """f(z) = c + g.z + (1/2) z^T A z (A symmetric): the model with a constant Hessian A.

    For it R(z) = (1/2)(z - x0)^T A (z - x0) exactly and ``hessian_bound`` = ||A||_2 everywhere,
    so Theorem 2.1 can be checked against closed forms.
    """

    def __init__(self, A, g=None, c: float = 0.0):
        A = np.asarray(A, dtype=float)
        if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
            raise PolyattrError(f"A: expected a square matrix, got shape {A.shape}")
        if not np.all(np.isfinite(A)):
            raise PolyattrError("A: contains NaN or infinite values")
        if not np.allclose(A, A.T, rtol=0, atol=1e-12 * max(1.0, np.abs(A).max())):
            raise PolyattrError("A: expected a symmetric matrix")
        self.A = (A + A.T) / 2
        d = A.shape[0]
        self.g = np.zeros(d) if g is None else as_vector(g, "g", length=d)
        self.c = float(c)

    @property
    def n_inputs(self) -> int:
        return self.A.shape[0]

    n_outputs = 1

    def check_output(self, output):
        if output not in (None, 0):
            raise PolyattrError(f"output: the model has one output; got {output!r}")
        return 0

    def __call__(self, X, output=None):
        self.check_output(output)
        Z = np.asarray(X, dtype=float)
        return self.c + Z @ self.g + 0.5 * np.einsum("...i,ij,...j->...", Z, self.A, Z)

    def gradient(self, x, output=None):
        self.check_output(output)
        return self.g + np.asarray(x, dtype=float) @ self.A

    def hessian(self, x, output=None):
        self.check_output(output)
        x = np.asarray(x, dtype=float)
        return np.broadcast_to(self.A, (*x.shape[:-1], *self.A.shape)).copy()

    def hessian_bound(self, domain=None, output=None) -> float:
        self.check_output(output)
        return float(np.linalg.norm(self.A, 2))


class GaussianSmoothedReLU:
    r"""The Gaussian smoothing f_sigma(z) = E[f(z + sigma xi)], xi ~ N(0, I_d), of a ReLU network
    with ONE hidden layer, in closed form.

    For f(z) = sum_i v_i relu(w_i.z + b_i) + c, with mu_i = w_i.z + b_i and s_i = sigma ||w_i||,
    w_i.xi ~ N(0, ||w_i||^2) gives E relu(mu + s eta) = mu Phi(mu/s) + s phi(mu/s), so

        f_sigma = c + sum_i v_i (mu_i Phi(mu_i/s_i) + s_i phi(mu_i/s_i)),
        grad f_sigma = sum_i v_i Phi(mu_i/s_i) w_i,
        Hess f_sigma = sum_i v_i phi(mu_i/s_i) / s_i  w_i w_i^T

    (neurons with w_i = 0 are the constant relu(b_i)). f_sigma is C-infinity and tends to f
    uniformly as sigma -> 0 (|f_sigma - f| <= sigma sum_i |v_i| ||w_i|| phi(0)).

    Hessian bound (THEORY.md §2, item 3) ``hessian_bound`` = min of
      (a) Lip(f) c_d / sigma with c_d = sqrt(2/pi), for any Lipschitz f: by Gaussian integration
          by parts (Stein), Hess f_sigma(z) = E[grad f(z + sigma xi) xi^T] / sigma, so for a unit u,
          |u^T Hess u| <= Lip(f) E|xi.u| / sigma = Lip(f) sqrt(2/pi) / sigma (E|N(0,1)| = sqrt(2/pi));
          the Hessian is symmetric so this is its operator norm. The constant does not grow with d.
          Lip(f) <= min(||v||_2 ||W||_2, sum_i |v_i| ||w_i||) (the gradient is sum over active i of v_i w_i).
      (b) the box-dependent sum_i |v_i| ||w_i||^2 sup_{z in box} phi(mu_i/s_i) / s_i, from the
          closed form and the triangle inequality, with mu_i over the box by interval arithmetic
          (phi is largest at the point of the interval nearest 0).
    Both blow up like 1/sigma when a kink crosses the box: ReLU networks are not C^2.
    """

    def __init__(self, net, sigma: float, output: int | None = None):
        from polyattr.models.protocol import require_model

        require_model(net, "net")
        if not net.is_relu:
            raise PolyattrError("net: the closed-form Gaussian smoothing needs plain ReLU units (no leaky or identity units)")
        if len(net.weights) != 2:
            raise PolyattrError(
                f"net: the closed-form Gaussian smoothing needs exactly one hidden layer, got {len(net.weights) - 1}"
            )
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)) or not (
            np.isfinite(sigma) and sigma > 0
        ):
            raise PolyattrError(f"sigma: expected a positive finite number, got {sigma!r}")
        net = net.to_float()
        k = net.check_output(output)
        self.sigma = float(sigma)
        self.W = np.asarray(net.weights[0], dtype=float)
        self.b = np.asarray(net.biases[0], dtype=float)
        self.v = np.asarray(net.weights[1][k], dtype=float)
        self.c = float(net.biases[1][k])
        self.norms = np.linalg.norm(self.W, axis=1)
        self.s = self.sigma * self.norms

    @property
    def n_inputs(self) -> int:
        return self.W.shape[1]

    n_outputs = 1

    def check_output(self, output):
        if output not in (None, 0):
            raise PolyattrError(f"output: the smoothed model has one output; got {output!r}")
        return 0

    def _points(self, X):
        Z = np.asarray(X, dtype=float)
        if Z.shape[-1] != self.n_inputs or not np.all(np.isfinite(Z)):
            raise PolyattrError(f"x: expected finite points with {self.n_inputs} features, got shape {Z.shape}")
        return Z

    def _standardised(self, Z):
        from scipy.special import ndtr

        mu = Z @ self.W.T + self.b
        live = self.s > 0
        t = np.where(live, mu / np.where(live, self.s, 1.0), 0.0)
        return mu, t, ndtr(t), np.exp(-0.5 * t**2) / np.sqrt(2 * np.pi), live

    def __call__(self, X, output=None):
        self.check_output(output)
        mu, t, Phi, phi, live = self._standardised(self._points(X))
        smooth = mu * Phi + self.s * phi
        vals = np.where(live, smooth, np.maximum(mu, 0.0))
        return vals @ self.v + self.c

    def gradient(self, x, output=None):
        self.check_output(output)
        _, _, Phi, _, live = self._standardised(self._points(x))
        return (np.where(live, Phi, 0.0) * self.v) @ self.W

    def hessian(self, x, output=None):
        self.check_output(output)
        _, _, _, phi, live = self._standardised(self._points(x))
        coef = np.where(live, phi / np.where(live, self.s, 1.0), 0.0) * self.v
        return np.einsum("...i,ij,ik->...jk", coef, self.W, self.W)

    def lipschitz_constant(self) -> float:
        """An upper bound on Lip(f) = sup ||grad f|| of the unsmoothed network.

        The gradient on a region is sum over the active neurons i of v_i w_i, so Lip(f) <= the max
        over all subsets S of ||sum_{i in S} v_i w_i|| (every activation pattern is such a subset;
        enumerated when the width is <= 16), and also <= ||v|| ||W||_2 and sum_i |v_i| ||w_i||.
        """
        bound = min(np.linalg.norm(self.v) * np.linalg.norm(self.W, 2), np.sum(np.abs(self.v) * self.norms))
        width = self.W.shape[0]
        if width <= 16:
            masks = ((np.arange(2**width)[:, None] >> np.arange(width)[None, :]) & 1).astype(float)
            bound = min(bound, np.linalg.norm((masks * self.v) @ self.W, axis=1).max())
        return float(bound)

    def hessian_bound_global(self) -> float:
        """(a): Lip(f) sqrt(2/pi) / sigma, valid on all of R^d."""
        return self.lipschitz_constant() * np.sqrt(2 / np.pi) / self.sigma * (1 + 1e-12)

    def hessian_bound(self, domain=None, output=None) -> float:
        """min of (a) and, when a box (lower, upper) is given, (b); see the class docstring."""
        self.check_output(output)
        bound = self.hessian_bound_global()
        if domain is not None:
            if isinstance(domain, Box):
                lower, upper = np.asarray(domain.lower, float), np.asarray(domain.upper, float)
            else:
                lower, upper = (as_vector(v, n, length=self.n_inputs) for v, n in zip(domain, ("lower", "upper")))
            mid, rad = (lower + upper) / 2, (upper - lower) / 2
            c, r = self.W @ mid + self.b, np.abs(self.W) @ rad
            near = np.where(c - r > 0, c - r, np.where(c + r < 0, c + r, 0.0))
            live = self.s > 0
            t = np.where(live, near / np.where(live, self.s, 1.0), 0.0)
            dens = np.where(live, np.exp(-0.5 * t**2) / np.sqrt(2 * np.pi) / np.where(live, self.s, 1.0), 0.0)
            bound = min(bound, float(np.sum(np.abs(self.v) * self.norms**2 * dens)) * (1 + 1e-12))
        return float(bound)


@dataclass(frozen=True, eq=False)
class Theorem21Result:
    """The Theorem 2.1 check at one (x, x', x0) for one method (see the module docstring)."""

    method: str
    x: np.ndarray
    baseline: np.ndarray
    x0: np.ndarray
    attribution: np.ndarray  # phi(x, f)
    gradient_x_input: np.ndarray  # grad f(x0) * (x - x')
    remainder: np.ndarray  # phi(x, f) - grad f(x0) * (x - x')
    remainder_via_R: np.ndarray  # phi(x, R)
    hessian_bound: float  # M
    lipschitz: float  # L of the method in its norm (sup over points for Shapley, C^1 for IG)
    bound: float  # the (tighter) proved bound on ||remainder||_2
    bound_uniform: float  # the THEORY.md form L * (M/2) sup ||z - x0||^2 (Shapley) / L M sup ||z - x0|| (IG)
    sup_distance: float  # sup ||z - x0|| over the points / segment the method touches
    quadrature_error: float  # IG only: the Gauss-Legendre error estimate (0 for Shapley)
    domain_lower: np.ndarray
    domain_upper: np.ndarray
    seconds: float
    remainder_norm: float = field(init=False)
    remainder_via_R_norm: float = field(init=False)
    linearity_gap: float = field(init=False)
    ratio: float = field(init=False)
    holds: bool = field(init=False)

    def __post_init__(self):
        rn = float(np.linalg.norm(self.remainder))
        object.__setattr__(self, "remainder_norm", rn)
        object.__setattr__(self, "remainder_via_R_norm", float(np.linalg.norm(self.remainder_via_R)))
        object.__setattr__(self, "linearity_gap", float(np.linalg.norm(self.remainder - self.remainder_via_R)))
        if self.bound > 0:
            ratio = rn / self.bound
        else:
            ratio = 0.0 if rn == 0 else float("inf")
        object.__setattr__(self, "ratio", float(ratio))
        d = self.remainder.shape[0]
        slack = _ROUNDING_SLACK * (1 + self.bound + np.linalg.norm(self.attribution)) + np.sqrt(d) * self.quadrature_error
        holds = rn <= self.bound + slack and self.bound <= self.bound_uniform * (1 + 1e-12) + 1e-300
        object.__setattr__(self, "holds", bool(holds))

    def to_dict(self) -> dict:
        """JSON-friendly summary (lists and floats)."""
        return {
            "method": self.method,
            "x": self.x.tolist(),
            "baseline": self.baseline.tolist(),
            "x0": self.x0.tolist(),
            "attribution": self.attribution.tolist(),
            "gradient_x_input": self.gradient_x_input.tolist(),
            "remainder": self.remainder.tolist(),
            "remainder_via_R": self.remainder_via_R.tolist(),
            "remainder_norm": self.remainder_norm,
            "remainder_via_R_norm": self.remainder_via_R_norm,
            "linearity_gap": self.linearity_gap,
            "hessian_bound": self.hessian_bound,
            "lipschitz": self.lipschitz,
            "bound": self.bound,
            "bound_uniform": self.bound_uniform,
            "sup_distance": self.sup_distance,
            "ratio": self.ratio,
            "quadrature_error": self.quadrature_error,
            "holds": self.holds,
            "domain": {"lower": self.domain_lower.tolist(), "upper": self.domain_upper.tolist()},
            "seconds": self.seconds,
        }


def _check_smooth_model(model):
    missing = [a for a in ("__call__", "gradient", "hessian_bound", "n_inputs") if not hasattr(model, a)]
    if missing:
        from polyattr.models.protocol import PiecewiseAffineModel

        if isinstance(model, PiecewiseAffineModel):
            raise PolyattrError(
                "model: a ReLU network is not C^2, so Theorem 2.1 does not apply to it; use its smoothing "
                "SoftplusNetwork.from_relu(net, beta) (CLI: --beta B)"
            )
        raise PolyattrError(
            f"model: expected a smooth model with __call__, gradient, hessian_bound and n_inputs "
            f"(e.g. SoftplusNetwork); {type(model).__name__} lacks {', '.join(missing)}"
        )


def _domain_bounds(domain, points: dict, d: int) -> tuple[np.ndarray, np.ndarray]:
    if domain is None:
        P = np.array(list(points.values()))
        return P.min(axis=0), P.max(axis=0)
    if isinstance(domain, tuple) and len(domain) == 2:
        domain = Box(domain[0], domain[1])
    if not isinstance(domain, Box):
        raise PolyattrError(f"domain: expected None, a Box or a (lower, upper) pair, got {type(domain).__name__}")
    if domain.dim != d:
        raise PolyattrError(f"domain: expected a box in R^{d} (the model's inputs), got dimension {domain.dim}")
    for name, p in points.items():
        domain.check_point(p, name)
    return np.asarray(domain.lower, dtype=float), np.asarray(domain.upper, dtype=float)


def _segment_distance_integral(start, end, x0, panels: int = _TRAPEZOID_PANELS) -> float:
    """An upper bound on int_0^1 ||start + t (end - start) - x0|| dt: the trapezoid rule, which
    overestimates the integral of a convex function."""
    t = np.linspace(0.0, 1.0, panels + 1)
    vals = np.linalg.norm(start[None, :] + t[:, None] * (end - start)[None, :] - x0[None, :], axis=1)
    return float((vals[0] / 2 + vals[1:-1].sum() + vals[-1] / 2) / panels)


_EXACT_NORM_MAX_FEATURES = 4


@lru_cache(maxsize=None)
def _sign_vertices(n: int) -> np.ndarray:
    return np.array(list(itertools.product((-1.0, 1.0), repeat=n)))


def shapley_sup_to_l2_norm(d: int, radii=None) -> float:
    """max ||A v||_2 over |v_S| <= radii_S (default 1), A the Shapley coefficient matrix.

    This is the Lipschitz constant of baseline Shapley from the sup norm over the 2^d coalition
    points to the 2-norm (with ``radii``: the largest ||phi(g)||_2 when |g(p_S)| <= radii_S). The
    maximum of a convex function over a box is attained at a vertex, so for d <= 4 it is computed
    exactly by enumerating the 2^(2^d) sign vectors (it equals 2 for d = 1..4). For larger d it
    returns the proved upper bound sqrt(sum_j (sum_S |A[j,S]| radii_S)^2) (= 2 sqrt(d) for unit radii).
    """
    A = shapley_coefficients(d)
    r = np.ones(2**d) if radii is None else np.asarray(radii, dtype=float)
    if d <= _EXACT_NORM_MAX_FEATURES:
        V = _sign_vertices(2**d) * r[None, :]
        return float(np.sqrt(np.max(np.sum((V @ A.T) ** 2, axis=1))))
    return float(np.linalg.norm(np.abs(A) @ r))


def shapley_remainder_bound(x, baseline, x0, M: float) -> tuple[float, float, float, float]:
    """(bound, bound_uniform, lipschitz, sup_distance) for baseline Shapley (module docstring)."""
    d = x.shape[0]
    P = coalition_points(x, baseline)
    rho = np.linalg.norm(P - x0[None, :], axis=1)
    r = 0.5 * M * rho**2
    delta = np.abs(x - baseline)
    w = np.array(shapley_weights(d))
    masks = np.arange(2**d)
    sizes = np.array([bin(m).count("1") for m in masks])
    b = np.empty(d)
    for j in range(d):
        S = masks[((masks >> j) & 1) == 0]
        Sj = S | (1 << j)
        term = np.minimum(r[S] + r[Sj], delta[j] * M * np.maximum(rho[S], rho[Sj]))
        b[j] = np.sum(w[sizes[S]] * term)
    L = shapley_sup_to_l2_norm(d)
    sup = float(rho.max())
    uniform = L * 0.5 * M * sup**2
    bound = min(float(np.linalg.norm(b)), shapley_sup_to_l2_norm(d, r), uniform)
    return float(bound), float(uniform), float(L), sup


def ig_remainder_bound(x, baseline, x0, M: float) -> tuple[float, float, float, float]:
    """(bound, bound_uniform, lipschitz, sup_distance) for Integrated Gradients (module docstring)."""
    L = float(np.max(np.abs(x - baseline)))
    sup = float(max(np.linalg.norm(x - x0), np.linalg.norm(baseline - x0)))
    integral = _segment_distance_integral(baseline, x, x0)
    return L * M * integral, L * M * sup, L, sup


def theorem21(
    model,
    x,
    baseline,
    x0,
    method: str = "ig",
    domain=None,
    output: int | None = None,
    n_nodes: int = 32,
    hessian_splits: int = 1,
) -> Theorem21Result:
    """Check Theorem 2.1 for a smooth model at input x, baseline x' and expansion point x0.

    Parameters
    ----------
    model : a smooth model with ``__call__(X, output)``, ``gradient(x, output)``,
        ``hessian_bound(domain, output)`` and ``n_inputs`` (SoftplusNetwork, QuadraticModel, ...).
    x, baseline, x0 : vectors of length d (or comma-separated strings).
    method : "ig" (Integrated Gradients, Gauss-Legendre) or "shapley" (baseline Shapley, 2^d calls).
    domain : None, a Box, or (lower, upper). The box on which M is certified; it must contain x,
        x' and x0. None uses their bounding box, the smallest box that holds every point and
        segment the proof uses.
    output : output index for multi-output models.
    n_nodes : Gauss-Legendre nodes for IG (n and 2n are used; see integrated_gradients_smooth).
    hessian_splits : cut each axis of the box into this many pieces when certifying M (models whose
        ``hessian_bound`` accepts ``splits``, e.g. SoftplusNetwork): tighter M and bound, at a cost
        of hessian_splits^d box bounds.

    Returns
    -------
    Theorem21Result
    """
    start = time.perf_counter()
    _check_smooth_model(model)
    if method not in METHODS:
        raise PolyattrError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    d = model.n_inputs
    x = as_vector(x, "x", length=d)
    baseline = as_vector(baseline, "baseline", length=d)
    x0 = as_vector(x0, "x0", length=d)
    if hasattr(model, "check_output"):
        model.check_output(output)
    lower, upper = _domain_bounds(domain, {"x": x, "baseline": baseline, "x0": x0}, d)
    if isinstance(hessian_splits, bool) or not isinstance(hessian_splits, (int, np.integer)) or hessian_splits < 1:
        raise PolyattrError(f"hessian_splits: expected a positive integer, got {hessian_splits!r}")
    if hessian_splits == 1:
        M = float(model.hessian_bound((lower, upper), output=output))
    else:
        M = float(model.hessian_bound((lower, upper), output=output, splits=int(hessian_splits)))
    f0 = float(model(x0, output=output))
    g0 = np.asarray(model.gradient(x0, output=output), dtype=float)
    delta = x - baseline
    gxi = g0 * delta

    def f(Z):
        return np.asarray(model(Z, output=output), dtype=float)

    def R(Z):
        Z = np.asarray(Z, dtype=float)
        return f(Z) - f0 - (Z - x0) @ g0

    if method == "shapley":
        phi = baseline_shapley(f, x, baseline)
        phi_R = baseline_shapley(R, x, baseline)
        qerr = 0.0
        bound, bound_uniform, L, sup = shapley_remainder_bound(x, baseline, x0, M)
    else:
        res = integrated_gradients_smooth(lambda z: model.gradient(z, output=output), x, baseline, n_nodes)
        res_R = integrated_gradients_smooth(
            lambda z: np.asarray(model.gradient(z, output=output), dtype=float) - g0, x, baseline, n_nodes
        )
        phi, phi_R = res.values, res_R.values
        qerr = max(res.error_estimate, res_R.error_estimate)
        bound, bound_uniform, L, sup = ig_remainder_bound(x, baseline, x0, M)
    return Theorem21Result(
        method=method,
        x=x,
        baseline=baseline,
        x0=x0,
        attribution=np.asarray(phi, dtype=float),
        gradient_x_input=gxi,
        remainder=np.asarray(phi, dtype=float) - gxi,
        remainder_via_R=np.asarray(phi_R, dtype=float),
        hessian_bound=M,
        lipschitz=L,
        bound=bound,
        bound_uniform=bound_uniform,
        sup_distance=sup,
        quadrature_error=float(qerr),
        domain_lower=lower,
        domain_upper=upper,
        seconds=time.perf_counter() - start,
    )


# ----------------------------------------------------------------------------- CLI
def _load_relu_network(path: str):
    """Load the .npz model contract (W0, b0, W1, b1, ...); prefer polyattr.models.io if present."""
    try:
        from polyattr.models.io import load_model  # written by the I/O engineer
    except ImportError:
        load_model = None
    if load_model is not None:
        return load_model(path)
    from polyattr.models.relu import ReLUNetwork

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PolyattrError(f"model: cannot read {path!r} as an .npz file ({exc})") from None
    with data:
        weights, biases, i = [], [], 0
        while f"W{i}" in data.files:
            if f"b{i}" not in data.files:
                raise PolyattrError(f"model: {path!r} has W{i} but no b{i}")
            weights.append(data[f"W{i}"])
            biases.append(data[f"b{i}"])
            i += 1
    if not weights:
        raise PolyattrError(f"model: {path!r} has no arrays W0, b0, W1, b1, ...")
    return ReLUNetwork(weights, biases)


def run_theorem21_cli(args) -> int:
    """``polyattr theorem21 MODEL --x .. --baseline .. --x0 .. --method ig|shapley --beta B
    [--output k] [--lower ..] [--upper ..] [--json]``.

    ``args`` is an argparse Namespace with attributes model (path), x, baseline, x0
    (comma-separated strings), method, beta (float), output (int or None), lower, upper (strings
    or None) and json (bool). The ReLU network in MODEL is smoothed into
    SoftplusNetwork.from_relu(net, beta). Prints JSON or a table; returns 0 when the bound holds,
    1 when it does not. Bad inputs raise PolyattrError (the CLI prints it and exits 2).
    """
    from polyattr.models.softplus import SoftplusNetwork

    net = _load_relu_network(args.model)
    beta = getattr(args, "beta", None)
    if beta is None:
        raise PolyattrError("beta: Theorem 2.1 needs a smooth model; pass --beta B (softplus sharpness)")
    if isinstance(net, SoftplusNetwork):
        model = net
    else:
        if hasattr(net, "to_float"):
            net = net.to_float()
        model = SoftplusNetwork(net.weights, net.biases, beta=beta)
    d = model.n_inputs
    lower, upper = getattr(args, "lower", None), getattr(args, "upper", None)
    domain = None
    if lower is not None or upper is not None:
        lo = as_vector(lower, "lower", length=d) if lower is not None else np.zeros(d)
        hi = as_vector(upper, "upper", length=d) if upper is not None else np.ones(d)
        domain = Box(lo, hi)
    result = theorem21(
        model,
        as_vector(args.x, "x", length=d),
        as_vector(args.baseline, "baseline", length=d),
        as_vector(args.x0, "x0", length=d),
        method=getattr(args, "method", "ig") or "ig",
        domain=domain,
        output=getattr(args, "output", None),
    )
    if getattr(args, "json", False):
        out = result.to_dict()
        out["beta"] = model.beta
        print(json.dumps(out))
    else:
        print(format_result(result, beta=model.beta))
    return 0 if result.holds else 1


def format_result(result: Theorem21Result, beta: float | None = None) -> str:
    """A readable table of one Theorem21Result."""
    def vec(v):
        return "[" + ", ".join(f"{t:.6g}" for t in v) + "]"

    rows = [
        ("method", result.method),
        *([("beta", f"{beta:g}")] if beta is not None else []),
        ("attribution phi(x, f)", vec(result.attribution)),
        ("gradient x input", vec(result.gradient_x_input)),
        ("remainder", vec(result.remainder)),
        ("remainder via R", vec(result.remainder_via_R)),
        ("||remainder||_2", f"{result.remainder_norm:.6g}"),
        ("linearity gap", f"{result.linearity_gap:.3g}"),
        ("Hessian bound M", f"{result.hessian_bound:.6g}"),
        ("Lipschitz L", f"{result.lipschitz:.6g}"),
        ("bound", f"{result.bound:.6g}"),
        ("bound (uniform form)", f"{result.bound_uniform:.6g}"),
        ("ratio", f"{result.ratio:.4f}"),
        ("quadrature error", f"{result.quadrature_error:.3g}"),
        ("holds", "yes" if result.holds else "NO"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
