"""Optimisation over attributions: certified optimal aggregation and optimal measures.

Layer: above :mod:`polyattr.metrics` (whose Gram matrices it minimises), below the CLI.

* :func:`aggregate` -- optimal convex weights of several methods ([AGG]), with an exact KKT certificate;
* :mod:`polyattr.optimize.simplex` -- the simplex QP (cvxpy) and its exact certificate;
* :func:`optimal_centres`, :func:`optimal_atomic_measures`, :func:`particle_ascent` -- optimal
  measures for a metric ([FAFP] Theorem 4.1, Corollary 4.1, open question 2);
* :mod:`polyattr.optimize.objectives` -- the metrics they optimise (Recall@k, linear, quadratic).
"""

from polyattr.optimize.aggregation import OBJECTIVES, AggregationResult, aggregate
from polyattr.optimize.measures import (AtomicOptimum, CentreOptimum, ParticleAscent, optimal_atomic_measures,
                                        optimal_centres, particle_ascent, plot_centre_landscape)
from polyattr.optimize.objectives import LinearMetric, QuadraticMetric, RecallAtK, infidelity_metric_linear
from polyattr.optimize.simplex import certify_on_simplex, exact_simplex_optimum, solve_on_simplex

__all__ = [
    "OBJECTIVES", "AggregationResult", "aggregate", "AtomicOptimum", "CentreOptimum", "ParticleAscent",
    "optimal_atomic_measures", "optimal_centres", "particle_ascent", "plot_centre_landscape", "LinearMetric",
    "QuadraticMetric", "RecallAtK", "infidelity_metric_linear", "certify_on_simplex", "exact_simplex_optimum",
    "solve_on_simplex",
]
