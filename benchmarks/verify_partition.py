"""Cost of the a posteriori verification of split enumerations (polyattr.geometry.verify_partition).

    python benchmarks/verify_partition.py [--quick] [--repeats N]

For a 4-input [32,32] network on [-1, 1]^4 (about 1.3e5 regions) and smaller cases: the split
enumeration's time (with volumes, as ``enumerate_regions`` runs it), the verification's time, their
ratio (goal: <= 0.5), how many vertices needed the exact check, and the largest proven vertex
radius.  Split and verification alternate, so machine load affects both alike; medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from polyattr import random_network
from polyattr.geometry.domains import Box
from polyattr.geometry.splitting import split_enumerate
from polyattr.geometry.verify_partition import exact_data, verify_split_partition


def measure(d, hidden, low, repeats, rng=2026):
    net = random_network([d, *hidden, 1], rng=rng)
    box = Box(np.full(d, low), np.ones(d))
    data = exact_data(net, box, box.reduce(), net)
    t_split, t_verify = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        res = split_enumerate(net.weights, net.biases, box.lower, box.upper)
        t_split.append(time.perf_counter() - t)
        t = time.perf_counter()
        check = verify_split_partition(data, res.patterns, res.vertices, res.vertex_masks, res.vertex_offsets)
        t_verify.append(time.perf_counter() - t)
    s, v = statistics.median(t_split), statistics.median(t_verify)
    return dict(case=f"{d}-input {list(hidden)} on [{low:g},1]^{d}", regions=len(res), split=s, verify=v,
                ratio=v / s, verified=check.verified, exact=check.exact_vertex_checks,
                radius=float(check.vertex_radius.max()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small cases only")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    measure(2, [8, 8], 0.0, 1)  # JIT warm-up
    cases = [(2, [16, 16], 0.0), (3, [16, 16], -1.0)]
    if not args.quick:
        cases.append((4, [32, 32], -1.0))
    print(f"{'case':32s} {'regions':>8s} {'split s':>8s} {'verify s':>9s} {'ratio':>6s} {'verified':>8s} "
          f"{'exact v.':>8s} {'max radius':>10s}")
    for d, hidden, low in cases:
        row = measure(d, hidden, low, args.repeats)
        print(f"{row['case']:32s} {row['regions']:8d} {row['split']:8.3f} {row['verify']:9.3f} {row['ratio']:6.2f} "
              f"{str(row['verified']):>8s} {row['exact']:8d} {row['radius']:10.2e}")


if __name__ == "__main__":
    main()
