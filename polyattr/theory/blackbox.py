"""Attribution methods for *any* callable model, used by the executable theory checks.

These methods do not need the model's regions, so they serve smooth models (softplus networks,
quadratic test models) as well as ReLU networks:

- :func:`baseline_shapley`: exact baseline Shapley values by enumerating the 2^d coalitions
  (exact up to float rounding; exact rationals when the inputs and the model are rational).
- :func:`integrated_gradients_smooth`: Integrated Gradients of a smooth model by Gauss-Legendre
  quadrature of its gradient along the straight path, with an a-posteriori error *estimate*.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import comb
from typing import Callable

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.geometry.domains import as_vector

MAX_SHAPLEY_FEATURES = 20


def _is_exact(*vectors) -> bool:
    return any(isinstance(v, Fraction) for vec in vectors for v in np.asarray(vec, dtype=object).ravel())


def coalition_points(x, baseline) -> np.ndarray:
    """The 2^d points (x_S, baseline_rest): row ``mask`` takes x_j where bit j of ``mask`` is set."""
    d = x.shape[0]
    masks = np.arange(2**d)
    bits = ((masks[:, None] >> np.arange(d)[None, :]) & 1).astype(bool)
    if x.dtype == object:
        return np.where(bits, x[None, :], baseline[None, :]).astype(object)
    return np.where(bits, x[None, :], baseline[None, :])


def shapley_weights(d: int, exact: bool = False) -> list:
    """w_s = s! (d - s - 1)! / d! = 1 / (d * C(d-1, s)) for coalition sizes s = 0..d-1."""
    if exact:
        return [Fraction(1, d * comb(d - 1, s)) for s in range(d)]
    return [1.0 / (d * comb(d - 1, s)) for s in range(d)]


def shapley_from_values(values, d: int) -> np.ndarray:
    """Baseline Shapley values from the model values at the 2^d coalition points.

    phi_j = sum over masks S not containing j of w_{|S|} (v[S + j] - v[S]). Object arrays of
    Fractions stay exact.
    """
    values = np.asarray(values, dtype=object if _is_exact(values) else float)
    n = 2**d
    if values.shape != (n,):
        raise PolyattrError(f"values: expected {n} values (one per coalition), got shape {values.shape}")
    masks = np.arange(n)
    sizes = np.array([bin(m).count("1") for m in masks])
    if values.dtype == object:
        w = shapley_weights(d, exact=True)
        out = []
        for j in range(d):
            acc = Fraction(0)
            for m in range(n):
                if not (m >> j) & 1:
                    acc += w[sizes[m]] * (values[m | (1 << j)] - values[m])
            out.append(acc)
        return np.array(out, dtype=object)
    w = np.array(shapley_weights(d))
    out = np.empty(d)
    for j in range(d):
        without = masks[((masks >> j) & 1) == 0]
        out[j] = np.sum(w[sizes[without]] * (values[without | (1 << j)] - values[without]))
    return out


def shapley_coefficients(d: int) -> np.ndarray:
    """The (d, 2^d) matrix A with phi_j(g) = sum_S A[j, S] g(p_S) (float weights).

    A[j, S] = w_{|S|-1} if j in S, -w_{|S|} otherwise; every row has absolute sum 2 and sum 0.
    """
    n = 2**d
    w = shapley_weights(d)
    A = np.zeros((d, n))
    for m in range(n):
        s = bin(m).count("1")
        for j in range(d):
            A[j, m] = w[s - 1] if (m >> j) & 1 else -w[s]
    return A


def baseline_shapley(f: Callable, x, baseline, vectorized: bool = True) -> np.ndarray:
    """Exact baseline Shapley values of the callable ``f`` at ``x`` against ``baseline``.

    phi_j = sum over S subset of N minus {j} of |S|! (d - |S| - 1)! / d! [f(x_{S+j}, x'_rest) - f(x_S, x'_rest)].

    Parameters
    ----------
    f : callable
        With ``vectorized`` (default) it takes an array (n, d) and returns n scalars; otherwise it
        is called on one point (d,) at a time and returns a scalar.
    x, baseline : vectors of length d (floats, or Fractions for an exact result)
    vectorized : bool

    Returns
    -------
    ndarray (d,)
        float64, or an object array of Fractions when x or baseline holds Fractions and f
        returns Fractions. The cost is 2^d model evaluations (d <= 20).
    """
    exact = _is_exact(x) or _is_exact(baseline)
    x = as_vector(x, "x", exact=exact)
    baseline = as_vector(baseline, "baseline", length=x.shape[0], exact=exact)
    d = x.shape[0]
    if d > MAX_SHAPLEY_FEATURES:
        raise PolyattrError(f"x: exact enumeration needs 2^d model calls; d={d} exceeds {MAX_SHAPLEY_FEATURES}")
    if not callable(f):
        raise PolyattrError(f"f: expected a callable model, got {type(f).__name__}")
    P = coalition_points(x, baseline)
    if vectorized:
        values = np.asarray(f(P))
    else:
        values = np.array([f(p) for p in P], dtype=object)
    values = values.reshape(-1)
    if values.shape[0] != P.shape[0]:
        raise PolyattrError(f"f: expected one scalar per point ({P.shape[0]}), got {values.shape[0]} values")
    if exact and all(isinstance(v, (Fraction, int)) for v in values):
        values = np.array([Fraction(v) for v in values], dtype=object)
    else:
        values = values.astype(float)
        if not np.all(np.isfinite(values)):
            raise PolyattrError("f: returned NaN or infinite values")
    return shapley_from_values(values, d)


@dataclass(frozen=True)
class QuadratureResult:
    """Integrated Gradients by Gauss-Legendre quadrature.

    ``values`` is the 2n-node result; ``error_estimate`` = max_j |Q_2n - Q_n| is an a-posteriori
    *estimate* of the error of the n-node rule (hence, in practice, a generous one for the 2n-node
    rule), not a rigorous bound: a rigorous bound would need bounds on the 2n-th derivative of the
    gradient along the path.
    """

    values: np.ndarray
    error_estimate: float
    n_nodes: int

    def __iter__(self):
        yield self.values
        yield self.error_estimate


def gauss_legendre_01(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the n-point Gauss-Legendre rule on [0, 1] (weights sum to 1)."""
    t, w = np.polynomial.legendre.leggauss(n)
    return (t + 1) / 2, w / 2


