"""The measure methods (THEORY.md §3.3) against independent references.

References used here never go through polyattr's region enumeration or measure moments:
brute-force Shapley over all d! orderings, closed forms on affine models, Monte Carlo (5 sigma),
dense one-dimensional quadrature (scipy.quad with the kinks as break points), and the authors'
Riemann-Stieltjes grid (:mod:`polyattr.attribution.approximate`, which only evaluates the model).
"""

from fractions import Fraction
from itertools import permutations

import numpy as np
import pytest
from scipy.integrate import quad

from polyattr import Box, PolyattrError, ReLUNetwork, attribute, random_network
from polyattr.attribution.approximate import network_function, riemann_stieltjes_grid, sampled_attribution
from polyattr.attribution.measure_methods import ice_curve
from polyattr.measures.core import Dirac

pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

MEASURE_METHODS = ["occlusion", "shapley", "shapley_uniform", "pdp", "ice", "fafp_local", "fafp_global"]


# ----------------------------------------------------------------------------------- helpers
def affine_network(w, b, exact=False):
    """f(z) = w.z + b written as a ReLU network: relu(z) - relu(-z) = z (kinks on z_i = 0, f still affine)."""
    w = list(w)
    d = len(w)
    eye = [[int(i == j) for j in range(d)] for i in range(d)]
    W0 = eye + [[-v for v in row] for row in eye]
    W1 = [w + [-v for v in w]]
    return ReLUNetwork([W0, W1], [[0] * (2 * d), [b]], exact=exact)


def exact_forward(net, z):
    """A Fraction forward pass written here (ReLU on every layer but the last)."""
    h = [Fraction(v) for v in z]
    for li, (W, b) in enumerate(zip(net.weights, net.biases)):
        pre = [sum((Fraction(W[r][c]) * h[c] for c in range(len(h))), Fraction(b[r])) for r in range(len(b))]
        h = pre if li == len(net.weights) - 1 else [max(v, Fraction(0)) for v in pre]
    return h[0]


def brute_force_shapley(f, x, baseline):
    """Baseline Shapley by averaging marginal contributions over all d! orderings."""
    d = len(x)
    phi = [0] * d
    count = 0
    for order in permutations(range(d)):
        z = list(baseline)
        prev = f(z)
        for i in order:
            z[i] = x[i]
            cur = f(z)
            phi[i] += cur - prev
            prev = cur
        count += 1
    return [p / count for p in phi]


def affine_closed_forms(w, b, x, baseline, lo, hi):
    """Every measure method's value on f = w.z + b over the box [lo, hi] (THEORY.md §3.3)."""
    w, x, xb, lo, hi = map(lambda a: np.asarray(a, float), (w, x, baseline, lo, hi))
    mid = (lo + hi) / 2
    L = hi - lo
    return {
        "occlusion": w * (x - xb),
        "shapley": w * (x - xb),
        "shapley_uniform": w * (x - mid),
        "pdp": w * x + (w @ mid - w * mid) + b,
        "ice": w * (x - mid),
        "fafp_local": w * x + (w @ lo - w * lo) + b,
        # 2 x Lebesgue on {lo + t e_j}: 2 L_j (w.lo + b) + 2 w_j L_j^2 / 2
        "fafp_global": 2 * L * (w @ lo + b) + w * L**2,
    }


# ------------------------------------------------------------------------- baseline Shapley
@pytest.mark.parametrize("d", [2, 3, 4, 5])
def test_shapley_matches_brute_force_over_all_orderings(d):
    rng = np.random.default_rng(100 + d)
    net = random_network([d, 16, 16, 1], rng=rng)
    x, xb = rng.uniform(size=d), rng.uniform(size=d)
    f = network_function(net)
    reference = brute_force_shapley(lambda z: float(f(np.array(z)[None, :])[0]), x, xb)
    result = attribute(net, x, "shapley", baseline=xb)
    np.testing.assert_allclose(result.values, reference, atol=1e-12, rtol=0)
    assert result.error_bound < 1e-9
    # completeness to 1e-12
    assert abs(result.values.sum() - (f(x[None, :])[0] - f(xb[None, :])[0])) < 1e-12


