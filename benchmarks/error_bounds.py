"""Cost of the proven error bound of region integrals: seconds with and without it.

Run:  python benchmarks/error_bounds.py [--repeats 3]

For a random 4-input network with hidden layers [32, 32] on [0, 1]^4 and the methods pdp and
shapley_uniform at a fixed x, median seconds (after a warm-up call that excludes numba JIT
compilation and fills nothing else: every call enumerates afresh) of

* "no bound": the RegionSet carries no vertex radius, so the value comes from the enumeration's own
  volumes and centroids and the bound is inf (no proof is claimed);
* "proven bound": a vertex radius is available (here 0.0 for every region: a timing stand-in for
  ``RegionSet.vertex_radius``, whose own cost belongs to the verification of the partition), so
  every region is triangulated, its moments recomputed with rounding bounds, and the displacement,
  affine-map and contraction terms added.

and, when ``RegionSet.vertex_radius`` exists (the verification of float partitions), the same with
the verified radii ("verified": enumeration, verification and bound).  Prints the timings, the
ratios to "no bound" and the bounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from polyattr import attribute, random_network
from polyattr.geometry.regions import RegionSet


def timed(net, x, method, repeats):
    attribute(net, x, method)  # warm-up (JIT)
    times, res = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        res = attribute(net, x, method)
        times.append(time.perf_counter() - t)
    return statistics.median(times), res


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    net = random_network([4, 32, 32, 1], rng=rng)
    x = rng.uniform(size=4)
    had = "vertex_radius" in RegionSet.__dict__
    saved = RegionSet.__dict__.get("vertex_radius")
    print(f"{'method':<16} {'regions':>8} {'no bound s':>11} {'r=0 s':>7} {'ratio':>6} {'bound':>9}"
          + (f" {'verified s':>11} {'ratio':>6} {'bound':>9}" if had else ""))
    for method in ("pdp", "shapley_uniform"):
        if had:
            del RegionSet.vertex_radius
        t0, r0 = timed(net, x, method, args.repeats)
        RegionSet.vertex_radius = property(lambda self: np.zeros(len(self)))
        t1, r1 = timed(net, x, method, args.repeats)
        del RegionSet.vertex_radius
        line = f"{method:<16} {r1.regions:>8} {t0:>11.3f} {t1:>7.3f} {t1 / t0:>6.2f} {r1.error_bound:>9.2e}"
        if had:
            RegionSet.vertex_radius = saved
            t2, r2 = timed(net, x, method, args.repeats)
            line += f" {t2:>11.3f} {t2 / t0:>6.2f} {r2.error_bound:>9.2e}"
        assert np.allclose(r0.values, r1.values, atol=1e-12)
        print(line)


if __name__ == "__main__":
    main()
