"""Metrics of an attribution vector phi that the measure optimisers maximise.

Each objective gives its value on a numpy vector (for checking a solution independently of the
solver) and a cvxpy model of "maximise the metric over phi" given as an affine expression.

* :class:`RecallAtK` -- |top_k(|phi|) ∩ D| / |D| against a ground-truth feature set D (THEORY.md
  §5): a mixed-integer program (binary "in the top k" and "sign" indicators, big-M constraints
  with a strict separation ``margin`` so the top k is unambiguous).
* :class:`LinearMetric` -- g . phi: a linear program.
* :class:`QuadraticMetric` -- -(phi^T Q phi + q . phi + c) with Q positive semidefinite (for
  instance minus the infidelity of phi on a linear model): a QP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polyattr.errors import PolyattrError


@dataclass(frozen=True)
class RecallAtK:
    """Recall@k of the features ranked by |phi| against the ground-truth set ``truth``.

    ``margin`` (>= 0, in units of phi) is the strict gap required between the k-th and the
    (k+1)-th largest |phi|: with a positive margin the top k is unambiguous, so the recall a
    solver claims is the recall anyone recomputes from phi by sorting.
    """

    truth: tuple
    k: int
    margin: float = 0.0

    def __post_init__(self):
        if not self.truth or len(set(self.truth)) != len(self.truth):
            raise PolyattrError(f"truth: expected a non-empty set of distinct feature indices, got {self.truth!r}")
        if int(self.k) != self.k or self.k < 1:
            raise PolyattrError(f"k: expected a positive integer, got {self.k!r}")
        if not np.isfinite(self.margin) or self.margin < 0:
            raise PolyattrError(f"margin: expected a finite number >= 0, got {self.margin!r}")

    name = "recall_at_k"
    smooth = False

    def check(self, d: int):
        if self.k > d:
            raise PolyattrError(f"k: expected k <= {d} (the number of features), got {self.k}")
        if any(not (0 <= int(j) < d) for j in self.truth):
            raise PolyattrError(f"truth: feature indices must lie in [0, {d}), got {self.truth!r}")

    def value(self, phi) -> float:
        """Recall from phi by sorting |phi| (ties broken by feature index)."""
        a = np.abs(np.asarray(phi, float))
        top = set(np.argsort(-a, kind="stable")[: self.k].tolist())
        return len(top & set(int(j) for j in self.truth)) / len(self.truth)

    def separated(self, phi, tol: float = 0.0) -> bool:
        """Whether the k-th largest |phi| exceeds the (k+1)-th by at least margin - tol."""
        a = np.sort(np.abs(np.asarray(phi, float)))[::-1]
        return self.k == len(a) or a[self.k - 1] - a[self.k] >= self.margin - tol

    def cvxpy_model(self, phi, bound: float):
        """(expression to maximise, constraints, auxiliary variables) for phi with |phi_j| <= bound.

        Every objective's expression has the metric's maximisers (not necessarily its value:
        callers recompute the value from the solution with :meth:`value`)."""
        import cvxpy as cp

        d = phi.shape[0]
        top = cp.Variable(d, boolean=True)  # feature j among the k largest |phi_j|
        positive = cp.Variable(d, boolean=True)  # which sign carries |phi_j| for a selected feature
        tau = cp.Variable(nonneg=True)  # threshold: selected |phi| >= tau + margin, others <= tau
        M = 4.0 * bound + 2.0 * self.margin + 1.0
        constraints = [
            cp.sum(top) == self.k,
            phi <= tau + M * top,
            -phi <= tau + M * top,
            phi >= tau + self.margin - M * (1 - top) - M * (1 - positive),
            -phi >= tau + self.margin - M * (1 - top) - M * positive,
            tau <= bound,
        ]
        truth = np.zeros(d)
        truth[list(self.truth)] = 1.0 / len(self.truth)
        return truth @ top, constraints, {"top": top, "positive": positive, "tau": tau}


@dataclass(frozen=True)
class LinearMetric:
    """g . phi (maximised)."""

    g: tuple

    name = "linear"
    smooth = True

    def check(self, d: int):
        if len(self.g) != d or not np.all(np.isfinite(np.asarray(self.g, float))):
            raise PolyattrError(f"g: expected {d} finite coefficients, got {self.g!r}")

    def value(self, phi) -> float:
        return float(np.asarray(self.g, float) @ np.asarray(phi, float))

    def gradient(self, phi) -> np.ndarray:
        return np.asarray(self.g, float)

    def cvxpy_model(self, phi, bound: float):
        return np.asarray(self.g, float) @ phi, [], {}


@dataclass(frozen=True)
class QuadraticMetric:
    """-(phi^T Q phi + q . phi + c) (maximised, i.e. the quadratic is minimised); Q symmetric PSD."""

    Q: tuple
    q: tuple
    c: float = 0.0
    name: str = "quadratic"

    smooth = True

    def check(self, d: int):
        Q = np.asarray(self.Q, float)
        if Q.shape != (d, d) or len(self.q) != d:
            raise PolyattrError(f"Q, q: expected shapes ({d}, {d}) and ({d},), got {Q.shape} and {len(self.q)}")
        if not np.allclose(Q, Q.T) or np.min(np.linalg.eigvalsh(0.5 * (Q + Q.T))) < -1e-12 * max(1.0, np.max(np.abs(Q))):
            raise PolyattrError("Q: expected a symmetric positive semidefinite matrix")

    def value(self, phi) -> float:
        phi = np.asarray(phi, float)
        Q = np.asarray(self.Q, float)
        return -float(phi @ Q @ phi + np.asarray(self.q, float) @ phi + self.c)

    def gradient(self, phi) -> np.ndarray:
        Q = np.asarray(self.Q, float)
        return -(2.0 * Q @ np.asarray(phi, float) + np.asarray(self.q, float))

    def cvxpy_model(self, phi, bound: float):
        import cvxpy as cp

        Q = np.asarray(self.Q, float)
        # scaled to unit largest coefficient (same maximiser): solver tolerances are absolute
        scale = max(float(np.max(np.abs(Q))), float(np.max(np.abs(np.asarray(self.q, float)), initial=0.0)), 1e-300)
        expr = cp.quad_form(phi, cp.psd_wrap(0.5 * (Q + Q.T) / scale)) + (np.asarray(self.q, float) / scale) @ phi
        return -expr, [], {}


def infidelity_metric_linear(weights, radius: float) -> QuadraticMetric:
    """Minus the infidelity of phi on an affine model f(z) = a . z + b, I uniform on [-r, r]^d.

    f(x) - f(x - I) = a . I, so E[(I . phi - a . I)^2] = (phi - a)^T E[I I^T] (phi - a) with
    E[I I^T] = (r^2 / 3) Id: a quadratic in phi whose optimum is phi = a (the gradient).
    """
    a = np.asarray(weights, float)
    s = radius**2 / 3.0
    d = len(a)
    return QuadraticMetric(tuple(map(tuple, s * np.eye(d))), tuple(-2.0 * s * a), float(s * a @ a), name="minus infidelity")


def soft_recall(objective: RecallAtK, phi, temperature: float, eps: float = 1e-9):
    """A smooth surrogate of Recall@k and its gradient in phi: the softmax mass of |phi| / T on the truth set.

    It rises exactly when the true features' |phi| grow relative to the others', which is what
    moves them into the top k; as T -> 0 it tends to 1 if the largest |phi| is a true feature.
    """
    phi = np.asarray(phi, float)
    smooth_abs = np.sqrt(phi**2 + eps**2)
    a = smooth_abs / temperature
    s = np.exp(a - np.max(a))
    s /= np.sum(s)
    mask = np.zeros(len(phi))
    mask[list(objective.truth)] = 1.0
    value = float(mask @ s)
    dS_da = s * (mask - value)
    return value, dS_da * phi / (smooth_abs * temperature)
