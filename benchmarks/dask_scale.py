"""Region enumeration and a streamed region integral on dask LocalClusters of 1 and 2 workers.

Run:  python benchmarks/dask_scale.py [--d 5] [--hidden 32,32] [--pieces 16] [--quick]
      python benchmarks/dask_scale.py --large [--large-pieces 512] [--large-workers 2]

For a random network on [-1, 1]^d: the local single-process enumeration, then
``enumerate_regions(model, box, client=...)`` (sub-boxes merged by pattern) on a LocalCluster of 1
and of 2 worker processes, and the streamed integral ``box_integral`` (regions contracted per
sub-box, nothing per region kept) on each; the ratio 1 worker / 2 workers, the peak RSS of the
workers and of this process, and the checks (same pattern set as the local run, total volume).
Figures are measured on this machine in this run (2 cores shared with everything else running).
"""

import argparse
import resource
import time

import numpy as np

import polyattr
from polyattr.geometry.distributed import box_integral
from polyattr.models import random_network


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cluster(n):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           host="127.0.0.1", silence_logs=50)
    return cluster, Client(cluster)


def rows(d=5, hidden=(32, 32), pieces=16, seed=0, local=True, integral=True, progress=False):
    """Enumeration (and with ``integral`` the streamed integral) on LocalClusters of 1 and 2 workers;
    with ``local`` also the single-process run and the same-pattern-set check against it; with
    ``progress`` each time is also printed as soon as it is measured (a time limit may stop the rest)."""
    net = random_network([d, *hidden, 1], rng=np.random.default_rng(seed))
    box = polyattr.Box(-np.ones(d), np.ones(d))
    out = {"d": d, "hidden": list(hidden), "pieces": pieces}
    polyattr.enumerate_regions(random_network([2, 3, 1], rng=0))  # load the numba kernels
    if local:
        start = time.perf_counter()
        ref = polyattr.enumerate_regions(net, box, max_regions=None)
        out["local_s"], out["regions"] = time.perf_counter() - start, len(ref)
        ref_keys = {p.tobytes() for p in np.packbits(ref.patterns, axis=1)}
    for n in (1, 2):
        cluster, client = _cluster(n)
        try:
            client.run(lambda: polyattr.enumerate_regions(random_network([2, 3, 1], rng=0)))  # warm workers
            start = time.perf_counter()
            dist = polyattr.enumerate_regions(net, box, client=client, pieces=pieces, max_regions=None)
            out[f"enum_{n}_s"] = time.perf_counter() - start
            out["regions"] = len(dist)
            if progress:
                print(f"  ({d}-input {list(hidden)}: {len(dist):,} regions enumerated on {n} worker(s) in "
                      f"{out[f'enum_{n}_s']:.2f} s)", flush=True)
            if local:
                keys = {p.tobytes() for p in np.packbits(dist.patterns, axis=1)}
                out["same_patterns"] = keys == ref_keys
            out["volume_gap"] = abs(dist.total_volume - float(box.volume)) / float(box.volume)
            del dist
            if integral:
                start = time.perf_counter()
                res = box_integral(net, box, client=client, pieces=pieces)
                out[f"integral_{n}_s"] = time.perf_counter() - start
                out["integral"], out["region_pieces"] = float(res.integral[0]), res.region_pieces
            rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
            out[f"worker_rss_{n}_mib"] = max(rss.values())
        finally:
            client.close()
            cluster.close()
    out["client_rss_mib"] = _peak_rss_mib()
    return out


def streaming_rows(d=4, hidden=(32, 32), pieces_list=(16, 64), seed=1):
    """The streamed integral here (no cluster): peak RSS stays flat as the region count grows with the box."""
    out = []
    net = random_network([d, *hidden, 1], rng=np.random.default_rng(seed))
    for scale, pieces in zip((1.0, 2.0), pieces_list):
        box = polyattr.Box(-scale * np.ones(d), scale * np.ones(d))
        before = _peak_rss_mib()
        start = time.perf_counter()
        res = box_integral(net, box, pieces=pieces)
        out.append(dict(scale=scale, pieces=pieces, region_pieces=res.region_pieces, seconds=time.perf_counter() - start,
                         rss_before=before, rss_after=_peak_rss_mib()))
    return out


