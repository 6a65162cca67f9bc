"""The attribution part of ``polyattr demo``: every method, exact beside a sampled approximation.

For a fixed input x (baseline 0 where a method needs one) on the default 2-input model, one line
per registered method: polyattr's values, the spec's sampled or quadrature approximation (Monte
Carlo, Riemann sums, finite differences; :mod:`polyattr.attribution.approximate`) and the largest
absolute difference.  The options of a bare run come from the spec (``demo_options``).
"""

from __future__ import annotations

import time

import numpy as np

from polyattr.errors import PolyattrError

DEMO_X = (0.3, 0.7)
DEMO_SAMPLES = 100_000
DEMO_SEED = 0


def _fmt(values) -> str:
    return "[" + ", ".join(f"{float(v): .6f}" for v in values) + "]"


def _reference(model, x, spec, options):
    """The spec's sampled estimate (or None) and a short label saying how it was obtained."""
    from polyattr.attribution.approximate import sampled_attribution

    if spec.sampled is None:
        return None, ""
    est = sampled_attribution(model, x, spec.name, n=DEMO_SAMPLES, rng=DEMO_SEED, steps=50, options=options)
    return est.values, est.info.get("how", est.kind)


def print_demo_attributions(model, print=print, x=DEMO_X) -> list[dict]:
    """Print one line per attribution method: exact values, a sampled approximation, their gap.

    Returns the rows (method, exact values, approximation, absolute error, seconds) as dicts.
    """
    from polyattr.attribution.api import attribute
    from polyattr.attribution.registry import method_specs

    x = np.asarray(x, float)
    print(f"  attributions at x = ({', '.join(f'{v:g}' for v in x)}), baseline 0 where a method needs one:")
    print(f"  {'method':<27}{'polyattr (exact)':<31}{'sampled approximation':<28}{'|error|':>9}  how")
    rows = []
    for spec in method_specs():
        if not spec.tables:
            continue  # needs user input (the ``measure`` family; see examples/custom_measure.py)
        method, options = spec.name, dict(spec.demo_options)
        try:
            start = time.perf_counter()
            result = attribute(model, x, method, **options)
            seconds = time.perf_counter() - start
        except PolyattrError as exc:
            print(f"  {method:<27}error: {exc}")
            continue
        approx, how = _reference(model, x, spec, options)
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
