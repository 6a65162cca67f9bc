"""Metric results: one number with a statement of how it was obtained.

Every metric returns a :class:`MetricValue` that says whether the value is exact (a rational, or
the exact value of a deterministic enumeration), computed in floats with a stated error bound,
estimated by seeded sampling with a confidence half-width, or only a lower bound (a sampled max).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

#: How a value was obtained.
#: "deterministic": no randomness -- a rational (``exact`` is True) or a float whose ``error_bound``
#: is a stated rounding bound (e.g. a correlation or a square root of an exact rational);
#: "sampled": a seeded Monte Carlo estimate, ``error_bound`` is a confidence half-width
#: (``info["sigmas"]`` standard errors);
#: "lower_bound": a sampled maximum (the true max is >= value; ``error_bound`` is the rounding bound).
KINDS = ("deterministic", "sampled", "lower_bound", "undefined")

#: Standard errors in the half-width of a sampled estimate (about 99.7 percent two-sided coverage
#: for a normal approximation).
CONFIDENCE_SIGMAS = 3.0


def encode_number(v):
    """JSON form of a metric number: "p/q" for a Fraction, a float otherwise, None for no value."""
    if v is None:
        return None
    if isinstance(v, Fraction):
        if hasattr(sys, "set_int_max_str_digits"):  # exact values may have thousands of digits
            sys.set_int_max_str_digits(0)
        return f"{v.numerator}/{v.denominator}"
    return float(v)


@dataclass(frozen=True)
class MetricValue:
    """The value of one metric for one attribution at one input.

    Attributes
    ----------
    metric : str
    value : Fraction, float or None
        None only when the metric is undefined here (``kind == "undefined"``, reason in ``info``),
        e.g. a correlation with a constant sequence.
    exact : bool
        True when ``value`` is an exact rational.
    error_bound : float
        0 when exact; a rounding bound, or a sampling confidence half-width (see ``kind``).
    kind : str
        One of :data:`KINDS`.
    n_samples : int or None
        Number of random draws (None for deterministic computations).
    seed : int or None
        The seed the draws came from (None when deterministic or when a Generator was supplied).
    info : dict
        Metric-specific details (curves, argmax, optimal scale, ...).
    """

    metric: str
    value: object
    exact: bool
    error_bound: float
    kind: str = "deterministic"
    n_samples: int | None = None
    seed: int | None = None
    info: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")
        if self.value is not None and not isinstance(self.value, Fraction) and not math.isfinite(float(self.value)):
            raise ValueError(f"metric {self.metric}: non-finite value {self.value!r}")

    @property
    def lower(self) -> float | None:
        """Lower end of the interval the true value lies in (with the stated confidence)."""
        return None if self.value is None else float(self.value) - self.error_bound

    @property
    def upper(self) -> float | None:
        """Upper end of the interval (infinite for a lower bound)."""
        if self.value is None:
            return None
        return math.inf if self.kind == "lower_bound" else float(self.value) + self.error_bound

    def to_dict(self) -> dict:
        return {"metric": self.metric, "value": encode_number(self.value), "exact": self.exact,
                "error_bound": float(self.error_bound), "kind": self.kind, "n_samples": self.n_samples,
                "seed": self.seed}

    def __repr__(self) -> str:
        if self.value is None:
            return f"MetricValue({self.metric}: undefined)"
        if self.exact:
            text = str(self.value)
        elif self.kind == "sampled":
            text = f"{float(self.value):.6g} ± {self.error_bound:.2g} ({self.n_samples} samples)"
        elif self.kind == "lower_bound":
            text = f">= {float(self.value):.6g} ({self.n_samples} samples)"
        else:
            text = f"{float(self.value):.10g} ± {self.error_bound:.1e}"
        return f"MetricValue({self.metric}: {text})"


def as_float_array(values) -> np.ndarray:
    return np.array([float(v) for v in np.ravel(values)], dtype=float).reshape(np.shape(values))
