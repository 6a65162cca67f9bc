"""Integration of polynomials over simplices and triangulated polytopes, vectorised over simplices.

A polynomial in the k coordinates z_1..z_k is a dict ``{alpha: c}`` mapping exponent tuples
(length k, non-negative ints) to coefficients, i.e. sum_alpha c_alpha z^alpha.

The closed form (Baldoni, Berline, De Loera, Koeppe, Vergne, *How to integrate a polynomial over a
simplex*, Math. Comp. 2011, and Lasserre & Avrachenkov).  For a k-simplex Delta = conv(v_0..v_k)
write z = sum_i lambda_i v_i in barycentric coordinates; expanding z^alpha and integrating the
Dirichlet monomials (int lambda^b = k! vol(Delta) b! / (|b| + k)!) gives

    int_Delta z^alpha dz = k! vol(Delta) * alpha! / (|alpha| + k)! * mu_alpha(Delta),
    sum_alpha mu_alpha(Delta) t^alpha = prod_{i=0..k} 1 / (1 - <v_i, t>)        (formal power series),

i.e. mu_alpha is the t^alpha coefficient of the product of the k + 1 geometric series of the
vertices' linear forms (for k = 1: the complete homogeneous symmetric polynomial h_M(v_0, v_1)).
The coefficients of all |alpha| <= D come from one recurrence per vertex, degree by degree:
S <- S / (1 - l_i) means [S]_m <- [S]_m + l_i [S]_{m-1}, a product of a homogeneous part by a linear
form.  That is (k + 1) D k array operations over *all simplices at once*, then one matrix product
with the coefficient table of every wanted polynomial (a density, times z_i for first moments,
times z_i z_j for second moments).

Exact mode clears denominators per simplex: with V = V_int / D,
mu_alpha(V) = mu_alpha(V_int) / D^|alpha| and k! vol = |det(V_int)| / D^k, so everything runs on
Python integers and each simplex's integral is one Fraction at the end.

Float mode runs the same recurrence in float64 and returns a forward error bound: every mu_alpha is
a sum of products of at most |alpha| vertex coordinates, accumulated in (k + 1)(|alpha| + 1)
roundings at most, so |computed - exact| <= gamma_{2(k+1)(D+1)} mu_alpha(|V|) (the same recurrence
on absolute values); the determinant is the Leibniz sum, off by at most gamma_{k+1} perm(|M|).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from itertools import permutations
from typing import Mapping, Sequence

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.integrate.exact import to_fractions
from polyattr.jit import njit

__all__ = [
    "monomial_exponents",
    "integrate_polynomials",
    "integrate_polynomial_simplex",
    "integrate_polynomial_polytope",
    "monomial_integral_simplex",
    "multiply_polynomials",
]

_U = 2.0**-53


def _gamma(n: int) -> float:
    return n * _U / (1 - n * _U)


@lru_cache(maxsize=64)
def monomial_exponents(k: int, degree: int) -> tuple:
    """All exponent tuples of k variables with total degree <= ``degree``, graded (degree 0 first)."""
    out = []
    for m in range(degree + 1):
        out += _homogeneous(k, m)
    return tuple(out)


def _homogeneous(k: int, m: int) -> list:
    if k == 0:
        return [()] if m == 0 else []
    if k == 1:
        return [(m,)]
    return [(a,) + rest for a in range(m, -1, -1) for rest in _homogeneous(k - 1, m - a)]


@lru_cache(maxsize=64)
def _recurrence_tables(k: int, degree: int):
    """Index tables: the degree blocks, and per variable j the index of alpha - e_j (or -1)."""
    exps = monomial_exponents(k, degree)
    index = {e: n for n, e in enumerate(exps)}
    blocks, start = [], 0
    for m in range(degree + 1):
        size = math.comb(m + k - 1, k - 1) if k else (1 if m == 0 else 0)
        blocks.append((start, start + size))
        start += size
    down = np.full((k, len(exps)), -1, dtype=np.int64)
    for n, e in enumerate(exps):
        for j in range(k):
            if e[j] > 0:
                down[j, n] = index[e[:j] + (e[j] - 1,) + e[j + 1:]]
    return exps, index, blocks, down


def _power_series_coefficients(X, degree: int, modulus: int | None = None):
    """mu[s, alpha] = [t^alpha] prod_i 1/(1 - <X[s, i], t>) for |alpha| <= degree.

    X : (m, k+1, k) float, object (Python int) or, with ``modulus`` p < 2^30 (k <= 3), int64 array of
    residues in [0, p) (the recurrence then runs modulo p).
    """
    m, n_vertices, k = X.shape
    exps, _, blocks, down = _recurrence_tables(k, degree)
    if X.dtype == np.float64:
        return _series_float(X, down)
    if modulus is not None:
        if k > 3:  # more products per entry than int64 can accumulate: reduce after each
            return _series_mod_each(X, down, np.int64(modulus))
        return _series_mod(X, down, np.int64(modulus))
    # Python integers: the same recurrence with numpy object arrays, degree block by block
    S = np.zeros((len(exps), m), dtype=object)
    S[0] = 1
    S[1:] = 0
    for i in range(n_vertices):
        for lo, hi in blocks[1:]:
            for j in range(k):
                src = down[j, lo:hi]
                has = src >= 0
                if not np.any(has):
                    continue
                rows = np.arange(lo, hi)[has]
                S[rows] = S[rows] + X[:, i, j][None, :] * S[src[has]]
    return S.T


@njit(cache=True)
def _series_float(X, down):
    # graded order: S[n] only reads lower-degree entries, already updated for this vertex
    m, nv, k = X.shape
    n_mono = down.shape[1]
    S = np.zeros((m, n_mono))
    for s in range(m):
        S[s, 0] = 1.0
        for i in range(nv):
            for n in range(1, n_mono):
                acc = S[s, n]
                for j in range(k):
                    src = down[j, n]
                    if src >= 0:
                        acc += X[s, i, j] * S[s, src]
                S[s, n] = acc
    return S


@njit(cache=True)
def _series_mod(X, down, p):
    m, nv, k = X.shape
    n_mono = down.shape[1]
    S = np.zeros((m, n_mono), dtype=np.int64)
    for s in range(m):
        S[s, 0] = 1
        for i in range(nv):
            for n in range(1, n_mono):
                acc = S[s, n]
                for j in range(k):  # k <= 3 products below 2^60 each: no overflow before the one reduction
                    src = down[j, n]
                    if src >= 0:
                        acc += X[s, i, j] * S[s, src]
                S[s, n] = acc % p
    return S


@njit(cache=True)
def _series_mod_each(X, down, p):
    m, nv, k = X.shape
    n_mono = down.shape[1]
    S = np.zeros((m, n_mono), dtype=np.int64)
    for s in range(m):
        S[s, 0] = 1
        for i in range(nv):
            for n in range(1, n_mono):
                acc = S[s, n]
                for j in range(k):
                    src = down[j, n]
                    if src >= 0:
                        acc = (acc + X[s, i, j] * S[s, src]) % p
                S[s, n] = acc
    return S


@njit(cache=True)
def _contract_mod(mu, D, W, degrees, degree, p):
    """sum_a mu[s, a] D[s]^(degree - |a|) W[a, q] modulo p (p < 2^30: four products fit in int64)."""
    m, n_mono = mu.shape
    n_polys = W.shape[1]
    out = np.zeros((m, n_polys), dtype=np.int64)
    powers = np.ones(degree + 1, dtype=np.int64)
    term = np.zeros(n_mono, dtype=np.int64)
    for s in range(m):
        for e in range(1, degree + 1):
            powers[e] = (powers[e - 1] * D[s]) % p
        for a in range(n_mono):
            term[a] = (mu[s, a] * powers[degree - degrees[a]]) % p
        for q in range(n_polys):
            acc = 0
            for a in range(n_mono):
                acc += term[a] * W[a, q]
                if (a & 3) == 3:
                    acc %= p
            out[s, q] = acc % p
    return out


def _leibniz_determinants(M):
    """det of every (k, k) matrix in M (m, k, k) by the Leibniz sum; and perm(|M|) (float mode)."""
    m, k, _ = M.shape
    if k == 0:
        one = np.ones(m, dtype=M.dtype)
        return one, one
    det = np.zeros(m, dtype=M.dtype)
    perm = np.zeros(m, dtype=float) if M.dtype != object else None
    for p in permutations(range(k)):
        sign = _permutation_sign(p)
        term = M[:, 0, p[0]]
        for r in range(1, k):
            term = term * M[:, r, p[r]]
        det = det + term if sign > 0 else det - term
        if perm is not None:
            perm = perm + np.abs(term)
    return det, perm


def _permutation_sign(p) -> int:
    sign, seen = 1, list(p)
    for i in range(len(seen)):
        while seen[i] != i:
            j = seen[i]
            seen[i], seen[j] = seen[j], seen[i]
            sign = -sign
    return sign


def _coefficient_table(polys: Sequence[Mapping], k: int, degree: int, exact: bool):
    """Matrix (n_monomials, n_polys) of c_alpha alpha! / (|alpha| + k)!  (Fractions or floats)."""
    exps, index, _, _ = _recurrence_tables(k, degree)
    if exact:
        table = np.empty((len(exps), len(polys)), dtype=object)
        table[:] = Fraction(0)
    else:
        table = np.zeros((len(exps), len(polys)))
    for q, poly in enumerate(polys):
        for alpha, c in poly.items():
            if c == 0:
                continue
            w = Fraction(math.prod(math.factorial(a) for a in alpha), math.factorial(sum(alpha) + k))
            if exact:
                table[index[alpha], q] += Fraction(c) * w
            else:
                table[index[alpha], q] += float(c) * float(w)
    return table


def _normalise_polys(polys, k: int, exact: bool):
    out = []
    for poly in polys:
        if not isinstance(poly, Mapping):
            raise PolyattrError(f"coeffs: expected a dict {{exponent tuple: coefficient}}, got {type(poly).__name__}")
        clean = {}
        for alpha, c in poly.items():
            alpha = tuple(alpha) if not isinstance(alpha, tuple) else alpha
            if len(alpha) != k or not all(isinstance(a, (int, np.integer)) and a >= 0 for a in alpha):
                raise PolyattrError(f"coeffs: expected exponent tuples of {k} non-negative ints, got {alpha!r}")
            alpha = tuple(int(a) for a in alpha)
            if exact:
                c = to_fractions([c])[0]
            else:
                c = float(c)
                if not math.isfinite(c):
                    raise PolyattrError(f"coeffs: coefficient of {alpha} is not finite")
            clean[alpha] = clean.get(alpha, 0) + c
        out.append(clean)
    return out


def integrate_polynomials(V, simplices, polys: Sequence[Mapping], exact: bool, groups=None, n_groups=None,
                          return_error: bool = False):
    """Integrals of several polynomials over every group of simplices, all in one pass.

    Parameters
    ----------
    V : array (n, k)
        Vertices (Fractions/ints in exact mode; floats are taken at their exact binary value).
    simplices : int array (m, k + 1)
    polys : sequence of dicts {exponent tuple (length k): coefficient}
    exact : bool
    groups : int array (m,), optional
        Group (e.g. region) of each simplex; default one group.
    n_groups : int, optional
    return_error : bool
        Float mode: also return a forward error bound per entry.

    Returns
    -------
    ndarray (n_groups, n_polys) of Fractions (exact) or floats; with ``return_error`` also the
    bound array (zeros in exact mode).
    """
    S = np.asarray(simplices)
    k = np.shape(V)[1] if np.ndim(V) == 2 else 0
    if S.size == 0:
        S = S.reshape(0, k + 1)
    if S.ndim != 2 or S.shape[1] != k + 1 or not np.issubdtype(S.dtype, np.integer):
        raise PolyattrError(f"simplices: expected an integer array of shape (m, {k + 1}), got {S.shape}")
    if S.size and (S.min() < 0 or S.max() >= len(V)):
        raise PolyattrError(f"simplices: vertex index out of range [0, {len(V)})")
    polys = _normalise_polys(polys, k, exact)
    groups = np.zeros(len(S), dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    n_groups = (int(groups.max()) + 1 if len(groups) else 1) if n_groups is None else int(n_groups)
    degree = max((sum(a) for p in polys for a in p), default=0)
    if exact:
        out = _integrate_exact(V, S, polys, k, degree, groups, n_groups)
        return (out, np.zeros(out.shape)) if return_error else out
    out, err = _integrate_float(V, S, polys, k, degree, groups, n_groups)
    return (out, err) if return_error else out


def _integrate_float(V, S, polys, k, degree, groups, n_groups):
    Vf = np.asarray(V, dtype=float)
    if not np.all(np.isfinite(Vf)):
        raise PolyattrError("vertices: contains NaN or infinite values")
    X = Vf[S]  # (m, k+1, k)
    mu = _power_series_coefficients(X, degree)
    mu_abs = _power_series_coefficients(np.abs(X), degree)
    det, perm = _leibniz_determinants(X[:, 1:, :] - X[:, :1, :])
    table = _coefficient_table(polys, k, degree, exact=False)
    per_simplex = np.abs(det)[:, None] * (mu @ table)
    abs_sum = np.abs(det)[:, None] * (mu_abs @ np.abs(table))
    # mu's error, the determinant's (Leibniz: gamma_{k+1} perm(|M|), plus the k subtractions), the contraction
    det_rel = ((_gamma(k + 1) + 2 * _U) * perm / np.maximum(np.abs(det), 1e-300))[:, None]
    err = abs_sum * (_gamma(2 * (k + 1) * (degree + 1)) + _gamma(len(table) + 2)) + np.abs(per_simplex) * det_rel
    err = np.where((det == 0)[:, None], abs_sum, err)
    out = np.zeros((n_groups, len(polys)))
    bound = np.zeros((n_groups, len(polys)))
    np.add.at(out, groups, per_simplex)
    np.add.at(bound, groups, err)
    bound += _gamma(len(S) + 1) * np.abs(out)
    return out, bound


def _integrate_exact(V, S, polys, k, degree, groups, n_groups):
    Vq = to_fractions(V)
    exps = monomial_exponents(k, degree)
    table = _coefficient_table(polys, k, degree, exact=True)
    # one denominator for the whole table, one per group for the vertices
    L = 1
    for c in table.reshape(-1):
        L = math.lcm(L, c.denominator)
    int_table = np.array([[int(c * L) for c in row] for row in table], dtype=object).reshape(table.shape)
    # one denominator per simplex (the lcm over a whole region can be far larger)
    simplex_den = [math.lcm(*(v.denominator for v in Vq[s].reshape(-1))) for s in S]
    D = np.array(simplex_den, dtype=object)
    X = np.empty((len(S), k + 1, k), dtype=object)
    for n, s in enumerate(S):
        den = simplex_den[n]
        for i, vi in enumerate(s):
            for j in range(k):
                v = Vq[vi, j]
                X[n, i, j] = v.numerator * (den // v.denominator)
    det, _ = _leibniz_determinants(X[:, 1:, :] - X[:, :1, :])
    det = np.array([abs(v) for v in det], dtype=object)
    # Y = sum_alpha W_alpha mu_int_alpha D^(degree - |alpha|), an integer per simplex and polynomial;
    # the integral is det Y / (L D^(degree + k)).  Y is computed modulo enough 30-bit primes (int64
    # numpy, fast) and reconstructed by the Chinese remainder theorem from a bound on |Y|.
    Y = _modular_contraction(X, D, int_table, exps, degree)
    numer = Y * det[:, None]
    sums = [[Fraction(0)] * len(polys) for _ in range(n_groups)]
    for n, g in enumerate(groups):
        den = L * simplex_den[n] ** (degree + k)
        row = sums[g]
        for q in range(len(polys)):
            row[q] += Fraction(numer[n, q], den)
    out = np.empty((n_groups, len(polys)), dtype=object)
    for g in range(n_groups):
        for q in range(len(polys)):
            out[g, q] = sums[g][q]
    return out


_PRIME_CEILING = 2**30  # residues < 2^30: three products and a residue add up below 2^63 in int64


def _next_primes():
    """Primes below 2^30, decreasing (trial division; a few dozen are ever needed)."""
    n = _PRIME_CEILING - 1
    while True:
        if all(n % f for f in range(3, math.isqrt(n) + 1, 2)):
            yield n
        n -= 2


def _log2(v: int) -> float:
    v = abs(int(v))
    if v == 0:
        return -math.inf
    e = max(v.bit_length() - 53, 0)
    return math.log2(v >> e) + e


def _modular_contraction(X, D, int_table, exps, degree):
    """Y[s, q] = sum_alpha int_table[alpha, q] mu_alpha(X[s]) D[s]^(degree - |alpha|), exactly (Python ints)."""
    m, n_polys = X.shape[0], int_table.shape[1]
    if m == 0:
        return np.zeros((0, n_polys), dtype=object)
    degrees = np.array([sum(e) for e in exps])
    # a bound on |Y| in log2, from the recurrence on |X| scaled per simplex by 2^-e (no overflow)
    logs = np.array([_log2(v) for v in X.reshape(-1)], dtype=float).reshape(m, -1)
    shift = np.max(logs, axis=1, initial=-np.inf)
    shift = np.where(np.isfinite(shift), np.ceil(shift), 0.0)
    scaled = np.exp2(logs - shift[:, None]).reshape(X.shape)  # |X| / 2^shift <= 1 (2^-inf = 0)
    mu_abs = _power_series_coefficients(scaled, degree)  # mu(|X|) / 2^(shift |alpha|): homogeneous
    logD = np.array([_log2(d) for d in D])
    logW = np.array([[_log2(w) for w in row] for row in int_table])  # (n_mono, n_polys)
    with np.errstate(divide="ignore"):
        log_mu = np.log2(mu_abs) + degrees[None, :] * shift[:, None] + (degree - degrees)[None, :] * logD[:, None]
    bound_bits = np.max(log_mu[:, :, None] + logW[None, :, :], axis=1, initial=-np.inf)  # (m, n_polys)
    finite = bound_bits[np.isfinite(bound_bits)]
    bits = (float(np.max(finite)) if finite.size else 0.0) + math.log2(len(exps)) + 8  # slack: rounding, sign
    residues, primes = [], []
    for p in _next_primes():
        Xp = np.array([v % p for v in X.reshape(-1)], dtype=np.int64).reshape(X.shape)
        mu = _power_series_coefficients(Xp, degree, modulus=p)
        Dp = np.array([d % p for d in D], dtype=np.int64)
        Wp = np.array([[w % p for w in row] for row in int_table], dtype=np.int64).reshape(int_table.shape)
        acc = _contract_mod(mu, Dp, Wp, degrees.astype(np.int64), degree, np.int64(p))
        residues.append(acc)
        primes.append(p)
        if sum(math.log2(pp) for pp in primes) > bits + 1:
            break
    # Garner / CRT, then the symmetric representative
    Y = residues[0].astype(object)
    M = primes[0]
    for r, p in zip(residues[1:], primes[1:]):
        inv = pow(M % p, -1, p)
        Ymod = np.array([[int(v) % p for v in row] for row in Y], dtype=np.int64)
        t = (((r - Ymod) % p) * inv) % p
        Y = Y + M * t.astype(object)
        M *= p
    half = M // 2
    return np.where(Y > half, Y - M, Y)


def _is_rational(x) -> bool:
    return isinstance(x, (int, np.integer, Fraction)) and not isinstance(x, bool)


def _default_exact(vertices, coeffs) -> bool:
    raw = np.asarray(vertices, dtype=object)
    return all(_is_rational(x) for x in raw.reshape(-1)) and all(_is_rational(c) for c in coeffs.values())


def integrate_polynomial_simplex(vertices, coeffs: Mapping[tuple, object], exact: bool | None = None):
    """Integral of a polynomial over one k-simplex in R^k (Lebesgue measure).

    Parameters
    ----------
    vertices : array (k+1, k)
    coeffs : dict {exponent tuple (length k): coefficient}
    exact : bool, optional
        Exact Fraction arithmetic (floats are converted exactly).  Default: exact when every vertex
        coordinate and coefficient is an int or a Fraction, float arithmetic otherwise.

    Returns
    -------
    Fraction or float.  For k = 0 (a point) the value of the polynomial there (mass-1 convention).
    """
    if not isinstance(coeffs, Mapping):
        raise PolyattrError(f"coeffs: expected a dict {{exponent tuple: coefficient}}, got {type(coeffs).__name__}")
    raw = np.asarray(vertices, dtype=object)
    if raw.ndim != 2 or raw.shape[0] != raw.shape[1] + 1:
        raise PolyattrError(f"vertices: a k-simplex in R^k has k+1 vertices, got shape {raw.shape}")
    exact = _default_exact(raw, coeffs) if exact is None else bool(exact)
    V = raw if exact else _float_vertices(raw)
    return integrate_polynomials(V, np.arange(raw.shape[0])[None, :], [coeffs], exact)[0, 0]


def integrate_polynomial_polytope(V, simplices, coeffs: Mapping[tuple, object], exact: bool | None = None):
    """Integral of a polynomial over a polytope given as a triangulation (sum over its simplices)."""
    if not isinstance(coeffs, Mapping):
        raise PolyattrError(f"coeffs: expected a dict {{exponent tuple: coefficient}}, got {type(coeffs).__name__}")
    raw = np.asarray(V, dtype=object)
    if raw.ndim != 2:
        raise PolyattrError(f"vertices: expected shape (n, k), got {raw.shape}")
    exact = _default_exact(raw, coeffs) if exact is None else bool(exact)
    Vp = raw if exact else _float_vertices(raw)
    return integrate_polynomials(Vp, simplices, [coeffs], exact, n_groups=1)[0, 0]


def _float_vertices(raw):
    try:
        V = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise PolyattrError("vertices: expected numbers") from None
    if not np.all(np.isfinite(V)):
        raise PolyattrError("vertices: contains NaN or infinite values")
    return V


def monomial_integral_simplex(beta, k: int) -> Fraction:
    """int over the standard k-simplex of lambda^beta (beta has k+1 entries): beta! / (|beta| + k)!."""
    num = 1
    for b in beta:
        num *= math.factorial(b)
    return Fraction(num, math.factorial(sum(beta) + k))


def multiply_polynomials(p: Mapping, q: Mapping) -> dict:
    """The product of two polynomials in dict form."""
    out: dict = {}
    for ea, ca in p.items():
        for eb, cb in q.items():
            e = tuple(x + y for x, y in zip(ea, eb))
            out[e] = out.get(e, 0) + ca * cb
    return out