def test_shapley_exact_matches_brute_force_in_rationals():
    rng = np.random.default_rng(7)
    net = random_network([3, 8, 8, 1], rng=rng)
    x = [Fraction(1, 3), Fraction(5, 7), Fraction(1, 2)]
    xb = [Fraction(0), Fraction(1, 10), Fraction(9, 10)]
    reference = brute_force_shapley(lambda z: exact_forward(net, z), x, xb)
    result = attribute(net, x, "shapley", baseline=xb, exact=True)
    assert result.exact and all(isinstance(v, Fraction) for v in result.values)
    assert list(result.values) == reference
    assert sum(result.values) == exact_forward(net, x) - exact_forward(net, xb)  # completeness, exactly
    # the float method agrees with the exact one
    flt = attribute(net, [float(v) for v in x], "shapley", baseline=[float(v) for v in xb])
    np.testing.assert_allclose(flt.values, [float(v) for v in reference], atol=1e-12)


# ----------------------------------------------------------------- closed forms on affine models
@pytest.mark.parametrize("method", MEASURE_METHODS)
def test_affine_model_closed_forms(method, exact_radii):
    rng = np.random.default_rng(3)
    for d, (lo, hi) in [(2, ([0, 0], [1, 1])), (3, ([-1, 0, 0.5], [1, 2, 1.5]))]:
        w = rng.normal(size=d).round(3)
        b = 0.25
        net = affine_network(w, b)
        x = lo + (np.array(hi) - lo) * rng.uniform(size=d)
        xb = lo + (np.array(hi) - lo) * rng.uniform(size=d)
        expected = affine_closed_forms(w, b, x, xb, lo, hi)[method]
        result = attribute(net, x, method, baseline=xb, domain=(lo, hi))
        np.testing.assert_allclose(result.values, expected, atol=1e-11, rtol=0)
        assert not result.exact and result.error_bound < 1e-9


def test_affine_point_methods_exact_rationals():
    w, b = [Fraction(3, 2), Fraction(-7, 5)], Fraction(1, 4)
    net = affine_network(w, b, exact=True)
    x, xb = [Fraction(1, 3), Fraction(2, 3)], [Fraction(1, 10), Fraction(0)]
    forms = {
        "occlusion": [w[j] * (x[j] - xb[j]) for j in range(2)],
        "shapley": [w[j] * (x[j] - xb[j]) for j in range(2)],
        "fafp_local": [w[j] * x[j] + b for j in range(2)],
    }
    for method, expected in forms.items():
        result = attribute(net, x, method, baseline=xb, exact=True)
        assert result.exact and list(result.values) == expected, method


@pytest.mark.parametrize("method", ["pdp", "shapley_uniform", "ice", "fafp_global"])
def test_affine_density_methods_exact_rationals(method):
    """The methods with densities (slices, segments, the box) in exact arithmetic, on a non-unit box."""
    w, b = [Fraction(3, 2), Fraction(-7, 5), Fraction(1, 3)], Fraction(1, 4)
    lo, hi = [Fraction(-1), Fraction(0), Fraction(1, 2)], [Fraction(1), Fraction(2), Fraction(3, 2)]
    x = [Fraction(1, 3), Fraction(2, 3), Fraction(5, 4)]
    mid = [(a + c) / 2 for a, c in zip(lo, hi)]
    wmid = sum(wi * m for wi, m in zip(w, mid))
    wlo = sum(wi * a for wi, a in zip(w, lo))
    expected = {
        "pdp": [w[j] * x[j] + wmid - w[j] * mid[j] + b for j in range(3)],
        "shapley_uniform": [w[j] * (x[j] - mid[j]) for j in range(3)],
        "ice": [w[j] * (x[j] - mid[j]) for j in range(3)],
        "fafp_global": [2 * (hi[j] - lo[j]) * (wlo + b) + w[j] * (hi[j] - lo[j]) ** 2 for j in range(3)],
    }[method]
    result = attribute(affine_network(w, b, exact=True), x, method, domain=(lo, hi), exact=True)
    assert result.exact and list(result.values) == expected


