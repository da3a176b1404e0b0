"""compression-eval: what prompt compression saves, and what it may change, on real prompts.

routing_dev.csv's MT-Bench (80) and GSM8K (1,319) prompts go through `compress` at each level, two
ways:

- prompt alone: the prompt as the only (and so the last) user turn, exactly as the benchmark asked it.
- pasted context: a conversation built around the prompt, because a single short prompt never has
  repeated or long pasted material to remove. CONSTRUCTION says how; its savings measure that
  construction, not real traffic.

No model is called, so quality itself is not measured; the checks are mechanical, and a flag says the
meaning may have changed, not that it did:
- number lost / negation lost: a sentence (or line) of the input carrying a number / a negation word
  (not, no, never, n't, without, …) is nowhere in the output, whitespace aside;
- code changed: the set of fenced code blocks and inline code spans differs;
- prompt edited: the last user turn no longer ends with the benchmark prompt's words, in order.
In the pasted context, aggressive trimming drops sentences of the pasted prompts by design: its lost
numbers and negations are context, and "prompt edited" is the check on the question itself.
Tokens are the router's estimate (4 characters a token); a tokenizer counts a run of spaces as about one
token, so whitespace savings here overstate.

Security tasks are never compressed: the caller (the rule and the wrappers) enforces that, not
`compress`, so nothing here exercises it.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from router.client.compression import LEVELS, code_blocks, compress, inline_code, without_markers
from router.domain.types import ChatMessage
from simulator.datasets import load_labelled_csv

SOURCES = ("mt_bench", "gsm8k")
VARIANTS = ("prompt alone", "pasted context")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
NEGATION = re.compile(r"\b(?:not|no|never|none|nor|neither|nobody|nothing|nowhere|cannot|without)\b|n't\b",
                      re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n")
SYSTEM = "You are a careful assistant. Answer the user's last question; use the material before it where it helps."
CONSTRUCTION = (
    "pasted context: a system message; a user turn opening with filler ('Hi! I hope you are doing well.'), "
    "then 6 other prompts of the same source (drawn with a fixed seed) as paragraphs, 3 blank lines and "
    "'Thank you in advance!'; a fixed assistant turn; then the last user turn: 'Please help me with the "
    "following.' and a sentence with a doubled space, 17 other prompts of the same source (the last 3 of "
    "the first turn's 6 among them, so repeated) and, last, the prompt itself.")
FLAGS = ("changed", "numbers_lost", "negations_lost", "code_changed", "question_changed", "meaning_flagged")
_ASSISTANT = "I have read the questions. Which one would you like me to answer?"


@dataclass(frozen=True)
class Cell:
    """One source, variant and level: token totals and the share of conversations with each flag."""

    source: str
    variant: str
    level: str
    conversations: int
    tokens_before: int
    tokens_after: int
    changed: float  # any message differs at all
    numbers_lost: float
    negations_lost: float
    code_changed: float
    question_changed: float
    meaning_flagged: float  # any of the four above

    @property
    def saving(self) -> float:
        return 1 - self.tokens_after / self.tokens_before if self.tokens_before else 0.0


@dataclass(frozen=True)
class CompressionReport:
    data: str
    construction: str
    cells: tuple[Cell, ...] = ()
    skipped: str = ""  # why nothing was measured (the data file is absent)

    def as_dict(self) -> dict:
        return {**asdict(self), "cells": [{**asdict(c), "saving": c.saving} for c in self.cells]}


def run_compression_eval(data_path: Path, json_path: Path | None = None) -> CompressionReport:
    """The measurement on `data_path` (routing_dev.csv's format), its JSON written to `json_path`. An
    absent data file gives a report that says it was skipped, and no JSON."""
    if not data_path.exists():
        return CompressionReport(str(data_path), CONSTRUCTION,
                                 skipped=f"{data_path} not found (../shared/data is not beside this checkout)")
    prompts = {source: [] for source in SOURCES}
    for row in load_labelled_csv(data_path):
        if row.source in prompts:
            prompts[row.source].append(row.prompt)
    report = CompressionReport(str(data_path), CONSTRUCTION, evaluate(prompts))
    if json_path is not None:
        from simulator.runs import write_json

        write_json(json_path, report.as_dict())
    return report


def evaluate(prompts: dict[str, list[str]], seed: int = 0) -> tuple[Cell, ...]:
    """Every source's prompts, each variant, each level."""
    cells = []
    for source, texts in prompts.items():
        rng = random.Random(f"{seed}/{source}")
        conversations = {"prompt alone": [(ChatMessage("user", t),) for t in texts],
                         "pasted context": [pasted_context(t, _others(texts, i, rng)) for i, t in enumerate(texts)]}
        for variant, chats in conversations.items():
            for level in LEVELS:
                cells.append(_cell(source, variant, level, chats, texts))
    return tuple(cells)


def pasted_context(prompt: str, others: Sequence[str]) -> tuple[ChatMessage, ...]:
    """The conversation CONSTRUCTION describes, around `prompt`, from up to 20 `others`."""
    first, last = list(others[:6]), list(others[3:20])
    return (
        ChatMessage("system", SYSTEM),
        ChatMessage("user", "Hi! I hope you are doing well. I am putting together a study guide from these.\n\n"
                    + "\n\n".join(first) + "\n\n\n\nThank you in advance!"),
        ChatMessage("assistant", _ASSISTANT),
        ChatMessage("user", "Please help me with the following. Here is the full list,  with my question last:\n\n"
                    + "\n\n".join(last + [prompt])),
    )


def _others(texts: list[str], i: int, rng: random.Random) -> list[str]:
    pool = texts[:i] + texts[i + 1 :]
    return rng.sample(pool, min(20, len(pool)))


def flags(before: Sequence[ChatMessage], after: Sequence[ChatMessage], prompt: str) -> dict[str, bool]:
    """The mechanical checks of one conversation compressed; `prompt`: what its last user turn ends with."""
    kept = " ".join(without_markers("\n".join(m.content for m in after)).split())
    text = "\n".join(m.content for m in before)
    sentences = [" ".join(s.split()) for s in _SENTENCE.split(text)]
    checks = {
        "numbers_lost": any(NUMBER.search(s) and s not in kept for s in sentences),
        "negations_lost": any(NEGATION.search(s) and s not in kept for s in sentences),
        "code_changed": _code(before) != _code(after),
        "question_changed": not " ".join(after[-1].content.split()).endswith(" ".join(prompt.split())),
    }
    return {"changed": tuple(after) != tuple(before), **checks, "meaning_flagged": any(checks.values())}


def _code(messages: Sequence[ChatMessage]) -> set[str]:
    return {part for m in messages for part in code_blocks(m.content) + inline_code(m.content)}


def _cell(source: str, variant: str, level: str, chats: list[tuple[ChatMessage, ...]], prompts: list[str]) -> Cell:
    before = after = 0
    raised: Counter[str] = Counter()
    for chat, prompt in zip(chats, prompts):
        compressed = compress(chat, level)
        before, after = before + compressed.tokens_before, after + compressed.tokens_after
        raised.update(name for name, up in flags(chat, compressed.messages, prompt).items() if up)
    shares = {name: raised[name] / len(chats) if chats else 0.0 for name in FLAGS}
    return Cell(source, variant, level, len(chats), before, after, **shares)


COLUMNS = [
    ("tokens_before", "tokens in", "d"),
    ("tokens_after", "tokens out", "d"),
    ("saving", "saved", ".1%"),
    ("changed", "changed", ".1%"),
    ("numbers_lost", "number lost", ".1%"),
    ("negations_lost", "negation lost", ".1%"),
    ("code_changed", "code changed", ".1%"),
    ("question_changed", "prompt edited", ".1%"),
    ("meaning_flagged", "any flag", ".1%"),
]


def print_compression_report(report: CompressionReport, json_path: Path | None = None) -> None:
    """The table, one row a source, variant and level, and how the pasted context is built."""
    from simulator.runs import print_table

    if report.skipped:
        print(f"compression-eval skipped: {report.skipped}")
        return
    rows = {f"{c.source} · {c.variant} · {c.level}": {**asdict(c), "saving": c.saving} for c in report.cells}
    print_table(f"compression-eval --data {report.data} (tokens: 4 characters a token)", rows, COLUMNS)
    print(f"\n{report.construction}\nA flag says the meaning may have changed, by a mechanical check "
          "(simulator/compression_eval.py says which); no model was called.")
    if json_path is not None:
        print(f"JSON: {json_path}")
