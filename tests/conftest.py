"""Shared fixtures."""

import pytest

from exact_radius import exact_vertex_radius
from polyattr.geometry.regions import RegionSet


@pytest.fixture
def exact_radii(monkeypatch):
    """RegionSet.vertex_radius computed from exact mode (an independent computation), so that float
    region integrals can state their proven error bound."""
    monkeypatch.setattr(RegionSet, "vertex_radius", property(exact_vertex_radius), raising=False)
