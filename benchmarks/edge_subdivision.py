"""polyattr's region enumeration beside the public edge-subdivision enumerator (Berzins 2023).

Run:  python benchmarks/edge_subdivision.py PATH_TO_CHECKOUT [--dims 2,3,4,5] [--peer-threads 1,2]
                                            [--timeout 600] [--workers N] [--quick]
      (or set POLYATTR_EDGE_SUBDIVISION=PATH_TO_CHECKOUT)

PATH_TO_CHECKOUT is a checkout of github.com/arturs-berzins/relu_edge_subdivision (PyTorch; it runs
here on the CPU with ``device='cpu'``).  Its code is imported from that path only, in a child
process of this benchmark; none of it is part of polyattr.  Without the path the script prints a
note and exits 0.

What is measured
----------------
He-initialised [32, 32] networks with d = 2..5 inputs on [-1, 1]^d (weights rounded to float32, so
both programs see the same numbers; the peer computes in float32, polyattr in float64):

* the peer, ``skeletal_subdivision(f, bbox=(-1, 1), device='cpu')`` on the hidden layers, in a
  child process with a hard time limit (``--timeout``; the figure is then "timed out after N s"),
  once per torch thread count in ``--peer-threads`` (``torch.set_num_threads`` and
  ``OMP_NUM_THREADS``), after a warm-up run in the same process; the best of these is the peer's
  figure.  Its wall and CPU seconds cover ``skeletal_subdivision`` only;
* turning the peer's vertex-edge skeleton into its set of regions (not part of the peer's time,
  printed apart): in a generic arrangement every region of the box has a vertex, and the regions
  at a vertex are the sign vectors obtained by setting each of its zero neuron signs to + or -
  (box signs stay inside); done on 64-bit pattern words, 2^z variants per vertex with z zeros;
* polyattr's split backend (``--workers`` threads, default all cores): patterns only without the
  partition proof (``exact_fallback=False``), patterns proven (the default), and proven with
  volumes;
* identical: the two sorted pattern sets are equal (in a generic arrangement the pattern set
  determines the partition); the ratio is peer seconds / polyattr seconds (> 1: polyattr faster).

Identical at d = 2, 3 and 4.  At d = 5 (1,893,201 regions) one region differs: the peer's set has
pattern 0x58c92b1a31f9334a where polyattr's proven set (``RegionSet.proven``: every sign decision
checked at the exact vertices) has 0x98c12b7e31f9334a; they differ in six second-layer units (34,
37, 38, 51, 62, 63).  Checked apart from both programs: an LP's Chebyshev-type centre of
polyattr's region, taken as a rational point, has exactly (in Fractions, from the float32 weights)
polyattr's pattern, with every pre-activation at least 4.7e-10 away from 0, so polyattr's region is
there; the peer's pattern has a largest normalised slack of -4.8e-10 (empty up to the LP's
tolerance).  It is a sliver about 1e-9 wide, below the peer's float32 resolution: the peer
computes its vertices (by interpolation along edges) and their signs in float32.  The other
1,893,200 regions agree.

Measured (full run, 2 shared cores at load 6-12, one peer thread best except at d = 5):

    d   regions     peer s (cpu)     polyattr s (cpu): patterns   proven          volumes
    2     1,057     0.085 (0.04)     0.031 (0.01) 2.7x            0.039 2.2x      0.031 2.7x
    3    16,677     0.310 (0.21)     0.332 (0.16) 0.94x           0.555 0.56x     0.551 0.56x
    4   276,249     8.29  (4.00)     4.97  (3.28) 1.67x           9.18  0.90x     13.2  0.63x
    5 1,893,201     133   (61)       128   (61)   1.04x           242   0.55x     -

At d = 5 the peer's process peaks at 7.6 GB RSS (2,400,412 vertices, 11,448,652 edges) and the
conversion of its skeleton takes 26-76 s under this load.  The target (polyattr >= 2x the peer at
d = 4 and 5) is not met: patterns only, 1.0-1.7x; proven, 0.55-0.9x.

Why last session's d = 4 run "did not finish in 15 minutes"
-----------------------------------------------------------
Profiled here (2 shared cores at load 3-10; d = 3: 18,556 vertices, 16,677 regions):

* the conversion of the skeleton to regions was quadratic: it packed the whole pattern array
  once per vertex (``np.packbits(pats).tobytes()[i * w:(i + 1) * w] for i in ...``): 29 s at
  d = 3 against the peer's 0.29 s, hours at d = 4 (320,701 vertices).  Now 0.05 s at d = 3,
  2 s at d = 4 (vectorised on uint64 words, :func:`regions_at_vertices`), outside the peer's time;
* the peer ran with torch's default two intra-op threads, which on a loaded machine are 15-30x
  slower than one thread on its many small tensor operations (each operation waits for both
  OpenMP threads, one of them descheduled): d = 2, 1,115 vertices: 1.27 s with 2 threads, 0.04 s
  with 1; d = 3: 4.5 s against 0.29 s; d = 4: 36 s against 7.3 s.  The peer now runs with each
  thread count of ``--peer-threads`` (1 and 2 in the full run) and the best counts, so load
  cannot make it look slow, and an idle machine can still show its two-thread figure;
* not the cause: the weights (float32 is the peer's own precision: ``skeletal_subdivision``
  forces ``.float()`` vertices) or the network (the same [32, 32] networks).  The issue's "155,654
  regions, 1.6 s" at d = 4 was another random network (this one has 276,249 regions).

How the two costs grow with d (the issue: "the peer scales better with d")
---------------------------------------------------------------------------
The peer keeps one global vertex-edge skeleton of the whole box and processes the 64 neurons in
order; for each neuron it evaluates the new vertices, finds the split edges by the signs at their
two ends and interpolates the new vertices, all as whole-array tensor operations over every edge at
once.  Its only d-dependent step is matching the new edges: each split edge's sign vector is
perturbed at its d - 1 zeros (2 (d - 1) faces per edge) and the faces are paired by one lexsort.
So its cost is about (neurons) x (edges) x (a few vectorised passes, ~ns per element) plus
(neurons) x 2 (d - 1) (split edges) x (lexsort), with no per-cell work: each vertex and edge is
stored once, shared by all the regions around it (at d = 5: 2.4 million vertices for 1.9 million
regions).

polyattr splits cells one at a time (numba, depth first): every cell carries its own vertex table
(a vertex of the arrangement is stored once per region containing it: ~16 vertex rows per region
at d = 4), and each split searches the cell's edges by a test quadratic in the cell's vertex count
(pairs with d - 1 common tight constraints, then a third-vertex check).  Vertices per cell and the
edge test both grow with d.  Measured (1 peer thread; polyattr 2 threads, patterns only, no
proof; CPU seconds, which load distorts less than wall; load 6-12; d = 5 from two runs):

    d   regions     peer vertices / edges     peer CPU   polyattr CPU   per region: peer / polyattr
    2     1,057         1,115 /      2,171      0.04 s       0.01 s      38 /  9 us
    3    16,677        18,556 /     53,723      0.21 s       0.16 s      13 / 10 us
    4   276,249       320,701 /  1,235,897      4.0 s        3.3 s       14 / 12 us
    5 1,893,201     2,400,412 / 11,448,652    51-59 s      55-61 s    27-31 / 29-32 us

So the peer does scale a little better, but less than wall times suggested: from d = 3 to 5 its
CPU per region grows 2.2x, polyattr's 3x (the peer from its lexsort over 2 (d - 1) x (split
edges) rows of 2d + 64 sign columns and from re-copying every vertex and edge array at each of
the 64 neurons, ``torch.vstack``: 40% of its d = 5 time is the face matching, 13% the copies;
polyattr from larger cells).  In CPU, polyattr's patterns-only run is 1.3x cheaper than the peer at
d = 3, 1.2x at d = 4 and about equal at d = 5.  The rest of the measured gap is what polyattr adds
and the peer does not do -- the partition proof and the volumes (at d = 4: +70% and +110% CPU) --
and wall time under load (polyattr's two threads wait for cores; the peer's one thread less so).
Where polyattr's time goes (d = 4, 1 thread, proven, patterns only, 11.9 s wall at load ~6):
split kernel 5.0 s, verification kernel 4.0 s, Python-level array work in ``split_enumerate``
(concatenating the per-cell vertex tables) 1.6 s, array copies 0.8 s.  Reaching 2x the peer at
d = 4 and 5 needs the split kernel itself about 2x faster per region and the proof much cheaper
(both in geometry/splitting.py and verify_partition.py, not this benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ENV = "POLYATTR_EDGE_SUBDIVISION"


def float32_network(d: int, hidden, seed: int):
    from polyattr import random_network
    from polyattr.models.relu import ReLUNetwork

    net = random_network([d, *hidden, 1], rng=seed)
    return ReLUNetwork([np.float32(W).astype(float) for W in net.weights], [np.float32(b).astype(float) for b in net.biases])


# --- patterns as sorted 64-bit words -------------------------------------------------------------

def _words(bits: np.ndarray) -> np.ndarray:
    """Rows of a boolean (N, n) array as (N, ceil(n / 64)) uint64 words, column j at bit j % 64."""
    n = bits.shape[1]
    width = -(-n // 64) * 8
    packed = np.packbits(bits, axis=1, bitorder="little")
    padded = np.zeros((len(bits), width), np.uint8)
    padded[:, :packed.shape[1]] = packed
    return padded.view("<u8")


def _unique_rows(words: np.ndarray) -> np.ndarray:
    if words.shape[1] == 1:
        return np.unique(words[:, 0])[:, None]
    return np.unique(words, axis=0)


def pattern_keys(patterns: np.ndarray) -> np.ndarray:
    """The sorted distinct rows of a boolean pattern array, as uint64 words."""
    return _unique_rows(_words(np.asarray(patterns, bool)))


def regions_at_vertices(sv: np.ndarray, chunk: int = 1 << 21) -> np.ndarray:
    """The regions around the vertices of a skeleton, as sorted uint64 pattern words.

    ``sv`` holds the vertices' neuron signs (-1, 0, +1; box columns removed).  A vertex with z zero
    signs lies in the closure of the 2^z regions obtained by setting each zero to + or - (in a
    generic arrangement); the pattern bit is sign > 0.
    """
    base = _words(sv > 0)
    zero = sv == 0
    n_zero = zero.sum(axis=1)
    parts = []
    for z in np.unique(n_zero):
        rows_z = np.flatnonzero(n_zero == z)
        step = max(1, chunk >> int(z))
        for start in range(0, len(rows_z), step):
            rows = rows_z[start:start + step]
            m = len(rows)
            cols = np.nonzero(zero[rows])[1].reshape(m, int(z))
            word, bit = cols // 64, np.left_shift(np.uint64(1), (cols % 64).astype(np.uint64))
            variants = np.repeat(base[rows][None], 1 << int(z), axis=0)  # (2^z, m, W)
            at = np.arange(m)
            for i in range(int(z)):  # variant k sets zero i to + when bit i of k is 1
                on = np.flatnonzero((np.arange(1 << int(z)) >> i) & 1)
                variants[on[:, None], at[None, :], word[None, :, i]] |= bit[None, :, i]
            parts.append(_unique_rows(variants.reshape(-1, base.shape[1])))
    return _unique_rows(np.concatenate(parts)) if parts else np.zeros((0, base.shape[1]), np.uint64)


# --- the two programs ----------------------------------------------------------------------------

def polyattr_run(net, mode: str, workers, max_memory="12G"):
    """polyattr's split backend on [-1, 1]^d; mode "patterns" (no proof), "proven" or "volumes"."""
    from polyattr import Box, enumerate_regions

    box = Box(-np.ones(net.n_inputs), np.ones(net.n_inputs))
    w, c = time.perf_counter(), time.process_time()
    regions = enumerate_regions(net, box, max_regions=None, check_estimate=False, backend="split",
                                volumes=mode == "volumes", exact_fallback=mode != "patterns", workers=workers,
                                max_memory=max_memory)
    seconds, cpu = time.perf_counter() - w, time.process_time() - c
    return pattern_keys(regions.patterns), seconds, cpu


