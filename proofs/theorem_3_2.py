#!/usr/bin/env python
"""Theorem 3.2 (THEORY.md §3.1-3.3): an attribution is integration against measures mu_{j,x}, with
mu_{j,x}(R) = phi_j(x, 1_R) on boxes.

Run: ``python proofs/theorem_3_2.py``. Prints tables and exits non-zero if a claim fails.

On step functions f = sum_i c_i 1_{R_i} (closed boxes R_i with rational corners on a 1/8 grid, so
points often sit on box faces), everything in exact rational arithmetic:

1. *Measure form = atomic definition.*  For each method of Table 1 that polyattr writes as a family
   of measures (occlusion, baseline Shapley, interventional Shapley, PDP, ICE, the FAFP examples),
   the measure form sum_i c_i mu_{j,x}(R_i), with mu_{j,x}(R) computed from polyattr's measure
   objects (point masses inside R; densities integrated over R by polyattr's exact polytope
   integration), equals the method applied to f by its own definition, written here from scratch
   (2^d / d! enumerations, one-dimensional integrals of indicators).
2. *Baseline Shapley of a box indicator in closed form* (the A, B, D, E, G formula of §3.3) equals
   the permutation definition of the Shapley value of 1_R, and the measure form.
3. *Box masses of uniform and product measures* (uniform on a box, on a slice, on a segment;
   products of polynomial densities and point masses) computed by polyattr equal direct integration
   (products of one-dimensional antiderivatives).
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from fractions import Fraction

import numpy as np

from polyattr.attribution.measure_methods import (
    fafp_global_measures,
    fafp_local_measures,
    ice_measures,
    occlusion_measures,
    pdp_measures,
    shapley_measures,
    shapley_uniform_measures,
)
from polyattr.geometry.domains import Box
from polyattr.geometry.vertices import polytope_triangulation
from polyattr.integrate.polynomial import integrate_polynomial_polytope
from polyattr.measures import DensityPiece, Measure, PointPiece, ProductDensity, Uniform

FAILURES: list[str] = []
GRID = 8  # corners, points and baselines on the 1/8 grid


def claim(ok: bool, message: str) -> None:
    if not ok:
        FAILURES.append(message)
        print(f"  CLAIM FAILED: {message}")


# ---------------------------------------------------------------- polyattr side: mu(R) of a box
_MASS_CACHE: dict = {}


def box_mass(measure: Measure, lo, hi) -> Fraction:
    """mu(R) for the closed box R = [lo, hi], from polyattr's measure objects (exact)."""
    total = Fraction(0)
    for coef, piece in measure.terms:
        total += Fraction(coef) * piece_box_mass(piece, lo, hi)
    return total


def piece_box_mass(piece, lo, hi) -> Fraction:
    if isinstance(piece, PointPiece):
        inside = [all(lo[i] <= p[i] <= hi[i] for i in range(len(lo))) for p in piece.points]
        return sum((Fraction(w) for w, ok in zip(piece.weights, inside) if ok), start=Fraction(0))
    assert isinstance(piece, DensityPiece)
    key = (piece.key, tuple(lo), tuple(hi))
    if key not in _MASS_CACHE:
        _MASS_CACHE[key] = _density_box_mass(piece, lo, hi)
    return _MASS_CACHE[key]


