"""User-facing errors: one line that says where and what to do.

Every mistake a user can make (a bad config value, a broken data file, a
missing model) raises a subclass of :class:`TuneDeckError`. The CLI prints
``str(error)`` and exits with code 2; the TUI shows it in a notification.
Nothing else in the engine should reach the user as a traceback.
"""

from __future__ import annotations

from typing import Iterator


class TuneDeckError(Exception):
    """An error caused by user input, with a one-line message."""

    exit_code = 2


class ConfigError(TuneDeckError):
    """A config value is missing, unknown or out of range.

    ``errors`` holds ``(dotted_field, message)`` pairs, all of them, so a form
    can show each message beside its field.
    """

    def __init__(self, errors: list[tuple[str, str]], source: str | None = None):
        self.errors = list(errors)
        self.source = source
        prefix = f"{source}: " if source else ""
        text = "; ".join(f"{field}: {msg}" if field else msg for field, msg in self.errors)
        super().__init__(prefix + text)


class DataError(TuneDeckError):
    """A data file cannot be read or does not fit the chosen format/template."""


class ModelError(TuneDeckError):
    """A model cannot be found or loaded."""


class RunError(TuneDeckError):
    """A run directory is missing, unfinished or cannot be resumed."""


def causes(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc``, then each exception it was raised from or during (``__cause__``, else ``__context__``), outermost
    first, each once (a chain that loops back ends there)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def innermost(exc: BaseException) -> BaseException:
    """The last exception of ``exc``'s chain (libraries often wrap the useful message in generic ones)."""
    *_, last = causes(exc)
    return last