# -------------------------------------------------------------- the authors' notebook examples
def test_notebook_fafp_local_example():
    """f = 2 z1 - 1.7 z2 at x = (0.5, 0.1): fafp_local = (1.0, -0.17)."""
    net = affine_network([2, -1.7], 0)
    result = attribute(net, [0.5, 0.1], "fafp_local")
    np.testing.assert_allclose(result.values, [1.0, -0.17], atol=1e-15)
    exact = attribute(affine_network([2, Fraction(-17, 10)], 0, exact=True), ["1/2", "1/10"], "fafp_local", exact=True)
    assert list(exact.values) == [Fraction(1), Fraction(-17, 100)]


def test_notebook_fafp_global_example():
    """f = z1 + z2: fafp_global = (1, 1); an intercept b adds 2b (total mass 2)."""
    result = attribute(affine_network([1, 1], 0), [0.3, 0.8], "fafp_global")
    np.testing.assert_allclose(result.values, [1.0, 1.0], atol=1e-14)
    shifted = attribute(affine_network([1, 1], 0.5), [0.3, 0.8], "fafp_global")
    np.testing.assert_allclose(shifted.values, [2.0, 2.0], atol=1e-14)


# ---------------------------------------------------------------- Riemann-Stieltjes convergence
def test_riemann_stieltjes_grid_point_mass_bias():
    """The authors' scheme evaluates f at the lower corner: N = 1000 gives 0.998 for an exact 1.0."""
    net = affine_network([2, -1.7], 0)
    exact = attribute(net, [0.5, 0.1], "fafp_local").values
    errors = []
    for N in (10, 100, 1000):
        grid = riemann_stieltjes_grid(net, {"method": "fafp_local", "x": [0.5, 0.1]}, N)
        errors.append(np.max(np.abs(grid.values - exact)))
        if N == 1000:
            np.testing.assert_allclose(grid.values, [0.998, -0.1683], atol=1e-9)
            assert abs(grid.values[0] - exact[0]) > 1e-3  # still wrong in the third digit
    # O(1/N): each tenfold refinement divides the error by about ten
    for coarse, fine in zip(errors, errors[1:]):
        assert 8 < coarse / fine < 12


@pytest.mark.parametrize("method", MEASURE_METHODS)
def test_riemann_stieltjes_grid_converges_to_exact_value(method):
    """Errors shrink like 1/N on a 2-16-16-1 network, and at N = 1000 are still about 1e-3."""
    rng = np.random.default_rng(11)
    net = random_network([2, 16, 16, 1], rng=rng)
    x = [0.37, 0.61]
    exact = attribute(net, x, method).values
    errs = []
    for N in (10, 100, 1000):
        grid = riemann_stieltjes_grid(net, {"method": method, "x": x}, N)
        errs.append(np.max(np.abs(grid.values - exact)))
    assert errs[0] > errs[1] > errs[2]
    assert 5 < errs[1] / errs[2] < 20  # O(1/N)
    assert 1e-4 < errs[2] < 5e-3  # N = 1000: still wrong in the third digit


def test_riemann_stieltjes_grid_sign_convention_in_odd_dimension():
    """d = 3 (odd): the (-1)^(d - |eps|) corner sign recovers the affine closed form as N grows."""
    w, b = np.array([1.0, -2.0, 0.5]), 0.3
    net = affine_network(w, b)
    x = np.array([0.2, 0.7, 0.4])
    expected = affine_closed_forms(w, b, x, np.zeros(3), np.zeros(3), np.ones(3))
    for method in ("pdp", "fafp_global", "shapley_uniform"):
        grid = riemann_stieltjes_grid(net, {"method": method, "x": x}, 50)
        # error O(|w| / N); the wrong sign (-1)^|eps| would flip every value
        np.testing.assert_allclose(grid.values, expected[method], atol=0.1)
        np.testing.assert_allclose(attribute(net, x, method).values, expected[method], atol=1e-12)