def peer_run(checkout: Path, net, threads: int, timeout: float, convert: bool = True) -> dict:
    """The peer on ``net``'s hidden layers over [-1, 1]^d in a child process with ``threads`` torch
    threads and a hard time limit.  Returns a dict with "status" ("ok", "timed out", "failed") and,
    with ``convert``, the sorted pattern words of its regions ("keys")."""
    with tempfile.TemporaryDirectory(prefix="polyattr-es-") as tmp:
        weights, result = Path(tmp) / "weights.npz", Path(tmp) / "result.npz"
        # the peer subdivides by every layer it is given, the last one included (it extracts the
        # output's zero level set too): give it the hidden layers only, whose units cut the regions
        arrays = {}
        for i, (W, b) in enumerate(zip(net.weights[:-1], net.biases[:-1])):
            arrays[f"W{i}"], arrays[f"b{i}"] = np.asarray(W, np.float32), np.asarray(b, np.float32)
        np.savez(weights, **arrays)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--peer-child", str(checkout), str(weights),
               str(result), "--peer-threads", str(threads)] + ([] if convert else ["--no-convert"])
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            return {"status": "timed out", "threads": threads, "timeout": timeout}
        if proc.returncode != 0 or not result.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            return {"status": "failed", "threads": threads, "error": tail[0][:200],
                    "elapsed": time.perf_counter() - start}
        with np.load(result) as data:
            out = json.loads(str(data["meta"]))
            out["keys"] = data["keys"] if convert else None
    out.update(status="ok", threads=threads, elapsed=time.perf_counter() - start)
    return out


