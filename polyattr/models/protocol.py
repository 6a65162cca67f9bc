"""The :class:`PiecewiseAffineModel` protocol: what every layer above ``models`` may ask of a model.

A piecewise-affine model is continuous and affine on each cell of a polyhedral partition of its
input space.  The cells are indexed by *activation patterns*: one boolean per "cutting" unit (a
unit whose hyperplane can separate two cells), True where its pre-activation is > 0.  Everything the
geometry, integration, attribution and certification layers need is expressed through the methods
below, so no code above ``polyattr.models`` reads weights, re-implements the forward pass or the
error recurrence, or builds an integer-scaled copy of the network.

:class:`~polyattr.models.relu.ReLUNetwork` (dense layers with ReLU, leaky-ReLU or identity units)
is the implementation; :func:`require_model` is the check every public entry point runs.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.numerics import NumberField


@runtime_checkable
class PiecewiseAffineModel(Protocol):
    """A continuous piecewise-affine map R^d -> R^m with hyperplane-cut regions.

    Attributes
    ----------
    n_inputs, n_outputs : int
    n_neurons : int
        Length of an activation pattern (the cutting units).
    hidden_sizes : tuple of int
        Units per hidden layer (cutting or not): sizes for the network-shaped kernels.
    field : NumberField
        :data:`~polyattr.numerics.FLOAT64` or :data:`~polyattr.numerics.RATIONAL`.
    exact : bool
        ``field.exact``.
    """

    n_inputs: int
    n_outputs: int
    n_neurons: int
    hidden_sizes: tuple
    field: NumberField
    exact: bool

    # conversions --------------------------------------------------------------------------
    def to_exact(self) -> "PiecewiseAffineModel": ...

    def to_float(self) -> "PiecewiseAffineModel": ...

    def select_output(self, output) -> "PiecewiseAffineModel": ...

    def check_output(self, output) -> int: ...

    def compose_affine(self, embedding, offset) -> "PiecewiseAffineModel": ...

    def canonical_hash(self) -> str: ...

    # evaluation ---------------------------------------------------------------------------
    def __call__(self, X, output=None): ...

    def forward(self, X) -> tuple[np.ndarray, list[np.ndarray]]: ...

    def activation_pattern(self, X) -> np.ndarray: ...

    def hidden_preactivations(self, X) -> np.ndarray: ...

    def evaluation_error_bound(self, X, output=None) -> np.ndarray: ...

    def preactivation_error_bounds(self, z) -> list[np.ndarray]: ...

    # per-pattern algebra ------------------------------------------------------------------
    def pattern_constraints(self, pattern) -> tuple[np.ndarray, np.ndarray]: ...

    def pattern_constraints_many(self, patterns) -> tuple[np.ndarray, np.ndarray]: ...

    def local_affine_map(self, pattern, output=None) -> tuple[np.ndarray, np.ndarray]: ...

    def local_affine_maps(self, patterns, output=None) -> tuple[np.ndarray, np.ndarray]: ...

    def pattern_gradients(self, patterns, output=None) -> np.ndarray: ...

    def path_average_gradient(self, patterns, weights, output: int) -> np.ndarray: ...


def require_model(model, name: str = "model") -> PiecewiseAffineModel:
    """``model`` if it implements :class:`PiecewiseAffineModel`, else a :class:`PolyattrError`."""
    if not isinstance(model, PiecewiseAffineModel):
        raise PolyattrError(
            f"{name}: expected a piecewise-affine model (a ReLUNetwork, e.g. from load_model or "
            f"from_torch), got {type(model).__name__}"
        )
    return model
