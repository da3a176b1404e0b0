"""`banditroute simulate`: every policy on the same synthetic traffic, scored against the oracle.

The bandit runs through the real service (in this process, or a running server with --addr) and
learns from the world's noisy, sometimes missing feedback. The baselines see the same requests,
classified the same way, and learn nothing. Quality is scored by the world's expected quality
(not the noisy draw), so the figures compare decisions, not luck.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from learners.policies import (AlwaysCheapest, AlwaysModel, OraclePolicy, Policy, RandomPolicy, Situation,
                               StaticRulesPolicy)
from router.cache.semantic import normalise
from router.domain.categories import SECURITY_CRITICAL
from router.domain.errors import ResourceExhausted
from router.domain.model_documents import model_document
from router.domain.registry import Registry, normalised_costs
from router.domain.types import ChatMessage, FeedbackRequest, Metadata, RouteRequest
from router.service import RouterService
from router.service.routing import Read, prompt_of
from simulator.routers import RouterUnderTest
from simulator.runs import progress
from simulator.scenarios import SCENARIOS, Changes
from simulator.traffic import SyntheticPrompt, TrafficGenerator
from simulator.world import World

BANDIT = "bandit"
TENANT = "simulator"
REFUSED = "(refused: budget)"


@dataclass
class Trace:
    """One policy's decisions over the stream, step by step."""

    models: list[str] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    quality: list[float] = field(default_factory=list)
    reward: list[float] = field(default_factory=list)
    safety_violations: int = 0
    unflagged_security: int = 0
    unflagged_security_implicit: int = 0  # of unflagged_security, those worded as an ordinary feature

    def add(self, model: str, cost: float, quality: float, reward: float) -> None:
        self.models.append(model)
        self.cost.append(cost)
        self.quality.append(quality)
        self.reward.append(reward)


class Stage:
    """The world as it stands at one step: prices, true qualities, and which models are down."""

    def __init__(self, world: World, service: RouterService):
        self.world = world
        self.service = service
        self.down: set[str] = set()

    def apply(self, changes: Changes) -> None:
        for model, table in changes.quality_tables.items():
            self.world.set_quality_table(model, table)
        for spec in changes.models:
            self.service.put_model(model_document(spec))
            self.world.registry = self.service.registry
        for model, amount in changes.degrade.items():
            self.world.degrade(model, amount)
        self.down |= set(changes.outage_start)
        self.down -= set(changes.outage_end)

    @property
    def registry(self) -> Registry:
        return self.service.registry

    def expected_quality(self, model: str, prompt: SyntheticPrompt) -> float:
        return 0.0 if model in self.down else self.world.expected_quality(model, prompt)


# Which team sends each kind of request: attribution for the ledger (the router never reads it).
TEAMS = {
    "chat": "support", "simple_query": "support",
    "security_critical": "platform", "complex_implementation": "platform", "standard_implementation": "platform",
    "analysis_debug": "platform",
    "documentation": "content", "content": "content", "creative": "content",
    "reasoning": "research",
}


def route_request(prompt: SyntheticPrompt, cost_weight: float | None, tenant: str = TENANT) -> RouteRequest:
    messages = ((ChatMessage("system", prompt.system),) if prompt.system else ()) + (ChatMessage("user", prompt.text),)
    return RouteRequest(tenant_id=tenant, messages=messages, cost_weight=cost_weight,
                        metadata=Metadata(team=TEAMS[prompt.category]))


def read_request(service: RouterService, request: RouteRequest) -> Read:
    """A request read as Route's first stage reads it: what every policy decides on, and the security verdict."""
    return service.routing.read(request, service.reader.read(*prompt_of(request)))


def baselines(registry: Registry, seed: int) -> list[Policy]:
    return [RandomPolicy(seed), AlwaysModel(registry.baseline_model, "always-premium"), AlwaysCheapest(),
            StaticRulesPolicy(), OraclePolicy()]


@dataclass
class Simulation:
    report: dict  # the JSON contract
    traces: dict[str, Trace]


@dataclass
class CacheTally:
    """What the semantic cache did for the bandit: a served answer is right when it was written for
    the same question (the same topic, or word for word the same text)."""

    hits: int = 0
    exact: int = 0
    false_hits: int = 0
    saved_usd: float = 0.0

    def figures(self, requests: int) -> dict:
        return {"hits": self.hits, "exact_hits": self.exact, "false_hits": self.false_hits,
                "hit_rate": self.hits / requests, "false_hit_share": self.false_hits / self.hits if self.hits else 0.0,
                "saved_usd": self.saved_usd}


