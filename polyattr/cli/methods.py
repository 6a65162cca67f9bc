"""``polyattr methods [--json]``: every registered attribution method, its options and one line of doc.

Generated from the method specs (:mod:`polyattr.attribution.registry`).  ``--json`` prints
``{"methods": [{"name", "exact", "needs_baseline", "options": [{"name", "type", "default", "help"}],
"doc"}]}``.
"""

from __future__ import annotations

import json

from polyattr.cli.commands import command_help


def register(sub) -> None:
    p = sub.add_parser("methods", help=command_help("methods"))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_methods)


def cmd_methods(args) -> int:
    from polyattr.attribution.registry import method_specs

    specs = method_specs()
    if args.json:
        print(json.dumps({"methods": [s.to_json() for s in specs]}))
        return 0
    width = max(len(s.name) for s in specs) + 2
    for s in specs:
        flags = ("exact" if s.exact else "estimate") + (", baseline" if s.needs_baseline else "")
        print(f"{s.name:<{width}}{s.doc}  [{flags}]")
        for o in s.options:
            default = "" if o.default is None else f" (default {o.default})"
            where = "" if o.cli else " (Python only)"
            print(f"{'':<{width}}  {o.name}: {o.type}{default}{where} -- {o.help}")
    return 0
