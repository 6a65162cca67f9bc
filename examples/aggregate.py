"""Optimal aggregation of attribution methods ([AGG], arXiv 2406.05090), certified exactly.

Run:  python examples/aggregate.py

Several attribution methods disagree at the same input.  A convex mix phi^w = sum_i w_i phi^i
has sensitivity and infidelity equal to w^T Gamma w for a Gram matrix Gamma that polyattr
computes exactly on a ReLU network; the best weights solve a quadratic program over the simplex
(cvxpy), and the optimum is certified in rational arithmetic from the KKT conditions.

1. the three objectives at one input of the shipped default model (robust = sensitivity,
   faith = scale-normalised infidelity, opt = their normalised mix), with the baselines AGG_mean
   and AGG_var;
2. the faithfulness objective in exact mode: the exact optimal weights as fractions;
3. one weight vector shared over a batch of inputs, beside the per-point optima.
"""

import numpy as np

import polyattr
from polyattr.models.io import default_model_path
from polyattr.optimize import aggregate

model = polyattr.load_model(default_model_path())
x = [0.3, 0.7]
methods = ["gradient", "gradient_x_input", "occlusion", "ig", "smoothgrad_uniform"]


def show(res):
    print(f"objective {res.objective}: certified {res.certified} ({res.certification.reason})")
    print(f"  {'method':<20} {'weight':>8} {'sensitivity':>12} {'infidelity':>12} {'objective':>12}")
    for m, w in zip(res.methods, res.weights):
        row = res.before[m]
        print(f"  {m:<20} {w:8.4f} {float(row['sensitivity_avg']):12.5g} {float(row['infidelity']):12.5g} "
              f"{float(row['objective']):12.5g}")
    for name, row in (("optimal mix", res.after), ("AGG_mean", res.baselines["AGG_mean"])):
        print(f"  {name:<20} {'':>8} {float(row['sensitivity_avg']):12.5g} {float(row['infidelity']):12.5g} "
              f"{float(row['objective']):12.5g}")
    print(f"  {'AGG_var':<20} {'':>8} {'-':>12} {res.baselines['AGG_var']['infidelity']:12.5g} {'-':>12}")
    best_single = min(float(r["objective"]) for r in res.before.values())
    print(f"  optimum {res.value:.6g} <= best single method {best_single:.6g}: {res.value <= best_single + 1e-12}")


print(f"model {model!r}, x = {x}, perturbation box radius 0.1\n")
for objective in ("robust", "faith", "opt"):
    show(aggregate(model, x, methods, objective, lam=0.5, radius=0.1, n_samples=32, rng=0))
    print()

exact = aggregate(model, x, ["gradient", "gradient_x_input", "occlusion", "shapley"], "faith", radius=0.1, exact=True)
print("faith, exact mode (rational Gram matrix, exact KKT optimum):")
for m, w in zip(exact.methods, exact.exact_weights):
    print(f"  {m:<20} weight {float(w):.12f}  (a fraction with a {len(str(w.denominator))}-digit denominator)")
print(f"  optimum value {float(exact.certification.lower):.12g} (cvxpy's {exact.certification.solver_value:.12g}); "
      f"certified {exact.certified}\n")

batch = np.array([[0.3, 0.7], [0.5, 0.5], [0.8, 0.2], [0.1, 0.9]])
shared = aggregate(model, batch, ["gradient", "gradient_x_input", "occlusion"], "opt", radius=0.1, rng=0)
print(f"one weight vector shared over {len(batch)} points (opt): {np.round(shared.weights, 4)}, certified {shared.certified}")
for point, pp in zip(batch, shared.per_point):
    print(f"  x = {point}: per-point optimum {np.round(pp.weights, 4)}  value {pp.value:.5g}")
