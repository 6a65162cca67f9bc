"""The proven line kernel (attribution/line_batches.py) against exact rational integrals.

Independent reference: exact mode (rational enumeration of each line's regions and rational
integration) on dyadic networks, whose float form is the exact network.  The bound must hold also
when the float breakpoints are deliberately wrong (then only the Lipschitz part can cover the
error), and a batch must take its lines from the kernel (fewer enumerations) with every value
within its stated bound of the exact single call.
"""

from fractions import Fraction

import numpy as np
import pytest

from polyattr import ReLUNetwork, attribute
from polyattr.attribution import line_batches
from polyattr.attribution.integrals import Integrator
from polyattr.attribution.measure_methods import slice_measure
from polyattr.geometry.domains import as_domain


def _dyadic(x, bits=6):
    return np.round(np.asarray(x, float) * 2**bits) / 2**bits


def _network(d, hidden, seed, slope=0.0):
    rng = np.random.default_rng(seed)
    sizes = [d, *hidden, 1]
    W = [_dyadic(rng.normal(size=(sizes[i + 1], sizes[i]))) for i in range(len(sizes) - 1)]
    b = [_dyadic(rng.normal(size=sizes[i + 1]) * 0.5) for i in range(len(sizes) - 1)]
    slopes = None if slope == 0.0 else [np.full(n, slope) for n in hidden]
    return ReLUNetwork(W, b, negative_slopes=slopes)


def _exact_line_mean(net, lower, upper, x, axis):
    d = len(x)
    box = as_domain((list(map(Fraction, lower)), list(map(Fraction, upper))), d, exact=True)
    S = [i for i in range(d) if i != axis]
    value, _ = Integrator(net, 0, exact=True).integrate(slice_measure(box, [Fraction(float(v)) for v in x], S))
    return Fraction(value)


@pytest.mark.parametrize("d,hidden,slope", [(2, (8, 8), 0.0), (3, (6, 6, 4), 0.0), (3, (8,), 0.125)])
def test_line_means_within_bound_of_exact(d, hidden, slope):
    net = _network(d, hidden, 10 + d + len(hidden), slope).to_float()
    rng = np.random.default_rng(3)
    lower, upper = np.full(d, -1.0), np.full(d, 1.0)
    base = _dyadic(rng.uniform(-1, 1, size=(6, d)))
    for axis in range(d):
        mean, bound, unproven, fmax = line_batches.line_means(net, 0, base, axis, -1.0, 1.0)
        assert np.all(unproven <= bound)
        for q in range(len(base)):
            exact = _exact_line_mean(net, lower, upper, base[q], axis)
            assert abs(Fraction(float(mean[q])) - exact) <= Fraction(float(bound[q])), (axis, q)
            # meaningful: the gaps around the breakpoints cost ~1e-18 L, the rest is rounding
            assert bound[q] < 1e-11 * max(1.0, fmax[q])


def test_bound_holds_when_the_float_breakpoints_are_wrong(monkeypatch):
    """No breakpoints (or shifted ones): the intervals that bend are not proven affine, and the
    Lipschitz term must still cover the trapezoid's error."""
    net = _network(2, (8, 8), 7).to_float()
    base = _dyadic(np.random.default_rng(4).uniform(-1, 1, size=(5, 2)))
    true_breaks = line_batches.float_breakpoints(net, base, 0, -1.0, 1.0)
    for fake in ("none", "shifted"):
        if fake == "none":
            monkeypatch.setattr(line_batches, "float_breakpoints",
                                lambda *a, **k: (np.zeros(0, np.int64), np.zeros(0)))
        else:
            monkeypatch.setattr(line_batches, "float_breakpoints",
                                lambda *a, **k: (true_breaks[0], np.clip(true_breaks[1] + 0.01, -1.0, 1.0)))
        mean, bound, unproven, fmax = line_batches.line_means(net, 0, base, 0, -1.0, 1.0)
        assert np.any(unproven > line_batches.UNPROVEN_TOLERANCE * fmax)  # the proof noticed
        for q in range(len(base)):
            exact = _exact_line_mean(net, [-1.0, -1.0], [1.0, 1.0], base[q], 0)
            assert abs(Fraction(float(mean[q])) - exact) <= Fraction(float(bound[q]))


def test_breakpoints_match_a_brute_force_sign_scan():
    """The float breakpoints are where f bends: a dense scan of the activation pattern along each
    line changes exactly in the intervals that hold a breakpoint."""
    net = _network(3, (6, 6), 21).to_float()
    base = np.random.default_rng(5).uniform(0, 1, size=(4, 3))
    lines, ts = line_batches.float_breakpoints(net, base, 1, 0.0, 1.0)
    grid = np.linspace(0.0, 1.0, 20001)
    for q in range(len(base)):
        Z = np.repeat(base[q][None, :], len(grid), axis=0)
        Z[:, 1] = grid
        pats = net.activation_pattern(Z)
        changes = grid[1:][np.any(pats[1:] != pats[:-1], axis=1)]
        found = np.sort(ts[lines == q])
        for c in changes:  # every pattern change of the scan lies within one grid step of a breakpoint
            assert np.min(np.abs(found - c)) <= 1.0 / 20000 + 1e-12


@pytest.mark.parametrize("d", [3, 4])
def test_batch_shapley_uniform_lines_from_the_kernel(d, monkeypatch):
    net = _network(d, (6, 6), 30 + d)
    X = _dyadic(np.random.default_rng(d).uniform(size=(4, d)))
    X[0, 0] = 0.0  # a line on the box's face
    enumerated = []
    original = Integrator._enumerate

    def spy(self, domain, backend=None):
        enumerated.append(domain)
        return original(self, domain, backend)

    monkeypatch.setattr(Integrator, "_enumerate", spy)
    batch = attribute(net, X, "shapley_uniform")
    # every row's d lines come from the kernel: no enumeration of a domain with one free coordinate
    assert len(enumerated) == batch.info["enumerations"] - 1  # (the box is enumerated directly)
    assert all(len(getattr(dom, "fixed", {})) != d - 1 for dom in enumerated), enumerated
    assert batch.info["cuts"] >= d * len(X), batch.info
    bound = Fraction(float(batch.error_bound))
    assert np.isfinite(batch.error_bound) and batch.error_bound < 1e-8
    for i, x in enumerate(X):
        exact = attribute(net, [Fraction(float(v)) for v in x], "shapley_uniform", exact=True).values
        for j in range(d):
            assert abs(Fraction(float(batch.values[i][j])) - Fraction(exact[j])) <= bound
