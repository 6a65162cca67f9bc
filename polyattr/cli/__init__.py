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


from polyattr.cli.arguments import add_cluster_arguments, check_output_file, cluster_client, domain_from_args, load_model_arg
from polyattr.errors import PolyattrError
from polyattr.numbers import long_integer_strings


# ---------------------------------------------------------------------------------------- regions
def cmd_regions(args) -> int:
    from polyattr.geometry.regions import enumerate_regions

    check_output_file(args.plot, "--plot")
    model = load_model_arg(args)
    domain = domain_from_args(args, model.n_inputs)
    if args.plot and model.n_inputs != 2:
        raise PolyattrError(f"--plot: draws 2-input models; this model has {model.n_inputs} inputs")
    start = time.perf_counter()
    with cluster_client(args) as client:
        regions = enumerate_regions(model, domain, max_regions=args.max_regions, backend=args.backend,
                                    progress=None if not args.progress else True, client=client)
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

    check_output_file(args.out, "--out")
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
class UsageError(PolyattrError):
    """A command line argparse cannot parse (unknown subcommand or option, bad value)."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, except that a usage error raises :class:`UsageError` instead of printing the usage.

    The CLI contract is one line ``polyattr: error: ...`` and exit code 2 for every bad input;
    argparse's own errors would print a multi-line usage first.  Subparsers inherit the class.
    """

    def error(self, message):
        command = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        where = f"{command}: " if command else ""
        hint = f"see 'polyattr {command + ' ' if command else ''}--help'"
        raise UsageError(f"{where}{message} ({hint})")


def build_parser() -> argparse.ArgumentParser:
    from polyattr import __version__

    parser = OneLineArgumentParser(prog="polyattr", description="Exact feature attributions of ReLU networks.")
    parser.add_argument("--version", action="version", version=f"polyattr {__version__}")
    parser.add_argument("--max-memory", metavar="SIZE", default=None,
                        help="memory budget of one computation, e.g. 512M or 4G (default: half the available "
                             "memory); may also be given after the subcommand")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    add_cluster_arguments(p)
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


def _take_max_memory(argv: list[str]) -> tuple[list[str], str | None]:
    """Remove ``--max-memory SIZE`` (wherever it stands) from argv: it applies to every subcommand."""
    out, value, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.extend(argv[i:])
            break
        if arg == "--max-memory":
            if i + 1 >= len(argv):
                raise UsageError("argument --max-memory: expected one argument (a size such as 4G)")
            value, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--max-memory="):
            value, i = arg.split("=", 1)[1], i + 1
            continue
        out.append(arg)
        i += 1
    return out, value


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def main(argv=None) -> int:
    """Run the ``polyattr`` command; every failure is one line on stderr and exit code 2."""
    from polyattr.memory import memory_budget, parse_memory_size

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, max_memory = _take_max_memory(argv)
        budget = None if max_memory is None else parse_memory_size(max_memory)
        args = build_parser().parse_args(_join_negative_vectors(argv))
        # exact rationals are printed and read in full, in this command only (literals are
        # length-checked by polyattr.numbers before any integer is built)
        with memory_budget(budget), long_integer_strings():
            return int(args.func(args) or 0)
    except PolyattrError as exc:
        message = str(exc)
    except BrokenPipeError:  # e.g. piped into head
        return 0
    except RecursionError:
        message = "the input is nested too deeply to process (recursion limit reached)"
    except MemoryError:
        message = ("out of memory; lower the work (a smaller domain or model) or set a budget with "
                   "--max-memory to be refused up front")
    except OverflowError as exc:
        message = f"a number is too large for float64 arithmetic ({exc}); use --exact or rescale the model"
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        message = f"{where}{exc.strerror or exc}"
    except KeyboardInterrupt:
        print("polyattr: error: interrupted", file=sys.stderr)
        return 130
    print(f"polyattr: error: {_one_line(message)}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
