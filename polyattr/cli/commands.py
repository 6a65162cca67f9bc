"""The table of ``polyattr`` subcommands: name, one line of help, and where its parser is built.

:func:`polyattr.cli.build_parser` lists every command from this table but builds (and imports) only
the parser of the command being run: a command's options may come from heavy machinery (the
``attribute`` flags are generated from the method registry, which imports every method and its
numba kernels), and ``polyattr regions`` should not pay for that.  Only the standard library here.
"""

from __future__ import annotations

#: name -> (module, name of its ``register(subparsers)`` function, one line of help)
COMMANDS = {
    "regions": ("polyattr.cli.regions", "register",
                "enumerate the linear regions of a model in a box"),
    "demo": ("polyattr.cli.regions", "register_demo",
             "run the built-in example on the shipped default model"),
    "attribute": ("polyattr.cli.attribute", "register",
                  "exact attribution of one input or of every row of a file"),
    "methods": ("polyattr.cli.methods", "register",
                "list the attribution methods with their options"),
    "verify": ("polyattr.cli.verify", "register",
               "check a certificate written by 'attribute --certificate'"),
    "theorem21": ("polyattr.cli.theory", "register_theorem21",
                  "Theorem 2.1: remainder phi(x, f) - grad f(x0) * (x - x') of a softplus-smoothed model vs its "
                  "certified bound"),
    "axioms": ("polyattr.cli.theory", "register_axioms",
               "measure how far every attribution method is from each axiom "
               "(completeness, sensitivity, linearity, symmetry, implementation invariance)"),
    "evaluate": ("polyattr.cli.evaluate", "register",
                 "metrics (infidelity, sensitivity, ...) of attribution methods, exact where possible"),
    "aggregate": ("polyattr.cli.aggregate", "register",
                  "optimal convex weights of several attribution methods, certified exactly"),
    "symbolic": ("polyattr.cli.symbolic", "register",
                 "attribution as an exact piecewise closed form of one parameter"),
}


def command_help(name: str) -> str:
    """The one line of ``polyattr --help`` for subcommand ``name``."""
    return COMMANDS[name][2]