def _peer_child(checkout: Path, weights: Path, result: Path, threads: int, convert: bool = True) -> None:
    """Runs in the child process: warm-up, the timed peer run, the conversion to regions."""
    import importlib.util
    import resource

    import torch

    torch.set_num_threads(threads)
    sys.path.append(str(checkout))  # for the peer's own "from utils import ..."
    loaded = []
    # under names of their own: the peer's edge_subdivision.py has this script's name
    for name, file in (("berzins_nn", "NN.py"), ("berzins_edge_subdivision", "edge_subdivision.py")):
        spec = importlib.util.spec_from_file_location(name, checkout / file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
        loaded.append(module)
    Net, skeletal_subdivision = loaded[0].Net, loaded[1].skeletal_subdivision

    with np.load(weights) as data:
        layers = [(data[f"W{i}"], data[f"b{i}"]) for i in range(len(data.files) // 2)]

    def build(layers):
        f = Net(ks=[layers[0][0].shape[1], *[W.shape[0] for W, _ in layers]])
        for lin, (W, b) in zip(f.fcs, layers):
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        return f

    d = layers[0][0].shape[1]
    rng = np.random.default_rng(0)
    with torch.no_grad():
        warm = [(rng.standard_normal((8, 2)).astype(np.float32), rng.standard_normal(8).astype(np.float32)),
                (rng.standard_normal((8, 8)).astype(np.float32), rng.standard_normal(8).astype(np.float32))]
        skeletal_subdivision(build(warm), bbox=(-1, 1), device="cpu", verbose=False)
        f = build(layers)
        w, c = time.perf_counter(), time.process_time()
        vs, edges, v_sv = skeletal_subdivision(f, bbox=(-1, 1), device="cpu", verbose=False)
        seconds, cpu = time.perf_counter() - w, time.process_time() - c
    n_vertices, n_edges = len(vs), len(edges)
    peer_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del vs, edges
    w = time.perf_counter()
    keys = regions_at_vertices(v_sv.numpy()[:, 2 * d:]) if convert else np.zeros((0, 1), np.uint64)
    meta = {"seconds": seconds, "cpu_seconds": cpu, "vertices": n_vertices, "edges": n_edges,
            "convert_seconds": time.perf_counter() - w if convert else None, "peer_rss_mib": peer_rss,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    np.savez(result, keys=keys, meta=json.dumps(meta))


def rows(checkout: Path, dims=(2, 3, 4, 5), hidden=(32, 32), seed: int = 2026, workers=None,
         peer_threads=(1, 2), timeout: float = 600.0, volumes_up_to: int = 4) -> list[dict]:
    """One row per input dimension: region counts, times of both programs, identical or not.

    polyattr runs patterns only, proven, and (for d <= ``volumes_up_to``) with volumes.  The peer
    runs once per thread count with ``timeout`` seconds for the first; a later thread count only
    needs to show whether it beats the best so far, so it is stopped at 1.5 times that run's
    elapsed time plus 10 s (start-up and conversion included), or ``timeout``, whichever is less.
    """
    from polyattr import enumerate_regions, random_network

    warm = random_network([3, 8, 8, 1], rng=0)  # numba kernels
    enumerate_regions(warm, backend="split", workers=workers)
    enumerate_regions(warm, backend="split", volumes=False, workers=workers)
    out = []
    for d in dims:
        net = float32_network(d, list(hidden), seed + d)
        row = {"d": d, "hidden": list(hidden), "ours": {}, "peer": []}
        keys = None
        modes = ("patterns", "proven", "volumes") if d <= volumes_up_to else ("patterns", "proven")
        for mode in modes:
            keys, seconds, cpu = polyattr_run(net, mode, workers)
            row["ours"][mode] = {"seconds": seconds, "cpu_seconds": cpu}
        row["regions"] = len(keys)
        limit, converted = timeout, False
        for threads in peer_threads:
            # the skeleton is turned into regions once per d (it costs 30 s and GBs at d = 5)
            peer = peer_run(checkout, net, threads, limit, convert=not converted)
            converted = converted or peer["status"] == "ok"
            if peer["status"] == "ok":
                limit = min(limit, 1.5 * peer["elapsed"] + 10.0)
            theirs = peer.pop("keys", None)
            if theirs is not None:
                row["peer_regions"] = len(theirs)
                row["identical"] = theirs.shape == keys.shape and bool(np.array_equal(theirs, keys))
                if not row["identical"]:
                    view = np.dtype((np.void, 8 * keys.shape[1]))
                    a = np.ascontiguousarray(theirs).view(view).ravel()
                    b = np.ascontiguousarray(keys).view(view).ravel()
                    row["only_peer"], row["only_ours"] = len(np.setdiff1d(a, b)), len(np.setdiff1d(b, a))
            row["peer"].append(peer)
        done = [p for p in row["peer"] if p["status"] == "ok"]
        row["peer_best"] = min(done, key=lambda p: p["seconds"]) if done else None
        out.append(row)
        print_row(row, flush=True)
    return out


def print_row(r, flush=False) -> None:
    best = r["peer_best"]
    ours = "  ".join(f"{mode} {v['seconds']:.3f} (cpu {v['cpu_seconds']:.2f})" for mode, v in r["ours"].items())
    print(f"{r['d']:>2} {r['regions']:>9} | polyattr: {ours}")
    for p in r["peer"]:
        if p["status"] == "ok":
            if p["convert_seconds"] is None:
                same = "(its skeleton not converted again)"
            elif r["identical"]:
                same = f"skeleton -> regions {p['convert_seconds']:.2f} s ({p['peak_rss_mib']:.0f} MiB); identical"
            else:
                same = (f"skeleton -> regions {p['convert_seconds']:.2f} s ({p['peak_rss_mib']:.0f} MiB); NOT identical "
                        f"({r['peer_regions']} regions; only the peer's {r['only_peer']}, only polyattr's {r['only_ours']})")
            print(f"{'':>12} | peer, {p['threads']} thread(s): {p['seconds']:.3f} s (cpu {p['cpu_seconds']:.2f}), "
                  f"{p['vertices']:,} vertices, {p['edges']:,} edges, {p['peer_rss_mib']:.0f} MiB peak RSS; {same}")
        elif p["status"] == "timed out":
            print(f"{'':>12} | peer, {p['threads']} thread(s): timed out after {p['timeout']:.0f} s"
                  + (" (slower than the best run above)" if best is not None else ""))
        else:
            print(f"{'':>12} | peer, {p['threads']} thread(s): failed ({p['error']})")
    if best is not None:
        ratios = "  ".join(f"{mode} {best['seconds'] / v['seconds']:.2f}x" for mode, v in r["ours"].items())
        print(f"{'':>12} | ratio peer ({best['threads']} thread(s), {best['seconds']:.3f} s) / polyattr: {ratios}"
              + ("" if r.get("identical") else "  [pattern sets differ]"), flush=flush)
    else:
        timeouts = [p for p in r["peer"] if p["status"] == "timed out"]
        if timeouts:
            t = max(p["timeout"] for p in timeouts)
            ratios = "  ".join(f"{mode} > {t / v['seconds']:.2f}x" for mode, v in r["ours"].items())
            print(f"{'':>12} | ratio: the peer timed out after {t:.0f} s: {ratios}", flush=flush)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", nargs="?", default=os.environ.get(ENV),
                        help=f"path of a relu_edge_subdivision checkout (or ${ENV})")
    parser.add_argument("--dims", default=None, help="input dimensions, comma-separated (default 2,3,4,5; --quick 2,3,4)")
    parser.add_argument("--workers", type=int, default=None, help="polyattr threads (default: all cores)")
    parser.add_argument("--peer-threads", default=None,
                        help="torch thread counts the peer runs with, the best counts (default 1,2; --quick 1)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per peer run before it is stopped (default 600; --quick 120)")
    parser.add_argument("--volumes-up-to", type=int, default=4, help="polyattr with volumes for d <= this (default 4)")
    parser.add_argument("--quick", action="store_true", help="d = 2, 3, 4, one peer thread count, 120 s limit")
    parser.add_argument("--peer-child", nargs=3, metavar=("CHECKOUT", "WEIGHTS", "RESULT"), help=argparse.SUPPRESS)
    parser.add_argument("--no-convert", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_child:
        checkout, weights, result = (Path(p) for p in args.peer_child)
        _peer_child(checkout, weights, result, int(args.peer_threads), convert=not args.no_convert)
        return 0
    if not args.checkout or not (Path(args.checkout) / "edge_subdivision.py").is_file():
        print(f"note: no relu_edge_subdivision checkout given (argument or ${ENV}); clone "
              f"https://github.com/arturs-berzins/relu_edge_subdivision somewhere outside the repository "
              f"and pass its path. Nothing was measured.")
        return 0
    try:
        import torch  # noqa: F401
    except ImportError:
        print("note: the peer needs PyTorch (pip install torch); nothing was measured.")
        return 0
    dims = tuple(int(x) for x in (args.dims or ("2,3,4" if args.quick else "2,3,4,5")).split(","))
    peer_threads = tuple(int(x) for x in (args.peer_threads or ("1" if args.quick else "1,2")).split(","))
    timeout = args.timeout if args.timeout is not None else (120.0 if args.quick else 600.0)
    print(f"[32,32] networks on [-1,1]^d, float32 weights; peer: torch threads {peer_threads}, {timeout:.0f} s limit "
          f"per run; polyattr: split backend, {args.workers or 'all'} thread(s)")
    print("polyattr modes: patterns = patterns only, no proof; proven = patterns with the partition proof "
          "(the default); volumes = proven, with volumes")
    rows(Path(args.checkout).resolve(), dims=dims, workers=args.workers, peer_threads=peer_threads, timeout=timeout,
         volumes_up_to=args.volumes_up_to)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
