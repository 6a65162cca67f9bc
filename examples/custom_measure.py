"""A user-defined attribution method as a family of measures, and the authors' notebook cases.

Run:  python examples/custom_measure.py

An attribution method is a choice of one measure mu_{j,x} per feature (THEORY.md §3.2):
phi_j(x, f) = integral of f d mu_{j,x}.  polyattr integrates any such family exactly over the
network's linear regions; you write the family with the measure constructors (Dirac, Uniform,
Lebesgue, Discrete, ProductDensity, ...) and pass it to ``attribute(..., method="measure")``.

1. the authors' notebook examples ([FAFP] Corollaries C.3, C.4), as user families and as the
   built-in methods, in exact rational arithmetic: f = 2 z1 - 1.7 z2 at x = (0.5, 0.1) gives
   fafp_local = (1, -0.17); f = z1 + z2 gives fafp_global = (1, 1);
2. the Riemann-Stieltjes grid the authors used for the same integrals (N = 1000: 0.998, not 1);
3. a new family, "path occlusion": mu_j = delta_x - uniform law on the segment from
   (x with x_j := 0) to x, i.e. f(x) minus the average of f as feature j is switched on.
"""

from fractions import Fraction

import numpy as np

import polyattr
from polyattr import ReLUNetwork, Segment
from polyattr.attribution.approximate import riemann_stieltjes_grid
from polyattr.measures import Dirac, Lebesgue, Uniform


def linear_network(w, b=0):
    """f(z) = w.z + b as an exact ReLU network: relu(z) - relu(-z) = z."""
    d = len(w)
    eye = [[int(i == j) for j in range(d)] for i in range(d)]
    return ReLUNetwork([eye + [[-v for v in row] for row in eye], [list(w) + [-v for v in w]]],
                       [[0] * (2 * d), [b]], exact=True)


def fafp_local_family(x, j):
    """Corollary C.3: the point mass at (0, ..., x_j, ..., 0)."""
    z = [Fraction(0)] * len(x)
    z[j] = x[j]
    return Dirac(z, exact=True)


def fafp_global_family(x, j):
    """Corollary C.4: 2 x Lebesgue measure on the edge {t e_j : t in [0, 1]} (total mass 2)."""
    end = [Fraction(0)] * len(x)
    end[j] = Fraction(1)
    return 2 * Lebesgue(Segment([Fraction(0)] * len(x), end, exact=True))


def path_occlusion_family(x, j):
    """delta_x minus the uniform law on the segment from (x with x_j := 0) to x."""
    start = np.array(x, dtype=float)
    start[j] = 0.0
    if x[j] == 0:
        return Dirac(x) - Dirac(x)  # the zero measure: switching nothing on
    return Dirac(x) - Uniform(Segment(start, np.array(x, dtype=float)))


def show(label, values):
    print(f"  {label:<46} [{', '.join(str(v) for v in values)}]")


def main():
    print("1. the authors' notebook examples, exact")
    f1 = linear_network([2, Fraction(-17, 10)])
    x1 = [Fraction(1, 2), Fraction(1, 10)]
    user = polyattr.attribute(f1, x1, "measure", measures=fafp_local_family, exact=True)
    builtin = polyattr.attribute(f1, x1, "fafp_local", exact=True)
    show("f = 2 z1 - 1.7 z2, fafp_local (user family)", user.values)
    show("f = 2 z1 - 1.7 z2, fafp_local (built-in)", builtin.values)
    assert list(user.values) == list(builtin.values) == [Fraction(1), Fraction(-17, 100)]

    f2 = linear_network([1, 1])
    x2 = [Fraction(3, 10), Fraction(4, 5)]
    user = polyattr.attribute(f2, x2, "measure", measures=fafp_global_family, exact=True)
    builtin = polyattr.attribute(f2, x2, "fafp_global", exact=True)
    show("f = z1 + z2, fafp_global (user family)", user.values)
    show("f = z1 + z2, fafp_global (built-in)", builtin.values)
    assert list(user.values) == list(builtin.values) == [Fraction(1), Fraction(1)]
    with_intercept = polyattr.attribute(linear_network([1, 1], Fraction(1, 2)), x2, "fafp_global", exact=True)
    show("f = z1 + z2 + 1/2, fafp_global (mass 2: + 2b)", with_intercept.values)
    assert list(with_intercept.values) == [Fraction(2), Fraction(2)]

    print("\n2. the authors' Riemann-Stieltjes grid on the same integrals (f at each cell's lower corner)")
    for N in (10, 100, 1000):
        local = riemann_stieltjes_grid(f1, {"method": "fafp_local", "x": [0.5, 0.1]}, N).values
        glob = riemann_stieltjes_grid(f2, {"method": "fafp_global", "x": [0.3, 0.8]}, N).values
        print(f"  N = {N:<5} fafp_local [{local[0]:.6f}, {local[1]:.6f}]   fafp_global [{glob[0]:.6f}, {glob[1]:.6f}]")
    print("  (the exact values are [1, -0.17] and [1, 1]: the grid's error is O(1/N))")

    print("\n3. a new family on a ReLU network: path occlusion")
    model = polyattr.load_model(polyattr.models.default_model_path())
    x = np.array([0.3, 0.7])
    result = polyattr.attribute(model, x, "measure", measures=path_occlusion_family)
    print(f"  {model!r} at x = (0.3, 0.7): {np.array2string(result.values, precision=6)}  "
          f"(error bound {result.error_bound:.1e}, {result.regions} regions)")
    # a check anyone can run: the same average by dense sampling along each segment
    f = lambda Z: np.atleast_1d(model(Z))  # noqa: E731
    t = (np.arange(200_000) + 0.5) / 200_000
    for j in range(2):
        Z = np.repeat(x[None, :], t.size, axis=0)
        Z[:, j] = t * x[j]
        dense = f(x[None, :])[0] - f(Z).mean()
        print(f"  feature {j}: exact {result.values[j]: .9f}   midpoint rule, 2e5 points {dense: .9f}")
        assert abs(dense - result.values[j]) < 1e-6
    print("\nall notebook cases reproduced exactly")


if __name__ == "__main__":
    main()
