"""Number fields and floating-point error analysis: the one place that knows about rounding.

Two things live here:

* **Number fields.**  A model, a domain or a computation works either in float64 or in the
  rationals.  :data:`FLOAT64` and :data:`RATIONAL` are the two field objects; code asks the field for
  ``zero()``, ``one()``, ``convert(v)`` and ``array(values)`` instead of branching on an ``exact``
  boolean.  :func:`field_of` maps the public ``exact=True/False`` flag to a field.
* **Rounding constants and forward error bounds** (Higham, *Accuracy and Stability of Numerical
  Algorithms*, 2nd ed., ch. 3): the unit roundoff ``u = 2**-53``, ``gamma(n) = n u / (1 - n u)``
  (the bound on the relative error of an n-term dot product or sum, for any summation order and
  with or without fused multiply-adds), rounded *up*, and :func:`round_up` to turn a float value of a
  non-negative error expression into a rigorous upper bound of its exact value.

Every error bound a float result states is computed with these, so that it is an upper bound of
the true error also after the rounding of the bound's own arithmetic.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np

from polyattr.numbers import to_fraction

#: unit roundoff of IEEE double precision (round to nearest)
UNIT_ROUNDOFF = 2.0**-53
#: the smallest positive subnormal: the absolute error of one rounding in the subnormal range
ETA = 2.0**-1074


@lru_cache(maxsize=4096)
def gamma(n: int) -> float:
    """``gamma_n = n u / (1 - n u)`` rounded upward (an exact upper bound, as a float).

    ``|fl(sum_{i<=n} x_i y_i) - sum x_i y_i| <= gamma_n sum |x_i y_i|`` (Higham, Lemma 3.1 and
    eq. 3.5), whatever the order of the additions.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"gamma: expected n >= 0, got {n}")
    nu = Fraction(n) * Fraction(UNIT_ROUNDOFF)
    if nu >= 1:
        return float("inf")
    exact = nu / (1 - nu)
    g = float(exact)
    return g if Fraction(g) >= exact else float(np.nextafter(g, np.inf))


def round_up(value, n_ops: int):
    """A rigorous upper bound of the exact value of a non-negative float expression.

    ``value`` was computed in round-to-nearest float64 from non-negative, exactly known inputs
    with at most ``n_ops`` roundings along any path (additions and multiplications of non-negative
    numbers only).  Each rounding multiplies by at most (1 + u) or adds at most one subnormal
    ulp, so the exact value is below ``value * (1 + gamma(n_ops)) + n_ops * ETA``; the result is
    rounded up once more for the multiplication and addition done here.
    """
    v = np.asarray(value, dtype=np.float64)
    g = gamma(int(n_ops) + 2)
    out = v * (1.0 + g) + (int(n_ops) + 2) * ETA
    out = np.nextafter(out, np.inf)
    return out if out.ndim else float(out)


def add_up(*terms):
    """An upper bound of the exact sum of non-negative float arrays (rounded upward)."""
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return round_up(total, len(terms))


def dot_bound(abs_matrix: np.ndarray, abs_vectors: np.ndarray) -> np.ndarray:
    """An upper bound of the exact product ``abs_vectors @ abs_matrix.T`` of non-negative arrays.

    ``abs_vectors`` has shape (m, n) or (n,), ``abs_matrix`` (k, n); an n-term dot product of
    non-negative numbers has at most n + 1 roundings along a path (n products feeding a sum).
    """
    n = abs_matrix.shape[1]
    return round_up(abs_vectors @ abs_matrix.T, n + 1)


class NumberField:
    """A number field computations are carried out in: float64 or the rationals.

    Attributes
    ----------
    name : str
    exact : bool
        True for the rationals.
    dtype : numpy dtype of arrays of the field (``float64`` or ``object`` holding Fractions).
    """

    name = ""
    exact = False
    dtype: object = np.float64

    def zero(self):
        raise NotImplementedError

    def one(self):
        raise NotImplementedError

    def convert(self, v):
        """One number of the field (raises TypeError/ValueError for non-numbers and non-finite values)."""
        raise NotImplementedError

    def array(self, values) -> np.ndarray:
        """An array of the field's numbers, converted element by element."""
        raise NotImplementedError

    def zeros(self, shape) -> np.ndarray:
        return self.array(np.zeros(shape))

    def eye(self, n: int) -> np.ndarray:
        return self.array(np.eye(n))

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self):
        return self.name  # the module-level singletons pickle by name


class _Float64(NumberField):
    name = "FLOAT64"
    exact = False
    dtype = np.float64

    def zero(self):
        return 0.0

    def one(self):
        return 1.0

    def convert(self, v):
        if isinstance(v, str):
            v = to_fraction(v)
        f = float(v)
        if not np.isfinite(f):
            raise ValueError(f"{v!r} is not finite")
        return f

    def array(self, values) -> np.ndarray:
        arr = np.asarray(values)
        if arr.dtype == object or arr.dtype.kind in "US":
            return np.vectorize(self.convert, otypes=[np.float64])(arr) if arr.size else arr.astype(np.float64)
        return arr.astype(np.float64)


class _Rational(NumberField):
    name = "RATIONAL"
    exact = True
    dtype = object

    def zero(self):
        return Fraction(0)

    def one(self):
        return Fraction(1)

    def convert(self, v):
        return to_fraction(v)

    def array(self, values) -> np.ndarray:
        arr = np.asarray(values, dtype=object)
        if not arr.size:
            return arr
        return np.vectorize(to_fraction, otypes=[object])(arr)


#: float64 arithmetic (results carry an error bound)
FLOAT64 = _Float64()
#: exact rational arithmetic (:class:`fractions.Fraction`)
RATIONAL = _Rational()


def field_of(exact) -> NumberField:
    """The field of a public ``exact`` flag (a field object passes through)."""
    if isinstance(exact, NumberField):
        return exact
    return RATIONAL if exact else FLOAT64
