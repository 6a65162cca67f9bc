"""Arguments shared by the subcommands: vectors, domains and the model file.

Every subcommand module parses its inputs through these helpers, so a vector or a box is read the
same way everywhere (decimals and ``p/q`` rationals, read as the exact numbers they denote).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from polyattr.errors import PolyattrError
from polyattr.numbers import parse_rational, rational_to_float

#: Most entries a command-line vector may have (a model with more inputs is not explained exactly).
MAX_VECTOR_LENGTH = 100_000


def parse_vector(text: str | None, name: str):
    """The exact rationals of a comma-separated vector ("0.1,-1/3,2e-3"); None when not given.

    Each entry is read by :func:`polyattr.numbers.parse_rational` (digit and exponent limits checked
    before any number is built, decimals read as the rationals they denote).
    """
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) > MAX_VECTOR_LENGTH:
        raise PolyattrError(f"--{name}: more than {MAX_VECTOR_LENGTH} entries; expected one per model input")
    parts = [p.strip() for p in parts]
    if not any(parts):
        raise PolyattrError(f"--{name}: expected comma-separated numbers, got {text[:40]!r}")
    if not all(parts):
        raise PolyattrError(f"--{name}: an empty entry in {text[:40]!r}; expected comma-separated numbers")
    return [parse_rational(p, f"--{name}[{i}]") for i, p in enumerate(parts)]


def as_floats(values, name: str):
    """float64 values of exact ones, refusing values beyond the float64 range (None passes through)."""
    if values is None:
        return None
    return [rational_to_float(v, f"--{name}[{i}]") for i, v in enumerate(values)]


def check_output_file(path: str | None, option: str) -> None:
    """Refuse up front (before any computation) an output file whose directory does not exist."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise PolyattrError(f"{option}: {path} is a directory; expected a file name")
    parent = target.parent
    if not parent.is_dir():
        raise PolyattrError(f"{option}: the directory {str(parent)!r} does not exist; create it or choose another path")


def domain_from_args(args, d: int, exact: bool = False):
    from polyattr.geometry.domains import Box

    lower = parse_vector(getattr(args, "lower", None), "lower")
    upper = parse_vector(getattr(args, "upper", None), "upper")
    if lower is None and upper is None:
        return Box.unit(d, exact=exact)
    lower = lower if lower is not None else [Fraction(0)] * d
    upper = upper if upper is not None else [Fraction(1)] * d
    if len(lower) != d or len(upper) != d:
        raise PolyattrError(f"--lower/--upper: expected {d} values each (the model's inputs), got {len(lower)} and {len(upper)}")
    if not exact:
        lower, upper = as_floats(lower, "lower"), as_floats(upper, "upper")
    return Box(lower, upper, exact=exact)


def load_model_arg(args, exact: bool = False):
    from polyattr.models.io import load_model

    return load_model(args.model, exact=exact)


def add_cluster_arguments(p) -> None:
    """``--workers N`` (start a local dask cluster) and ``--scheduler ADDRESS`` (join one)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="run on a local dask cluster of N worker processes")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on an existing dask cluster (e.g. tcp://host:8786)")


class cluster_client:
    """Context manager: a dask ``Client`` for ``--workers`` / ``--scheduler``, or None without them.

    A cluster started here (``--workers``) is closed on exit; a joined one is left running.
    """

    def __init__(self, args):
        self.workers = getattr(args, "workers", None)
        self.scheduler = getattr(args, "scheduler", None)
        self.cluster = self.client = None

    def __enter__(self):
        if self.workers is None and self.scheduler is None:
            return None
        if self.workers is not None and self.workers < 1:
            raise PolyattrError(f"--workers: expected a positive number of worker processes, got {self.workers}")
        from distributed import Client, LocalCluster

        if self.workers is not None:
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, host="127.0.0.1", silence_logs=50)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(self.scheduler, timeout=10)
            except (OSError, TimeoutError, ValueError) as exc:
                raise PolyattrError(f"--scheduler: cannot reach a dask scheduler at {self.scheduler!r} ({exc})") from None
        return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False
