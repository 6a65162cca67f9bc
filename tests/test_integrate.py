"""Simplex kernels (float with error bounds, exact), triangulation and polynomial integration."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction as F

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from polyattr.errors import PolyattrError
from polyattr.integrate import (
    affine_rank,
    bareiss_determinant,
    exact_simplex_moments,
    integrate_polynomial_polytope,
    integrate_polynomial_simplex,
    pulling_triangulation,
    simplex_moments,
)
from polyattr.integrate.triangulate import exact_rank

# ---------------------------------------------------------------- determinants and ranks


@given(st.lists(st.lists(st.fractions(min_value=-100, max_value=100, max_denominator=50), min_size=4, max_size=4), min_size=4, max_size=4))
@settings(max_examples=40, deadline=None)
def test_bareiss_matches_sympy(rows):
    assert bareiss_determinant(rows) == sp.Rational(sp.Matrix(rows).det())


def test_bareiss_edge_cases():
    assert bareiss_determinant(np.zeros((0, 0))) == 1
    assert bareiss_determinant([[0, 1], [1, 0]]) == -1  # needs a row swap
    assert bareiss_determinant([[1, 2], [2, 4]]) == 0
    assert bareiss_determinant([[0.5, 0.25], [0.125, 1]]) == F(15, 32)
    with pytest.raises(PolyattrError):
        bareiss_determinant([[1, 2, 3]])


def test_affine_and_exact_rank():
    pts = [[F(0), F(0), F(0)], [F(1), F(1), F(1)], [F(2), F(2), F(2)]]
    assert affine_rank(np.array(pts, dtype=object)) == 1
    assert affine_rank(np.array(pts, dtype=float)) == 1
    assert affine_rank(np.eye(3)) == 2  # three points span a plane
    assert exact_rank([[1, 2], [2, 4], [0, 0]]) == 1
    assert affine_rank(np.zeros((0, 2))) == -1


# ---------------------------------------------------------------- kernels: closed forms and bounds


def test_unit_simplex_kernel_closed_form():
    for k in range(1, 6):
        V = np.vstack([np.zeros(k), np.eye(k)])
        res = simplex_moments(V, np.arange(k + 1)[None, :])
        assert res.m0[0] == pytest.approx(1 / math.factorial(k), rel=1e-15)
        np.testing.assert_allclose(res.m1[0], 1 / math.factorial(k + 1), rtol=1e-15)
        expected = (np.ones((k, k)) + np.eye(k)) / math.factorial(k + 2)
        np.testing.assert_allclose(res.M2[0], expected, rtol=1e-14)


def test_point_and_segment_conventions():
    res = simplex_moments(np.zeros((3, 0)), np.array([[0], [1], [2]]), group=np.array([0, 0, 1]))
    assert res.m0.tolist() == [2.0, 1.0]  # k = 0: each point has mass 1
    assert res.m1.shape == (2, 0) and res.M2.shape == (2, 0, 0)
    m0, m1, M2 = exact_simplex_moments(np.zeros((1, 0)), np.array([[0]]))
    assert m0[0] == 1
    # k = 1: the segment [2, 5]: length 3, int z = 21/2, int z^2 = 39
    res = simplex_moments(np.array([[5.0], [2.0]]), np.array([[0, 1]]))
    assert res.m0[0] == 3 and res.m1[0, 0] == pytest.approx(10.5) and res.M2[0, 0, 0] == pytest.approx(39)
    m0, m1, M2 = exact_simplex_moments([[5], [2]], [[0, 1]])
    assert (m0[0], m1[0, 0], M2[0, 0, 0]) == (3, F(21, 2), 39)


def test_groups_and_orders():
    rng = np.random.default_rng(0)
    V = rng.normal(size=(20, 3))
    S = np.array([rng.choice(20, 4, replace=False) for _ in range(30)])
    group = rng.integers(0, 5, size=30)
    res = simplex_moments(V, S, group=group, n_groups=7)
    assert res.m0.shape == (7,) and res.m0[5] == 0 and res.m0[6] == 0
    for g in range(5):
        one = simplex_moments(V, S[group == g])
        assert res.m0[g] == pytest.approx(one.m0[0], rel=1e-13)
        np.testing.assert_allclose(res.M2[g], one.M2[0], rtol=1e-12)
    low = simplex_moments(V, S, order=0)
    assert low.m1 is None and low.M2 is None and low.m1_error is None
    mid = simplex_moments(V, S, order=1)
    assert mid.M2 is None and mid.m1.shape == (1, 3)
    with pytest.raises(PolyattrError):
        simplex_moments(V, S, order=3)
    with pytest.raises(PolyattrError):
        simplex_moments(V, S[:, :3])
    with pytest.raises(PolyattrError):
        simplex_moments(V, S + 20)
    with pytest.raises(PolyattrError):
        simplex_moments(V, S, group=group, n_groups=3)
    with pytest.raises(PolyattrError):
        simplex_moments(np.full((4, 3), np.nan), S[:1] % 4)


def _check_bound(V, S, group=None, n_groups=None, slack=1.0):
    """exact(float vertices) - float result must be within the returned bound."""
    res = simplex_moments(V, S, group=group, n_groups=n_groups)
    m0, m1, M2 = exact_simplex_moments(V, S, group=group, n_groups=n_groups)
    for approx, exact, bound in ((res.m0, m0, res.m0_error), (res.m1, m1, res.m1_error), (res.M2, M2, res.M2_error)):
        err = np.abs(np.vectorize(lambda a, e: float(F(float(a)) - e), otypes=[float])(approx, exact))
        assert np.all(err <= bound * slack), (err.max(), bound.max())
    return res, m0


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_float_within_error_bound_random(k):
    rng = np.random.default_rng(k)
    V = rng.normal(size=(40, k)) * 10.0 ** rng.integers(-3, 4, size=(40, 1))
    S = np.array([rng.choice(40, k + 1, replace=False) for _ in range(60)])
    _check_bound(V, S, group=rng.integers(0, 4, size=60), n_groups=4)
    # on well-scaled data the bound is also small: it is useful, not just valid
    W = rng.uniform(-1, 1, size=(40, k)) + 3.0
    res, _ = _check_bound(W, S)
    assert np.all(res.m0_error <= 1e-11 * res.m0)
    assert np.all(res.M2_error <= 1e-11 * np.abs(res.M2).max())


def test_float_within_error_bound_thin_and_degenerate():
    rng = np.random.default_rng(3)
    for k in (2, 3, 4):
        base = rng.normal(size=(k + 1, k))
        for eps in (1e-4, 1e-9, 1e-14, 0.0):
            V = base.copy()
            # make the last vertex (almost) an affine combination of the others
            V[-1] = V[:-1].mean(axis=0) + eps * rng.normal(size=k)
            _check_bound(V, np.arange(k + 1)[None, :])
    # a simplex that rounds to exactly singular in float
    V = np.array([[0.0, 0.0], [1.0, 1.0], [1.0 + 2**-52, 1.0]])
    _check_bound(V, np.array([[0, 1, 2]]))


@given(st.integers(1, 4), st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_float_within_error_bound_hypothesis(k, seed):
    rng = np.random.default_rng(seed)
    V = rng.uniform(-1, 1, size=(k + 3, k)) * 10.0 ** rng.uniform(-6, 6)
    V += rng.normal(size=k) * 10.0 ** rng.uniform(-6, 6)  # translated far from the origin
    S = np.array([rng.choice(k + 3, k + 1, replace=False) for _ in range(5)])
    _check_bound(V, S)


def test_exact_moments_of_triangle():
    # triangle (0,0), (2,0), (0,1): area 1, centroid (2/3, 1/3)
    m0, m1, M2 = exact_simplex_moments([[0, 0], [2, 0], [0, 1]], [[0, 1, 2]])
    assert m0[0] == 1 and list(m1[0]) == [F(2, 3), F(1, 3)]
    # int x^2 = 2/3, int xy = 1/6, int y^2 = 1/6 (direct iterated integrals)
    assert M2[0].tolist() == [[F(2, 3), F(1, 6)], [F(1, 6), F(1, 6)]]


# ---------------------------------------------------------------- triangulation


def test_pulling_triangulation_square_pyramid():
    V = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.5, 0.5, 0.5]])
    facets = [{0, 1, 2, 3}, {0, 1, 4}, {1, 2, 4}, {2, 3, 4}, {3, 0, 4}, {0, 1, 4}]  # one duplicate
    S = pulling_triangulation(V, facets)
    assert S.shape == (2, 4) and np.all(S[:, 0] == 0)  # cone from vertex 0 over 2 facets
    res = simplex_moments(V, S)
    assert res.m0[0] == pytest.approx(1 / 6, rel=1e-14)
    # pulling the apex first: cone over the square base, 2 simplices as well
    W = V[[4, 0, 1, 2, 3]]
    remap = {4: 0, 0: 1, 1: 2, 2: 3, 3: 4}
    S2 = pulling_triangulation(W, [{remap[i] for i in f} for f in facets])
    assert np.all(S2[:, 0] == 0) and len(S2) == 2
    assert simplex_moments(W, S2).m0[0] == pytest.approx(1 / 6, rel=1e-14)


def test_pulling_triangulation_hypercube_exact():
    for k in (2, 3, 4):
        V = np.array(list(itertools.product([0, 1], repeat=k)), dtype=float)
        facets = [{i for i, v in enumerate(V) if v[j] == side} for j in range(k) for side in (0, 1)]
        S = pulling_triangulation(V, facets)
        m0, _, _ = exact_simplex_moments(V, S, group=np.arange(len(S)), order=0)
        assert all(v > 0 for v in m0) and sum(m0) == 1
        assert len(S) == math.factorial(k)  # pulling is a staircase (Freudenthal-like) for cubes


def test_pulling_triangulation_errors_and_point():
    assert pulling_triangulation(np.zeros((1, 0)), []).tolist() == [[0]]
    with pytest.raises(PolyattrError):
        pulling_triangulation(np.eye(2), [{0, 1}])  # too few facets
    with pytest.raises(PolyattrError):
        pulling_triangulation(np.eye(2), [{0, 5}, {1}, {0}])
    with pytest.raises(PolyattrError):
        pulling_triangulation(np.zeros(3), [{0}])


# ---------------------------------------------------------------- polynomials


x, y, z = sp.symbols("x y z")


def _to_sympy(coeffs, symbols):
    return sum(sp.Rational(c.numerator, c.denominator) * sp.prod([s**a for s, a in zip(symbols, alpha)]) for alpha, c in coeffs.items())


def _random_poly(rng, k, degree, n_terms):
    coeffs = {}
    for _ in range(n_terms):
        alpha = [0] * k
        for _ in range(int(rng.integers(0, degree + 1))):
            alpha[int(rng.integers(k))] += 1
        coeffs[tuple(alpha)] = F(int(rng.integers(-9, 10)), int(rng.integers(1, 7)))
    return coeffs


def test_polynomial_triangle_against_sympy():
    rng = np.random.default_rng(11)
    # triangle (0,0), (2,0), (1,3): x runs from y/3 to 2 - y/3 for y in [0, 3]
    V = [[0, 0], [2, 0], [1, 3]]
    for _ in range(4):
        coeffs = _random_poly(rng, 2, 4, 5)
        ref = sp.integrate(_to_sympy(coeffs, (x, y)), (x, y / 3, 2 - y / 3), (y, 0, 3))
        got = integrate_polynomial_simplex(V, coeffs)
        assert isinstance(got, F) and got == F(int(ref.p), int(ref.q))
        assert integrate_polynomial_simplex(np.array(V, float), coeffs, exact=False) == pytest.approx(float(ref), rel=1e-12, abs=1e-12)


def test_polynomial_tetrahedron_against_sympy():
    rng = np.random.default_rng(12)
    V = [[0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3]]  # x/1 + y/2 + z/3 <= 1
    for _ in range(3):
        coeffs = _random_poly(rng, 3, 3, 5)
        ref = sp.integrate(
            _to_sympy(coeffs, (x, y, z)), (z, 0, 3 * (1 - x - y / 2)), (y, 0, 2 * (1 - x)), (x, 0, 1)
        )
        assert integrate_polynomial_simplex(V, coeffs) == F(int(ref.p), int(ref.q))
        # vertex order and translation: a shifted, permuted copy integrates the shifted polynomial
        shift = [F(1, 2), F(-1), F(3)]
        Vs = [[v[j] + shift[j] for j in range(3)] for v in reversed(V)]
        shifted = sp.Poly(_to_sympy(coeffs, (x, y, z)).subs({x: x - shift[0], y: y - shift[1], z: z - sp.Integer(3)}, simultaneous=True), x, y, z)
        shifted_coeffs = {m: F(int(c.p), int(c.q)) for m, c in zip(shifted.monoms(), shifted.coeffs())}
        assert integrate_polynomial_simplex(Vs, shifted_coeffs) == F(int(ref.p), int(ref.q))


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_polynomial_standard_simplex_closed_form(k):
    V = [[0] * k] + [[int(i == j) for j in range(k)] for i in range(k)]
    for alpha in itertools.product(range(3), repeat=k):
        expected = F(math.prod(math.factorial(a) for a in alpha), math.factorial(sum(alpha) + k))
        assert integrate_polynomial_simplex(V, {alpha: 1}) == expected


def test_polynomial_over_triangulated_cube_and_moments():
    k = 3
    V = np.array(list(itertools.product([0, 1], repeat=k)), dtype=object) * F(2)  # [0, 2]^3
    facets = [{i for i, v in enumerate(V) if v[j] == side} for j in range(k) for side in (0, 2)]
    S = pulling_triangulation(V, facets)
    for alpha in [(0, 0, 0), (1, 0, 0), (2, 1, 0), (1, 1, 3)]:
        expected = math.prod(F(2 ** (a + 1), a + 1) for a in alpha)  # int_0^2 t^a dt
        assert integrate_polynomial_polytope(V, S, {alpha: 1}) == expected
    m0, m1, M2 = exact_simplex_moments(V, S)
    assert integrate_polynomial_polytope(V, S, {(0, 0, 0): 1}) == m0[0]
    for i in range(k):
        assert integrate_polynomial_polytope(V, S, {tuple(int(j == i) for j in range(k)): 1}) == m1[0, i]
        for j in range(k):
            e = [0] * k
            e[i] += 1
            e[j] += 1
            assert integrate_polynomial_polytope(V, S, {tuple(e): 1}) == M2[0, i, j]
    approx = integrate_polynomial_polytope(V.astype(float), S, {(2, 1, 0): 0.5})
    assert isinstance(approx, float) and approx == pytest.approx(float(F(1, 2) * F(8, 3) * 2 * 2), rel=1e-13)


def test_polynomial_errors_and_point():
    assert integrate_polynomial_simplex(np.zeros((1, 0)), {(): F(7, 3)}) == F(7, 3)
    assert integrate_polynomial_simplex([[0, 0], [1, 1], [2, 2]], {(1, 1): 1}) == 0  # flat simplex
    with pytest.raises(PolyattrError):
        integrate_polynomial_simplex([[0, 0], [1, 0], [0, 1]], {(1,): 1})
    with pytest.raises(PolyattrError):
        integrate_polynomial_simplex([[0, 0], [1, 0], [0, 1]], {(-1, 0): 1})
    with pytest.raises(PolyattrError):
        integrate_polynomial_simplex([[0, 0], [1, 0]], {(0, 0): 1})
    with pytest.raises(PolyattrError):
        integrate_polynomial_simplex([[0, 0], [1, 0], [0, 1]], [1, 2])
    with pytest.raises(PolyattrError):
        integrate_polynomial_polytope([[0, 0], [1, 0], [0, 1]], [[0, 1, 3]], {(0, 0): 1})