def _density_box_mass(piece: DensityPiece, lo, hi) -> Fraction:
    """Integrate the piece's density over R ∩ support with polyattr's exact polytope integration.

    In reduced coordinates u (z = E u + z0) the set {u in inner box : lo <= E u + z0 <= hi} is a
    polytope A u <= b; polyattr triangulates it (pycddlib, GMP) and integrates the density
    (constant, or the piece's product polynomial) over the simplices in rational arithmetic.
    """
    red = piece.reduction
    E, z0, inner = red.embedding, red.offset, red.inner
    k = E.shape[1]
    rows, rhs = [], []
    for i in range(E.shape[0]):
        e = [Fraction(v) for v in E[i]]
        if not any(e):  # a fixed coordinate: inside R or not
            if not lo[i] <= z0[i] <= hi[i]:
                return Fraction(0)
            continue
        rows += [e, [-v for v in e]]
        rhs += [Fraction(hi[i]) - Fraction(z0[i]), Fraction(z0[i]) - Fraction(lo[i])]
    for c in range(k):
        unit = [Fraction(int(c == cc)) for cc in range(k)]
        rows += [unit, [-v for v in unit]]
        rhs += [Fraction(inner.upper[c]), -Fraction(inner.lower[c])]
    A = np.array(rows, dtype=object)
    b = np.array(rhs, dtype=object)
    # an empty or flat intersection has zero mass (the triangulation needs a full-dimensional polytope)
    lo_u, hi_u = _bounding_interval(A, b, k)
    if any(h <= l for l, h in zip(lo_u, hi_u)):
        return Fraction(0)
    V, S = polytope_triangulation(A, b, exact=True)
    density = {tuple([0] * k): Fraction(1)}
    if piece.polynomials:
        for c, coeffs in piece.polynomials.items():
            factor = {}
            for p, a in enumerate(coeffs):
                e = [0] * k
                e[c] = p
                factor[tuple(e)] = Fraction(a)
            density = {tuple(x + y for x, y in zip(e1, e2)): c1 * c2
                       for e1, c1 in density.items() for e2, c2 in factor.items()}
    return integrate_polynomial_polytope(V, S, density, exact=True) * Fraction(piece.density_scale())


def _bounding_interval(A, b, k):
    """Per reduced coordinate, the interval cut by the axis-aligned rows (all rows here are)."""
    lo, hi = [Fraction(-10**9)] * k, [Fraction(10**9)] * k
    for row, r in zip(A, b):
        nz = [c for c in range(k) if row[c] != 0]
        assert len(nz) == 1, "supports and boxes are axis-aligned here"
        c = nz[0]
        if row[c] > 0:
            hi[c] = min(hi[c], r / row[c])
        else:
            lo[c] = max(lo[c], r / row[c])
    return lo, hi


# ------------------------------------------------------------ direct side: the atomic definitions
def indicator(lo, hi, z) -> int:
    return int(all(lo[i] <= z[i] <= hi[i] for i in range(len(lo))))


def overlap(a, b, l, u) -> Fraction:
    """Length of [a, b] ∩ [l, u]."""
    return max(Fraction(0), min(b, u) - max(a, l))


def uniform_value(boxes, coeffs, box: Box, x, fixed) -> Fraction:
    """E_U f(x_S, Z_-S) for the step function, U uniform on the domain box, S = ``fixed``."""
    d = len(x)
    total = Fraction(0)
    for (lo, hi), c in zip(boxes, coeffs):
        v = Fraction(c)
        for i in range(d):
            l, u = Fraction(box.lower[i]), Fraction(box.upper[i])
            if i in fixed:
                v *= int(lo[i] <= x[i] <= hi[i])
            else:
                v *= overlap(lo[i], hi[i], l, u) / (u - l)
        total += v
    return total


def step(boxes, coeffs, z) -> Fraction:
    return sum((Fraction(c) * indicator(lo, hi, z) for (lo, hi), c in zip(boxes, coeffs)), start=Fraction(0))


def shapley_by_permutations(value, d: int) -> list[Fraction]:
    """The Shapley value of a set function from its definition: the average marginal contribution
    over the d! orderings."""
    phi = [Fraction(0)] * d
    orders = list(itertools.permutations(range(d)))
    for order in orders:
        S = frozenset()
        prev = value(S)
        for j in order:
            S = S | {j}
            cur = value(S)
            phi[j] += cur - prev
            prev = cur
    return [p / len(orders) for p in phi]


