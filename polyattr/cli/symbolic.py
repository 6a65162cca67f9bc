"""``polyattr symbolic``: an attribution as an exact piecewise closed form of one parameter."""

from __future__ import annotations

import json

from polyattr.cli.arguments import domain_from_args, load_model_arg, parse_vector
from polyattr.cli.commands import command_help
from polyattr.errors import PolyattrError


def register(sub) -> None:
    from polyattr.symbolic.curves import supported_methods

    p = sub.add_parser("symbolic", help=command_help("symbolic"))
    p.add_argument("model", help="model file (.npz or .json)")
    p.add_argument("--x", required=True, help="comma-separated input (decimals or p/q)")
    p.add_argument("--method", required=True, choices=[m for m, params in supported_methods().items()
                                                        if not any("callable" in p for p in params)])
    p.add_argument("--vary", required=True, help="feature index j (x_j varies), baseline_j, or radius")
    p.add_argument("--over", required=True, help="interval a,b of the varied parameter (decimals or p/q)")
    p.add_argument("--baseline", help="comma-separated baseline (default 0 where the method needs one)")
    p.add_argument("--radius", help="box half-width of smoothgrad_uniform / lime_uniform when it is not varied")
    p.add_argument("--lower", help="lower corner of the domain box (default 0,...,0)")
    p.add_argument("--upper", help="upper corner of the domain box (default 1,...,1)")
    p.add_argument("--output", type=int, default=None, help="output index of a multi-output model")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--latex", action="store_true", help="print the LaTeX of the piecewise closed forms")
    p.add_argument("--plot", metavar="FILE.png", help="plot the curves")
    p.set_defaults(func=cmd_symbolic)


def cmd_symbolic(args) -> int:
    from polyattr.symbolic.curves import curve

    model = load_model_arg(args, exact=True)
    domain = domain_from_args(args, model.n_inputs, exact=True)
    x = parse_vector(args.x, "x")
    over = parse_vector(args.over, "over")
    if len(over) != 2:
        raise PolyattrError(f"--over: expected two numbers a,b, got {args.over!r}")
    options = {}
    if args.radius is not None:
        radius = parse_vector(args.radius, "radius")
        if len(radius) != 1:
            raise PolyattrError(f"--radius: expected one number, got {args.radius!r}")
        options["radius"] = radius[0]
    result = curve(model, x, args.method, vary=args.vary, over=over, output=args.output,
                   baseline=parse_vector(args.baseline, "baseline"), domain=domain, **options)
    if args.plot:
        result.plot(path=args.plot)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"method {result.method}   vary {result.vary} = {result.symbol} over [{result.over[0]}, {result.over[1]}]   "
          f"{len(result.pieces)} pieces   {result.evaluations} exact evaluations   {result.seconds:.2f} s")
    for p in result.pieces:
        print(f"  ({p.interval[0]}, {p.interval[1]})")
        for j, v in enumerate(p.values):
            print(f"      phi_{j} = {v}")
    if args.latex:
        print(result.latex())
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0
