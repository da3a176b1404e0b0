"""`banditroute demo`: a real server, synthetic traffic over gRPC, and what the router learned."""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from router.client import RouterClient
from router.client.process import ServerProcess
from router.domain.categories import SECURITY_CRITICAL
from router.domain.registry import Registry
from router.domain.types import FeedbackRequest
from simulator.runs import progress
from simulator.simulate import route_request
from simulator.traffic import SyntheticPrompt, TrafficGenerator
from simulator.world import World

TENANT = "demo"


@dataclass
class Tally:
    """What one stretch of traffic cost and earned, beside always using the premium model."""

    requests: int = 0
    cost: float = 0.0
    premium_cost: float = 0.0
    quality: float = 0.0
    premium_quality: float = 0.0
    models: Counter = field(default_factory=Counter)
    by_category: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, prompt: SyntheticPrompt, model: str, registry: Registry, world: World) -> None:
        baseline = registry.baseline_model
        self.requests += 1
        self.cost += registry[model].cost(prompt.input_tokens, prompt.output_tokens)
        self.premium_cost += registry[baseline].cost(prompt.input_tokens, prompt.output_tokens)
        self.quality += world.expected_quality(model, prompt)
        self.premium_quality += world.expected_quality(baseline, prompt)
        self.models[model] += 1
        self.by_category[prompt.category][model] += 1


def drive(client: RouterClient, prompts: list[SyntheticPrompt], world: World, registry: Registry,
          cost_weight: float | None) -> tuple[Tally, Tally, Tally, Counter]:
    """Route every prompt, feed back the world's noisy quality; tally the first and last fifth apart."""
    total, first, last = Tally(), Tally(), Tally()
    window = max(1, len(prompts) // 5)
    security = Counter()
    for i, prompt in enumerate(progress(prompts, desc="routing", unit="req")):
        decision = client.route(route_request(prompt, cost_weight, TENANT))
        model = decision["model"]
        premium = registry[model].tier == "premium"
        # A violation is a flagged prompt below premium; a miss is a true security prompt the
        # classifier did not flag (the floor cannot act on what it is not told).
        security["violations"] += decision["security"] and not premium
        security["missed"] += prompt.category == SECURITY_CRITICAL and not decision["security"]
        security["true"] += prompt.category == SECURITY_CRITICAL
        # Implicit ones (worded as an ordinary feature) apart: the misses that matter most.
        implicit = prompt.style == "implicit"
        security["missed_implicit"] += implicit and not decision["security"]
        security["implicit"] += implicit
        for tally in [total] + ([first] if i < window else []) + ([last] if i >= len(prompts) - window else []):
            tally.add(prompt, model, registry, world)
        quality = world.observe(model, prompt)
        if quality is not None:  # some feedback never arrives, as in production
            client.feedback(FeedbackRequest(decision["decision_id"], quality, prompt.input_tokens, prompt.output_tokens))
    return total, first, last, security


def run_demo(requests: int, seed: int, cost_weight: float | None, data_dir: Path | None) -> int:
    registry = Registry.from_yaml()
    world = World(registry, seed=seed)
    prompts = list(TrafficGenerator(seed).stream(requests))
    with tempfile.TemporaryDirectory(prefix="banditroute-demo-") as tmp:
        print("starting the server (loading the embedding model)…", flush=True)
        with ServerProcess(data_dir or Path(tmp)) as server, server.client() as client:
            total, first, last, security = drive(client, prompts, world, registry, cost_weight)
            exit_code = server.stop()
    print_report(total, first, last, security, registry)
    print(f"\nserver stopped with exit code {exit_code}")
    return 0 if exit_code == 0 and security["violations"] == 0 else 1


def print_report(total: Tally, first: Tally, last: Tally, security: Counter, registry: Registry) -> None:
    baseline = registry.baseline_model
    print(f"\n== What it routed ({total.requests} requests) ==")
    _print_mix(total.by_category, registry)
    print(f"\n== What it learned: first {first.requests} vs last {last.requests} requests ==")
    print(f"{'':28}{'first':>12}{'last':>12}")
    for label, f, l in (
        ("cost vs always-premium", first.cost / first.premium_cost, last.cost / last.premium_cost),
        ("quality vs always-premium", first.quality / first.premium_quality, last.quality / last.premium_quality),
    ):
        print(f"{label:28}{f:>12.1%}{l:>12.1%}")
    print("model share, last stretch: " + ", ".join(
        f"{m} {n / last.requests:.0%}" for m, n in last.models.most_common(5)))
    print(f"\n== What it saved against always using {baseline} ==")
    print(f"spent ${total.cost:.4f} instead of ${total.premium_cost:.4f}: "
          f"saved {1 - total.cost / total.premium_cost:.1%} of the cost")
    print(f"expected quality {total.quality / total.requests:.3f} vs {total.premium_quality / total.requests:.3f} "
          f"({total.quality / total.premium_quality:.1%} of premium's)")
    print(f"security-flagged prompts given a non-premium model: {security['violations']}; "
          f"security prompts the classifier did not flag: {security['missed']} of {security['true']}")
    missed, implicit = security["missed_implicit"], security["implicit"]
    print(f"  of which explicit {security['missed'] - missed} of {security['true'] - implicit}, "
          f"implicit (worded as an ordinary feature) {missed} of {implicit}")


def _print_mix(by_category: dict[str, Counter], registry: Registry) -> None:
    models = [m for m in registry.ids if any(c[m] for c in by_category.values())]
    # Each column as wide as its model's whole name: a cut name can be mistaken for another model.
    widths = [max(len(m), 4) + 2 for m in models]
    print(f"{'category':26}" + "".join(f"{m:>{w}}" for m, w in zip(models, widths)))
    for category, counts in sorted(by_category.items()):
        n = sum(counts.values())
        print(f"{category:26}" + "".join(f"{counts[m] / n:>{w}.0%}" for m, w in zip(models, widths)))
