"""The Template screen of classification data (tui/widgets/cls_preview.py): each row's text as the trainer
tokenises it (the task's preview, truncation at cls.max_length included), its label's name and id, the
tokens with ``v``, and a bar per class over the data set with the rows cut at max_length."""

from __future__ import annotations

from functools import partial

import tui_helpers
from cls_fixtures import ROWS, cls_bert, cls_settings, tickets_path  # noqa: F401
from tui_helpers import text

from engine.config import load_config
from tui.app import TuneDeckApp
from tui.state import AppState

until = partial(tui_helpers.until, timeout=90.0)


async def test_cls_template_shows_the_text_as_trained_its_label_and_the_classes(cls_bert, tickets_path):
    from engine.tasks.cls_data import LabelSpace
    from engine.tasks.cls_model import load_cls_tokenizer
    from engine.tasks.cls_train import encode_rows

    cfg = load_config(None, {**cls_settings(cls_bert, tickets_path), "cls.max_length": 8})
    app = TuneDeckApp(AppState(config=cfg), start_screen="template")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert type(screen).__name__ == "ClsTemplateScreen"
        await until(pilot, lambda: screen.windows is not None and screen.stats is not None, what="the preview")
        # Row 1 as the trainer encodes it: the same ids, cut at cls.max_length.
        tok = load_cls_tokenizer(cfg.model)
        labels = LabelSpace.from_labels([lab for _, lab in ROWS])
        cols, truncated = encode_rows(screen.rows, tok, cfg, labels)
        view = screen.windows[0]
        assert tok.convert_tokens_to_ids(view["tokens"]) == cols["input_ids"][0] and len(view["tokens"]) == 8
        head = text(app, "#qat-head")
        assert head.startswith("Row 1/9 · label  bug  id 0 · 8 tokens · cut at cls.max_length 8:")
        assert view["text"] in text(app, "#qat-body") and "✂" in text(app, "#qat-body")
        # The class bars and the rows cut over the whole set.
        stats = text(app, "#qat-stats")
        assert f"9 rows · 3 classes · label <- label · {truncated} cut at cls.max_length 8" in stats
        bars = {line.split()[0]: line.split()[1:5] for line in stats.splitlines() if "%" in line and "⚠" not in line}
        assert bars == {"bug": ["id", "0", "4", "44.4%"], "question": ["id", "2", "3", "33.3%"],
                        "praise": ["id", "1", "2", "22.2%"]}
        assert "██" in stats
        # v: the tokens; n: the next row (its own label).
        await pilot.press("v")
        await until(pilot, lambda: "tokens, as the model sees them" in text(app, "#qat-body"), what="the tokens")
        assert " ".join(view["tokens"]) in text(app, "#qat-body")
        short = next(i for i, (t, _) in enumerate(ROWS) if len(tok(t)["input_ids"]) <= 8)
        for _ in range(short):
            await pilot.press("n")
        name = ROWS[short][1]
        want = f"Row {short + 1}/9 · label  {name}  id {labels.label2id[name]}"
        await until(pilot, lambda: text(app, "#qat-head").startswith(want), what="the short row")
        assert "(cls.max_length 8)" in text(app, "#qat-head") and "✂" not in text(app, "#qat-body")  # not cut
