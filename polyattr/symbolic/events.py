"""Exact breakpoints ("events") of attribution curves (THEORY.md §8).

Two kinds of one-parameter families occur:

* **Axis-aligned moving supports** (points, segments along an axis, box slices and boxes whose
  bounds and fixed values are affine in t): for a region P of the partition, the set
  Q_P = {(u, t) : u in P, u in S(t)} is a polyhedron in (u, t)-space, and the mass and moments of
  P n S(t) are polynomials in t between the t-coordinates of the vertices of Q_P (the combinatorial
  type of the fibre changes only there).  :func:`support_events` enumerates those vertices exactly:
  every choice of k + 1 linearly independent tight constraints (P's facets, the support's moving
  bounds and equalities), solved in floats to filter, then re-solved and checked in rationals.
* **A moving segment** (Integrated Gradients with x_j or x'_j varying): the segment from A(t) to
  B(t) crosses the hyperplanes at s_k(t) = N_k(t) / D_k(t) (ratios of affine functions); the
  sequence of regions it crosses changes when a crossing point meets another neuron's hyperplane or
  an end point crosses one.  :func:`segment_structure` reads the structure at one t and returns
  the exact t at which it could change (roots of quadratics: irrational roots stay exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations

import numpy as np
import sympy

from polyattr.errors import PolyattrError
from polyattr.geometry.domains import AffineSlice, Box, Segment
from polyattr.measures.core import DensityPiece, Measure, PointPiece
from polyattr.numbers import to_fraction
from polyattr.symbolic.exact import less, roots_in, solve_exact, to_sympy

_FLOAT_TOL = 1e-7  # float pre-filter slack (relative); candidates are confirmed exactly afterwards


# ---------------------------------------------------------------------- parametric supports
@dataclass(frozen=True)
class ParametricSupport:
    """An axis-aligned support moving affinely with t.

    ``coords[i]`` is ``("fixed", a, b)`` (z_i = a + b t) or ``("interval", la, lb, ua, ub)``
    (la + lb t <= z_i <= ua + ub t); all Fractions.  ``polynomial_degree`` is the total degree of a
    polynomial density on it (0 for uniform and point masses).
    """

    coords: tuple
    polynomial_degree: int = 0

    @property
    def dim(self) -> int:
        return sum(1 for c in self.coords if c[0] == "interval")

    @property
    def moves(self) -> bool:
        return any(c[2] != 0 if c[0] == "fixed" else (c[2] != 0 or c[4] != 0) for c in self.coords)

    def volume(self, symbol) -> sympy.Expr:
        """Product of the interval lengths as a polynomial in t (1 for points)."""
        v = sympy.Integer(1)
        for c in self.coords:
            if c[0] == "interval":
                v *= to_sympy(c[3] - c[1]) + to_sympy(c[4] - c[2]) * symbol
        return sympy.expand(v)


def _affine_fit(samples, ts, what: str):
    """(a, b) with v = a + b t at the three sampled t; raises when the samples are not affine."""
    (t0, t1, t2), (v0, v1, v2) = ts, [to_fraction(v) for v in samples]
    b = (v1 - v0) / (t1 - t0)
    a = v0 - b * t0
    if a + b * t2 != v2:
        raise PolyattrError(f"{what}: the support must depend affinely on the varied parameter")
    return a, b


def _coordinate_bounds(piece):
    """Per coordinate ("fixed", v) or ("interval", lo, hi) of a piece's support at one t."""
    if isinstance(piece, PointPiece):
        return [[("fixed", v) for v in row] for row in piece.points]
    dom = piece.domain
    if isinstance(dom, Box):
        return [[("interval", lo, hi) for lo, hi in zip(dom.lower, dom.upper)]]
    if isinstance(dom, AffineSlice):
        return [[("fixed", dom.fixed[i]) if i in dom.fixed else ("interval", dom.box.lower[i], dom.box.upper[i])
                 for i in range(dom.box.dim)]]
    if isinstance(dom, Segment):
        moving = [i for i in range(len(dom.start)) if dom.start[i] != dom.end[i]]
        if len(moving) > 1:
            raise PolyattrError("measure: segments must be parallel to a coordinate axis to vary exactly")
        return [[("interval", min(s, e), max(s, e)) if i in moving else ("fixed", s)
                 for i, (s, e) in enumerate(zip(dom.start, dom.end))]]
    raise PolyattrError(f"measure: a support of type {type(dom).__name__} cannot vary exactly "
                        "(boxes, slices, axis-aligned segments and points can)")