def simulate(service: RouterService, bandit: RouterUnderTest, scenario: str, requests: int, seed: int,
             cost_weight: float | None = None, cache: bool = False) -> Simulation:
    """Run every policy over one stream; `service` classifies and prices, `bandit` is under test.

    With `cache`, feedback carries each answer's text, so the bandit's service answers repeats from
    its semantic cache: a hit costs nothing and scores the answer's quality (0 when it was written
    for another question). The baselines have no cache.
    """
    world = World(service.registry, seed=seed)
    stage = Stage(world, service)
    timeline = SCENARIOS[scenario](requests, service.registry)
    policies = baselines(service.registry, seed)
    traces = {name: Trace() for name in [BANDIT] + [p.name for p in policies]}
    tally = CacheTally()
    security_prompts = Counter()
    events = []
    for step, prompt in enumerate(progress(TrafficGenerator(seed).stream(requests), total=requests,
                                           desc=f"simulate {scenario}", unit="req")):
        if step in timeline:
            stage.apply(timeline[step])
            events.append({"step": step, "description": timeline[step].description})
        request = route_request(prompt, cost_weight)
        security_prompts[prompt.style] += prompt.category == SECURITY_CRITICAL
        read = read_request(service, request)
        situation, security = read.situation, read.security
        truth = {m.id: stage.expected_quality(m.id, prompt) for m in situation.candidates}
        situation = Situation(situation.context, situation.candidates, situation.cost_weight, truth)
        for policy in policies:
            _score(traces[policy.name], policy.choose(situation).model, prompt, situation, security, stage)
        try:
            routed = bandit.route(request)
        except ResourceExhausted:  # the tenant's budget has no room: the request goes unanswered
            traces[BANDIT].add(REFUSED, 0.0, 0.0, 0.0)
            continue
        if routed.cached_response is not None:
            _serve_from_cache(traces[BANDIT], tally, routed, prompt, stage, bandit)
            continue
        _score(traces[BANDIT], routed.model, prompt, situation, routed.security, stage)
        _feed_back(bandit, routed.decision_id, routed.model, prompt, stage, _answer(prompt) if cache else None)
    result = report(traces, service.registry, scenario, requests, seed, situation.cost_weight, events)
    # The denominators of the policies' unflagged_security counts: the stream's security prompts by style.
    result["security_prompts"] = {style: security_prompts[style] for style in ("explicit", "implicit")}
    if cache:
        result["cache"] = tally.figures(requests)
    return Simulation(result, traces)


def _answer(prompt: SyntheticPrompt) -> str:
    """The answer's text as the simulator writes it: which question it answers."""
    return json.dumps({"topic": prompt.topic_id, "text": normalise(prompt.text)})


def _serve_from_cache(trace: Trace, tally: CacheTally, routed, prompt: SyntheticPrompt, stage: Stage,
                      bandit: RouterUnderTest) -> None:
    written_for = json.loads(routed.cached_response)
    right = written_for["topic"] == prompt.topic_id or written_for["text"] == normalise(prompt.text)
    quality = stage.expected_quality(routed.model, prompt) if right else 0.0
    trace.add(routed.model, 0.0, quality, quality)
    tally.hits += 1
    tally.exact += routed.cache_similarity >= 1.0
    tally.false_hits += not right
    writer = stage.registry.get(routed.model)
    if writer:
        tally.saved_usd += writer.cost(prompt.input_tokens, prompt.output_tokens)
    # The caller grades what it was served (when it reports back): a wrong answer grades 0 and is evicted.
    grade = stage.world.observe(routed.model, prompt) if right else 0.0
    if grade is not None:
        bandit.feedback(FeedbackRequest(routed.decision_id, grade))


def _score(trace: Trace, model: str, prompt: SyntheticPrompt, situation: Situation, security: bool,
           stage: Stage) -> None:
    registry = stage.registry
    spec = registry[model]
    candidates = list(situation.candidates)
    if spec not in candidates:  # the bandit may price with a registry the run has since changed
        candidates.append(spec)
    cost_norm = normalised_costs(candidates, prompt.input_tokens, prompt.output_tokens)[candidates.index(spec)]
    quality = stage.expected_quality(model, prompt)
    trace.add(model, spec.cost(prompt.input_tokens, prompt.output_tokens), quality,
              quality - situation.cost_weight * float(cost_norm))
    below_premium = spec.tier != "premium"
    trace.safety_violations += security and below_premium
    missed = prompt.category == SECURITY_CRITICAL and not security and below_premium
    trace.unflagged_security += missed
    trace.unflagged_security_implicit += missed and prompt.style == "implicit"


