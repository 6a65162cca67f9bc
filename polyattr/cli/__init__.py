"""The ``polyattr`` command.

Every subcommand validates its arguments, calls the library, and prints a table or one JSON object.
Any :class:`~polyattr.errors.PolyattrError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


from polyattr.cli.arguments import domain_from_args, load_model_arg
from polyattr.errors import PolyattrError
from polyattr.numbers import long_integer_strings


# ---------------------------------------------------------------------------------------- regions
def cmd_regions(args) -> int:
    from polyattr.geometry.regions import enumerate_regions

    model = load_model_arg(args)
    domain = domain_from_args(args, model.n_inputs)
    start = time.perf_counter()
    regions = enumerate_regions(model, domain, max_regions=args.max_regions, backend=args.backend,
                                progress=None if not args.progress else True)
    seconds = time.perf_counter() - start
    if args.plot:
        regions.plot(path=args.plot, output=args.output if model.n_outputs > 1 else None)
    result = {
        "regions": len(regions),
        "volume": regions.total_volume,
        "domain_volume": float(domain.volume),
        "seconds": seconds,
        "backend": regions.backend,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"model           {model!r}  ({args.model})")
        print(f"domain          [{', '.join(map(str, domain.lower))}] x ... x [{', '.join(map(str, domain.upper))}]")
        print(f"regions         {result['regions']}")
        print(f"volume          {result['volume']:.15g} (domain {result['domain_volume']:.15g}, "
              f"relative gap {abs(result['volume'] - result['domain_volume']) / result['domain_volume']:.1e})")
        print(f"seconds         {seconds:.4f}  (backend {regions.backend})")
        if args.plot:
            print(f"plot            {args.plot}")
    return 0


# ------------------------------------------------------------------------------------------- demo
def cmd_demo(args) -> int:
    from polyattr.geometry.regions import enumerate_regions
    from polyattr.models.io import default_model_path, load_model

    path = default_model_path()
    model = load_model(path)
    print(f"polyattr demo: default model {model!r} on the unit square [0,1]^2 ({path.name})")
    regions = enumerate_regions(model)
    print(f"  linear regions: {len(regions)}  (total volume {regions.total_volume:.15f}, "
          f"{regions.seconds * 1e3:.1f} ms, backend {regions.backend})")
    out = Path(args.out)
    regions.plot(path=out)
    print(f"  partition picture written to {out.resolve()}")
    from polyattr.attribution.demo import print_demo_attributions

    print_demo_attributions(model, print)
    return 0


# ------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polyattr", description="Exact feature attributions of ReLU networks.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("regions", help="enumerate the linear regions of a model in a box")
    p.add_argument("model", help="model file (.npz or .json)")
    p.add_argument("--lower", help="comma-separated lower corner of the box (default 0,...,0)")
    p.add_argument("--upper", help="comma-separated upper corner of the box (default 1,...,1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE.png", help="draw the partition (2-input models)")
    p.add_argument("--output", type=int, default=None, help="output index for colouring the plot")
    p.add_argument("--max-regions", type=int, default=1_000_000, help="region budget (default 1e6)")
    p.add_argument("--backend", choices=["auto", "lp", "split"], default="auto")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    p.set_defaults(func=cmd_regions)

    p = sub.add_parser("demo", help="run the built-in example on the shipped default model")
    p.add_argument("--out", default="polyattr-demo.png", help="where to write the partition picture")
    p.set_defaults(func=cmd_demo)

    # each further subcommand lives in its own module of this package
    for module in _command_modules():
        module.register(sub)
    return parser


def _command_modules():
    """The modules of this package that add subcommands, each through ``register(subparsers)``."""
    from polyattr.cli import aggregate, attribute, evaluate, methods, symbolic, theory, verify

    return (attribute, methods, verify, theory, evaluate, aggregate, symbolic)


def _join_negative_vectors(argv: list[str]) -> list[str]:
    """Turn ``--lower -1,-2`` into ``--lower=-1,-2``: argparse reads a value starting with '-' as an option.

    Applies to every long option (the method options are generated from the specs), since no
    option name starts with a digit.
    """
    out, i = [], 0
    while i < len(argv):
        if (argv[i].startswith("--") and "=" not in argv[i] and i + 1 < len(argv) and argv[i + 1].startswith("-")
                and argv[i + 1][1:2] != "" and argv[i + 1][1:2] in "0123456789."):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv=None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_join_negative_vectors(argv))
    try:
        with long_integer_strings():  # exact rationals are printed and read in full, in this command only
            return int(args.func(args) or 0)
    except PolyattrError as exc:
        print(f"polyattr: error: {exc}".replace("\n", " "), file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into head
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
