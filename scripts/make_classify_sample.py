"""Write sample_data/support_tickets.jsonl: short support messages in three classes (bug, question, praise),
imbalanced 3:2:1, for the classification quickstart. Seeded, so the file is the same on every run.

    python scripts/make_classify_sample.py            # 360 rows
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

FEATURES = ["the Train screen", "the Playground", "the export", "checkpoint saving", "the data preview",
            "the run list", "the config form", "resume", "the template editor", "the loss chart", "evaluation",
            "the progress bar", "the merged model", "the CSV import", "the model download"]

BUG = ["{f} crashes when I press {k}", "{f} freezes after a few minutes", "I get a traceback from {f}",
       "{f} shows the wrong numbers since the update", "{f} hangs and never finishes", "{f} is broken on my laptop",
       "nothing happens when I open {f}, it just stays blank", "{f} throws an error: {err}",
       "since yesterday {f} fails with {err}", "{f} lost my settings again", "{f} corrupts the file it writes",
       "the app exits without a message when I use {f}", "{f} stopped working after I upgraded",
       "{f} keeps spinning at 100% CPU", "clicking {f} makes the whole window flicker and die",
       "thanks for the update, but {f} now crashes on start", "I love this tool, sadly {f} fails with {err}",
       "how come {f} throws {err} every time?"]
QUESTION = ["how do I change the learning rate in {f}?", "is there a way to use my own data with {f}?",
            "where does {f} keep its files?", "can {f} run on a machine without a GPU?",
            "what does the warning in {f} mean?", "which key opens {f}?", "does {f} support CSV with semicolons?",
            "could you explain how {f} picks the batch size?", "what is the best setting for {f} on a small laptop?",
            "how long should {f} take for a few hundred rows?", "is it possible to resume {f} from a checkpoint?",
            "why would I choose LoRA over full training in {f}?", "what format does {f} expect?",
            "great tool! one question: how do I reset {f}?", "{f} works well, but can it also read Parquet?",
            "no error, I just want to know: where is {f} in the menu?"]
PRAISE = ["{f} is fantastic, thank you!", "I love how fast {f} is now", "great work on {f}, it just works",
          "{f} saved me hours this week, thanks", "really impressed with {f}", "{f} is so clear and easy, well done",
          "thanks for {f}, my whole team enjoys it", "the new {f} looks beautiful", "{f} is exactly what I needed, cheers",
          "kudos for {f}, best tool I have tried", "no more crashes in {f} since the fix, thank you",
          "I had questions about {f} but the docs answered all of them, great job"]
KEYS = ["s", "Enter", "Ctrl+S", "the arrow keys", "Tab", "q"]
ERRORS = ["KeyError", "out of memory", "permission denied", "a NaN loss", "file not found", "a timeout"]
OPENERS = ["", "", "", "hi, ", "hello team, ", "quick note: ", "hey, ", "good morning, "]
CLOSERS = ["", "", "", " please help", " any idea?", " thanks in advance", " (version 0.1)", " on Ubuntu"]

COUNTS = {"bug": 180, "question": 120, "praise": 60}


def rows(seed: int = 16) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for label, n in COUNTS.items():
        pool = {"bug": BUG, "question": QUESTION, "praise": PRAISE}[label]
        for _ in range(n):
            text = rng.choice(pool).format(f=rng.choice(FEATURES), k=rng.choice(KEYS), err=rng.choice(ERRORS))
            text = rng.choice(OPENERS) + text + rng.choice(CLOSERS)
            out.append({"text": text[0].upper() + text[1:], "label": label})
    rng.shuffle(out)
    return out


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else Path(__file__).resolve().parent.parent / "sample_data" / "support_tickets.jsonl")
    with out.open("w", encoding="utf-8") as f:
        for r in rows():
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {sum(COUNTS.values())} rows to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
