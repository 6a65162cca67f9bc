"""polyattr's region enumeration beside the public edge-subdivision enumerator (Berzins 2023).

Run:  python benchmarks/edge_subdivision.py PATH_TO_CHECKOUT [--dims 2,3,4] [--workers N]
      (or set POLYATTR_EDGE_SUBDIVISION=PATH_TO_CHECKOUT)

PATH_TO_CHECKOUT is a checkout of github.com/arturs-berzins/relu_edge_subdivision (PyTorch; it runs
here on the CPU with ``device='cpu'``).  Its code is imported from that path only for this
benchmark; none of it is part of polyattr.  Without the path the script prints a note and exits 0.

For He-initialised [32, 32] networks with d = 2..5 inputs on [-1, 1]^d (weights rounded to float32,
so both programs see the same numbers; the peer computes in float32, polyattr in float64):

* the peer's vertex-edge skeleton is turned into its set of regions: in a generic arrangement
  every region has a vertex, and the regions at a vertex are the sign vectors obtained by setting
  each of its zero neuron signs to + or - (box signs stay inside);
* polyattr's split backend enumerates patterns only (``volumes=False``) and with volumes;
* the pattern sets are compared (identical: yes/no) and both times and the ratio are printed.

Times are wall clock of one run after a warm-up (numba compilation, torch start-up), on whatever
load the machine has; the process CPU time is printed too.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

from polyattr import Box, enumerate_regions, random_network
from polyattr.models.relu import ReLUNetwork

ENV = "POLYATTR_EDGE_SUBDIVISION"


def float32_network(d: int, hidden, seed: int) -> ReLUNetwork:
    net = random_network([d, *hidden, 1], rng=seed)
    return ReLUNetwork([np.float32(W).astype(float) for W in net.weights], [np.float32(b).astype(float) for b in net.biases])


def peer_regions(checkout: Path, net: ReLUNetwork):
    """Run the peer on ``net`` over [-1, 1]^d; return (set of pattern bytes, seconds, cpu seconds)."""
    import torch

    Net, skeletal_subdivision = _peer_modules(checkout)

    # the peer subdivides by every layer it is given, the last one included (it extracts the
    # output's zero level set too): give it the hidden layers only, whose units cut the regions
    hidden_W, hidden_b = net.weights[:-1], net.biases[:-1]
    f = Net(ks=[net.n_inputs, *[W.shape[0] for W in hidden_W]])
    with torch.no_grad():
        for lin, W, b in zip(f.fcs, hidden_W, hidden_b):
            lin.weight.copy_(torch.from_numpy(np.asarray(W, np.float32)))
            lin.bias.copy_(torch.from_numpy(np.asarray(b, np.float32)))
        w, c = time.perf_counter(), time.process_time()
        vs, edges, v_sv = skeletal_subdivision(f, bbox=(-1, 1), device="cpu", verbose=False)
        seconds, cpu = time.perf_counter() - w, time.process_time() - c
    d = net.n_inputs
    sv = v_sv.numpy()[:, 2 * d:]  # neuron signs (box columns first)
    return _regions_at_vertices(sv), seconds, cpu


def _peer_modules(checkout: Path):
    """The peer's Net class and enumerator, loaded from the checkout under names of their own
    (its module edge_subdivision.py has this benchmark's name)."""
    import importlib.util

    if str(checkout) not in sys.path:
        sys.path.append(str(checkout))  # for the peer's own "from utils import ..."
    loaded = []
    for name, file in (("berzins_nn", "NN.py"), ("berzins_edge_subdivision", "edge_subdivision.py")):
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, checkout / file)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[name] = module
        loaded.append(sys.modules[name])
    return loaded[0].Net, loaded[1].skeletal_subdivision


