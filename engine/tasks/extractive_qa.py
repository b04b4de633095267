"""The extractive-QA task: an encoder picks the answer's span out of a context.

Its pieces live beside it: reading data (:mod:`.qa_data`), windows and labels (:mod:`.qa_features`),
the model (:mod:`.qa_model`), training (:mod:`.qa_train`), decoding (:mod:`.qa_postprocess`),
EM/F1 (:mod:`.qa_metrics`), and evaluation, answering and export (:mod:`.qa_infer`).
"""

from __future__ import annotations

from . import Task


class ExtractiveQA(Task):
    name = "extractive_qa"
    model_class = "AutoModelForQuestionAnswering"

    def load_examples(self, cfg):
        from .qa_data import load_examples

        return load_examples(cfg.data.path, split=cfg.data.split, limit=cfg.data.limit, columns_map=cfg.data.columns)

    def features(self, rows, tokenizer, cfg):
        from .qa_features import encode_examples

        return encode_examples(rows, tokenizer, cfg.qa)

    def collator(self, tokenizer):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def preview(self, row, tokenizer, cfg):
        from .qa_features import preview_windows

        return preview_windows(row, tokenizer, cfg.qa)

    def predictions(self, rows, features, logits, cfg):
        from .qa_postprocess import postprocess

        start, end = logits
        with_null = any(not r["answers"]["text"] for r in rows)
        return postprocess(rows, features.example_index, features.offsets, start, end, n_best=cfg.qa.n_best,
                           max_answer_length=cfg.qa.max_answer_length, with_null=with_null,
                           null_threshold=cfg.qa.null_threshold)

    def metrics(self, predictions, rows):
        from .qa_metrics import squad_scores

        return squad_scores((p.text, r["answers"]["text"]) for p, r in zip(predictions, rows, strict=False))

    def prepare(self, cfg, emit):
        from .qa_train import prepare

        return prepare(cfg, emit)

    def fit(self, cfg, run_dir, resume_ckpt, emit, stop, save_now=None, prep=None):
        from .qa_train import fit

        return fit(cfg, run_dir, resume_ckpt, emit, stop, save_now, prep)
