"""Exact numbers: one conversion to :class:`fractions.Fraction` used by every layer."""

from __future__ import annotations

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
