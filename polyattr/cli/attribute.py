"""``polyattr attribute``: the command-line front of :func:`polyattr.attribution.api.attribute`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from polyattr.cli.arguments import as_floats, check_output_file, domain_from_args, load_model_arg, parse_vector
from polyattr.errors import PolyattrError
from polyattr.models.schema import check_real_dtype


def register(sub) -> None:
    from polyattr.attribution.api import available_methods

    p = sub.add_parser("attribute", help="exact attribution of one input")
    p.add_argument("model", help="model file (.npz or .json)")
    p.add_argument("--x", required=True, help="comma-separated input (decimals or p/q)")
    p.add_argument("--method", required=True, choices=available_methods())
    p.add_argument("--baseline", help="comma-separated baseline (default 0 where the method needs one)")
    p.add_argument("--lower", help="lower corner of the domain box (default 0,...,0)")
    p.add_argument("--upper", help="upper corner of the domain box (default 1,...,1)")
    p.add_argument("--output", type=int, default=None, help="output index of a multi-output model")
    p.add_argument("--exact", action="store_true", help="rational arithmetic; values printed as p/q")
    p.add_argument("--certificate", metavar="FILE.json", help="write a certificate (implies --exact)")
    p.add_argument("--radius", type=float, help="box half-width for smoothgrad_uniform / lime_uniform")
    p.add_argument("--epsilon", type=float, help="stabiliser of epsilon_lrp")
    p.add_argument("--background", metavar="FILE.npy", help="background set (n, d) for expected_gradients")
    p.add_argument("--max-regions", type=int, default=1_000_000)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_attribute)


def _method_options(args) -> dict:
    options = {}
    if args.radius is not None:
        options["radius"] = args.radius
    if args.epsilon is not None:
        options["epsilon"] = args.epsilon
    if args.background is not None:
        path = Path(args.background)
        try:
            background = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise PolyattrError(f"--background: cannot read {path} as a .npy array ({exc})") from None
        check_real_dtype(background.dtype, f"--background: {path.name}")
        options["background"] = background
    return options


def cmd_attribute(args) -> int:
    from polyattr.attribution.api import attribute

    exact = bool(args.exact or args.certificate)
    check_output_file(args.certificate, "--certificate")
    model = load_model_arg(args, exact=exact)
    domain = domain_from_args(args, model.n_inputs, exact=exact)
    x = parse_vector(args.x, "x")
    baseline = parse_vector(args.baseline, "baseline")
    if not exact:
        x, baseline = as_floats(x, "x"), as_floats(baseline, "baseline")
    result = attribute(model, x, args.method, baseline=baseline, domain=domain, output=args.output,
                       exact=exact, max_regions=args.max_regions, **_method_options(args))
    if args.certificate:
        from polyattr.certify.certificate import write_certificate

        write_certificate(args.certificate, model_path=args.model, model=model, domain=domain, result=result,
                          baseline=baseline, options=_method_options(args))
    if args.json:
        out = result.to_dict()
        print(json.dumps(out))
        return 0
    names = [f"x{j}" for j in range(model.n_inputs)]
    print(f"method {result.method}   output {result.output}   regions {result.regions}   {result.seconds:.4f} s")
    print("exact (rational)" if result.exact else f"float, error bound {result.error_bound:.2e}")
    for name, xv, v in zip(names, result.data, result.values):
        print(f"  {name:>6} = {str(xv):<12} {v if result.exact else f'{v: .12g}'}")
    if args.certificate:
        print(f"certificate written to {args.certificate}")
    return 0
