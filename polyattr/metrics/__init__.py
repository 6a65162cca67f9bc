"""Evaluation metrics of attributions, exact where the perturbation law allows it.

Layer: above :mod:`polyattr.attribution`, below :mod:`polyattr.optimize` and the CLI.

* :func:`infidelity_quadratic_form` -- (M, m, s) with INFD(phi) = phi^T M phi - 2 phi.m + s;
* :func:`gram` -- the K x K Gram matrix of infidelity or sensitivity for K attributions;
* :func:`sensitivity` -- sensitivity Gram matrix and max (exact for gradient-type methods);
* metric functions returning :class:`MetricValue` and :func:`evaluate` tables.
"""

from polyattr.metrics.evaluate import DEFAULT_METRICS, METRICS, EvaluationTable, evaluate
from polyattr.metrics.gram import CRITERIA, GramMatrix, gram
from polyattr.metrics.infidelity import infidelity, infidelity_optimal_scale
from polyattr.metrics.methods import MethodCall
from polyattr.metrics.perturbations import PerturbationSamples, SubsetMask, UniformBox
from polyattr.metrics.quadratic import QuadraticForm, infidelity_quadratic_form
from polyattr.metrics.removal import (completeness_gap, deletion_aopc, faithfulness_correlation, insertion_aopc,
                                      recall_at_k, sensitivity_n)
from polyattr.metrics.result import MetricValue
from polyattr.metrics.sensitivity import LOCAL_RULES, SensitivityResult, sensitivity, sensitivity_avg, sensitivity_max

__all__ = [
    "CRITERIA", "GramMatrix", "gram", "MethodCall", "PerturbationSamples", "SubsetMask", "UniformBox",
    "QuadraticForm", "infidelity_quadratic_form", "MetricValue", "LOCAL_RULES", "SensitivityResult", "sensitivity",
    "DEFAULT_METRICS", "METRICS", "EvaluationTable", "evaluate", "infidelity", "infidelity_optimal_scale",
    "completeness_gap", "deletion_aopc", "faithfulness_correlation", "insertion_aopc", "recall_at_k", "sensitivity_n",
    "sensitivity_avg", "sensitivity_max",
]
