"""`tunedeck serve` (tui/serve.py): the app in a real browser, Debian's headless Chromium.

Chromium is driven over the DevTools protocol (aiohttp, which textual-serve
brings): the page's canvas renderers are refused a context before its scripts
run, so xterm.js draws the terminal with its DOM renderer, and the test reads
the terminal's rows (`.xterm-rows`) until the app's screen bar is there.
Skipped, with the reason, when chromium or textual-serve is missing
(`apt-get install -y chromium`; `pip install 'tunedeck[serve]'`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.serve import notice

ROOT = Path(__file__).resolve().parents[1]
# Before the page's own scripts: no WebGL or 2D canvas, so xterm.js falls back to rendering rows as DOM.
NO_CANVAS = "HTMLCanvasElement.prototype.getContext = function () { return null; };"
ROWS = "(document.querySelector('.xterm-rows') || {innerText: ''}).innerText"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def _wait_http(url: str, proc, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"tunedeck serve exited: {proc.stdout.read()}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout:.0f}s")


async def _rendered_rows(chromium: str, url: str, profile: Path, want: str, timeout: float = 30.0) -> str:
    import aiohttp

    browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
                                f"--user-data-dir={profile}", "--window-size=1280,800", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        devtools = None
        for line in browser.stderr:
            m = re.search(r"DevTools listening on ws://[^/]+:(\d+)/", line)
            if m:
                devtools = int(m.group(1))
                break
        assert devtools, "chromium did not open its DevTools port"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{devtools}/json/list") as r:
                page = next(t for t in await r.json() if t["type"] == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                ids = iter(range(1, 10**6))

                async def call(method: str, **params):
                    mid = next(ids)
                    await ws.send_str(json.dumps({"id": mid, "method": method, "params": params}))
                    async for msg in ws:
                        data = json.loads(msg.data)
                        if data.get("id") == mid:
                            return data.get("result", {})

                await call("Page.enable")
                await call("Page.addScriptToEvaluateOnNewDocument", source=NO_CANVAS)
                await call("Page.navigate", url=url)
                deadline = time.monotonic() + timeout
                text = ""
                while time.monotonic() < deadline:
                    result = await call("Runtime.evaluate", expression=ROWS, returnByValue=True)
                    text = result.get("result", {}).get("value") or ""
                    if want in text:
                        return text
                    await asyncio.sleep(0.5)
                return text
    finally:
        browser.kill()
        browser.wait()


def test_the_served_app_renders_in_chromium(tmp_path):
    pytest.importorskip("textual_serve", reason="textual-serve is not installed: pip install 'tunedeck[serve]'")
    pytest.importorskip("aiohttp", reason="aiohttp (textual-serve's web server) is not installed")
    chromium = _chromium()
    port = _free_port()
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    server = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "--port", str(port), "--config",
                               str(ROOT / "sample_data" / "quickstart.yaml"), "--screen", "config"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/", server)
        rows = asyncio.run(_rendered_rows(chromium, f"http://127.0.0.1:{port}/", tmp_path / "profile", "3 Config"))
    finally:
        server.terminate()
        try:
            out, _ = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate()
    assert "1 Data" in rows and "2 Template" in rows and "3 Config" in rows, rows[:2000]
    assert "Serving TuneDeck at http://localhost:" in out and f"ssh -L {port}:localhost:{port}" in out


def test_a_non_local_address_is_said_plainly():
    lines = notice("0.0.0.0", 8000)
    assert any("anyone who can reach this address can drive it" in line and "no login" in line for line in lines)
    assert any("ssh -L 8000:localhost:8000 HOST" in line for line in lines)
    assert not any(line.startswith("warning:") for line in notice("127.0.0.1", 8000))


def test_serve_without_textual_serve_names_the_pip_command(monkeypatch, capsys):
    from tui.cli import main

    monkeypatch.setitem(sys.modules, "textual_serve", None)  # import fails as when it is not installed
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'tunedeck[serve]'" in err
