"""The shape of a request family and of a category's profile, and the constructors the data modules use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """One underlying request. Every variant uses the same slots, so a paraphrase that switches
    variant still names the same entities and numbers. `[a|b]` picks one alternative per render.
    `clauses` are the requirements a harder version of this request may add. `implicit`: as a
    security prompt, it never names the risk (see IMPLICIT_SECURITY_SHARE in generator.py)."""

    variants: tuple[str, ...]
    level: float = 0.5
    clauses: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    implicit: bool = False


def f(level: float, *variants: str, clauses: tuple[str, ...] = ()) -> Family:
    """A family of the category whose profile lists it, most likely near difficulty `level`."""
    return Family(variants, level, clauses)


def ambiguous(pair: tuple[str, str], *variants: str, clauses: tuple[str, ...] = (), implicit: bool = False
              ) -> Family:
    """A family that a reasonable reader could file under either category of `pair`."""
    return Family(variants, 0.5, clauses, pair, implicit)


def implicit(level: float, *variants: str, clauses: tuple[str, ...] = ()) -> Family:
    """Security work asked for as an ordinary feature, with no word that names the risk."""
    return Family(variants, level, clauses, implicit=True)


@dataclass(frozen=True)
class Profile:
    """One category: its default share of traffic, the beta distribution of its difficulty, how many
    requirement clauses a hard prompt may add, its callers' system prompts by weight, its families."""

    weight: float
    beta: tuple[float, float]
    max_clauses: int
    systems: dict[str, float]
    families: tuple[Family, ...]