# ---------------------------------------------------------------------------- Monte Carlo
@pytest.mark.parametrize("method", ["pdp", "shapley_uniform", "fafp_global"])
def test_against_monte_carlo_five_sigma(method):
    rng = np.random.default_rng(5)
    for d in (2, 3):
        net = random_network([d, 16, 16, 1], rng=rng)
        x = rng.uniform(size=d)
        exact = attribute(net, x, method)
        mc = sampled_attribution(net, x, method, n=200_000, rng=rng)
        assert mc.kind == "monte_carlo" and np.all(mc.stderr > 0)
        assert np.all(np.abs(exact.values - mc.values) <= 5 * mc.stderr + 1e-12), (method, d, exact.values, mc.values)


def test_pdp_against_plain_numpy_monte_carlo_on_a_box():
    """Independent of approximate.py too: the sample mean written here, on a non-unit box."""
    rng = np.random.default_rng(8)
    net = random_network([3, 16, 16, 1], rng=rng)
    lo, hi = np.array([-1.0, 0.0, 2.0]), np.array([1.0, 0.5, 3.0])
    x = np.array([0.2, 0.4, 2.5])
    exact = attribute(net, x, "pdp", domain=(lo, hi)).values
    n = 400_000
    W = [np.asarray(W) for W in net.weights]
    B = [np.asarray(b) for b in net.biases]
    for j in range(3):
        Z = lo + (hi - lo) * rng.random((n, 3))
        Z[:, j] = x[j]
        h = np.maximum(Z @ W[0].T + B[0], 0)
        h = np.maximum(h @ W[1].T + B[1], 0)
        vals = (h @ W[2].T + B[2])[:, 0]
        assert abs(vals.mean() - exact[j]) <= 5 * vals.std(ddof=1) / np.sqrt(n)


# ---------------------------------------------------------------------------------------- ICE
def test_ice_values_and_curves_against_dense_evaluation():
    rng = np.random.default_rng(21)
    net = random_network([2, 16, 16, 1], rng=rng)
    f = network_function(net)
    x = np.array([0.42, 0.17])
    result = attribute(net, x, "ice", curves=True)
    fx = f(x[None, :])[0]
    for j in range(2):
        def along(t, j=j):
            z = x.copy()
            z[j] = t
            return f(z[None, :])[0]

        t_break, values = result.info["curves"][j]
        assert t_break[0] == 0.0 and t_break[-1] == 1.0 and np.all(np.diff(t_break) > 0)
        # f at the breakpoints, affine in between: dense evaluation agrees with the interpolation
        np.testing.assert_allclose(values, [along(t) for t in t_break], atol=1e-12)
        dense = np.linspace(0, 1, 20001)
        Z = np.repeat(x[None, :], dense.size, axis=0)
        Z[:, j] = dense
        np.testing.assert_allclose(np.interp(dense, t_break, values), f(Z), atol=1e-10)
        # the kinks of the dense curve are breakpoints: second differences vanish away from them
        second = np.abs(np.diff(f(Z), 2))
        kinks = dense[1:-1][second > 1e-9]
        assert all(np.min(np.abs(t_break - t)) <= 1.5e-4 for t in kinks)
        mean, _ = quad(along, 0, 1, points=list(t_break[1:-1]), limit=500, epsabs=1e-13)
        assert abs(result.values[j] - (fx - mean)) < 1e-10
    # the module-level curve function agrees
    t0, v0 = ice_curve(net, x, 0, Box.unit(2))
    np.testing.assert_allclose(t0, result.info["curves"][0][0])


# ------------------------------------------------------------------ Dirac points on boundaries
def boundary_network():
    """f = relu(z1 - 1/2) - 2 relu(z2 - 3/10) + relu(z1 + z2 - 4/5) / 2 - relu(1/2 - z1): x = (1/2, 3/10) on every kink."""
    W0 = [[1, 0], [0, 1], [1, 1], [-1, 0]]
    b0 = [-0.5, -0.3, -0.8, 0.5]
    W1 = [[1, -2, 0.5, -1]]
    return ReLUNetwork([W0, W1], [b0, [0.1]])


def boundary_reference(z):
    z1, z2 = z
    r = lambda v: max(v, 0.0)  # noqa: E731
    return r(z1 - 0.5) - 2 * r(z2 - 0.3) + 0.5 * r(z1 + z2 - 0.8) - r(0.5 - z1) + 0.1