def hybrid(x, xb, S):
    return [x[i] if i in S else xb[i] for i in range(len(x))]


def atomic(method: str, boxes, coeffs, box: Box, x, xb) -> list[Fraction]:
    """phi(x, f) for the step function f, from each method's definition (no measures)."""
    d = len(x)
    f = lambda z: step(boxes, coeffs, z)  # noqa: E731
    lower = [Fraction(v) for v in box.lower]
    if method == "occlusion":
        return [f(x) - f([xb[i] if i == j else x[i] for i in range(d)]) for j in range(d)]
    if method == "shapley":
        return shapley_by_permutations(lambda S: f(hybrid(x, xb, S)), d)
    if method == "shapley_uniform":
        return shapley_by_permutations(lambda S: uniform_value(boxes, coeffs, box, x, S), d)
    if method == "pdp":
        return [uniform_value(boxes, coeffs, box, x, {j}) for j in range(d)]
    if method == "ice":
        out = []
        for j in range(d):
            l, u = Fraction(box.lower[j]), Fraction(box.upper[j])
            line_mean = Fraction(0)
            for (lo, hi), c in zip(boxes, coeffs):
                rest = int(all(lo[i] <= x[i] <= hi[i] for i in range(d) if i != j))
                line_mean += Fraction(c) * rest * overlap(lo[j], hi[j], l, u) / (u - l)
            out.append(f(x) - line_mean)
        return out
    if method == "fafp_local":
        return [f([x[j] if i == j else lower[i] for i in range(d)]) for j in range(d)]
    if method == "fafp_global":  # 2 x Lebesgue on the edge {lower + t e_j}
        out = []
        for j in range(d):
            v = Fraction(0)
            for (lo, hi), c in zip(boxes, coeffs):
                rest = int(all(lo[i] <= lower[i] <= hi[i] for i in range(d) if i != j))
                v += Fraction(c) * rest * overlap(lo[j], hi[j], lower[j], Fraction(box.upper[j]))
            out.append(2 * v)
        return out
    raise ValueError(method)


def families(box: Box, x, xb) -> dict[str, list[Measure]]:
    """polyattr's measure families mu_{j,x} (exact)."""
    X, XB = np.array(x, dtype=object), np.array(xb, dtype=object)
    return {
        "occlusion": occlusion_measures(X, XB, exact=True),
        "shapley": shapley_measures(X, XB, exact=True),
        "shapley_uniform": shapley_uniform_measures(X, box),
        "pdp": pdp_measures(X, box),
        "ice": ice_measures(X, box),
        "fafp_local": fafp_local_measures(X, box),
        "fafp_global": fafp_global_measures(box),
    }


def shapley_box_closed_form(lo, hi, x, xb) -> list[Fraction]:
    """THEORY.md §3.3: baseline Shapley of 1_R from the sets A, B, D = A \\ B, E = B \\ A, G."""
    d = len(x)
    A = {i for i in range(d) if lo[i] <= x[i] <= hi[i]}
    B = {i for i in range(d) if lo[i] <= xb[i] <= hi[i]}
    D, E = A - B, B - A
    G = set(range(d)) - A - B
    if G:
        return [Fraction(0)] * d
    nD, nE = len(D), len(E)
    out = []
    for j in range(d):
        if j in D:
            out.append(Fraction(math.factorial(nD - 1) * math.factorial(nE), math.factorial(nD + nE)))
        elif j in E:
            out.append(-Fraction(math.factorial(nD) * math.factorial(nE - 1), math.factorial(nD + nE)))
        else:
            out.append(Fraction(0))
    return out


# ------------------------------------------------------------------------------ random instances
def grid_point(rng, box: Box):
    out = []
    for l, u in zip(box.lower, box.upper):
        n = int((Fraction(u) - Fraction(l)) * GRID)
        out.append(Fraction(l) + Fraction(int(rng.integers(0, n + 1)), GRID))
    return out


