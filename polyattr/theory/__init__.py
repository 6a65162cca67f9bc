"""Executable forms of the theory (THEORY.md §2-§4): checks that run on real models.

- :mod:`polyattr.theory.theorem21` -- Theorem 2.1, the Taylor-remainder bound that forces smooth
  models towards Gradient x Input (``theorem21``; CLI ``polyattr theorem21``).
- :mod:`polyattr.theory.axioms` -- completeness, sensitivity, linearity, symmetry and
  implementation invariance of every attribution method, measured on random ReLU networks
  (``check_axioms``, ``axiom_table``, the predicted table ``PREDICTIONS``).
- :mod:`polyattr.theory.blackbox` -- baseline Shapley and Integrated Gradients of any callable.
- ``proofs/`` at the top of the repository: one script per claim (Theorems 2.1 and 3.2,
  Corollary 4.1, Table 1), run by ``proofs/run_all.py``.

The names below are imported lazily, so that ``import polyattr.theory`` stays cheap.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "check_axioms": "polyattr.theory.axioms",
    "axiom_table": "polyattr.theory.axioms",
    "AxiomReport": "polyattr.theory.axioms",
    "AxiomCheck": "polyattr.theory.axioms",
    "PREDICTIONS": "polyattr.theory.axioms",
    "theorem21": "polyattr.theory.theorem21",
    "Theorem21Result": "polyattr.theory.theorem21",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'polyattr.theory' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
