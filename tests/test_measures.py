"""Measures: algebra, total masses, and integrals of ReLU networks against independent references.

Integrals go through ``attribute(..., method="measure", measures=[...])`` (the user-facing route);
the references are plain evaluations, sympy, dense midpoint quadrature and scipy.quad -- never
polyattr's own region machinery.
"""

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad
from scipy.stats import truncnorm

from polyattr import AffineSlice, Box, PolyattrError, ReLUNetwork, Segment, attribute, random_network
from polyattr.attribution.approximate import network_function
from polyattr.measures.core import (Dirac, Discrete, Empirical, Lebesgue, Measure, ProductDensity,
                                    TruncatedGaussian, Uniform)

pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")


def integral(net, mu, d=None, **kw):
    """integral of f d(mu) through the public API (feature 0 of a family that repeats mu)."""
    d = d or net.n_inputs
    result = attribute(net, np.full(d, 0.5) if "domain" not in kw else _inside(kw["domain"]), "measure",
                       measures=[mu] * d, **kw)
    return float(result.values[0]), result


def _inside(domain):
    lo, hi = domain
    return (np.asarray(lo, float) + np.asarray(hi, float)) / 2


def midpoint_grid(lo, hi, n):
    """Cell midpoints of an n^d grid on [lo, hi] and the cell volume."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    axes = [lo[i] + (hi[i] - lo[i]) * (np.arange(n) + 0.5) / n for i in range(lo.size)]
    Z = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, lo.size)
    return Z, float(np.prod((hi - lo) / n))


@pytest.fixture(scope="module")
def net2():
    return random_network([2, 16, 16, 1], rng=np.random.default_rng(31))


# ------------------------------------------------------------------------------------ algebra
def test_total_masses_of_the_constructors_and_combinations():
    box = Box([0, -1], [2, 1])
    assert Dirac([0.1, 0.2]).total_mass == 1.0
    assert Discrete([[0, 0], [1, 1], [0.5, 0.5]], [2.0, -0.5, 0.25]).total_mass == pytest.approx(1.75)
    assert Empirical(np.zeros((7, 2))).total_mass == pytest.approx(1.0)
    assert Uniform(box).total_mass == 1.0
    assert Uniform(box, mass=3.5).total_mass == 3.5
    assert Lebesgue(box).total_mass == pytest.approx(4.0)
    assert Lebesgue(AffineSlice(box, {0: 1.0})).total_mass == pytest.approx(2.0)  # the slice's length
    assert Lebesgue(Segment([0, 0], [2, 0])).total_mass == 1.0  # segments measure t in [0, 1]
    mu = 2 * Dirac([0.1, 0.2]) - Uniform(box, mass=3) + 0.5 * Lebesgue(box)
    assert mu.total_mass == pytest.approx(2 - 3 + 2)
    assert (-mu).total_mass == pytest.approx(-1)
    assert (mu - mu).total_mass == pytest.approx(0)
    assert (mu * 3).total_mass == pytest.approx(3)
    exact = Fraction(1, 3) * Dirac([Fraction(1, 2), 0], exact=True) - Dirac([0, 0], exact=True)
    assert exact.total_mass == Fraction(-2, 3) and isinstance(exact.total_mass, Fraction)
    assert Dirac([0.1, 0.2]).ambient_dim == 2


def test_integrals_are_linear_in_the_measure(net2, exact_radii):
    f = network_function(net2)
    box = Box([0, 0], [1, 1])
    p, q = np.array([0.2, 0.7]), np.array([0.9, 0.1])
    # independent references: evaluations and a dense midpoint rule (error ~ 3e-7 on this 2-16-16 net)
    Z, cell = midpoint_grid([0, 0], [1, 1], 500)
    mean_box = float(f(Z).sum() * cell)
    seg = Segment([0.0, 0.3], [1.0, 0.8])
    mean_seg = quad(lambda t: f((seg.start + t * (seg.end - seg.start))[None, :])[0], 0, 1, limit=400,
                    epsabs=1e-12)[0]
    refs = {
        "dirac": (Dirac(p), f(p[None, :])[0]),
        "discrete": (Discrete([p, q], [0.3, -1.2]), 0.3 * f(p[None, :])[0] - 1.2 * f(q[None, :])[0]),
        "uniform": (Uniform(box), mean_box),
        "lebesgue": (Lebesgue(box), mean_box),
        "segment": (Uniform(seg, mass=2.0), 2 * mean_seg),
    }
    for name, (mu, ref) in refs.items():
        value, res = integral(net2, mu)
        assert abs(value - ref) < 2e-6, name
    combo = 2.5 * refs["dirac"][0] - refs["uniform"][0] + (-refs["segment"][0]) * 0.5 + refs["discrete"][0]
    expected = 2.5 * refs["dirac"][1] - refs["uniform"][1] - 0.5 * refs["segment"][1] + refs["discrete"][1]
    value, res = integral(net2, combo)
    assert abs(value - expected) < 5e-6
    assert res.error_bound < 1e-9


def test_measure_input_validation():
    with pytest.raises(PolyattrError):
        Dirac([0.1, float("nan")])
    with pytest.raises(PolyattrError):
        Discrete([[0, 0], [1, 1]], [1.0])  # one weight for two points
    with pytest.raises(PolyattrError):
        Discrete([[0, 0]], [float("inf")])
    with pytest.raises(PolyattrError):
        Uniform(Box([0, 0], [1, 1]), mass=float("nan"))
    with pytest.raises(PolyattrError):
        Measure([(float("nan"), Dirac([0, 0]).terms[0][1])])
    with pytest.raises(PolyattrError):
        Measure([(1.0, "not a piece")])
    with pytest.raises(PolyattrError):
        ProductDensity(Box([0, 0], [1, 1]), {0: ("gaussian", 1)})
    with pytest.raises(PolyattrError):
        ProductDensity(Box([0, 0], [1, 1]), {5: ("uniform",)})
    with pytest.raises(PolyattrError):
        TruncatedGaussian([0.5, 0.5], [0.1, -0.1], Box([0, 0], [1, 1]))
    with pytest.raises(TypeError):
        Dirac([0, 0]) * Dirac([0, 0])


# -------------------------------------------------------------------- polynomial product densities
def sympy_product_integral(w, b, lo, hi, factors):
    """integral of (w.z + b) prod_i rho_i(z_i) dz over the box, rho_i a polynomial (Lebesgue) or 1/length."""
    z = sp.symbols(f"z0:{len(w)}")
    expr = sum(sp.Rational(wi) * zi for wi, zi in zip(w, z)) + sp.Rational(b)
    for i, zi in enumerate(z):
        kind = factors.get(i, ("uniform",))
        if kind[0] == "polynomial":
            expr *= sum(sp.Rational(c) * zi**k for k, c in enumerate(kind[1]))
        else:
            expr /= sp.Rational(hi[i]) - sp.Rational(lo[i])
    for i, zi in enumerate(z):
        expr = sp.integrate(expr, (zi, sp.Rational(lo[i]), sp.Rational(hi[i])))
    return sp.Rational(expr)


def affine_network(w, b):
    d = len(w)
    eye = np.eye(d)
    return ReLUNetwork([np.vstack([eye, -eye]), [list(w) + [-v for v in w]]], [np.zeros(2 * d), [b]])


def test_product_density_polynomials_against_sympy_on_the_unit_cube():
    w, b = [Fraction(3, 2), Fraction(-1, 4), Fraction(2)], Fraction(1, 3)
    lo, hi = [0, 0, 0], [1, 1, 1]
    factors = {0: ("polynomial", [1, Fraction(1, 2), 3]), 2: ("polynomial", [0, 2])}
    mu = ProductDensity(Box(lo, hi), factors)
    net = affine_network([float(v) for v in w], float(b))
    value, _ = integral(net, mu)
    expected = sympy_product_integral(w, b, lo, hi, factors)
    assert abs(value - float(expected)) < 1e-12
    total = sympy_product_integral([0, 0, 0], 1, lo, hi, factors)
    assert abs(float(mu.total_mass) - float(total)) < 1e-12


def test_product_density_on_a_relu_network_against_dense_quadrature(net2):
    f = network_function(net2)
    factors = {0: ("polynomial", [0, 0, 3]), 1: ("polynomial", [2, -1])}
    mu = ProductDensity(Box([0, 0], [1, 1]), factors)
    value, res = integral(net2, mu)
    Z, cell = midpoint_grid([0, 0], [1, 1], 600)
    rho = 3 * Z[:, 0] ** 2 * (2 - Z[:, 1])
    assert abs(value - float((f(Z) * rho).sum() * cell)) < 1e-5
    # a polynomial factor beside a Dirac factor: a density on the slice z0 = 0.3
    slice_mu = ProductDensity(Box([0, 0], [1, 1]), {0: ("dirac", 0.3), 1: ("polynomial", [0, 2])})
    value, _ = integral(net2, slice_mu)
    ref = quad(lambda t: f(np.array([[0.3, t]]))[0] * 2 * t, 0, 1, limit=400, epsabs=1e-13)[0]
    assert abs(value - ref) < 1e-8  # quad without the kinks as break points: ~1e-9


def test_product_density_uniform_factor_on_a_non_unit_side():
    """("uniform",) is the uniform *probability* on its side (ProductDensity's docstring).

    On the unit cube probability and Lebesgue coincide; on a side of length 2 they do not.
    """
    lo, hi = [0, 0], [1, 2]
    factors = {0: ("polynomial", [1, 1])}  # density 1 + z0 on [0, 1]; z1 uniform on [0, 2]
    mu = ProductDensity(Box(lo, hi), factors)
    assert abs(float(mu.total_mass) - float(sympy_product_integral([0, 0], 1, lo, hi, factors))) < 1e-12


# ------------------------------------------------------------------------ truncated Gaussian
def test_truncated_gaussian_error_bound_covers_the_truth(net2):
    f = network_function(net2)
    mean, std = np.array([0.4, 0.6]), np.array([0.2, 0.3])
    lo, hi = np.zeros(2), np.ones(2)
    Z, cell = midpoint_grid(lo, hi, 400)
    a, b = (lo - mean) / std, (hi - mean) / std
    density = truncnorm.pdf(Z[:, 0], a[0], b[0], loc=mean[0], scale=std[0]) * truncnorm.pdf(
        Z[:, 1], a[1], b[1], loc=mean[1], scale=std[1])
    truth = float((f(Z) * density).sum() * cell)
    for seed in range(5):
        mu = TruncatedGaussian(mean, std, Box(lo, hi), n_samples=20_000, rng=seed)
        value, res = integral(net2, mu)
        assert not res.exact and res.error_bound > 0
        assert abs(value - truth) <= res.error_bound, (seed, value, truth, res.error_bound)
        assert res.error_bound < 0.05  # and the bound is not vacuous


def test_empirical_measure_is_the_sample_mean(net2):
    rng = np.random.default_rng(3)
    sample = rng.random((500, 2))
    value, res = integral(net2, Empirical(sample))
    assert abs(value - network_function(net2)(sample).mean()) < 1e-12
    assert res.error_bound > 0  # a sampling error is reported for an empirical law


# ------------------------------------------------------------------------ user measure families
def test_user_measure_families_list_and_callable(net2):
    f = network_function(net2)
    x = np.array([0.25, 0.8])
    box = Box([0, 0], [1, 1])

    def family(x, j):  # a "centred ICE" written by a user: delta_x minus uniform on the line along e_j
        start, end = np.array(x, float), np.array(x, float)
        start[j], end[j] = 0.0, 1.0
        return Dirac(x) - Uniform(Segment(start, end))

    by_callable = attribute(net2, x, "measure", measures=family)
    by_list = attribute(net2, x, "measure", measures=[family(x, j) for j in range(2)])
    np.testing.assert_allclose(by_callable.values, by_list.values, atol=1e-15)
    for j in range(2):
        def along(t, j=j):
            z = x.copy()
            z[j] = t
            return f(z[None, :])[0]
        ref = f(x[None, :])[0] - quad(along, 0, 1, limit=400, epsabs=1e-13)[0]
        assert abs(by_list.values[j] - ref) < 1e-8  # quad without the kinks as break points: ~1e-9
    # the same family is the built-in ice
    np.testing.assert_allclose(attribute(net2, x, "ice").values, by_list.values, atol=1e-13)
    # a family in exact arithmetic: point masses only
    exact = attribute(net2, ["1/4", "4/5"], "measure", exact=True,
                      measures=lambda x, j: Dirac(x, exact=True) - Dirac([0, 0], exact=True))
    assert exact.exact and all(isinstance(v, Fraction) for v in exact.values)
    assert abs(float(exact.values[0]) - (f(x[None, :])[0] - f(np.zeros((1, 2)))[0])) < 1e-12
    with pytest.raises(PolyattrError, match="measures"):
        attribute(net2, x, "measure", measures=[Dirac(x)] * 3)
    with pytest.raises(PolyattrError):
        attribute(net2, x, "measure", measures=lambda x, j: "nope")


# ------------------------------------------------- measures on the authors' Riemann-Stieltjes grid
def test_measures_on_the_riemann_stieltjes_grid(net2):
    """Any product measure converts to a distribution function; the grid converges to the exact integral."""
    from polyattr.attribution.approximate import distribution_functions, riemann_stieltjes_grid
    from polyattr.attribution.measure_methods import fafp_global_measures, pdp_measures

    box = Box([0, 0], [1, 1])
    x = np.array([0.35, 0.65])
    family = [
        Dirac(x) - Dirac([0.0, 0.65]),
        Uniform(Segment([0.9, 0.2], [0.1, 0.2]), mass=1.5),  # a segment running backwards
        ProductDensity(box, {0: ("polynomial", [0, 2]), 1: ("polynomial", [1, 0, 3])}) - 0.5 * Uniform(box),
        *pdp_measures(x, box),
        *fafp_global_measures(box),
    ]
    exact = [integral(net2, mu)[0] for mu in family]
    errors = [np.abs(riemann_stieltjes_grid(net2, family, N).values - exact) for N in (20, 200)]
    assert np.all(errors[1] < 0.05) and np.max(errors[1]) < np.max(errors[0]) / 4
    # the converted measures agree with the distribution functions written from the definitions
    from_measures = riemann_stieltjes_grid(net2, pdp_measures(x, box), 100).values
    from_definitions = riemann_stieltjes_grid(net2, {"method": "pdp", "x": x}, 100).values
    np.testing.assert_allclose(from_measures, from_definitions, atol=1e-12)
    assert distribution_functions("fafp_global", d=2)[0](np.array([[1.0, 1.0]]))[0] == 2.0  # total mass 2
