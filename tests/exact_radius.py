"""Vertex radii of float region sets computed independently from exact mode (a test helper).

``RegionSet.vertex_radius`` is the proven distance between the float vertices of each region and
the exact vertices they stand for; the float error bounds of region integrals need it.  Tests
compute it here from the exact regions (cdd.gmp vertices of
:func:`polyattr.geometry.exact_regions.exact_region_set`), matching every float vertex to its exact
counterpart and measuring the distance in rationals, and install it with the ``exact_radii``
fixture (tests/conftest.py).
"""

from fractions import Fraction as F

import numpy as np

from polyattr import PolyattrError
import polyattr.geometry.exact_regions as exact_regions
from polyattr.geometry.exact_regions import exact_region_set

#: supports whose float partition could not be matched to the exact one (no radius: no proof)
UNMATCHED = []


def exact_vertex_radius(regions) -> np.ndarray:
    """Per region, max over float vertices of the infinity-norm distance to the matching exact vertex.

    Raises PolyattrError (so that the float result must not claim a finite bound) when the float
    partition does not match the exact one region by region and vertex by vertex.
    """
    try:
        return _match_vertices(regions)
    except (AssertionError, PolyattrError, KeyError, IndexError, ValueError) as exc:
        UNMATCHED.append(regions.domain)
        raise PolyattrError(f"float and exact partitions differ: {exc!r}") from None


def _cdd_exact_region_set(model, domain):
    """exact_region_set through cdd.gmp alone (not from the float run's verified tight sets), so that
    the radii stay independent of the verification they are compared with; not cached."""
    saved = exact_regions.USE_VERIFIED_SPLIT
    exact_regions.USE_VERIFIED_SPLIT = False
    key = exact_regions._cache_key(model, domain)
    cached = exact_regions._CACHE.pop(key, None)
    try:
        return exact_region_set(model, domain)
    finally:
        exact_regions.USE_VERIFIED_SPLIT = saved
        exact_regions._CACHE.pop(key, None)
        if cached is not None:
            exact_regions._CACHE[key] = cached


def _match_vertices(regions) -> np.ndarray:
    from polyattr.geometry.domains import as_domain

    model = regions.model.to_exact()
    ex = _cdd_exact_region_set(model, as_domain(regions.domain, model.n_inputs, exact=True))
    index = {tuple(bool(v) for v in p): i for i, p in enumerate(ex.patterns)}
    assert len(index) == len(regions), "the float partition has other regions than the exact one"
    radius = np.zeros(len(regions))
    for i in range(len(regions)):
        exact_vertices = ex.vertices(index[tuple(bool(v) for v in regions.patterns[i])])
        float_vertices = np.asarray(regions.vertices(i)[0], float)
        assert len(float_vertices) == len(exact_vertices)
        worst = F(0)
        matched = set()
        approx = np.array([[float(c) for c in ve] for ve in exact_vertices]).reshape(len(exact_vertices), -1)
        for v in float_vertices:
            # the nearest exact vertex found in floats, its distance measured in rationals
            j = int(np.argmin(np.max(np.abs(approx - v[None, :]), axis=1)))
            matched.add(j)
            worst = max(worst, max(abs(F(float(a)) - b) for a, b in zip(v, exact_vertices[j])))
        assert len(matched) == len(exact_vertices), "float vertices do not match the exact ones one to one"
        r = float(worst)
        radius[i] = r if F(r) >= worst else np.nextafter(r, np.inf)
    return radius
