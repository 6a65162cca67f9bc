"""polyattr quickstart: a small PyTorch model, its linear regions, and every attribution method.

Run:  python examples/quickstart.py [--out quickstart_partition.png]

1. trains a tiny ReLU network (2 inputs, hidden [16, 16]) on a toy function with PyTorch
   (falls back to a random network when PyTorch is not installed) and imports it;
2. enumerates its linear regions on [0, 1]^2 and draws the partition;
3. prints one table: every method's exact attribution at x, beside a sampled approximation
   (Monte Carlo, Riemann sums or finite differences) and the gap between them.
"""

import argparse
import time

import numpy as np

import polyattr
from polyattr.attribution.approximate import riemann_stieltjes_grid, sampled_attribution
from polyattr.attribution.registry import method_specs


def small_model(seed: int = 0) -> polyattr.ReLUNetwork:
    """A 2-16-16-1 ReLU network fitted to f(z) = sin(3 z1) + z1 z2 on [0, 1]^2 (or a random one)."""
    try:
        import torch
    except ImportError:
        print("PyTorch not installed: using a random network instead")
        return polyattr.random_network([2, 16, 16, 1], rng=seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # a tiny model: threads cost more than they give
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
                              torch.nn.Linear(16, 1))
    gen = torch.Generator().manual_seed(seed)
    Z = torch.rand(256, 2, generator=gen)
    y = torch.sin(3 * Z[:, :1]) + Z[:, :1] * Z[:, 1:]
    opt = torch.optim.Adam(net.parameters(), lr=0.03)
    for _ in range(200):
        opt.zero_grad()
        loss = ((net(Z) - y) ** 2).mean()
        loss.backward()
        opt.step()
    print(f"trained a 2-16-16-1 PyTorch network (mse {loss.item():.2e})")
    return polyattr.from_torch(net)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="quickstart_partition.png", help="where to draw the partition")
    args = parser.parse_args()

    model = small_model()
    # 1. the linear regions on the unit square, and the picture
    regions = polyattr.enumerate_regions(model)
    print(f"{model!r}: {len(regions)} linear regions on [0,1]^2, total volume {regions.total_volume:.15f}")
    regions.plot(path=args.out)
    print(f"partition picture written to {args.out}")

    # 2. every method at one input, exact beside a sampled approximation
    x = np.array([0.3, 0.7])
    print(f"\nattributions at x = ({x[0]:g}, {x[1]:g}) (baseline 0 where a method needs one)")
    print(f"{'method':<27}{'exact (polyattr)':<26}{'approximation':<26}{'|error|':>9}  {'exact s':>8}  how")
    for spec in method_specs():
        if not spec.tables:
            continue  # a user-supplied family (method "measure"): see examples/custom_measure.py
        method, options = spec.name, dict(spec.demo_options)  # the options a bare run needs
        result = polyattr.attribute(model, x, method, **options)
        est = sampled_attribution(model, x, method, n=100_000, rng=0, options=options)
        if est is None:
            print(f"{method:<27}{fmt(result.values):<26}{'-':<26}{'-':>9}  {result.seconds:8.4f}  (none)")
            continue
        err = np.max(np.abs(result.values.astype(float) - est.values))
        print(f"{method:<27}{fmt(result.values):<26}{fmt(est.values):<26}{err:9.1e}  {result.seconds:8.4f}  "
              f"{est.info['how']}")

    # 3. the authors' Riemann-Stieltjes grid for the global attribution, against the exact value
    exact = polyattr.attribute(model, x, "fafp_global")
    start = time.perf_counter()
    grid = riemann_stieltjes_grid(model, {"method": "fafp_global", "x": x}, 1000)
    print(f"\nfafp_global exact {fmt(exact.values)} in {exact.seconds:.4f} s; Riemann-Stieltjes grid N=1000 "
          f"{fmt(grid.values)} in {time.perf_counter() - start:.2f} s (error "
          f"{np.max(np.abs(grid.values - exact.values)):.1e})")


def fmt(values) -> str:
    return "[" + ", ".join(f"{float(v): .5f}" for v in values) + "]"


if __name__ == "__main__":
    main()
