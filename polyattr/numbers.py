"""Exact numbers: one conversion to :class:`fractions.Fraction`, one vector validator used by every
layer, and the one reader of number literals (command-line vectors, JSON strings, "p/q").

Number literals are untrusted text.  ``Fraction("1e999999999")`` builds a billion-digit integer
(minutes of CPU, gigabytes of memory) and ``int`` refuses more than 4300 digits with a traceback,
so :func:`parse_rational` checks the digit and exponent counts with a regular expression *before*
any integer or Fraction is built.  Decimal text is read as the rational it denotes ("0.1" is 1/10).
"""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from fractions import Fraction

import numpy as np

from polyattr.errors import PolyattrError

#: Most significant digits a literal may carry (numerator and denominator each, or the mantissa).
MAX_LITERAL_DIGITS = 4000
#: Largest decimal exponent |e| of a literal such as "1e-300": far beyond float64 (about 1e+-308 ..
#: 1e-324) yet small enough that the exact rational stays a few thousand digits.
MAX_LITERAL_EXPONENT = 4000

_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")
_RATIONAL = re.compile(r"([+-]?)([0-9]+)/([0-9]+)")


def parse_rational(text, name: str = "number") -> Fraction:
    """The exact rational a literal denotes: an integer, a decimal ("-0.25", "1e-3") or "p/q".

    Parameters
    ----------
    text : str
        The literal (surrounding blanks ignored).
    name : str
        What the literal is, for the error message (e.g. "--x", "W0[1][2]").

    Raises
    ------
    PolyattrError
        For anything else, including "nan", "inf", a zero denominator, more than
        :data:`MAX_LITERAL_DIGITS` digits or an exponent beyond :data:`MAX_LITERAL_EXPONENT`.
    """
    if not isinstance(text, str):
        raise PolyattrError(f"{name}: expected a number literal (text), got {type(text).__name__}")
    s = text.strip()
    shown = s if len(s) <= 40 else s[:37] + "..."
    m = _RATIONAL.fullmatch(s)
    if m:
        sign, p, q = m.groups()
        if len(p.lstrip("0")) > MAX_LITERAL_DIGITS or len(q.lstrip("0")) > MAX_LITERAL_DIGITS:
            raise PolyattrError(f"{name}: {shown!r} has more than {MAX_LITERAL_DIGITS} digits; expected a smaller rational")
        if int(q) == 0:
            raise PolyattrError(f"{name}: {shown!r} has a zero denominator")
        return Fraction(-int(p) if sign == "-" else int(p), int(q))
    m = _DECIMAL.fullmatch(s)
    if not m or not ((m.group(2) or "") + (m.group(3) or "")):
        raise PolyattrError(f"{name}: expected a number (decimal such as -0.25 or 1e-3, or a rational p/q), got {shown!r}")
    sign, whole, frac, exp = m.groups()
    digits = ((whole or "") + (frac or "")).lstrip("0")
    if len(digits) > MAX_LITERAL_DIGITS:
        raise PolyattrError(f"{name}: {shown!r} has more than {MAX_LITERAL_DIGITS} digits; expected a shorter number")
    e = 0
    if exp is not None:
        if len(exp.lstrip("+-").lstrip("0")) > 6 or abs(int(exp)) > MAX_LITERAL_EXPONENT:
            raise PolyattrError(
                f"{name}: the exponent of {shown!r} is beyond +-{MAX_LITERAL_EXPONENT}; expected a number of sensible size"
            )
        e = int(exp)
    if not digits:
        return Fraction(0)
    e -= len(frac or "")
    mantissa = int(digits)
    value = Fraction(mantissa * 10**e) if e >= 0 else Fraction(mantissa, 10**-e)
    return -value if sign == "-" else value


def rational_to_float(value, name: str = "number") -> float:
    """``float(value)`` for a rational that must fit float64 (an overflow is an error, not inf)."""
    try:
        f = float(value)
    except OverflowError:
        f = float("inf")
    if not np.isfinite(f):
        shown = str(value) if len(str(value)) <= 40 else f"a number of {len(str(abs(int(value))))} digits"
        raise PolyattrError(f"{name}: {shown} is outside the float64 range (|v| < 1.8e308); "
                            f"use --exact / exact=True or rescale the input")
    return f


def to_fraction(v) -> Fraction:
    """The exact rational value of an int, a float (its binary value), a Fraction or a "p/q" string.

    Raises ValueError for NaN or infinite floats and TypeError for non-numbers.
    """
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (int, np.integer)):
        return Fraction(int(v))
    if isinstance(v, str):
        return parse_rational(v)
    f = float(v)
    if not np.isfinite(f):
        raise ValueError(f"{v!r} is not finite")
    return Fraction(f)


def _short_repr(value) -> str:
    text = repr(value) if not isinstance(value, Exception) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_vector(value, name: str, length: int | None = None, exact: bool = False) -> np.ndarray:
    """Validate a 1-D vector of finite numbers (float64, or Fractions when ``exact``)."""
    if isinstance(value, str):
        value = [parse_rational(v, name) for v in value.split(",") if v.strip()]
    elif np.asarray(value).dtype.kind in "cmMV":
        raise PolyattrError(f"{name}: expected real numbers, got an array of dtype {np.asarray(value).dtype}")
    if exact:
        arr = np.asarray(value, dtype=object)
        if arr.ndim != 1:
            raise PolyattrError(f"{name}: expected a 1-D vector, got shape {arr.shape}")
        try:
            arr = np.array([to_fraction(v) for v in arr], dtype=object)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise PolyattrError(f"{name}: expected finite numbers ({_short_repr(exc)})") from None
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except OverflowError:
            raise PolyattrError(f"{name}: a value is outside the float64 range (|v| < 1.8e308); use exact=True") from None
        except (TypeError, ValueError):
            raise PolyattrError(f"{name}: expected a vector of numbers, got {_short_repr(value)}") from None
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
