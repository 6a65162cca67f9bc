"""Exact (rational, certified) mode vs float mode: time ratios, printed as a table.

Run:  python benchmarks/exact.py [--repeats N] [--seed S] [--quick]

For random 2- and 3-input networks with hidden layers [16, 16] and [32, 32] (float64, hence dyadic,
weights) on the unit box: region enumeration (float: ``enumerate_regions``, verified; exact: the
float enumeration confirmed by ``exact_region_set`` -- exact vertices from the verified tight sets,
exact moments, exact tiling check), and the methods pdp,
ig and shapley_uniform through ``attribute(..., exact=False/True)``.  Times are medians over
repeats (wall clock, and the process CPU time, which is more robust on a loaded machine but
also counts numba's worker threads), after a warm-up run for numba, with the exact region cache
cleared before every exact run; the ratios are exact / float.  The last columns time writing the
certificate and verifying it (``polyattr verify``'s function) and give the certificate's size.
``--quick`` runs [16, 16] only.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from polyattr import Box, attribute, enumerate_regions, random_network, save_model
from polyattr.certify.certificate import write_certificate
from polyattr.geometry.exact_regions import clear_cache, exact_region_set
from polyattr.certify.verify import verify_certificate


def median_time(fn, repeats, before=None):
    """Median wall-clock seconds (the process CPU seconds are kept in CPU_TIMES)."""
    walls, cpus = [], []
    for _ in range(repeats):
        if before is not None:
            before()
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    CPU_TIMES.append(statistics.median(cpus))
    return statistics.median(walls)


CPU_TIMES: list = []
VERIFY_MAX_BYTES = 10_000_000


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    tmp = Path(tempfile.mkdtemp())
    cases = [(w, d) for w in ((16,) if args.quick else (16, 32)) for d in (2, 3)]
    for width, d in cases:
        # the largest case (3-input [32, 32]: ~3,300 box regions) runs once: its exact run takes seconds
        repeats = 1 if (width, d) == (32, 3) else args.repeats
        net = random_network([d, width, width, 1], rng=args.seed + d)
        model_path = tmp / f"m{width}_{d}.npz"
        save_model(net, model_path)
        x = np.round(np.random.default_rng(args.seed).uniform(0.1, 0.9, size=d), 3)
        box, ebox = Box.unit(d), Box.unit(d, exact=True)
        enumerate_regions(net, box)  # warm-up (numba)
        n_regions = len(enumerate_regions(net, box))
        t_float = median_time(lambda: enumerate_regions(net, box), repeats)
        t_exact = median_time(lambda: exact_region_set(net, ebox, enumerate_regions(net, box)), repeats,
                              before=clear_cache)
        rows.append((width, d, "regions", n_regions, t_float, t_exact, None, None, CPU_TIMES[-2], CPU_TIMES[-1]))
        for method in ("pdp", "ig", "shapley_uniform"):
            attribute(net, x, method)
            res = attribute(net, x, method, certify=True)
            t_float = median_time(lambda: attribute(net, x, method), repeats)
            t_exact = median_time(lambda: attribute(net, x, method, exact=True), repeats, before=clear_cache)
            c_float, c_exact = CPU_TIMES[-2], CPU_TIMES[-1]
            cert = tmp / f"{method}{width}_{d}.json"

            t_write = median_time(lambda: write_certificate(cert, result=res, model_path=model_path), 1)
            size = cert.stat().st_size
            # the independent verifier parses every rational with Python integers: the 50 MB
            # certificate of the largest case takes minutes, so it is verified only below a size
            t_verify = (median_time(lambda: verify_certificate(model_path, cert), 1)
                        if size <= VERIFY_MAX_BYTES else None)
            rows.append((width, d, method, res.regions, t_float, t_exact, (t_write, t_verify), size, c_float,
                         c_exact))
    print(f"{'net':<8} {'d':>2} {'task':<16} {'regions':>8} {'float s':>9} {'exact s':>9} {'ratio':>7} "
          f"{'float cpu':>10} {'exact cpu':>10} {'ratio':>7} {'cert s':>8} {'verify s':>9} {'cert bytes':>11}")
    for width, d, task, n, tf, te, tc, size, cf, ce in rows:
        if tc is None:
            tc_s = f"{'':>8} {'':>9}"
        else:
            tc_s = f"{tc[0]:8.3f} " + (f"{tc[1]:9.3f}" if tc[1] is not None else f"{'(skipped)':>9}")
        size_s = f"{size:11d}" if size is not None else f"{'':>11}"
        print(f"[{width},{width}]".ljust(8) + f" {d:>2} {task:<16} {n:>8} {tf:9.4f} {te:9.3f} {te / tf:7.1f} "
              f"{cf:10.4f} {ce:10.3f} {ce / cf:7.1f} {tc_s} {size_s}")
    print(f"(certificates above {VERIFY_MAX_BYTES // 10**6} MB are written but not verified here)")


if __name__ == "__main__":
    main()
