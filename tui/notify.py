"""What screens share for telling the user things: one-line errors and recorded notifications."""

from __future__ import annotations

from rich.text import Text

from engine.errors import TuneDeckError


def one_line(text: object, limit: int = 300) -> str:
    """The first non-empty line of an error message, cut to ``limit`` characters."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def error_line(e: BaseException) -> str:
    """One line for an exception a worker caught: a TuneDeck error says what to do as it is; anything else
    (a broken model folder, out of memory...) is named by its type, so the app stays up without a traceback."""
    return one_line(str(e) if isinstance(e, TuneDeckError) else f"{type(e).__name__}: {e}")


class Notifying:
    """Screen mixin: ``_notify`` shows a toast and records it in ``self.notifications`` (tests read it);
    ``_set_error`` shows an error on the screen's one-line error row (``ERROR_LINE``, a Static), or hides it."""

    ERROR_LINE = ""

    def _notify(self, text: str, severity: str) -> None:
        self.notifications.append((severity, text))
        self.app.notify(text, severity=severity, timeout=10 if severity == "error" else 5)

    def _set_error(self, error: str | None, notify: bool = True) -> None:
        self.error = one_line(error) if error else None
        line = self.query_one(self.ERROR_LINE)
        line.update(Text(f"error: {self.error}", style="bold red") if self.error else "")
        line.set_class(not self.error, "hidden")
        if self.error and notify:
            self._notify(self.error, "error")
