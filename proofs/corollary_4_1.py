#!/usr/bin/env python
"""Corollary 4.1 (THEORY.md §4.1): for a ReLU network and a measure mu,

    integral of f d(mu) = sum over the linear regions P of  w_P . m1(P) + b_P m0(P).

Run: ``python proofs/corollary_4_1.py``. Prints a table and exits non-zero if a claim fails.

On many random networks (2 to 4 inputs, one to three hidden layers) and several kinds of measure
(uniform on a box, uniform on an affine slice, uniform on a segment, products of polynomial
densities, a polynomial density times a point mass, and a signed combination with a Dirac), the
script

1. enumerates the regions of f on the measure's support with polyattr, asks the measure for its
   region moments m0, m1, and forms the region sum itself (the right-hand side above);
2. checks that the region masses add up to the measure's total mass (the regions tile the support);
3. checks that the library's integrator (:class:`polyattr.attribution.integrals.Integrator`) gives
   the same number within its error bound;
4. compares with an independent Monte Carlo estimate (its own numpy forward pass; samples drawn
   from the normalised density, by rejection for polynomial factors): the exact value must lie in
   the 5-sigma interval.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from polyattr.attribution.integrals import Integrator
from polyattr.geometry.domains import AffineSlice, Box, Segment
from polyattr.geometry.regions import enumerate_regions
from polyattr.measures import Dirac, PointPiece, ProductDensity, Uniform
from polyattr.models.io import random_network

FAILURES: list[str] = []
MC_SAMPLES = 40_000
SIGMAS = 5.0
NETWORKS_PER_DIM = {2: 6, 3: 4, 4: 3}  # 13 networks, 91 integrals


def claim(ok: bool, message: str) -> None:
    if not ok:
        FAILURES.append(message)
        print(f"  CLAIM FAILED: {message}")


def forward(net, Z):
    h = np.atleast_2d(Z)
    for W, b in zip(net.weights[:-1], net.biases[:-1]):
        h = np.maximum(h @ W.T + b, 0.0)
    return (h @ net.weights[-1].T + net.biases[-1])[:, 0]


# ------------------------------------------------------------------------- polyattr: region sums
def region_sum(net, measure):
    """(value, number of regions, largest relative tiling defect): Corollary 4.1 written out."""
    value, n_regions, defect = 0.0, 0, 0.0
    for coef, piece in measure.terms:
        if isinstance(piece, PointPiece):  # a point mass needs no regions
            value += float(coef) * float(piece.weights.astype(float) @ forward(net, piece.points.astype(float)))
            continue
        regions = enumerate_regions(net, piece.domain)
        m0, m1, _ = piece.region_moments(regions, order=1)
        W, b = regions.affine_maps(0)
        value += float(coef) * float(np.sum(np.einsum("nd,nd->n", W, np.asarray(m1, float)) + b * np.asarray(m0, float)))
        n_regions += len(regions)
        mass = float(piece.total_mass)
        defect = max(defect, abs(float(np.sum(np.asarray(m0, float))) - mass) / max(abs(mass), 1e-300))
    return value, n_regions, defect


# ----------------------------------------------------------------------- independent Monte Carlo
def sample_polynomial(rng, coeffs, lo, hi, n):
    """Samples of the density proportional to sum_k c_k t^k (>= 0) on [lo, hi], by rejection."""
    bound = sum(abs(c) * max(abs(lo), abs(hi)) ** k for k, c in enumerate(coeffs))
    out = np.empty(0)
    while out.size < n:
        t = rng.uniform(lo, hi, size=2 * n)
        p = sum(c * t**k for k, c in enumerate(coeffs))
        out = np.concatenate([out, t[rng.random(2 * n) * bound < p]])
    return out[:n]


def independent_mass(piece) -> float:
    """The piece's total mass from its description, recomputed here (not ``piece.total_mass``).

    Uniform pieces: their ``mass``.  Product densities: the product of the one-dimensional integrals
    of the polynomial factors (densities with respect to Lebesgue measure); the other free
    coordinates are uniform probabilities and contribute 1.
    """
    if not piece.polynomials:
        return float(piece.mass)
    dom = piece.domain
    box = dom.box if isinstance(dom, AffineSlice) else dom
    fixed = dom.fixed if isinstance(dom, AffineSlice) else {}
    free = [i for i in range(box.dim) if i not in fixed]
    total = 1.0
    for c, i in enumerate(free):
        lo, hi = float(box.lower[i]), float(box.upper[i])
        if c in piece.polynomials:
            total *= sum(float(a) * (hi ** (k + 1) - lo ** (k + 1)) / (k + 1) for k, a in enumerate(piece.polynomials[c]))
    return total


def mc_piece(rng, net, piece, n):
    """(estimate, standard error) of the integral of f against one piece, from samples."""
    if isinstance(piece, PointPiece):
        return float(piece.weights.astype(float) @ forward(net, piece.points.astype(float))), 0.0
    dom = piece.domain
    mass = independent_mass(piece)
    if isinstance(dom, Segment):
        t = rng.random(n)
        Z = dom.start.astype(float)[None, :] + t[:, None] * (dom.end - dom.start).astype(float)[None, :]
    else:
        box = dom.box if isinstance(dom, AffineSlice) else dom
        fixed = dom.fixed if isinstance(dom, AffineSlice) else {}
        free = [i for i in range(box.dim) if i not in fixed]
        polys = piece.polynomials or {}
        Z = np.empty((n, box.dim))
        for i in range(box.dim):
            lo, hi = float(box.lower[i]), float(box.upper[i])
            if i in fixed:
                Z[:, i] = float(fixed[i])
            elif free.index(i) in polys:
                Z[:, i] = sample_polynomial(rng, [float(c) for c in polys[free.index(i)]], lo, hi, n)
            else:
                Z[:, i] = rng.uniform(lo, hi, size=n)
    v = forward(net, Z)
    return mass * float(v.mean()), abs(mass) * float(v.std(ddof=1)) / np.sqrt(n)


def monte_carlo(rng, net, measure, n=MC_SAMPLES):
    est, var = 0.0, 0.0
    for coef, piece in measure.terms:
        e, s = mc_piece(rng, net, piece, n)
        est += float(coef) * e
        var += (float(coef) * s) ** 2
    return est, np.sqrt(var)


# ------------------------------------------------------------------------------------ the cases
def measures_for(rng, d):
    """Named measures on boxes in R^d (densities kept >= 0 by positive boxes and coefficients).

    The product densities put polynomial factors on coordinates 0 and 1 only: polyattr's exact
    polynomial integration over a region costs a triangulation and a sum over monomials of the
    product density, which grows fast with the degree (a degree-2 factor on each of 4 coordinates
    takes about a minute for ten regions); the other coordinates are uniform probabilities.
    """
    unit = Box(np.zeros(d), np.ones(d))
    wide = Box(np.array([-1.0, 0.0, 0.5, -0.5][:d]), np.array([1.0, 2.0, 1.0, 1.5][:d]))
    positive = Box(np.array([0.0, 0.5, 0.0, 1.0][:d]), np.array([2.0, 1.5, 2.0, 1.5][:d]))
    v = float(rng.uniform(0.5, 1.5))
    a = wide.lower + (wide.upper - wide.lower) * rng.random(d)
    b = wide.lower + (wide.upper - wide.lower) * rng.random(d)
    degree = 2 if d == 2 else 1  # keeps the exact polynomial integration of d >= 3 cheap
    polys = {i: tuple(float(c) for c in rng.integers(0, 4, size=degree + 1) + np.eye(degree + 1)[0]) for i in range(d)}
    x = unit.lower + rng.random(d)
    return {
        "uniform, unit cube": Uniform(unit),
        "uniform, wide box": Uniform(wide),
        "uniform, slice z0 = v": Uniform(AffineSlice(positive, {0: v})),
        "uniform, segment": Uniform(Segment(a, b)),
        "polynomial x polynomial x uniform": ProductDensity(positive, {i: ("polynomial", polys[i]) for i in range(2)}),
        "Dirac x polynomial x uniform": ProductDensity(positive, {0: ("dirac", v), 1: ("polynomial", polys[1])}),
        "2 U(box) - U(slice) + 3 delta_x": 2.0 * Uniform(unit) - Uniform(AffineSlice(unit, {d - 1: 0.25})) + 3.0 * Dirac(x),
    }


def main() -> int:
    start = time.perf_counter()
    rng = np.random.default_rng(4)
    stats: dict[str, list] = {}
    shapes = {2: [[2, 16, 1], [2, 8, 8, 1], [2, 6, 6, 6, 1]], 3: [[3, 10, 1], [3, 8, 6, 1]], 4: [[4, 8, 1], [4, 6, 5, 1]]}
    n_networks = 0
    for d, sizes_list in shapes.items():
        for k in range(NETWORKS_PER_DIM[d]):
            net = random_network(sizes_list[k % len(sizes_list)], rng=rng)
            n_networks += 1
            for name, mu in measures_for(rng, d).items():
                exact, n_regions, defect = region_sum(net, mu)
                lib, bound = Integrator(net, 0).integrate(mu)
                est, se = monte_carlo(rng, net, mu)
                floor = bound + 1e-12 * (1 + abs(exact))
                z = abs(exact - est) / max(se, floor)
                claim(defect <= 1e-9, f"{name} (d={d}): region masses miss the total mass by a relative {defect:.2e}")
                claim(abs(exact - lib) <= bound + 1e-12 * (1 + abs(exact)),
                      f"{name} (d={d}): region sum {exact!r} vs Integrator {lib!r} (bound {bound:.2e})")
                claim(abs(exact - est) <= SIGMAS * se + floor,
                      f"{name} (d={d}): exact {exact:.10g} outside Monte Carlo {est:.10g} +- {SIGMAS:g} x {se:.3g}")
                s = stats.setdefault(name, [0, 0, 0.0, 0.0, 0.0])
                s[0] += 1
                s[1] += n_regions
                s[2] = max(s[2], defect)
                s[3] = max(s[3], abs(exact - lib))
                s[4] = max(s[4], z)
    print(f"{'measure':<34}{'cases':>6}{'regions':>9}{'mass defect':>13}{'|sum-Integrator|':>18}{'max z (MC)':>12}")
    for name, (n, regions, defect, diff, z) in stats.items():
        print(f"{name:<34}{n:>6}{regions:>9}{defect:>13.1e}{diff:>18.1e}{z:>12.2f}")
    status = "FAILED" if FAILURES else "holds"
    print(f"Corollary 4.1 (region sums = integrals; {n_networks} random networks, MC {MC_SAMPLES} samples, "
          f"{SIGMAS:g} sigma): {status}; {len(FAILURES)} failures; {time.perf_counter() - start:.1f} s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
