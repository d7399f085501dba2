"""The exception and warning types of leptotwin.

Every error a user can act on is a :class:`LeptotwinError`. It names *where* the problem is
(``source``: a file, a CLI option or a function argument), *which* field is wrong, the offending
``value`` and what was ``expected``. The command line prints ``str(error)`` on one line and exits
with status 2.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConvergenceWarning", "LeptotwinError"]


class LeptotwinError(ValueError):
    """A bad input that the user can fix.

    Parameters
    ----------
    message : str
        What went wrong, in words.
    source : str, optional
        The file, CLI option or function the bad value came from (e.g. ``"plate.csv"``).
    field : str, optional
        The field, column, key or token that is wrong (e.g. ``"regimen"``).
    value : Any, optional
        The offending value, quoted in the message.
    expected : str, optional
        What would have been accepted (e.g. ``"one of alectinib, erlotinib"``).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        field: str | None = None,
        value: Any = None,
        expected: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(self._render())

    def _render(self) -> str:
        where = ": ".join(p for p in (self.source, self.field) if p)
        text = f"{where}: {self.message}" if where else self.message
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.expected:
            text += f"; expected {self.expected}"
        return text.replace("\n", " ")


class ConvergenceWarning(RuntimeWarning):
    """A fit or solver did not converge; results carry a status instead of raising."""
