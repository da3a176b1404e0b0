"""A topic's slot values: drawn on first use from the word banks or derived (numbers, pasted code and
prose), then fixed, so that every rewording of the topic names the same things."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable

from simulator.traffic.passages import (CHANGES, CUSTOMER_EMAILS, MEETING_NOTES, PARAGRAPH_BANKS, PRODUCT_BLURB,
                                        REVIEWS, SYSTEM_CONTEXT, TYPO_EMAILS)
from simulator.traffic.snippets import CLAIM_SQL, NGINX, SNIPPETS, STACKS, TRACEBACKS, Stack
from simulator.traffic.words import CONCEPT_PAIRS, DESERIALISERS, NONSENSE_GROUPS, SHELL_TOOLS, UNIT_PAIRS, WORDS


class Slots(dict):
    """The slot values of one topic: drawn on first use, then fixed, so that every rewording of the
    topic names the same entities and numbers. `city2` is a second city, distinct from `city`."""

    def __init__(self, rng: random.Random, difficulty: float):
        super().__init__()
        self.rng = rng
        self.difficulty = difficulty
        self._stack: Stack | None = None

    def stack(self) -> Stack:
        """The language, framework and test library this topic is about, drawn once."""
        if self._stack is None:
            self._stack = self.rng.choice(STACKS)
        return self._stack

    def __missing__(self, key: str) -> str:
        if key.startswith("a_"):
            value = _with_article(self[key[2:]])
        elif key in _DERIVED:
            value = _DERIVED[key](self)
        elif key in WORDS:
            value = self.rng.choice(WORDS[key])
        else:
            value = self._another(key)
        self[key] = value
        return value

    def _another(self, key: str) -> str:
        base = key.rstrip(string.digits)
        if base == key or base not in WORDS:
            raise KeyError(key)
        taken = {self[base]} | {v for k, v in self.items() if k.rstrip(string.digits) == base}
        return self.rng.choice([w for w in WORDS[base] if w not in taken])


def _binomial(s: Slots, trials: int) -> int:
    """More material for harder prompts, with noise: the number of successes in `trials` draws."""
    return sum(s.rng.random() < s.difficulty for _ in range(trials))


def _snippet(s: Slots, kind: str) -> str:
    """A fenced code block in the topic's language, named after its entity."""
    stack = s.stack()
    code = SNIPPETS[stack.code][kind].safe_substitute(_code_names(s)).strip("\n")
    return f"```{stack.code}\n{code}\n```"


def _processing_snippet(s: Slots) -> str:
    # Hard prompts paste more of the surrounding code.
    if s.rng.random() < s.difficulty ** 2:
        return _snippet(s, "process") + "\n\n" + _snippet(s, "update")
    return _snippet(s, "process")


def _code_names(s: Slots) -> dict[str, str]:
    num_field = s["num_field"]
    return {"entity_id": s["entity"].replace(" ", "_"), "table": s["table"], "Model": s["Model"],
            "num_field": num_field, "NumField": _camel(num_field), "service": s["service"],
            "line1": str(s.rng.randint(20, 400)), "line2": str(s.rng.randint(20, 400))}


def _with_article(noun: str) -> str:
    # "8", "80", "800" start with "eight"; 11 and 18 with "e"; header names like X-Forwarded-For with "ex".
    spoken_vowel = noun[0].lower() in "aeiou" or re.match(r"8|1[18](\D|$)|X-", noun) is not None
    return ("an " if spoken_vowel else "a ") + noun


