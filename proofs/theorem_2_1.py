#!/usr/bin/env python
"""Theorem 2.1 (THEORY.md §2): smooth models collapse to Gradient x Input; ReLU networks escape.

Run: ``python proofs/theorem_2_1.py``. Prints three tables and exits non-zero if a claim fails.

1. Random softplus networks, random x, x', x0, both methods (baseline Shapley, Integrated
   Gradients): the remainder phi(x, f) - grad f(x0) * (x - x') equals phi(x, R) to rounding
   (linearity) and is below the certified bound built from the Hessian bound M.
2. Flatter models: scaling the weights by s, the Hessian (hence the bound) shrinks like s^(#layers)
   and the remainder with it: the attribution collapses to Gradient x Input.
3. ReLU networks are not C^2. Near a kink, with x, x', x0 within eps of it, a softplus network's
   remainder is O(eps^2) against an attribution O(eps) (relative remainder -> 0), while the ReLU
   network's relative remainder stays of order 1; and as beta grows (softplus -> ReLU) the
   certified Hessian bound grows like beta while the remainder converges to the ReLU's, which
   does not vanish.
4. The same with the Gaussian smoothing of a one-hidden-layer ReLU network (closed form):
   the certified bound Lip(f) sqrt(2/pi) / sigma grows like 1/sigma as sigma -> 0.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from polyattr.models.relu import ReLUNetwork
from polyattr.models.softplus import SoftplusNetwork
from polyattr.theory.blackbox import baseline_shapley
from polyattr.theory.theorem21 import GaussianSmoothedReLU, theorem21

FAILURES: list[str] = []


def claim(ok: bool, message: str) -> None:
    if not ok:
        FAILURES.append(message)
        print(f"  CLAIM FAILED: {message}")


def random_weights(rng, sizes, scale=1.0):
    Ws = [rng.normal(size=(o, i)) * scale / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=o) * 0.5 for o in sizes[1:]]
    return Ws, bs


def relu_integrated_gradients(net: ReLUNetwork, x, xb, output=None):
    """Exact IG of a ReLU network: split [0, 1] until every piece has one activation pattern.

    On (a, b), take the pattern at the midpoint and the affine pre-activations it induces; if none
    of them changes sign inside (a, b), then (layer by layer) the pattern is the same on all of
    (a, b) and the gradient there is the pattern's w_P. Otherwise split at the sign changes.
    """
    delta = x - xb
    pieces, done = [(0.0, 1.0)], []
    while pieces:
        a, b = pieces.pop()
        mid = xb + (a + b) / 2 * delta
        pattern = net.activation_pattern(mid)
        roots = []
        for G, h in net.preactivation_maps(pattern):
            slope, value0 = G @ delta, G @ xb + h
            with np.errstate(divide="ignore", invalid="ignore"):
                t = -value0 / slope
            roots.extend(t[(slope != 0) & (t > a + 1e-12) & (t < b - 1e-12)])
        if roots:
            cuts = [a, *sorted(set(roots)), b]
            pieces.extend(zip(cuts[:-1], cuts[1:]))
        else:
            w, _ = net.local_affine_map(pattern, output=output if output is not None else 0)
            done.append((b - a) * np.asarray(w, dtype=float))
    return delta * np.sum(done, axis=0)


def relu_remainders(net: ReLUNetwork, x, xb, x0):
    """(attribution, remainder) of the ReLU network for both methods, exactly."""
    w0, _ = net.local_affine_map(net.activation_pattern(x0), output=0)
    gxi = np.asarray(w0, dtype=float) * (x - xb)
    out = {}
    phi = baseline_shapley(lambda Z: net(Z, output=0), x, xb)
    out["shapley"] = (phi, phi - gxi)
    phi = relu_integrated_gradients(net, x, xb)
    gap = abs(phi.sum() - (net(x, output=0) - net(xb, output=0)))
    claim(gap <= 1e-12 * (1 + np.abs(phi).sum()), f"exact ReLU IG is not complete (gap {gap:.3g})")
    out["ig"] = (phi, phi - gxi)
    return out


def part1_random_networks(rng) -> None:
    print("1. Random softplus networks: remainder == phi(x, R) and remainder <= bound")
    header = f"{'net':>4} {'sizes':>12} {'beta':>5} {'method':>7} {'|rem|':>10} {'|phi(R)|':>10} {'gap':>8} {'M':>9} {'bound':>10} {'ratio':>7}"
    print(header)
    rows = []
    for k in range(60):
        d = int(rng.integers(1, 7))
        hidden = [int(h) for h in rng.integers(2, 12, size=int(rng.integers(1, 4)))]
        sizes = [d, *hidden, 1]
        beta = float(rng.choice([0.5, 1.0, 2.0, 5.0, 10.0]))
        Ws, bs = random_weights(rng, sizes, scale=float(rng.choice([0.5, 1.0, 2.0])))
        net = SoftplusNetwork(Ws, bs, beta=beta)
        x, xb, x0 = rng.uniform(-1, 1, size=(3, d))
        for method in ("shapley", "ig"):
            r = theorem21(net, x, xb, x0, method=method, n_nodes=64)
            rows.append((k, sizes, beta, method, r))
            scale = 1 + np.abs(r.attribution).max()
            claim(r.linearity_gap <= 1e-10 * scale, f"net {k} {method}: remainder != phi(x, R) (gap {r.linearity_gap:.3g})")
            claim(r.holds, f"net {k} {method}: remainder {r.remainder_norm:.4g} > bound {r.bound:.4g}")
            claim(r.bound <= r.bound_uniform * (1 + 1e-12), f"net {k} {method}: tight bound above the uniform one")
    for k, sizes, beta, method, r in rows[:20]:
        print(
            f"{k:>4} {'-'.join(map(str, sizes)):>12} {beta:>5g} {method:>7} {r.remainder_norm:>10.3e} "
            f"{r.remainder_via_R_norm:>10.3e} {r.linearity_gap:>8.1e} {r.hessian_bound:>9.3g} {r.bound:>10.3e} {r.ratio:>7.4f}"
        )
    print(f"   ... {len(rows)} rows in all")
    for method in ("shapley", "ig"):
        ratios = np.array([r.ratio for *_, m, r in rows if m == method])
        gaps = np.array([r.linearity_gap for *_, m, r in rows if m == method])
        print(
            f"   {method:>7}: ratio min {ratios.min():.4f} median {np.median(ratios):.4f} max {ratios.max():.4f}; "
            f"max linearity gap {gaps.max():.1e}"
        )
        claim(ratios.max() <= 1 + 1e-9, f"{method}: some ratio exceeds 1")


def part2_flatter_models(rng) -> None:
    print("\n2. Flatter models collapse to Gradient x Input (all weights scaled by s; 3 layers:\n   attribution ~ s^3, remainder and bound ~ s^4)")
    Ws, bs = random_weights(rng, [4, 10, 10, 1], scale=1.5)
    x, xb, x0 = rng.uniform(0, 1, size=(3, 4))
    print(f"{'s':>7} {'method':>7} {'|phi|':>10} {'|rem|':>10} {'bound':>10} {'|rem|/|phi|':>12} {'ratio':>7}")
    for method in ("shapley", "ig"):
        prev = None
        for s in (1.0, 0.3, 0.1, 0.03, 0.01):
            net = SoftplusNetwork([W * s for W in Ws], bs, beta=1.0)
            r = theorem21(net, x, xb, x0, method=method)
            rel = r.remainder_norm / np.linalg.norm(r.attribution)
            print(f"{s:>7g} {method:>7} {np.linalg.norm(r.attribution):>10.3e} {r.remainder_norm:>10.3e} {r.bound:>10.3e} {rel:>12.3e} {r.ratio:>7.4f}")
            claim(r.holds, f"flat s={s} {method}: bound violated")
            if prev is not None:
                # the Hessian carries s^3 (three scaled layers); ask for at least s^2 decay per step
                step = prev[0] / s
                claim(r.bound <= prev[1].bound / step**2, f"flat s={s} {method}: bound did not shrink like s^2")
                claim(r.remainder_norm <= prev[1].remainder_norm / step**2, f"flat s={s} {method}: remainder did not shrink")
                claim(rel < prev[2], f"flat s={s} {method}: relative remainder did not shrink")
            else:
                first_rel = rel
            prev = (s, r, rel)
        # remainder ~ s^4 against attribution ~ s^3: the relative remainder goes to 0 like s
        claim(prev[2] < 0.05 * first_rel, f"{method}: no collapse to Gradient x Input at s=0.01")


def kink_configuration(rng, net: ReLUNetwork, eps: float, c, n, u, v):
    """x', x0 on one side of a first-layer kink hyperplane through c, x on the other, all within ~eps."""
    xb = c - eps * (n + 0.4 * u)
    x = c + eps * (n + 0.4 * v)
    x0 = c - eps * (0.6 * n - 0.2 * v)
    return x, xb, x0


