"""Sub-box enumeration and batches on a dask LocalCluster (2 worker processes) against local runs.

The references are independent of the distributed code path: the ordinary single-process
enumeration (pattern sets, volumes, centroids), the exact enumeration of the whole box (Fraction
volumes and first moments), and the ordinary batch ``attribute``.
"""

from fractions import Fraction

import numpy as np
import pytest

import polyattr
from polyattr.geometry.distributed import box_integral, enumerate_regions_distributed, split_box
from polyattr.geometry.exact_regions import exact_region_set
from polyattr.models import random_network
from polyattr.models.relu import pattern_key


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def _net(d, hidden, seed):
    return random_network([d, *hidden, 1], rng=np.random.default_rng(seed))


def _by_pattern(regions):
    return {pattern_key(p): i for i, p in enumerate(regions.patterns)}


def test_split_box_tiles_exactly():
    box = polyattr.Box([Fraction(-1), 0], [Fraction(1, 3), 2], exact=True)
    parts = split_box(box, 6)
    assert len(parts) >= 6
    assert sum((p.volume for p in parts), start=Fraction(0)) == box.volume


def test_dask_partition_equals_local(client):
    net = _net(3, [10, 8], 1)
    local = polyattr.enumerate_regions(net, (-np.ones(3), np.ones(3)))
    dist = polyattr.enumerate_regions(net, (-np.ones(3), np.ones(3)), client=client, pieces=8)
    L, D = _by_pattern(local), _by_pattern(dist)
    assert len(D) == len(dist)  # every pattern once
    assert set(L) == set(D)
    for key, i in L.items():
        j = D[key]
        assert abs(local.volumes[i] - dist.volumes[j]) <= 1e-12
        assert np.allclose(local.centroids[i], dist.centroids[j], atol=1e-10, rtol=0)
        # the merged interior point lies in the region: its pattern is the region's
        assert pattern_key(net.activation_pattern(dist.interior_points[j])) == key
    assert abs(dist.total_volume - 8.0) <= 1e-12
    # every sub-box run was verified in its worker process, so the merge is proven
    assert local.proven and dist.proven


def test_dask_exact_partition_equals_exact_local(client):
    net = _net(2, [6, 5], 3).to_exact()
    whole = exact_region_set(net, polyattr.Box([0, 0], [1, 1], exact=True))
    dist = enumerate_regions_distributed(net, None, client=client, pieces=4, exact=True)
    ref = {pattern_key(r.pattern): r for r in whole.regions}
    got = {pattern_key(p): i for i, p in enumerate(dist.patterns)}
    assert set(ref) == set(got) and len(got) == len(dist)
    for key, r in ref.items():
        i = got[key]
        assert dist.volumes[i] == r.volume
        assert list(dist.first_moments[i]) == list(r.first_moment)
    assert dist.total_volume == 1


def test_streamed_box_integral_equals_monte_carlo_free_reference(client):
    net = _net(3, [8, 8], 5)
    local = polyattr.enumerate_regions(net)
    W, b = local.affine_maps()
    m0, m1, _ = local.moments(1)
    reference = np.einsum("nod,nd->o", W, m1) + b.T @ m0
    streamed = box_integral(net, client=client, pieces=8)
    assert np.allclose(streamed.integral, reference, atol=1e-12, rtol=0)
    assert streamed.region_pieces >= len(local)
    assert streamed.proven


@pytest.mark.parametrize("method", ["shapley_uniform", "ig"])
def test_dask_batch_equals_local_batch(client, method, exact_radii):
    import os

    tests_dir = os.path.dirname(os.path.abspath(__file__))

    def install(on: bool):
        # the workers' float region integrals state proven bounds with the exact radii too
        import sys

        from polyattr.geometry.regions import RegionSet
        if not on:
            if "_saved_radius" in RegionSet.__dict__:
                saved = RegionSet.__dict__["_saved_radius"]
                del RegionSet._saved_radius
                if saved is None:
                    del RegionSet.vertex_radius
                else:
                    RegionSet.vertex_radius = saved
            return
        if tests_dir not in sys.path:
            sys.path.insert(0, tests_dir)
        from exact_radius import exact_vertex_radius
        RegionSet._saved_radius = RegionSet.__dict__.get("vertex_radius")
        RegionSet.vertex_radius = property(exact_vertex_radius)

    net = _net(3, [6, 5], 7)
    X = np.random.default_rng(0).uniform(size=(5, 3))
    local = polyattr.attribute(net, X, method)
    client.run(install, True)
    try:
        dist = polyattr.attribute(net, X, method, client=client)
    finally:
        client.run(install, False)
    assert dist.values.shape == (5, 3)
    # chunks cut their slices from their own box partitions: float results agree within the stated bounds
    assert np.all(np.abs(dist.values - local.values) <= dist.error_bound + local.error_bound)
    assert dist.error_bound < 1e-10
    assert dist.info["chunks"] >= 2


def test_dask_exact_batch_equals_local_exact(client):
    net = _net(2, [5, 4], 9)
    X = [[Fraction(1, 3), Fraction(1, 2)], [Fraction(1, 5), Fraction(3, 4)], [Fraction(2, 3), Fraction(1, 7)]]
    local = polyattr.attribute(net, X, "pdp", exact=True)
    dist = polyattr.attribute(net, X, "pdp", exact=True, client=client)
    assert dist.exact and all(isinstance(v, Fraction) for v in dist.values.ravel())
    assert (dist.values == local.values).all()


def test_cli_regions_and_attribute_join_a_scheduler(client, tmp_path, capsys):
    import json

    from polyattr.cli import main

    net = _net(2, [6, 6], 11)
    path = tmp_path / "net.npz"
    polyattr.save_model(net, path)
    address = client.scheduler.address
    assert main(["regions", str(path), "--json", "--scheduler", address]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["regions"] == len(polyattr.enumerate_regions(net)) and "dask" in got["backend"]
    X = np.random.default_rng(1).uniform(size=(4, 2))
    np.save(tmp_path / "X.npy", X)
    assert main(["attribute", str(path), "--x-file", str(tmp_path / "X.npy"), "--method", "pdp", "--json",
                 "--scheduler", address]) == 0
    values = np.array(json.loads(capsys.readouterr().out)["values"], dtype=float)
    local = polyattr.attribute(net, X, "pdp")
    assert np.all(np.abs(values - local.values) <= 2 * local.error_bound + 1e-15)


def test_cli_workers_must_be_positive(capsys):
    from polyattr.cli import main

    assert main(["regions", str(polyattr.models.io.default_model_path()), "--workers", "0"]) == 2
    assert capsys.readouterr().err.startswith("polyattr: error: --workers")
