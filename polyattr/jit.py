"""numba's ``njit`` for polyattr's kernels, with an on-disk cache that also works on read-only installs.

Every kernel is compiled with ``cache=True``, so a process loads machine code from disk instead of
compiling it (about 15 s for the enumeration kernels).  numba writes that cache to ``__pycache__``
beside the sources, or to ``$NUMBA_CACHE_DIR`` when it is set, and refuses to decorate a cached
function (a RuntimeError at import) when it finds no writable place.  Before numba is imported, this
module checks that place once and, when the sources' directories are read-only (a system-wide or
container install) and ``NUMBA_CACHE_DIR`` is unset, points ``NUMBA_CACHE_DIR`` at a per-user
directory: ``$XDG_CACHE_HOME/polyattr/numba`` (default ``~/.cache/polyattr/numba``), else
``<temp dir>/polyattr-numba-<user id>``.  Where nothing is writable, kernels compile without a
cache (slow starts, same results).  The kernel modules import ``njit`` from here, never from numba.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _source_dirs() -> list[Path]:
    """The package directories that may hold ``@njit(cache=True)`` kernels (numba caches beside each
    source, in its directory's ``__pycache__``): polyattr and its subpackages."""
    root = Path(__file__).resolve().parent
    return [root] + sorted(p for p in root.iterdir() if (p / "__init__.py").is_file())


def _writable(directory: Path) -> bool:
    """Whether ``directory`` can be created and written, tested the way numba tests it (a temp file)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


def user_cache_dirs() -> list[Path]:
    """The fallback cache directories, in order of preference."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return [Path(base) / "polyattr" / "numba", Path(tempfile.gettempdir()) / f"polyattr-numba-{uid}"]


def choose_cache_dir() -> tuple[str, Path | None]:
    """Where the kernels' cache goes: ("env", $NUMBA_CACHE_DIR), ("source", None) for ``__pycache__``
    beside the sources, ("fallback", dir) for a per-user directory, or ("none", None)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return "env", Path(os.environ["NUMBA_CACHE_DIR"])
    if all(_writable(directory / "__pycache__") for directory in _source_dirs()):
        return "source", None
    for directory in user_cache_dirs():
        if _writable(directory):
            return "fallback", directory
    return "none", None


CACHE_LOCATION, CACHE_DIR = choose_cache_dir()
if CACHE_LOCATION == "fallback":
    # process-wide by necessity: numba reads its cache directory from the environment (at import,
    # and again before each compilation)
    os.environ["NUMBA_CACHE_DIR"] = str(CACHE_DIR)

import numba  # noqa: E402 - after the cache directory is settled

if CACHE_LOCATION == "fallback":
    numba.config.reload_config()  # in case numba was imported before polyattr


def njit(*args, **kwargs):
    """``numba.njit``; ``cache=True`` is dropped when no cache directory is writable."""
    if CACHE_LOCATION == "none":
        kwargs.pop("cache", None)
    return numba.njit(*args, **kwargs)