def random_box(rng, box: Box, margin=Fraction(1, 4)):
    """A box with corners on the grid, possibly sticking out of the domain or degenerate in a side."""
    lo, hi = [], []
    for l, u in zip(box.lower, box.upper):
        l, u = Fraction(l) - margin, Fraction(u) + margin
        n = int((u - l) * GRID)
        a, b = sorted(int(t) for t in rng.integers(0, n + 1, size=2))
        lo.append(l + Fraction(a, GRID))
        hi.append(l + Fraction(b, GRID))
    return lo, hi


def random_step_function(rng, box: Box):
    m = int(rng.integers(1, 4))
    boxes = [random_box(rng, box) for _ in range(m)]
    coeffs = [Fraction(int(rng.integers(-5, 6)), int(rng.integers(1, 4))) for _ in range(m)]
    return boxes, coeffs


DOMAINS = [
    Box([0, 0], [1, 1], exact=True),
    Box([0, 0, 0], [1, 1, 1], exact=True),
    Box([Fraction(-1, 2), 0, 1], [1, Fraction(3, 2), 2], exact=True),
    Box([0, 0, 0, 0], [1, 1, 1, 1], exact=True),
]
CASES_PER_DOMAIN = {2: 12, 3: 10, 4: 4}


def part1(rng) -> None:
    print("1. Measure form sum_i c_i mu_{j,x}(R_i) (polyattr measures) vs the atomic definition phi_j(x, f)")
    stats: dict[str, list] = {}
    for box in DOMAINS:
        d = box.dim
        for _ in range(CASES_PER_DOMAIN[d]):
            boxes, coeffs = random_step_function(rng, box)
            x, xb = grid_point(rng, box), grid_point(rng, box)
            for method, family in families(box, x, xb).items():
                measure_form = [sum((c * box_mass(mu, lo, hi) for (lo, hi), c in zip(boxes, coeffs)), start=Fraction(0))
                                for mu in family]
                direct = atomic(method, boxes, coeffs, box, x, xb)
                diff = max(abs(a - b) for a, b in zip(measure_form, direct))
                s = stats.setdefault(method, [0, Fraction(0), 0, Fraction(0)])
                s[0] += 1
                s[1] = max(s[1], diff)
                s[2] += sum(v != 0 for v in direct)
                s[3] = max(s[3], max(abs(v) for v in direct))
                claim(diff == 0, f"{method}: measure form {measure_form} != atomic {direct} on {boxes}, x={x}, x'={xb}")
    print(f"   {'method':<17}{'cases':>7}{'nonzero scores':>16}{'max |phi|':>12}{'max |difference|':>19}")
    for method, (n, diff, nonzero, big) in stats.items():
        print(f"   {method:<17}{n:>7}{nonzero:>16}{float(big):>12.4g}{str(diff):>19}")


def part2(rng) -> None:
    print("2. Baseline Shapley of a box indicator: closed form (A, B, D, E, G) vs d! permutations vs measure form")
    n, nonzero, worst = 0, 0, Fraction(0)
    for box in DOMAINS:
        d = box.dim
        for _ in range(40 if d < 4 else 15):
            lo, hi = random_box(rng, box)
            x, xb = grid_point(rng, box), grid_point(rng, box)
            closed = shapley_box_closed_form(lo, hi, x, xb)
            perm = shapley_by_permutations(lambda S: Fraction(indicator(lo, hi, hybrid(x, xb, S))), d)
            X, XB = np.array(x, dtype=object), np.array(xb, dtype=object)
            meas = [box_mass(mu, lo, hi) for mu in shapley_measures(X, XB, exact=True)]
            diff = max(max(abs(a - b) for a, b in zip(closed, perm)), max(abs(a - b) for a, b in zip(closed, meas)))
            worst = max(worst, diff)
            n += 1
            nonzero += any(closed)
            claim(diff == 0, f"Shapley of 1_R: closed {closed}, permutations {perm}, measure {meas}; R=({lo},{hi}), x={x}, x'={xb}")
    print(f"   cases {n}  (with a nonzero value: {nonzero})  max |difference| {worst}")


