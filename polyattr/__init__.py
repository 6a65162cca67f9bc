"""polyattr: exact feature attributions of piecewise-affine models (ReLU networks).

The three entry points of the contract::

    model = polyattr.load_model("model.npz")
    regions = polyattr.enumerate_regions(model, domain)      # the linear regions
    result = polyattr.attribute(model, x, "shapley_uniform") # exact attribution

The public names are imported on first use (PEP 562), so ``import polyattr`` -- and with it every
start of the ``polyattr`` command -- loads no numerical machinery (numba kernels, scipy, sympy)
until a name that needs it is asked for.  ``from polyattr import X`` works as before.
"""

from __future__ import annotations

import importlib

from polyattr.errors import MemoryBudgetExceeded, PolyattrError, RegionBudgetExceeded, VolumeCostExceeded

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported when the name is first read).
_LAZY_EXPORTS = {
    "attribute": "polyattr.attribution.api",
    "AffineSlice": "polyattr.geometry.domains",
    "Box": "polyattr.geometry.domains",
    "Polytope": "polyattr.geometry.domains",
    "Segment": "polyattr.geometry.domains",
    "RegionSet": "polyattr.geometry.regions",
    "enumerate_regions": "polyattr.geometry.regions",
    "ReLUNetwork": "polyattr.models",
    "from_torch": "polyattr.models",
    "load_model": "polyattr.models",
    "random_network": "polyattr.models",
    "save_model": "polyattr.models",
}

#: Subpackages reachable as attributes (``polyattr.models.io``) without importing them by name,
#: as when this file imported them eagerly.
_SUBPACKAGES = frozenset({"attribution", "certify", "cli", "geometry", "integrate", "measures", "metrics", "models",
                          "optimize", "symbolic", "theory", "errors", "numbers", "numerics", "exact_linalg", "memory"})

__all__ = [
    "PolyattrError", "RegionBudgetExceeded", "MemoryBudgetExceeded", "VolumeCostExceeded", "ReLUNetwork", "load_model", "save_model", "from_torch",
    "random_network", "enumerate_regions", "RegionSet", "attribute", "Box", "Polytope", "AffineSlice", "Segment",
]


def __getattr__(name: str):
    module = _LAZY_EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later reads skip this hook
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | _SUBPACKAGES)
