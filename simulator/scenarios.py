"""Named scenarios: what changes in the world, and when, while the router runs.

Each is a function of the run's length giving the changes to apply before given requests. The
models they touch are ones the bandit leans on in a steady run, so the change matters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from router.domain.registry import ModelSpec, Registry
from simulator.world import BASE_QUALITY


@dataclass(frozen=True)
class Changes:
    """What happens before one request: prices, new models, quality, outages."""

    description: str
    models: tuple[ModelSpec, ...] = ()  # added, or replacing the registry entry of the same id
    quality_tables: dict[str, dict[str, float]] = field(default_factory=dict)  # a new model's true quality
    degrade: dict[str, float] = field(default_factory=dict)  # model → drop in true quality
    outage_start: tuple[str, ...] = ()  # these models now fail every call
    outage_end: tuple[str, ...] = ()


Timeline = dict[int, Changes]


def steady(n: int, registry: Registry) -> Timeline:
    return {}


def price_change(n: int, registry: Registry) -> Timeline:
    kimi = registry["kimi-k2"]
    dearer = replace(kimi, input_per_1m=kimi.input_per_1m * 4, output_per_1m=kimi.output_per_1m * 4)
    return {n // 2: Changes("kimi-k2's price rises 4x", models=(dearer,))}


def quality_drop(n: int, registry: Registry) -> Timeline:
    return {n // 2: Changes("deepseek-chat gets 0.2 worse in every category", degrade={"deepseek-chat": 0.2})}


NEW_MODEL_ID = "deepseek-v3.2"


def new_model(n: int, registry: Registry) -> Timeline:
    """A cheaper successor that is also better: the registry gives it its predecessor's priors."""
    predecessor = registry["deepseek-chat"]
    successor = replace(predecessor, id=NEW_MODEL_ID, input_per_1m=0.14, output_per_1m=0.55, context_window=128000)
    truth = {c: min(1.0, q + 0.03) for c, q in BASE_QUALITY["deepseek-chat"].items()}
    return {n // 2: Changes(f"{NEW_MODEL_ID} is added: half the price of deepseek-chat, a little better",
                            models=(successor,), quality_tables={NEW_MODEL_ID: truth})}


def outage(n: int, registry: Registry) -> Timeline:
    start, end = int(n * 0.4), int(n * 0.6)
    return {
        start: Changes("deepseek-chat starts failing every call", outage_start=("deepseek-chat",)),
        end: Changes("deepseek-chat recovers", outage_end=("deepseek-chat",)),
    }


SCENARIOS: dict[str, Callable[[int, Registry], Timeline]] = {
    "steady": steady,
    "price_change": price_change,
    "quality_drop": quality_drop,
    "new_model": new_model,
    "outage": outage,
}
