"""Exact linear algebra over the rationals: the one module that solves, takes determinants and ranks.

Backed by python-flint (FLINT's ``fmpq_mat`` / ``fmpz_mat``: multi-modular and fraction-free
algorithms in C), which is far faster than Gaussian elimination on :class:`fractions.Fraction`.
Inputs are anything :func:`polyattr.numbers.to_fraction` accepts (ints, Fractions, floats taken as
the binary values they are, "p/q" strings); results are Python ints and Fractions, so nothing of
flint leaks out of this module.

The certificate verifier (:mod:`polyattr.certify.verify`) deliberately keeps its own small
elimination code: it must not share code with the computation it checks.
"""

from __future__ import annotations

import math
from fractions import Fraction

import flint

from polyattr.errors import PolyattrError
from polyattr.numbers import to_fraction

__all__ = ["determinant", "rank", "solve", "integer_determinant"]


def _rows(M, name: str) -> list[list[Fraction]]:
    try:
        rows = [[to_fraction(v) for v in row] for row in M]
    except TypeError:
        raise PolyattrError(f"{name}: expected a matrix (rows of numbers)") from None
    if rows and any(len(r) != len(rows[0]) for r in rows):
        raise PolyattrError(f"{name}: expected rows of equal length")
    return rows


def _fmpq_mat(rows: list[list[Fraction]], ncols: int) -> "flint.fmpq_mat":
    return flint.fmpq_mat(len(rows), ncols, [flint.fmpq(v.numerator, v.denominator) for r in rows for v in r])


def to_fmpq(v) -> "flint.fmpq":
    """A rational (Fraction, int, or a float, taken exactly) as python-flint's ``fmpq``."""
    v = Fraction(v)
    return flint.fmpq(v.numerator, v.denominator)


def _fraction(q) -> Fraction:
    return Fraction(int(q.p), int(q.q))


def determinant(M) -> Fraction:
    """det(M) of a square rational matrix; 1 for the empty 0 x 0 matrix."""
    rows = _rows(M, "M")
    k = len(rows)
    if any(len(r) != k for r in rows):
        raise PolyattrError(f"M: expected a square matrix, got {k} rows of length {len(rows[0]) if rows else 0}")
    if k == 0:
        return Fraction(1)
    # clear denominators row by row: an integer determinant (fmpz_mat) divided once
    scale, ints = 1, []
    for r in rows:
        den = math.lcm(*(v.denominator for v in r))
        ints.append([int(v * den) for v in r])
        scale *= den
    return Fraction(integer_determinant(ints), scale)


def integer_determinant(M) -> int:
    """det(M) of a square integer matrix (Python ints in, Python int out)."""
    rows = [list(map(int, r)) for r in M]
    k = len(rows)
    if k == 0:
        return 1
    return int(flint.fmpz_mat(k, k, [v for r in rows for v in r]).det())


def rank(M) -> int:
    """Rank of a rational matrix (0 for a matrix without rows or columns)."""
    rows = _rows(M, "M")
    if not rows or not rows[0]:
        return 0
    return int(_fmpq_mat(rows, len(rows[0])).rank())


def solve(M, rhs) -> list[Fraction]:
    """The solution y of M y = rhs for a square non-singular rational matrix M.

    Raises
    ------
    PolyattrError
        When M is singular or the shapes do not match.
    """
    rows = _rows(M, "M")
    b = [to_fraction(v) for v in rhs]
    n = len(rows)
    if any(len(r) != n for r in rows) or len(b) != n:
        raise PolyattrError(f"M/rhs: expected a square matrix and a matching right-hand side, got {n} rows and {len(b)} values")
    if n == 0:
        return []
    A = _fmpq_mat(rows, n)
    B = flint.fmpq_mat(n, 1, [flint.fmpq(v.numerator, v.denominator) for v in b])
    try:
        X = A.solve(B)
    except ZeroDivisionError:
        raise PolyattrError("M: the linear system is singular") from None
    return [_fraction(X[i, 0]) for i in range(n)]

