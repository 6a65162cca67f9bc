"""Vertices, facets, triangulation and moments of H-polytopes against closed forms and references."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from scipy.spatial import ConvexHull

from polyattr.errors import PolyattrError
from polyattr.geometry.vertices import (
    _merge_near_duplicates,
    facets_from_incidence,
    polytope_moments,
    polytope_triangulation,
    polytope_vertices,
    polytope_volume,
)
from polyattr.integrate.exact import exact_simplex_moments


# ---------------------------------------------------------------- polytopes with closed forms


def cube(k, lo=0, hi=1):
    A = np.vstack([-np.eye(k), np.eye(k)])
    b = np.r_[[-lo] * k, [hi] * k].astype(float)
    return A, b


def std_simplex(k):
    return np.vstack([-np.eye(k), np.ones((1, k))]), np.r_[np.zeros(k), 1.0]


def cross_polytope(k):
    A = np.array(list(itertools.product([-1.0, 1.0], repeat=k)))
    return A, np.ones(len(A))


def square_pyramid():
    """Pyramid over [0,1]^2 x {0} with apex (1/2, 1/2, 1/2): every facet but the base meets the apex."""
    A = np.array([[0, 0, -1], [1, 0, 1], [-1, 0, 1], [0, 1, 1], [0, -1, 1]], float)
    b = np.array([0, 1, 0, 1, 0], float)
    return A, b


def cut_cube():
    """[0,1]^3 cut by x+y+z <= 2, a plane through three vertices (a non-simple polytope)."""
    A, b = cube(3)
    return np.vstack([A, [[1, 1, 1]]]), np.r_[b, 2.0]


def star_cone(n_planes=9, seed=0):
    """[-1,1]^3 cut by many planes through the origin: the origin is a vertex on all of them."""
    rng = np.random.default_rng(seed)
    d = np.array([1.0, 1.0, 1.0]) / math.sqrt(3)
    rows = []
    while len(rows) < n_planes:
        a = rng.integers(-4, 5, size=3).astype(float)
        if a @ d < -0.3:  # keep the direction d inside every halfspace a.z <= 0
            rows.append(a)
    A0, b0 = cube(3, -1, 1)
    return np.vstack([A0, rows]), np.r_[b0, np.zeros(n_planes)]


def std_simplex_moments(k):
    """Closed forms on the standard simplex: int z^alpha = alpha! / (|alpha| + k)!."""
    m0 = F(1, math.factorial(k))
    m1 = [F(1, math.factorial(k + 1))] * k
    M2 = [[F(2 if i == j else 1, math.factorial(k + 2)) for j in range(k)] for i in range(k)]
    return m0, m1, M2


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_unit_cube(k, exact):
    V, inc = polytope_vertices(*cube(k), exact=exact)
    assert V.shape == (2**k, k)
    assert {tuple(float(x) for x in v) for v in V} == set(itertools.product([0.0, 1.0], repeat=k))
    m0, m1, M2 = polytope_moments(*cube(k), exact=exact)
    expected_M2 = np.full((k, k), F(1, 4), dtype=object)
    np.fill_diagonal(expected_M2, F(1, 3))
    if exact:
        assert m0 == 1 and all(x == F(1, 2) for x in m1)
        assert (M2 == expected_M2).all()
    else:
        assert m0 == pytest.approx(1, abs=1e-14)
        np.testing.assert_allclose(m1, 0.5, atol=1e-14)
        np.testing.assert_allclose(M2, expected_M2.astype(float), atol=1e-14)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_standard_simplex_exact(k):
    m0, m1, M2 = polytope_moments(*std_simplex(k), exact=True)
    e0, e1, e2 = std_simplex_moments(k)
    assert m0 == e0 and list(m1) == e1 and M2.tolist() == e2


@pytest.mark.parametrize("k", [2, 3, 4])
def test_cross_polytope(k):
    """Simplicial but highly non-simple: each vertex lies on 2^(k-1) facets."""
    m0, m1, M2 = polytope_moments(*cross_polytope(k), exact=True)
    assert m0 == F(2**k, math.factorial(k))
    assert all(x == 0 for x in m1)
    # int over the cross-polytope of z_1^2: 2^k orthants, each a standard simplex: 2^k * 2/(k+2)!
    assert M2.tolist() == [[F(2**k * 2, math.factorial(k + 2)) if i == j else 0 for j in range(k)] for i in range(k)]
    f0, f1, f2 = polytope_moments(*cross_polytope(k))
    assert f0 == pytest.approx(float(m0), rel=1e-13)
    np.testing.assert_allclose(f2, M2.astype(float), atol=1e-13)


def test_square_pyramid_exact():
    m0, m1, M2 = polytope_moments(*square_pyramid(), exact=True)
    assert m0 == F(1, 6)  # base 1, height 1/2
    assert list(m1) == [F(1, 12), F(1, 12), F(1, 48)]  # centroid at height h/4
    # int z^2 over the pyramid: int_0^{1/2} z^2 (1 - 2z)^2 dz = 1/240
    assert M2[2, 2] == F(1, 240)


def test_cut_cube_exact():
    m0, m1, M2 = polytope_moments(*cut_cube(), exact=True)
    assert m0 == F(5, 6)  # the corner simplex at (1,1,1) (volume 1/6) is cut off
    # first moment: cube minus corner tetrahedron with centroid (3/4, 3/4, 3/4)
    assert list(m1) == [F(1, 2) - F(1, 6) * F(3, 4)] * 3


def test_redundant_duplicate_and_zero_rows():
    A, b = cube(3)
    extra_A = np.vstack([A, 2 * A[:2], [[0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 1, 0]]])
    extra_b = np.r_[b, 2 * b[:2], 0.0, 1.0, 5.0, 2.0]
    zero_tight = len(b) + 2  # the row 0 <= 0
    for exact in (False, True):
        V, inc = polytope_vertices(extra_A, extra_b, exact=exact)
        assert V.shape == (8, 3)
        assert all(zero_tight in s for s in inc) and all(zero_tight + 1 not in s for s in inc)
        facets = facets_from_incidence(V, inc)
        assert len(facets) == 6  # duplicates (row 6, 7 repeat rows 0, 1), x+y<=2 is an edge, x<=5 nothing
        assert sorted(r for r, _ in facets) == list(range(6))
        assert all(len(vs) == 4 for _, vs in facets)
        m0, m1, M2 = polytope_moments(extra_A, extra_b, exact=exact)
        assert float(m0) == pytest.approx(1.0, abs=1e-14)


def test_merge_near_duplicates():
    V = np.array([[0.0, 0.0], [1.0, 0.0], [1.0 + 1e-14, 1e-15], [0.0, 1.0]])
    inc = [frozenset({0, 1}), frozenset({1, 2}), frozenset({2, 5}), frozenset({0, 3})]
    W, winc = _merge_near_duplicates(V, inc)
    assert W.shape == (3, 2)
    assert winc[1] == frozenset({1, 2, 5})
    W2, _ = _merge_near_duplicates(np.array([[0.0], [1e-6]]), [frozenset(), frozenset()])
    assert W2.shape == (2, 1)  # genuinely distinct vertices stay


@pytest.mark.parametrize("exact", [False, True])
def test_errors(exact):
    with pytest.raises(PolyattrError, match="empty"):
        polytope_vertices([[1.0], [-1.0]], [0.0, -1.0], exact=exact)  # x <= 0 and x >= 1
    with pytest.raises(PolyattrError, match="empty"):
        polytope_vertices([[1.0], [0.0]], [1.0, -1.0], exact=exact)  # 0 <= -1
    with pytest.raises(PolyattrError, match="unbounded"):
        polytope_vertices([[-1.0, 0.0], [0.0, -1.0]], [0.0, 0.0], exact=exact)  # a quadrant
    with pytest.raises(PolyattrError, match="unbounded"):
        polytope_vertices([[1.0, 0.0], [-1.0, 0.0]], [1.0, 1.0], exact=exact)  # a strip (lines)
    with pytest.raises(PolyattrError, match="unbounded"):
        polytope_vertices([[0.0, 0.0]], [1.0], exact=exact)
    with pytest.raises(PolyattrError):
        polytope_vertices([[1.0, 0.0]], [1.0, 2.0], exact=exact)
    with pytest.raises(PolyattrError):
        polytope_moments(np.ones((2, 2)), np.array([np.nan, 1.0]))


def test_lower_dimensional_polytope_has_zero_volume():
    A, b = cube(2)
    A = np.vstack([A, [[1.0, 0.0]]])
    b = np.r_[b, 0.0]  # x <= 0 and x >= 0: a segment
    assert polytope_volume(A, b) == 0.0
    assert polytope_volume(A, b, exact=True) == 0


# ---------------------------------------------------------------- triangulation checks


def interiors_intersect(P, Q) -> bool:
    """Exact LP (cdd.gmp): do the open simplices conv(P), conv(Q) (in R^k) share a point?

    Maximise t subject to x = sum lam_i p_i = sum mu_j q_j, lam, mu >= t, sum lam = sum mu = 1.
    The interiors meet iff the optimum is positive.
    """
    import cdd.gmp as cdd

    k = len(P[0])
    n = 2 * (k + 1) + 1  # variables lam (k+1), mu (k+1), t
    rows, lin = [], []
    for i in range(2 * (k + 1)):  # lam_i - t >= 0, mu_j - t >= 0
        r = [F(0)] * (n + 1)
        r[1 + i], r[n] = F(1), F(-1)
        rows.append(r)
    for block in (0, 1):  # sum = 1 (equality)
        r = [F(1)] + [F(0)] * n
        for i in range(k + 1):
            r[1 + block * (k + 1) + i] = F(-1)
        lin.append(len(rows))
        rows.append(r)
    for c in range(k):  # sum lam p - sum mu q = 0
        r = [F(0)] * (n + 1)
        for i in range(k + 1):
            r[1 + i] = F(P[i][c])
            r[1 + k + 1 + i] = -F(Q[i][c])
        lin.append(len(rows))
        rows.append(r)
    mat = cdd.matrix_from_array(
        rows, lin_set=lin, rep_type=cdd.RepType.INEQUALITY, obj_type=cdd.LPObjType.MAX,
        obj_func=[F(0)] * n + [F(1)],
    )
    lp = cdd.linprog_from_matrix(mat)
    cdd.linprog_solve(lp)
    assert lp.status == cdd.LPStatusType.OPTIMAL
    return lp.obj_value > 0


def check_triangulation_exact(A, b, expected_volume):
    V, S = polytope_triangulation(A, b, exact=True)
    k = V.shape[1]
    vols, *_ = exact_simplex_moments(V, S, group=np.arange(len(S)), order=0)
    assert all(v > 0 for v in vols), "a degenerate simplex"
    assert sum(vols) == expected_volume
    for i, j in itertools.combinations(range(len(S)), 2):
        assert not interiors_intersect(V[S[i]].tolist(), V[S[j]].tolist()), (S[i], S[j])
    assert len({tuple(sorted(s)) for s in S}) == len(S)
    return V, S


def test_triangulation_degenerate_polytopes_exact():
    check_triangulation_exact(*square_pyramid(), F(1, 6))
    check_triangulation_exact(*cut_cube(), F(5, 6))
    check_triangulation_exact(*cross_polytope(3), F(8, 6))
    V, S = check_triangulation_exact(*cube(3), F(1))
    assert len(S) == 6  # pulling a cube corner: cones over 3 squares, 2 triangles each
    A, b = star_cone()
    hull = ConvexHull(polytope_vertices(A, b)[0])
    V, S = polytope_triangulation(A, b, exact=True)
    vols, *_ = exact_simplex_moments(V, S, order=0)
    assert float(vols[0]) == pytest.approx(hull.volume, rel=1e-12)
    check_triangulation_exact(A, b, vols[0])


def test_star_cone_origin_is_a_degenerate_vertex():
    A, b = star_cone()
    V, inc = polytope_vertices(A, b, exact=True)
    origin = [i for i, v in enumerate(V) if all(x == 0 for x in v)]
    assert len(origin) == 1
    assert len(inc[origin[0]]) >= 4  # more than k = 3 tight rows


# ---------------------------------------------------------------- random polytopes vs references


def random_polytope(k, n_planes, rng):
    """Random halfspaces through points near the centre of [-1,1]^k, intersected with the box."""
    A0, b0 = cube(k, -1, 1)
    normals = rng.normal(size=(n_planes, k))
    offsets = rng.uniform(0.05, 0.8, size=n_planes)  # the origin stays strictly inside
    return np.vstack([A0, normals]), np.r_[b0, offsets]


@pytest.mark.parametrize("k", [2, 3, 4])
def test_random_polytopes_against_convexhull_and_monte_carlo(k):
    rng = np.random.default_rng(100 + k)
    for trial in range(3):
        A, b = random_polytope(k, 4 + 2 * trial, rng)
        m0, m1, M2 = polytope_moments(A, b)
        V, _ = polytope_vertices(A, b)
        assert m0 == pytest.approx(ConvexHull(V).volume, rel=1e-10)
        # Monte Carlo with a 5-sigma interval (uniform samples in the box, volume 2^k)
        N = 200_000
        Z = rng.uniform(-1, 1, size=(N, k))
        inside = np.all(Z @ A.T <= b, axis=1).astype(float)
        box = 2.0**k
        samples = [box * inside]
        samples += [box * inside * Z[:, j] for j in range(k)]
        samples += [box * inside * Z[:, i] * Z[:, j] for i in range(k) for j in range(k)]
        exact_values = [m0] + list(m1) + list(M2.reshape(-1))
        for s, value in zip(samples, exact_values):
            assert abs(s.mean() - value) <= 5 * s.std() / math.sqrt(N) + 1e-12


@pytest.mark.parametrize("k", [2, 3])
def test_exact_and_float_pipelines_agree(k):
    rng = np.random.default_rng(7 + k)
    for _ in range(3):
        A, b = random_polytope(k, 5, rng)
        A = np.round(A * 8) / 8  # dyadic data: the exact pipeline sees the same polytope
        b = np.round(b * 8) / 8
        fm = polytope_moments(A, b)
        em = polytope_moments(A, b, exact=True)
        assert fm[0] == pytest.approx(float(em[0]), rel=1e-11)
        np.testing.assert_allclose(fm[1], em[1].astype(float), atol=1e-11)
        np.testing.assert_allclose(fm[2], em[2].astype(float), atol=1e-11)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(2, 3),
    planes=st.lists(
        st.tuples(st.lists(st.integers(-3, 3), min_size=3, max_size=3), st.integers(0, 4)),
        min_size=1, max_size=6,
    ),
)
def test_hypothesis_integer_polytopes(k, planes):
    """Integer halfspaces a.z <= c through/near the origin inside [-2,2]^k, many degenerate."""
    A0, b0 = cube(k, -2, 2)
    rows = [a[:k] for a, _ in planes]
    A = np.vstack([A0, np.array(rows, float)])
    b = np.r_[b0, [float(c) for _, c in planes]]  # c >= 0: the origin is feasible
    em = polytope_moments(A, b, exact=True)
    V, S = polytope_triangulation(A, b, exact=True)
    if em[0] == 0:
        return
    hull = ConvexHull(V.astype(float))
    assert float(em[0]) == pytest.approx(hull.volume, rel=1e-9)
    vols, *_ = exact_simplex_moments(V, S, group=np.arange(len(S)), order=0)
    assert all(v > 0 for v in vols) and sum(vols) == em[0]
    fm = polytope_moments(A, b)
    assert fm[0] == pytest.approx(float(em[0]), rel=1e-9)
    np.testing.assert_allclose(fm[1], em[1].astype(float), atol=1e-9)
    np.testing.assert_allclose(fm[2], em[2].astype(float), atol=1e-9)
    # the centroid lies in the polytope
    c = em[1] / em[0]
    assert all(sum(F(int(A[r, j])) * c[j] for j in range(k)) <= F(int(b[r])) for r in range(len(b)))


@pytest.mark.parametrize("eps", [1e-3, 1e-8, 1e-12])
def test_small_polytopes_float(eps):
    """cdd's float zero tests are absolute; the polytope is normalised by its inradius first."""
    A, b = std_simplex(3)
    A = np.vstack([A, cube(3)[0]])
    b = np.r_[0, 0, 0, eps, cube(3)[1]]
    m0, m1, M2 = polytope_moments(A, b)
    assert m0 == pytest.approx(eps**3 / 6, rel=1e-12)
    np.testing.assert_allclose(m1, eps**4 / 24, rtol=1e-12)
    # a tiny box far from the origin (dyadic data, so the float polytope is exactly the box)
    w = 2.0**-30
    Ab, bb = cube(3, 5, 5 + w)
    V, inc = polytope_vertices(Ab, bb)
    assert V.shape == (8, 3) and len(facets_from_incidence(V, inc)) == 6
    assert polytope_volume(Ab, bb) == pytest.approx(w**3, rel=1e-12)


