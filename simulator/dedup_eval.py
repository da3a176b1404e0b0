"""dedup-eval: what in-flight deduplication saves on the simulator's traffic with bursts of duplicates.

A share of the prompts arrives as a burst: the same request `burst_size` times while the first is still
unanswered (a double-submitted form, a retry loop without backoff, many users asking the same question
at once). The same stream is routed twice, by a fresh service each: once with the tenant's
dedup_seconds (a copy follows the first, and is served its answer when the first's feedback brings it)
and once without (every copy is a call of its own). Both score answers with the simulator's world.
The semantic cache is off in both, so that what is measured is deduplication alone; copies arriving
after an answer would be the cache's to serve.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from router.config import CacheSettings, Settings
from router.config.settings import TenantSettings
from router.domain.types import FeedbackRequest
from router.service.duplicates import LeaderState
from router.service.facade import RouterService
from simulator.simulate import TENANT, route_request
from simulator.traffic import SyntheticPrompt, TrafficGenerator
from simulator.world import World

DEDUP_SECONDS = 60.0


@dataclass(frozen=True)
class Run:
    """One service's pass over the stream."""

    requests: int  # every copy of every prompt
    calls: int  # requests whose model was called (and paid)
    spend_usd: float
    mean_quality: float  # of the answers the requests got (a served follower gets its leader's)
    followers: int = 0  # requests that followed an identical one in flight
    served: int = 0  # of those, the ones served the leader's answer
    called_themselves: int = 0  # the ones whose leader failed them or fell short


@dataclass(frozen=True)
class DedupReport:
    prompts: int
    bursts: int
    burst_size: int
    seed: int
    with_dedup: Run
    without: Run

    @property
    def saved_usd(self) -> float:
        return self.without.spend_usd - self.with_dedup.spend_usd

    @property
    def saved_share(self) -> float:
        return self.saved_usd / self.without.spend_usd if self.without.spend_usd else 0.0


def run_dedup_eval(prompts: int, burst_share: float, burst_size: int, seed: int,
                   json_path: Path | None = None) -> DedupReport:
    """Route the stream with and without deduplication; print the comparison, write the JSON."""
    from simulator.runs import benchmark_reader, embed_ahead, local_service, write_json

    stream = list(TrafficGenerator(seed).stream(prompts))
    rng = random.Random(seed)
    sizes = [burst_size if rng.random() < burst_share else 1 for _ in stream]
    reader = benchmark_reader(Settings())
    embed_ahead(reader, [route_request(p, None) for p in stream])
    runs = {}
    for dedup in (True, False):
        with tempfile.TemporaryDirectory(prefix="banditroute-dedup-") as tmp:
            service = local_service(Path(tmp), reader, seed, settings=_settings(dedup))
            try:
                runs[dedup] = _drive(service, World(service.registry, seed=seed), stream, sizes)
            finally:
                service.close()
    report = DedupReport(len(stream), sum(size > 1 for size in sizes), burst_size, seed, runs[True], runs[False])
    print_report(report)
    if json_path is not None:
        write_json(json_path, {**asdict(report), "saved_usd": report.saved_usd, "saved_share": report.saved_share})
        print(f"\nJSON: {json_path}")
    return report


def _settings(dedup: bool) -> Settings:
    tenant = TenantSettings(dedup_seconds=DEDUP_SECONDS if dedup else 0)
    return Settings(cache=CacheSettings(enabled=False), tenants={TENANT: tenant})


def _drive(service: RouterService, world: World, stream: list[SyntheticPrompt], sizes: list[int]) -> Run:
    """Each prompt's copies routed before the first is answered, then every decision answered in order."""
    from simulator.runs import progress

    spend, qualities, tally = 0.0, [], {"followers": 0, "served": 0, "called_themselves": 0}
    calls = 0
    for prompt, size in progress(list(zip(stream, sizes)), desc="dedup-eval", unit="prompt"):
        request = route_request(prompt, None)
        decisions = [service.route(request) for _ in range(size)]
        for decision in decisions:
            cost, quality = _answer(service, world, prompt, decision, tally)
            spend, calls = spend + cost, calls + (cost > 0)
            qualities.append(quality)
    return Run(sum(sizes), calls, spend, sum(qualities) / len(qualities), **tally)


def _answer(service: RouterService, world: World, prompt: SyntheticPrompt, decision, tally: dict) -> tuple[float, float]:
    """The request's cost and the quality of the answer it got."""
    if decision.duplicate_of:
        tally["followers"] += 1
        answer = service.leader_answer(decision.decision_id)
        if answer.state == LeaderState.ANSWERED:
            tally["served"] += 1
            return 0.0, float(answer.answer)
        tally["called_themselves"] += 1
    observed = world.observe(decision.model, prompt)
    quality = world.expected_quality(decision.model, prompt) if observed is None else observed
    # The answer's text carries its quality, so a follower served it is scored as its leader was.
    record = service.feedback(FeedbackRequest(decision.decision_id, quality, response_text=repr(quality)))
    return record.actual_cost_usd, quality


def print_report(report: DedupReport) -> None:
    on, off = report.with_dedup, report.without
    print(f"\ndedup-eval: {report.prompts} prompts, {report.bursts} of them in bursts of {report.burst_size} "
          f"identical requests in flight (seed {report.seed}); semantic cache off")
    print(f"{'':22}{'requests':>10}{'calls':>8}{'spend $':>10}{'quality':>9}{'followers':>11}{'served':>8}")
    for name, run in (("with dedup", on), ("without", off)):
        print(f"{name:22}{run.requests:>10}{run.calls:>8}{run.spend_usd:>10.4f}{run.mean_quality:>9.3f}"
              f"{run.followers:>11}{run.served:>8}")
    print(f"saved ${report.saved_usd:.4f} ({report.saved_share:.1%} of the spend without dedup); "
          f"{on.called_themselves} followers called their model themselves (leader failed or fell short)")
