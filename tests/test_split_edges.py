"""The split kernel's crossing-edge search (fast path for simple vertices, hash table of their
(d - 1)-subsets) against the plain definition, and the threaded levels against one run.

Reference: an edge of a cell in double description is a pair of vertices with >= d - 1 common tight
constraints and no third vertex tight on all of them (brute force over all pairs and vertices, in
Python); on true tight sets (the cells of a verified run) this is the polytope's edge relation.
"""

import numpy as np
import pytest

from polyattr import random_network
from polyattr.errors import RegionBudgetExceeded
from polyattr.geometry import splitting as S


def _bits(row):
    return {64 * w + b for w, word in enumerate(row) for b in range(64) if (int(word) >> b) & 1}


def _edges_by_definition(masks, pos, neg, d):
    sets = [_bits(m) for m in masks]
    out = []
    for ip, p in enumerate(pos):
        for iq, q in enumerate(neg):
            common = sets[p] & sets[q]
            if len(common) < d - 1:
                continue
            if any(common <= sets[v] for v in range(len(sets)) if v not in (p, q)):
                continue
            out.append(ip * len(neg) + iq)
    return out


def _edges_kernel(masks, pos, neg, d):
    masks = np.ascontiguousarray(masks, np.uint64)
    pc = np.array([len(_bits(m)) for m in masks], np.int64)
    common = np.zeros(masks.shape[1], np.uint64)
    codes, n = S._crossing_edges_hashed(masks, len(masks), masks.shape[1], d, np.asarray(pos, np.int64), len(pos),
                                         np.asarray(neg, np.int64), len(neg), pc, common)
    return codes[:n].tolist()


def _random_sides(k, rng):
    side = rng.integers(-1, 2, k)
    return np.flatnonzero(side > 0), np.flatnonzero(side < 0)


@pytest.mark.parametrize("d, hidden, seed, upper", [(3, [16, 16], 0, 1.0), (5, [16, 16], 1, 1.0), (8, [32, 32], 2026, 0.2)])
def test_hashed_edges_match_the_definition_on_true_tight_sets(d, hidden, seed, upper):
    net = random_network([d, *hidden, 1], rng=seed)
    res = S.split_enumerate(net.weights, net.biases, np.zeros(d), np.full(d, upper), compute_volumes=False)
    rng = np.random.default_rng(seed)
    checked = 0
    for r in rng.choice(res.n_regions, size=min(40, res.n_regions), replace=False):
        masks = res.region_masks(int(r))
        pos, neg = _random_sides(len(masks), rng)
        ref = _edges_by_definition(masks, pos, neg, d)
        assert _edges_kernel(masks, pos, neg, d) == ref
        checked += len(ref)
    assert checked > 0


def test_hashed_edges_match_the_definition_with_degenerate_vertices():
    # integer weights with repeated rows: vertices with more than d tight constraints
    rng = np.random.default_rng(7)
    d = 3
    W0 = rng.integers(-2, 3, (10, d)).astype(float)
    W0 = np.vstack([W0, W0[:3]])
    b0 = rng.integers(-1, 2, 13).astype(float)
    W1 = rng.integers(-2, 3, (8, 13)).astype(float)
    b1 = rng.integers(-1, 2, 8).astype(float)
    res = S.split_enumerate([W0, W1, np.ones((1, 8))], [b0, b1, np.zeros(1)], -np.ones(d), np.ones(d),
                            compute_volumes=False)
    degenerate = 0
    for r in range(res.n_regions):
        masks = res.region_masks(r)
        degenerate += sum(len(_bits(m)) > d for m in masks)
        pos, neg = _random_sides(len(masks), rng)
        assert _edges_kernel(masks, pos, neg, d) == _edges_by_definition(masks, pos, neg, d)
    assert degenerate > 0


def _digest(res):
    return [np.asarray(a).tobytes() for a in (res.patterns, res.vertices, res.vertex_masks, res.vertex_offsets)]


def test_levels_and_threads_give_one_runs_output(monkeypatch):
    net = random_network([4, 16, 16, 1], rng=5)
    args = (net.weights, net.biases, -np.ones(4), np.ones(4))
    ref = S.split_enumerate(*args, workers=1, compute_volumes=False)
    for first_units in (0, 1, 5, 16):  # frontiers inside and at the end of the first layer
        monkeypatch.setattr(S, "_FIRST_UNITS", first_units)
        for workers in (1, 2, 3):
            assert _digest(S.split_enumerate(*args, workers=workers, compute_volumes=False)) == _digest(ref)


def test_shared_budget_stops_every_thread_over_budget(monkeypatch):
    monkeypatch.setattr(S, "_SHARED_CHUNK", 50)
    net = random_network([4, 16, 16, 1], rng=5)
    args = (net.weights, net.biases, -np.ones(4), np.ones(4))
    n = S.split_enumerate(*args, compute_volumes=False).n_regions
    for workers in (1, 2):
        assert S.split_enumerate(*args, max_regions=n, workers=workers, compute_volumes=False).n_regions == n
        with pytest.raises(RegionBudgetExceeded) as exc:
            S.split_enumerate(*args, max_regions=n - 1, workers=workers, compute_volumes=False)
        assert n - 1 < exc.value.found <= n
        with pytest.raises(RegionBudgetExceeded) as exc:
            S.split_enumerate(*args, max_regions=n // 10, workers=workers, compute_volumes=False)
        assert n // 10 < exc.value.found <= n
