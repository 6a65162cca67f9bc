"""Minimise a quadratic form w^T G w over the probability simplex, and certify the optimum exactly.

Two independent computations:

* :func:`solve_on_simplex` -- the convex QP solved numerically by cvxpy (floats);
* :func:`exact_simplex_optimum` -- the exact optimum in rationals from the KKT conditions, found by
  enumerating supports (active sets) and solving the equality-constrained problem on each support
  exactly (python-flint ``fmpq_mat``), then checked with :class:`fractions.Fraction` arithmetic:
  stationarity, primal and dual feasibility, complementary slackness, and positive
  semidefiniteness of G (which makes the KKT conditions sufficient for a global optimum).

For the problem  min w^T G w  s.t.  1^T w = 1, w >= 0  the KKT conditions read

    2 G w = nu 1 + mu,   mu >= 0,   w >= 0,   1^T w = 1,   mu_i w_i = 0,

and at a solution the optimal value is w^T G w = nu / 2 (multiply the first line by w^T).  The
optimal value is unique even when G is singular and the optimal weights are not; the minimal-support
optimum always has a non-singular KKT matrix on its support (if [2 G_SS, -1; 1^T, 0] were singular
there would be v != 0 with 1^T v = 0 and G v = 0, and moving along v would empty a coordinate while
keeping the value), so enumerating the supports with a non-singular KKT matrix finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from itertools import combinations

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.numbers import to_fraction

#: largest number of methods for the exact certificate (2^K supports in the worst case)
MAX_CERTIFIED_METHODS = 12


@dataclass(frozen=True)
class SimplexSolution:
    """cvxpy's solution of min w^T G w on the simplex."""

    weights: np.ndarray  # (K,) floats, projected onto the simplex
    value: float  # w^T G w at ``weights`` (recomputed, not the solver's report)
    solver: str
    status: str


@dataclass(frozen=True)
class SimplexCertificate:
    """An exact KKT certificate of the global optimum of min w^T G w on the simplex.

    ``weights`` are one exact optimal point (the optimum value is unique, the point need not be),
    ``value`` = weights^T G weights = nu / 2, ``multiplier`` nu (of 1^T w = 1) and
    ``slacks`` mu = 2 G w - nu 1 (the multipliers of w >= 0), all Fractions.
    """

    weights: tuple
    value: Fraction
    multiplier: Fraction
    slacks: tuple
    support: tuple
    supports_tried: int
    checks: dict = field(default_factory=dict)  # name -> bool, every KKT condition checked in Fractions

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(self.checks.values())


def as_gram(gram, name: str = "gram") -> np.ndarray:
    """Validate a K x K symmetric matrix (floats or Fractions); returns it as an array."""
    G = np.asarray(gram, dtype=object)
    if G.ndim != 2 or G.shape[0] != G.shape[1] or G.shape[0] == 0:
        raise PolyattrError(f"{name}: expected a square K x K matrix with K >= 1, got shape {np.shape(gram)}")
    K = G.shape[0]
    for i in range(K):
        for j in range(K):
            v = G[i, j]
            if not isinstance(v, Fraction) and not np.isfinite(float(v)):
                raise PolyattrError(f"{name}: entry ({i}, {j}) is not finite ({v!r})")
    for i in range(K):
        for j in range(i + 1, K):
            a, b = G[i, j], G[j, i]
            if isinstance(a, Fraction) and isinstance(b, Fraction):
                same = a == b
            else:
                same = abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(a)), abs(float(b)))
            if not same:
                raise PolyattrError(f"{name}: expected a symmetric matrix, entries ({i}, {j}) and ({j}, {i}) differ")
    return G


