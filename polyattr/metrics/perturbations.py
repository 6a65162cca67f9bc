"""Perturbation distributions of the infidelity and sensitivity metrics, and seeded randomness.

* :class:`UniformBox` -- I (or delta) uniform on the box [-r, r]^d (per-feature half-widths
  allowed), the default with r = 0.1.  The model is evaluated at x - I (x + delta) *without*
  clipping to the domain.  Exact: the metrics are polytope integrals of polynomials of degree <= 2
  over the linear regions of the box around x.
* :class:`SubsetMask` -- I = S * (x - baseline) for a random subset S of the features (each feature
  kept independently with probability p, or all subsets of one size equally likely): x - I replaces
  the features of S by the baseline's.  Exact by enumerating the subsets while their number is
  within ``max_subsets``; seeded sampling beyond.
* :class:`PerturbationSamples` -- user-supplied draws I_1..I_n: the metric of their empirical law.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np

from polyattr.errors import PolyattrError
from polyattr.geometry.domains import as_vector
from polyattr.numbers import to_fraction

DEFAULT_RADIUS = Fraction(1, 10)
DEFAULT_MAX_SUBSETS = 1 << 16


def normalise_rng(rng):
    """(Generator, seed) from an ``rng`` argument: an int seed, a Generator, or None.

    With None a fresh seed is drawn from the operating system and reported, so that every sampled
    result can be reproduced; with a Generator the seed is unknown (None).
    """
    if isinstance(rng, np.random.Generator):
        return rng, None
    if rng is None:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
        return np.random.default_rng(seed), seed
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and int(rng) >= 0:
        return np.random.default_rng(int(rng)), int(rng)
    raise PolyattrError(f"rng: expected a non-negative integer seed, a numpy Generator or None, got {rng!r}")


def half_widths(radius, d: int, exact: bool) -> np.ndarray:
    """The box half-widths as a vector of length d (Fractions when exact), each > 0."""
    r = DEFAULT_RADIUS if radius is None else radius
    try:
        if np.ndim(r) == 0 and not isinstance(r, str):
            r = [r] * d
        r = as_vector(r, "radius", length=d, exact=True)
    except PolyattrError as exc:
        raise PolyattrError(f"radius: expected a positive number or {d} positive numbers ({exc})") from None
    if not all(ri > 0 for ri in r):
        raise PolyattrError(f"radius: expected positive half-widths, got {[str(v) for v in r]}")
    return r if exact else np.array([float(v) for v in r])


class UniformBox:
    """I uniform on [-r, r]^d (``radius`` a number or one half-width per feature)."""

    name = "uniform_box"

    def __init__(self, radius=DEFAULT_RADIUS):
        self.radius = radius

    def half_widths(self, d: int, exact: bool) -> np.ndarray:
        return half_widths(self.radius, d, exact)

    def describe(self, d: int) -> dict:
        return {"kind": self.name, "radius": [str(to_fraction(v)) for v in half_widths(self.radius, d, True)]}

    def sample(self, rng, n: int, d: int) -> np.ndarray:
        r = self.half_widths(d, exact=False)
        return rng.uniform(-r, r, size=(n, d))


class SubsetMask:
    """I = S * (x - baseline), S a random subset of the features.

    Parameters
    ----------
    baseline : array-like (d,), optional
        The values removed features take (default 0).
    probability : number, optional
        Each feature is in S independently with this probability (default 1/2: every subset equally
        likely).  Exclusive with ``subset_size``.
    subset_size : int, optional
        S uniform over the subsets of exactly this size.
    max_subsets : int
        Enumerate the subsets (exact) when there are at most this many; sample beyond.
    """

    name = "subset_mask"

    def __init__(self, baseline=None, probability=None, subset_size=None, max_subsets=DEFAULT_MAX_SUBSETS):
        if probability is not None and subset_size is not None:
            raise PolyattrError("subset mask: give probability or subset_size, not both")
        if probability is None and subset_size is None:
            probability = Fraction(1, 2)
        if probability is not None:
            try:
                probability = to_fraction(probability)
            except (TypeError, ValueError):
                raise PolyattrError(f"probability: expected a number in [0, 1], got {probability!r}") from None
            if not 0 <= probability <= 1:
                raise PolyattrError(f"probability: expected a number in [0, 1], got {probability}")
        if subset_size is not None and (not isinstance(subset_size, (int, np.integer)) or subset_size < 0):
            raise PolyattrError(f"subset_size: expected a non-negative integer, got {subset_size!r}")
        if not isinstance(max_subsets, (int, np.integer)) or max_subsets < 1:
            raise PolyattrError(f"max_subsets: expected a positive integer, got {max_subsets!r}")
        self.baseline, self.probability, self.subset_size, self.max_subsets = baseline, probability, subset_size, int(max_subsets)

    def baseline_vector(self, d: int, exact: bool) -> np.ndarray:
        if self.baseline is None:
            return np.array([Fraction(0)] * d, dtype=object) if exact else np.zeros(d)
        return as_vector(self.baseline, "baseline", length=d, exact=exact)

    def count(self, d: int) -> int:
        """Number of subsets with positive probability."""
        if self.subset_size is not None:
            return comb(d, self.subset_size) if self.subset_size <= d else 0
        if self.probability in (0, 1):
            return 1
        return 1 << d

    def describe(self, d: int) -> dict:
        out = {"kind": self.name}
        if self.subset_size is not None:
            out["subset_size"] = int(self.subset_size)
        else:
            out["probability"] = str(self.probability)
        return out

    def enumerate(self, d: int, exact: bool):
        """All masks (m, d) bool with positive probability and their probabilities (sum 1)."""
        if self.subset_size is not None:
            if self.subset_size > d:
                raise PolyattrError(f"subset_size: {self.subset_size} is larger than the {d} features")
            from itertools import combinations

            masks = np.zeros((comb(d, self.subset_size), d), dtype=bool)
            for i, S in enumerate(combinations(range(d), self.subset_size)):
                masks[i, list(S)] = True
            p = Fraction(1, len(masks))
            probs = [p] * len(masks)
        else:
            p = self.probability
            if p in (0, 1):
                masks = np.full((1, d), bool(p))
                probs = [Fraction(1)]
            else:
                masks = ((np.arange(1 << d)[:, None] >> np.arange(d)[None, :]) & 1).astype(bool)
                sizes = masks.sum(axis=1)
                probs = [p ** int(s) * (1 - p) ** (d - int(s)) for s in sizes]
        if exact:
            return masks, np.array(probs, dtype=object)
        return masks, np.array([float(q) for q in probs])

    def sample(self, rng, n: int, d: int) -> np.ndarray:
        """n random masks (n, d) bool."""
        if self.subset_size is not None:
            if self.subset_size > d:
                raise PolyattrError(f"subset_size: {self.subset_size} is larger than the {d} features")
            keys = rng.random((n, d))
            order = np.argsort(keys, axis=1)[:, : self.subset_size]
            masks = np.zeros((n, d), dtype=bool)
            np.put_along_axis(masks, order, True, axis=1)
            return masks
        return rng.random((n, d)) < float(self.probability)


class PerturbationSamples:
    """User-supplied perturbations I_1..I_n (rows of an (n, d) array): their empirical law."""

    name = "samples"

    def __init__(self, samples):
        arr = np.asarray(samples, dtype=object)
        if arr.ndim != 2 or arr.shape[0] == 0:
            raise PolyattrError(f"samples: expected an array of shape (n, d) with n >= 1, got shape {arr.shape}")
        try:
            self.samples_exact = np.array([[to_fraction(v) for v in row] for row in arr], dtype=object)
        except (TypeError, ValueError):
            raise PolyattrError("samples: expected finite numbers") from None
        self.samples = np.array([[float(v) for v in row] for row in self.samples_exact], dtype=float)

    def describe(self, d: int) -> dict:
        return {"kind": self.name, "n": int(self.samples.shape[0])}


def as_perturbation(perturbation, radius=None):
    """Normalise a ``perturbation`` argument: None (uniform box of ``radius``), "uniform_box",
    "subset_mask", an array of samples, or one of the classes above."""
    if perturbation is None or (isinstance(perturbation, str) and perturbation == "uniform_box"):
        return UniformBox(DEFAULT_RADIUS if radius is None else radius)
    if isinstance(perturbation, str):
        if perturbation == "subset_mask":
            return SubsetMask()
        raise PolyattrError(f"perturbation: expected 'uniform_box', 'subset_mask', samples or a perturbation object, got {perturbation!r}")
    if isinstance(perturbation, (UniformBox, SubsetMask, PerturbationSamples)):
        return perturbation
    return PerturbationSamples(perturbation)
