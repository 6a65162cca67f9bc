"""The attribution part of ``polyattr demo``: every method, exact beside a sampled approximation.

For a fixed input x (baseline 0 where a method needs one) on the default 2-input model, one line
per method: polyattr's values, a sampled or quadrature approximation (Monte Carlo, Riemann sums,
finite differences; :mod:`polyattr.attribution.approximate`) and the largest absolute difference.
"""

from __future__ import annotations

import time

import numpy as np

from polyattr.errors import PolyattrError

DEMO_X = (0.3, 0.7)
DEMO_SAMPLES = 100_000
DEMO_SEED = 0
# options of the methods that need one to run from a bare call
_OPTIONS = {"expected_gradients": {"background": np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])},
            "expected_gradients_uniform": {"rng": DEMO_SEED}}


def _fmt(values) -> str:
    return "[" + ", ".join(f"{float(v): .6f}" for v in values) + "]"


def _reference(model, x, method, options):
    """A sampled estimate of ``method`` (or None) and a short label saying how it was obtained."""
    from polyattr.attribution.approximate import riemann_ig, sampled_attribution

    if method == "expected_gradients":
        background = options["background"]
        values = np.mean([riemann_ig(model, x, b, 500) for b in background], axis=0)
        return values, f"riemann IG, 500 steps x {len(background)} baselines"
    est = sampled_attribution(model, x, method, n=DEMO_SAMPLES, rng=DEMO_SEED, steps=50)
    if est is None:
        return None, ""
    if est.kind == "monte_carlo":
        how = f"monte carlo n={DEMO_SAMPLES:.0e}, stderr {float(np.max(est.stderr)):.1e}"
    elif est.kind == "riemann":
        how = f"riemann sum, {est.n} steps"
    else:
        how = "central differences" if method.startswith("gradient") else "direct evaluation"
    return est.values, how


def print_demo_attributions(model, print=print, x=DEMO_X) -> list[dict]:
    """Print one line per attribution method: exact values, a sampled approximation, their gap.

    Returns the rows (method, exact values, approximation, absolute error, seconds) as dicts.
    """
    from polyattr.attribution.api import attribute, available_methods

    x = np.asarray(x, float)
    print(f"  attributions at x = ({', '.join(f'{v:g}' for v in x)}), baseline 0 where a method needs one:")
    print(f"  {'method':<27}{'polyattr (exact)':<31}{'sampled approximation':<28}{'|error|':>9}  how")
    rows = []
    for method in available_methods():
        if method == "measure":
            continue  # needs a user-supplied family; see examples/custom_measure.py
        options = _OPTIONS.get(method, {})
        try:
            start = time.perf_counter()
            result = attribute(model, x, method, **options)
            seconds = time.perf_counter() - start
        except PolyattrError as exc:
            print(f"  {method:<27}error: {exc}")
            continue
        approx, how = _reference(model, x, method, options)
        # polyattr's own estimate when the method is inexact (expected_gradients_uniform samples baselines)
        tag = "" if result.exact or result.error_bound < 1e-6 else f" ±{result.error_bound:.0e}"
        if approx is None:
            print(f"  {method:<27}{_fmt(result.values) + tag:<31}{'-':<28}{'-':>9}  no sampled counterpart")
            err = None
        else:
            err = float(np.max(np.abs(np.asarray(result.values, float) - approx)))
            print(f"  {method:<27}{_fmt(result.values) + tag:<31}{_fmt(approx):<28}{err:9.1e}  {how}")
        rows.append({"method": method, "values": result.values, "approximation": approx, "error": err,
                     "seconds": seconds})
    return rows