def solve_on_simplex(gram, solver: str | None = None) -> SimplexSolution:
    """min w^T G w subject to w >= 0, sum(w) = 1, with cvxpy (floats).

    G is symmetrised, scaled to unit largest entry (the minimiser does not change) and passed as
    a PSD quadratic form (``psd_wrap``: rounding may leave eigenvalues of order -1e-16).
    """
    import cvxpy as cp

    G = as_gram(gram).astype(float)
    G = 0.5 * (G + G.T)
    K = G.shape[0]
    scale = float(np.max(np.abs(G)))
    if scale == 0.0:
        w = np.full(K, 1.0 / K)
        return SimplexSolution(w, 0.0, "none (G = 0)", "optimal")
    w = cp.Variable(K)
    problem = cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(G / scale))), [w >= 0, cp.sum(w) == 1])
    chosen = solver or ("CLARABEL" if "CLARABEL" in cp.installed_solvers() else None)
    try:
        problem.solve(solver=chosen)
    except cp.error.SolverError as exc:
        raise PolyattrError(f"aggregation QP: solver {chosen} failed ({exc})") from None
    if w.value is None or problem.status not in ("optimal", "optimal_inaccurate"):
        raise PolyattrError(f"aggregation QP: cvxpy returned status {problem.status!r}")
    weights = project_to_simplex(np.asarray(w.value, float))
    return SimplexSolution(weights, float(weights @ G @ weights), str(chosen or problem.solver_stats.solver_name),
                           str(problem.status))


