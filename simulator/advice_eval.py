"""advise-eval: the cost advisor on the simulator's traffic, from finding to measured saving.

The scenario: team content asks for quality first (its requests carry λ = 0), and for its work
claude-opus-4 is overpriced: in this world claude-sonnet-4 answers its categories as well, at a fifth
of the price. The bandit, told to ignore cost for that team, keeps most of its calls on opus and
explores sonnet. After `requests` calls the advisor reads the ledger; its best cheaper-model
recommendation for team content is applied as a rule on an A/B share, `requests` more calls are
routed, and the rule's two arms are measured in the ledger: the DR estimate made before, and the
A/B measurement after, side by side.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from router.config import Settings
from router.domain.types import FeedbackRequest
from router.service.facade import RouterService
from simulator.simulate import TEAMS, TENANT, route_request
from simulator.traffic import SyntheticPrompt, TrafficGenerator
from simulator.world import BASE_QUALITY, World

TEAM, EXPENSIVE, AS_GOOD = "content", "claude-opus-4", "claude-sonnet-4"
SECONDS_PER_REQUEST = 30.0  # 10,000 requests are three and a half days of the tenant's traffic


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class AdviceRun:
    requests: int  # per phase
    ab_share: float
    seed: int
    found: list[dict]  # the recommendations after the first phase
    applied: dict  # the one applied, as the second listing shows it (measured)


def run_advice_eval(requests: int, ab_share: float, seed: int, json_path: Path | None) -> AdviceRun:
    from simulator.runs import benchmark_reader, embed_ahead, local_service, write_json

    stream = list(TrafficGenerator(seed).stream(2 * requests))
    reader = benchmark_reader(Settings())
    embed_ahead(reader, [route_request(p, None) for p in stream])
    clock = Clock(1_800_000_000.0)
    with tempfile.TemporaryDirectory(prefix="banditroute-advise-") as tmp:
        service = local_service(Path(tmp), reader, seed, clock=clock)
        try:
            world = overpriced_world(service, seed)
            start = clock.now
            _drive(service, world, clock, stream[:requests], "before")
            found = service.recommendations(TENANT, start, clock.now)
            chosen = _for_the_team(found)
            service.decide_recommendation(TENANT, chosen["id"], "apply", ab_share, start, clock.now)
            _drive(service, world, clock, stream[requests:], "after")
            applied = next(d for d in service.recommendations(TENANT, start, clock.now) if d["id"] == chosen["id"])
        finally:
            service.close()
    run = AdviceRun(requests, ab_share, seed, found, applied)
    print_run(run)
    if json_path is not None:
        write_json(json_path, {"requests": requests, "ab_share": ab_share, "seed": seed, "found": found,
                               "applied": applied})
        print(f"\nJSON: {json_path}")
    return run


def overpriced_world(service: RouterService, seed: int) -> World:
    """The simulator's world, where claude-sonnet-4 answers team content's categories as well as opus."""
    world = World(service.registry, seed=seed)
    content = {category for category, team in TEAMS.items() if team == TEAM}
    world.set_quality_table(AS_GOOD, {category: BASE_QUALITY[EXPENSIVE][category] if category in content else score
                                      for category, score in BASE_QUALITY[AS_GOOD].items()})
    return world


def _drive(service: RouterService, world: World, clock: Clock, prompts: list[SyntheticPrompt], phase: str) -> None:
    from simulator.runs import progress

    for prompt in progress(prompts, desc=f"advise-eval ({phase})", unit="request"):
        clock.now += SECONDS_PER_REQUEST
        quality_first = 0.0 if TEAMS[prompt.category] == TEAM else None
        decision = service.route(route_request(prompt, quality_first))
        if decision.cache is not None:
            continue
        quality = world.observe(decision.model, prompt)
        if quality is not None:  # a share of feedback never arrives
            service.feedback(FeedbackRequest(decision.decision_id, quality, prompt.input_tokens, prompt.output_tokens))


def _for_the_team(found: list[dict]) -> dict:
    cheaper = [d for d in found if d["category"] == "cheaper_model" and d["scope"].get("team") == TEAM]
    if not cheaper:
        raise SystemExit(f"advise-eval: no cheaper-model recommendation for team {TEAM} was found; "
                         f"the advisor listed {[d['title'] for d in found]}")
    return cheaper[0]  # the largest saving first


def print_run(run: AdviceRun) -> None:
    print(f"\nadvise-eval: {run.requests} requests, then the top recommendation for team {TEAM} applied on "
          f"{run.ab_share:.0%} of its traffic, then {run.requests} more (seed {run.seed})")
    print("recommendations after the first phase:")
    for d in run.found[:8]:
        print(f"  [{d['category']}] ${d['monthly_saving_usd']:.2f}/month, confidence {d['confidence']:.0%}, "
              f"risk {d['risk']}: {d['title']}")
    a, projection, measured = run.applied, run.applied["projection"], run.applied["measured"]
    treated, control = measured["treated"], measured["control"]
    print(f"applied: {a['title']} (rule {measured['rule_id']})")
    print(f"{'':28}{'quality':>10}{'interval':>18}{'$ per call':>12}{'calls':>8}")
    logged = projection["quality_before"]["n"]  # the scope's logged calls the estimate reads
    _row("estimated before (logged)", projection["quality_before"], projection["cost_before_usd"], logged)
    _row("estimated after (DR)", projection["quality_after"], projection["cost_after_usd"], logged)
    _row("measured: rule's arm", treated["quality"], treated["cost_usd"], treated["calls"])
    _row("measured: left as routed", control["quality"], control["cost_usd"], control["calls"])
    print(f"saved ${measured['saved_usd']:.4f} on the rule's {treated['calls']} calls; "
          f"${measured['monthly_saving_usd']:.2f}/month at a full share (projected before: "
          f"${a['monthly_saving_usd']:.2f}/month)")


def _row(name: str, quality: dict | None, cost: float, calls: int) -> None:
    interval = f"[{quality['low']:.3f}, {quality['high']:.3f}]" if quality else "-"
    mean = f"{quality['mean']:.3f}" if quality else "-"
    print(f"{name:28}{mean:>10}{interval:>18}{cost / calls if calls else 0:>12.5f}{calls:>8}")