def test_given_interior_ball_and_thin_sliver():
    A, b = cube(3)
    V1, _ = polytope_vertices(A, b)
    V2, _ = polytope_vertices(A, b, center=[0.5, 0.5, 0.5], radius=0.5)
    assert sorted(map(tuple, np.round(V1, 14))) == sorted(map(tuple, np.round(V2, 14)))
    # a sliver {x + y + z in [1, 1 + 2^-30]} in the unit cube, against the exact pipeline
    A = np.vstack([cube(3)[0], [[1, 1, 1], [-1, -1, -1]]])
    b = np.r_[cube(3)[1], 1 + 2.0**-30, -1.0]
    exact = polytope_moments(A, b, exact=True)
    approx = polytope_moments(A, b)
    assert approx[0] == pytest.approx(float(exact[0]), rel=1e-8)
    np.testing.assert_allclose(approx[2], exact[2].astype(float), rtol=1e-8)


def test_float_incidence_checked_on_slivers():
    """Regression: cdd float once dropped a tight row at a vertex of this sliver (width 2^-27),
    giving a wrong facet and a 45% volume error; residual checks now send it to the exact path."""
    A0, b0 = cube(3)
    a = np.array([3.0, -1.0, 3.0])
    A = np.vstack([A0, a, -a])
    for t in (-20, -27, -30):
        b = np.r_[b0, 1.25 + 2.0**t, -1.25]
        exact = polytope_moments(A, b, exact=True)
        approx = polytope_moments(A, b)
        assert approx[0] == pytest.approx(float(exact[0]), rel=1e-6)
        np.testing.assert_allclose(approx[2], exact[2].astype(float), rtol=1e-6)


