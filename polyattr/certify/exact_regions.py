"""Re-export: exact region enumeration lives in :mod:`polyattr.geometry.exact_regions`."""

from polyattr.geometry.exact_regions import (  # noqa: F401
    ExactRegion,
    ExactRegionSet,
    TilingError,
    cached_exact_region_set,
    canonical_rows,
    clear_cache,
    exact_region_set,
)