def parametric_supports(family_at, ts) -> tuple[list[ParametricSupport], list[dict]]:
    """The moving supports of a family of measures, read from the family at three rational t.

    Parameters
    ----------
    family_at : callable t -> list of Measure
    ts : three distinct Fractions

    Returns
    -------
    supports : list of ParametricSupport (distinct)
    densities : list of {"support", "scale_constant"} per density piece: whether its density
        (coefficient x mass / volume) is constant in t (else coefficient x mass is, and the density
        carries 1 / volume(t)).
    """
    families = [list(family_at(t)) for t in ts]
    terms = [[term for mu in fam for term in (mu.terms if isinstance(mu, Measure) else _bad(mu))] for fam in families]
    if len({len(tt) for tt in terms}) != 1:
        raise PolyattrError("measure: the family must have the same pieces at every value of the parameter")
    supports, densities = {}, []
    for parts in zip(*terms):
        pieces = [p for _, p in parts]
        if len({type(p) for p in pieces}) != 1:
            raise PolyattrError("measure: the family must have the same kinds of pieces at every value of the parameter")
        bounds = [_coordinate_bounds(p) for p in pieces]
        if len({len(b) for b in bounds}) != 1:
            raise PolyattrError("measure: the number of points must not depend on the parameter")
        for n in range(len(bounds[0])):
            coords = []
            for i in range(len(bounds[0][n])):
                kinds = {b[n][i][0] for b in bounds}
                if len(kinds) != 1:
                    raise PolyattrError("measure: a coordinate is fixed at some parameters and free at others")
                if kinds == {"fixed"}:
                    coords.append(("fixed", *_affine_fit([b[n][i][1] for b in bounds], ts, "measure")))
                else:
                    lo = _affine_fit([b[n][i][1] for b in bounds], ts, "measure")
                    hi = _affine_fit([b[n][i][2] for b in bounds], ts, "measure")
                    coords.append(("interval", *lo, *hi))
            degree = 0
            if isinstance(pieces[0], DensityPiece) and pieces[0].polynomials:
                degree = sum(len(c) - 1 for c in pieces[0].polynomials.values())
            support = ParametricSupport(tuple(coords), degree)
            supports[support] = True
            if isinstance(pieces[0], DensityPiece):
                weights = [to_fraction(c) * to_fraction(p.mass) for (c, _), p in zip(parts, pieces)]
                scales = [w / to_fraction(p.domain.volume) for w, p in zip(weights, pieces)]
                if len(set(scales)) == 1:
                    densities.append({"support": support, "scale_constant": True})
                elif len(set(weights)) == 1:
                    densities.append({"support": support, "scale_constant": False})
                else:
                    raise PolyattrError("measure: a piece's mass must be constant in the parameter or proportional "
                                        "to its volume (uniform or Lebesgue)")
            elif len({to_fraction(c) for c, _ in parts}) != 1 or len({tuple(map(tuple, p.weights.reshape(-1, 1)))
                                                                      for p in pieces}) != 1:
                raise PolyattrError("measure: point weights must not depend on the parameter")
    return list(supports), densities


def _bad(mu):
    raise PolyattrError(f"measure: expected polyattr Measures, got {type(mu).__name__}")