def part3_relu_escapes(rng) -> None:
    print("\n3. ReLU networks (not C^2) escape: relative remainder near a kink, softplus vs ReLU")
    Ws, bs = random_weights(rng, [3, 8, 6, 1], scale=1.5)
    relu = ReLUNetwork(Ws, bs)
    # a point c on the kink of first-layer neuron 0 (W0[0] z + b0[0] = 0), normal n
    w, b = Ws[0][0], bs[0][0]
    n = w / np.linalg.norm(w)
    p = np.array([0.3, 0.5, 0.4])
    c = p - (w @ p + b) / (w @ w) * w
    u, v = rng.normal(size=(2, 3))
    u -= (u @ n) * n
    v -= (v @ n) * n
    beta = 5.0
    soft = SoftplusNetwork(Ws, bs, beta=beta)
    print(f"{'eps':>7} {'method':>7} {'softplus |rem|/|phi|':>21} {'ReLU |rem|/|phi|':>17}")
    results = {"shapley": [], "ig": []}
    for eps in (1e-1, 1e-2, 1e-3, 1e-4):
        x, xb, x0 = kink_configuration(rng, relu, eps, c, n, u, v)
        exact = relu_remainders(relu, x, xb, x0)
        for method in ("shapley", "ig"):
            r = theorem21(soft, x, xb, x0, method=method)
            claim(r.holds, f"kink eps={eps} {method}: softplus bound violated")
            rel_soft = r.remainder_norm / np.linalg.norm(r.attribution)
            phi_relu, rem_relu = exact[method]
            rel_relu = np.linalg.norm(rem_relu) / np.linalg.norm(phi_relu)
            results[method].append((eps, rel_soft, rel_relu))
            print(f"{eps:>7g} {method:>7} {rel_soft:>21.3e} {rel_relu:>17.3e}")
    for method, rows in results.items():
        claim(rows[-1][1] < 1e-2 * rows[0][1], f"{method}: softplus relative remainder did not vanish with eps")
        rel_relu = [row[2] for row in rows]
        claim(min(rel_relu) > 0.05, f"{method}: ReLU relative remainder is not of order 1 ({min(rel_relu):.3g})")
        claim(max(rel_relu) < 2 * min(rel_relu), f"{method}: ReLU relative remainder is not scale-free")

    print("\n   beta -> infinity (softplus -> ReLU) at eps = 0.1: M grows like beta, the remainder stays")
    eps = 0.1
    x, xb, x0 = kink_configuration(rng, relu, eps, c, n, u, v)
    exact = relu_remainders(relu, x, xb, x0)
    print("   (|Hess(c)|: the true Hessian norm at the kink point c, a lower bound on the sup M bounds)")
    print(f"{'beta':>8} {'method':>7} {'|Hess(c)|':>10} {'M':>10} {'bound':>10} {'|rem|':>10} {'|rem - rem_ReLU|':>17} {'ratio':>8}")
    for method in ("shapley", "ig"):
        rem_relu = exact[method][1]
        Ms, gaps, Hc = [], [], []
        betas = (1.0, 10.0, 100.0, 1000.0, 10000.0) if method == "shapley" else (1.0, 10.0, 100.0, 1000.0)
        for beta in betas:
            soft = SoftplusNetwork(Ws, bs, beta=beta)
            r = theorem21(soft, x, xb, x0, method=method, n_nodes=400 if beta >= 1000 else 64)
            gap = np.linalg.norm(r.remainder - rem_relu)
            h = np.linalg.norm(soft.hessian(c), 2)
            Ms.append(r.hessian_bound)
            gaps.append(gap)
            Hc.append(h)
            print(f"{beta:>8g} {method:>7} {h:>10.3e} {r.hessian_bound:>10.3e} {r.bound:>10.3e} {r.remainder_norm:>10.3e} {gap:>17.3e} {r.ratio:>8.2e}")
            claim(r.holds, f"beta={beta} {method}: bound violated")
            claim(h <= r.hessian_bound, f"beta={beta}: Hessian at the kink above the certified bound")
        print(f"{'ReLU':>8} {method:>7} {'inf':>10} {'inf':>10} {'inf':>10} {np.linalg.norm(rem_relu):>10.3e}")
        claim(Ms[-1] / Ms[-2] > 5, f"{method}: Hessian bound does not grow like beta")
        claim(Hc[-1] / Hc[-2] > 5, f"{method}: the true Hessian at the kink does not grow like beta")
        claim(gaps[-1] < 0.05 * np.linalg.norm(rem_relu), f"{method}: softplus remainder does not converge to the ReLU one")
        claim(np.linalg.norm(rem_relu) > 0.05 * np.linalg.norm(exact[method][0]), f"{method}: ReLU remainder is not of order 1")


