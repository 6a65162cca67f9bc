"""Exact numbers: one conversion to :class:`fractions.Fraction` and one vector validator used by every layer."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError


def to_fraction(v) -> Fraction:
    """The exact rational value of an int, a float (its binary value), a Fraction or a "p/q" string.

    Raises ValueError for NaN or infinite floats and TypeError for non-numbers.
    """
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (int, np.integer)):
        return Fraction(int(v))
    if isinstance(v, str):
        return Fraction(v)
    f = float(v)
    if not np.isfinite(f):
        raise ValueError(f"{v!r} is not finite")
    return Fraction(f)


def as_vector(value, name: str, length: int | None = None, exact: bool = False) -> np.ndarray:
    """Validate a 1-D vector of finite numbers (float64, or Fractions when ``exact``)."""
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
        try:
            value = [Fraction(v.strip()) for v in value]
        except (ValueError, ZeroDivisionError):
            raise PolyattrError(f"{name}: expected comma-separated numbers, got {value!r}") from None
    if exact:
        arr = np.asarray(value, dtype=object)
        if arr.ndim != 1:
            raise PolyattrError(f"{name}: expected a 1-D vector, got shape {arr.shape}")
        try:
            arr = np.array([to_fraction(v) for v in arr], dtype=object)
        except (TypeError, ValueError):
            raise PolyattrError(f"{name}: expected finite numbers") from None
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise PolyattrError(f"{name}: expected numbers, got {value!r}") from None
        if arr.ndim != 1:
            raise PolyattrError(f"{name}: expected a 1-D vector, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise PolyattrError(f"{name}: contains NaN or infinite values")
    if length is not None and arr.shape[0] != length:
        raise PolyattrError(f"{name}: expected {length} values, got {arr.shape[0]}")
    return arr


@contextmanager
def long_integer_strings():
    """Lift CPython's int <-> str digit limit (4300 by default) inside the block only.

    Exact attributions are rationals with possibly many thousands of digits; writing and reading
    them is the point, but the limit guards the rest of the process against slow parsing of
    untrusted input, so it is restored on exit rather than lifted for good.
    """
    get = getattr(sys, "get_int_max_str_digits", None)
    if get is None:  # Python < 3.11: no limit
        yield
        return
    previous = get()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(previous)
