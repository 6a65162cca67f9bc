"""Small helpers of the proofs/ scripts (the proofs themselves run in CI via proofs/run_all.py)."""

from __future__ import annotations

import importlib.util
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from polyattr.geometry.domains import AffineSlice, Box, Segment
from polyattr.measures.core import Dirac, ProductDensity, Uniform
from polyattr.models.relu import ReLUNetwork

PROOFS = Path(__file__).resolve().parent.parent / "proofs"


def load(name: str):
    """Import proofs/<name>.py as a module (its main() does not run on import)."""
    spec = importlib.util.spec_from_file_location(f"proofs_{name}", PROOFS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def t32():
    return load("theorem_3_2")


@pytest.fixture(scope="module")
def run_all():
    return load("run_all")


F = Fraction


# ------------------------------------------------------------------------------ theorem_3_2
def test_shapley_box_closed_form_hand_cases(t32):
    # x in R, x' not, in every coordinate: D = {0, 1}, E = {} -> 1/2 each
    assert t32.shapley_box_closed_form([0, 0], [1, 1], [F(1, 2)] * 2, [F(2)] * 2) == [F(1, 2), F(1, 2)]
    # x' in R, x not: E = {0, 1} -> -1/2 each
    assert t32.shapley_box_closed_form([0, 0], [1, 1], [F(2)] * 2, [F(1, 2)] * 2) == [F(-1, 2), F(-1, 2)]
    # a feature in neither (G non-empty): all 0
    assert t32.shapley_box_closed_form([0, 0], [1, 1], [F(2), F(1, 2)], [F(3), F(1, 2)]) == [0, 0]
    # A ∩ B feature gets 0; D = {0}: 1_R(x) - 1_R(x') = 1 all on feature 0
    assert t32.shapley_box_closed_form([0, 0], [1, 1], [F(1, 2), F(1, 4)], [F(2), F(3, 4)]) == [1, 0]


@pytest.mark.parametrize("seed", range(5))
def test_shapley_closed_form_matches_permutations(t32, seed):
    rng = np.random.default_rng(seed)
    box = Box([0, 0, 0], [1, 1, 1], exact=True)
    for _ in range(20):
        lo, hi = t32.random_box(rng, box)
        x, xb = t32.grid_point(rng, box), t32.grid_point(rng, box)
        perm = t32.shapley_by_permutations(lambda S: F(t32.indicator(lo, hi, t32.hybrid(x, xb, S))), 3)
        assert t32.shapley_box_closed_form(lo, hi, x, xb) == perm


def test_box_mass_of_points_and_densities(t32):
    box = Box([0, 0], [2, 1], exact=True)
    lo, hi = [F(0), F(0)], [F(1), F(1, 2)]
    # closed box: a point on the face counts
    assert t32.box_mass(Dirac([F(1), F(1, 2)], exact=True), lo, hi) == 1
    assert t32.box_mass(Dirac([F(1), F(3, 4)], exact=True), lo, hi) == 0
    assert t32.box_mass(Uniform(box), lo, hi) == F(1, 4)  # (1/2) x (1/2)
    assert t32.box_mass(Uniform(AffineSlice(box, {0: F(1, 2)})), lo, hi) == F(1, 2)
    assert t32.box_mass(Uniform(AffineSlice(box, {0: F(3, 2)})), lo, hi) == 0
    seg = Segment([F(0), F(1, 4)], [F(2), F(1, 4)], exact=True)
    assert t32.box_mass(Uniform(seg), lo, hi) == F(1, 2)
    # density t on [0, 2] in coordinate 0, coordinate 1 uniform on its unit side: (1/2) x (1/2)
    mu = ProductDensity(box, {0: ("polynomial", [0, 1])})
    assert t32.box_mass(mu, lo, hi) == F(1, 4)
    # a signed combination
    assert t32.box_mass(2 * Uniform(box) - Dirac([F(0), F(0)], exact=True), lo, hi) == F(1, 2) - 1


def test_atomic_definitions_on_one_box(t32):
    box = Box([0, 0], [1, 1], exact=True)
    boxes, coeffs = [([F(0), F(0)], [F(1, 2), F(1)])], [F(3)]
    x, xb = [F(1, 4), F(1, 2)], [F(3, 4), F(1, 2)]
    assert t32.atomic("occlusion", boxes, coeffs, box, x, xb) == [3, 0]
    assert t32.atomic("shapley", boxes, coeffs, box, x, xb) == [3, 0]
    # pdp_0 = 3 * 1[x_0 <= 1/2] * P(Z_1 in [0, 1]) = 3;  pdp_1 = 3 * P(Z_0 <= 1/2) = 3/2
    assert t32.atomic("pdp", boxes, coeffs, box, x, xb) == [3, F(3, 2)]
    assert t32.atomic("ice", boxes, coeffs, box, x, xb) == [F(3, 2), 0]
    assert t32.atomic("fafp_global", boxes, coeffs, box, x, xb) == [3, 6]


# -------------------------------------------------------------------------------- table_1
def test_numpy_references_of_table_1():
    t1 = load("table_1")
    # an additive function: Shapley values are the one-dimensional differences
    phi = t1.numpy_shapley_permutations(lambda S: sum([1.0, 2.0, 4.0][i] for i in S), 3)
    np.testing.assert_allclose(phi, [1.0, 2.0, 4.0])
    # relu(z0 - 1/2) on [0, 1]: mean 1/8, computed exactly through the kink
    net = ReLUNetwork([np.array([[1.0, 0.0]]), np.array([[1.0]])], [np.array([-0.5]), np.zeros(1)])
    assert t1.exact_section_mean(net, np.array([0.3, 0.7]), 0, 0.0, 1.0) == pytest.approx(0.125, abs=1e-15)
    np.testing.assert_allclose(t1.numpy_occlusion(net, np.array([0.9, 0.2]), np.array([0.1, 0.5])), [0.4, 0.0])


# ---------------------------------------------------------------------------- corollary_4_1
def test_polynomial_sampler_and_independent_mass():
    c41 = load("corollary_4_1")
    rng = np.random.default_rng(0)
    t = c41.sample_polynomial(rng, [0.0, 2.0], 0.0, 1.0, 100_000)  # density 2t: mean 2/3
    assert t.min() >= 0 and t.max() <= 1
    assert abs(t.mean() - 2 / 3) < 5 * np.sqrt(1 / 18 / len(t))
    box = Box([0.0, 0.0], [2.0, 1.0])
    mu = ProductDensity(box, {0: ("polynomial", [1.0, 1.0])})  # int_0^2 (1 + t) dt = 4, side 1 of length 1
    (_, piece), = mu.terms
    assert c41.independent_mass(piece) == pytest.approx(4.0)
    assert c41.independent_mass(Uniform(box, mass=3.0).terms[0][1]) == 3.0


# ------------------------------------------------------------------------------------ run_all
def test_run_all_discovers_the_proofs(run_all):
    names = [p.name for p in run_all.discover()]
    assert "run_all.py" not in names
    for name in ("theorem_2_1.py", "theorem_3_2.py", "corollary_4_1.py", "table_1.py"):
        assert name in names


def test_run_all_reports_failures(run_all, tmp_path, capsys):
    (tmp_path / "good.py").write_text("print('claim holds')\n")
    (tmp_path / "bad.py").write_text("import sys\nprint('claim FAILED')\nsys.exit(1)\n")
    (tmp_path / "_helper.py").write_text("raise SystemExit(5)\n")  # private: not a proof
    assert run_all.main(["--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "good.py" in out and "claim holds" in out and "bad.py" in out and "FAILED (exit 1)" in out
    assert "_helper" not in out and "1/2 proofs hold" in out
    (tmp_path / "bad.py").unlink()
    assert run_all.main(["--dir", str(tmp_path)]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_all.main(["--dir", str(empty)]) == 1
