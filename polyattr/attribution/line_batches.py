"""Mean of a ReLU network along many axis-parallel lines at once, each with a proven error bound.

Interventional Shapley's coalitions with one free coordinate are lines {z_S = x_S}, S = all
coordinates but j; a batch has one per row and coordinate.  Enumerating each line's regions costs a
split enumeration and its verification per line; here every line of one axis is handled together,
vectorised over the lines in numpy:

1. **Float breakpoints**, layer by layer: on a piece [a, b] of a line where the earlier layers'
   pattern is that of the piece's midpoint, a unit's pre-activation is affine in t, so a sign change
   between its values at a and b (computed with that pattern) is one crossing, at the float root
   a + (b - a) z_a / (z_a - z_b).  Nothing here is trusted: it only chooses where to evaluate.
2. **Nodes**: the line's ends l, u and, around every interior breakpoint t_c, the two points
   t_c -+ h (h = :data:`GAP_FRACTION` (u - l), clipped to [l, u]).
3. **Proof, per interval [a, b] between consecutive nodes**: the forward pass at both nodes with
   the proven per-unit error bounds e (:meth:`~polyattr.models.relu.ReLUNetwork.preactivation_error_bounds`).
   If for every cutting unit both computed values are >= e (so both exact values are >= 0) or both
   are <= -e, the exact f is affine on [a, b]: by induction over the layers, a unit whose exact
   pre-activation is affine on [a, b] and >= 0 (<= 0) at both ends is so on all of [a, b], so its
   output is affine there too.  Then int_a^b f = (b - a)(f(a) + f(b)) / 2 exactly.
   Otherwise (the gaps around the breakpoints, or anything the floats got wrong) only the
   Lipschitz bound is used: with L >= |df/dz_j| for every pattern
   (:meth:`~polyattr.models.relu.ReLUNetwork.gradient_magnitude_bound`), f minus its chord on
   [a, b] vanishes at both ends and is 2L-Lipschitz, so
   |int_a^b f - (b - a)(f(a) + f(b)) / 2| <= L (b - a)^2 / 2.

So the trapezoid sum over the nodes is within

    sum_unproven L (b - a)^2 / 2  +  sum (b - a)(e_f(a) + e_f(b)) / 2  +  rounding

of the exact integral (e_f the proven evaluation error of f at a node,
:meth:`~polyattr.models.relu.ReLUNetwork.evaluation_error_bound`; rounding: each term is one
subtraction, one addition and one product of floats (the halving is exact), and their sum over
n terms, so gamma_{n+3} times the sum of |terms|), and the mean divides by u - l (two more
roundings).  With h = 2^-30 (u - l) the gap terms are about 2 10^-18 L (u - l) each; a line whose
unproven part is larger than :data:`UNPROVEN_TOLERANCE` times its largest |f| (the floats got a
stretch wrong, or a unit is nearly parallel to the line) is left to its row, which enumerates it.
"""

from __future__ import annotations

import numpy as np

from polyattr.numerics import gamma, round_up

#: half-width of the unproven gap around each float breakpoint, relative to the line's length
GAP_FRACTION = 2.0**-30
#: a line whose Lipschitz (unproven-interval) term exceeds this times its largest |f| goes to its row
UNPROVEN_TOLERANCE = 1e-9


def _line_points(base, line, axis, t):
    Z = base[line]
    Z[:, axis] = t
    return Z


def float_breakpoints(net, base, axis: int, lower: float, upper: float):
    """Per line, the float t where some cutting unit's pre-activation changes sign, in (lower, upper).

    ``base`` (m, d): a point of every line (its ``axis`` coordinate is ignored).  Returns (line, t)
    sorted by line then t.  Floats only: the result chooses nodes, it proves nothing.
    """
    weights = [np.asarray(W, float) for W in net.weights]
    biases = [np.asarray(b, float) for b in net.biases]
    slopes = [np.asarray(a, float) for a in net.negative_slopes]
    m = base.shape[0]
    # the current pieces of every line, as sorted endpoints (line id, t), ends included
    ends_line = np.repeat(np.arange(m), 2)
    ends_t = np.tile(np.array([lower, upper], float), m)
    for layer in range(len(weights) - 1):
        same = ends_line[1:] == ends_line[:-1]
        line = ends_line[:-1][same]
        a, b = ends_t[:-1][same], ends_t[1:][same]
        keep = b > a
        line, a, b = line[keep], a[keep], b[keep]
        ha = _line_points(base, line, axis, a)
        hb = _line_points(base, line, axis, b)
        hm = _line_points(base, line, axis, 0.5 * (a + b))
        for i in range(layer):  # the earlier layers with the midpoint's pattern
            pm = hm @ weights[i].T + biases[i]
            s = np.where(pm > 0, 1.0, slopes[i][None, :])
            hm = pm * s
            ha = (ha @ weights[i].T + biases[i]) * s
            hb = (hb @ weights[i].T + biases[i]) * s
        za = ha @ weights[layer].T + biases[layer]
        zb = hb @ weights[layer].T + biases[layer]
        cuts = slopes[layer] != 1.0  # identity units do not bend f
        cross = (((za > 0) & (zb < 0)) | ((za < 0) & (zb > 0))) & cuts[None, :]
        pi, ni = np.nonzero(cross)
        if len(pi) == 0:
            continue
        zpa, zpb = za[pi, ni], zb[pi, ni]
        t = a[pi] + (b[pi] - a[pi]) * (zpa / (zpa - zpb))
        t = np.minimum(np.maximum(t, a[pi]), b[pi])
        ends_line = np.concatenate([ends_line, line[pi]])
        ends_t = np.concatenate([ends_t, t])
        order = np.lexsort((ends_t, ends_line))
        ends_line, ends_t = ends_line[order], ends_t[order]
    inner = (ends_t > lower) & (ends_t < upper)
    return ends_line[inner], ends_t[inner]


