"""Cost of the a posteriori verification of split enumerations (polyattr.geometry.verify_partition).

    python benchmarks/verify_partition.py [--quick] [--repeats N]

For a 4-input [32,32] network on [-1, 1]^4 (about 1.3e5 regions) and smaller cases: the split
enumeration's time (with volumes, as ``enumerate_regions`` runs it), the verification's time, their
ratio of wall-clock times (goal: <= 0.5) and of process CPU times (steadier on a loaded machine), how many vertices needed the exact check, and the largest proven vertex
radius.  Split and verification alternate, so machine load affects both alike; medians are printed.

Then the degenerate corpus (``degenerate_cases.py``) and networks whose second-layer units are
differences of first-layer units (hyperplanes exactly through first-layer vertices): how many split runs met values in the zero band
(``n_ambiguous > 0``: before the verification each of them was re-enumerated exactly), how many
runs verify, how many fail (then ``enumerate_regions`` repairs them exactly), and how many vertices
needed the exact check.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import sys
from pathlib import Path

from polyattr import random_network
from polyattr.geometry.domains import Box
from polyattr.geometry.splitting import split_enumerate
from polyattr.geometry.verify_partition import exact_data, verify_split_partition


def measure(d, hidden, low, repeats, rng=2026):
    net = random_network([d, *hidden, 1], rng=rng)
    box = Box(np.full(d, low), np.ones(d))
    data = exact_data(net, box, box.reduce(), net)
    t_split, t_verify, c_split, c_verify = [], [], [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        res = split_enumerate(net.weights, net.biases, box.lower, box.upper)
        t_split.append(time.perf_counter() - t)
        c_split.append(time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        check = verify_split_partition(data, res.patterns, res.vertices, res.vertex_masks, res.vertex_offsets)
        t_verify.append(time.perf_counter() - t)
        c_verify.append(time.process_time() - c)
    s, v = statistics.median(t_split), statistics.median(t_verify)
    cpu = statistics.median(c_verify) / statistics.median(c_split)
    return dict(case=f"{d}-input {list(hidden)} on [{low:g},1]^{d}", regions=len(res), split=s, verify=v,
                ratio=v / s, cpu_ratio=cpu, verified=check.verified, exact=check.exact_vertex_checks,
                radius=float(check.vertex_radius.max()))


def _difference_case(case):
    """Second-layer units that are differences of first-layer units: they pass exactly through
    first-layer vertices, where their float values are rounding noise inside the zero band."""
    from polyattr import ReLUNetwork

    rng = np.random.default_rng([11, case])
    W1 = np.array([[1.0, -1.0, 0, 0], [0, 0, 1.0, -1.0], [1.0, 0, -1.0, 0]])
    net = ReLUNetwork([rng.uniform(-1, 1, size=(4, 2)), W1, np.ones((1, 3))],
                      [rng.uniform(-0.5, 0.5, size=4), np.zeros(3), np.zeros(1)])
    return None, net, -np.ones(2), np.ones(2)


def corpus_row(n_cases: int, family: str = "degenerate") -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from degenerate_cases import degenerate_case

    out = dict(cases=n_cases, ambiguous=0, verified=0, ambiguous_verified=0, failed=0, exact_vertices=0, seconds=0.0)
    for case in range(n_cases):
        _, net, lower, upper = degenerate_case([7, case]) if family == "degenerate" else _difference_case(case)
        box = Box(lower, upper)
        res = split_enumerate(net.weights, net.biases, box.lower, box.upper, negative_slopes=net.negative_slopes,
                              compute_volumes=False)
        t = time.perf_counter()
        check = verify_split_partition(exact_data(net, box, box.reduce(), net), res.patterns, res.vertices,
                                       res.vertex_masks, res.vertex_offsets)
        out["seconds"] += time.perf_counter() - t
        out["ambiguous"] += res.n_ambiguous > 0
        out["verified"] += check.verified
        out["ambiguous_verified"] += check.verified and res.n_ambiguous > 0
        out["failed"] += not check.verified
        out["exact_vertices"] += check.exact_vertex_checks
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small cases only")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    measure(2, [8, 8], 0.0, 1)  # JIT warm-up
    cases = [(2, [16, 16], 0.0), (3, [16, 16], -1.0)]
    if not args.quick:
        cases.append((4, [32, 32], -1.0))
    print(f"{'case':32s} {'regions':>8s} {'split s':>8s} {'verify s':>9s} {'ratio':>6s} {'cpu ratio':>9s} {'verified':>8s} "
          f"{'exact v.':>8s} {'max radius':>10s}")
    for d, hidden, low in cases:
        row = measure(d, hidden, low, args.repeats)
        print(f"{row['case']:32s} {row['regions']:8d} {row['split']:8.3f} {row['verify']:9.3f} {row['ratio']:6.2f} "
              f"{row['cpu_ratio']:9.2f} "
              f"{str(row['verified']):>8s} {row['exact']:8d} {row['radius']:10.2e}")
    for family in ("degenerate", "difference"):
        c = corpus_row(200 if args.quick else 1000, family)
        print(f"\n{family} corpus, {c['cases']} cases: {c['ambiguous']} split runs with zero-band values (each was "
              f"re-enumerated exactly before), {c['verified']} verified ({c['ambiguous_verified']} of them with "
              f"zero-band values), {c['failed']} failed (repaired exactly), {c['exact_vertices']} vertices checked exactly, "
              f"verification {c['seconds']:.2f} s in all")


if __name__ == "__main__":
    main()