def integrated_gradients_smooth(grad_f: Callable, x, baseline, n_nodes: int = 32) -> QuadratureResult:
    """Integrated Gradients IG_j = (x_j - x'_j) int_0^1 d_j f(x' + t (x - x')) dt.

    Parameters
    ----------
    grad_f : callable
        The gradient of the model: a point (d,) -> a vector (d,).
    x, baseline : vectors of length d
    n_nodes : int
        n; the gradient is evaluated at n + 2n points (Gauss-Legendre with n and 2n nodes).

    Returns
    -------
    QuadratureResult
        ``values`` (the 2n-node rule), ``error_estimate`` (max_j |Q_2n - Q_n|; an estimate, see
        :class:`QuadratureResult`) and ``n_nodes`` (2n). Gauss-Legendre with m nodes is exact for
        polynomial integrands of degree <= 2m - 1 and converges geometrically for analytic ones
        (softplus networks are analytic).
    """
    x = as_vector(x, "x")
    baseline = as_vector(baseline, "baseline", length=x.shape[0])
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, (int, np.integer)) or n_nodes < 1:
        raise PolyattrError(f"n_nodes: expected a positive integer, got {n_nodes!r}")
    if not callable(grad_f):
        raise PolyattrError(f"grad_f: expected a callable gradient, got {type(grad_f).__name__}")
    delta = x - baseline

    def rule(n):
        t, w = gauss_legendre_01(n)
        acc = np.zeros_like(x)
        for ti, wi in zip(t, w):
            g = np.asarray(grad_f(baseline + ti * delta), dtype=float).reshape(-1)
            if g.shape != x.shape:
                raise PolyattrError(f"grad_f: expected a gradient of shape {x.shape}, got {g.shape}")
            acc += wi * g
        return delta * acc

    coarse, fine = rule(int(n_nodes)), rule(2 * int(n_nodes))
    if not (np.all(np.isfinite(coarse)) and np.all(np.isfinite(fine))):
        raise PolyattrError("grad_f: returned NaN or infinite values")
    return QuadratureResult(fine, float(np.max(np.abs(fine - coarse))), 2 * int(n_nodes))
