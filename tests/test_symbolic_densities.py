"""The vectorised polynomial integrator (BBDKV closed form) against two independent computations
(the previous barycentric-expansion integrator and sympy's iterated integrals), its float error
bound, and symbolic densities against sympy integration of a one-neuron network by hand."""

from fractions import Fraction as F

import numpy as np
import pytest
import sympy

import polyattr
from polyattr import PolyattrError, ReLUNetwork
from polyattr.integrate.polynomial import integrate_polynomials, monomial_exponents
from polyattr.integrate.reference import reference_integrate_simplex
from polyattr.measures import SymbolicDensity
from polyattr.measures.core import PolynomialDensity
from polyattr.symbolic import integrate_density


def random_simplex(rng, k, den=7):
    while True:
        V = [[F(int(rng.integers(-20, 21)), int(rng.integers(1, den))) for _ in range(k)] for _ in range(k + 1)]
        M = sympy.Matrix([[sympy.Rational(a.numerator, a.denominator) - sympy.Rational(b.numerator, b.denominator)
                           for a, b in zip(V[i], V[0])] for i in range(1, k + 1)])
        if M.det() != 0:
            return V


def random_poly(rng, k, degree, terms=6):
    exps = monomial_exponents(k, degree)
    return {exps[int(i)]: F(int(rng.integers(-9, 10)), int(rng.integers(1, 5))) for i in rng.integers(0, len(exps), terms)}


@pytest.mark.parametrize("k,degree", [(1, 7), (2, 6), (3, 5), (4, 3)])
def test_matches_the_previous_integrator_exactly(k, degree):
    rng = np.random.default_rng(k)
    for _ in range(3):
        V = random_simplex(rng, k)
        polys = [random_poly(rng, k, degree) for _ in range(3)]
        got = integrate_polynomials(np.array(V, dtype=object), np.arange(k + 1)[None, :], polys, True)[0]
        assert list(got) == [reference_integrate_simplex(np.array(V, dtype=object), p) for p in polys]


def test_matches_sympy_iterated_integral_on_a_triangle():
    x, y = sympy.symbols("x y")
    # triangle (0,0), (2,0), (1,3/2): 0 <= y <= 3/2, 2y/3 <= x <= 2 - 2y/3
    poly = {(3, 2): F(1, 3), (0, 4): F(-2), (1, 1): F(5, 7), (0, 0): F(1)}
    expr = sum(sympy.Rational(c.numerator, c.denominator) * x ** a * y ** b for (a, b), c in poly.items())
    ref = sympy.integrate(expr, (x, 2 * y / 3, 2 - 2 * y / 3), (y, 0, sympy.Rational(3, 2)))
    V = np.array([[0, 0], [2, 0], [1, F(3, 2)]], dtype=object)
    got = integrate_polynomials(V, np.array([[0, 1, 2]]), [poly], True)[0, 0]
    assert got == F(int(ref.p), int(ref.q))


def test_float_error_bound_holds_and_groups_sum():
    rng = np.random.default_rng(5)
    k, m = 3, 40
    V = np.array([row for _ in range(m) for row in random_simplex(rng, k, den=1000)], dtype=object)
    S = np.arange(m * (k + 1)).reshape(m, k + 1)
    groups = rng.integers(0, 5, m)
    polys = [random_poly(rng, k, 8, terms=30), random_poly(rng, k, 9, terms=30)]
    Vf = V.astype(float)
    exact = integrate_polynomials(Vf.astype(object), S, polys, True, groups=groups, n_groups=5)
    value, bound = integrate_polynomials(Vf, S, polys, False, groups=groups, n_groups=5, return_error=True)
    gap = np.abs(value - exact.astype(float))
    assert np.all(gap <= bound) and np.all(bound < 1e-6 * np.maximum(np.abs(exact.astype(float)), 1))
    per_simplex = integrate_polynomials(Vf.astype(object), S, polys, True)
    assert per_simplex.shape == (1, 2) and sum(exact[:, 0]) == per_simplex[0, 0]


