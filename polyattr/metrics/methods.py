"""Which attribution methods a metric evaluates, and computing them at perturbed inputs.

A method is named as in :func:`polyattr.attribute` (``"ig"``), optionally with options
(``("smoothgrad_uniform", {"radius": 0.05})``).  Metrics that move the input (sensitivity)
recompute the attribution at x + delta with the same options.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from polyattr.attribution.api import attribute
from polyattr.errors import PolyattrError
from polyattr.geometry.domains import Box, as_domain


@dataclass(frozen=True)
class MethodCall:
    """A method name and its options; ``label`` names it in tables (the name unless given)."""

    name: str
    options: dict = field(default_factory=dict)
    label: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise PolyattrError(f"methods: expected a method name, got {self.name!r}")
        if not isinstance(self.options, dict):
            raise PolyattrError(f"methods: options of {self.name!r} must be a dict, got {type(self.options).__name__}")
        if not self.label:
            object.__setattr__(self, "label", self.name)


def as_method_calls(methods) -> list[MethodCall]:
    """Normalise ``methods``: a comma-separated string, or a list of names, (name, options) pairs
    or MethodCalls."""
    if isinstance(methods, (str, MethodCall)):
        methods = [m.strip() for m in methods.split(",") if m.strip()] if isinstance(methods, str) else [methods]
    calls = []
    for m in methods:
        if isinstance(m, MethodCall):
            calls.append(m)
        elif isinstance(m, str):
            calls.append(MethodCall(m))
        elif isinstance(m, tuple) and len(m) == 2:
            calls.append(MethodCall(m[0], dict(m[1])))
        else:
            raise PolyattrError(f"methods: expected names or (name, options) pairs, got {m!r}")
    if not calls:
        raise PolyattrError("methods: expected at least one method")
    labels = [c.label for c in calls]
    if len(set(labels)) != len(labels):
        raise PolyattrError(f"methods: labels repeat ({labels}); give MethodCall(..., label=...) to tell them apart")
    return calls


def covering_domain(domain, x, half_widths, d: int):
    """The domain enlarged (if needed) to contain the box x +- half_widths, so that attributions at
    perturbed inputs are defined; returns (domain, enlarged?)."""
    box = as_domain(domain, d)
    if not isinstance(box, Box):
        raise PolyattrError(f"domain: expected a box, got {type(box).__name__}")
    lo = np.asarray(box.lower, float)
    hi = np.asarray(box.upper, float)
    xf = np.asarray([float(v) for v in x])
    r = np.asarray([float(v) for v in half_widths])
    new_lo, new_hi = np.minimum(lo, xf - r), np.maximum(hi, xf + r)
    if np.all(new_lo == lo) and np.all(new_hi == hi):
        return box, False
    return Box(new_lo, new_hi), True


def attribute_call(model, x, call: MethodCall, *, baseline=None, domain=None, output=None, exact=False,
                   max_regions=None):
    """``polyattr.attribute`` for one MethodCall."""
    kwargs = {} if max_regions is None else {"max_regions": max_regions}
    # metrics run many small batches (perturbed inputs): no progress bar per batch
    return attribute(model, x, call.name, baseline=baseline, domain=domain, output=output, exact=exact,
                     progress=False, **kwargs, **call.options)
