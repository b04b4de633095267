"""Text fields that never take keys meant for something else.

* :func:`leave_text_field` takes the focus out of a text field on a screen being left, so that coming
  back to it (Textual restores the focus) does not send the next key, say the digit of another
  screen, into a field: the screen's ``AUTO_FOCUS`` gets the focus instead.
* :class:`LateInput` drops the keys typed before it was shown (while its screen was being built),
  so a key pressed during a screen switch never lands in it: the key goes on to the screen's and
  the app's bindings as if the field were not there.
* :class:`PathInput` completes a path with Tab (the suggestion shown in grey), and only moves the
  focus when there is nothing to complete.
"""

from __future__ import annotations

from textual import events
from textual._time import get_time  # the clock Textual stamps every event with
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, TextArea


def leave_text_field(screen: Screen) -> None:
    """If ``screen``'s focus is in a text field, drop it (the screen's AUTO_FOCUS takes it on return)."""
    if isinstance(screen.focused, (Input, TextArea)):
        screen.set_focus(None)


class LateInput(Input):
    """An Input that ignores keys pressed before :meth:`shown` was last called."""

    shown_at = 0.0

    def shown(self) -> None:
        self.shown_at = get_time()

    async def _on_key(self, event: events.Key) -> None:
        if event.time < self.shown_at:
            event.prevent_default()  # typed while the screen was still coming: not for this field (Input's
            # own handler is skipped; the key still bubbles on to the bindings)


class PathInput(Input):
    """An Input whose Tab accepts the grey completion (from its suggester) when there is one."""

    BINDINGS = [Binding("tab", "complete", "Complete path", show=False)]

    def action_complete(self) -> None:
        if self._suggestion and self._suggestion != self.value and self.cursor_at_end:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:  # nothing to complete: Tab moves the focus as usual
            self.screen.focus_next()