def _hull(support: ParametricSupport, lo: Fraction, hi: Fraction):
    """The smallest box slice containing S(t) for every t in [lo, hi] (or None: nothing moves)."""
    d = len(support.coords)
    lower, upper, fixed = [], [], {}
    for i, c in enumerate(support.coords):
        if c[0] == "fixed" and c[2] == 0:
            fixed[i] = c[1]
            lower.append(c[1] - 1)
            upper.append(c[1] + 1)
        elif c[0] == "fixed":
            ends = [c[1] + c[2] * lo, c[1] + c[2] * hi]
            lower.append(min(ends))
            upper.append(max(ends))
        else:
            lower.append(min(c[1] + c[2] * lo, c[1] + c[2] * hi))
            upper.append(max(c[3] + c[4] * lo, c[3] + c[4] * hi))
    if len(fixed) == d:
        return None
    box = Box(lower, upper, exact=True)
    return AffineSlice(box, fixed) if fixed else box


def support_events(regions_on, support: ParametricSupport, lo: Fraction, hi: Fraction) -> list:
    """Exact t in (lo, hi) where the mass or moments of some region on S(t) may change formula.

    ``regions_on(domain)`` returns the exactly confirmed region set (reduced coordinates) of the
    model on a box or box slice.
    """
    if not support.moves:
        return []
    hull = _hull(support, lo, hi)
    if hull is None:
        return []
    regions = regions_on(hull)
    free = hull.free if isinstance(hull, AffineSlice) else list(range(hull.dim))
    k = len(free)
    # (u, t)-space rows: coefficient vector (k + 1) and right-hand side
    equalities, support_rows = [], []
    for q, i in enumerate(free):
        c = support.coords[i]
        e = [Fraction(0)] * (k + 1)
        if c[0] == "fixed":
            e[q], e[k] = Fraction(1), -c[2]
            equalities.append((e, c[1]))
        else:
            lo_row = [Fraction(0)] * (k + 1)
            lo_row[q], lo_row[k] = Fraction(-1), c[2]
            up_row = [Fraction(0)] * (k + 1)
            up_row[q], up_row[k] = Fraction(1), -c[4]
            support_rows += [(lo_row, -c[1]), (up_row, c[3])]
    need = k + 1 - len(equalities)
    events = set()
    for region in regions.regions:
        rows = [([Fraction(a) for a in arow] + [Fraction(0)], Fraction(b)) for _, arow, b in region.rows]
        inequalities = rows + support_rows
        if need <= 0 or need > len(inequalities):
            continue
        events.update(_vertex_ts(equalities, inequalities, need, lo, hi))
    return sorted(events)


def _vertex_ts(equalities, inequalities, need, lo, hi):
    """t-coordinates in (lo, hi) of the vertices of {equalities, inequalities} in (u, t)-space."""
    n_eq = len(equalities)
    combos = np.array(list(combinations(range(len(inequalities)), need)), dtype=np.int64)
    if combos.size == 0:
        return set()
    Mq = np.array([r for r, _ in equalities] + [r for r, _ in inequalities], dtype=float)
    rq = np.array([b for _, b in equalities] + [b for _, b in inequalities], dtype=float)
    idx = np.concatenate([np.tile(np.arange(n_eq), (len(combos), 1)), combos + n_eq], axis=1)
    M, rhs = Mq[idx], rq[idx]
    scale = np.prod(np.linalg.norm(M, axis=2), axis=1)
    det = np.linalg.det(M)
    regular = np.abs(det) > 1e-9 * np.maximum(scale, 1e-300)
    out = set()
    candidates = []
    if np.any(regular):
        sol = np.linalg.solve(M[regular], rhs[regular][..., None])[..., 0]
        t = sol[:, -1]
        width = float(hi - lo)
        ok = (t > float(lo) - _FLOAT_TOL * max(1.0, width)) & (t < float(hi) + _FLOAT_TOL * max(1.0, width))
        A_all = Mq[n_eq:]
        slack = rq[n_eq:][None, :] - sol[ok] @ A_all.T
        tol = _FLOAT_TOL * (1 + np.abs(rq[n_eq:])[None, :] + np.abs(A_all).sum(axis=1)[None, :]
                            * (1 + np.abs(sol[ok]).max(axis=1))[:, None])
        feasible = np.all(slack >= -tol, axis=1)
        candidates += [combos[regular][ok][m] for m in np.flatnonzero(feasible)]
    # nearly singular in floats: decide exactly (rare; parallel rows are exactly singular)
    candidates += [combos[m] for m in np.flatnonzero(~regular) if abs(det[m]) > 0]
    for combo in candidates:
        chosen = list(equalities) + [inequalities[c] for c in combo]
        sol = solve_exact([r for r, _ in chosen], [b for _, b in chosen])
        if sol is None:
            continue
        t = sol[-1]
        if not (lo < t < hi):
            continue
        if all(sum((a * s for a, s in zip(r, sol)), start=Fraction(0)) <= b for r, b in inequalities):
            out.add(t)
    return out


