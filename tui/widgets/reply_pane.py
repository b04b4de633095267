"""The Playground's reply panes: one model's reply to the prompt, streamed, with how generation went.

``Reply`` is what a pane knows (the text so far and its state); ``ReplyPane.show_reply`` draws it: the text,
a cursor while it streams, the end (cancelled, error) and a subtitle (tokens, tokens/s, why it ended).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..text import printable

END_REASONS = {"eos": "EOS", "stop_string": "stop string", "max_tokens": "max reached"}


@dataclass
class Reply:
    """One pane's reply to the current prompt."""

    text: str = ""
    state: str = "idle"  # idle | queued | streaming | cancelling | done | cancelled | error
    tokens: int = 0
    seconds: float = 0.0
    reason: str = ""
    error: str = ""

    @property
    def active(self) -> bool:
        return self.state in ("queued", "streaming", "cancelling")


def reply_body(reply: Reply) -> Text:
    """The pane's text: the reply (control characters made visible) and how it stands."""
    body = Text(printable(reply.text))
    if reply.state == "idle" and not reply.text:
        body = Text("The reply streams here.", style="dim italic")
    elif reply.state == "queued":
        body = Text("Waiting for the model to load…", style="dim italic")
    elif reply.state in ("streaming", "cancelling"):
        body.append("▌", style="dim")
    elif reply.state == "cancelled":
        body.append(" ■ cancelled", style="bold yellow")
    elif reply.state == "error":
        body.append(("\n" if reply.text else "") + f"✗ {reply.error}", style="bold red")
    return body


def reply_subtitle(reply: Reply) -> str:
    """Under the pane: tokens so far, or at the end tokens, tokens/s and why generation ended."""
    tps = reply.tokens / reply.seconds if reply.seconds > 0 else 0.0
    rate = (f" · {tps:.0f} tok/s" if tps >= 10 else f" · {tps:.1f} tok/s") if reply.tokens and tps else ""
    subtitle = {
        "idle": "",
        "queued": "queued",
        "streaming": f"streaming · {reply.tokens} tok",
        "cancelling": "cancelling…",
        "cancelled": f"cancelled · {reply.tokens} tok",
        "error": "error",
    }.get(reply.state)
    if subtitle is None:  # done
        subtitle = f"{reply.tokens} tok{rate} · {END_REASONS.get(reply.reason, reply.reason)}"
    return subtitle


class ReplyPane(VerticalScroll):
    """A bordered, scrollable reply; the title names the model, the subtitle says how generation went."""

    def __init__(self, kind: str, title: str):
        super().__init__(id=f"pane-{kind}", classes="reply-pane")
        self.kind = kind
        self.border_title = title

    def compose(self) -> ComposeResult:
        yield Static("", id=f"reply-{self.kind}", classes="reply")

    def show_reply(self, reply: Reply) -> None:
        self.show(reply_body(reply), reply_subtitle(reply))

    def show(self, body: Text, subtitle: str) -> None:
        at_end = self.scroll_y >= self.max_scroll_y - 1
        self.query_one(Static).update(body)
        self.border_subtitle = subtitle
        if at_end:  # follow the text unless the user scrolled up to read
            self.call_after_refresh(self.scroll_end, animate=False)
