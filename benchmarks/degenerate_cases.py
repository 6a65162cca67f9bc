"""Degenerate networks and boxes (the fuzz benchmark's generator; the test suite has hypothesis twins).

Every family makes floats decide signs that are exactly 0: integer and dyadic weights (coincident
hyperplanes, vertices where several meet), duplicated and parallel neurons, hyperplanes through
box corners and through one common point x, 1-input networks, leaky-ReLU and identity units,
and boxes from tiny (2^-30) to huge (2^40, 1e20) at or away from the origin.
"""

from __future__ import annotations

import numpy as np

from polyattr import ReLUNetwork

FAMILIES = ("integer", "dyadic", "duplicated", "corners", "through_x", "one_input", "leaky", "scaled")


def _integer_layers(rng, sizes):
    Ws = [rng.integers(-2, 3, size=(o, i)).astype(float) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.integers(-1, 2, size=o).astype(float) for o in sizes[1:]]
    return Ws, bs


def degenerate_case(rng, family: str | None = None):
    """(family, network, lower, upper) for one random case of ``family`` (random family when None)."""
    rng = np.random.default_rng(rng)
    family = family or FAMILIES[int(rng.integers(len(FAMILIES)))]
    d = 1 if family == "one_input" else int(rng.integers(1, 4))
    depth = int(rng.integers(1, 3))
    sizes = [d] + [int(rng.integers(1, 5)) for _ in range(depth)] + [1]
    Ws, bs = _integer_layers(rng, sizes)
    lower = rng.integers(-2, 1, size=d).astype(float)
    upper = lower + rng.integers(1, 3, size=d)
    if family == "dyadic":
        Ws = [W / 4 + rng.integers(-1, 2, size=W.shape) / 8 for W in Ws]
        bs = [b / 2 + rng.integers(-1, 2, size=b.shape) / 16 for b in bs]
        lower, upper = lower / 2, upper / 2
    elif family == "duplicated":
        W, b = Ws[0], bs[0]
        i = int(rng.integers(W.shape[0]))
        factor = float(rng.choice([1.0, 2.0, -1.0, 0.5]))
        shift = float(rng.choice([0.0, 0.0, 1.0, -0.5]))
        Ws[0] = np.vstack([W, factor * W[i]])
        bs[0] = np.r_[b, factor * b[i] + shift]
        Ws[1] = np.hstack([Ws[1], rng.integers(-2, 3, size=(Ws[1].shape[0], 1)).astype(float)])
    elif family == "corners":
        corner = np.where(rng.integers(0, 2, size=d).astype(bool), upper, lower)
        bs[0] = -(Ws[0] @ corner)
    elif family == "through_x":
        x = lower + (upper - lower) * rng.integers(0, 5, size=d) / 4
        bs[0] = -(Ws[0] @ x)
    elif family == "scaled":
        exponent = float(rng.choice([-30, -12, 12, 40]))
        scale = 2.0**exponent if rng.integers(2) else 10.0 ** np.sign(exponent) * 10.0 ** min(abs(exponent) // 2, 20)
        centre = rng.integers(-1, 2, size=d).astype(float) * (0 if rng.integers(2) else 1)
        lower = centre - scale
        upper = centre + scale
    slopes = None
    if family == "leaky":
        slopes = [rng.choice([0.0, 0.25, 0.5, 1.0, 2.0], size=len(b)) for b in bs[:-1]]
    return family, ReLUNetwork(Ws, bs, negative_slopes=slopes), lower, upper