def line_means(net, output: int, base, axis: int, lower: float, upper: float):
    """Mean of ``net``'s output over every line {z_i = base_i, i != axis, z_axis in [lower, upper]}.

    Parameters
    ----------
    net : ReLUNetwork
        A float network.
    output : int
    base : (m, d) float array
        A point of each line (its ``axis`` coordinate is ignored).
    axis : int
    lower, upper : float
        The line's range (lower < upper).

    Returns
    -------
    mean, bound, unproven, fmax : (m,) float arrays
        The mean of f over each line, a proven bound on |mean - exact mean| (see the module
        docstring), the Lipschitz part of that bound (intervals that could not be proven affine),
        and the largest |f| at the line's nodes.
    """
    base = np.ascontiguousarray(base, float)
    m, d = base.shape
    lower, upper = float(lower), float(upper)
    length = upper - lower
    br_line, br_t = float_breakpoints(net, base, axis, lower, upper)
    h = GAP_FRACTION * length
    nodes_line = np.concatenate([np.arange(m), np.arange(m), br_line, br_line])
    nodes_t = np.concatenate([np.full(m, lower), np.full(m, upper),
                              np.maximum(br_t - h, lower), np.minimum(br_t + h, upper)])
    order = np.lexsort((nodes_t, nodes_line))
    nodes_line, nodes_t = nodes_line[order], nodes_t[order]
    Z = _line_points(base, nodes_line, axis, nodes_t)
    out, pres = net.forward(Z)
    f = np.asarray(out, float)[:, output]
    pre_err, f_err = net.evaluation_error_bounds(Z, output)
    # per node and cutting unit: exact pre-activation proven >= 0, proven <= 0
    cut = [np.asarray(a, float) != 1.0 for a in net.negative_slopes]
    same = nodes_line[1:] == nodes_line[:-1]  # consecutive nodes of one line: an interval
    proven = same.copy()
    for z, e, c in zip(pres, pre_err, cut):
        z, e = z[:, c], e[:, c]
        pos, neg = z >= e, z <= -e
        proven &= np.all((pos[:-1] & pos[1:]) | (neg[:-1] & neg[1:]), axis=1)
    a, b = nodes_t[:-1], nodes_t[1:]
    width = np.where(same, b - a, 0.0)  # >= 0: the nodes are sorted
    term = width * (f[:-1] + f[1:]) * 0.5
    abs_term = width * (np.abs(f[:-1]) + np.abs(f[1:])) * 0.5
    eval_term = width * (f_err[:-1] + f_err[1:]) * 0.5
    lipschitz = float(net.gradient_magnitude_bound(output)[axis])
    gap_term = np.where(proven | ~same, 0.0, lipschitz * width * width * 0.5)
    owner = nodes_line[:-1]
    integral = np.bincount(owner, weights=np.where(same, term, 0.0), minlength=m)
    abs_sum = np.bincount(owner, weights=np.where(same, abs_term, 0.0), minlength=m)
    eval_sum = np.bincount(owner, weights=np.where(same, eval_term, 0.0), minlength=m)
    gap_sum = np.bincount(owner, weights=gap_term, minlength=m)
    n_terms = np.bincount(owner, weights=same.astype(float), minlength=m).astype(np.int64)
    fmax = np.zeros(m)
    np.maximum.at(fmax, nodes_line, np.abs(f))
    mean = integral / length
    # each term: b - a, f(a) + f(b), the product (3 roundings; * 0.5 exact), then the sum of n terms;
    # (1 + g) covers abs_sum being computed itself
    g = np.array([gamma(int(n) + 4) for n in n_terms])
    rounding = g * (1.0 + g) * abs_sum
    # the non-negative sums eval_sum, gap_sum: <= 4 roundings per term (3 products, one sum) plus n
    # additions; the division by length (itself one rounding) and the mean's own rounding: gamma_3
    absolute = round_up(eval_sum, 8) + round_up(gap_sum, 8)
    for_n = np.array([gamma(int(n) + 6) for n in n_terms])
    absolute = absolute * (1.0 + for_n)
    bound = (rounding + absolute) / length * (1.0 + gamma(3)) + gamma(3) * np.abs(mean)
    bound = round_up(bound, 12)  # <= 10 roundings of non-negative terms along any path above
    unproven = round_up(gap_sum * (1.0 + for_n) / length, 4)
    return mean, bound, unproven, fmax


__all__ = ["float_breakpoints", "line_means", "GAP_FRACTION", "UNPROVEN_TOLERANCE"]
