#!/usr/bin/env python
"""Polynomial-density integration over the linear regions of a 3-input network (issue 10, item 2).

Run: ``python benchmarks/polynomial_density.py [--hidden 12] [--degree 8] [--seed 0]``.

A random 3-H-H-1 ReLU network on [0, 1]^3 and a random degree-``degree`` density (every monomial,
dyadic coefficients).  Prints, separately, the time to enumerate the regions (float and exactly
confirmed), to triangulate them, and to integrate the density's mass and first moments (what
Corollary 4.1 needs) over every region: float (with its forward error bound, checked against the
exact values) and exact (rationals).  Then the previous per-monomial integrator
(:mod:`polyattr.integrate.reference`) on a few regions, for the speed-up.  Targets: < 1 s float and
< 10 s exact for about 1,000 regions and degree 8 (the integration itself; enumeration is separate).
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction

import numpy as np

from polyattr.attribution.integrals import Integrator
from polyattr.geometry.domains import Box
from polyattr.integrate.polynomial import integrate_polynomials, monomial_exponents, multiply_polynomials
from polyattr.integrate.reference import reference_integrate_simplex
from polyattr.measures.core import region_triangulations
from polyattr.models.io import random_network


def main() -> int:  # noqa: C901 - a linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=26)
    parser.add_argument("--degree", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-regions", type=int, default=1)
    parser.add_argument("--weights", choices=["dyadic", "float"], default="dyadic",
                        help="dyadic: weights rounded to multiples of 1/16 (a quantised network: small exact "
                             "vertices); float: raw float64 weights (exact vertices with ~100-digit numbers)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    net = random_network([3, args.hidden, args.hidden, 1], rng=rng)
    if args.weights == "dyadic":
        from polyattr.models.relu import ReLUNetwork

        net = ReLUNetwork([np.round(W * 16) / 16 for W in net.weights], [np.round(b * 16) / 16 for b in net.biases])
    density = {alpha: Fraction(int(rng.integers(-8, 9)), 8) for alpha in monomial_exponents(3, args.degree)}
    polys = [density] + [multiply_polynomials(density, {e: 1}) for e in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    box = Box([0, 0, 0], [1, 1, 1])

    t0 = time.perf_counter()
    float_regions = Integrator(net, 0).regions_on(box)
    t_enum = time.perf_counter() - t0
    t0 = time.perf_counter()
    V, S, groups = region_triangulations(float_regions, exact=False)
    t_tri = time.perf_counter() - t0
    t0 = time.perf_counter()
    values, bound = integrate_polynomials(V, S, polys, False, groups=groups, n_groups=len(float_regions),
                                          return_error=True)
    t_float = time.perf_counter() - t0
    print(f"network 3-{args.hidden}-{args.hidden}-1 ({args.weights} weights), density of degree {args.degree} ({len(density)} monomials), "
          f"mass + 3 first moments per region")
    print(f"  float : {len(float_regions)} regions enumerated in {t_enum:.2f} s, {len(S)} simplices triangulated in "
          f"{t_tri:.2f} s, integrated in {t_float:.3f} s (max error bound {float(np.max(bound)):.1e})")

    t0 = time.perf_counter()
    exact_regions = Integrator(net, 0, exact=True).regions_on(Box([0, 0, 0], [1, 1, 1], exact=True))
    t_exact_enum = time.perf_counter() - t0
    Vq, Sq, gq = region_triangulations(exact_regions, exact=True)
    t0 = time.perf_counter()
    exact_values = integrate_polynomials(Vq, Sq, polys, True, groups=gq, n_groups=len(exact_regions))
    t_exact = time.perf_counter() - t0
    print(f"  exact : {len(exact_regions)} regions confirmed exactly in {t_exact_enum:.2f} s ({len(Sq)} simplices), "
          f"integrated in {t_exact:.3f} s")
    # the float kernel's stated bound, on the exact regions' vertices rounded to floats (the kernel's
    # input) against the exact integrals of those same float vertices
    Vf = np.array(Vq, dtype=float)
    t0 = time.perf_counter()
    f_values, f_bound = integrate_polynomials(Vf, Sq, polys, False, groups=gq, n_groups=len(exact_regions),
                                              return_error=True)
    t_float_same = time.perf_counter() - t0
    reference = integrate_polynomials(Vf.astype(object), Sq, polys, True, groups=gq, n_groups=len(exact_regions))
    gap = np.abs(f_values - np.array(reference, dtype=float))
    worst = float(np.max(gap / np.maximum(f_bound, 1e-300)))
    print(f"  float kernel on the same vertices: {t_float_same:.3f} s; |error| / stated bound: max {worst:.2e} (<= 1)")
    # float regions vs exact regions (enumeration tolerance, not the kernel): the sum over all regions
    print(f"  all-regions totals: float {float(np.sum(values[:, 0])):.15g}, exact {float(sum(exact_values[:, 0])):.15g}")
    n_ref = min(args.reference_regions, len(exact_regions))
    t0 = time.perf_counter()
    ref_total = [Fraction(0)] * len(polys)
    for r in range(n_ref):
        region = exact_regions.regions[r]
        for simplex in region.simplices:
            for q, poly in enumerate(polys):
                ref_total[q] += reference_integrate_simplex(region.vertices[simplex], poly)
    t_ref = time.perf_counter() - t0
    new_total = [sum((exact_values[r, q] for r in range(n_ref)), start=Fraction(0)) for q in range(len(polys))]
    per_region_ref = t_ref / max(n_ref, 1)
    per_region_new = t_exact / max(len(exact_regions), 1)
    print(f"  previous integrator: {n_ref} regions in {t_ref:.2f} s ({per_region_ref * 1e3:.0f} ms/region, "
          f"about {per_region_ref * len(exact_regions):.0f} s for all); new exact: {per_region_new * 1e3:.2f} ms/region "
          f"({per_region_ref / per_region_new:.0f}x); identical values: {ref_total == new_total}")
    print(f"targets: float {t_float:.3f} s < 1 s: {t_float < 1}; exact {t_exact:.2f} s < 10 s: {t_exact < 10} "
          f"({len(exact_regions)} regions)")
    return 0 if worst <= 1 and ref_total == new_total else 1


if __name__ == "__main__":
    raise SystemExit(main())
