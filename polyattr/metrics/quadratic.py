"""The exact quadratic form behind infidelity (Yeh et al. 2019) and its Gram matrices.

For a perturbation law of I and Df = f(x) - f(x - I),

    INFD(phi) = E[(I . phi - Df)^2] = phi^T M phi - 2 phi^T m + s,
    M = E[I I^T],   m = E[I Df],   s = E[Df^2].

* Uniform box I ~ U[-r, r]^d: M = diag(r^2 / 3) in closed form; with u = -I (z = x + u) and
  f(x + u) = w_P . u + c_P on region P of the box, Df = g_P - w_P . u (g_P = f(x) - c_P), so

      m = sum_P ( E[u u^T 1_P] w_P - g_P E[u 1_P] ),
      s = sum_P ( g_P^2 P(P) - 2 g_P w_P . E[u 1_P] + w_P^T E[u u^T 1_P] w_P ):

  polytope integrals of polynomials of degree <= 2 (:mod:`polyattr.metrics.box_regions`).
* Subset masks I = S * (x - baseline): finite sums over the subsets (exact), or seeded samples.
* User samples: the same sums over their empirical law.

With convex weights (sum 1) the residual is linear in the weights, so the infidelity of a mix is
w^T Gamma w with Gamma_ij = E[(I.phi_i - Df)(I.phi_j - Df)] = phi_i^T M phi_j - (phi_i + phi_j).m + s.
Yeh's scale-optimal variant minimises over a scale beta: beta* = phi.m / phi^T M phi and
INFD* = s - (phi.m)^2 / phi^T M phi, exact in rationals.

Float error bounds (uniform box) add: the rounding of the region sums (gamma_n times the sum of
the absolute terms), the tiling defects of the float partition times the largest coefficient they
multiply, and the rounding of the local affine maps (a bound on the error of w_P and c_P) times
the largest |Df| on the box.  Subset masks and samples: the forward error bound of each model
evaluation.  Sampled forms carry a confidence half-width instead (``CONFIDENCE_SIGMAS`` standard
errors of the per-sample values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.geometry.regions import DEFAULT_MAX_REGIONS
from polyattr.metrics.box_regions import BoxRegions, box_regions
from polyattr.metrics.perturbations import PerturbationSamples, SubsetMask, UniformBox, as_perturbation, normalise_rng
from polyattr.metrics.result import CONFIDENCE_SIGMAS
from polyattr.models.protocol import PiecewiseAffineModel, require_model
from polyattr.numerics import gamma

DEFAULT_SUBSET_SAMPLES = 4096


def exact_vector(v, d: int, name: str) -> np.ndarray:
    """A length-d object array of Fractions (floats taken as their exact binary values)."""
    arr = np.asarray(v, dtype=object).reshape(-1)
    if arr.shape != (d,):
        raise PolyattrError(f"{name}: expected {d} values, got shape {np.shape(v)}")
    try:
        return np.array([v if isinstance(v, Fraction) else Fraction(v) for v in arr], dtype=object)
    except (TypeError, ValueError):
        raise PolyattrError(f"{name}: expected finite numbers") from None


def float_vector(v, d: int, name: str) -> np.ndarray:
    arr = np.asarray(v, dtype=object).reshape(-1)
    if arr.shape != (d,):
        raise PolyattrError(f"{name}: expected {d} values, got shape {np.shape(v)}")
    try:
        out = np.array([float(x) for x in arr])
    except (TypeError, ValueError):
        raise PolyattrError(f"{name}: expected numbers") from None
    if not np.all(np.isfinite(out)):
        raise PolyattrError(f"{name}: contains NaN or infinite values")
    return out


@dataclass(frozen=True, eq=False)
class QuadraticForm:
    """INFD(phi) = phi^T M phi - 2 phi^T m + s for one input x and one perturbation law.

    Attributes
    ----------
    M, m, s : the form (Fractions in object arrays when ``exact``).
    exact : bool
    M_error, m_error, s_error : float bounds on |computed - true| of each entry (0 when exact;
        for a sampled form the rounding only -- the sampling error is in the per-phi intervals).
    kind : "deterministic" or "sampled"
    n_samples, seed : the draws of a sampled form (None when deterministic).
    perturbation : dict describing the law.
    samples : (I (n, d), Df (n,)) float arrays of a sampled form, for confidence intervals.
    info : regions used, tiling defects, subsets enumerated, ...
    """

    M: np.ndarray
    m: np.ndarray
    s: object
    exact: bool
    M_error: np.ndarray
    m_error: np.ndarray
    s_error: float
    kind: str = "deterministic"
    n_samples: int | None = None
    seed: int | None = None
    perturbation: dict = field(default_factory=dict)
    samples: tuple | None = None
    info: dict = field(default_factory=dict)

    @property
    def d(self) -> int:
        return len(self.m)

    def _phi(self, phi) -> np.ndarray:
        return exact_vector(phi, self.d, "phi") if self.exact else float_vector(phi, self.d, "phi")

    def _abs(self):
        return (np.abs(np.asarray(self.M, float)), np.abs(np.asarray(self.m, float)), abs(float(self.s)))

    # ------------------------------------------------------------------------------- values
    def value(self, phi, phi_error: float = 0.0):
        """(INFD(phi), bound).  The bound covers the form's own error, the rounding of the
        contraction, ``phi_error`` (a bound on each |phi_j - true phi_j|) and, for a sampled
        form, the confidence half-width."""
        G, bound = self.gram([phi], [phi_error])
        return G[0, 0], float(bound[0, 0])

    def gram(self, phis, phi_errors=None):
        """(Gamma (K, K), bound (K, K) floats): Gamma_ij = E[(I.phi_i - Df)(I.phi_j - Df)]."""
        P = [self._phi(p) for p in phis]
        K = len(P)
        errs = np.zeros(K) if phi_errors is None else np.array([float(e) for e in phi_errors])
        if self.kind == "sampled":
            I, Df = self.samples
            R = np.array([I @ np.asarray(p, float) - Df for p in P])  # (K, n) residuals
            n = R.shape[1]
            G = (R @ R.T) / n
            prods = R[:, None, :] * R[None, :, :]
            half = CONFIDENCE_SIGMAS * prods.std(axis=2, ddof=1) / np.sqrt(n) if n > 1 else np.full((K, K), np.inf)
            bound = half + gamma(n + 2 * self.d + 4) * (np.abs(R) @ np.abs(R).T) / n
            bound += self._phi_error_bound(P, errs)
            return G, bound
        Mp = [self.M @ p for p in P]
        mp = [p @ self.m for p in P]
        G = np.empty((K, K), dtype=object if self.exact else float)
        for i in range(K):
            for j in range(i, K):
                G[i, j] = G[j, i] = P[i] @ Mp[j] - mp[i] - mp[j] + self.s
        bound = np.zeros((K, K))
        if not self.exact:
            aM, am, a_s = self._abs()
            A = [np.abs(np.asarray(p, float)) for p in P]
            for i in range(K):
                for j in range(K):
                    terms = A[i] @ aM @ A[j] + (A[i] + A[j]) @ am + a_s
                    entry_err = A[i] @ self.M_error @ A[j] + (A[i] + A[j]) @ self.m_error + self.s_error
                    bound[i, j] = entry_err + gamma(2 * self.d + 6) * terms
        return G, bound + self._phi_error_bound(P, errs)

    def _phi_error_bound(self, P, errs):
        """|Gamma_ij(phi + e) - Gamma_ij(phi)| for |e_i| <= errs_i entrywise (first and second order)."""
        K = len(P)
        out = np.zeros((K, K))
        if not np.any(errs):
            return out
        aM = np.abs(np.asarray(self.M, float))
        resid = [np.abs(np.asarray(self.M @ p, float) - np.asarray(self.m, float)) for p in P]
        total = float(aM.sum())
        for i in range(K):
            for j in range(K):
                out[i, j] = (errs[i] * resid[j].sum() + errs[j] * resid[i].sum() + errs[i] * errs[j] * total) * (1 + 1e-12)
        return out

    def optimal_scale(self, phi, phi_error: float = 0.0):
        """Yeh's scale-optimal infidelity: (beta*, min_beta E[(beta I.phi - Df)^2], bound).

        beta* = phi.m / phi^T M phi; when phi^T M phi = 0 (I.phi = 0 almost surely) every beta
        gives s and beta* = 0 is returned.
        """
        p = self._phi(phi)
        a = p @ self.m
        b = p @ (self.M @ p)
        if self.kind == "sampled":
            I, Df = self.samples
            pf = np.asarray(p, float)
            beta = float(a) / float(b) if float(b) > 0 else 0.0
            R = beta * (I @ pf) - Df
            n = len(Df)
            value = float(np.mean(R**2))
            half = CONFIDENCE_SIGMAS * float(np.std(R**2, ddof=1)) / np.sqrt(n) if n > 1 else np.inf
            return beta, value, half + gamma(n + self.d + 4) * value
        if b == 0:
            value = self.s
            beta = Fraction(0) if self.exact else 0.0
            bound = 0.0 if self.exact else self.s_error + gamma(2) * abs(float(value))
            return beta, value, bound + (0.0 if not phi_error else float(phi_error))
        beta = a / b
        value = self.s - a * a / b
        if self.exact and not phi_error:
            return beta, value, 0.0
        # first-order propagation of the errors of a = phi.m, b = phi^T M phi and s
        aM, am, a_s = self._abs()
        pa = np.abs(np.asarray(p, float)) + float(phi_error)
        ea = pa @ self.m_error + gamma(self.d + 2) * (pa @ am) + float(phi_error) * am.sum()
        eb = pa @ self.M_error @ pa + gamma(2 * self.d + 2) * (pa @ aM @ pa) + 2 * float(phi_error) * (aM @ pa).sum()
        es = self.s_error
        af, bf = abs(float(a)), float(b)
        if bf - eb <= 0:
            return beta, value, abs(float(value)) + af * af / max(bf, 1e-300) + es
        bound = es + (2 * af * ea + ea * ea) / (bf - eb) + af * af * eb / ((bf - eb) * bf)
        return beta, value, 2 * bound + gamma(6) * abs(float(value))


# ------------------------------------------------------------------------------ constructors
def infidelity_quadratic_form(model: PiecewiseAffineModel, x, radius=None, *, perturbation=None, output: int | None = None,
                              exact: bool = False, max_regions: int | None = DEFAULT_MAX_REGIONS,
                              n_samples: int = DEFAULT_SUBSET_SAMPLES, rng=None, regions: BoxRegions | None = None
                              ) -> QuadraticForm:
    """The quadratic form (M, m, s) of infidelity at ``x``: INFD(phi) = phi^T M phi - 2 phi.m + s.

    Parameters
    ----------
    model : PiecewiseAffineModel
    x : array-like (d,)
        The input (any point; the perturbed points are not clipped to a domain).
    radius : number or (d,) numbers, optional
        Half-width(s) of the uniform box (default 0.1) when ``perturbation`` is None.
    perturbation : None, "uniform_box", "subset_mask", UniformBox, SubsetMask, or an (n, d) array
        The law of I (see :mod:`polyattr.metrics.perturbations`).
    output : int, optional
    exact : bool
        Rational arithmetic (Fractions); otherwise floats with stated error bounds.
    max_regions : int or None
        Region budget of the box enumeration.
    n_samples, rng
        Only used when a subset mask has more than ``max_subsets`` subsets (seeded sampling).
    regions : BoxRegions, optional
        Already enumerated regions of the box (reused by :func:`polyattr.metrics.evaluate`).

    Returns
    -------
    QuadraticForm
    """
    require_model(model)
    k = model.check_output(output)
    d = model.n_inputs
    x = exact_vector(x, d, "x") if exact else float_vector(x, d, "x")
    law = as_perturbation(perturbation, radius)
    if isinstance(law, UniformBox):
        if regions is None:
            regions = box_regions(model, x, law.half_widths(d, exact), k, exact, max_regions)
        return _box_form(model, regions, k, law.describe(d))
    if isinstance(law, SubsetMask):
        return _subset_form(model, x, k, exact, law, n_samples, rng)
    return _samples_form(model, x, k, exact, law)


def _box_form(model: PiecewiseAffineModel, R: BoxRegions, output: int, described: dict) -> QuadraticForm:
    d, n = R.d, len(R)
    M = R.second_moment_of_box()
    g = R.g
    if R.exact:
        m = np.array([Fraction(0)] * d, dtype=object)
        s = Fraction(0)
        for P in range(n):
            w, gP = R.W[P], g[P]
            m = m + R.P2[P] @ w - gP * R.p1[P]
            s += gP * gP * R.p0[P] - 2 * gP * (w @ R.p1[P]) + w @ (R.P2[P] @ w)
        zeros = np.zeros(d)
        return QuadraticForm(M, m, s, True, np.zeros((d, d)), zeros, 0.0, perturbation=described,
                             info={"regions": n})
    W, P2, p1, p0 = R.W, R.P2, R.p1, R.p0
    m = np.einsum("nij,nj->i", P2, W) - g @ p1
    s = float(g**2 @ p0 - 2 * np.einsum("n,nj,nj->", g, W, p1) + np.einsum("ni,nij,nj->", W, P2, W))
    aW, ag = np.abs(W), np.abs(g)
    m_terms = np.einsum("nij,nj->i", np.abs(P2), aW) + ag @ np.abs(p1)
    s_terms = float(ag**2 @ p0 + 2 * np.einsum("n,nj,nj->", ag, aW, np.abs(p1)) + np.einsum("ni,nij,nj->", aW, np.abs(P2), aW))
    D0, D1, D2 = R.defects
    w1 = aW.sum(axis=1)
    gmax, w1max = float(ag.max(initial=0.0)), float(w1.max(initial=0.0))
    # the largest |Df| on the box and the rounding of the local maps (w_P, c_P) and of f(x)
    e_w, e_c = R.w_error, R.c_error
    r = np.asarray(R.radius, float)
    df_max = float(np.max(ag + aW @ r, initial=0.0))
    e_df = e_c + float(e_w @ r)
    m_error = (gamma(n + d + 4) * m_terms + D2 * w1max + D1 * gmax + r * e_df) * 2
    s_error = 2 * (gamma(n + 2 * d + 6) * s_terms + D0 * gmax**2 + 2 * D1 * gmax * w1max + D2 * w1max**2
                   + 2 * df_max * e_df + e_df**2)
    M_error = np.abs(np.asarray(M, float)) * 4 * gamma(1)
    return QuadraticForm(np.asarray(M, float), m, s, False, M_error, m_error, s_error, perturbation=described,
                         info={"regions": n, "tiling_defects": list(R.defects)})


def _subset_form(model, x, output, exact, law: SubsetMask, n_samples, rng) -> QuadraticForm:
    d = len(x)
    base = law.baseline_vector(d, exact)
    diff = x - base
    net = model.to_exact() if exact else model.to_float()
    fx = net(x, output=output)
    count = law.count(d)
    if count <= law.max_subsets:
        masks, probs = law.enumerate(d, exact)
        I = np.where(masks, diff[None, :], 0 * diff[None, :])
        Z = np.where(masks, base[None, :], x[None, :])
        values = net(Z, output=output)
        Df = fx - np.atleast_1d(values)
        if exact:
            I = np.asarray(I, dtype=object)
            M = (I.T * probs) @ I
            m = (I.T * probs) @ Df
            s = (probs * Df) @ Df
            return QuadraticForm(M, m, s, True, np.zeros((d, d)), np.zeros(d), 0.0, perturbation=law.describe(d),
                                 info={"subsets": len(masks)})
        I = I.astype(float)
        M = (I.T * probs) @ I
        m = (I.T * probs) @ Df
        s = float((probs * Df) @ Df)
        e = net.evaluation_error_bound(np.vstack([x[None, :], Z]), output)
        e_df = e[0] + e[1:]
        n = len(masks)
        aI = np.abs(I)
        M_error = gamma(n + 2) * (aI.T * probs) @ aI
        m_error = (aI.T * probs) @ e_df + gamma(n + 2) * (aI.T * probs) @ np.abs(Df)
        s_error = float(probs @ (2 * np.abs(Df) * e_df + e_df**2) + gamma(n + 2) * probs @ Df**2) * 2
        return QuadraticForm(M, m, s, False, M_error, m_error, s_error, perturbation=law.describe(d),
                             info={"subsets": n})
    # too many subsets: seeded sampling (floats)
    gen, seed = normalise_rng(rng)
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 2:
        raise PolyattrError(f"n_samples: expected an integer >= 2, got {n_samples!r}")
    masks = law.sample(gen, int(n_samples), d)
    xf, bf = np.asarray(x, float), np.asarray(base, float)
    fnet = model.to_float()
    I = np.where(masks, (xf - bf)[None, :], 0.0)
    Z = np.where(masks, bf[None, :], xf[None, :])
    Df = float(fnet(xf, output=output)) - np.atleast_1d(fnet(Z, output=output))
    n = len(Df)
    M = I.T @ I / n
    m = I.T @ Df / n
    s = float(Df @ Df / n)
    return QuadraticForm(M, m, s, False, np.zeros((d, d)), np.zeros(d), 0.0, kind="sampled", n_samples=n, seed=seed,
                         perturbation=law.describe(d), samples=(I, Df),
                         info={"subsets": count, "sampled_because": f"{count} subsets > max_subsets={law.max_subsets}"})


def _samples_form(model, x, output, exact, law: PerturbationSamples) -> QuadraticForm:
    d = len(x)
    if law.samples.shape[1] != d:
        raise PolyattrError(f"samples: expected perturbations with {d} features, got shape {law.samples.shape}")
    net = model.to_exact() if exact else model.to_float()
    n = law.samples.shape[0]
    if exact:
        I = law.samples_exact
        Df = net(x, output=output) - np.atleast_1d(net(x[None, :] - I, output=output))
        w = Fraction(1, n)
        return QuadraticForm((I.T @ I) * w, (I.T @ Df) * w, (Df @ Df) * w, True, np.zeros((d, d)), np.zeros(d), 0.0,
                             n_samples=n, perturbation=law.describe(d), info={"empirical": True})
    I = law.samples
    Z = x[None, :] - I
    Df = float(net(x, output=output)) - np.atleast_1d(net(Z, output=output))
    e = net.evaluation_error_bound(np.vstack([x[None, :], Z]), output)
    # x - I is rounded before the model sees it: |f(fl(z)) - f(z)| <= sum_j G_j u |z_j|, G a bound on |d_j f|
    e_df = e[0] + e[1:] + gamma(1) * np.abs(Z) @ np.asarray(net.gradient_magnitude_bound(output), float)
    aI = np.abs(I)
    M_error = gamma(n + 2) * aI.T @ aI / n
    m_error = (aI.T @ e_df + gamma(n + 2) * aI.T @ np.abs(Df)) / n
    s_error = 2 * float((2 * np.abs(Df) * e_df + e_df**2).sum() + gamma(n + 2) * (Df @ Df)) / n
    return QuadraticForm(I.T @ I / n, I.T @ Df / n, float(Df @ Df / n), False, M_error, m_error, s_error,
                         n_samples=n, perturbation=law.describe(d), info={"empirical": True})
