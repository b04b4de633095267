"""The Data screen of classification data (tui/widgets/cls_data.py through qa_data's probe): the task line
names the label column and the classes, the row detail shows the row's label and a bar per class with the
engine's imbalance warning; on a causal-LM config it says classification fits."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import tui_helpers
from tui_helpers import text

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=60.0)
ROOT = Path(__file__).resolve().parents[2]


async def _probed(pilot, screen):
    await until(pilot, lambda: screen.page_rows and getattr(screen, "qa_probed", False), what="the data probed")
    await pilot.pause(0.1)


async def test_data_screen_names_the_label_column_and_shows_the_class_distribution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [{"review": f"it broke again, number {i}", "sentiment": "neg"} for i in range(12)]
    rows += [{"review": "lovely", "sentiment": "pos"}, {"review": "fine, I suppose", "sentiment": "pos"}]
    (tmp_path / "reviews.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_config(None, {"task": "classification", "data.path": "reviews.jsonl"})
    app = TuneDeckApp(AppState(config=cfg), start_screen="data")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await _probed(pilot, screen)
        assert screen.cls_probe is not None and screen.qa_probe is None
        info = text(app, "#data-info")
        assert info.startswith("task classification · text <- review · label <- sentiment · 2 classes · ⚠ imbalanced")
        assert "14 rows" in info
        detail = screen.query_one("#detail-text")

        def on_row_13() -> bool:  # (re)move the cursor until the detail follows: a loaded machine lays out late
            if screen.table.cursor_row != 12:
                screen.table.move_cursor(row=12)
            return "Row 13" in str(detail.render())
        await until(pilot, on_row_13, what="row 13's detail")
        body = str(detail.render())
        assert "lovely" in body and "sentiment: pos" in body and "classes over 14 rows" in body
        bars = {line.split()[0]: line.split()[1:5] for line in body.splitlines() if "%" in line and "⚠" not in line}
        assert bars == {"neg": ["id", "0", "12", "85.7%"], "pos": ["id", "1", "2", "14.3%"]}
        assert "⚠ classes are strongly imbalanced: 'neg' has 12 rows, 'pos' 2" in body


async def test_data_screen_says_classification_fits_on_a_causal_lm_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, {"data.path": str(ROOT / "sample_data" / "support_tickets.jsonl")})
    app = TuneDeckApp(AppState(config=cfg), start_screen="data")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await _probed(pilot, screen)
        assert text(app, "#data-info").startswith("classification fits this data (Config: task) · label <- label · 3 classes")
