"""Float error bounds are proofs: |float - exact| <= error_bound for every method and entry.

The reference is exact mode on the same float64 model and points (the floats taken as the
rationals they are).  Region-integral methods need the distance between the float and the exact
vertices of every region; until the a posteriori verification of float partitions provides it as
``RegionSet.vertex_radius``, these tests compute it independently from the exact regions
(cdd.gmp vertices of :func:`polyattr.geometry.exact_regions.exact_region_set`), matching every
float vertex to its exact counterpart and measuring the distance in rationals.

Models are adversarial: weights spanning 1e-8..1e8, deep narrow networks (8 layers of width 2-3),
points within 1e-12 of a hidden unit's hyperplane, dyadic networks, leaky units.  Each bound must
also be useful: below 1e-9 relative on well-conditioned cases (so ``inf`` cannot pass).
"""

from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exact_radius import UNMATCHED, exact_vertex_radius

from polyattr import PolyattrError, ReLUNetwork, attribute, random_network
from polyattr.attribution.region_bounds import affine_map_error_bounds, region_simplices, vertex_radius
from polyattr.geometry.domains import AffineSlice, Box
from polyattr.geometry.exact_regions import exact_region_set
from polyattr.geometry.regions import RegionSet, enumerate_regions
from polyattr.measures.core import Uniform

DENSITY_METHODS = ["pdp", "shapley_uniform", "ice", "fafp_global", "smoothgrad_uniform", "lime_uniform"]
POINT_METHODS = ["occlusion", "shapley", "fafp_local", "gradient", "gradient_x_input", "ig", "deeplift",
                 "epsilon_lrp", "expected_gradients"]


def exact_values(net, x, method, domain, **options):
    xs = [F(float(v)) for v in x]
    dom = ([F(float(v)) for v in domain[0]], [F(float(v)) for v in domain[1]])
    return attribute(net, xs, method, domain=dom, exact=True, **options).values


def check(net, x, method, domain, useful=None, allow_unproven=False, **options):
    """Assert |float - exact| <= bound for every entry; with ``useful``, bound <= useful (1 + max |v|).

    With ``allow_unproven`` an infinite bound is accepted only when the float partition of some
    support did not match the exact one (then no finite bound may be claimed).
    """
    UNMATCHED.clear()
    fl = attribute(net, list(x), method, domain=domain, **options)
    if allow_unproven and not np.isfinite(fl.error_bound):
        assert UNMATCHED, (method, "an infinite bound although every partition matched the exact one")
        return fl
    exact_opts = dict(options)
    if "baseline" in options:
        exact_opts["baseline"] = [F(float(v)) for v in options["baseline"]]
    if "background" in options:
        exact_opts["background"] = [[F(float(v)) for v in row] for row in options["background"]]
    ex = exact_values(net, x, method, domain, **exact_opts)
    bound = F(float(fl.error_bound)) if np.isfinite(fl.error_bound) else None
    assert bound is not None, (method, "no finite bound")
    for a, b in zip(fl.values, ex):
        assert abs(F(float(a)) - b) <= bound, (method, float(abs(F(float(a)) - b)), fl.error_bound)
    if useful is not None:
        scale = 1.0 + float(np.max(np.abs(fl.values)))
        assert fl.error_bound <= useful * scale, (method, fl.error_bound, scale)
    return fl


def ill_conditioned(rng, sizes):
    Ws, bs = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        Ws.append(10.0 ** rng.uniform(-8, 8, size=(fan_out, fan_in)) * rng.choice([-1.0, 1.0], size=(fan_out, fan_in)))
        bs.append(10.0 ** rng.uniform(-8, 0, size=fan_out) * rng.choice([-1.0, 1.0], size=fan_out))
    return ReLUNetwork(Ws, bs)


def deep_narrow(rng, d=2, depth=8, leaky=False):
    sizes = [d] + [int(w) for w in rng.integers(2, 4, size=depth)] + [1]
    Ws = [rng.normal(size=(o, i)) * 1.2 for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=o) * 0.3 for o in sizes[1:]]
    slopes = [rng.choice([0.0, 0.1, 1.0], size=o) for o in sizes[1:-1]] if leaky else None
    return ReLUNetwork(Ws, bs, slopes)


def dyadic(rng, sizes):
    Ws = [rng.integers(-8, 9, size=(o, i)) / 8.0 for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.integers(-4, 5, size=o) / 8.0 for o in sizes[1:]]
    return ReLUNetwork(Ws, bs)