def _feed_back(bandit: RouterUnderTest, decision_id: str, model: str, prompt: SyntheticPrompt, stage: Stage,
               answer: str | None = None) -> None:
    if model in stage.down:
        bandit.feedback(FeedbackRequest(decision_id, None, prompt.input_tokens, 0, error=True))
        return
    quality = stage.world.observe(model, prompt)
    if quality is not None:  # a share of feedback never arrives
        bandit.feedback(FeedbackRequest(decision_id, quality, prompt.input_tokens, prompt.output_tokens,
                                        response_text=answer))


def report(traces: dict[str, Trace], registry: Registry, scenario: str, requests: int, seed: int,
           cost_weight: float, events: list[dict]) -> dict:
    premium, oracle = traces["always-premium"], traces["oracle"]
    premium_cost, premium_quality = sum(premium.cost), float(np.mean(premium.quality))
    oracle_reward = sum(oracle.reward)
    policies = {}
    for name, trace in traces.items():
        share = Counter(trace.models)
        policies[name] = {
            "cost_usd": sum(trace.cost),
            "mean_quality": float(np.mean(trace.quality)),
            "savings_vs_premium": 1 - sum(trace.cost) / premium_cost,
            "quality_vs_premium": float(np.mean(trace.quality)) / premium_quality,
            "regret_vs_oracle": (oracle_reward - sum(trace.reward)) / oracle_reward,
            "safety_violations": trace.safety_violations,
            "unflagged_security": trace.unflagged_security,
            "unflagged_security_implicit": trace.unflagged_security_implicit,
            "refused": share[REFUSED],
            "model_share": {m: share[m] / len(trace.models) for m in sorted(share)},
        }
    return {
        "scenario": scenario,
        "requests": requests,
        "seed": seed,
        "cost_weight": cost_weight,
        "premium_model": registry.baseline_model,
        "models": registry.ids,
        "events": events,
        "policies": policies,
    }


def curves(trace: Trace, oracle: Trace) -> dict[str, np.ndarray]:
    """Running figures over the stream, for MLflow and the plots."""
    steps = np.arange(1, len(trace.cost) + 1)
    return {
        "cumulative_cost_usd": np.cumsum(trace.cost),
        "mean_quality": np.cumsum(trace.quality) / steps,
        "cumulative_regret": np.cumsum(np.asarray(oracle.reward) - np.asarray(trace.reward)),
    }


SIMULATE_COLUMNS = [
    ("cost_usd", "cost $", ".2f"),
    ("savings_vs_premium", "saved", ".1%"),
    ("mean_quality", "quality", ".4f"),
    ("quality_vs_premium", "q vs premium", ".1%"),
    ("regret_vs_oracle", "regret", ".1%"),
    ("safety_violations", "floor viol.", "d"),
    ("unflagged_security", "sec. missed", "d"),
    ("unflagged_security_implicit", "impl. missed", "d"),
]
REGISTRY_CHANGES = {"price_change", "new_model"}


