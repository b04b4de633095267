"""Write sample_data/tunedeck_squad.json: a SQuAD 2.0 set about TuneDeck, deterministically.

    .venv/bin/python scripts/make_squad_sample.py          # rewrites sample_data/tunedeck_squad.json

Paragraphs come from the config's own field help and defaults (``engine.config``), the app's keys and
commands; each answerable question's answer is a span of its paragraph (``answer_start`` checked), and
each paragraph also gets questions about settings that it does not mention (SQuAD 2.0 unanswerables).
Every question is asked in two phrasings, so a question held out for validation is learnt from the
other phrasing and from its neighbours' (what a help desk's FAQ looks like).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import ALL_SECTIONS, field_specs  # noqa: E402

OUT = ROOT / "sample_data" / "tunedeck_squad.json"

KEYS = [  # (screen, key, action)
    ("Template", "v", "open the token view"), ("Template", "r", "show a random sample"),
    ("Template", "t", "toggle train-on-prompt"), ("Template", "e", "edit a custom template"),
    ("Data", "m", "map columns to roles"), ("Data", "g", "go to a row"), ("Data", "b", "browse folders"),
    ("Config", "F12", "copy the equivalent tunedeck train command"), ("Config", "F8", "apply the QLoRA 4-bit preset"),
    ("Train", "s", "start training"), ("Train", "x", "stop training and save a checkpoint"),
    ("Train", "k", "save a checkpoint now"), ("Train", "c", "switch the second chart between learning rate and tokens/s"),
    ("Runs", "d", "delete a run after asking"), ("Runs", "c", "compare the marked runs"),
    ("Runs", "r", "resume a stopped run"), ("Evaluate", "w", "sort the samples worst first"),
    ("Playground", "F9", "switch to greedy decoding"), ("Export", "Ctrl+Y", "copy the code that loads the model"),
]

COMMANDS = [  # (command, what it does)
    ("tunedeck train --config FILE", "trains headless with a progress bar"),
    ("tunedeck train --resume RUN", "continues a stopped run from its last complete checkpoint"),
    ("tunedeck attach", "opens a live view of a run that another process is training"),
    ("tunedeck data FILE", "shows the detected format, columns and row count of a data file"),
    ("tunedeck init FILE", "writes a config with every default"),
    ("tunedeck runs", "lists past runs with their status and losses"),
    ("tunedeck eval RUN", "scores a run on its validation split and saves eval.json"),
    ("tunedeck export RUN --merged OUT", "saves a merged transformers model folder"),
    ("tunedeck models pull minilm-l6-v2", "downloads the MiniLM encoder for question answering"),
]


def _default_text(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or value == "" or isinstance(value, (dict, list)):
        return None
    return str(value)


def paragraphs() -> list[tuple[str, list[tuple[str, str | None]]]]:
    """(context, [(question, (answer, its sentence, the words just before it) or None)]) in a fixed order."""
    out = []
    specs = list(field_specs(ALL_SECTIONS))
    by_section: dict[str, list] = {}
    for s in specs:
        by_section.setdefault(s.path.split(".")[0], []).append(s)
    for section, items in by_section.items():
        for part in range(0, len(items), 3):  # paragraphs of at most three settings
            chunk = items[part:part + 3]
            sentences, qas = [], []
            for s in chunk:
                help_text = s.help.rstrip(".")
                default = _default_text(s.default)
                sentence = f"The setting {s.path} controls this: {help_text}."
                if default is not None:
                    sentence += f" Its default value is {default}."
                sentences.append(sentence)
                qas.append((f"What does the setting {s.path} control?", (help_text, sentence, "this: ")))
                qas.append((f"What is {s.path} for?", (help_text, sentence, "this: ")))
                qas.append((f"Which setting controls this: {help_text.lower()}?", (s.path, sentence, "setting ")))
                qas.append((f"What is the name of the setting for this: {help_text.lower()}?", (s.path, sentence, "setting ")))
                if default is not None:
                    qas.append((f"What is the default value of {s.path}?", (default, sentence, "value is ")))
                    qas.append((f"What is {s.path} set to by default?", (default, sentence, "value is ")))
            others = [o for o in specs if o not in chunk]
            for o in random.Random(section + str(part)).sample(others, 2):
                qas.append((f"What is the default value of {o.path}?", None))
                qas.append((f"What is {o.path} for?", None))
            out.append((" ".join(sentences), qas))
    screens = sorted({k[0] for k in KEYS})
    for screen in screens:
        rows = [k for k in KEYS if k[0] == screen]
        sentences = [f"On the {screen} screen, press {key} to {action}." for _, key, action in rows]
        qas = []
        for _, key, action in rows:
            sentence = f"On the {screen} screen, press {key} to {action}."
            qas.append((f"Which key do you press on the {screen} screen to {action}?", (key, sentence, "press ")))
            qas.append((f"On the {screen} screen, which key lets you {action}?", (key, sentence, "press ")))
            qas.append((f"What does the key {key} do on the {screen} screen?", (action, sentence, f"press {key} to ")))
            qas.append((f"What happens when you press {key} on the {screen} screen?", (action, sentence, f"press {key} to ")))
        others = [k for k in KEYS if k[0] != screen]
        for _, key, action in random.Random(screen).sample(others, 2):
            qas.append((f"Which key do you press on the {screen} screen to {action}?", None))
            qas.append((f"On the {screen} screen, which key lets you {action}?", None))
        out.append((" ".join(sentences), qas))
    for part in range(0, len(COMMANDS), 3):
        chunk = COMMANDS[part:part + 3]
        context = " ".join(f"The command {cmd} {what}." for cmd, what in chunk)
        qas = [(f"Which command {what}?", (cmd, f"The command {cmd} {what}.", "command ")) for cmd, what in chunk]
        qas += [(f"What command do you run if it {what}?", (cmd, f"The command {cmd} {what}.", "command "))
                for cmd, what in chunk]
        qas += [(f"What does the command {cmd} do?", (what, f"The command {cmd} {what}.", f"{cmd} ")) for cmd, what in chunk]
        qas += [(f"What is {cmd} for?", (what, f"The command {cmd} {what}.", f"{cmd} ")) for cmd, what in chunk]
        others = [c for c in COMMANDS if c not in chunk]
        qas += [(f"Which command {what}?", None) for _, what in random.Random(part).sample(others, 2)]
        qas += [(f"What is {cmd} for?", None) for cmd, _ in random.Random(part + 1).sample(others, 2)]
        out.append((context, qas))
    return out


def build() -> dict:
    data, n = [], 0
    for i, (context, qas) in enumerate(paragraphs()):
        items = []
        for question, answer in qas:
            n += 1
            qid = f"tunedeck-{n:04d}"
            if answer is None:
                items.append({"id": qid, "question": question, "answers": [], "is_impossible": True})
                continue
            answer, sentence, before = answer  # the answer follows ``before`` in its own sentence
            start = context.index(sentence) + sentence.index(before + answer) + len(before)
            assert start >= 0 and context[start:start + len(answer)] == answer, (question, answer)
            items.append({"id": qid, "question": question, "answers": [{"text": answer, "answer_start": start}],
                          "is_impossible": False})
        data.append({"title": f"TuneDeck {i + 1}", "paragraphs": [{"context": context, "qas": items}]})
    return {"version": "v2.0", "data": data}


def main() -> None:
    squad = build()
    OUT.write_text(json.dumps(squad, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    qs = [q for a in squad["data"] for p in a["paragraphs"] for q in p["qas"]]
    print(f"wrote {OUT}: {len(qs)} questions, {sum(q['is_impossible'] for q in qs)} unanswerable")


if __name__ == "__main__":
    main()
