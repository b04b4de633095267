"""What screens share for telling the user things: one-line errors and recorded notifications."""

from __future__ import annotations

from rich.text import Text

from .text import error_line, one_line

__all__ = ["Notifying", "error_line", "one_line"]


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
