"""Batches against a Python loop of single calls: wall time and region enumerations.

Run:  python benchmarks/batches.py [--n 200] [--seed 0]

For each (input dimension, method) it explains n random points of the unit cube twice, with one
batch call ``attribute(model, X, method)`` and with a loop of single calls, checks the values agree
within the stated bounds, and prints the times, their ratio and the number of region enumerations
of the batch (the loop enumerates every support of every point).  Figures are measured on this
machine in this run; no target is asserted.
"""

import argparse
import time

import numpy as np

from polyattr import attribute, random_network

CASES = [(2, (16, 16), "ice"), (2, (16, 16), "shapley_uniform"), (2, (16, 16), "pdp"), (3, (10, 10), "ice"),
         (3, (10, 10), "shapley_uniform"), (4, (8, 8), "ice"), (4, (8, 8), "pdp")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="points per batch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    attribute(random_network([2, 4, 1], rng=0), [0.5, 0.5], "pdp")  # compile the numba kernels first
    print(f"{'d':>2} {'hidden':<9}{'method':<17}{'batch s':>9}{'loop s':>9}{'loop/batch':>11}"
          f"{'enumerations':>14}{'cuts':>7}{'max |diff|':>12}")
    for d, hidden, method in CASES:
        net = random_network([d, *hidden, 1], rng=args.seed)
        X = np.random.default_rng(args.seed).uniform(0.02, 0.98, size=(args.n, d))
        start = time.perf_counter()
        batch = attribute(net, X, method, progress=False)
        t_batch = time.perf_counter() - start
        start = time.perf_counter()
        singles = [attribute(net, x, method) for x in X]
        t_loop = time.perf_counter() - start
        diff = max(float(np.max(np.abs(batch.values[i] - s.values))) for i, s in enumerate(singles))
        bound = batch.error_bound + max(s.error_bound for s in singles)
        assert diff <= bound, (method, diff, bound)
        print(f"{d:>2} {str(list(hidden)):<9}{method:<17}{t_batch:9.3f}{t_loop:9.3f}{t_loop / t_batch:11.2f}"
              f"{batch.info['enumerations']:>14}{batch.info['cuts']:>7}{diff:12.1e}")


if __name__ == "__main__":
    main()
