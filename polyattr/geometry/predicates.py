"""Filtered sign predicates on a network's pre-activations (float first, exact when needed).

Region enumeration decides signs: on which side of a neuron's hyperplane a point lies, whether a
neuron is identically 0 on a region (then it is inactive in the canonical pattern).  As in CGAL's
filtered kernels and Shewchuk's adaptive predicates, each sign is first evaluated in float64
together with a proven bound on the rounding error; when ``|value| > bound`` the float sign is the
exact sign, otherwise the value is recomputed in exact rational arithmetic (float inputs are
dyadic rationals, so this is the exact value of the same float data).

Error bound (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1): a dot product of n
terms plus a bias, evaluated in any order (with or without FMA), satisfies

    |fl(w . h + b) - (w . h + b)| <= gamma_{n+1} (|w| . |h| + |b|) + (n + 1) eta,
    gamma_m = m u / (1 - m u),  u = 2^-53,  eta = 2^-1074 (underflow),

for the *computed* inputs h.  An input error e (|h_computed - h_exact| <= e) adds |w| . e, and a
ReLU does not increase it (1-Lipschitz).  Layer by layer this gives a bound for every hidden
pre-activation at a point; the lift of reduced coordinates z = E u + z0 is the first dot product.
A unit with slope alpha (0 ReLU, leaky otherwise, 1 identity) is max(1, |alpha|)-Lipschitz and
fl(alpha a) adds u |alpha a| (the model's own analysis, :meth:`ReLUNetwork.evaluation_error_bound`).
The bound is itself computed in floats: every term is non-negative, so its relative rounding error
is below gamma_{n+3}; multiplying by (1 + 1e-8) per layer covers it for n < 10^6.

The same recursion bounds the rounding of the affine maps (G, h) of the pre-activations under a
pattern (a neuron is identically 0 on the support exactly when its G row and h vanish exactly).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from polyattr.models.protocol import PiecewiseAffineModel
from polyattr.numerics import ETA as _ETA
from polyattr.numerics import UNIT_ROUNDOFF as _U
from polyattr.numerics import gamma as _gamma

_SAFETY = 1.0 + 1e-8


class FilteredNetwork:
    """Exact sign predicates for a float network on a domain z = E u + z0 (reduced coordinates u).

    Parameters
    ----------
    net : ReLUNetwork
        The model (float or exact; its float64 weights are the data whose signs are decided).
    embedding, offset : arrays (d, k), (d,), optional
        The domain's reduction (identity by default), in float64.

    Attributes
    ----------
    exact_evaluations : int
        How many points or patterns needed the exact fallback (the float bound did not decide).
    """

    def __init__(self, net: PiecewiseAffineModel, embedding=None, offset=None):
        self.net = net.to_float()
        d = self.net.n_inputs
        self.E = np.eye(d) if embedding is None else np.asarray(embedding, dtype=float)
        self.z0 = np.zeros(d) if offset is None else np.asarray(offset, dtype=float)
        slopes = [np.broadcast_to(np.asarray(a, dtype=float), (W.shape[0],))
                  for W, a in zip(self.net.weights[:-1], self.net.negative_slopes)]
        self.layers = list(zip(self.net.weights[:-1], self.net.biases[:-1], slopes))
        self.cut = np.concatenate([a != 1 for a in slopes]) if slopes else np.zeros(0, dtype=bool)
        self._exact_net = None
        self._intnet = None
        self.exact_evaluations = 0

    # ------------------------------------------------------------------ exact twins
    def _exact(self) -> ReLUNetwork:
        if self._exact_net is None:
            self._exact_net = self.net.to_exact()
        return self._exact_net

    def _integer_network(self):
        if self._intnet is None:
            from polyattr.geometry.exact_regions import _IntegerNetwork

            E = np.array([[Fraction(float(x)) for x in row] for row in self.E], dtype=object).reshape(self.E.shape)
            z0 = np.array([Fraction(float(x)) for x in self.z0], dtype=object)
            self._intnet = _IntegerNetwork(self._exact().compose_affine(E, z0))  # exact composition
        return self._intnet

    # ------------------------------------------------------------------ points
    def preactivations(self, U) -> tuple[np.ndarray, np.ndarray]:
        """Float pre-activations of every hidden neuron at the points U (n, k) and their error bounds."""
        U = np.atleast_2d(np.asarray(U, dtype=float))
        k = U.shape[1]
        h = U @ self.E.T + self.z0
        err = (_gamma(k + 1) * (np.abs(U) @ np.abs(self.E).T + np.abs(self.z0)) + (k + 1) * _ETA) * _SAFETY
        values, bounds = [], []
        for W, b, alpha in self.layers:
            n = W.shape[1] + 1
            absW = np.abs(W)
            pre = h @ W.T + b
            err = (err @ absW.T + _gamma(n) * (np.abs(h) @ absW.T + np.abs(b)) + n * _ETA) * _SAFETY
            values.append(pre)
            bounds.append(err)
            h = np.where(pre > 0, pre, pre * alpha) + 0.0
            rounds = (alpha != 0) & (alpha != 1)
            err = (np.maximum(1.0, np.abs(alpha)) * err + np.where(rounds, _U * np.abs(alpha * pre), 0.0)) * _SAFETY
        if not values:
            z = np.zeros((U.shape[0], 0))
            return z, z
        return np.concatenate(values, axis=1)[:, self.cut], np.concatenate(bounds, axis=1)[:, self.cut]

    def signs(self, U) -> np.ndarray:
        """Exact signs (-1, 0, 1) of every hidden pre-activation at the float points U (n, k)."""
        U = np.atleast_2d(np.asarray(U, dtype=float))
        pre, bound = self.preactivations(U)
        out = np.sign(pre).astype(np.int8)
        undecided = np.abs(pre) <= bound
        for i in np.flatnonzero(undecided.any(axis=1)):
            self.exact_evaluations += 1
            u = [Fraction(float(x)) for x in U[i]]
            z = [sum((Fraction(float(self.E[r, j])) * u[j] for j in range(len(u)) if self.E[r, j] != 0),
                     start=Fraction(float(self.z0[r]))) for r in range(self.E.shape[0])]
            exact = np.atleast_1d(self._exact().hidden_preactivations(np.array(z, dtype=object)))
            out[i] = [(v > 0) - (v < 0) for v in exact]
        return out

    def pattern_at(self, u) -> tuple[np.ndarray, np.ndarray]:
        """The activation pattern at the point u (> 0 is active) and where the pre-activation is exactly 0."""
        s = self.signs(u)[0]
        return s > 0, s == 0

    # ------------------------------------------------------------------ patterns
    def canonical(self, pattern) -> tuple[np.ndarray, np.ndarray]:
        """The canonical pattern (identically-0 neurons inactive) and the identically-0 mask.

        A neuron is identically 0 on the support when its pre-activation map (under the earlier
        layers' pattern) has G row and offset exactly 0.  An identically-0 neuron outputs 0
        whether marked active or not, so later layers do not depend on the marking.
        """
        pat = np.array(pattern, dtype=bool)
        full = np.ones(self.cut.shape[0], dtype=bool)  # all units; identity units pass through
        full[self.cut] = pat
        G, h = self.E, self.z0
        eG = np.zeros_like(G)
        eh = np.zeros_like(h)
        zero_parts, ambiguous = [], False
        start = 0
        for W, b, alpha in self.layers:
            n = W.shape[1] + 1
            absW = np.abs(W)
            G_pre = W @ G
            h_pre = W @ h + b
            # underflow can only hit entries that have a non-zero term (structurally)
            support = absW > 0
            tG = (support @ ((G != 0) | (eG > 0))) > 0
            th = (support @ ((h != 0) | (eh > 0)) + (b != 0)) > 0
            eG = (absW @ eG + _gamma(n) * (absW @ np.abs(G)) + n * _ETA * tG) * _SAFETY
            eh = (absW @ eh + _gamma(n) * (absW @ np.abs(h) + np.abs(b)) + n * _ETA * th) * _SAFETY
            # decided non-zero: some entry exceeds its bound; decided zero: all entries 0 with bound 0
            nonzero = (np.abs(G_pre) > eG).any(axis=1) | (np.abs(h_pre) > eh)
            exact_zero = ((G_pre == 0) & (eG == 0)).all(axis=1) & (h_pre == 0) & (eh == 0)
            m = W.shape[0]
            cut = self.cut[start:start + m]
            if np.any(cut & ~nonzero & ~exact_zero):
                ambiguous = True
                break
            zero_parts.append(exact_zero[cut])
            mask = full[start:start + m] & ~(exact_zero & cut)
            full[start:start + m] = mask
            factor = np.where(mask, 1.0, alpha)
            rounds = ~mask & (alpha != 0) & (alpha != 1)
            lip = np.maximum(1.0, np.abs(factor))
            eG = (lip[:, None] * eG + np.where(rounds[:, None], _U * np.abs(alpha[:, None] * G_pre), 0.0)) * _SAFETY
            eh = (lip * eh + np.where(rounds, _U * np.abs(alpha * h_pre), 0.0)) * _SAFETY
            G = G_pre * factor[:, None]
            h = h_pre * factor
            start += m
        pat = full[self.cut]
        if ambiguous:
            self.exact_evaluations += 1
            intnet = self._integer_network()
            canon, A, c, _ = intnet.rows(np.asarray(pattern, dtype=bool))
            k = self.E.shape[1]
            zero = np.array([not any(A[r, j] != 0 for j in range(k)) and c[r] == 0 for r in range(A.shape[0])],
                            dtype=bool)
            return np.asarray(canon, dtype=bool), zero.reshape(-1)
        zero = np.concatenate(zero_parts) if zero_parts else np.zeros(0, dtype=bool)
        return pat, zero
