"""``polyattr evaluate``: the command-line front of :func:`polyattr.metrics.evaluate`."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

from polyattr.cli.arguments import domain_from_args, load_model_arg, parse_vector
from polyattr.cli.commands import command_help
from polyattr.errors import PolyattrError


def register(sub) -> None:
    from polyattr.metrics.evaluate import DEFAULT_METRICS, METRICS

    p = sub.add_parser("evaluate", help=command_help("evaluate"))
    p.add_argument("model", help="model file (.npz or .json)")
    p.add_argument("--x", help="comma-separated input (decimals or p/q)")
    p.add_argument("--x-file", metavar="F.npy|F.csv", help="inputs, one per row")
    p.add_argument("--methods", required=True, help="comma-separated method names")
    p.add_argument("--metrics", default=",".join(DEFAULT_METRICS),
                   help=f"comma-separated metric names from {', '.join(METRICS)} (default: all but recall_at_k)")
    p.add_argument("--radius", default=None, help="half-width of the uniform box perturbation (default 0.1)")
    p.add_argument("--perturbation", choices=["uniform_box", "subset_mask"], default="uniform_box",
                   help="law of the infidelity perturbation I (subset_mask: I = S * (x - baseline))")
    p.add_argument("--baseline", help="comma-separated baseline (default 0)")
    p.add_argument("--lower", help="lower corner of the domain box (default 0,...,0)")
    p.add_argument("--upper", help="upper corner of the domain box (default 1,...,1)")
    p.add_argument("--output", type=int, default=None, help="output index of a multi-output model")
    p.add_argument("--seed", type=int, default=None, help="seed of every sampled metric (default: fresh, reported)")
    p.add_argument("--samples", type=int, default=None, help="draws per sampled metric")
    p.add_argument("--ground-truth", help="comma-separated feature indices (for recall_at_k)")
    p.add_argument("--k", type=int, default=None, help="k of recall_at_k (default: the ground truth's size)")
    p.add_argument("--subset-size", type=int, default=None, help="subset size of faithfulness_correlation (default d // 2)")
    p.add_argument("--relative", action="store_true", help="divide sensitivity_max by ||phi(x)|| (Captum's convention)")
    p.add_argument("--exact", action="store_true", help="rational arithmetic; exact values printed as p/q")
    p.add_argument("--per-point", action="store_true", help="one row per input as well (JSON: rows with 'point')")
    p.add_argument("--plot", metavar="FILE.png", help="draw the table (one panel per metric)")
    p.add_argument("--max-regions", type=int, default=1_000_000)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)


def read_points(args, d: int, exact: bool):
    """The inputs of --x or --x-file as a list of rows (Fractions when exact)."""
    if (args.x is None) == (args.x_file is None):
        raise PolyattrError("--x/--x-file: give exactly one of them")
    if args.x is not None:
        rows = [parse_vector(args.x, "x")]
    else:
        path = Path(args.x_file)
        if not path.is_file():
            raise PolyattrError(f"--x-file: {path} does not exist")
        try:
            if path.suffix == ".npy":
                arr = np.load(path, allow_pickle=False)
                rows = [[Fraction(float(v)) for v in row] for row in np.atleast_2d(arr)]
            elif path.suffix == ".csv":
                rows = [parse_vector(line, "x-file") for line in path.read_text().splitlines() if line.strip()]
            else:
                raise PolyattrError(f"--x-file: expected a .npy or .csv file, got {path.name}")
        except (OSError, ValueError) as exc:
            raise PolyattrError(f"--x-file: cannot read {path} ({exc})") from None
    for i, row in enumerate(rows):
        if len(row) != d:
            raise PolyattrError(f"--x: expected {d} values per input (the model's inputs), got {len(row)} in row {i}")
    if not rows:
        raise PolyattrError("--x-file: no inputs")
    return rows if exact else [[float(v) for v in row] for row in rows]


def cmd_evaluate(args) -> int:
    from polyattr.metrics.evaluate import evaluate
    from polyattr.metrics.perturbations import SubsetMask

    exact = bool(args.exact)
    model = load_model_arg(args, exact=exact)
    d = model.n_inputs
    domain = domain_from_args(args, d, exact=exact)
    X = read_points(args, d, exact)
    baseline = parse_vector(args.baseline, "baseline")
    if baseline is not None:
        if len(baseline) != d:
            raise PolyattrError(f"--baseline: expected {d} values, got {len(baseline)}")
        if not exact:
            baseline = [float(v) for v in baseline]
    radius = None
    if args.radius is not None:
        r = parse_vector(args.radius, "radius")
        radius = r[0] if len(r) == 1 else r
    perturbation = SubsetMask(baseline) if args.perturbation == "subset_mask" else None
    ground_truth = None
    if args.ground_truth is not None:
        try:
            ground_truth = [int(v) for v in args.ground_truth.split(",") if v.strip()]
        except ValueError:
            raise PolyattrError(f"--ground-truth: expected comma-separated feature indices, got {args.ground_truth!r}") from None
    if args.seed is not None and args.seed < 0:
        raise PolyattrError(f"--seed: expected a non-negative integer, got {args.seed}")
    table = evaluate(model, X, args.methods, args.metrics, radius=radius, perturbation=perturbation, baseline=baseline,
                     domain=domain, output=args.output, exact=exact, rng=args.seed, n_samples=args.samples,
                     ground_truth=ground_truth, k=args.k, subset_size=args.subset_size, relative=args.relative,
                     max_regions=args.max_regions)
    if args.plot:
        table.plot(path=args.plot)
    if args.json:
        out = table.to_json(per_point=False)
        if args.per_point:
            out["rows"] += table.rows(per_point=True)
        print(json.dumps(out))
        return 0
    print(f"{len(X)} input(s), {len(table.methods)} method(s); seed {table.seed}; {table.seconds:.3f} s")
    print(table.to_text())
    if args.per_point:
        for row in table.rows(per_point=True):
            print(f"  point {row['point']}  {row['method']:<22} {row['metric']:<26} {row['value']}  "
                  f"({row['kind']}, bound {row['error_bound']:.2g})")
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0