def part3(rng) -> None:
    print("3. Box masses mu(R): polyattr (exact polytope integration) vs direct one-dimensional integrals")
    rows = []
    for box in DOMAINS[:3] + [Box([0, 0, 0], [1, 1, 2], exact=True)]:
        d = box.dim
        lower = [Fraction(v) for v in box.lower]
        upper = [Fraction(v) for v in box.upper]
        worst = {}
        for _ in range(15):
            lo, hi = random_box(rng, box)
            # uniform probability on the box
            direct = Fraction(1)
            for i in range(d):
                direct *= overlap(lo[i], hi[i], lower[i], upper[i]) / (upper[i] - lower[i])
            worst.setdefault("uniform on the box", []).append(abs(box_mass(Uniform(box), lo, hi) - direct))
            # a product measure: polynomial density on coordinate 0, a point mass on coordinate 1, uniform
            # probability elsewhere (the last domain has a side of length 2 there: until commit af35bfb
            # ProductDensity weighted such coordinates by their length instead of by 1 / length)
            coeffs = [Fraction(int(rng.integers(0, 4))), Fraction(int(rng.integers(0, 4))), Fraction(int(rng.integers(0, 3)))]
            v = Fraction(int(rng.integers(0, GRID + 1)), GRID) * (upper[1] - lower[1]) + lower[1]
            mu = ProductDensity(box, {0: ("polynomial", coeffs), 1: ("dirac", v)})

            def poly_integral(a, b):
                return sum((c * (b ** (p + 1) - a ** (p + 1)) / (p + 1) for p, c in enumerate(coeffs)), start=Fraction(0))

            a0, b0 = max(lo[0], lower[0]), min(hi[0], upper[0])
            direct = poly_integral(a0, b0) if b0 > a0 else Fraction(0)
            direct *= int(lo[1] <= v <= hi[1])
            for i in range(2, d):
                direct *= overlap(lo[i], hi[i], lower[i], upper[i]) / (upper[i] - lower[i])
            worst.setdefault("poly x dirac x uniform", []).append(abs(box_mass(mu, lo, hi) - direct))
            # all coordinates polynomial (a product density on the whole box)
            polys = {i: [Fraction(int(rng.integers(0, 3))) for _ in range(3)] for i in range(d)}
            mu = ProductDensity(box, {i: ("polynomial", c) for i, c in polys.items()})
            direct = Fraction(1)
            for i, cs in polys.items():
                a, b = max(lo[i], lower[i]), min(hi[i], upper[i])
                direct *= sum((c * (b ** (p + 1) - a ** (p + 1)) / (p + 1) for p, c in enumerate(cs)), start=Fraction(0)) if b > a else 0
            worst.setdefault("product of polynomials", []).append(abs(box_mass(mu, lo, hi) - direct))
        for name, diffs in worst.items():
            sides = "x".join(str(u - l) for l, u in zip(lower, upper))
            rows.append((f"{name} (sides {sides})", len(diffs), max(diffs)))
            claim(max(diffs) == 0, f"box masses of {name} on {box}: max difference {max(diffs)}")
    print(f"   {'measure':<50}{'boxes':>7}{'max |difference|':>19}")
    for name, n, diff in rows:
        print(f"   {name:<50}{n:>7}{str(diff):>19}")


def main() -> int:
    start = time.perf_counter()
    rng = np.random.default_rng(32)
    part1(rng)
    part2(rng)
    part3(rng)
    seconds = time.perf_counter() - start
    status = "FAILED" if FAILURES else "holds"
    print(f"Theorem 3.2 (measure form = atomic attributions on step functions): {status}; "
          f"{len(FAILURES)} failures; {seconds:.1f} s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
