"""The linear regions of the model around x and their uniform-probability moments.

Infidelity and sensitivity under a uniform box perturbation integrate polynomials of degree <= 2
in the offset u (z = x + u, u uniform on [-r, r]^d) over the regions of the model inside the box.
Enumerating the regions of the *translated* network u -> f(x + u) on the box [-r, r]^d (rather
than of f on [x - r, x + r]) keeps every moment centred: the second moments are of size r^2
instead of |x|^2, so no cancellation in floats, and the local maps read f(x + u) = w_P . u + c_P.
The box is not clipped to the model's domain: the network is defined everywhere.

In exact mode the regions are the exactly confirmed rational polytopes (their volumes are checked
to tile the box exactly) and every moment is a Fraction.  In float mode the moments come from the
float enumeration; the *tiling defects* -- how far the sums of the region moments are from the
box's own closed-form moments (mass 1, first moment 0, second moment diag(r^2/3)) -- measure how
far the float partition is from a tiling, and enter the stated error bounds.  The local maps are
read so that their rounding is bounded through the model protocol alone: w_P with the model's
gradient rounding bound, and c_P recomputed as f(x + v_P) - w_P . v_P at an interior point v_P of
the region (the forward pass has a proven error bound), so no weights are read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from polyattr.attribution.gradient_methods import gradient_rounding_bound
from polyattr.attribution.integrals import Integrator
from polyattr.geometry.domains import Box
from polyattr.geometry.regions import DEFAULT_MAX_REGIONS
from polyattr.numerics import gamma


@dataclass(frozen=True, eq=False)
class BoxRegions:
    """Regions of u -> f(x + u) in [-r, r]^d with probability moments (u uniform on the box).

    Attributes
    ----------
    x : ndarray (d,)
    radius : ndarray (d,)
        Half-widths r_j.
    fx : float or Fraction
        f(x).
    p0 : (n,) probability of each region; p1 (n, d) E[u 1_P]; P2 (n, d, d) E[u u^T 1_P].
    W : (n, d) gradient w_P of each region; c (n,) its value at u = 0 (f(x + u) = w_P . u + c_P).
    exact : bool
        Fractions (object arrays) when True.
    defects : (float, float, float)
        Float mode: |sum p0 - 1|, max |sum p1|, max |sum P2 - diag(r^2/3)| (0 when exact).
    w_error : (d,) bound on |computed - true| of every w_P (0 when exact).
    c_error : bound on |computed - true| of every c_P and of f(x) (0 when exact).
    regions : RegionSet or ExactRegionSet
        The enumeration (reduced coordinates = u).
    """

    x: np.ndarray
    radius: np.ndarray
    fx: object
    p0: np.ndarray
    p1: np.ndarray
    P2: np.ndarray
    W: np.ndarray
    c: np.ndarray
    exact: bool
    defects: tuple
    regions: object
    w_error: np.ndarray
    c_error: float

    def __len__(self) -> int:
        return len(self.p0)

    @property
    def d(self) -> int:
        return len(self.x)

    @property
    def g(self) -> np.ndarray:
        """f(x) - c_P per region: the value gap at u = 0 (0 for the regions whose closure holds x)."""
        return self.fx - self.c

    def vertices(self, i: int) -> np.ndarray:
        """Vertices of region i in u coordinates (Fractions when exact)."""
        V = self.regions.vertices(i)
        if isinstance(V, tuple):  # float RegionSet: (vertices, incidences)
            V = V[0]
        return np.asarray(V, dtype=object if self.exact else float)

    def second_moment_of_box(self):
        """E[u u^T] = diag(r^2 / 3), closed form."""
        d = self.d
        if self.exact:
            M = np.array([[Fraction(0)] * d for _ in range(d)], dtype=object)
        else:
            M = np.zeros((d, d))
        for j in range(d):
            M[j, j] = self.radius[j] ** 2 / 3
        return M


def box_regions(model, x, radius, output: int, exact: bool, max_regions: int | None = DEFAULT_MAX_REGIONS) -> BoxRegions:
    """Enumerate the regions of u -> f(x + u) on [-radius, radius] and their probability moments.

    ``model`` is a PiecewiseAffineModel (converted to exact or float as ``exact`` says); ``x`` and
    ``radius`` vectors of length d (Fractions in exact mode).
    """
    net = model.to_exact() if exact else model.to_float()
    d = net.n_inputs
    if exact:
        eye = np.array([[Fraction(int(i == j)) for j in range(d)] for i in range(d)], dtype=object)
        x = np.array([Fraction(v) for v in x], dtype=object)
        r = np.array([Fraction(v) for v in radius], dtype=object)
    else:
        eye = np.eye(d)
        x = np.asarray(x, dtype=float)
        r = np.asarray(radius, dtype=float)
    translated = net.compose_affine(eye, x)
    box = Box(-r, r, exact=exact)
    integrator = Integrator(translated, output, exact=exact, max_regions=max_regions)
    regions = integrator.regions_on(box)
    m0, m1, M2 = regions.moments(order=2)
    W, c = regions.affine_maps(output)
    fx = net(x, output=output)
    vol = box.volume
    w_error, c_error = np.zeros(d), 0.0
    if exact:
        inv = Fraction(1) / vol
        p0 = np.array([Fraction(v) * inv for v in m0], dtype=object)
        p1 = np.array([[Fraction(v) * inv for v in row] for row in m1], dtype=object).reshape(len(p0), d)
        P2 = np.array([[[Fraction(v) * inv for v in row] for row in mat] for mat in M2], dtype=object).reshape(len(p0), d, d)
        W = np.asarray(W, dtype=object).reshape(len(p0), d)
        c = np.asarray(c, dtype=object).reshape(len(p0))
        defects = (0.0, 0.0, 0.0)
    else:
        vol = float(vol)
        p0 = np.asarray(m0, float) / vol
        p1 = np.asarray(m1, float).reshape(len(p0), d) / vol
        P2 = np.asarray(M2, float).reshape(len(p0), d, d) / vol
        W = np.asarray(W, float).reshape(len(p0), d)
        c, c_bounds = _values_at_zero(net, x, W, np.asarray(regions.interior_points, float).reshape(len(p0), d), output)
        w_error = np.asarray(gradient_rounding_bound(net, output), float)
        c_error = float(np.max(c_bounds, initial=0.0)) + float(net.evaluation_error_bound(x[None, :], output)[0])
        defects = (abs(float(p0.sum()) - 1.0), float(np.max(np.abs(p1.sum(axis=0)), initial=0.0)),
                   float(np.max(np.abs(P2.sum(axis=0) - np.diag(r**2 / 3.0)), initial=0.0)))
    return BoxRegions(x, r, fx, p0, p1, P2, W, c, exact, defects, regions, w_error, c_error)


def _values_at_zero(net, x, W, V, output):
    """c_P = f(x + v_P) - w_P . v_P from an interior point v_P of each region, with error bounds.

    f is affine on the closed region, so this is its map's value at u = 0; the bound adds the
    forward error of f at the rounded point fl(x + v_P), the shift |w_P| . |fl(x + v_P) - (x + v_P)|
    (at most u |x + v_P| per coordinate), the error of w_P times |v_P|, and the rounding of the dot
    product and the subtraction.
    """
    Z = x[None, :] + V
    fz = np.atleast_1d(net(Z, output=output)).astype(float)
    dots = np.einsum("nd,nd->n", W, V)
    c = fz - dots
    e_w = np.asarray(gradient_rounding_bound(net, output), float)
    aW, aV, aZ = np.abs(W), np.abs(V), np.abs(Z)
    d = W.shape[1]
    bound = (np.asarray(net.evaluation_error_bound(Z, output), float) + gamma(1) * (aW * aZ).sum(axis=1)
             + aV @ e_w + gamma(d + 2) * ((aW * aV).sum(axis=1) + np.abs(fz) + np.abs(c)))
    return c, 2 * bound
