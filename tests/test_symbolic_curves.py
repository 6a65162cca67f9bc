"""polyattr.symbolic.curve: exact piecewise closed forms checked against hand-derived closed forms on
small networks, against exact single evaluations at random rationals (fresh points, not the
interpolation nodes), and for the CLI contract."""

import json
from fractions import Fraction as F

import numpy as np
import pytest
import sympy

import polyattr
from polyattr import Box, PolyattrError, ReLUNetwork, save_model
from polyattr.cli import main
from polyattr.measures.core import Dirac, Uniform
from polyattr.symbolic import curve
from polyattr.symbolic.exact import roots_in, same


def dyadic_network(sizes, seed):
    rng = np.random.default_rng(seed)
    Ws = [np.round(rng.normal(0, 1, (o, i)) * 4) / 4 for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [np.round(rng.normal(0, 0.5, o) * 4) / 4 for o in sizes[1:]]
    return ReLUNetwork(Ws, bs)


# a single ReLU: f(z) = relu(z0 + z1 - 1) and f(z) = relu(z0 - 1/2)
SUM_RELU = ReLUNetwork([np.array([[1.0, 1.0]]), np.array([[1.0]])], [np.array([-1.0]), np.array([0.0])])
HALF_RELU = ReLUNetwork([np.array([[1.0, 0.0]]), np.array([[1.0]])], [np.array([-0.5]), np.array([0.0])])


def piece_at(c, t):
    for p in c.pieces:
        if float(p.interval[0]) < t < float(p.interval[1]):
            return p
    raise AssertionError(t)


def test_ig_in_x_is_the_hand_derived_rational_function():
    # IG_i = x_i (1 - 1/(x0 + x1)) when x0 + x1 > 1 (the path is active on its last fraction), else 0
    c = curve(SUM_RELU, [F(1, 2), F(7, 10)], "ig", vary=0, over=(0, 1))
    t = c.symbol
    assert [str(b) for b in c.breakpoints] == ["3/10"]
    assert piece_at(c, 0.1).values == (0, 0)
    expected = (t * (1 - 1 / (t + sympy.Rational(7, 10))), sympy.Rational(7, 10) * (1 - 1 / (t + sympy.Rational(7, 10))))
    for got, want in zip(piece_at(c, 0.5).values, expected):
        assert sympy.simplify(got - want) == 0


def test_smoothgrad_in_radius_is_the_hand_derived_closed_form():
    # x0 = 3/10, f = relu(z0 - 1/2): the gradient is (1, 0) on z0 > 1/2, a fraction (r - 1/5) / (2r) of the box
    c = curve(HALF_RELU, [F(3, 10), F(1, 2)], "smoothgrad_uniform", vary="radius", over=(F(1, 20), 1))
    r = c.symbol
    assert [str(b) for b in c.breakpoints] == ["1/5"]
    assert sympy.simplify(piece_at(c, 0.5).values[0] - (r - sympy.Rational(1, 5)) / (2 * r)) == 0
    assert piece_at(c, 0.1).values == (0, 0)


def test_pdp_and_moving_measure_closed_forms():
    c = curve(HALF_RELU, [F(3, 10), F(1, 2)], "pdp", vary=0, over=(0, 1))
    t = c.symbol
    assert [str(b) for b in c.breakpoints] == ["1/2"]
    assert sympy.simplify(piece_at(c, 0.7).values[0] - (t - sympy.Rational(1, 2))) == 0
    # a family whose support depends on s: uniform on [0, s] x [0, 1]; integral of relu(z0 - 1/2) is
    # (s - 1/2)^2 / (2 s) for s > 1/2
    fam = lambda s: [Uniform(Box([0, 0], [s, 1], exact=True)), Dirac([s, F(1, 2)], exact=True)]
    m = curve(HALF_RELU, [F(1, 2), F(1, 2)], "measure", vary="s", over=(F(1, 10), 1), measures=fam)
    s = m.symbol
    assert [str(b) for b in m.breakpoints] == ["1/2"]
    hi = piece_at(m, 0.8).values
    assert sympy.simplify(hi[0] - (s - sympy.Rational(1, 2)) ** 2 / (2 * s)) == 0
    assert sympy.simplify(hi[1] - (s - sympy.Rational(1, 2))) == 0


@pytest.mark.parametrize("method,vary,over,options", [
    ("gradient", 0, (0, 1), {}),
    ("gradient_x_input", 1, (0, 1), {}),
    ("ig", 1, (0, 1), {}),
    ("ig", "baseline_0", (0, 1), {"baseline": [0, F(1, 5)]}),
    ("occlusion", 0, (0, 1), {}),
    ("shapley", "baseline_1", (0, 1), {"baseline": [F(1, 10), 0]}),
    ("shapley_uniform", 0, (0, 1), {}),
    ("pdp", 1, (0, 1), {}),
    ("ice", 0, (0, 1), {}),
    ("smoothgrad_uniform", "radius", (F(1, 20), F(1, 2)), {}),
    ("smoothgrad_uniform", 0, (0, 1), {"radius": F(1, 5)}),
    ("lime_uniform", "radius", (F(1, 20), F(1, 2)), {}),
])
def test_curve_matches_exact_attribution_at_random_rationals(method, vary, over, options):
    net = dyadic_network([2, 5, 3, 1], seed=4)
    x = [F(3, 10), F(7, 10)]
    c = curve(net, x, method, vary=vary, over=over, **options)
    rng = np.random.default_rng(1)
    a, b = (F(v) for v in over)
    for _ in range(4):
        t = a + (b - a) * F(int(rng.integers(1, 997)), 997)
        z, opts = list(x), dict(options)
        if isinstance(vary, int):
            z[vary] = t
        elif vary == "radius":
            opts["radius"] = t
        else:
            base = list(opts.get("baseline", [0, 0]))
            base[int(vary[-1])] = t
            opts["baseline"] = base
        ref = polyattr.attribute(net, z, method, exact=True, **opts)
        assert list(c(t)) == list(ref.values), (method, t)
    # at a breakpoint the curve defers to the method itself
    for bp in c.breakpoints[:2]:
        assert len(c(bp)) == 2


def test_curve_result_api():
    c = curve(HALF_RELU, [F(3, 10), F(1, 2)], "pdp", vary=0, over=(0, 1))
    assert len(c.expr) == 2 and isinstance(c.expr[0], sympy.Piecewise)
    assert r"\phi_{0}" in c.latex()
    d = c.to_dict()
    assert d["breakpoints"] == ["1/2"] and d["pieces"][0]["interval"] == ["0", "1/2"]
    with pytest.raises(PolyattrError, match="outside"):
        c(F(3, 2))


def test_curve_repr_is_one_line_summary():
    # printing a curve must not dump every piece's exact coefficients
    c = curve(HALF_RELU, [F(3, 10), F(1, 2)], "pdp", vary=0, over=(0, 1))
    text = repr(c)
    assert "\n" not in text and "CurvePiece" not in text
    assert f"{len(c.pieces)} pieces" in text and "pdp" in text


def test_bad_inputs_raise():
    x = [F(1, 2), F(1, 2)]
    with pytest.raises(PolyattrError, match="vary"):
        curve(HALF_RELU, x, "pdp", vary=5, over=(0, 1))
    with pytest.raises(PolyattrError, match="over"):
        curve(HALF_RELU, x, "pdp", vary=0, over=(1, 0))
    with pytest.raises(PolyattrError, match="numeric option"):
        curve(HALF_RELU, x, "pdp", vary="radius", over=(0, 1))
    with pytest.raises(PolyattrError, match="method"):
        curve(HALF_RELU, x, "deeplift", vary=0, over=(0, 1))
    with pytest.raises(PolyattrError, match="domain"):
        curve(HALF_RELU, x, "pdp", vary=0, over=(0, 2))
    with pytest.raises(PolyattrError, match="positive"):
        curve(HALF_RELU, x, "smoothgrad_uniform", vary="radius", over=(0, 1))


def test_a_wrong_degree_bound_cannot_pass(monkeypatch):
    # pdp of relu(z0 + z1 - 1) in x_0 is quadratic on (0, 1): force the degree bound to 1
    from polyattr.symbolic import curves

    original = curves._support_plan

    def low_degree(*args):
        events, multiplier, degree = original(*args)
        return events, multiplier, 1

    monkeypatch.setattr(curves, "_support_plan", low_degree)
    with pytest.raises(PolyattrError, match="check point"):
        curve(SUM_RELU, [F(1, 2), F(1, 2)], "pdp", vary=0, over=(F(1, 10), F(9, 10)))


def test_irrational_roots_stay_exact():
    roots = roots_in([-2, 0, 1], 0, 3)  # t^2 - 2
    assert len(roots) == 1 and same(roots[0], sympy.sqrt(2))
    assert roots_in([1, 0, 1], -5, 5) == []
    assert [str(r) for r in roots_in([F(-1, 4), 0, 1], -1, 1)] == ["-1/2", "1/2"]


def test_cli_symbolic_json_and_errors(tmp_path, capsys):
    path = tmp_path / "net.npz"
    save_model(dyadic_network([2, 4, 1], seed=2), path)
    code = main(["symbolic", str(path), "--x", "0.3,0.7", "--method", "smoothgrad_uniform", "--vary", "radius",
                 "--over", "1/20,1/2", "--json", "--plot", str(tmp_path / "c.png")])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and set(out) >= {"symbol", "breakpoints", "pieces"}
    assert out["symbol"] == "r" and all("/" in b or b.isdigit() for b in out["breakpoints"])
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    for piece in out["pieces"]:
        assert len(piece["values"]) == 2 and len(piece["interval"]) == 2
        sympy.sympify(piece["values"][0])
    code = main(["symbolic", str(path), "--x", "0.3,0.7", "--method", "pdp", "--vary", "radius", "--over", "0,1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("polyattr: error:") and err.count("\n") == 1
