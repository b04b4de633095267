"""Template screen through Textual's Pilot on the real app, with the tiny test tokenizer."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
import tui_helpers
from textual.widgets import Input
from tui_helpers import text

from engine.config import Config
from engine.data import load_dataset
from engine.model import load_tokenizer
from engine.tokenize import encode_row
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=30.0)

ROOT = Path(__file__).resolve().parents[2]
ALPACA = ROOT / "sample_data" / "tunedeck_alpaca.json"
SIZE = (100, 30)


def make_app(tiny_model_dir, path=ALPACA, **data) -> TuneDeckApp:
    cfg = Config()
    cfg.model.name = str(tiny_model_dir)
    cfg.data.path = str(path)
    for k, v in data.items():
        setattr(cfg.data, k, v)
    return TuneDeckApp(AppState(config=cfg), start_screen="template")


async def ready(pilot, screen, index: int | None = None):
    await until(pilot, lambda: screen.sample is not None and (index is None or screen.sample_index == index)
                and text(screen, "#tpl-sample"), what="sample")


async def test_switching_template_changes_the_preview(tiny_model_dir):
    app = make_app(tiny_model_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        body = text(screen, "#tpl-sample")
        assert "Below is an instruction" in body and "### Response:" in body  # auto -> alpaca
        head = text(screen, "#tpl-head")
        assert "Row 1/" in head and "alpaca (auto)" in head and "trained" in head

        screen.query_one("#tpl").value = "qa"
        await until(pilot, lambda: "### Question:" in text(screen, "#tpl-sample"), what="qa preview")
        assert "Below is an instruction" not in text(screen, "#tpl-sample")
        assert app.state.config.data.template == "qa"

        screen.query_one("#tpl").value = "chatml"
        await until(pilot, lambda: "<|im_start|>assistant" in text(screen, "#tpl-sample"), what="chatml preview")

        screen.query_one("#tpl").value = "alpaca"
        await until(pilot, lambda: "Below is an instruction" in text(screen, "#tpl-sample"), what="alpaca again")


async def test_preview_is_exactly_what_encode_row_gives(tiny_model_dir):
    app = make_app(tiny_model_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        cfg = app.state.config.data
        ds, info = load_dataset(cfg)
        tok = load_tokenizer(app.state.config.model)
        sample = encode_row(ds[0], info, cfg, tok)
        assert text(screen, "#tpl-sample") == sample.rendered.text
        spans = screen.query_one("#tpl-sample").content.spans
        assert any("green" in str(s.style) for s in spans) and any("dim" in str(s.style) for s in spans)
        prompt = len(sample.input_ids) - sample.num_trained
        assert f"prompt {prompt} + trained {sample.num_trained} = {len(sample.input_ids)}/512 tokens" in text(screen, "#tpl-head")


async def test_next_prev_random_goto(tiny_model_dir):
    app = make_app(tiny_model_dir)
    n = len(json.loads(ALPACA.read_text(encoding="utf-8")))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        first = text(screen, "#tpl-sample")
        await pilot.press("n")
        await ready(pilot, screen, 1)
        assert f"Row 2/{n}" in text(screen, "#tpl-head") and text(screen, "#tpl-sample") != first
        await pilot.press("right")
        await ready(pilot, screen, 2)
        await pilot.press("left", "p")
        await ready(pilot, screen, 0)
        assert text(screen, "#tpl-sample") == first
        await pilot.press("p")  # wraps to the last row
        await ready(pilot, screen, n - 1)
        assert f"Row {n}/{n}" in text(screen, "#tpl-head")
        await pilot.press("r")
        await until(pilot, lambda: screen.index != n - 1, what="random")
        await pilot.press("g", *"17", "enter")
        await ready(pilot, screen, 16)
        assert f"Row 17/{n}" in text(screen, "#tpl-head")


async def test_token_view_toggles(tiny_model_dir):
    app = make_app(tiny_model_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        await pilot.press("v")
        body = text(screen, "#tpl-sample")
        assert screen.show_tokens and "trained" in body and "beyond max_length" in body
        tokens = screen.sample.token_view(screen.tokenizer)
        assert len(tokens) == len(screen.sample.input_ids)
        spans = screen.query_one("#tpl-sample").content.spans
        assert sum("on green" in str(s.style) for s in spans) == screen.sample.num_trained + 1  # + the legend
        await pilot.press("v")
        assert not screen.show_tokens and text(screen, "#tpl-sample") == screen.sample.rendered.text


async def test_truncation_marker_and_dataset_counts(tiny_model_dir):
    app = make_app(tiny_model_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        await until(pilot, lambda: "0 of" in text(screen, "#tpl-stats"), what="stats")
        maxlen = screen.query_one("#tpl-maxlen")
        maxlen.focus()
        maxlen.value = ""
        await pilot.press(*"40")
        await until(pilot, lambda: screen.sample is not None and screen.sample.truncated, what="truncated sample")
        assert app.state.config.data.max_length == 40
        await until(pilot, lambda: "✂ truncated at 40 tokens" in text(screen, "#tpl-sample"), what="marker")
        assert "✂ truncated" in text(screen, "#tpl-head")
        spans = screen.query_one("#tpl-sample").content.spans
        assert any("strike" in str(s.style) for s in spans)
        # with 40 tokens the answer is cut off entirely: nothing to train
        assert "no trained tokens" in text(screen, "#tpl-head")
        await until(pilot, lambda: "samples truncated" in text(screen, "#tpl-stats")
                    and not text(screen, "#tpl-stats").startswith("0 of"), what="dataset counts")
        stats = text(screen, "#tpl-stats")
        assert "with no trained tokens" in stats and not stats.startswith("0 of")

        maxlen.value = "0"
        await pilot.pause(0.2)
        assert "data.max_length: must be > 0, got 0" in text(screen, "#tpl-valid")  # the config's own rule
        assert app.state.config.data.max_length == 40 and "data.max_length" in app.state.invalid


async def test_custom_template_validation(tiny_model_dir):
    app = make_app(tiny_model_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        screen.query_one("#tpl").value = "custom"
        await pilot.pause()
        area = screen.query_one("#tpl-custom")
        assert not area.has_class("hidden") and area.has_focus
        area.text = "Q: {instruction}\nContext: {nope}\nA: "
        await until(pilot, lambda: "{nope}" in text(screen, "#tpl-valid"), what="validation message")
        assert "not in the data" in text(screen, "#tpl-valid") and "instruction" in text(screen, "#tpl-valid")
        assert "data.template" in app.state.invalid
        area.text = "Q: {instruction}\nA: "
        await until(pilot, lambda: "Q: " in text(screen, "#tpl-sample"), what="custom preview")
        assert "✓ fields: {instruction}" in text(screen, "#tpl-valid")
        assert app.state.config.data.template == "Q: {instruction}\nA: " and "data.template" not in app.state.invalid
        await pilot.press(*"x")  # typing goes to the template, not to the screen's keys
        assert area.text.endswith("x") or area.text.startswith("x")


async def test_train_on_prompt_and_missing_model(tiny_model_dir, tmp_path):
    app = make_app(tiny_model_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        before = screen.sample.num_trained
        await pilot.press("t")
        await until(pilot, lambda: screen.sample is not None and screen.sample.num_trained > before, what="train on prompt")
        assert app.state.config.data.train_on_prompt is True

    cfg = Config()
    cfg.model.name = str(tmp_path / "no-such-model")
    cfg.data.path = str(ALPACA)
    app = TuneDeckApp(AppState(config=cfg), start_screen="template")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until(pilot, lambda: "⚠" in text(screen, "#tpl-head"), what="model error")
        assert "\n" not in text(screen, "#tpl-head") and app.is_running


@pytest.mark.parametrize("name", ["dummy_conversation.json", "squad_v2_small.json"])
async def test_real_datasets_preview(tiny_model_dir, shared_datasets, name):
    app = make_app(tiny_model_dir, shared_datasets / name)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        body = text(screen, "#tpl-sample")
        assert ("<|im_start|>" in body) if name.startswith("dummy") else ("### Question:" in body)
        await until(pilot, lambda: "samples truncated" in text(screen, "#tpl-stats"), what="stats")


async def test_edit_starts_from_the_data_columns_and_esc_restores_the_template(tiny_model_dir, shared_datasets):
    """Issue 13: `e` on question/answer data starts a template that renders it; Esc puts chatml back."""
    app = make_app(tiny_model_dir, shared_datasets / "lamini_docs_raw.jsonl", template="chatml")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        await pilot.press("e")
        area = screen.query_one("#tpl-custom")
        assert area.has_focus and area.text == "### Question:\n{question}\n\n### Answer:\n"
        await until(pilot, lambda: "✓ fields: {question}" in text(screen, "#tpl-valid"), what="the starter checked")
        assert "data.template" not in app.state.invalid
        await pilot.press(*"Hi ")
        assert app.state.config.data.template.startswith("Hi ")
        await pilot.press("escape")
        await pilot.pause()
        assert app.state.config.data.template == "chatml" and screen.query_one("#tpl").value == "chatml"
        assert area.has_class("hidden") and not app.state.invalid
        await until(pilot, lambda: "<|im_start|>" in text(screen, "#tpl-sample"), what="the chatml preview")
        # Tab keeps an edit.
        await pilot.press("e")
        await pilot.press(*"Q ", "tab")
        await pilot.pause()
        assert app.state.config.data.template.startswith("Q ")
        await pilot.press("escape")  # not in the editor any more: nothing to cancel
        assert app.state.config.data.template.startswith("Q ")


async def test_edit_on_chat_data_says_why_and_keeps_the_template(tiny_model_dir, shared_datasets):
    app = make_app(tiny_model_dir, shared_datasets / "dummy_conversation.json", template="chatml")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        await pilot.press("e")
        await pilot.pause()
        assert app.state.config.data.template == "chatml" and screen.query_one("#tpl").value == "chatml"
        assert screen.query_one("#tpl-custom").has_class("hidden") and not app.state.invalid
        assert any("this data is sharegpt; use template chatml or tokenizer" in n.message for n in app._notifications)


async def test_max_length_from_this_screen_runs_the_rules_between_fields(tiny_model_dir):
    """One writer: data.max_length typed here goes through app.state.set_field, so the cross-field rule
    (training.max_tokens_per_batch >= data.max_length) is checked, as on the Config screen and the CLI."""
    app = make_app(tiny_model_dir)
    app.state.config.training.max_tokens_per_batch = 600
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ready(pilot, screen)
        assert not app.state.invalid and not app.state.dirty
        screen.query_one("#tpl-maxlen", Input).value = "800"
        await until(pilot, lambda: "training.max_tokens_per_batch" in app.state.invalid, what="cross-field error")
        assert app.state.config.data.max_length == 800 and app.state.dirty  # stored: the rule names the other field
        assert "must be >= data.max_length (800)" in app.state.invalid["training.max_tokens_per_batch"]
        assert "training.max_tokens_per_batch" in text(screen, "#tpl-valid")
        assert "training.max_tokens_per_batch" in (app.config_problem() or "")  # Start stays off
        screen.query_one("#tpl-maxlen", Input).value = "500"
        await until(pilot, lambda: not app.state.invalid, what="rule satisfied again")
        assert app.state.config.data.max_length == 500