def _camel(words: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[ _]", words))


def _plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _traceback(s: Slots) -> str:
    stack = s.stack()
    return TRACEBACKS[stack.code].safe_substitute(_code_names(s)).strip("\n")


def _sentences(s: Slots, bank: tuple[str, ...], base: int, extra: int, sep: str = " ") -> str:
    """The bank's opening line, then a difficulty-dependent number of the rest, in bank order."""
    count = min(len(bank) - 1, base - 1 + _binomial(s, extra))
    chosen = sorted(s.rng.sample(range(1, len(bank)), count))
    return sep.join(bank[i].format_map(s) for i in [0, *chosen])


def _paragraph(s: Slots) -> str:
    return _sentences(s, s.rng.choice(PARAGRAPH_BANKS), 3, 4)


def _series(s: Slots) -> str:
    base = s.rng.randint(1200, 9000)
    drop = 1 - int(s["pct"]) / 100
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    values = [base * (drop if i >= 3 else 1) * s.rng.uniform(0.97, 1.03) for i in range(len(days))]
    return ", ".join(f"{day} {round(v):,}" for day, v in zip(days, values))


def _invoice_lines(s: Slots) -> str:
    lines = []
    for _ in range(3 + _binomial(s, 4)):
        company = s.rng.choice(WORDS["company"])
        amount = s.rng.randint(120, 48000) + s.rng.randint(0, 99) / 100
        lines.append(f"{company} / INV-{s.rng.randint(10000, 99999)} / ${amount:,.2f} / due "
                     f"{s.rng.randint(1, 28)}.{s.rng.randint(1, 12):02d}.{s.rng.choice((2024, 2025))}")
    return "\n".join(lines)


def _reviews(s: Slots) -> str:
    count = 4 + _binomial(s, 5)
    return "\n".join(f'- "{line.format_map(s)}"' for line in s.rng.sample(REVIEWS, min(count, len(REVIEWS))))


def _in_range(low: int, high: int) -> Callable[[Slots], str]:
    return lambda s: str(s.rng.randint(low, high))


def _order_id(s: Slots) -> str:
    return f"#{s.rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}-{s.rng.randint(10000, 99999)}"


def _version(s: Slots) -> str:
    return f"{s.rng.randint(1, 5)}.{s.rng.randint(0, 19)}.{s.rng.randint(0, 9)}"


def _prime_candidate(s: Slots) -> str:
    return str(s.rng.randrange(101, 9999, 2))


def _money(low: int, high: int, step: int) -> Callable[[Slots], str]:
    return lambda s: f"{s.rng.randrange(low, high, step):,}"


def _pair(key_a: str, key_b: str, pairs: tuple[tuple[str, str], ...]) -> dict[str, Callable[[Slots], str]]:
    """Two slots that must be drawn together (a unit and what it divides, two contrasted ideas)."""
    def draw(s: Slots, want: str) -> str:
        a, b = s.rng.choice(pairs)
        s[key_a], s[key_b] = a, b
        return s[want]
    return {key_a: lambda s: draw(s, key_a), key_b: lambda s: draw(s, key_b)}


def _syllogism(s: Slots, want: str) -> str:
    s["group_a"], s["group_b"], s["group_c"] = s.rng.choice(NONSENSE_GROUPS)
    return s[want]


def _later_hour(s: Slots) -> str:
    return str(int(s["hour"]) + s.rng.randint(0, 2))


def _slower(s: Slots) -> str:
    return str(int(s["ms"]) * s.rng.randint(3, 8))


_DERIVED: dict[str, Callable[[Slots], str]] = {
    "lang": lambda s: s.stack().lang,
    "framework": lambda s: s.stack().framework,
    "test_lib": lambda s: s.stack().test_lib,
    "error": lambda s: s.stack().error,
    "entities": lambda s: _plural(s["entity"]),
    "table": lambda s: _plural(s["entity"]).replace(" ", "_"),
    "Model": lambda s: _camel(s["entity"]),
    "snippet": _processing_snippet,
    "login_snippet": lambda s: _snippet(s, "login"),
    "update_snippet": lambda s: _snippet(s, "update"),
    "traceback": _traceback,
    "paragraph": _paragraph,
    "product_blurb": lambda s: _sentences(s, PRODUCT_BLURB, 3, 3),
    "notes": lambda s: _sentences(s, MEETING_NOTES, 3, 4, sep="\n"),
    "changes": lambda s: _sentences(s, CHANGES, 3, 4, sep="\n"),
    "context": lambda s: _sentences(s, SYSTEM_CONTEXT, 2, 4),
    "email_text": lambda s: s.rng.choice(TYPO_EMAILS).format_map(s),
    "customer_email": lambda s: s.rng.choice(CUSTOMER_EMAILS).format_map(s),
    "reviews": _reviews,
    "series": _series,
    "invoice_lines": _invoice_lines,
    "nginx_conf": lambda s: NGINX.safe_substitute(domain=re.sub(r"\W", "", s["company"].lower()),
                                                  service=s["service"]),
    "claim_sql": lambda s: CLAIM_SQL.safe_substitute(table=s["table"]),
    "n": _in_range(2, 12),
    "k1": _in_range(2, 9),
    "k2": _in_range(10, 60),
    "k3": _in_range(100, 999),
    "pct": _in_range(5, 40),
    "pct2": _in_range(2, 25),
    "ms": lambda s: str(s.rng.choice((40, 80, 120, 200, 250, 400))),
    "ms2": _slower,
    "n_lines": _in_range(4, 16),
    "year": _in_range(2015, 2024),
    "cve_year": _in_range(2021, 2025),
    "cve_num": _in_range(1000, 49999),
    "version": _version,
    "order_id": _order_id,
    "temp": _in_range(-15, 40),
    "n_prime": _prime_candidate,
    "hour": _in_range(6, 11),
    "hour2": _later_hour,
    "speed1": lambda s: str(s.rng.randrange(60, 170, 10)),
    "speed2": lambda s: str(s.rng.randrange(60, 170, 10)),
    "dist": lambda s: str(s.rng.randrange(200, 900, 10)),
    "n_draw": _in_range(3, 4),
    "age": _in_range(3, 9),
    "rent": _money(900, 3500, 50),
    "house_price": _money(180_000, 900_000, 5_000),
    "price_small": _in_range(15, 180),
    "budget": _money(800, 4000, 100),
    "vendor_a": _money(20_000, 60_000, 1_000),
    "vendor_b": _money(60_000, 140_000, 1_000),
    "downtime_cost": _money(500, 20_000, 500),
    "group_a": lambda s: _syllogism(s, "group_a"),
    "group_b": lambda s: _syllogism(s, "group_b"),
    "group_c": lambda s: _syllogism(s, "group_c"),
    **_pair("units_a", "unit_b", UNIT_PAIRS),
    **_pair("concept_a", "concept_b", CONCEPT_PAIRS),
    **_pair("deser_lang", "deser_call", DESERIALISERS),
    **_pair("shell_tool", "shell_output", SHELL_TOOLS),
}