def large_stream_row(d=5, hidden=(32, 32), pieces=512, seed=0, workers=0):
    """One streamed integral over a box with ~10^7 regions: the peak RSS must stay that of one sub-box.

    With ``workers`` > 0 the sub-boxes run on a LocalCluster of that many processes (the peak RSS
    of each worker and of this client are printed); with 0 they run here, one after another.
    """
    net = random_network([d, *hidden, 1], rng=np.random.default_rng(seed))
    box = polyattr.Box(-np.ones(d), np.ones(d))
    polyattr.enumerate_regions(random_network([2, 3, 1], rng=0))  # load the numba kernels
    before = _peak_rss_mib()
    cluster = client = None
    if workers:
        cluster, client = _cluster(workers)
    try:
        start = time.perf_counter()
        res = box_integral(net, box, client=client, pieces=pieces)
        seconds = time.perf_counter() - start
        worker_rss = (max(client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0).values())
                      if client else None)
    finally:
        if client:
            client.close()
            cluster.close()
    return dict(d=d, hidden=list(hidden), pieces=pieces, workers=workers, region_pieces=res.region_pieces,
                seconds=seconds, rss_before=before, rss_after=_peak_rss_mib(), worker_rss=worker_rss,
                integral=float(res.integral[0]), volume_gap=abs(res.volume - float(box.volume)) / float(box.volume))


def print_large(s):
    where = f"{s['workers']} worker processes" if s["workers"] else "in this process"
    print(f"large streamed integral: {s['d']}-input {s['hidden']} on [-1,1]^{s['d']}, {s['pieces']} sub-boxes, {where}")
    print(f"  {s['region_pieces']:,} region pieces in {s['seconds']:.1f} s ({s['region_pieces'] / s['seconds']:,.0f} per s); "
          f"volume gap {s['volume_gap']:.1e}; integral {s['integral']:.12g}")
    print(f"  peak RSS: this process {s['rss_before']:.0f} -> {s['rss_after']:.0f} MiB"
          + (f"; worker {s['worker_rss']:.0f} MiB" if s["worker_rss"] is not None else ""))


def print_rows(r, stream):
    print(f"network {r['d']}-input {r['hidden']} on [-1,1]^{r['d']}: {r['regions']:,} regions, {r['pieces']} sub-boxes")
    if "local_s" in r:
        print(f"  local single process        {r['local_s']:8.2f} s   same pattern set on dask: {r['same_patterns']}")
    print(f"  enumerate, 1 worker         {r['enum_1_s']:8.2f} s")
    print(f"  enumerate, 2 workers        {r['enum_2_s']:8.2f} s   ratio {r['enum_1_s'] / r['enum_2_s']:.2f}x")
    if "integral_1_s" in r:
        print(f"  streamed integral, 1 worker {r['integral_1_s']:8.2f} s")
        print(f"  streamed integral, 2 workers{r['integral_2_s']:8.2f} s   ratio {r['integral_1_s'] / r['integral_2_s']:.2f}x")
        print(f"  volume gap {r['volume_gap']:.1e}; integral {r['integral']:.12g} over {r['region_pieces']:,} region pieces")
    else:
        print(f"  volume gap {r['volume_gap']:.1e} (merged volumes against the box's)")
    print(f"  peak RSS: worker {r['worker_rss_2_mib']:.0f} MiB (2 workers), {r['worker_rss_1_mib']:.0f} MiB (1 worker); "
          f"client {r['client_rss_mib']:.0f} MiB")
    for s in stream:
        print(f"  streamed here: box x{s['scale']:.0f}, {s['pieces']} sub-boxes, {s['region_pieces']:,} region pieces, "
              f"{s['seconds']:.2f} s, peak RSS {s['rss_before']:.0f} -> {s['rss_after']:.0f} MiB")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=5)
    parser.add_argument("--hidden", default="32,32")
    parser.add_argument("--pieces", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="a 4-input [16,16] network")
    parser.add_argument("--large", action="store_true",
                        help="only the ~10^7-region-piece streamed integral (--d/--hidden, default 5-input [32,32], "
                             "512 sub-boxes: about 10 minutes on 2 cores)")
    parser.add_argument("--large-pieces", type=int, default=512)
    parser.add_argument("--large-workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.large:
        hidden = tuple(int(v) for v in args.hidden.split(","))
        print_large(large_stream_row(args.d, hidden, pieces=args.large_pieces, workers=args.large_workers))
        return
    d, hidden = (4, (16, 16)) if args.quick else (args.d, tuple(int(v) for v in args.hidden.split(",")))
    r = rows(d, hidden, args.pieces)
    stream = streaming_rows(3 if args.quick else 4, (16, 16) if args.quick else (32, 32))
    print_rows(r, stream)


if __name__ == "__main__":
    main()
