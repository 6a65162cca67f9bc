"""Dense softplus networks: smooth (C-infinity) relatives of ReLU networks.

A :class:`SoftplusNetwork` has the layer format of :class:`~polyattr.models.relu.ReLUNetwork`
(``W_i`` of shape (out, in), an affine output layer) with the activation

    softplus_beta(t) = log(1 + exp(beta t)) / beta,

which tends to ReLU as beta -> infinity (uniformly: 0 <= softplus_beta(t) - relu(t) <= log(2)/beta).
Its derivatives are sigma'(t) = logistic(beta t) in (0, 1) and
sigma''(t) = beta logistic(beta t) (1 - logistic(beta t)) in (0, beta/4].

These models are what Theorem 2.1 (THEORY.md §2) is about: they are C^2, and
:meth:`SoftplusNetwork.hessian_bound` certifies an upper bound on the Hessian norm over a box.
Gradient and Hessian are computed in closed form (forward Jacobians and backward adjoints).
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.numbers import as_vector
from polyattr.models.relu import ReLUNetwork

# Relative safety margin applied to the certified Hessian bound: it absorbs the floating-point
# rounding of the interval arithmetic and spectral norms (all of which are O(1e-15) relative).
_ROUNDING_MARGIN = 1e-9


def softplus(t: np.ndarray, beta: float) -> np.ndarray:
    """log(1 + exp(beta t)) / beta without overflow: (max(bt, 0) + log1p(exp(-|bt|))) / beta."""
    bt = beta * np.asarray(t, dtype=float)
    return (np.maximum(bt, 0.0) + np.log1p(np.exp(-np.abs(bt)))) / beta


def expit(t):
    """The logistic function 1 / (1 + exp(-t)), imported from scipy.special on first use (its import is slow)."""
    from scipy.special import expit as _expit

    return _expit(t)


def softplus_d1(t: np.ndarray, beta: float) -> np.ndarray:
    """First derivative: the logistic function of beta t."""
    return expit(beta * np.asarray(t, dtype=float))


def softplus_d2(t: np.ndarray, beta: float) -> np.ndarray:
    """Second derivative beta s (1 - s), s = logistic(beta t), computed as beta s(bt) s(-bt)."""
    bt = beta * np.asarray(t, dtype=float)
    return beta * expit(bt) * expit(-bt)


def _check_beta(beta) -> float:
    if isinstance(beta, bool):
        raise PolyattrError(f"beta: expected a positive finite number, got {beta!r}")
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise PolyattrError(f"beta: expected a positive finite number, got {beta!r}") from None
    if not np.isfinite(b) or b <= 0:
        raise PolyattrError(f"beta: expected a positive finite number, got {beta!r}")
    return b


class SoftplusNetwork:
    """A dense network with softplus_beta after every layer but the last, which is affine.

    Parameters
    ----------
    weights : sequence of arrays
        ``weights[i]`` has shape (out_i, in_i), as in PyTorch's ``nn.Linear``.
    biases : sequence of arrays
        ``biases[i]`` has shape (out_i,).
    beta : float
        Sharpness of the activation (> 0); beta -> infinity gives the ReLU network.
    """

    def __init__(self, weights: Sequence, biases: Sequence, beta: float = 1.0):
        # Reuse ReLUNetwork's validation of the layer format (shapes, finiteness, messages).
        layers = ReLUNetwork(weights, biases)
        self.weights: tuple[np.ndarray, ...] = layers.weights
        self.biases: tuple[np.ndarray, ...] = layers.biases
        self.beta = _check_beta(beta)
        self._layers = layers

    @classmethod
    def from_relu(cls, net: ReLUNetwork, beta: float = 1.0) -> "SoftplusNetwork":
        """The softplus network with the weights of ``net`` (floats; exact weights are rounded)."""
        if not isinstance(net, ReLUNetwork):
            raise PolyattrError(f"net: expected a ReLUNetwork, got {type(net).__name__}")
        if not net.is_relu:
            raise PolyattrError("net: the softplus smoothing is defined for plain ReLU units; this network has "
                                "leaky-ReLU or identity units")
        net = net.to_float()
        return cls(net.weights, net.biases, beta=beta)

    def to_relu(self) -> ReLUNetwork:
        """The ReLU network with the same weights (the beta -> infinity limit)."""
        return ReLUNetwork(self.weights, self.biases)

    # ------------------------------------------------------------------ shape
    @property
    def n_inputs(self) -> int:
        return self.weights[0].shape[1]

    @property
    def n_outputs(self) -> int:
        return self.weights[-1].shape[0]

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(W.shape[0] for W in self.weights[:-1])

    def __repr__(self) -> str:
        sizes = [self.n_inputs, *self.hidden_sizes, self.n_outputs]
        return f"SoftplusNetwork({'-'.join(map(str, sizes))}, beta={self.beta:g})"

    def check_output(self, output: int | None) -> int:
        """Validate an output index; ``None`` means 0 for a single-output network."""
        return self._layers.check_output(output)

    def _check_points(self, X, name: str = "x") -> tuple[np.ndarray, bool]:
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise PolyattrError(f"{name}: expected numbers") from None
        single = arr.ndim == 1
        arr = np.atleast_2d(arr)
        if arr.ndim != 2 or arr.shape[1] != self.n_inputs:
            raise PolyattrError(f"{name}: expected {self.n_inputs} features per point, got array of shape {np.shape(X)}")
        if not np.all(np.isfinite(arr)):
            raise PolyattrError(f"{name}: contains NaN or infinite values")
        return arr, single

    # -------------------------------------------------------------- evaluation
    def __call__(self, X, output: int | None = None):
        """Evaluate at one point (d,) or a batch (n, d); all outputs unless ``output`` is given
        (a single-output network returns the scalar output)."""
        arr, single = self._check_points(X)
        h = arr
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            h = softplus(h @ W.T + b, self.beta)
        out = h @ self.weights[-1].T + self.biases[-1]
        if output is not None or self.n_outputs == 1:
            out = out[:, self.check_output(output)]
        return out[0] if single else out

    def _forward(self, arr: np.ndarray):
        """Pre-activations of every hidden layer for a batch (n, d)."""
        pres, h = [], arr
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            a = h @ W.T + b
            pres.append(a)
            h = softplus(a, self.beta)
        return pres

    def gradient(self, x, output: int | None = None) -> np.ndarray:
        """Gradient of output ``output`` at x (d,) -> (d,), or at a batch (n, d) -> (n, d).

        Backpropagation: delta_L = W_L[k], delta_l = W_l^T (sigma'(a_l) * delta_{l+1}),
        grad f = delta_0.
        """
        arr, single = self._check_points(x)
        k = self.check_output(output)
        pres = self._forward(arr)
        delta = np.broadcast_to(self.weights[-1][k], (arr.shape[0], self.weights[-1].shape[1]))
        for W, a in zip(reversed(self.weights[:-1]), reversed(pres)):
            delta = (softplus_d1(a, self.beta) * delta) @ W
        return delta[0] if single else delta

    def hessian(self, x, output: int | None = None) -> np.ndarray:
        """Hessian of output ``output`` at x (d,) -> (d, d), or at a batch (n, d) -> (n, d, d).

        With a_l the pre-activations of hidden layer l, G_l = d a_l / d z (forward Jacobians,
        G_0 = W_0, G_l = W_l diag(sigma'(a_{l-1})) G_{l-1}) and delta_{l+1} = d f / d h_{l+1} the
        backward adjoints of the layer outputs h_{l+1} = sigma(a_l),

            Hess f(z) = sum_l G_l^T diag(delta_{l+1} * sigma''(a_l)) G_l.

        (Differentiate grad f = sum over paths; equivalently, by induction on the depth: the
        Hessian of F(sigma(a(z))) is J^T Hess F J + sum_i dF/dh_i sigma''(a_i) grad a_i grad a_i^T,
        where J = diag(sigma'(a)) G, and the first term is again of this form for the deeper layers.)
        """
        arr, single = self._check_points(x)
        k = self.check_output(output)
        n, d = arr.shape
        pres = self._forward(arr)
        # forward Jacobians G_l (n, width_l, d)
        Gs = []
        G = np.broadcast_to(self.weights[0], (n, *self.weights[0].shape))
        Gs.append(G)
        for W, a in zip(self.weights[1:-1], pres[:-1]):
            G = np.einsum("oi,ni,nid->nod", W, softplus_d1(a, self.beta), G)
            Gs.append(G)
        # backward adjoints delta_{l+1} (n, width_l)
        deltas = [None] * len(pres)
        delta = np.broadcast_to(self.weights[-1][k], (n, self.weights[-1].shape[1]))
        for l in range(len(pres) - 1, -1, -1):
            deltas[l] = delta
            delta = (softplus_d1(pres[l], self.beta) * delta) @ self.weights[l]
        H = np.zeros((n, d, d))
        for G, a, dl in zip(Gs, pres, deltas):
            c = dl * softplus_d2(a, self.beta)
            H += np.einsum("nid,ni,nie->nde", G, c, G)
        return H[0] if single else H

    # ------------------------------------------------------ certified bounds
    def preactivation_bounds(self, domain) -> list[tuple[np.ndarray, np.ndarray]]:
        """Interval bounds [lo_l, hi_l] on the pre-activations of every hidden layer over the box.

        Interval arithmetic: an affine map sends the box with centre m and radius r to the box
        with centre W m + b and radius |W| r (exact for the first layer); softplus is increasing,
        so [lo, hi] maps onto [sigma(lo), sigma(hi)].
        """
        lower, upper = self._check_domain(domain)
        return self._interval_preactivations(lower, upper)

    def _check_domain(self, domain) -> tuple[np.ndarray, np.ndarray]:
        if hasattr(domain, "lower") and hasattr(domain, "upper") and hasattr(domain, "dim"):  # a Box
            if domain.dim != self.n_inputs:
                raise PolyattrError(f"domain: expected a box in R^{self.n_inputs}, got dimension {domain.dim}")
            return np.asarray(domain.lower, dtype=float), np.asarray(domain.upper, dtype=float)
        if isinstance(domain, tuple) and len(domain) == 2:
            lower = as_vector(domain[0], "lower", length=self.n_inputs)
            upper = as_vector(domain[1], "upper", length=self.n_inputs)
            if np.any(lower > upper):
                raise PolyattrError("lower/upper: expected lower <= upper in every coordinate")
            return lower, upper
        raise PolyattrError(f"domain: expected a Box or a (lower, upper) pair, got {type(domain).__name__}")

    def _interval_preactivations(self, lower, upper):
        out = []
        mid, rad = (lower + upper) / 2, (upper - lower) / 2
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            c, r = W @ mid + b, np.abs(W) @ rad
            lo, hi = c - r, c + r
            out.append((lo, hi))
            slo, shi = softplus(lo, self.beta), softplus(hi, self.beta)
            mid, rad = (slo + shi) / 2, (shi - slo) / 2
        return out

    def adjoint_bounds(self, domain, output: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Interval bounds on the adjoints delta_{l+1} = d f / d h_{l+1} (l = 0..L-1) over the box.

        delta_L = W_L[k] exactly; delta_l = W_l^T (sigma'(a_l) * delta_{l+1}) with
        sigma'(a_l) in [sigma'(lo_l), sigma'(hi_l)] (positive): the product of two intervals is
        bounded by its four corner products, and W^T maps an interval vector with centre m and
        radius r into the one with centre W^T m and radius |W^T| r.
        """
        lower, upper = self._check_domain(domain)
        k = self.check_output(output)
        return self._adjoint_intervals(self._interval_preactivations(lower, upper), k)

    def _adjoint_intervals(self, bounds, k: int):
        n_hidden = len(self.weights) - 1
        d_lo = d_hi = self.weights[-1][k].astype(float)
        out = [None] * n_hidden
        for l in range(n_hidden - 1, -1, -1):
            out[l] = (d_lo, d_hi)
            s_lo = softplus_d1(bounds[l][0], self.beta)
            s_hi = softplus_d1(bounds[l][1], self.beta)
            corners = np.stack([s_lo * d_lo, s_lo * d_hi, s_hi * d_lo, s_hi * d_hi])
            e_lo, e_hi = corners.min(axis=0), corners.max(axis=0)
            W = self.weights[l]
            m, r = (e_lo + e_hi) / 2, (e_hi - e_lo) / 2
            c, rr = W.T @ m, np.abs(W.T) @ r
            d_lo, d_hi = c - rr, c + rr
        return out

    def hessian_bound(self, domain, output: int | None = None, splits: int = 1) -> float:
        r"""A certified upper bound M >= sup over z in the box of ||Hess f(z)||_2 (operator norm).

        Parameters
        ----------
        domain : Box, or a (lower, upper) pair (lower <= upper allowed, e.g. a point or a face)
        output : int or None
            The output whose Hessian is bounded.
        splits : int
            Cut every axis into ``splits`` equal pieces and return the largest of the bounds over
            the splits^d sub-boxes (a sup over a union is the max of the sups). Interval bounds
            tighten on small boxes, so this trades time for tightness.

        Returns
        -------
        float
            M such that ||Hess f(z)||_op <= M for every z with lower <= z <= upper.

        Derivation (proof)
        ------------------
        Write a_l = W_l h_l + b_l (hidden layers l = 0..L-1, h_0 = z, h_{l+1} = sigma(a_l)),
        f = W_L[k] h_L + b_L[k], G_l(z) = d a_l / d z and delta_{l+1}(z) = d f / d h_{l+1}. Then
        (see :meth:`hessian`)

            Hess f(z) = sum_l sum_i c_{l,i}(z) g_{l,i} g_{l,i}^T,  c_{l,i} = delta_{l+1,i} sigma''(a_{l,i}),

        with g_{l,i} the i-th row of G_l. Suppose |c_{l,i}(z)| <= C_{l,i} on the box. For a unit
        vector v, |v^T (sum_i c_i g_i g_i^T) v| <= sum_i C_i (g_i.v)^2 = ||diag(sqrt C) G v||^2, so the
        l-th term has norm <= ||diag(sqrt C_l) G_l(z)||_2^2, and the triangle inequality over layers
        gives M = sum_l T_l with T_l >= sup_z ||diag(sqrt C_l) G_l(z)||_2^2. The ingredients:

        1. Pre-activation intervals a_l(z) in [lo_l, hi_l] (:meth:`preactivation_bounds`).
        2. sigma' = logistic(beta t) is increasing, so 0 < sigma'(a_{l,i}) <= s_{l,i} := sigma'(hi_{l,i}).
           sigma''(t) = beta s(1-s) is even and decreasing in |t|, so sup over [lo, hi] of sigma''
           is beta/4 when 0 is in [lo, hi] and sigma'' at the endpoint nearest 0 otherwise.
        3. Adjoint intervals: delta_L = W_L[k] exactly, and delta_l = W_l^T (sigma'(a_l) * delta_{l+1})
           is bounded by interval arithmetic (a product of intervals has its extremes at corners; an
           interval vector through W^T has centre W^T m and radius |W^T| r). Then
           C_{l,i} = sup sigma''_{l,i} * max(|lower delta_{l+1,i}|, |upper delta_{l+1,i}|).
        4. Jacobians: G_0 = W_0 and G_l = W_l diag(sigma'(a_{l-1})) G_{l-1}. Two valid bounds:
           (a) norms: with N_0 = ||W_0||, N_l = ||W_l diag(s_{l-1})|| N_{l-1} >= ||G_l|| because
               ||W diag(sigma') x|| = ||W diag(s) diag(sigma'/s) x|| <= ||W diag(s)|| ||x|| (0 <= sigma'/s <= 1);
               and ||diag(sqrt C_l) G_l|| <= ||diag(sqrt C_l) W_l diag(s_{l-1})|| N_{l-1} likewise;
           (b) entries: |G_l| <= B_l entrywise with B_0 = |W_0|, B_l = |W_l| diag(s_{l-1}) B_{l-1}, and
               ||A||_2 <= || |A| ||_2 <= ||B||_2 whenever |A| <= B entrywise (|x^T A y| <= |x|^T B |y|),
               so ||diag(sqrt C_l) G_l|| <= ||diag(sqrt C_l) B_l||.
           T_l is the square of the smaller of (a) and (b).
        Second, sign-aware bound (c): midpoint-radius interval arithmetic on the matrices themselves.
        G_l lies in an interval matrix (G_0 = W_0 exactly; G_l = W_l (diag(sigma') G_{l-1}) with
        sigma'(a_{l-1}) in [sigma'(lo), sigma'(hi)]), c_{l,i} in [delta interval] x [inf sigma'', sup sigma'']
        (inf of the unimodal sigma'' over [lo, hi] is at an endpoint), so Hess f(z) lies in an interval
        matrix with centre H_c and radius H_r >= 0 (products of intervals [m1 +- r1][m2 +- r2] lie in
        m1 m2 +- (|m1| r2 + r1 |m2| + r1 r2)). Then ||Hess f(z)|| <= ||H_c||_2 + ||H_r||_2 since
        |Hess - H_c| <= H_r entrywise. Unlike the sum over layers and neurons of (a)-(b), this keeps the
        signs of the curvature terms, and it converges to the true sup as the boxes shrink.
        Each sub-box gets min(sum_l T_l, (c)).
        The result is enlarged by a relative 1e-9 to cover floating-point rounding. Cruder but
        simpler corollary: M <= (beta/4) ||W_L[k]|| sum_l prod_{i > l} ||W_i|| prod_{i <= l} ||W_i||^2 (all
        sigma' <= 1, sigma'' <= beta/4); see :meth:`hessian_bound_crude`. The interval version is
        usually much tighter, above all on small boxes (it is exact for a single neuron).
        """
        lower, upper = self._check_domain(domain)
        k = self.check_output(output)
        if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
            raise PolyattrError(f"splits: expected a positive integer, got {splits!r}")
        if float(splits) ** self.n_inputs > 1e6:
            raise PolyattrError(f"splits: {splits}^{self.n_inputs} sub-boxes is too many (at most 1e6)")
        if len(self.weights) == 1:
            return 0.0  # an affine model
        if splits == 1:
            return self._hessian_bound_box(lower, upper, k)
        edges = [np.linspace(lo, hi, int(splits) + 1) for lo, hi in zip(lower, upper)]
        best = 0.0
        for idx in itertools.product(range(int(splits)), repeat=self.n_inputs):
            lo = np.array([e[i] for e, i in zip(edges, idx)])
            hi = np.array([e[i + 1] for e, i in zip(edges, idx)])
            best = max(best, self._hessian_bound_box(lo, hi, k))
        return best

    def _hessian_bound_box(self, lower, upper, k: int) -> float:
        layerwise = self._hessian_bound_layerwise(lower, upper, k)
        matrix = self._hessian_bound_interval_matrix(lower, upper, k)
        return float(min(layerwise, matrix) * (1 + _ROUNDING_MARGIN))

    def _hessian_bound_interval_matrix(self, lower, upper, k: int) -> float:
        """Bound (c) of :meth:`hessian_bound`: ||H_c||_2 + ||H_r||_2 for an interval Hessian."""
        beta = self.beta
        bounds = self._interval_preactivations(lower, upper)
        adjoints = self._adjoint_intervals(bounds, k)
        d = self.n_inputs
        Hc, Hr = np.zeros((d, d)), np.zeros((d, d))
        Gm, Gr = self.weights[0].astype(float), np.zeros_like(self.weights[0], dtype=float)
        for l, ((lo, hi), (dlo, dhi)) in enumerate(zip(bounds, adjoints)):
            if l > 0:
                plo, phi = bounds[l - 1]
                s_lo, s_hi = softplus_d1(plo, beta), softplus_d1(phi, beta)
                sm, sr = (s_lo + s_hi) / 2, (s_hi - s_lo) / 2
                Tm = sm[:, None] * Gm
                Tr = np.abs(sm)[:, None] * Gr + sr[:, None] * np.abs(Gm) + sr[:, None] * Gr
                W = self.weights[l]
                Gm, Gr = W @ Tm, np.abs(W) @ Tr
            t_near = np.where(lo > 0, lo, np.where(hi < 0, hi, 0.0))
            c2_hi = softplus_d2(t_near, beta)
            c2_lo = np.minimum(softplus_d2(lo, beta), softplus_d2(hi, beta))
            qm, qr = (c2_lo + c2_hi) / 2, (c2_hi - c2_lo) / 2
            dm, dr = (dlo + dhi) / 2, (dhi - dlo) / 2
            cm = dm * qm
            cr = np.abs(dm) * qr + dr * np.abs(qm) + dr * qr
            absGm = np.abs(Gm)
            # outer products g_i g_i^T as interval matrices, then times c_i, summed over neurons
            Hc += np.einsum("i,ij,ik->jk", cm, Gm, Gm)
            Pm_abs = np.einsum("ij,ik->ijk", absGm, absGm)
            Pr = np.einsum("ij,ik->ijk", absGm, Gr)
            Pr = Pr + Pr.transpose(0, 2, 1) + np.einsum("ij,ik->ijk", Gr, Gr)
            Hr += np.einsum("i,ijk->jk", np.abs(cm), Pr) + np.einsum("i,ijk->jk", cr, Pm_abs + Pr)
        return float(np.linalg.norm(Hc, 2) + np.linalg.norm(Hr, 2))

    def _hessian_bound_layerwise(self, lower, upper, k: int) -> float:
        """Bound sum_l T_l of :meth:`hessian_bound` ((a) and (b) there)."""
        beta = self.beta
        n_hidden = len(self.weights) - 1
        bounds = self._interval_preactivations(lower, upper)
        s_hi = [softplus_d1(hi, beta) for _, hi in bounds]
        curv = []
        for lo, hi in bounds:
            t_near = np.where(lo > 0, lo, np.where(hi < 0, hi, 0.0))
            curv.append(softplus_d2(t_near, beta))
        delta_abs = [np.maximum(np.abs(lo), np.abs(hi)) for lo, hi in self._adjoint_intervals(bounds, k)]
        total = 0.0
        N_prev = None
        B_prev = None
        for l in range(n_hidden):
            W = self.weights[l]
            sqrtC = np.sqrt(curv[l] * delta_abs[l])
            if l == 0:
                via_norm = np.linalg.norm(sqrtC[:, None] * W, 2)
                N = np.linalg.norm(W, 2)
                B = np.abs(W)
                via_entries = np.linalg.norm(sqrtC[:, None] * B, 2)
            else:
                Ws = W * s_hi[l - 1][None, :]
                via_norm = np.linalg.norm(sqrtC[:, None] * Ws, 2) * N_prev
                N = np.linalg.norm(Ws, 2) * N_prev
                B = np.abs(Ws) @ B_prev
                via_entries = np.linalg.norm(sqrtC[:, None] * B, 2)
                N = min(N, np.linalg.norm(B, 2))
            N_prev, B_prev = N, B
            total += min(via_norm, via_entries) ** 2
        return float(total)

    def hessian_bound_crude(self, output: int | None = None) -> float:
        """The box-independent bound (beta/4) sum_l ||delta||-bound ||G_l||^2 with sigma' <= 1.

        Valid on all of R^d: with sigma' <= 1 and sigma'' <= beta/4, ||G_l|| <= prod_{i<=l} ||W_i||
        and ||delta_{l+1}|| <= ||W_L[k]|| prod_{l<i<L} ||W_i||, and
        ||G^T diag(c) G|| <= max|c_i| ||G||^2 <= ||c||_2 ||G||^2.
        """
        k = self.check_output(output)
        norms = [np.linalg.norm(W, 2) for W in self.weights[:-1]]
        w_out = np.linalg.norm(self.weights[-1][k])
        total = 0.0
        for l in range(len(norms)):
            g = np.prod(norms[: l + 1])
            dl = w_out * np.prod(norms[l + 1 :])
            total += self.beta / 4 * dl * g**2
        return float(total * (1 + _ROUNDING_MARGIN))
