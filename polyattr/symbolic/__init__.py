"""Symbolic measure experiments (sympy): attributions as exact piecewise closed forms of one parameter.

``polyattr.symbolic.curve(model, x, method, vary=..., over=(a, b))`` returns a
:class:`SymbolicCurve` (exact breakpoints, sympy pieces, ``Piecewise`` per feature, LaTeX, plot).
"""

from polyattr.measures.symbolic_density import SymbolicDensity
from polyattr.symbolic.curves import CurvePiece, SymbolicCurve, curve, supported_methods
from polyattr.symbolic.densities import density_attribution, integrate_density
from polyattr.symbolic.polynomial_model import POLYNOMIAL_METHODS, PolynomialModel

__all__ = ["curve", "SymbolicCurve", "CurvePiece", "supported_methods", "SymbolicDensity", "integrate_density",
           "density_attribution", "PolynomialModel", "POLYNOMIAL_METHODS"]
