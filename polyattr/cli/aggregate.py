"""``polyattr aggregate``: optimal convex aggregation of attribution methods (:mod:`polyattr.optimize.aggregation`)."""

from __future__ import annotations

import json
from fractions import Fraction

from polyattr.cli.arguments import domain_from_args, load_model_arg, parse_vector
from polyattr.cli.commands import command_help
from polyattr.errors import PolyattrError


def register(sub) -> None:
    p = sub.add_parser("aggregate", help=command_help("aggregate"))
    p.add_argument("model", help="model file (.npz or .json)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--x", help="comma-separated input (decimals or p/q)")
    where.add_argument("--x-file", metavar="F.npy|F.csv", help="a batch of inputs, one per row (one shared weight vector)")
    p.add_argument("--methods", required=True, help="comma-separated method names, e.g. gradient,gradient_x_input,ig")
    p.add_argument("--objective", choices=["robust", "faith", "opt"], default="robust",
                   help="robust: sensitivity; faith: scale-normalised infidelity; opt: their normalised mix")
    p.add_argument("--lam", default="0.5", help="weight of sensitivity in --objective opt (default 0.5)")
    p.add_argument("--radius", default=None, help="half-width of the perturbation box (default 0.1)")
    p.add_argument("--baseline", help="comma-separated baseline of the baseline methods (default 0)")
    p.add_argument("--lower", help="lower corner of the domain box (default 0,...,0)")
    p.add_argument("--upper", help="upper corner of the domain box (default 1,...,1)")
    p.add_argument("--output", type=int, default=None, help="output index of a multi-output model")
    p.add_argument("--exact", action="store_true", help="rational Gram matrices where the metrics allow it")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws where a metric samples (default 0)")
    p.add_argument("--samples", type=int, default=None, help="number of such draws")
    p.add_argument("--agg-var-sensitivity", action="store_true",
                   help="also estimate the AGG_var baseline's sensitivity (Monte Carlo, --samples draws)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_aggregate)


def _number(text, name):
    try:
        return Fraction(str(text).strip())
    except (ValueError, ZeroDivisionError):
        raise PolyattrError(f"--{name}: expected a number (decimal or p/q), got {text!r}") from None


def cmd_aggregate(args) -> int:
    from polyattr.optimize.aggregation import aggregate

    exact = bool(args.exact)
    model = load_model_arg(args)
    d = model.n_inputs
    domain = domain_from_args(args, d, exact=exact)
    # one reader of --x / --x-file for evaluate and aggregate (rationals kept in exact mode)
    from polyattr.cli.evaluate import read_points

    X = read_points(args, d, exact)
    X = X[0] if args.x is not None else X
    baseline = parse_vector(args.baseline, "baseline")
    if baseline is not None and not exact:
        baseline = [float(v) for v in baseline]
    lam = _number(args.lam, "lam")
    radius = None
    if args.radius is not None:
        radius = _number(args.radius, "radius")
        if radius <= 0:
            raise PolyattrError(f"--radius: expected a positive number, got {args.radius!r}")
        radius = radius if exact else float(radius)
    if args.samples is not None and args.samples < 2:
        raise PolyattrError(f"--samples: expected at least 2 draws, got {args.samples}")
    result = aggregate(model, X, args.methods, args.objective, lam=lam, radius=radius, exact=exact, baseline=baseline,
                       domain=domain, output=args.output, n_samples=args.samples, rng=args.seed,
                       agg_var_sensitivity=args.agg_var_sensitivity)
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    print(f"objective {result.objective}"
          + (f" (lam {result.lam:g})" if result.objective == "opt" else "")
          + f"   {'scale-normalised' if result.scaled else 'raw'} attributions   "
          + (f"exact Gram" if result.exact else f"float/sampled Gram (optimum within {result.error_bound:.2g})")
          + f"   {result.seconds:.2f} s")
    print(f"certified: {'yes' if result.certified else 'NO'}   ({result.certification.reason if result.certification else 'not checked'})")
    width = max(len(m) for m in result.methods + ["AGG_mean", "aggregate"])
    print(f"{'method':<{width}}  {'weight':>10}  {'sensitivity_avg':>16}  {'infidelity':>12}  {'objective':>12}")
    for m, w in zip(result.methods, result.weights):
        row = result.before[m]
        print(f"{m:<{width}}  {w:10.6f}  {float(row['sensitivity_avg']):16.6g}  {float(row['infidelity']):12.6g}  "
              f"{float(row['objective']):12.6g}")
    for name, row in (("aggregate", result.after), ("AGG_mean", result.baselines["AGG_mean"])):
        print(f"{name:<{width}}  {'':>10}  {float(row['sensitivity_avg']):16.6g}  {float(row['infidelity']):12.6g}  "
              f"{float(row['objective']):12.6g}")
    if "AGG_var" in result.baselines:
        row = result.baselines["AGG_var"]
        sens = f"{row['sensitivity_avg']:.5g}~" if "sensitivity_avg" in row else "-"
        print(f"{'AGG_var':<{width}}  {'':>10}  {sens:>16}  {row['infidelity']:12.6g}  {'-':>12}")
        if "sensitivity_avg" in row:
            print(f"(~ Monte Carlo over {row['n_samples']} draws, 5-sigma half-width {row['sensitivity_avg_halfwidth']:.2g})")
    return 0
