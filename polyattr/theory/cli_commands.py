"""Subcommands of the executable theory (registered by :mod:`polyattr.cli`).

``polyattr theorem21 MODEL --x .. --baseline .. --x0 .. --method ig|shapley --beta B
[--output k] [--lower ..] [--upper ..] [--json]`` checks Theorem 2.1 (THEORY.md §2) on the softplus
smoothing of the ReLU network in MODEL; the work is done by
:func:`polyattr.theory.theorem21.run_theorem21_cli`. Exit status 0 when the certified bound holds,
1 when it does not, 2 on bad input.
"""

from __future__ import annotations


def register(sub) -> None:
    """Add the theory subcommands to an argparse ``subparsers`` object."""
    p = sub.add_parser(
        "theorem21",
        help="Theorem 2.1: remainder phi(x, f) - grad f(x0) * (x - x') of a softplus-smoothed model vs its certified bound",
    )
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
