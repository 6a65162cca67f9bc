"""The one exception type users catch: every bad input raises :class:`PolyattrError`."""


class PolyattrError(ValueError):
    """A bad input or an impossible request; the message names the input and what was expected."""


class RegionBudgetExceeded(PolyattrError):
    """Region enumeration stopped because it found (or would find) more regions than allowed."""

    def __init__(self, message: str, found: int | None = None, estimate: float | None = None):
        super().__init__(message)
        self.found = found
        self.estimate = estimate


class MemoryBudgetExceeded(PolyattrError):
    """A computation would allocate more memory than the budget (``max_memory``) allows."""

    def __init__(self, message: str, needed: float | None = None, budget: int | None = None):
        super().__init__(message)
        self.needed = needed
        self.budget = budget