def run_simulate(scenario: str, requests: int, seed: int, json_path: Path, cost_weight: float | None,
                 addr: str | None, embedding: str | None = None, config: Path | None = None,
                 cache: bool = False) -> int:
    """The simulate command: run, print the table, write the JSON and plots, track in MLflow."""
    from router.client import RouterClient
    from simulator.routers import InProcessRouter, RemoteRouter
    from simulator.runs import benchmark_reader, benchmark_settings, embed_ahead, local_service, print_table, write_json

    if addr and scenario in REGISTRY_CHANGES:
        raise SystemExit(f"scenario {scenario} changes the registry mid-run, which a running server cannot be "
                         "told over gRPC yet: run it in process (without --addr)")
    settings = benchmark_settings(config, embedding)
    reader = benchmark_reader(settings)
    embed_ahead(reader, [route_request(p, cost_weight) for p in TrafficGenerator(seed).stream(requests)], cache)
    with tempfile.TemporaryDirectory(prefix="banditroute-simulate-") as tmp:
        service = local_service(Path(tmp), reader, seed, settings=settings)
        client = RouterClient(addr) if addr else None
        bandit = RemoteRouter(client) if client else InProcessRouter(service)
        try:
            result = simulate(service, bandit, scenario, requests, seed, cost_weight, cache)
        finally:
            service.close()
            if client:
                client.close()
    result.report["driven"] = f"gRPC at {addr}" if addr else "in process"
    result.report["embedding"] = settings.embedding
    result.report["learner"] = settings.learner.model_dump()
    result.report["security_rechecks"] = reader.rechecks
    write_json(json_path, result.report)
    plots = draw(result, json_path)
    track(result, json_path, plots)
    print_table(f"simulate --scenario {scenario} --requests {requests} --seed {seed} "
                f"(λ={result.report['cost_weight']})", result.report["policies"], SIMULATE_COLUMNS)
    for event in result.report["events"]:
        print(f"  at request {event['step']}: {event['description']}")
    print("  " + security_missed(result.report))
    if refused := result.report["policies"][BANDIT]["refused"]:
        print(f"  the tenant's budget refused {refused} of the bandit's requests (scored as quality 0, cost 0)")
    if cache:
        c = result.report["cache"]
        print(f"  semantic cache (bandit only): {c['hits']} hits ({c['hit_rate']:.1%} of requests, {c['exact_hits']} "
              f"exact repeats), {c['false_hits']} served an answer to another question "
              f"({c['false_hit_share']:.1%} of hits), ${c['saved_usd']:.2f} of calls saved")
    print(f"\nJSON: {json_path}; plots: {', '.join(str(p) for p in plots)}")
    return 0


def security_missed(report: dict) -> str:
    """The bandit's missed security prompts, explicit and implicit apart, out of how many of each."""
    prompts, bandit = report["security_prompts"], report["policies"][BANDIT]
    implicit = bandit["unflagged_security_implicit"]
    return (f"sec. missed (security prompts neither flagged nor given a premium model), bandit: "
            f"{bandit['unflagged_security'] - implicit} of {prompts['explicit']} explicit, "
            f"{implicit} of {prompts['implicit']} implicit (worded as an ordinary feature)")


def draw(result: Simulation, json_path: Path) -> list[Path]:
    from simulator import plots
    from simulator.runs import plot_path

    oracle = result.traces["oracle"]
    regret = {name: curves(trace, oracle)["cumulative_regret"] for name, trace in result.traces.items()
              if name != "oracle"}
    events, label = result.report["events"], plots.run_label(result.report)
    return [
        plots.cost_quality_plane(result.report, plot_path(json_path, "cost-quality")),
        plots.regret_over_time(regret, events, plot_path(json_path, "regret"),
                               f"Cumulative regret against the oracle\n{label}"),
        plots.model_share_over_time(result.traces[BANDIT].models, events, plot_path(json_path, "bandit-model-share"),
                                    f"The bandit's model share over time\n{label}"),
    ]


def track(result: Simulation, json_path: Path, plots: list[Path]) -> None:
    from simulator.tracking import git_tags, log_curve, policy_metrics, start_experiment

    report = result.report
    mlflow = start_experiment("simulate")
    oracle = result.traces["oracle"]
    every = max(1, report["requests"] // 500)
    tags = git_tags()
    with mlflow.start_run(run_name=f"{report['scenario']}-seed{report['seed']}", tags=tags):
        mlflow.log_params({"scenario": report["scenario"], "requests": report["requests"], "seed": report["seed"],
                           "cost_weight": report["cost_weight"], "models": ",".join(report["models"])})
        mlflow.log_metrics(policy_metrics(report["policies"]))
        if "cache" in report:
            mlflow.log_metrics(policy_metrics({f"{BANDIT}.cache": report["cache"]}))
        mlflow.log_artifact(str(json_path))
        for plot in plots:
            mlflow.log_artifact(str(plot))
        # The bandit's model at every step: what a report needs to draw the model mix over time.
        mlflow.log_dict({"models": result.traces[BANDIT].models}, "bandit-models.json")
        for name, trace in result.traces.items():
            with mlflow.start_run(run_name=name, nested=True, tags=tags):
                mlflow.log_params({"policy": name, "scenario": report["scenario"], "seed": report["seed"],
                                   "cost_weight": report["cost_weight"]})
                figures = report["policies"][name]
                mlflow.log_metrics({k: v for k, v in figures.items() if not isinstance(v, dict)})
                for key, values in curves(trace, oracle).items():
                    log_curve(mlflow, key, values, every)
