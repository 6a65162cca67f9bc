"""The memory budget: how many bytes one computation may allocate, and the up-front checks against it.

Region enumeration and integration allocate arrays whose size grows with the number of regions,
vertices and simplices; on a 10-input network a pulling triangulation alone can ask for tens of
gigabytes.  Every step that allocates in proportion to such a count estimates the bytes first and
calls :func:`check_allocation`, which raises :class:`~polyattr.errors.MemoryBudgetExceeded` (one
clear message) instead of letting the process be killed or end in a ``MemoryError`` traceback.

The budget is a context: :func:`memory_budget` sets it for everything called inside (the API's
``max_memory=`` arguments and the CLI's ``--max-memory`` use it), so the layers below need no
extra parameter.  The default is half of the memory available when the computation starts
(``MemAvailable`` in ``/proc/meminfo``; the physical memory elsewhere).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re

from polyattr.errors import MemoryBudgetExceeded, PolyattrError

#: Fraction of the available memory one computation may use by default.
DEFAULT_FRACTION = 0.5
_FALLBACK_BYTES = 2 * 2**30

_budget: contextvars.ContextVar[int | None] = contextvars.ContextVar("polyattr_max_memory", default=None)


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return _FALLBACK_BYTES


def _address_space_limit() -> int | None:
    """The process's RLIMIT_AS in bytes when one is set (an allocation beyond it fails)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else int(soft)


def default_max_memory() -> int:
    """Half the available memory (and at most half of an address-space limit set on the process)."""
    limit = int(available_memory() * DEFAULT_FRACTION)
    rlimit = _address_space_limit()
    if rlimit is not None:
        limit = min(limit, int(rlimit * DEFAULT_FRACTION))
    return max(limit, 1)


def current_budget() -> int:
    """The budget in force: the innermost :func:`memory_budget`, else :func:`default_max_memory`."""
    value = _budget.get()
    return default_max_memory() if value is None else value


def check_max_memory(value, name: str = "max_memory") -> int | None:
    """Validate a budget given by a user: None (default), a positive number of bytes, or "512M"/"4G"."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_memory_size(value, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value != value:
        raise PolyattrError(f"{name}: expected a positive number of bytes (or a size such as '4G'), got {value!r}")
    if value == float("inf"):
        return 2**62
    return int(value)


_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*")


def parse_memory_size(text: str, name: str = "--max-memory") -> int:
    """Bytes of a size such as "1500000000", "512M", "4G", "4GiB" (binary units)."""
    m = _SIZE.fullmatch(text) if isinstance(text, str) and len(text) < 40 else None
    if not m:
        raise PolyattrError(f"{name}: expected a memory size such as 512M or 4G, got {text!r}")
    number, unit = float(m.group(1)), m.group(2).upper()
    value = int(number * 1024 ** "_KMGT".index(unit or "_"))
    if value <= 0:
        raise PolyattrError(f"{name}: expected a positive memory size, got {text!r}")
    return value


@contextlib.contextmanager
def memory_budget(max_memory=None):
    """Run the body with at most ``max_memory`` bytes per checked allocation (None: keep the current one)."""
    value = check_max_memory(max_memory)
    if value is None:
        yield
        return
    token = _budget.set(value)
    try:
        yield
    finally:
        _budget.reset(token)


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def check_allocation(nbytes: float, what: str) -> None:
    """Refuse a computation whose estimated allocation ``nbytes`` exceeds the budget in force."""
    budget = current_budget()
    if nbytes > budget:
        raise MemoryBudgetExceeded(
            f"max_memory: {what} needs about {format_bytes(nbytes)}, more than the memory budget of "
            f"{format_bytes(budget)}; raise max_memory (--max-memory) if the machine has the memory, or "
            f"restrict the domain (a smaller box, a slice or a segment)",
            needed=nbytes, budget=budget,
        )
