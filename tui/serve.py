"""``tunedeck serve``: the same app in a web browser, through textual-serve (``pip install 'tunedeck[serve]'``).

Each browser tab gets its own ``tunedeck ui`` process, drawn by xterm.js.
There is no login: it binds to 127.0.0.1 by default, and says so plainly when
asked to listen on an address others can reach. To use it from another
machine, forward the port over SSH (``ssh -L 8000:localhost:8000 HOST``).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from engine.errors import TuneDeckError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
INSTALL = "pip install 'tunedeck[serve]'"


def add_parser(sub, overrides: argparse.ArgumentParser, screens) -> None:
    p = sub.add_parser("serve", parents=[overrides], help="serve the app to a web browser (textual-serve; no login)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--public-url", metavar="URL", help="the URL browsers use to reach it, when not http://HOST:PORT")
    p.add_argument("--screen", choices=screens, default=screens[0])
    p.set_defaults(func=cmd_serve)


def ui_command(args, overrides: list[str]) -> str:
    """The ``tunedeck ui`` command line each browser session runs."""
    argv = [sys.executable, "-m", "tui.cli", "ui", "--screen", args.screen]
    if args.config:
        argv += ["--config", args.config]
    if args.run_dir:
        argv += ["--run-dir", args.run_dir]
    for item in overrides:
        argv += ["--set", item]
    return " ".join(shlex.quote(a) for a in argv)


def notice(host: str, port: int) -> list[str]:
    """What ``tunedeck serve`` says before it serves: where, and who can drive it."""
    url = f"http://{'localhost' if host in LOCAL_HOSTS else host}:{port}"
    forward = f"ssh -L {port}:localhost:{port} HOST"
    if host in LOCAL_HOSTS:
        return [f"Serving TuneDeck at {url} (this machine only; Ctrl+C stops).",
                f"From another machine, forward the port over SSH: {forward}, then open http://localhost:{port}"]
    return [f"warning: serving TuneDeck on {host}:{port}: anyone who can reach this address can drive it (start and "
            "delete runs, read your data); there is no login.",
            f"warning: prefer the default --host 127.0.0.1 with SSH port forwarding: {forward}",
            f"Serving at {url} (Ctrl+C stops)."]


def cmd_serve(args) -> int:
    from .cli import overrides_from

    try:
        from textual_serve.server import Server
    except ImportError:
        raise TuneDeckError(f"tunedeck serve needs textual-serve, which is not installed: {INSTALL}") from None
    if not 0 < args.port < 65536:
        raise TuneDeckError(f"--port: {args.port} is not a port; use 1-65535 (default 8000)")
    from engine.config import load_config

    overrides = overrides_from(args)
    load_config(args.config, overrides)  # a bad config is one line here, not in every browser tab
    for line in notice(args.host, args.port):
        print(line, file=sys.stderr if line.startswith("warning:") else sys.stdout, flush=True)
    server = Server(ui_command(args, overrides), host=args.host, port=args.port, title="TuneDeck",
                    public_url=args.public_url)
    server.serve()
    return 0