def test_dirac_points_on_region_boundaries():
    net = boundary_network()
    x = np.array([0.5, 0.3])
    # x lies on all four hyperplanes
    assert np.allclose(net.hidden_preactivations(x), 0, atol=1e-15)
    f = boundary_reference
    xb = np.array([0.0, 0.0])
    quad_kw = dict(limit=200, epsabs=1e-13)
    kinks = [0.3, 0.5]
    expected = {
        "occlusion": [f(x) - f([0.0, 0.3]), f(x) - f([0.5, 0.0])],
        "fafp_local": [f([0.5, 0.0]), f([0.0, 0.3])],
        "shapley": brute_force_shapley(f, list(x), list(xb)),
        "pdp": [quad(lambda t: f([0.5, t]), 0, 1, points=kinks, **quad_kw)[0],
                quad(lambda t: f([t, 0.3]), 0, 1, points=kinks, **quad_kw)[0]],
        "ice": [f(x) - quad(lambda t: f([t, 0.3]), 0, 1, points=kinks, **quad_kw)[0],
                f(x) - quad(lambda t: f([0.5, t]), 0, 1, points=kinks, **quad_kw)[0]],
        "fafp_global": [2 * quad(lambda t: f([t, 0.0]), 0, 1, points=[0.5, 0.8], **quad_kw)[0],
                        2 * quad(lambda t: f([0.0, t]), 0, 1, points=[0.3, 0.8], **quad_kw)[0]],
    }
    for method, ref in expected.items():
        result = attribute(net, x, method, baseline=xb)
        np.testing.assert_allclose(result.values, ref, atol=1e-10, err_msg=method)
    # the exact pipeline on the same boundary point, for the point methods
    for method in ("occlusion", "fafp_local", "shapley"):
        ex = attribute(net, ["1/2", "3/10"], method, baseline=[0, 0], exact=True)
        np.testing.assert_allclose([float(v) for v in ex.values], expected[method], atol=1e-15)
    # a point an epsilon to either side gives the same value to first order (continuity)
    for eps in (1e-9, -1e-9):
        near = attribute(net, x + eps, "pdp", baseline=xb)
        np.testing.assert_allclose(near.values, expected["pdp"], atol=1e-7)


def test_boundary_point_in_higher_dimension_against_monte_carlo():
    """A slice z1 = x1 lying inside a kink hyperplane of a 3-input network: pdp and shapley_uniform."""
    rng = np.random.default_rng(2)
    net = random_network([3, 12, 1], rng=rng)
    W0, b0 = np.array(net.weights[0]), np.array(net.biases[0])
    # move neuron 0's hyperplane to z1 = 0.4 exactly and put x on it
    W0[0] = [1.0, 0.0, 0.0]
    b0[0] = -0.4
    net = ReLUNetwork([W0, net.weights[1]], [b0, net.biases[1]])
    x = np.array([0.4, 0.55, 0.25])
    for method in ("pdp", "shapley_uniform"):
        exact = attribute(net, x, method)
        mc = sampled_attribution(net, x, method, n=200_000, rng=rng)
        assert np.all(np.abs(exact.values - mc.values) <= 5 * mc.stderr), method


# ------------------------------------------------------------------------- multi-output models
def test_output_selects_a_row_of_a_multi_output_network():
    rng = np.random.default_rng(4)
    net = random_network([2, 8, 3], rng=rng)
    x = [0.2, 0.9]
    for k in range(3):
        single = ReLUNetwork([net.weights[0], net.weights[1][k:k + 1]], [net.biases[0], net.biases[1][k:k + 1]])
        for method in ("pdp", "shapley"):
            np.testing.assert_allclose(attribute(net, x, method, output=k).values,
                                       attribute(single, x, method).values, atol=1e-13)