def part4_gaussian_smoothing(rng) -> None:
    print("\n4. Gaussian smoothing f_sigma = E f(. + sigma xi) of a one-hidden-layer ReLU network:")
    print("   M <= Lip(f) sqrt(2/pi) / sigma blows up as sigma -> 0 while the remainder tends to the ReLU's")
    Ws, bs = random_weights(rng, [3, 8, 1], scale=1.5)
    relu = ReLUNetwork(Ws, bs)
    w, b = Ws[0][0], bs[0][0]
    n = w / np.linalg.norm(w)
    p = np.array([0.3, 0.5, 0.4])
    c = p - (w @ p + b) / (w @ w) * w
    u, v = rng.normal(size=(2, 3))
    u -= (u @ n) * n
    v -= (v @ n) * n
    x, xb, x0 = kink_configuration(rng, relu, 0.1, c, n, u, v)
    exact = relu_remainders(relu, x, xb, x0)
    print(f"{'sigma':>8} {'method':>7} {'M':>10} {'M*sigma':>9} {'bound':>10} {'|rem|':>10} {'|rem - rem_ReLU|':>17} {'ratio':>8}")
    for method in ("shapley", "ig"):
        rem_relu = exact[method][1]
        Ms, gaps = [], []
        sigmas = (1.0, 0.1, 0.01, 0.001)
        for sigma in sigmas:
            smooth = GaussianSmoothedReLU(relu, sigma)
            r = theorem21(smooth, x, xb, x0, method=method, n_nodes=400 if sigma < 0.01 else 64)
            gap = np.linalg.norm(r.remainder - rem_relu)
            Ms.append(r.hessian_bound)
            gaps.append(gap)
            print(f"{sigma:>8g} {method:>7} {r.hessian_bound:>10.3e} {r.hessian_bound * sigma:>9.3f} {r.bound:>10.3e} {r.remainder_norm:>10.3e} {gap:>17.3e} {r.ratio:>8.2e}")
            claim(r.holds, f"gaussian sigma={sigma} {method}: bound violated")
            claim(r.hessian_bound <= smooth.hessian_bound_global(), f"gaussian sigma={sigma}: box bound above the global one")
        print(f"{'ReLU':>8} {method:>7} {'inf':>10} {'':>9} {'inf':>10} {np.linalg.norm(rem_relu):>10.3e}")
        claim(Ms[-1] / Ms[-2] > 5, f"gaussian {method}: Hessian bound does not grow like 1/sigma")
        claim(gaps[-1] < 0.05 * np.linalg.norm(rem_relu), f"gaussian {method}: remainder does not converge to the ReLU one")


def main() -> int:
    start = time.perf_counter()
    rng = np.random.default_rng(20250531)
    part1_random_networks(rng)
    part2_flatter_models(rng)
    part3_relu_escapes(rng)
    part4_gaussian_smoothing(rng)
    seconds = time.perf_counter() - start
    print(f"\n{seconds:.1f} s")
    if FAILURES:
        print(f"FAILED: {len(FAILURES)} claim(s) failed")
        for f in FAILURES:
            print(f"  - {f}")
        return 1
    print("OK: every claim holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