def one_neuron():
    """f(z) = relu(z0 + 2 z1 - 1) + 1/2 on the unit square."""
    return ReLUNetwork([np.array([[1.0, 2.0]]), np.array([[1.0]])], [np.array([-1.0]), np.array([0.5])])


def test_symbolic_density_integral_matches_sympy_by_hand():
    a, c, z0, z1 = sympy.symbols("a c z0 z1")
    density = SymbolicDensity(a * z0 ** 3 * z1 + c * z1 ** 2 + 1, [z0, z1], ([0, 0], [1, 1]))
    assert density.parameters == (a, c) and density.degree == 4
    got = integrate_density(one_neuron(), density)
    f = sympy.Piecewise((z0 + 2 * z1 - 1, z0 + 2 * z1 - 1 > 0), (0, True)) + sympy.Rational(1, 2)
    active = sympy.integrate((z0 + 2 * z1 - 1) * density.expr, (z1, (1 - z0) / 2, 1), (z0, 0, 1))
    expected = active + sympy.Rational(1, 2) * density.total_mass()
    assert sympy.simplify(got - expected) == 0
    assert got.free_symbols == {a, c}
    del f


def test_symbolic_density_matches_exact_numeric_integration_at_random_parameters():
    rng = np.random.default_rng(9)
    net = ReLUNetwork([np.round(rng.normal(size=(5, 2)) * 4) / 4, np.round(rng.normal(size=(1, 5)) * 4) / 4],
                      [np.round(rng.normal(size=5) * 4) / 4, np.zeros(1)])
    s, t, z0, z1 = sympy.symbols("s t z0 z1")
    density = SymbolicDensity(s * z0 ** 2 + t ** 2 * z0 * z1 ** 3 + s * t + 2, [z0, z1], ([0, F(-1, 2)], [1, 1]))
    expr = integrate_density(net, density)
    for _ in range(3):
        vs, vt = (F(int(rng.integers(-20, 21)), int(rng.integers(1, 9))) for _ in range(2))
        measure = density.substitute({"s": vs, "t": vt})
        numeric = polyattr.attribute(net, [F(1, 2), F(1, 2)], "measure", measures=[measure, measure],
                                     domain=([0, F(-1, 2)], [1, 1]), exact=True).values[0]
        value = expr.subs({s: sympy.Rational(vs.numerator, vs.denominator), t: sympy.Rational(vt.numerator, vt.denominator)})
        assert F(int(value.p), int(value.q)) == numeric


def test_general_polynomial_density_float_matches_exact():
    net = one_neuron()
    poly = {(2, 0): F(3), (1, 3): F(-1, 2), (0, 0): F(1, 4)}
    exact = polyattr.attribute(net, [0.5, 0.5], "measure", measures=[PolynomialDensity(polyattr.Box([0, 0], [1, 1], exact=True), poly)] * 2,
                               exact=True)
    flt = polyattr.attribute(net, [0.5, 0.5], "measure", measures=[PolynomialDensity(polyattr.Box([0, 0], [1, 1]), poly)] * 2)
    assert abs(flt.values[0] - float(exact.values[0])) <= flt.error_bound + 1e-15


def test_symbolic_density_bad_inputs():
    z0, z1, a = sympy.symbols("z0 z1 a")
    with pytest.raises(PolyattrError, match="polynomial"):
        SymbolicDensity(sympy.sin(z0), [z0, z1], ([0, 0], [1, 1]))
    with pytest.raises(PolyattrError, match="variables"):
        SymbolicDensity(z0, [z0], ([0, 0], [1, 1]))
    with pytest.raises(PolyattrError, match="exact"):
        SymbolicDensity(0.5 * z0, [z0, z1], ([0, 0], [1, 1]))
    with pytest.raises(PolyattrError, match="missing"):
        SymbolicDensity(a * z0, [z0, z1], ([0, 0], [1, 1])).substitute({})