def _regions_at_vertices(sv: np.ndarray) -> set:
    """Sign vectors of the regions around each vertex: every zero set to +1 or -1 (pattern: > 0)."""
    patterns = set()
    positive = sv > 0
    zero = sv == 0
    n_zero = zero.sum(axis=1)
    for z in np.unique(n_zero):
        rows = np.flatnonzero(n_zero == z)
        cols = np.nonzero(zero[rows])[1].reshape(len(rows), z)
        for signs in itertools.product((False, True), repeat=int(z)):
            pats = positive[rows].copy()
            pats[np.arange(len(rows))[:, None], cols] = np.array(signs, bool)[None, :]
            patterns.update(np.packbits(pats, axis=1).tobytes()[i * ((sv.shape[1] + 7) // 8):(i + 1) * ((sv.shape[1] + 7) // 8)]
                            for i in range(len(rows)))
    return patterns


def polyattr_regions(net: ReLUNetwork, volumes: bool, workers):
    box = Box(-np.ones(net.n_inputs), np.ones(net.n_inputs))
    w, c = time.perf_counter(), time.process_time()
    regions = enumerate_regions(net, box, max_regions=None, check_estimate=False, volumes=volumes, workers=workers)
    seconds, cpu = time.perf_counter() - w, time.process_time() - c
    width = (regions.patterns.shape[1] + 7) // 8
    packed = np.packbits(regions.patterns, axis=1).tobytes()
    return {packed[i * width:(i + 1) * width] for i in range(len(regions))}, seconds, cpu, len(regions)


def rows(checkout: Path, dims=(2, 3, 4), hidden=(32, 32), seed: int = 2026, workers=None) -> list[dict]:
    """One row per input dimension: region counts, times of both programs and their ratios."""
    warm = float32_network(2, [8, 8], seed)
    polyattr_regions(warm, True, workers)
    peer_regions(checkout, warm)
    out = []
    for d in dims:
        net = float32_network(d, list(hidden), seed + d)
        ours, t_patterns, cpu_patterns, n = polyattr_regions(net, False, workers)
        _, t_volumes, cpu_volumes, _ = polyattr_regions(net, True, workers)
        theirs, t_peer, cpu_peer = peer_regions(checkout, net)
        out.append({"d": d, "hidden": list(hidden), "regions": n, "peer_regions": len(theirs),
                     "identical": ours == theirs, "peer_s": t_peer, "patterns_s": t_patterns,
                     "volumes_s": t_volumes, "speedup_patterns": t_peer / t_patterns,
                     "speedup_volumes": t_peer / t_volumes, "peer_cpu_s": cpu_peer,
                     "patterns_cpu_s": cpu_patterns, "volumes_cpu_s": cpu_volumes})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", nargs="?", default=os.environ.get(ENV),
                        help=f"path of a relu_edge_subdivision checkout (or ${ENV})")
    parser.add_argument("--dims", default="2,3,4", help="input dimensions, comma-separated (default 2,3,4; 5 takes minutes)")
    parser.add_argument("--workers", type=int, default=None, help="polyattr threads (default: all cores)")
    args = parser.parse_args(argv)
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
    dims = tuple(int(x) for x in args.dims.split(","))
    table = rows(Path(args.checkout), dims=dims, workers=args.workers)
    print(f"{'d':>2} {'hidden':>8} {'regions':>9} {'peer':>9} {'same':>5} {'peer s':>8} {'ours s':>8} {'ratio':>6} "
          f"{'+vol s':>8} {'ratio':>6} {'peer cpu':>9} {'ours cpu':>9} {'+vol cpu':>9}")
    for r in table:
        print(f"{r['d']:>2} {str(r['hidden']):>8} {r['regions']:>9} {r['peer_regions']:>9} {str(r['identical']):>5} "
              f"{r['peer_s']:8.3f} {r['patterns_s']:8.3f} {r['speedup_patterns']:6.2f} {r['volumes_s']:8.3f} "
              f"{r['speedup_volumes']:6.2f} {r['peer_cpu_s']:9.3f} {r['patterns_cpu_s']:9.3f} {r['volumes_cpu_s']:9.3f}")
    print("ratio = peer time / polyattr time (> 1: polyattr faster); 'ours' = patterns only, '+vol' = with volumes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
