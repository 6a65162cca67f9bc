"""The ``polyattr`` command.

Every subcommand validates its arguments, calls the library, and prints a table or one JSON object.
Any :class:`~polyattr.errors.PolyattrError` becomes one line on stderr and exit code 2.  The
subcommands live in their own modules (listed in :mod:`polyattr.cli.commands`); only the one being
run is imported, so a command starts without loading the machinery of the others.
"""

from __future__ import annotations

import argparse
import sys

from polyattr.cli.commands import COMMANDS
from polyattr.errors import PolyattrError


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


def build_parser(commands=None) -> argparse.ArgumentParser:
    """The parser of the ``polyattr`` command.

    Parameters
    ----------
    commands : iterable of str, optional
        The subcommands whose parsers are built in full (default: all).  Every other subcommand is
        listed (``polyattr --help``, the choices of a usage error) but has no options: building a
        command's parser imports its machinery (see :mod:`polyattr.cli.commands`), so :func:`main`
        builds only the command it runs.
    """
    import importlib

    from polyattr import __version__

    parser = OneLineArgumentParser(prog="polyattr", description="Exact feature attributions of ReLU networks.")
    parser.add_argument("--version", action="version", version=f"polyattr {__version__}")
    parser.add_argument("--max-memory", metavar="SIZE", default=None,
                        help="memory budget of one computation, e.g. 512M or 4G (default: half the available "
                             "memory); may also be given after the subcommand")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    full = set(COMMANDS) if commands is None else set(commands)
    for name, (module, register, help_text) in COMMANDS.items():
        if name in full:
            getattr(importlib.import_module(module), register)(sub)
        else:
            sub.add_parser(name, help=help_text)  # listed only; main never parses it
    return parser


def _command_of(argv: list[str]) -> str | None:
    """The subcommand of a command line (its first word not starting with '-'), or None.

    The top-level options take no value (``--max-memory`` is removed before), so the first such
    word is the subcommand, or a typo that argparse then reports against the full list.
    """
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


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
        argv = _join_negative_vectors(argv)
        args = build_parser(commands=[_command_of(argv)]).parse_args(argv)
        from polyattr.numbers import long_integer_strings  # numpy: after --help and usage errors

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


def run() -> None:
    """The ``polyattr`` executable (and ``python -m polyattr.cli``): :func:`main`, then a quick exit.

    Once a command has finished -- its files written and closed, its threads joined -- the
    interpreter's own teardown would still free every object of the process one by one; after a
    numba kernel was loaded that is ~0.15 s of CPU (numba's registries and LLVM), a fifth of a warm
    ``polyattr regions``.  So when only the main thread is left, the exit handlers run
    (``atexit``), stdout and stderr are flushed and the process ends with ``os._exit``.  Otherwise
    (threads still running, e.g. a dask client's) it exits the usual way.  Tests call :func:`main`.
    """
    exit_quickly(main())


def exit_quickly(code: int) -> None:
    """End the process with exit status ``code``, skipping the interpreter's teardown when it is safe."""
    import atexit
    import os
    import threading

    if threading.active_count() > 1:  # threads to join: let the interpreter do it as usual
        sys.exit(code)
    atexit._run_exitfuncs()  # what the interpreter would run first (logging, weakref finalizers, ...)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (piped into head) or a closed stream
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
