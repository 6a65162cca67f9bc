"""Whether float64 arithmetic can evaluate a model on a box without overflow.

Weights of 1e308 overflow in the first product: the forward pass gives inf or NaN, region
enumeration sees garbage signs and the error bound becomes infinite, so a result would be silently
wrong.  :func:`check_float_range` bounds, by interval arithmetic, every pre-activation and every
entry of every local linear map on the box, and refuses the model up front when a bound leaves a
safe range (exact mode, in rationals, has no such limit).
"""

from __future__ import annotations

import numpy as np

from polyattr.errors import PolyattrError

#: Magnitudes beyond this are refused: sums of up to 2^30 such terms still fit float64 (max 1.8e308).
SAFE_MAGNITUDE = 1e290


def check_float_range(weights, biases, lower, upper, name: str = "model", negative_slopes=None) -> None:
    """Refuse a network whose float64 evaluation on [lower, upper] could overflow.

    Parameters
    ----------
    weights, biases : sequences of float64 arrays
        The layers (a hidden unit after every layer but the last).
    lower, upper : arrays (d,)
        The box the model is evaluated on.
    negative_slopes : sequence of arrays, optional
        Per hidden layer the slopes alpha of units max(z, 0) + alpha min(z, 0) (None: ReLU).
    """
    lo, hi = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        centre, radius = (lo + hi) / 2, (hi - lo) / 2
        reach = np.ones(lo.shape[0])  # bound on |d h / d z_j| summed over j: the local maps' sizes
        worst = max(float(np.max(np.abs(lo), initial=0.0)), float(np.max(np.abs(hi), initial=0.0)))
        n_layers = len(weights)
        for i, (W, b) in enumerate(zip(weights, biases)):
            W, b = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
            absW = np.abs(W)
            mid = W @ centre + b
            rad = absW @ radius
            reach = absW @ reach
            worst = max(worst, float(np.max(np.abs(mid) + rad, initial=0.0)), float(np.max(reach, initial=0.0)),
                        float(np.max(absW, initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
            if not np.isfinite(worst) or worst > SAFE_MAGNITUDE:
                raise PolyattrError(
                    f"{name}: layer {i} reaches magnitudes beyond {SAFE_MAGNITUDE:.0e} on this domain "
                    f"(float64 overflows near 1.8e308); rescale the weights or the domain, or use exact=True (--exact)"
                )
            if i < n_layers - 1:
                # the unit g is linear on each side of 0, so g([lo, hi]) lies between the smallest and
                # the largest of g(lo), g(hi) and 0 (for ReLU: [max(lo, 0), max(hi, 0)])
                alpha = 0.0 if negative_slopes is None else np.asarray(negative_slopes[i], dtype=np.float64)
                ends = [np.maximum(v, 0.0) + alpha * np.minimum(v, 0.0) for v in (mid - rad, mid + rad)]
                top = np.maximum(np.maximum(ends[0], ends[1]), 0.0)
                bottom = np.minimum(np.minimum(ends[0], ends[1]), 0.0)
                centre, radius = (top + bottom) / 2, (top - bottom) / 2
