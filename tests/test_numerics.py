"""polyattr.numerics (fields, rounding constants), polyattr.exact_linalg (against sympy), import hygiene."""

import subprocess
import sys
from fractions import Fraction as F

import numpy as np
import pytest
import sympy as sp

from polyattr import PolyattrError
from polyattr.exact_linalg import determinant, integer_determinant, rank, solve
from polyattr.numerics import FLOAT64, RATIONAL, UNIT_ROUNDOFF, field_of, gamma, round_up


def test_gamma_is_rounded_up_and_matches_its_definition():
    u = F(1, 2**53)
    for n in [1, 2, 3, 7, 100, 12345, 10**9]:
        exact = n * u / (1 - n * u)
        g = gamma(n)
        assert F(g) >= exact
        assert F(np.nextafter(g, 0)) < exact  # the smallest float above (or at) the exact value
    assert gamma(0) == 0.0
    assert gamma(2**53) == float("inf")
    assert UNIT_ROUNDOFF == 2.0**-53


def test_round_up_bounds_float_sums_of_positive_terms():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.uniform(0, 1, size=50) * 10.0 ** rng.integers(-300, 300, size=50).astype(float)
        a = a[np.isfinite(a)]
        total = float(np.sum(a))
        assert F(round_up(total, len(a))) >= sum(F(float(v)) for v in a)
    # the subnormal range: absolute, not relative, rounding
    tiny = np.full(10, 3 * 2.0**-1074)
    assert F(round_up(float(np.sum(tiny * 0.7)), 20)) >= sum(F(float(v)) * F(0.7) for v in tiny)


def test_fields_convert_and_build_arrays():
    assert field_of(True) is RATIONAL and field_of(False) is FLOAT64 and field_of(RATIONAL) is RATIONAL
    assert RATIONAL.convert("1/3") == F(1, 3) and RATIONAL.convert(0.1) == F(0.1)
    assert FLOAT64.convert("1/4") == 0.25 and FLOAT64.zero() == 0.0 and RATIONAL.one() == 1
    arr = RATIONAL.array([[1, "2/3"], [0.5, F(7)]])
    assert arr.dtype == object and arr[0, 1] == F(2, 3)
    assert FLOAT64.array(["1/2", 2]).dtype == np.float64
    with pytest.raises(ValueError):
        FLOAT64.convert(float("nan"))
    import pickle

    assert pickle.loads(pickle.dumps(RATIONAL)) is RATIONAL


def test_exact_linear_algebra_agrees_with_sympy():
    rng = np.random.default_rng(1)
    for n in range(0, 7):
        M = [[F(int(rng.integers(-9, 10)), int(rng.integers(1, 7))) for _ in range(n)] for _ in range(n)]
        S = sp.Matrix(n, n, [sp.Rational(v.numerator, v.denominator) for r in M for v in r])
        assert determinant(M) == (F(1) if n == 0 else F(str(S.det())))
        assert rank(M) == S.rank()
        if n and S.det() != 0:
            b = [F(int(rng.integers(-5, 6)), int(rng.integers(1, 4))) for _ in range(n)]
            y = solve(M, b)
            assert all(sum(M[i][j] * y[j] for j in range(n)) == b[i] for i in range(n))
    # floats are taken as the binary values they are; rank of a rank-deficient rectangle
    assert determinant([[0.5, 0.25], [0.125, 1]]) == F(15, 32)
    assert rank([[1, 2, 3], [2, 4, 6]]) == 1 and rank([]) == 0
    assert integer_determinant([[2, 1], [1, 1]]) == 1
    with pytest.raises(PolyattrError, match="singular"):
        solve([[1, 2], [2, 4]], [1, 1])
    with pytest.raises(PolyattrError, match="square"):
        determinant([[1, 2, 3]])


def test_importing_polyattr_changes_no_process_state():
    code = (
        "import sys; before = sys.get_int_max_str_digits();"
        "import polyattr, polyattr.certify, polyattr.certify.certificate, polyattr.certify.verify, polyattr.cli,"
        " polyattr.theory, polyattr.exact_linalg, polyattr.numerics;"
        "print(before == sys.get_int_max_str_digits())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
