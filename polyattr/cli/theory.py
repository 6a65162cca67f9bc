"""Subcommands of the executable theory (registered by :mod:`polyattr.cli`).

``polyattr theorem21 MODEL --x .. --baseline .. --x0 .. --method ig|shapley --beta B
[--output k] [--lower ..] [--upper ..] [--json]`` checks Theorem 2.1 (THEORY.md §2) on the softplus
smoothing of the ReLU network in MODEL; the work is done by
:func:`polyattr.theory.theorem21.run_theorem21_cli`. Exit status 0 when the certified bound holds,
1 when it does not, 2 on bad input.

``polyattr axioms [--methods ..] [--models N] [--seed S] [--json]`` prints the axiom table of
:func:`polyattr.theory.axioms.axiom_table` (measured violations, pass/fail, contradictions with the
predictions); exit status 1 when a measurement contradicts a prediction.
"""

from __future__ import annotations

from polyattr.cli.commands import command_help


def register(sub) -> None:
    """Add the theory subcommands to an argparse ``subparsers`` object."""
    register_theorem21(sub)
    register_axioms(sub)


def register_theorem21(sub) -> None:
    """``polyattr theorem21 MODEL --x .. --baseline .. --x0 .. --beta B``."""
    p = sub.add_parser("theorem21", help=command_help("theorem21"))
    p.add_argument("model", help="model file (.npz or .json); its ReLU network is smoothed with softplus_beta")
    p.add_argument("--x", required=True, help="comma-separated input (decimals or p/q)")
    p.add_argument("--baseline", required=True, help="comma-separated baseline x'")
    p.add_argument("--x0", required=True, help="comma-separated expansion point of the Taylor remainder")
    p.add_argument("--method", choices=["ig", "shapley"], default="ig",
                   help="Integrated Gradients (Gauss-Legendre) or baseline Shapley (default ig)")
    p.add_argument("--beta", type=float, required=True, help="softplus sharpness beta > 0 (beta -> inf gives ReLU)")
    p.add_argument("--output", type=int, default=None, help="output index of a multi-output model")
    p.add_argument("--lower", help="lower corner of the box on which the Hessian bound is certified "
                                   "(default: the bounding box of x, x', x0)")
    p.add_argument("--upper", help="upper corner of that box")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_theorem21)


def _cmd_theorem21(args) -> int:
    from polyattr.theory.theorem21 import run_theorem21_cli

    return run_theorem21_cli(args)


def register_axioms(sub) -> None:
    """``polyattr axioms [--methods a,b,..] [--models N] [--seed S] [--json]``."""
    p = sub.add_parser("axioms", help=command_help("axioms"))
    p.add_argument("--methods", help="comma-separated method names (default: every registered method but 'measure')")
    p.add_argument("--models", type=int, default=3, help="random networks per check (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random networks and points (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object {method: report}")
    p.set_defaults(func=_cmd_axioms)


def _cmd_axioms(args) -> int:
    import json

    from polyattr.errors import PolyattrError
    from polyattr.theory.axioms import axiom_table, format_axiom_table, table_methods

    known = table_methods()
    methods = known if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in known]
    if unknown or not methods:
        raise PolyattrError(f"--methods: unknown {unknown or args.methods!r}; expected names from {', '.join(known)}")
    if args.models < 1:
        raise PolyattrError(f"--models: expected a positive integer, got {args.models}")
    reports = axiom_table(methods, rng=args.seed, n_models=args.models, print_table=False)
    if args.json:
        print(json.dumps({m: r.to_dict() for m, r in reports.items()}))
    else:
        print(format_axiom_table(reports))
    # exit 1 when a measurement contradicts the theory's prediction
    return 1 if any(r.mismatches() for r in reports.values()) else 0
