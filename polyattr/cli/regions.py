"""``polyattr regions MODEL`` and ``polyattr demo``: the linear regions of a model, and the built-in example."""

from __future__ import annotations

import json
import time
from pathlib import Path

from polyattr.cli.arguments import add_cluster_arguments, check_output_file, cluster_client, domain_from_args, load_model_arg
from polyattr.cli.commands import command_help
from polyattr.errors import PolyattrError


def register(sub) -> None:
    p = sub.add_parser("regions", help=command_help("regions"))
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


def register_demo(sub) -> None:
    p = sub.add_parser("demo", help=command_help("demo"))
    p.add_argument("--out", default="polyattr-demo.png", help="where to write the partition picture")
    p.set_defaults(func=cmd_demo)


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
