"""PolynomialModel: closed forms against the region engine on a ReLU network that is affine on the
domain (two independent implementations), against hand-derived values, and its measure integrals."""

from fractions import Fraction as F

import numpy as np
import pytest
import sympy

import polyattr
from polyattr import PolyattrError, ReLUNetwork
from polyattr.attribution.measure_methods import ice_measures, pdp_measures, shapley_uniform_measures
from polyattr.geometry.domains import Box
from polyattr.symbolic import PolynomialModel

z0, z1, z2 = sympy.symbols("z0 z1 z2")


def q(v):
    return F(int(v.p), int(v.q))


@pytest.mark.parametrize("method,options", [
    ("gradient", {}), ("gradient_x_input", {}), ("ig", {"baseline": [F(1, 5), F(9, 10), 0]}),
    ("occlusion", {"baseline": [F(1, 5), F(9, 10), 0]}), ("shapley", {"baseline": [F(1, 5), F(9, 10), 0]}),
    ("shapley_uniform", {}), ("pdp", {}), ("ice", {}), ("fafp_local", {}), ("fafp_global", {}),
    ("smoothgrad_uniform", {"radius": F(1, 4)}), ("lime_uniform", {"radius": F(1, 4)}),
])
def test_affine_polynomial_matches_the_region_engine(method, options):
    # relu(z0 - 2 z1 + 3 z2 + 3) is affine (all active) on [-1/2, 3/2]^3; the second unit adds 1/2
    net = ReLUNetwork([np.array([[1.0, -2.0, 3.0], [0.0, 0.0, 0.0]]), np.array([[1.0, 1.0]])],
                      [np.array([3.0, 0.5]), np.array([0.0])])
    poly = PolynomialModel(z0 - 2 * z1 + 3 * z2 + 3 + sympy.Rational(1, 2), [z0, z1, z2])
    x = [F(1, 3), F(1, 2), F(3, 4)]
    domain = ([0, 0, 0], [1, 1, 1])
    ref = polyattr.attribute(net, x, method, domain=domain, exact=True, **options)
    got = poly.attribute(x, method, domain=domain, **options)
    assert [q(v) for v in got] == list(ref.values)


def test_hand_derived_closed_forms_with_symbols():
    a, b = sympy.symbols("a b")
    m = PolynomialModel(z0 ** 2 * z1, [z0, z1])
    assert m.attribute([a, b], "pdp") == [a ** 2 / 2, b / 3]
    assert m.attribute([a, b], "ig") == [2 * a ** 2 * b / 3, a ** 2 * b / 3]
    assert m.attribute([a, b], "shapley") == [a ** 2 * b / 2, a ** 2 * b / 2]
    r = sympy.Symbol("r", positive=True)
    sg = m.attribute([a, b], "smoothgrad_uniform", radius=r)  # E[2 z0 z1] and E[z0^2] on the box x +/- r
    assert sympy.simplify(sg[0] - 2 * a * b) == 0 and sympy.simplify(sg[1] - (a ** 2 + r ** 2 / 3)) == 0
    # completeness of IG and Shapley with a symbolic baseline
    c, e = sympy.symbols("c e")
    for method in ("ig", "shapley"):
        phi = m.attribute([a, b], method, baseline=[c, e])
        assert sympy.simplify(sum(phi) - (a ** 2 * b - c ** 2 * e)) == 0


def test_measure_integrals_match_the_methods():
    m = PolynomialModel(z0 ** 2 * z1 + 3 * z1 * z2 - z0 + 1, [z0, z1, z2])
    x = [F(1, 3), F(2, 5), F(3, 7)]
    box = Box([0, 0, 0], [1, 1, 1], exact=True)
    for family, method in ((pdp_measures(np.array(x, dtype=object), box), "pdp"),
                           (ice_measures(np.array(x, dtype=object), box), "ice"),
                           (shapley_uniform_measures(np.array(x, dtype=object), box), "shapley_uniform")):
        assert m.attribute(x, "measure", measures=family) == m.attribute(x, method)


def test_polynomial_model_bad_inputs():
    with pytest.raises(PolyattrError, match="polynomial"):
        PolynomialModel(sympy.exp(z0), [z0])
    m = PolynomialModel(z0 * z1, [z0, z1])
    with pytest.raises(PolyattrError, match="method"):
        m.attribute([0, 0], "deeplift")
    with pytest.raises(PolyattrError, match="x"):
        m.attribute([0], "pdp")
    with pytest.raises(PolyattrError, match="options"):
        m.attribute([0, 0], "pdp", epsilon=1)
