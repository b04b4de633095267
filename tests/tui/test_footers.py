"""Footers at 80 and 100 columns (issue 13): every screen's keys fit (nothing cut off the right edge),
Template shows t and e, Data shows n, and what a footer leaves out is in the command palette."""

from __future__ import annotations

import pytest
from run_fixtures import make_run
from textual.widgets import Footer
from textual.widgets._footer import FooterKey
from tui_helpers import until

from engine.config import load_config
from tui.app import SCREENS, TuneDeckApp
from tui.screens.run_view import RunScreen
from tui.state import AppState

MUST_SHOW = {"data": {"slash", "n", "g", "m", "o", "b"}, "template": {"n", "p", "r", "g", "v", "t", "e"},
             "runs": {"space", "c", "d", "r", "e", "E", "p"}, "train": {"s", "x", "k"}}


def footer_fits(screen) -> tuple[bool, set[str]]:
    footer = screen.query_one(Footer)
    keys = list(footer.query(FooterKey))
    used = max((k.region.right for k in keys), default=0) - footer.region.x
    return footer.virtual_size.width <= footer.size.width and used <= footer.size.width, {k.key for k in keys}


@pytest.mark.parametrize("width", [80, 100])
async def test_every_footer_fits_and_shows_its_keys(tmp_path, width):
    make_run(tmp_path / "runs", "20251124-090000-base", "finished")
    cfg = load_config(None, {"data.path": "sample_data/tunedeck_qa.jsonl", "output.runs_dir": str(tmp_path / "runs")})
    app = TuneDeckApp(AppState(config=cfg), start_screen="data")
    async with app.run_test(size=(width, 24)) as pilot:
        for name in SCREENS:
            await app.switch_mode(name)
            await until(pilot, lambda: app.screen.query_one(Footer).query(FooterKey), what=f"{name}'s footer")
            # A screen's footer can be recomposed once its data has loaded (a loaded machine draws it late):
            # wait for the keys it must show, then check that it all fits.
            await until(pilot, lambda name=name: MUST_SHOW.get(name, set()) <= footer_fits(app.screen)[1],
                        what=f"{name}'s footer keys {sorted(MUST_SHOW.get(name, set()))}")
            await pilot.pause(0.2)
            fits, shown = footer_fits(app.screen)
            assert fits, (name, shown)
            assert MUST_SHOW.get(name, set()) <= shown, (name, shown)
        app.push_screen(RunScreen(tmp_path / "runs" / "20251124-090000-base"))
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and any(f.query(FooterKey) for f in app.screen.query(Footer)),
                    what="the run view's footer")
        await pilot.pause(0.3)
        fits, shown = footer_fits(app.screen)
        assert fits and {"e", "E", "p", "escape"} <= shown, shown  # (x, k, r: only where they apply)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Quit", "Keys"} <= titles  # Ctrl+Q and every screen's full key list, from the palette
