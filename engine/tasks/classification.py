"""The text-classification task: a model sorts a text (or a text pair) into classes.

Its pieces live beside it: reading data and labels (:mod:`.cls_data`), the model (:mod:`.cls_model`),
training (:mod:`.cls_train`), scores (:mod:`.cls_metrics`), and classifying, evaluation and export
(:mod:`.cls_infer`); the command line's side is :mod:`tui.cls_cli`.
"""

from __future__ import annotations

from . import Task


class Classification(Task):
    name = "classification"
    model_class = "AutoModelForSequenceClassification"

    def load_examples(self, cfg):
        from .cls_data import load_examples

        d = cfg.data
        return load_examples(d.path, split=d.split, limit=d.limit, columns_map=d.columns, delimiter=d.delimiter)

    def features(self, rows, tokenizer, cfg):
        from .cls_data import LabelSpace
        from .cls_train import encode_rows

        return encode_rows(rows, tokenizer, cfg, LabelSpace.from_labels([r["label"] for r in rows]))[0]

    def collator(self, tokenizer):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def preview(self, row, tokenizer, cfg):
        from .cls_train import preview

        return preview(row, tokenizer, cfg)

    def predictions(self, rows, features, logits, cfg):
        """Per row: the predicted label id (or 0/1 vector for multi-label) and the probabilities."""
        from .cls_metrics import predict_ids, probabilities

        multi = bool(rows) and isinstance(rows[0]["label"], (list, tuple))
        probs = probabilities(logits, multi)
        return list(zip(predict_ids(probs, multi, cfg.cls.threshold).tolist(), probs.tolist(), strict=True))

    def metrics(self, predictions, rows, names=None):
        from .cls_data import LabelSpace
        from .cls_metrics import classification_scores

        labels = LabelSpace(names, "string") if names else LabelSpace.from_labels([r["label"] for r in rows])
        gold = [labels.encode(r["label"], r.get("dataset", "data"), r["row"]) for r in rows]
        return classification_scores(gold, [p for p, _ in predictions], labels.names, labels.multi)

    def prepare(self, cfg, emit):
        from .cls_train import prepare

        return prepare(cfg, emit)

    def fit(self, cfg, run_dir, resume_ckpt, emit, stop, save_now=None, prep=None):
        from .cls_train import fit

        return fit(cfg, run_dir, resume_ckpt, emit, stop, save_now, prep)
