"""Arguments shared by the subcommands: vectors, domains and the model file.

Every subcommand module parses its inputs through these helpers, so a vector or a box is read the
same way everywhere (decimals and ``p/q`` rationals, read as the exact numbers they denote).
"""

from __future__ import annotations

from fractions import Fraction

from polyattr.errors import PolyattrError


def parse_vector(text: str | None, name: str):
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise PolyattrError(f"--{name}: expected comma-separated numbers, got {text!r}")
    try:
        values = [Fraction(p) for p in parts]
    except (ValueError, ZeroDivisionError):
        raise PolyattrError(f"--{name}: expected comma-separated numbers (decimals or p/q), got {text!r}") from None
    return values


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
        lower, upper = [float(v) for v in lower], [float(v) for v in upper]
    return Box(lower, upper, exact=exact)


def load_model_arg(args, exact: bool = False):
    from polyattr.models.io import load_model

    return load_model(args.model, exact=exact)
