"""``polyattr attribute``: the command-line front of :func:`polyattr.attribution.api.attribute`.

The ``--method`` choices and the method options (``--radius``, ``--epsilon``, ``--background`` ...)
are generated from the registered method specs (:mod:`polyattr.attribution.registry`): a new
method's options appear here without editing this file.  ``--x-file F.npy|F.csv`` explains every
row of a file in one call (the JSON then holds one row of values per input; ``--csv OUT`` also
writes them as a table).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from polyattr.cli.arguments import (add_cluster_arguments, as_floats, check_output_file, cluster_client, domain_from_args,
                                      load_model_arg, parse_vector)
from polyattr.cli.commands import command_help
from polyattr.errors import PolyattrError
from polyattr.models.schema import check_real_dtype
from polyattr.numbers import parse_rational, rational_to_float


def register(sub) -> None:
    from polyattr.attribution.registry import cli_options, method_names

    p = sub.add_parser("attribute", help=command_help("attribute"))
    p.add_argument("model", help="model file (.npz or .json)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--x", help="comma-separated input (decimals or p/q)")
    where.add_argument("--x-file", metavar="F.npy|F.csv", help="a batch of inputs, one per row (.npy or .csv)")
    p.add_argument("--method", required=True, choices=method_names(), help="see `polyattr methods`")
    p.add_argument("--baseline", help="comma-separated baseline (default 0 where the method needs one)")
    p.add_argument("--lower", help="lower corner of the domain box (default 0,...,0)")
    p.add_argument("--upper", help="upper corner of the domain box (default 1,...,1)")
    p.add_argument("--output", type=int, default=None, help="output index of a multi-output model")
    p.add_argument("--exact", action="store_true", help="rational arithmetic; values printed as p/q")
    p.add_argument("--certificate", metavar="FILE.json", help="write a certificate (implies --exact; one input)")
    p.add_argument("--max-regions", type=int, default=1_000_000)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--csv", metavar="OUT.csv", help="also write the values as CSV (one row per input)")
    p.add_argument("--progress", action="store_true", help="progress bar over the rows of --x-file")
    add_cluster_arguments(p)
    group = p.add_argument_group("method options (see `polyattr methods`)")
    for name, (option, methods) in sorted(cli_options().items()):
        _add_option_flag(group, option, methods)
    p.set_defaults(func=cmd_attribute)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_option_flag(group, option, methods) -> None:
    help_text = f"{option.help} [{', '.join(methods)}]"
    if option.default is not None and option.type != "bool":
        help_text += f" (default {option.default})"
    if option.type == "bool":
        group.add_argument(_flag(option.name), dest=f"opt_{option.name}", action="store_true", default=None,
                           help=help_text)
        return
    metavar = {"points": "FILE.npy|FILE.csv", "vector": "v1,v2,...", "radius": "R|r1,r2,...", "features": "i,j,..."}.get(option.type, "VALUE")
    group.add_argument(_flag(option.name), dest=f"opt_{option.name}", metavar=metavar, default=None, help=help_text)


def _parse_option(option, text: str, exact: bool):
    """A CLI string as the value the option expects (validation proper happens in the library)."""
    flag = _flag(option.name)
    if option.type == "points":
        return read_matrix(text, flag)
    if option.type in ("vector", "radius"):
        values = parse_vector(text, option.name)
        if option.type == "radius" and len(values) == 1:
            values = values[0]
            return values if exact else rational_to_float(values, flag)
        return values if exact else as_floats(values, option.name)
    if option.type == "number":
        value = parse_vector(text, option.name)
        if len(value) != 1:
            raise PolyattrError(f"{flag}: expected one number, got {text!r}")
        return value[0] if exact else rational_to_float(value[0], flag)
    if option.type in ("int", "seed"):
        try:
            return int(text)
        except ValueError:
            raise PolyattrError(f"{flag}: expected an integer, got {text!r}") from None
    return text


def method_options(args, exact: bool) -> dict:
    """The options of ``args.method`` given on the command line (flags of other methods are refused)."""
    from polyattr.attribution.registry import cli_options, get_method

    spec = get_method(args.method)
    own = {o.name for o in spec.options}
    options = {}
    for name, (option, _) in cli_options().items():
        text = getattr(args, f"opt_{name}", None)
        if text is None:
            continue
        if name not in own:
            have = ", ".join(_flag(n) for n in sorted(own)) or "none"
            raise PolyattrError(f"{_flag(name)}: not an option of method {args.method!r} (its options: {have})")
        options[name] = True if option.type == "bool" else _parse_option(option, text, exact)
    return options


def read_matrix(path_text: str, flag: str) -> np.ndarray:
    """An (n, d) array from a .npy file or a .csv file of numbers (decimals or p/q, no header)."""
    path = Path(path_text)
    if not path.is_file():
        raise PolyattrError(f"{flag}: file not found: {path}")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise PolyattrError(f"{flag}: cannot read {path} as a .npy array ({exc})") from None
        check_real_dtype(arr.dtype, f"{flag}: {path.name}")
        arr = np.atleast_2d(arr)
    elif path.suffix.lower() == ".csv":
        try:
            rows = [r for r in csv.reader(path.read_text().splitlines()) if any(c.strip() for c in r)]
            arr = np.array([[parse_rational(c, f"{flag}: {path.name} row {i}") for c in r]
                            for i, r in enumerate(rows)], dtype=object)
        except (OSError, UnicodeDecodeError) as exc:
            raise PolyattrError(f"{flag}: cannot read {path} ({exc})") from None
        except PolyattrError:
            raise
        except ValueError:
            raise PolyattrError(f"{flag}: expected comma-separated numbers (decimals or p/q) in {path}") from None
        if arr.ndim != 2:
            raise PolyattrError(f"{flag}: expected rows of equal length in {path}")
    else:
        raise PolyattrError(f"{flag}: expected a .npy or .csv file, got {path.name}")
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise PolyattrError(f"{flag}: expected a 2-D array with at least one row, got shape {arr.shape}")
    return arr


def cmd_attribute(args) -> int:
    from polyattr.attribution.api import attribute

    exact = bool(args.exact or args.certificate)
    check_output_file(args.certificate, "--certificate")
    check_output_file(args.csv, "--csv")
    model = load_model_arg(args, exact=exact)
    domain = domain_from_args(args, model.n_inputs, exact=exact)
    options = method_options(args, exact)  # before any computation: a wrong flag fails at once
    if args.x_file is not None:
        if args.certificate:
            raise PolyattrError("--certificate: certificates are written for one input (--x), not --x-file")
        x = read_matrix(args.x_file, "--x-file")
        if not exact:
            x = np.array([as_floats(row, f"x-file[{i}]") for i, row in enumerate(x)], dtype=float)
    else:
        x = parse_vector(args.x, "x")
        if not exact:
            x = as_floats(x, "x")
    baseline = parse_vector(args.baseline, "baseline")
    if not exact:
        baseline = as_floats(baseline, "baseline")
    with cluster_client(args) as client:
        result = attribute(model, x, args.method, baseline=baseline, domain=domain, output=args.output,
                           exact=exact, max_regions=args.max_regions, progress=True if args.progress else None,
                           certify=bool(args.certificate), client=client, **options)
    if args.certificate:
        from polyattr.certify.certificate import write_certificate

        write_certificate(args.certificate, result=result, model_path=args.model)
    if args.csv:
        result.to_csv(args.csv)
    if args.json:
        print(json.dumps(result.to_dict(), allow_nan=False))
        return 0
    _print_table(result, model.n_inputs)
    if args.certificate:
        print(f"certificate written to {args.certificate}")
    if args.csv:
        print(f"values written to {args.csv}")
    return 0


def _print_table(result, d: int) -> None:
    names = [f"x{j}" for j in range(d)]
    # IG-type methods walk a path instead of enumerating regions: say how many pieces, not "regions 0"
    pieces = result.info.get("pieces")
    counted = f"path pieces {pieces}" if isinstance(pieces, int) and not result.regions else f"regions {result.regions}"
    print(f"method {result.method}   output {result.output}   {counted}   {result.seconds:.4f} s")
    print("exact (rational)" if result.exact else f"float, error bound {result.error_bound:.2e}")
    if result.batch:
        print("  row  " + "  ".join(f"{n:>14}" for n in names))
        for i, row in enumerate(result.values):
            print(f"  {i:<4} " + "  ".join(f"{str(v) if result.exact else f'{v: .8g}':>14}" for v in row))
        return
    for name, xv, v in zip(names, result.data, result.values):
        print(f"  {name:>6} = {str(xv):<12} {v if result.exact else f'{v: .12g}'}")
