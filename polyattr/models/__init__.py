"""Piecewise-affine models: ReLU networks and their I/O."""

from polyattr.models.io import default_model_path, load_model, random_network, save_model
from polyattr.models.relu import ReLUNetwork, pattern_key
from polyattr.models.torch_import import from_torch

__all__ = ["ReLUNetwork", "pattern_key", "load_model", "save_model", "from_torch", "random_network", "default_model_path"]
