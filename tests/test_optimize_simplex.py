"""Quadratic forms on the simplex: cvxpy's optimum against the exact KKT optimum and a brute-force grid."""

from fractions import Fraction
from itertools import product

import numpy as np
import pytest

from polyattr.errors import PolyattrError
from polyattr.optimize.simplex import (brute_force_simplex_minimum, certify_on_simplex, check_kkt,
                                       exact_simplex_optimum, is_positive_semidefinite, solve_on_simplex,
                                       SimplexSolution)


def integer_gram(rng, K, rank):
    A = rng.integers(-5, 6, size=(K, rank))
    return [[Fraction(int(v)) for v in row] for row in A @ A.T]


@pytest.mark.parametrize("K,rank", [(2, 2), (3, 1), (4, 4), (6, 2), (8, 3)])
def test_cvxpy_weights_on_simplex_match_exact_kkt_optimum(K, rank):
    rng = np.random.default_rng(K * 10 + rank)
    G = integer_gram(rng, K, rank)
    sol = solve_on_simplex(G)
    assert np.all(sol.weights >= 0) and abs(sol.weights.sum() - 1) < 1e-12
    cert = exact_simplex_optimum(G)
    assert cert.valid, cert.checks
    assert all(w >= 0 for w in cert.weights) and sum(cert.weights) == 1
    scale = max(abs(float(v)) for row in G for v in row)
    assert abs(sol.value - float(cert.value)) <= 1e-6 * scale
    checked = certify_on_simplex(G, sol)
    assert checked.certified and checked.shift == 0 and checked.lower == checked.upper == cert.value
    # no random simplex point does better than the certified value
    W = rng.dirichlet(np.ones(K), size=2000)
    Gf = np.array(G, dtype=float)
    assert np.min(np.einsum("ni,ij,nj->n", W, Gf, W)) >= float(cert.value) - 1e-9 * scale


def test_three_methods_against_brute_force_grid():
    rng = np.random.default_rng(3)
    steps = 300
    for _ in range(5):
        A = rng.normal(size=(3, 2))
        G = A @ A.T
        exact = float(exact_simplex_optimum(G).value) if is_positive_semidefinite([[Fraction(v) for v in r] for r in G]) \
            else float(certify_on_simplex(G, solve_on_simplex(G)).lower)
        grid, _ = brute_force_simplex_minimum(G, steps=steps)
        scale = np.max(np.abs(G))
        # the grid cannot beat the optimum, and its nearest point is within O(scale / steps)
        assert grid >= exact - 1e-12 * scale
        assert grid - exact <= 6 * scale / steps
        assert abs(solve_on_simplex(G).value - exact) <= 1e-6 * scale


def test_singular_gram_certifies_the_value_and_one_optimal_point():
    # methods 0 and 1 identical, method 2 a copy of their mean: every mix of them is optimal
    G = [[Fraction(4), Fraction(4), Fraction(4)], [Fraction(4), Fraction(4), Fraction(4)], [Fraction(4)] * 3]
    cert = exact_simplex_optimum(G)
    assert cert.value == 4 and cert.valid
    G2 = [[Fraction(2), Fraction(-2), Fraction(0)], [Fraction(-2), Fraction(2), Fraction(0)], [Fraction(0), Fraction(0), Fraction(1)]]
    cert2 = exact_simplex_optimum(G2)
    assert cert2.value == 0 and cert2.weights == (Fraction(1, 2), Fraction(1, 2), Fraction(0))


def test_kkt_checks_reject_a_non_optimal_point():
    G = [[Fraction(1), Fraction(0)], [Fraction(0), Fraction(3)]]
    cert = exact_simplex_optimum(G)
    assert cert.weights == (Fraction(3, 4), Fraction(1, 4)) and cert.value == Fraction(3, 4)
    bad = check_kkt(G, [Fraction(1), Fraction(0)], Fraction(2))
    assert not all(bad.values())


def test_exact_psd_test_against_eigenvalues():
    rng = np.random.default_rng(0)
    for _ in range(30):
        B = rng.integers(-3, 4, size=(4, 4))
        S = B + B.T
        exact = is_positive_semidefinite([[Fraction(int(v)) for v in r] for r in S])
        assert exact == (np.min(np.linalg.eigvalsh(S)) > -1e-9)


def test_rounding_indefinite_float_gram_is_bracketed():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(6, 2))
    G = A @ A.T  # rank 2: rounding makes it indefinite
    checked = certify_on_simplex(G, solve_on_simplex(G))
    assert checked.certified
    assert checked.lower <= checked.upper and float(checked.upper - checked.lower) <= 1e-12


@pytest.mark.parametrize("bad", [[[1.0, 2.0], [0.0, 1.0]], [[1.0, float("nan")], [float("nan"), 1.0]], [[1.0, 2.0]], []])
def test_bad_gram_raises(bad):
    with pytest.raises(PolyattrError, match="gram"):
        solve_on_simplex(bad)


def test_indefinite_exact_gram_has_no_certificate():
    G = [[Fraction(0), Fraction(1)], [Fraction(1), Fraction(0)]]
    sol = SimplexSolution(np.array([1.0, 0.0]), 0.0, "given", "optimal")  # a true minimiser, but not provably
    assert not is_positive_semidefinite(G)
    assert not certify_on_simplex(G, sol).certified


def test_active_set_walk_and_full_enumeration_agree():
    rng = np.random.default_rng(12)
    for K in (5, 9, 12):
        G = integer_gram(rng, K, K)
        reference = exact_simplex_optimum(G)  # every support by size
        for start in ([0], list(range(K)), [K - 1, 1]):
            walked = exact_simplex_optimum(G, first_support=start)
            assert walked.valid and walked.value == reference.value
        assert reference.value == min(reference.value, *(G[i][i] for i in range(K)))