def near_first_hyperplane(net, rng, lo, hi):
    """A point of the box whose first hidden unit's pre-activation is within ~1e-12 of 0."""
    W, b = net.weights[0], net.biases[0]
    for _ in range(100):
        x = rng.uniform(lo, hi)
        j = int(np.argmax(np.abs(W[0])))
        x[j] = -(b[0] + W[0] @ x - W[0, j] * x[j]) / W[0, j] + rng.uniform(-1e-12, 1e-12)
        if lo[j] < x[j] < hi[j]:
            return x
    return rng.uniform(lo, hi)


# ---------------------------------------------------------------------------- region integrals
@pytest.mark.parametrize("method", DENSITY_METHODS)
def test_density_methods_well_conditioned_bound_holds_and_is_small(exact_radii, method):
    rng = np.random.default_rng(1)
    net = random_network([3, 8, 8, 1], rng=rng)
    x = rng.uniform(0.1, 0.9, size=3)
    opts = {"radius": 0.125} if method in ("smoothgrad_uniform", "lime_uniform") else {}
    check(net, x, method, ([0.0] * 3, [1.0] * 3), useful=1e-9, **opts)
    # the default radius 1/10 is not a float: the bound is against the exact noise box [x - 1/10, x + 1/10]
    if method in ("smoothgrad_uniform", "lime_uniform"):
        check(net, x, method, ([0.0] * 3, [1.0] * 3), useful=1e-9)


@pytest.mark.parametrize("method", DENSITY_METHODS)
def test_density_methods_adversarial(exact_radii, method):
    rng = np.random.default_rng(2)
    opts = {"radius": 0.3} if method in ("smoothgrad_uniform", "lime_uniform") else {}
    cases = [
        (ill_conditioned(rng, [2, 4, 3, 1]), ([-1.0, -1.0], [1.0, 1.0])),
        (deep_narrow(rng), ([-1.0, -1.0], [1.0, 1.0])),
        (deep_narrow(rng, leaky=True), ([-1.0, -1.0], [1.0, 1.0])),
        (dyadic(rng, [3, 5, 4, 1]), ([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0])),
        (random_network([2, 6, 6, 1], rng=rng), ([-0.3, 0.2], [0.7, 1.1])),  # non-dyadic box
    ]
    for net, dom in cases:
        lo, hi = np.array(dom[0]), np.array(dom[1])
        for x in (rng.uniform(lo, hi), near_first_hyperplane(net, rng, lo, hi)):
            check(net, x, method, dom, **opts)


@given(st.integers(0, 2**31 - 1), st.sampled_from(["pdp", "ice", "shapley_uniform"]), st.booleans())
@settings(max_examples=10, deadline=None)
def test_density_methods_random_adversarial_networks(seed, method, ill):
    rng = np.random.default_rng(seed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RegionSet, "vertex_radius", property(exact_vertex_radius), raising=False)
        net = ill_conditioned(rng, [2, 3, 3, 1]) if ill else deep_narrow(rng, depth=int(rng.integers(3, 7)))
        dom = ([-1.0, -1.0], [1.0, 1.0])
        check(net, near_first_hyperplane(net, rng, np.array(dom[0]), np.array(dom[1])), method, dom,
              allow_unproven=True)


def test_user_measure_on_a_slice(exact_radii):
    rng = np.random.default_rng(5)
    net = deep_narrow(rng, d=3, depth=4)
    box = Box([-1.0] * 3, [1.0] * 3)
    x = rng.uniform(-1, 1, size=3)

    def family(z, j):
        return 2.5 * Uniform(AffineSlice(box, {j: float(z[j])})) - Uniform(box)

    fl = attribute(net, list(x), "measure", domain=([-1.0] * 3, [1.0] * 3), measures=family)
    exbox = Box([F(-1)] * 3, [F(1)] * 3, exact=True)
    ex_family = [F(5, 2) * Uniform(AffineSlice(exbox, {j: F(float(x[j]))})) - Uniform(exbox) for j in range(3)]
    ex = attribute(net, [F(float(v)) for v in x], "measure", domain=([F(-1)] * 3, [F(1)] * 3), exact=True,
                   measures=ex_family)
    assert np.isfinite(fl.error_bound) and fl.error_bound < 1e-9
    for a, b in zip(fl.values, ex.values):
        assert abs(F(float(a)) - b) <= F(fl.error_bound)