def project_to_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto {w >= 0, sum w = 1} (removes a solver's 1e-9 infeasibilities)."""
    v = np.asarray(v, float)
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    ind = np.arange(1, len(v) + 1)
    rho = ind[u - css / ind > 0][-1]
    return np.maximum(v - css[rho - 1] / rho, 0.0)


# ------------------------------------------------------------------------------ exact certificate
def exact_gram(gram) -> list[list[Fraction]]:
    """The matrix as Fractions (floats converted exactly: the certificate is for the matrix given)."""
    G = as_gram(gram)
    return [[to_fraction(v) for v in row] for row in G]


def is_positive_semidefinite(G: list[list[Fraction]]) -> bool:
    """Exact PSD test: symmetric Gaussian elimination (LDL^T) with diagonal pivoting in Fractions.

    A PSD matrix with a zero diagonal entry has that whole row and column zero; a negative pivot,
    or a zero pivot with a non-zero row, proves G is not PSD.
    """
    A = [row[:] for row in G]
    n = len(A)
    remaining = list(range(n))
    while remaining:
        p = max(remaining, key=lambda i: A[i][i])
        if A[p][p] < 0:
            return False
        if A[p][p] == 0:
            return all(A[i][j] == 0 for i in remaining for j in remaining)
        remaining.remove(p)
        for i in remaining:
            f = A[i][p] / A[p][p]
            if f:
                for j in remaining:
                    A[i][j] -= f * A[p][j]
    return True


def _solve_support(G: list[list[Fraction]], support: tuple[int, ...]):
    """Solve [2 G_SS, -1; 1^T, 0] [w_S; nu] = [0; 1] exactly; None when the matrix is singular."""
    import flint

    s = len(support)
    M = flint.fmpq_mat(s + 1, s + 1)
    for a, i in enumerate(support):
        for b, j in enumerate(support):
            v = 2 * G[i][j]
            M[a, b] = flint.fmpq(v.numerator, v.denominator)
        M[a, s] = -1
        M[s, a] = 1
    rhs = flint.fmpq_mat(s + 1, 1)
    rhs[s, 0] = 1
    if M.det() == 0:
        return None
    sol = M.solve(rhs)
    values = [Fraction(int(sol[i, 0].p), int(sol[i, 0].q)) for i in range(s + 1)]
    return values[:s], values[s]


def check_kkt(G: list[list[Fraction]], w: list[Fraction], nu: Fraction, psd: bool | None = None) -> dict:
    """Every KKT condition of min w^T G w on the simplex, checked exactly (Fractions only).

    ``psd``: the result of :func:`is_positive_semidefinite` on G when already known."""
    K = len(G)
    Gw = [sum((G[i][j] * w[j] for j in range(K)), start=Fraction(0)) for i in range(K)]
    mu = [2 * Gw[i] - nu for i in range(K)]
    value = sum((w[i] * Gw[i] for i in range(K)), start=Fraction(0))
    return {
        "primal: sum(w) = 1": sum(w, start=Fraction(0)) == 1,
        "primal: w >= 0": all(v >= 0 for v in w),
        "dual: mu = 2 G w - nu 1 >= 0": all(m >= 0 for m in mu),
        "complementary slackness: mu_i w_i = 0": all(m * v == 0 for m, v in zip(mu, w)),
        "value = nu / 2": value == nu / 2,
        "G positive semidefinite": is_positive_semidefinite(G) if psd is None else bool(psd),
    }


def exact_simplex_optimum(gram, first_support=None) -> SimplexCertificate:
    """The exact global minimum of w^T G w over the simplex, with its KKT certificate.

    Parameters
    ----------
    gram : (K, K) array of floats or Fractions, K <= 12
        Symmetric; must be positive semidefinite exactly (the certificate says whether it is).
    first_support : iterable of int, optional
        Where to start an exact active-set walk (e.g. the indices cvxpy put weight on); when the
        walk does not end at a KKT point, every support is tried in order of size.

    Returns
    -------
    SimplexCertificate
        ``valid`` is True when every KKT check holds exactly.  Raises PolyattrError when no support
        gives a KKT point (only possible when G is not PSD).
    """
    G = exact_gram(gram)
    K = len(G)
    if K > MAX_CERTIFIED_METHODS:
        raise PolyattrError(f"gram: the exact certificate enumerates supports and handles K <= {MAX_CERTIFIED_METHODS}, got K = {K}")
    psd = is_positive_semidefinite(G)
    tried, seen = 0, set()

    def attempt(S):
        """(w, nu, mu) on support S, or None when singular; w and mu as full-length Fraction lists."""
        solved = _solve_support(G, S)
        if solved is None:
            return None
        wS, nu = solved
        w = [Fraction(0)] * K
        for i, v in zip(S, wS):
            w[i] = v
        mu = [2 * sum((G[i][j] * w[j] for j in range(K) if w[j]), start=Fraction(0)) - nu for i in range(K)]
        return w, nu, mu

    def accept(S, w, nu, mu):
        checks = check_kkt(G, w, nu, psd)
        if all(v for k, v in checks.items() if k != "G positive semidefinite"):
            return SimplexCertificate(tuple(w), nu / 2, nu, tuple(mu), S, tried, checks)
        return None

    # 1. an exact active-set walk from the solver's support: drop the most negative weight, or add
    #    the most violated multiplier, until the KKT conditions hold (usually 0-2 steps)
    S = tuple(sorted({int(i) for i in first_support})) if first_support is not None else ()
    for _ in range(3 * K if S else 0):
        if not S or S in seen:
            break
        seen.add(S)
        tried += 1
        res = attempt(S)
        if res is None:
            break
        w, nu, mu = res
        worst_w = min(S, key=lambda i: w[i])
        if w[worst_w] < 0:
            S = tuple(i for i in S if i != worst_w)
            continue
        worst_mu = min(range(K), key=lambda i: mu[i])
        if mu[worst_mu] < 0:
            S = tuple(sorted(S + (worst_mu,)))
            continue
        cert = accept(S, w, nu, mu)
        if cert is not None:
            return cert
        break
    # 2. every support, smallest first (always finds the minimal-support optimum when G is PSD)
    for size in range(1, K + 1):
        for S in combinations(range(K), size):
            if S in seen:
                continue
            seen.add(S)
            tried += 1
            res = attempt(S)
            if res is None:
                continue
            w, nu, mu = res
            if any(w[i] < 0 for i in S) or any(m < 0 for m in mu):
                continue
            cert = accept(S, w, nu, mu)
            if cert is not None:
                return cert
    reason = "G is not positive semidefinite" if not psd else "no support satisfied the KKT conditions"
    raise PolyattrError(f"gram: no exact KKT point found over {tried} supports ({reason})")


def brute_force_simplex_minimum(gram, steps: int = 200) -> tuple[float, np.ndarray]:
    """min of w^T G w over a regular grid of the simplex (K = 2 or 3): an independent reference."""
    G = as_gram(gram).astype(float)
    K = G.shape[0]
    if K not in (2, 3):
        raise PolyattrError(f"gram: brute force handles K = 2 or 3, got {K}")
    grid = []
    for a in range(steps + 1):
        if K == 2:
            grid.append((a / steps, 1 - a / steps))
        else:
            for b in range(steps + 1 - a):
                grid.append((a / steps, b / steps, (steps - a - b) / steps))
    W = np.array(grid)
    values = np.einsum("ni,ij,nj->n", W, G, W)
    best = int(np.argmin(values))
    return float(values[best]), W[best]


# -------------------------------------------------------------------------- certifying a solution
@dataclass(frozen=True)
class OptimumCertification:
    """cvxpy's optimum checked against the exact KKT optimum.

    When the Gram matrix is exactly PSD, ``shift`` is 0 and ``certificate`` is the exact optimum
    of G itself: ``lower == upper ==`` the optimum value.  A float Gram of low rank can be
    indefinite by rounding (eigenvalues of order -1e-17); then the certificate is for
    G + shift I with the smallest power-of-two ``shift`` that makes it exactly PSD, and the true
    optimum of G is bracketed exactly: for every simplex point ||w||^2 <= 1, so
    min(G) >= min(G + shift I) - shift, and min(G) <= w*^T G w* at the certified w*.
    ``certified`` says that cvxpy's value lies in [lower - tolerance, upper + tolerance].
    """

    certificate: SimplexCertificate | None  # None when the Gram matrix is not PSD
    shift: Fraction
    lower: Fraction
    upper: Fraction
    solver_value: float
    tolerance: float
    certified: bool
    reason: str


def certify_on_simplex(gram, solution: SimplexSolution, rtol: float = 1e-6) -> OptimumCertification:
    """Check a cvxpy solution of min w^T G w on the simplex against the exact optimum."""
    G = exact_gram(gram)
    K = len(G)
    scale = max((abs(float(v)) for row in G for v in row), default=0.0)
    tolerance = rtol * max(scale, 1e-300)
    shift = Fraction(0)
    if not is_positive_semidefinite(G):
        # only a rounding-sized indefiniteness is bracketed; anything larger is not a Gram matrix
        limit = 1e-9 * max(scale, 1e-300)
        lam = float(np.min(np.linalg.eigvalsh(np.array(G, dtype=float))))
        shift = Fraction(2) ** int(np.ceil(np.log2(max(2 * abs(lam), scale * 2.0**-60, 2.0**-1000))))
        while shift <= limit and not is_positive_semidefinite(_shifted(G, shift)):
            shift *= 2
        if shift > limit:
            return OptimumCertification(None, shift, Fraction(0), Fraction(0), solution.value, tolerance, False,
                                        f"gram is indefinite (smallest eigenvalue {lam:.3g}); no certificate")
    Gs = _shifted(G, shift)
    cert = exact_simplex_optimum(Gs, first_support=_support(solution.weights))
    w = cert.weights
    value_at_w = sum((w[i] * G[i][j] * w[j] for i in range(K) for j in range(K)), start=Fraction(0))
    lower, upper = cert.value - shift, value_at_w
    ok = cert.valid and float(lower) - tolerance <= solution.value <= float(upper) + tolerance
    if not cert.valid:
        reason = "exact KKT check failed: " + ", ".join(k for k, v in cert.checks.items() if not v)
    elif not ok:
        reason = f"cvxpy value {solution.value!r} outside the exact optimum [{float(lower)!r}, {float(upper)!r}] +- {tolerance:.3g}"
    elif shift:
        reason = f"exact KKT optimum of gram + {float(shift):.3g} I brackets the optimum; cvxpy agrees within {tolerance:.3g}"
    else:
        reason = f"exact KKT optimum; cvxpy agrees within {tolerance:.3g}"
    return OptimumCertification(cert, shift, lower, upper, solution.value, tolerance, ok, reason)


def _shifted(G, shift):
    return [[v + (shift if i == j else 0) for j, v in enumerate(row)] for i, row in enumerate(G)]


def _support(weights, tol: float = 1e-7):
    return [i for i, v in enumerate(np.asarray(weights, float)) if v > tol]
