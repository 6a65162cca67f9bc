"""Piecewise-affine models: ReLU / leaky-ReLU / identity networks, the model protocol and I/O."""

from polyattr.models.io import default_model_path, load_model, random_network, save_model
from polyattr.models.protocol import PiecewiseAffineModel, require_model
from polyattr.models.relu import ReLUNetwork, pattern_key
from polyattr.models.torch_import import from_torch

__all__ = [
    "PiecewiseAffineModel", "require_model", "ReLUNetwork", "pattern_key", "load_model", "save_model",
    "from_torch", "random_network", "default_model_path",
]