def test_return_error_bounds():
    A, b = cut_cube()
    m0, m1, M2, (e0, e1, e2) = polytope_moments(A, b, return_error=True)
    exact = polytope_moments(A, b, exact=True)
    assert 0 < e0 < 1e-13 and abs(m0 - float(exact[0])) <= e0
    assert np.all(np.abs(m1 - exact[1].astype(float)) <= e1 + 1e-300)
    assert np.all(np.abs(M2 - exact[2].astype(float)) <= e2 + 1e-300)
    assert polytope_moments(A, b, order=0, return_error=True)[3][1] is None


def test_polytopes_moments_batch():
    from polyattr.geometry.lp import chebyshev_center
    from polyattr.geometry.vertices import polytopes_moments

    items = [cube(3), square_pyramid(), cut_cube()]
    c, r = chebyshev_center(*cut_cube())
    res = polytopes_moments(items[:2] + [(*cut_cube(), c, r)])
    m0, m1, M2 = polytopes_moments(items, exact=True)
    assert list(m0) == [1, F(1, 6), F(5, 6)]
    np.testing.assert_allclose(res.m0, m0.astype(float), rtol=1e-14)
    np.testing.assert_allclose(res.M2, M2.astype(float), rtol=1e-13)
    assert np.all(np.abs(res.m1 - m1.astype(float)) <= res.m1_error)
    with pytest.raises(PolyattrError):
        polytopes_moments([cube(3), cube(2)])
    with pytest.raises(PolyattrError):
        polytopes_moments([])
