"""PyTorch import: lowering time, network size and agreement with torch, printed as a table.

Run:  python benchmarks/torch_import.py [--points N] [--seed S]

For a few convolutional and residual modules, ``from_torch`` (exact rational composition, then one
rounding per entry) is timed, the dense network's hidden sizes and number of cutting units are
printed, and its outputs at N random points are compared with the module evaluated by torch in
float64 (the largest error relative to the largest output).  Import time is dominated by the
exact composition of convolutions (one Fraction product per weight tap and output element).
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from torch import nn

from polyattr import from_torch


class ResidualMLP(nn.Module):
    def __init__(self, d=8, width=32, blocks=3):
        super().__init__()
        self.inp = nn.Linear(d, width)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
        self.out = nn.Linear(width, 1)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        for block in self.blocks:
            h = h + torch.relu(block(h))
        return self.out(h)


def lenet(channels=(4, 8)):
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 5), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(c2 * 16, 10),
    )


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32, 3))


CASES = [
    ("cnn 1x8x8 (2 filters, BN, maxpool)", small_cnn, (1, 8, 8)),
    ("residual MLP 8-32x3-1", ResidualMLP, (8,)),
    ("LeNet-like 1x28x28 (4, 8 filters)", lenet, (1, 28, 28)),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    torch.set_num_threads(1)
    print(f"{'module':38s} {'import s':>9s} {'hidden sizes':>28s} {'cutting':>8s} {'max rel err':>12s}")
    for label, factory, shape in CASES:
        module = factory()
        with torch.no_grad():
            for p in module.parameters():
                p.copy_(torch.tensor(rng.normal(0, 0.5, size=p.shape), dtype=p.dtype))
        module.eval()
        t = time.perf_counter()
        net = from_torch(module, input_shape=shape)
        seconds = time.perf_counter() - t
        X = rng.uniform(-1, 1, size=(args.points, int(np.prod(shape))))
        with torch.no_grad():
            ref = copy.deepcopy(module).double()(torch.tensor(X.reshape(len(X), *shape))).reshape(len(X), -1).numpy()
        out = np.asarray(net(X)).reshape(len(X), -1)
        err = np.max(np.abs(out - ref)) / np.max(np.abs(ref))
        sizes = "-".join(map(str, net.hidden_sizes))
        print(f"{label:38s} {seconds:9.2f} {sizes:>28s} {net.n_neurons:8d} {err:12.2e}")


if __name__ == "__main__":
    main()