# ---------------------------------------------------------------------------- point methods
@pytest.mark.parametrize("method", POINT_METHODS)
def test_point_methods_on_deep_narrow_and_ill_conditioned(method):
    rng = np.random.default_rng(3)
    for net in (deep_narrow(rng), deep_narrow(rng, leaky=True), ill_conditioned(rng, [3, 4, 4, 1])):
        d = net.n_inputs
        lo, hi = -np.ones(d), np.ones(d)
        opts = {}
        if method in ("occlusion", "shapley", "ig", "deeplift"):
            opts["baseline"] = list(rng.uniform(lo, hi))
        if method == "expected_gradients":
            opts["background"] = rng.uniform(lo, hi, size=(3, d)).tolist()
        for x in (rng.uniform(lo, hi), near_first_hyperplane(net, rng, lo, hi)):
            check(net, x, method, (list(lo), list(hi)), **opts)


# ---------------------------------------------------------------------------- the pieces
def test_no_vertex_radius_means_no_finite_bound(monkeypatch):
    """Without a proven vertex radius a region integral must not claim a finite bound."""
    rng = np.random.default_rng(4)
    net = random_network([2, 6, 1], rng=rng)

    def unverifiable(self):
        raise PolyattrError("domain: the float partition is not the exact one")

    for radius in (property(unverifiable), property(lambda self: None)):
        monkeypatch.setattr(RegionSet, "vertex_radius", radius, raising=False)
        regions = enumerate_regions(net, Box([0.0, 0.0], [1.0, 1.0]))
        assert vertex_radius(regions) is None
        for method in ("pdp", "ice", "shapley_uniform", "fafp_global", "smoothgrad_uniform", "lime_uniform"):
            assert attribute(net, [0.3, 0.6], method).error_bound == float("inf"), method
    # an affine model: one region, the box itself, whose corners are exact floats (radius 0)
    affine = ReLUNetwork([np.array([[0.3, -1.7]])], [np.array([0.1])])
    one = enumerate_regions(affine, Box([0.0, 0.0], [1.0, 1.0]))
    assert list(vertex_radius(one)) == [0.0]
    res = attribute(affine, [0.3, 0.6], "pdp")
    assert 0 < res.error_bound < 1e-14


def test_bounds_hold_with_the_verified_radii():
    """The whole chain with RegionSet's own (verified) vertex radii, where main provides them."""
    rng = np.random.default_rng(8)
    net = deep_narrow(rng, d=2, depth=5)
    dom = ([-1.0, -1.0], [1.0, 1.0])
    x = near_first_hyperplane(net, rng, np.array(dom[0]), np.array(dom[1]))
    for method in ("pdp", "shapley_uniform", "smoothgrad_uniform"):
        fl = check(net, x, method, dom, allow_unproven=not hasattr(RegionSet, "vertex_radius"))
        assert not hasattr(RegionSet, "vertex_radius") or fl.error_bound < 1e-6, (method, fl.error_bound)


def test_affine_map_error_bounds_hold():
    rng = np.random.default_rng(6)
    for net in (deep_narrow(rng, d=3, depth=8, leaky=True), ill_conditioned(rng, [3, 5, 5, 2])):
        pats = net.activation_pattern(rng.uniform(-1, 1, size=(20, 3)))
        W, b = net.local_affine_maps(pats, output=0)
        dW, db = affine_map_error_bounds(net, pats, 0)
        We, be = net.to_exact().local_affine_maps(pats, output=0)
        for i in range(len(pats)):
            assert all(abs(F(float(W[i, j])) - We[i, j]) <= F(float(dW[i, j])) for j in range(3))
            assert abs(F(float(b[i])) - be[i]) <= F(float(db[i]))


def test_triangulation_volumes_add_up_to_the_exact_region_volumes():
    """The combinatorial pulling triangulation covers each region: simplex volumes sum to the exact ones."""
    rng = np.random.default_rng(7)
    net = dyadic(rng, [3, 5, 4, 1])
    box = Box([-1.0] * 3, [1.0] * 3)
    regions = enumerate_regions(net, box)
    V, S, G = region_simplices(regions)
    ex = exact_region_set(net.to_exact(), box)
    index = {tuple(bool(v) for v in p): i for i, p in enumerate(ex.patterns)}
    for i in range(len(regions)):
        total = F(0)
        for s in S[G == i]:
            P = [[F(float(c)) for c in V[q]] for q in s]
            M = [[P[r + 1][c] - P[0][c] for c in range(3)] for r in range(3)]
            det = (M[0][0] * (M[1][1] * M[2][2] - M[1][2] * M[2][1]) - M[0][1] * (M[1][0] * M[2][2] - M[1][2] * M[2][0])
                   + M[0][2] * (M[1][0] * M[2][1] - M[1][1] * M[2][0]))
            total += abs(det) / 6
        exact_volume = ex.regions[index[tuple(bool(v) for v in regions.patterns[i])]].volume
        assert abs(total - exact_volume) <= F(1, 10**9) * exact_volume
