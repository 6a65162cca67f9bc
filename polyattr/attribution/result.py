"""The result of an attribution: field names follow ``shap.Explanation`` where they overlap."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.numbers import long_integer_strings


def _encode(v):
    """JSON form of one number: exact values as "p/q" strings, floats as floats, None as null."""
    if v is None:
        return None
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}"
    return float(v)


@dataclass(frozen=True)
class Attribution:
    """Attribution scores of one input, or of a batch of inputs.

    Attributes
    ----------
    values : ndarray (d,) or (n, d)
        One score per feature (per input of a batch): float64, or an object array of
        :class:`~fractions.Fraction` when ``exact``.
    base_values : float or Fraction or None, or ndarray (n,) for a batch
        The reference value the scores explain a difference from (f(baseline) for methods with a
        baseline, else None).
    data : ndarray (d,) or (n, d)
        The input x (the batch X).
    feature_names : list of str or None
    lower_bounds, upper_bounds : ndarray like ``values``
        ``values -/+ error_bound`` (equal to ``values`` when exact).
    exact : bool
        True when ``values`` are exact rationals.
    error_bound : float
        Bound on max |values - true values| over every entry for float results (0 when exact); for
        methods marked inexact (Monte Carlo or quadrature) a stated estimate, see
        ``info["error_kind"]``.
    regions : int
        Number of linear regions enumerated (over all supports and, for a batch, all rows).
    seconds : float
        Wall-clock time.
    method : str
    output : int
    info : dict
        Method-specific details (breakpoints, options, per-term data); for a batch
        ``info["rows"]`` holds each row's details and ``info["enumerations"]`` /
        ``info["cuts"]`` how many partitions were enumerated and how many were cut from them.
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
    def batch(self) -> bool:
        """True for the result of a batch (values of shape (n, d))."""
        return np.ndim(self.values) == 2

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

    def __len__(self) -> int:
        return len(self.values)

    def to_dict(self) -> dict:
        """JSON-friendly: exact values as "p/q" strings; a batch gives nested lists (one per row).

        ``error_bound`` is None when no finite bound is proven (the float result's ``error_bound``
        is then ``inf``, e.g. region integrals on supports above dimension 6): strict JSON has no
        infinity, and a missing proof must not read as a number.
        """
        with long_integer_strings():
            if self.batch:
                values = [[_encode(v) for v in row] for row in self.values]
                base = None if self.base_values is None else [_encode(v) for v in self.base_values]
            else:
                values = [_encode(v) for v in self.values]
                base = _encode(self.base_values)
        return {
            "method": self.method,
            "values": values,
            "exact": self.exact,
            "error_bound": float(self.error_bound) if np.isfinite(self.error_bound) else None,
            "regions": int(self.regions),
            "seconds": float(self.seconds),
            "output": int(self.output),
            "base_values": base,
        }

    def to_csv(self, path) -> Path:
        """Write the values as CSV: a header (``row``, the feature names, ``base_value``), one line per input."""
        names = self.feature_names or [f"x{j}" for j in range(np.shape(self.values)[-1])]
        values = self.values if self.batch else self.values[None, :]
        bases = self.base_values if self.batch else [self.base_values]
        if bases is None:
            bases = [None] * len(values)
        path = Path(path)
        with long_integer_strings():
            rows = [[i, *[str(_encode(v)) for v in row], "" if b is None else str(_encode(b))]
                    for i, (row, b) in enumerate(zip(values, bases))]
        try:
            with path.open("w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["row", *names, "base_value"])
                writer.writerows(rows)
        except OSError as exc:
            raise PolyattrError(f"csv: cannot write {path} ({exc})") from None
        return path

    def to_shap(self):
        """The result as a ``shap.Explanation`` (floats), so that ``shap.plots`` can draw it.

        Needs the optional dependency shap (``pip install polyattr[shap]``).  Exact values are
        converted to the nearest floats; a method without a base value gets base values 0.
        """
        try:
            import shap
        except ImportError:
            raise PolyattrError("to_shap: the optional dependency shap is not installed "
                                "(pip install 'polyattr[shap]' or pip install shap)") from None
        values = np.asarray(self.values, dtype=float)
        if self.base_values is None:
            base = np.zeros(values.shape[0]) if self.batch else 0.0
        elif self.batch:
            base = np.asarray(self.base_values, dtype=float)
        else:
            base = float(self.base_values)
        return shap.Explanation(values=values, base_values=base, data=np.asarray(self.data, dtype=float),
                                feature_names=self.feature_names)

    def plot(self, ax=None, path=None, row: int = 0):
        """A bar chart of the scores with their error bars (``error_bound``; none when exact).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw (a new figure otherwise).
        path : str or Path, optional
            Save the figure there.
        row : int
            Which input of a batch.

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt  # lazily: matplotlib is slow to import

        if self.batch:
            if not -len(self.values) <= row < len(self.values):
                raise PolyattrError(f"row: expected 0 <= row < {len(self.values)}, got {row}")
            values = self.values[row]
        else:
            values = self.values
        values = np.asarray(values, dtype=float)
        names = self.feature_names or [f"x{j}" for j in range(len(values))]
        if ax is None:
            _, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(values) + 2), 3.2))
        proven = self.exact or np.isfinite(self.error_bound)
        errors = None if self.exact or not proven else np.full(len(values), float(self.error_bound))
        colors = ["#c0392b" if v < 0 else "#2471a3" for v in values]
        ax.bar(range(len(values)), values, yerr=errors, color=colors, capsize=4)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(values)), names)
        ax.set_ylabel("attribution")
        bound = "exact" if self.exact else f"error bound {self.error_bound:.1e}" if proven else "no proven error bound"
        ax.set_title(f"{self.method} ({bound})")
        if path is not None:
            try:
                ax.figure.savefig(path, bbox_inches="tight")
            except OSError as exc:
                raise PolyattrError(f"path: cannot write {path} ({exc})") from None
        return ax

    def __repr__(self) -> str:
        with long_integer_strings():
            if self.batch:
                vals = f"{np.shape(self.values)[0]} x {np.shape(self.values)[1]} values"
            else:
                vals = "[" + ", ".join(str(v) if self.exact else f"{v:.6g}" for v in self.values) + "]"
        bound = "exact" if self.exact else f"±{self.error_bound:.1e}"
        return f"Attribution({self.method}: {vals} {bound}, {self.regions} regions, {self.seconds:.3g} s)"
