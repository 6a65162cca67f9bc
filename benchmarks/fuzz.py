"""Fuzz region enumeration on degenerate networks: both float backends and exact mode must agree.

    python benchmarks/fuzz.py [N_CASES] [--seed S] [--first I]     (default 100000 cases from 0)

Each case (see ``degenerate_cases.py``: integer and dyadic weights, duplicated and parallel
neurons, hyperplanes through box corners or one common point, 1-input networks, boxes from 2^-30
to 1e20) is enumerated by the ``split`` and ``lp`` backends in floats and by
:func:`polyattr.geometry.exact_regions.exact_region_set` in exact arithmetic.  A backend fails a
case when it raises, lists a pattern twice, its volumes miss the domain's by more than 1e-9
(relative), or its pattern set differs from the exact one or a region's volume differs from the exact
one by more than its proven vertex displacement allows (``_volume_allowance``); exact mode fails
when its volumes do not add up exactly to the domain's (it raises then) or a region is not
full-dimensional (checked independently: an exact interior point of every region, read back).
Prints the failure count per backend and mode (it must be 0), the cases per family and how often
the float runs needed their exact fallback.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import traceback
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from degenerate_cases import degenerate_case  # noqa: E402

from polyattr.geometry.domains import Box  # noqa: E402
from polyattr.geometry.exact_regions import clear_cache, exact_region_set  # noqa: E402
from polyattr.geometry.regions import enumerate_regions  # noqa: E402


def check_case(net, lower, upper) -> dict[str, str | None]:
    """Failure message (or None) per backend/mode for one case."""
    out = {}
    domain_volume = float(np.prod(upper - lower))
    try:
        exact = exact_region_set(net, Box(lower, upper, exact=True), max_regions=100_000)
        table = {p.tobytes(): float(v) for p, v in zip(exact.patterns, exact.volumes)}
        if exact.total_volume != Box(lower, upper, exact=True).volume:
            out["exact"] = "exact volumes do not add up"
        else:
            out["exact"] = _interior_points_read_back(net, exact)
    except Exception as exc:  # noqa: BLE001 - every failure is counted
        out["exact"] = f"raised {type(exc).__name__}: {exc}"
        table = None
    for backend in ("split", "lp"):
        try:
            regions = enumerate_regions(net, (lower, upper), backend=backend, max_regions=100_000)
        except Exception as exc:  # noqa: BLE001
            out[backend] = f"raised {type(exc).__name__}: {exc}"
            continue
        keys = [p.tobytes() for p in regions.patterns]
        if len(set(keys)) != len(keys):
            out[backend] = f"{len(keys) - len(set(keys))} duplicated patterns"
        elif abs(regions.total_volume - domain_volume) > 1e-9 * domain_volume:
            out[backend] = f"volume {regions.total_volume!r} for a domain of {domain_volume!r}"
        elif table is not None and set(keys) != set(table):
            out[backend] = f"{len(keys)} patterns, exact mode has {len(table)} (sets differ)"
        elif table is not None and any(abs(v - table[key]) > allowed
                                       for key, v, allowed in zip(keys, regions.volumes, _volume_allowance(regions, domain_volume))):
            out[backend] = "a region volume differs from the exact one by more than its proven vertex displacement allows"
        else:
            out[backend] = None
        out[backend + ":fallback"] = regions.backend.endswith("+exact")
    return out


def _volume_allowance(regions, domain_volume) -> np.ndarray:
    """How far each float volume may be from the exact one: 1e-9 of the domain's volume (rounding of
    the volume kernel), plus, for a verified float partition, what its proven vertex radius r
    allows: the exact region lies within r (inf-norm) of the float one, so the volumes differ by
    at most prod(L_i + 4 r) - prod(L_i), L the float region's bounding-box sides.  Boxes of width
    2^-30 around coordinates of size 1 need the second term: vertex coordinates are rounded to
    1e-16 of 1, about 6e-8 of the width."""
    allowance = np.full(len(regions), 1e-9 * domain_volume)
    radius = regions.vertex_radius if regions.vertex_table is not None else None
    if radius is None:
        return allowance
    for i in range(len(regions)):
        V = regions.vertex_table[regions.vertex_offsets[i]:regions.vertex_offsets[i + 1]]
        sides = np.ptp(V, axis=0)
        allowance[i] += float(np.prod(sides + 4 * radius[i]) - np.prod(sides))
    return allowance


def _interior_points_read_back(net, exact) -> str | None:
    """Every exact region has an interior point whose exact activation pattern is the region's."""
    exact_net = net.to_exact()
    for i in range(len(exact)):
        m0, m1, _ = exact.moments(order=1, regions=[i])
        centroid = [m1[0, j] / m0[0] for j in range(exact.dim)]
        point = exact.reduction.lift(np.array(centroid, dtype=object))
        pre = np.atleast_1d(exact_net.hidden_preactivations(point))
        pattern = np.array([v > 0 for v in pre], dtype=bool)
        # identically-zero neurons read 0 (inactive); other neurons are non-zero at an interior point
        if not np.array_equal(pattern, exact.patterns[i]):
            return f"region {i}: the pattern at its centroid differs"
        if m0[0] <= 0:
            return f"region {i}: volume {m0[0]}"
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_cases", nargs="?", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=0,
                        help="index of the first case (shards of one run: --first 0 50000, --first 50000 50000)")
    parser.add_argument("--report-every", type=int, default=5000)
    args = parser.parse_args(argv)
    failures = collections.Counter()
    fallbacks = collections.Counter()
    families = collections.Counter()
    examples = {}
    start = time.perf_counter()
    for case in range(args.first, args.first + args.n_cases):
        family, net, lower, upper = degenerate_case([args.seed, case])
        families[family] += 1
        try:
            result = check_case(net, lower, upper)
        except Exception:  # noqa: BLE001 - a crash of the checker itself
            result = {"checker": traceback.format_exc(limit=2)}
        for key, value in result.items():
            if key.endswith(":fallback"):
                fallbacks[key.split(":")[0]] += bool(value)
            elif value is not None:
                failures[key] += 1
                examples.setdefault(key, (case, family, value))
        if case % 500 == 499:
            clear_cache()
        if args.report_every and (case + 1 - args.first) % args.report_every == 0:
            print(f"  {case + 1 - args.first} cases, {time.perf_counter() - start:.0f} s, failures {dict(failures)}", flush=True)
    seconds = time.perf_counter() - start
    print(f"cases: {args.n_cases} (seed {args.seed}, cases {args.first}..{args.first + args.n_cases - 1}) in {seconds:.1f} s ({1e3 * seconds / max(args.n_cases, 1):.1f} ms per case)")
    print("families: " + ", ".join(f"{k} {v}" for k, v in sorted(families.items())))
    for name in ("split", "lp", "exact"):
        print(f"failures {name:>5}: {failures[name]}")
    if failures["checker"]:
        print(f"failures of the checker itself: {failures['checker']}")
    print("float runs that needed the exact fallback: " + ", ".join(f"{k} {v}" for k, v in sorted(fallbacks.items())))
    for key, (case, family, message) in sorted(examples.items()):
        print(f"first {key} failure: case {case} ({family}): {message}")
    return 1 if sum(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
