"""Exact numbers: one conversion to :class:`fractions.Fraction` used by every layer."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from fractions import Fraction

import numpy as np


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
