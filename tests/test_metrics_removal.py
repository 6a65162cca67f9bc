"""Removal metrics against brute force written out here and closed forms on affine models."""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest

from polyattr import attribute
from polyattr.errors import PolyattrError
from polyattr.metrics import (completeness_gap, deletion_aopc, faithfulness_correlation, insertion_aopc, recall_at_k,
                              sensitivity_n)
from polyattr.models.relu import ReLUNetwork

F = Fraction


def dyadic_network(rng, sizes, denom=8, scale=8):
    Ws = [rng.integers(-scale, scale + 1, size=(o, i)) / denom for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.integers(-scale, scale + 1, size=o) / (2 * denom) for o in sizes[1:]]
    return ReLUNetwork(Ws, bs)


def affine_network(w, b):
    w = np.asarray(w, float)
    return ReLUNetwork([np.vstack([w, -w]), np.array([[1.0, -1.0]])], [np.zeros(2), np.array([b])])


def brute_correlation(net, x, base, phi, size):
    """Pearson correlation over all subsets of ``size`` (numpy, from exact drops)."""
    enet = net.to_exact()
    fx = enet(x, output=0)
    sums, drops = [], []
    for S in combinations(range(len(x)), size):
        z = [base[j] if j in S else x[j] for j in range(len(x))]
        drops.append(float(fx - enet(z, output=0)))
        sums.append(float(sum(phi[j] for j in S)))
    return float(np.corrcoef(sums, drops)[0, 1])


def test_faithfulness_correlation_matches_all_subsets():
    rng = np.random.default_rng(0)
    net = dyadic_network(rng, [5, 8, 1])
    x = [F(1, 2), F(3, 4), F(1, 8), F(7, 8), F(5, 8)]
    base = [F(0)] * 5
    phi = [F(1, 3), F(-1, 2), F(2), F(1, 5), F(-3, 4)]
    for size in (1, 2, 3):
        ref = brute_correlation(net, x, base, phi, size)
        ex = faithfulness_correlation(net, x, phi, subset_size=size, exact=True)
        fl = faithfulness_correlation(net, [float(v) for v in x], [float(v) for v in phi], subset_size=size)
        assert ex.kind == "deterministic" and ex.n_samples is None
        assert abs(ex.value - ref) <= ex.error_bound + 1e-13
        assert abs(fl.value - ref) <= fl.error_bound + 1e-13
        assert fl.info["subsets"] == len(list(combinations(range(5), size)))


def test_faithfulness_correlation_sampled_is_seeded_and_covers_the_exact_value():
    rng = np.random.default_rng(1)
    net = dyadic_network(rng, [10, 12, 1])
    x = rng.uniform(0, 1, 10)
    phi = attribute(net, x, "ig", baseline=np.zeros(10)).values
    exact = faithfulness_correlation(net, x, phi, subset_size=5)  # 252 subsets, all of them
    a = faithfulness_correlation(net, x, phi, subset_size=5, max_subsets=100, n_samples=3000, rng=7)
    b = faithfulness_correlation(net, x, phi, subset_size=5, max_subsets=100, n_samples=3000, rng=7)
    assert a.kind == "sampled" and a.seed == 7 and a.n_samples == 3000 and a.value == b.value
    assert abs(a.value - exact.value) <= a.error_bound * 5 / 3


def test_affine_model_closed_forms():
    w = [F(1, 2), F(-3, 4), F(2), F(1, 8)]
    net = affine_network([float(v) for v in w], 0.5)
    x = [F(1, 4), F(1, 2), F(3, 4), F(1)]
    base = [F(1, 8)] * 4
    phi = attribute(net, x, "ig", baseline=base, exact=True).values
    assert list(phi) == [wj * (xj - bj) for wj, xj, bj in zip(w, x, base)]  # IG of an affine model
    # every drop equals the sum of phi over the removed features: correlation 1 at every size
    fc = faithfulness_correlation(net, x, phi, baseline=base, subset_size=2, exact=True)
    assert abs(fc.value - 1) <= fc.error_bound
    sn = sensitivity_n(net, x, phi, baseline=base, exact=True)
    assert all(abs(v - 1) <= 1e-15 for v in sn.info["curve"].values())
    gap = completeness_gap(net, x, phi, baseline=base, exact=True)
    assert gap.exact and gap.value == 0
    # deletion: f(x) - f(deleted_k) is the sum of the k largest phi (sorted descending)
    order = sorted(range(4), key=lambda j: (-phi[j], j))
    partial = [sum((phi[j] for j in order[:k]), F(0)) for k in range(5)]
    assert deletion_aopc(net, x, phi, baseline=base, exact=True).value == sum(partial) / 5
    assert insertion_aopc(net, x, phi, baseline=base, exact=True).value == sum(partial) / 5


def test_deletion_insertion_and_gap_match_brute_force_on_a_network():
    rng = np.random.default_rng(2)
    net = dyadic_network(rng, [4, 8, 8, 1])
    enet = net.to_exact()
    x = [F(1, 2), F(1, 4), F(7, 8), F(3, 8)]
    base = [F(1, 16), F(0), F(1, 2), F(0)]
    phi = [F(1), F(-2), F(1), F(1, 2)]  # a tie between features 0 and 2: the lower index first
    order = [0, 2, 3, 1]
    dele, ins = [], []
    for k in range(5):
        top = set(order[:k])
        dele.append(enet(x, output=0) - enet([base[j] if j in top else x[j] for j in range(4)], output=0))
        ins.append(enet([x[j] if j in top else base[j] for j in range(4)], output=0) - enet(base, output=0))
    d = deletion_aopc(net, x, phi, baseline=base, exact=True)
    i = insertion_aopc(net, x, phi, baseline=base, exact=True)
    assert d.info["order"] == order and d.value == sum(dele) / 5 and i.value == sum(ins) / 5
    fd = deletion_aopc(net, [float(v) for v in x], [float(v) for v in phi], baseline=[float(v) for v in base])
    assert abs(fd.value - float(d.value)) <= fd.error_bound
    gap = completeness_gap(net, x, phi, baseline=base, exact=True)
    assert gap.value == abs(sum(phi) - (enet(x, output=0) - enet(base, output=0)))
    fg = completeness_gap(net, [float(v) for v in x], [float(v) for v in phi], baseline=[float(v) for v in base])
    assert abs(fg.value - float(gap.value)) <= fg.error_bound


def test_recall_at_k_and_ties():
    r = recall_at_k([0.1, -3.0, 0.5, 2.0], ground_truth=[1, 2])
    assert r.value == F(1, 2) and r.info["top_k"] == [1, 3] and r.exact
    assert recall_at_k([0.1, -3.0, 0.5, 2.0], ground_truth=[1, 2], k=3).value == 1
    tie = recall_at_k([1.0, 1.0, 0.0], ground_truth=[1], k=1)
    assert tie.value == 0 and tie.info["tie_at_k"]
    with pytest.raises(PolyattrError, match="ground_truth"):
        recall_at_k([1.0, 2.0], ground_truth=[5])


def test_undefined_correlation_is_reported_not_nan():
    net = dyadic_network(np.random.default_rng(3), [1, 4, 1])
    res = faithfulness_correlation(net, [0.5], [1.0], subset_size=1)
    assert res.value is None and res.kind == "undefined" and "subsets" in res.info["reason"]
    with pytest.raises(PolyattrError, match="subset_size"):
        faithfulness_correlation(net, [0.5], [1.0], subset_size=2)
