"""Exact integration kernels: triangulation, simplex moments (numba, with error bounds), exact
rational moments and polynomial integrals.  Works on raw arrays; knows nothing of models or measures.
"""

from polyattr.integrate.exact import bareiss_determinant, exact_simplex_moments
from polyattr.integrate.polynomial import integrate_polynomial_polytope, integrate_polynomial_simplex
from polyattr.integrate.simplex_kernels import SimplexMoments, simplex_moments
from polyattr.integrate.triangulate import affine_rank, pulling_triangulation

__all__ = [
    "affine_rank",
    "bareiss_determinant",
    "exact_simplex_moments",
    "integrate_polynomial_polytope",
    "integrate_polynomial_simplex",
    "pulling_triangulation",
    "SimplexMoments",
    "simplex_moments",
]
