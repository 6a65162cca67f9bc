"""Finite signed measures described so that integrals over linear regions are exact."""

from polyattr.measures.symbolic_density import SymbolicDensity

__all__ = ["SymbolicDensity"]