# -------------------------------------------------------------------------------- bad input
def test_bad_input_raises_polyattr_error():
    rng = np.random.default_rng(0)
    net = random_network([2, 8, 1], rng=rng)
    cases = [
        dict(x=[1.5, 0.2], method="pdp"),  # outside the domain
        dict(x=[0.1, 0.2], method="pdp", domain=([0.5, 0], [1, 1])),  # outside a given box
        dict(x=[0.1], method="pdp"),  # wrong length
        dict(x=[0.1, 0.2, 0.3], method="shapley"),
        dict(x=[float("nan"), 0.2], method="pdp"),
        dict(x=[0.1, float("inf")], method="occlusion"),
        dict(x=[0.1, 0.2], method="no_such_method"),
        dict(x=[0.1, 0.2], method="pdp", no_such_option=3),  # unknown option
        dict(x=[0.1, 0.2], method="occlusion", baseline=[2.0, 0.0]),  # baseline outside
        dict(x=[0.1, 0.2], method="measure"),  # no measures
        dict(x=[0.1, 0.2], method="measure", measures=[Dirac([0.1, 0.2])]),  # wrong number of measures
        dict(x=[0.1, 0.2], method="measure", measures=[Dirac([0.1, 0.2]), "not a measure"]),
        dict(x=[0.1, 0.2], method="measure", measures=lambda x, j: Dirac([0.1, 0.2, 0.3])),  # wrong dimension
        dict(x=[0.1, 0.2], method="pdp", domain=([0, 0], [0, 1])),  # degenerate box
    ]
    for case in cases:
        case = dict(case)
        with pytest.raises(PolyattrError):
            attribute(net, case.pop("x"), case.pop("method"), **case)
    with pytest.raises(PolyattrError, match="output"):
        attribute(random_network([2, 4, 2], rng=rng), [0.1, 0.2], "pdp")  # multi-output without output=
    with pytest.raises(PolyattrError, match="output"):
        attribute(random_network([2, 4, 2], rng=rng), [0.1, 0.2], "pdp", output=2)
    big = random_network([21, 2, 1], rng=rng)
    for method in ("shapley", "shapley_uniform"):
        with pytest.raises(PolyattrError, match="20"):
            attribute(big, np.full(21, 0.5), method)


# -------------------------------------------------- the sampled references themselves, and the rest
def test_monte_carlo_interval_and_riemann_ig():
    from polyattr.attribution.approximate import monte_carlo, riemann_ig

    rng = np.random.default_rng(9)
    # a known integral: E[z1^2 - z2] for z uniform on [0,1]^2 is 1/3 - 1/2
    mc = monte_carlo(lambda Z: Z[:, 0] ** 2 - Z[:, 1], lambda n, rng: rng.random((n, 2)), 10**5, rng)
    lo, hi = mc.interval
    assert lo <= 1 / 3 - 1 / 2 <= hi and mc.stderr < 2e-3
    # Riemann IG converges to the exact IG like 1/steps (the gradient is piecewise constant on the path)
    net = random_network([3, 16, 16, 1], rng=rng)
    x = np.array([0.8, 0.3, 0.6])
    exact = attribute(net, x, "ig", baseline=np.zeros(3)).values
    errs = [np.max(np.abs(riemann_ig(net, x, np.zeros(3), n) - exact)) for n in (10, 100, 1000, 10000)]
    assert errs[-1] < 1e-3 and errs[-1] < errs[0] / 20
    f = network_function(net)
    assert abs(riemann_ig(net, x, np.zeros(3), 10000, rule="trapezoid").sum() - (f(x[None])[0] - f(np.zeros((1, 3)))[0])) < 1e-3


@pytest.mark.parametrize("method", ["smoothgrad_uniform", "lime_uniform", "shapley"])
def test_other_methods_against_sampled_references(method):
    """smoothgrad_uniform and lime_uniform (boxes around x) and baseline Shapley by random permutations."""
    rng = np.random.default_rng(17)
    net = random_network([2, 16, 16, 1], rng=rng)
    x = np.array([0.35, 0.55])
    exact = attribute(net, x, method, **({"radius": 0.2} if method != "shapley" else {}))
    est = sampled_attribution(net, x, method, n=200_000, rng=rng, radius=0.2)
    assert np.all(np.abs(exact.values - est.values) <= 5 * est.stderr + 1e-12), (exact.values, est.values, est.stderr)
