"""Synthetic traffic: prompts a backend would send, each with its hidden category and difficulty.

Every prompt comes from a request *family* (one underlying ask, phrased in a few interchangeable
ways) whose slots are filled with languages, frameworks, entities, numbers and pasted material.
The text alone carries the signal, as in production: no prompt names its category. Difficulty is
drawn per category and then shows, noisily, in the text: it leans the choice towards harder
families, appends more requirement clauses and lengthens pasted code and prose. About a third of the
security prompts are implicit: security-sensitive work asked for as an ordinary feature (a login, an
upload, a redirect) with no security word, marked by `style` so reports can count them apart.

A share of the stream revisits earlier topics with Zipf-like popularity, either as an exact repeat
or as a paraphrase that keeps the same slot values, so a semantic cache has something to find.

This module is the generator; its data lives beside it: the families of each category in
`security.py`, `engineering.py` and `everyday.py` (indexed by `families.py`), the word banks in
`words.py`, pasted code and prose in `snippets.py` and `passages.py`, and the system prompts in
`systems.py`. `slots.py` fills a topic's slots from them.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from router.domain.categories import CATEGORIES, DEFAULT_OUTPUT_TOKENS, SECURITY_CRITICAL
from router.domain.tokens import CHARS_PER_TOKEN
from simulator.traffic.engineering import STANDARD
from simulator.traffic.families import AMBIGUOUS_BY_CATEGORY, PROFILES
from simulator.traffic.family import Family
from simulator.traffic.security import IMPLICIT_SECURITY
from simulator.traffic.slots import Slots
from simulator.traffic.systems import SYSTEM_PROMPTS
from simulator.traffic.words import CLAUSE_HEADER, PREFIXES, SUFFIXES

# About one prompt in ten sits between two categories, its true category being one of them.
AMBIGUOUS_SHARE = 0.10
# Among the security prompts that are not ambiguous, the share asked for as an ordinary feature, with
# no word that names the risk. Half of the ambiguous security families read that way too, so about a
# third of all security prompts are implicit: the ones a keyword-minded safety floor lets through.
IMPLICIT_SECURITY_SHARE = 0.3
# Among revisits of an earlier topic, the share that is a byte-for-byte repeat (the rest paraphrase).
EXACT_REPEAT_SHARE = 0.5
# Pareto shape of topic popularity: near 1, a handful of topics draws most revisits, as FAQs do.
POPULARITY_SHAPE = 1.1
# How sharply a prompt's difficulty selects families whose typical level is close to it; the
# floor keeps every family possible at every difficulty, so the text is a hint, not a label.
LEVEL_WIDTH = 0.25
LEVEL_FLOOR = 0.05
# Answer length: lognormal around the category's typical length, longer for harder prompts.
OUTPUT_SIGMA = 0.4
# Below every registered model's max_output_tokens, so any model can take any prompt.
MAX_OUTPUT_TOKENS = 8000
# Most callers send the bare request; a paraphrase is more often reworded with a greeting or thanks.
NEW_POLITE_SHARE = 0.3
PARAPHRASE_POLITE_SHARE = 0.6
# distinct_prompts draws at most this many prompts per one it must return.
DRAWS_PER_DISTINCT = 20


@dataclass(frozen=True)
class SyntheticPrompt:
    """One request as a backend would send it, with the ground truth the router must not see."""

    index: int  # position in the stream
    topic_id: int  # shared by repeats and paraphrases of the same underlying question
    system: str  # system prompt, "" for none
    text: str  # the user message
    category: str  # true category (hidden from the router)
    difficulty: float  # hidden, in [0, 1]
    input_tokens: int
    output_tokens: int  # the answer's length, drawn per category
    kind: str  # "new", "repeat" (an exact copy) or "paraphrase" (same topic, reworded)
    # For a security prompt, "explicit" (it names the risk) or "implicit" (security work worded as an
    # ordinary feature); "" for the other categories. Reports count the floor's misses per style.
    style: str = ""


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------

_ALTERNATION = re.compile(r"\[([^\[\]]*\|[^\[\]]*)\]")


def _fill(template: str, slots: Slots) -> str:
    chosen = _ALTERNATION.sub(lambda m: slots.rng.choice(m.group(1).split("|")), template)
    return chosen.format_map(slots)


def _attach_clauses(body: str, clauses: list[str], header: str) -> str:
    """Few requirements read as trailing sentences; many read as a list, as in a written spec."""
    if not clauses:
        return body
    if len(clauses) <= 2:
        return body + ("\n\n" if "\n" in body else " ") + " ".join(clauses)
    return body + "\n\n" + header + "\n" + "\n".join("- " + c for c in clauses)


@dataclass
class _Topic:
    """One underlying question and everything needed to ask it again in other words."""

    topic_id: int
    category: str
    difficulty: float
    family: Family
    slots: Slots
    clauses: tuple[str, ...]
    system: str
    output_tokens: int
    text: str = ""


def _render(topic: _Topic, variant: int, clause_order: list[int], polite: bool, rng: random.Random) -> str:
    slots = topic.slots
    body = _fill(topic.family.variants[variant], slots)
    clauses = [_fill(topic.clauses[i], slots) for i in clause_order]
    text = _attach_clauses(body, clauses, _fill(CLAUSE_HEADER, slots))
    if polite and topic.category != "chat":  # small talk carries its own greetings
        text = _wrap(text, rng)
    return text


def _wrap(text: str, rng: random.Random) -> str:
    prefix, suffix = rng.choice(PREFIXES), rng.choice(SUFFIXES)
    if suffix:
        text += ("\n\n" if "\n" in text else " ") + suffix
    return prefix + text


# ---------------------------------------------------------------------------------------------
# The stream
# ---------------------------------------------------------------------------------------------


class TrafficGenerator:
    """Deterministic synthetic traffic: `stream(n)` yields the same prompts for the same seed."""

    def __init__(self, seed: int, category_weights: dict[str, float] | None = None, repeat_share: float = 0.2):
        if not 0 <= repeat_share < 1:
            raise ValueError("repeat_share must be in [0, 1)")
        weights = category_weights if category_weights is not None else {c: p.weight for c, p in PROFILES.items()}
        unknown = sorted(set(weights) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories in category_weights: {unknown}")
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError("category_weights must be non-negative and not all zero")
        self.seed = seed
        self.repeat_share = repeat_share
        self.category_weights = {c: float(weights.get(c, 0.0)) for c in CATEGORIES}

    def stream(self, n: int) -> Iterator[SyntheticPrompt]:
        if n < 0:
            raise ValueError("n must be >= 0")
        state = _StreamState(self)
        for index in range(n):
            yield state.next_prompt(index)


def distinct_prompts(n: int, seed: int, max_input_tokens: int | None = None) -> list[SyntheticPrompt]:
    """n prompts of distinct text (at most `max_input_tokens` each): a benchmark of cache misses.

    The stream repeats and paraphrases on purpose, and its templates run out of new wordings:
    about 28,000 distinct prompts of at most 64 tokens come from 100,000 drawn.
    """
    if n < 1:
        raise ValueError(f"the number of distinct prompts must be >= 1, not {n}")
    seen: set[str] = set()
    prompts = []
    for prompt in TrafficGenerator(seed).stream(n * DRAWS_PER_DISTINCT):
        if (max_input_tokens is None or prompt.input_tokens <= max_input_tokens) and prompt.text not in seen:
            seen.add(prompt.text)
            prompts.append(prompt)
            if len(prompts) == n:
                return prompts
    raise ValueError(f"the generator gave only {len(prompts)} distinct prompts, not {n}")


class _StreamState:
    """The topics seen so far in one stream, and their popularity for revisits."""

    def __init__(self, generator: TrafficGenerator):
        # random.Random rather than numpy: generation draws hundreds of thousands of single values,
        # where the stdlib generator is several times faster per call.
        self.rng = random.Random(generator.seed)
        self.repeat_share = generator.repeat_share
        self.categories = list(generator.category_weights)
        self.cum_weights = list(itertools.accumulate(generator.category_weights.values()))
        self.topics: list[_Topic] = []
        self.cum_popularity: list[float] = []

    def next_prompt(self, index: int) -> SyntheticPrompt:
        rng = self.rng
        if self.topics and rng.random() < self.repeat_share:
            topic = self._popular_topic()
            if rng.random() < EXACT_REPEAT_SHARE:
                return _prompt(index, topic, topic.text, "repeat")
            return _prompt(index, topic, self._paraphrase(topic), "paraphrase")
        topic = self._new_topic()
        return _prompt(index, topic, topic.text, "new")

    def _new_topic(self) -> _Topic:
        rng = self.rng
        category = rng.choices(self.categories, cum_weights=self.cum_weights)[0]
        profile = PROFILES[category]
        difficulty = rng.betavariate(*profile.beta)
        family = self._family(category, difficulty)
        slots = Slots(rng, difficulty)
        clause_count = min(len(family.clauses), sum(rng.random() < difficulty for _ in range(profile.max_clauses)))
        # Security work worded as an ordinary feature comes from the callers that ask for ordinary features.
        systems = STANDARD.systems if family.implicit else profile.systems
        topic = _Topic(
            topic_id=len(self.topics), category=category, difficulty=difficulty, family=family, slots=slots,
            clauses=tuple(rng.sample(family.clauses, clause_count)),
            system=SYSTEM_PROMPTS[rng.choices(list(systems), list(systems.values()))[0]],
            output_tokens=_output_tokens(category, difficulty, rng),
        )
        polite = rng.random() < NEW_POLITE_SHARE
        topic.text = _render(topic, rng.randrange(len(family.variants)), list(range(clause_count)), polite, rng)
        self.topics.append(topic)
        last = self.cum_popularity[-1] if self.cum_popularity else 0.0
        self.cum_popularity.append(last + rng.paretovariate(POPULARITY_SHAPE))
        return topic

    def _family(self, category: str, difficulty: float) -> Family:
        rng = self.rng
        ambiguous = AMBIGUOUS_BY_CATEGORY[category]
        if ambiguous and rng.random() < AMBIGUOUS_SHARE:
            return rng.choice(ambiguous)
        if category == SECURITY_CRITICAL and rng.random() < IMPLICIT_SECURITY_SHARE:
            families = IMPLICIT_SECURITY
        else:
            families = PROFILES[category].families
        weights = [LEVEL_FLOOR + math.exp(-(((f.level - difficulty) / LEVEL_WIDTH) ** 2)) for f in families]
        return rng.choices(families, weights)[0]

    def _popular_topic(self) -> _Topic:
        point = self.rng.random() * self.cum_popularity[-1]
        index = min(bisect.bisect_right(self.cum_popularity, point), len(self.topics) - 1)
        return self.topics[index]

    def _paraphrase(self, topic: _Topic) -> str:
        """Same slots, another variant, reordered requirements and different politeness."""
        rng = self.rng
        variants = len(topic.family.variants)
        order = list(range(len(topic.clauses)))
        for _ in range(10):
            rng.shuffle(order)
            text = _render(topic, rng.randrange(variants), order, rng.random() < PARAPHRASE_POLITE_SHARE, rng)
            if text != topic.text:
                return text
        return topic.text + " Thanks."


def _output_tokens(category: str, difficulty: float, rng: random.Random) -> int:
    median = DEFAULT_OUTPUT_TOKENS[category] * (0.5 + difficulty)
    return max(8, min(MAX_OUTPUT_TOKENS, round(rng.lognormvariate(math.log(median), OUTPUT_SIGMA))))


def _prompt(index: int, topic: _Topic, text: str, kind: str) -> SyntheticPrompt:
    return SyntheticPrompt(
        index=index, topic_id=topic.topic_id, system=topic.system, text=text, category=topic.category,
        difficulty=topic.difficulty, input_tokens=max(1, round((len(topic.system) + len(text)) / CHARS_PER_TOKEN)),
        output_tokens=topic.output_tokens, kind=kind, style=_style(topic),
    )


def _style(topic: _Topic) -> str:
    if topic.category != SECURITY_CRITICAL:
        return ""
    return "implicit" if topic.family.implicit else "explicit"
