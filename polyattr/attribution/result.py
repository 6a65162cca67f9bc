"""The result of an attribution: field names follow ``shap.Explanation`` where they overlap."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from polyattr.numbers import long_integer_strings


@dataclass(frozen=True)
class Attribution:
    """Attribution scores of one input.

    Attributes
    ----------
    values : ndarray (d,)
        One score per feature: float64, or an object array of :class:`~fractions.Fraction` when
        ``exact``.
    base_values : float or Fraction or None
        The reference value the scores explain a difference from (f(baseline) for methods with a
        baseline, else None).
    data : ndarray (d,)
        The input x.
    feature_names : list of str or None
    lower_bounds, upper_bounds : ndarray (d,)
        ``values -/+ error_bound`` (equal to ``values`` when exact).
    exact : bool
        True when ``values`` are exact rationals.
    error_bound : float
        Bound on max_j |values_j - true value_j| for float results (0 when exact); for methods
        marked inexact (Monte Carlo or quadrature) a stated estimate, see ``info["error_kind"]``.
    regions : int
        Number of linear regions enumerated (over all supports).
    seconds : float
        Wall-clock time.
    method : str
    output : int
    info : dict
        Method-specific details (breakpoints, options, per-term data).
    """

    values: np.ndarray
    base_values: object
    data: np.ndarray
    method: str
    exact: bool
    error_bound: float
    regions: int
    seconds: float
    output: int = 0
    feature_names: list | None = None
    info: dict = field(default_factory=dict, compare=False)

    @property
    def lower_bounds(self) -> np.ndarray:
        if self.exact:
            return self.values
        return self.values - self.error_bound

    @property
    def upper_bounds(self) -> np.ndarray:
        if self.exact:
            return self.values
        return self.values + self.error_bound

    def to_dict(self) -> dict:
        """JSON-friendly: exact values as "p/q" strings."""
        def enc(v):
            if isinstance(v, Fraction):
                with long_integer_strings():  # exact values may exceed the 4300-digit default
                    return f"{v.numerator}/{v.denominator}"
            return float(v)

        return {
            "method": self.method,
            "values": [enc(v) for v in self.values],
            "exact": self.exact,
            "error_bound": float(self.error_bound),
            "regions": int(self.regions),
            "seconds": float(self.seconds),
            "output": int(self.output),
            "base_values": None if self.base_values is None else enc(self.base_values),
        }

    def __repr__(self) -> str:
        with long_integer_strings():
            vals = ", ".join(str(v) if self.exact else f"{v:.6g}" for v in self.values)
        bound = "exact" if self.exact else f"±{self.error_bound:.1e}"
        return f"Attribution({self.method}: [{vals}] {bound}, {self.regions} regions, {self.seconds:.3g} s)"
