"""The Playground's sampling form: max new tokens, temperature, top-p, greedy and raw, checked as typed.

``parse_sampling`` turns the form's text into ``engine.infer.generate_stream`` settings and names the
bad fields; ``SamplingForm.check`` marks them and says why on the note line under the form.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Checkbox, Input, Label, Static

MAX_NEW_TOKENS = 4096
TEMPERATURE_MAX = 5.0
DEFAULT_MAX, DEFAULT_TEMP, DEFAULT_TOP_P = "128", "0.7", "0.9"
FIELDS = ("pg-max", "pg-temp", "pg-top-p")


def parse_sampling(max_text: str, temp_text: str, top_p_text: str, greedy: bool) -> tuple[dict, dict[str, str]]:
    """Sampling settings from the form's text: (generate_stream kwargs, {field id: message} for the bad ones)."""
    errors: dict[str, str] = {}
    params: dict = {"greedy": greedy}
    try:
        n = int(max_text.strip())
        if not 1 <= n <= MAX_NEW_TOKENS:
            raise ValueError
        params["max_new_tokens"] = n
    except ValueError:
        errors["pg-max"] = f"max new tokens: a whole number from 1 to {MAX_NEW_TOKENS}, got {max_text.strip()[:12]!r}"
    if not greedy:  # greedy ignores both; they are greyed out
        try:
            t = float(temp_text.strip())
            if not 0 <= t <= TEMPERATURE_MAX:  # also rejects nan
                raise ValueError
            params["temperature"] = t
        except ValueError:
            errors["pg-temp"] = f"temperature: a number from 0 to {TEMPERATURE_MAX:g}, got {temp_text.strip()[:12]!r}"
        try:
            p = float(top_p_text.strip())
            if not 0 < p <= 1:
                raise ValueError
            params["top_p"] = p
        except ValueError:
            errors["pg-top-p"] = f"top-p: a number above 0 and at most 1, got {top_p_text.strip()[:12]!r}"
    return params, errors


class SamplingForm(Horizontal):
    """One line of sampling fields; its changes reach the screen as the fields' own Changed messages."""

    def compose(self) -> ComposeResult:
        yield Label("max", classes="pg-label")
        yield Input(DEFAULT_MAX, id="pg-max", compact=True, tooltip=f"Max new tokens (1-{MAX_NEW_TOKENS})")
        yield Label("temp", classes="pg-label")
        yield Input(DEFAULT_TEMP, id="pg-temp", compact=True, tooltip="Temperature (0-5; 0 = greedy)")
        yield Label("top-p", classes="pg-label")
        yield Input(DEFAULT_TOP_P, id="pg-top-p", compact=True, tooltip="Nucleus sampling: keep the likeliest tokens up to this probability")
        yield Checkbox("greedy", id="pg-greedy", compact=True, tooltip="F9: always the most likely token (same reply every time)")
        yield Checkbox("raw", id="pg-raw", compact=True, tooltip="F8: send the text as typed, without the run's template")

    @property
    def greedy(self) -> bool:
        return self.query_one("#pg-greedy", Checkbox).value

    def check(self, note: Static) -> tuple[dict, dict[str, str]]:
        """Validate the fields, marking the bad ones and saying why on ``note``, under the first of them."""
        value = lambda wid: self.query_one(f"#{wid}", Input).value  # noqa: E731
        params, errors = parse_sampling(value("pg-max"), value("pg-temp"), value("pg-top-p"), self.greedy)
        for wid in FIELDS:
            self.query_one(f"#{wid}", Input).set_class(wid in errors, "-invalid")
        if errors:
            wid, msg = next(iter(errors.items()))
            bad = self.query_one(f"#{wid}", Input)
            column = max(0, bad.region.x - self.screen.region.x)  # 0 before the first layout
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            note.update(Text.assemble(" " * column, (f"↑ {msg}{more}", "bold red")))
        else:
            note.update("")
        note.tooltip = "\n".join(errors.values()) or None
        return params, errors

    def grey_out(self) -> None:
        """Greedy ignores temperature and top-p: they are disabled while it is on."""
        for wid in ("#pg-temp", "#pg-top-p"):
            self.query_one(wid, Input).disabled = self.greedy