# ------------------------------------------------------------------------- moving segments
@dataclass
class SegmentStructure:
    """The regions crossed by the segment A(t) -> B(t) at one t, as functions of t.

    ``denominators``: the affine D_k(t) (pairs (c0, c1)) of the crossing parameters
    s_k(t) = N_k(t) / D_k(t); ``events``: exact t in the open interval where the structure can change.
    """

    denominators: list
    events: list


def _affine_of(G, h, point0, point1):
    """(G z + h) along z = point0 + t point1: constant and slope vectors (Fractions)."""
    return G @ point0 + h, G @ point1


def segment_structure(model, A0, A1, B0, B1, t: Fraction, lo, hi) -> SegmentStructure:
    """Structure of the segment from A(t) = A0 + t A1 to B(t) = B0 + t B1 at ``t``, and its events in (lo, hi)."""
    from polyattr.geometry.segment_walk import segment_breakpoints

    A, B = A0 + t * A1, B0 + t * B1
    pieces = segment_breakpoints(model, A, B, exact=True)
    pats = pieces.patterns
    events = []

    def maps(pattern):
        pre = model.preactivation_maps(pattern)
        if not pre:
            return np.zeros((0, len(A0)), dtype=object), np.zeros(0, dtype=object)
        return (np.concatenate([g for g, _ in pre], axis=0), np.concatenate([hh for _, hh in pre]))

    # end points crossing a hyperplane: pre_n(A(t)) = 0, pre_n(B(t)) = 0
    for pattern, (P0, P1) in ((pats[0], (A0, A1)), (pats[-1], (B0, B1))):
        G, h = maps(pattern)
        c0, c1 = _affine_of(G, h, P0, P1)
        for a, b in zip(c0, c1):
            if b != 0:
                events += roots_in([a, b], lo, hi)
    # the segment collapsing to a point
    diff0, diff1 = B0 - A0, B1 - A1
    roots = {(-Fraction(a) / Fraction(b)) if b != 0 else None for a, b in zip(diff0, diff1) if a != 0 or b != 0}
    if len(roots) == 1 and None not in roots:
        root = roots.pop()
        if less(lo, to_sympy(root)) and less(to_sympy(root), hi):
            events.append(to_sympy(root))
    denominators = []
    for k in range(1, len(pats)):
        before, after = pats[k - 1], pats[k]
        changed = np.flatnonzero(before != after)
        c = int(changed[0])
        G, h = maps(before)
        alpha0, alpha1 = _affine_of(G, h, A0, A1)  # pre(A(t))
        beta0, beta1 = _affine_of(G, h, B0, B1)
        delta0, delta1 = beta0 - alpha0, beta1 - alpha1  # pre(B(t)) - pre(A(t)) = G (B - A)
        denominators.append((Fraction(delta0[c]), Fraction(delta1[c])))
        for n in range(len(h)):
            if n == c:
                continue
            q0 = alpha0[n] * delta0[c] - alpha0[c] * delta0[n]
            q1 = alpha0[n] * delta1[c] + alpha1[n] * delta0[c] - alpha0[c] * delta1[n] - alpha1[c] * delta0[n]
            q2 = alpha1[n] * delta1[c] - alpha1[c] * delta1[n]
            if q0 == 0 and q1 == 0 and q2 == 0:
                continue
            events += roots_in([q0, q1, q2], lo, hi)
    return SegmentStructure(denominators, events)
