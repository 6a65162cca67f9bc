"""Piecewise-affine models: ReLU / leaky-ReLU / identity networks, the model protocol and I/O.

The names below are imported on first use (PEP 562): ``from polyattr.models import load_model`` works
as usual, but importing one submodule (e.g. :mod:`polyattr.models.protocol`) does not load the
PyTorch lowering as well.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "default_model_path": "polyattr.models.io",
    "load_model": "polyattr.models.io",
    "random_network": "polyattr.models.io",
    "save_model": "polyattr.models.io",
    "PiecewiseAffineModel": "polyattr.models.protocol",
    "require_model": "polyattr.models.protocol",
    "ReLUNetwork": "polyattr.models.relu",
    "pattern_key": "polyattr.models.relu",
    "from_torch": "polyattr.models.torch_import",
}

#: Submodules reachable as attributes (``polyattr.models.io``), as when this file imported them eagerly.
_SUBMODULES = frozenset({"io", "lowering", "protocol", "ranges", "relu", "schema", "softplus", "torch_import"})

__all__ = [
    "PiecewiseAffineModel", "require_model", "ReLUNetwork", "pattern_key", "load_model", "save_model",
    "from_torch", "random_network", "default_model_path",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
