"""Template screen on a data.datasets config: each sample names its dataset and uses that dataset's template."""

from __future__ import annotations

import json
from functools import partial

import tui_helpers
from tui_helpers import text

from engine.config import Config
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=30.0)


async def test_the_preview_of_a_mix_names_each_rows_dataset_and_template(tiny_model_dir, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps({"instruction": f"Count {i}", "input": "", "output": f"{i}"}) + "\n" for i in range(30)))
    b.write_text("".join(json.dumps({"conversations": [{"from": "human", "value": f"Hi {i}"},
                                                       {"from": "gpt", "value": f"Hello {i}"}]}) + "\n" for i in range(30)))
    cfg = Config()
    cfg.model.name = str(tiny_model_dir)
    cfg.set("data.datasets", [{"path": str(a), "template": "alpaca", "weight": 1},
                              {"path": str(b), "template": "chatml", "weight": 1}])
    app = TuneDeckApp(AppState(config=cfg), start_screen="template")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        seen = set()
        for i in range(12):
            await until(pilot, lambda i=i: screen.sample is not None and screen.sample_index == i
                        and text(screen, "#tpl-sample"), what=f"sample {i}")
            head, body = text(screen, "#tpl-head"), text(screen, "#tpl-sample")
            if f"dataset 2, {b} · chatml" in head:
                assert "<|im_start|>user\nHi" in body
                seen.add(2)
            else:
                assert f"dataset 1, {a} · alpaca" in head and "### Instruction:" in body, head
                seen.add(1)
            await pilot.press("n")
        assert seen == {1, 2}
