"""Measures mu over the input space, as pieces with closed-form moments (THEORY.md §3).

The measure types are exported here, so user code imports them from the package
(``from polyattr.measures import Dirac, Uniform``) and ``isinstance(mu, polyattr.measures.Measure)``
works; :mod:`polyattr.measures.core` holds their implementation.
"""

from polyattr.measures.core import (  # noqa: I001 - the symbolic density below imports core
    DensityPiece,
    Dirac,
    Discrete,
    Empirical,
    Lebesgue,
    Measure,
    PointPiece,
    ProductDensity,
    TruncatedGaussian,
    Uniform,
    PolynomialDensity,
)


def __getattr__(name):
    # SymbolicDensity needs sympy (~0.5 s to import); load it only when someone asks for it.
    if name == "SymbolicDensity":
        from polyattr.measures.symbolic_density import SymbolicDensity

        return SymbolicDensity
    raise AttributeError(f"module 'polyattr.measures' has no attribute {name!r}")


__all__ = ["Measure", "PointPiece", "DensityPiece", "Dirac", "Discrete", "Empirical", "Uniform", "Lebesgue",
           "ProductDensity", "TruncatedGaussian", "PolynomialDensity", "SymbolicDensity"]
