"""polyattr: exact feature attributions of piecewise-affine models (ReLU networks).

The three entry points of the contract::

    model = polyattr.load_model("model.npz")
    regions = polyattr.enumerate_regions(model, domain)      # the linear regions
    result = polyattr.attribute(model, x, "shapley_uniform") # exact attribution
"""

from polyattr.attribution.api import attribute
from polyattr.errors import MemoryBudgetExceeded, PolyattrError, RegionBudgetExceeded
from polyattr.geometry.domains import AffineSlice, Box, Polytope, Segment
from polyattr.geometry.regions import RegionSet, enumerate_regions
from polyattr.models import ReLUNetwork, from_torch, load_model, random_network, save_model

__version__ = "0.1.0"


__all__ = [
    "PolyattrError", "RegionBudgetExceeded", "MemoryBudgetExceeded", "ReLUNetwork", "load_model", "save_model", "from_torch",
    "random_network", "enumerate_regions", "RegionSet", "attribute", "Box", "Polytope", "AffineSlice", "Segment",
]
