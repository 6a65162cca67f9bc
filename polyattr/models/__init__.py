"""Piecewise-affine models: ReLU networks and their I/O."""

from polyattr.models.io import default_model_path, from_torch, load_model, random_network, save_model
from polyattr.models.relu import ReLUNetwork, pattern_key

__all__ = ["ReLUNetwork", "pattern_key", "load_model", "save_model", "from_torch", "random_network", "default_model_path"]
