"""The one exception type users catch: every bad input raises :class:`PolyattrError`."""


class PolyattrError(ValueError):
    """A bad input or an impossible request; the message names the input and what was expected."""


class RegionBudgetExceeded(PolyattrError):
    """Region enumeration stopped because it found (or would find) more regions than allowed."""

    def __init__(self, message: str, found: int | None = None, estimate: float | None = None):
        super().__init__(message)
        self.found = found
        self.estimate = estimate
